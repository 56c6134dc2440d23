"""Progress of a batch: one bar over all its pictures on a terminal, else a line per picture.

The bar's postfix follows the picture being computed (its evaluations), so a long picture is
not mistaken for a hang; the rate and ETA are tqdm's, per picture. The bar itself is
:class:`painterly.runs.progress.TerminalProgress`'s.
"""

from __future__ import annotations

from typing import TextIO

from tqdm import tqdm

from painterly.runs.progress import TerminalProgress


class BatchProgress(TerminalProgress):
    """``start(total)``, then ``evaluation(...)`` during a picture and ``picture(...)`` after each."""

    def __init__(self, stream: TextIO, *, quiet: bool = False) -> None:
        super().__init__(stream, quiet=quiet)
        self.bar: tqdm | None = None
        self.total = 0
        self.done = 0

    def say(self, text: str) -> None:
        """A line that does not break the bar (errors are printed even when quiet)."""
        self.write(text)

    def start(self, total: int) -> None:
        self.total = total
        if self.interactive and total:
            self.bar = self.open_bar(total=total, unit="picture", desc="batch")

    def evaluation(self, name: str, evaluation: int, total: int) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"{name}: {evaluation}/{total}", refresh=evaluation == 1)

    def picture(self, name: str, line: str, *, failed: bool = False) -> None:
        """One picture ended (written or failed): advance the bar, or print its line."""
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            if failed:
                self.say(line)
        elif failed or not self.quiet:
            self.say(f"[{self.done}/{self.total}] {line}")

    def close(self) -> None:
        super().close()
        self.bar = None
