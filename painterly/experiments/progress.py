"""Progress of a grid on the terminal: a bar over the runs and one per running run, or plain lines.

The bars and lines are :class:`painterly.runs.progress.TerminalProgress`'s; this module says what
the runner's events (:mod:`painterly.experiments.runner`) mean.
"""

from __future__ import annotations

import time
from typing import TextIO

from tqdm import tqdm

from painterly.experiments.runner import (
    Event,
    GridStarted,
    RunFailed,
    RunFinished,
    RunFinishedElsewhere,
    RunProgress,
    RunSkipped,
    RunStarted,
    RunWaiting,
)
from painterly.runs.progress import PlainReports, TerminalProgress


class GridProgress(TerminalProgress):
    """Consumes the runner's events (see :func:`painterly.experiments.runner.run_grid`)."""

    def __init__(self, stream: TextIO, *, quiet: bool = False) -> None:
        super().__init__(stream, quiet=quiet)
        self.grid: tqdm | None = None
        self.bars: dict[str, tqdm] = {}
        self.slots: dict[str, int] = {}
        self.reports = PlainReports()  # lines per run when the output is not a terminal
        self.total = 0
        self.done = 0
        self.started = time.perf_counter()

    def __call__(self, event: Event) -> None:
        if self.quiet:
            return
        if isinstance(event, GridStarted):
            self._on_grid(event)
        elif isinstance(event, RunSkipped):
            self._on_skipped(event)
        elif isinstance(event, RunWaiting):
            self._on_waiting(event)
        elif isinstance(event, RunStarted):
            self._on_start(event)
        elif isinstance(event, RunProgress):
            self._on_evaluation(event)
        elif isinstance(event, RunFinished):
            self._on_done(event)
        elif isinstance(event, RunFinishedElsewhere):
            self._on_finished_elsewhere(event)
        elif isinstance(event, RunFailed):
            self._on_failed(event)

    def close(self) -> None:
        super().close()  # the runs' bars, then the grid's
        self.bars.clear()
        self.slots.clear()
        self.grid = None

    # --- events ---------------------------------------------------------------------------

    def _on_grid(self, event: GridStarted) -> None:
        self.total = event.total
        self.done = event.skipped
        if self.interactive:
            self.grid = self.open_bar(total=self.total, initial=self.done, desc="grid", unit="run", position=0)
        else:
            todo = self.total - self.done
            self._print(f"grid: {self.total} run(s), {self.done} finished earlier, {todo} to run")

    def _on_skipped(self, event: RunSkipped) -> None:
        if not self.interactive:
            self._print(f"  skip {event.name} (finished earlier)")

    def _on_waiting(self, event: RunWaiting) -> None:
        self._message(f"waiting for {event.name}: another painterly process is computing it")

    def _on_start(self, event: RunStarted) -> None:
        key = event.key
        if self.interactive:
            slot = next(index for index in range(1, len(self.slots) + 2) if index not in self.slots.values())
            self.slots[key] = slot
            self.bars[key] = self.open_bar(
                total=event.total, desc=_short(event.name), unit="eval", position=slot, leave=False
            )
        else:
            self.reports.start(key)
            self._print(f"[{self.done + 1}/{self.total}] start {event.name} ({event.total} evaluations)")

    def _on_evaluation(self, event: RunProgress) -> None:
        key = event.key
        if self.interactive:
            bar = self.bars.get(key)
            if bar is not None:
                bar.set_postfix_str(f"total {event.loss:.3g}", refresh=False)
                bar.update(event.evaluation - bar.n)
            return
        if self.reports.due(event.evaluation, event.total, key=key):
            rate = event.evaluation / max(event.seconds, 1e-9)
            self._print(
                f"    evaluation {event.evaluation}/{event.total} total {event.loss:.4g} "
                f"({rate:.2f} eval/s, {event.seconds:.0f} s)"
            )

    def _on_done(self, event: RunFinished) -> None:
        self._finish(event.key)
        summary = event.summary
        message = f"done {event.name} in {summary['seconds']:.1f} s, total loss {summary['final_losses']['total']:.4g}"
        if self.interactive:
            self.write(message)  # above the bars
        else:
            self._print(f"[{self.done}/{self.total}] {message}")

    def _on_finished_elsewhere(self, event: RunFinishedElsewhere) -> None:
        self._finish(event.key)
        self._message(f"skip {event.name} (finished by another painterly process)")

    def _on_failed(self, event: RunFailed) -> None:
        self._finish(event.key)
        self._message(f"FAILED {event.name}: {event.error}")

    def _message(self, text: str) -> None:
        """A line above the bars on a terminal, else a plain line."""
        self.write(text)

    def _finish(self, key: str) -> None:
        self.done += 1
        self.slots.pop(key, None)
        self.close_bar(self.bars.pop(key, None))
        if self.grid is not None:
            self.grid.update(1)

    def _print(self, text: str) -> None:
        self.write(text)


def _short(name: str, width: int = 40) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"
