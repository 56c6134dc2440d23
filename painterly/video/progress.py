"""Progress of a video: a bar over the frames on a terminal, else a line per frame, with the rate
in frames per minute and an ETA from the frames computed in this session (the first frame, a full
stylisation, is left out of the rate once later frames are known: it is much slower).

The bar is :class:`painterly.runs.progress.TerminalProgress`'s, the clock :mod:`painterly.runs.eta`'s.
"""

from __future__ import annotations

from typing import TextIO

from tqdm import tqdm

from painterly.runs.eta import clock, items_left_seconds, mean_seconds
from painterly.runs.progress import TerminalProgress


class VideoProgress(TerminalProgress):
    def __init__(self, stream: TextIO, total: int | None, *, quiet: bool = False) -> None:
        super().__init__(stream, quiet=quiet)
        self.total = total
        self.bar: tqdm | None = None
        self.seconds: list[tuple[int, float]] = []  # (frame index, seconds) computed now
        if self.interactive:
            self.bar = self.open_bar(total=total, unit="frame", desc="video")

    def say(self, text: str) -> None:
        """A line above the bar; nothing when quiet."""
        if not self.quiet:
            self.write(text)

    def skipped(self, count: int) -> None:
        """Frames finished by an earlier run."""
        if self.bar is not None:
            self.bar.update(count)

    def evaluation(self, index: int, evaluation: int, total: int) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"frame {index}: {evaluation}/{total}{self._rate_text(index)}", refresh=False)

    def per_frame(self) -> float | None:
        later = [seconds for index, seconds in self.seconds if index > 1]
        return mean_seconds(later or [seconds for _, seconds in self.seconds])

    def _rate_text(self, index: int) -> str:
        per_frame = self.per_frame()
        if per_frame is None:
            return ""
        text = f", {60 / per_frame:.1f} frames/min"
        if self.total is not None:
            text += f", ETA {clock(items_left_seconds(per_frame, self.total - index + 1))}"
        return text

    def frame(self, index: int, seconds: float, line: str) -> None:
        self.seconds.append((index, seconds))
        rate = self._rate_text(index + 1)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(rate.lstrip(", "))
        else:
            total = f"/{self.total}" if self.total else ""
            self.say(f"frame {index}{total}: {line}{rate}")

    def close(self) -> None:
        super().close()
        self.bar = None
