"""The terminal plumbing every front end's progress builds on: tqdm bars on a terminal, plain
lines elsewhere, and lines printed above the bars without breaking them.

The front ends differ in what they count (evaluations, pictures, runs, frames) and say, not in
how a bar is opened, written above, or closed: that is :class:`TerminalProgress`. Plain output
(a log file, a pipe) gets a bounded number of lines per run (:class:`PlainReports`), and progress
sent from elsewhere (a worker process, the studio's files) at most every so often
(:class:`Every`).
"""

from __future__ import annotations

import time
from typing import Any, TextIO

from tqdm import tqdm

#: Lines printed over a run when the output is not a terminal.
PLAIN_REPORTS = 10


class TerminalProgress:
    """Bars on ``stream`` when it is a terminal (and not ``quiet``), else plain lines.

    Subclasses open their bars with :meth:`open_bar`, print with :meth:`write` and close with
    :meth:`close_bar` or :meth:`close` (all bars, the latest first).
    """

    def __init__(self, stream: TextIO, *, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self.interactive = stream.isatty() and not quiet
        self.open_bars: list[tqdm] = []

    def open_bar(self, *, total: float | None, unit: str, **options: Any) -> tqdm:
        """A new bar on the stream (its width follows the terminal's)."""
        bar = tqdm(total=total, file=self.stream, unit=unit, dynamic_ncols=True, **options)
        self.open_bars.append(bar)
        return bar

    def close_bar(self, bar: tqdm | None) -> None:
        if bar is not None:
            bar.close()
            if bar in self.open_bars:
                self.open_bars.remove(bar)

    def write(self, text: str) -> None:
        """A line above the bars while any is open, else a plain line (flushed: a log shows it now)."""
        if self.open_bars:
            tqdm.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        """Close every open bar (a second call does nothing)."""
        while self.open_bars:
            self.close_bar(self.open_bars[-1])


class PlainReports:
    """Which evaluations of a run get a plain line: about one every ``1/reports`` of the run."""

    def __init__(self, reports: int = PLAIN_REPORTS) -> None:
        self.reports = reports
        self.reported: dict[str, int] = {}

    def start(self, key: str = "") -> None:
        """A run begins: its lines are counted from its first evaluation."""
        self.reported[key] = 0

    def due(self, evaluation: int, total: int, *, key: str = "", final: bool = False) -> bool:
        """Whether ``evaluation`` of ``total`` gets a line (``final``: the last one always does)."""
        step = max(1, total // self.reports)
        if evaluation - self.reported.get(key, 0) < step and not (final and evaluation == total):
            return False
        self.reported[key] = evaluation
        return True


class Every:
    """At most one "now" every ``seconds``, besides the ones forced (a run's last evaluation)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.last = 0.0

    def due(self, *, force: bool = False) -> bool:
        now = time.monotonic()
        if not force and now - self.last < self.seconds:
            return False
        self.last = now
        return True
