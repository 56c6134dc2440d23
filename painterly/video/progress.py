"""Progress of a video: a bar over the frames on a terminal, else a line per frame, with the rate
in frames per minute and an ETA from the frames computed in this session (the first frame, a full
stylisation, is left out of the rate once later frames are known: it is much slower)."""

from __future__ import annotations

from typing import TextIO

from tqdm import tqdm

from painterly.progress import clock


class VideoProgress:
    def __init__(self, stream: TextIO, total: int | None, *, quiet: bool = False) -> None:
        self.stream = stream
        self.total = total
        self.quiet = quiet
        self.bar: tqdm | None = None
        self.seconds: list[tuple[int, float]] = []  # (frame index, seconds) computed now
        if stream.isatty() and not quiet:
            self.bar = tqdm(total=total, file=stream, unit="frame", dynamic_ncols=True, desc="video")

    def say(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        elif not self.quiet:
            print(text, file=self.stream, flush=True)

    def skipped(self, count: int) -> None:
        """Frames finished by an earlier run."""
        if self.bar is not None:
            self.bar.update(count)

    def evaluation(self, index: int, evaluation: int, total: int) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"frame {index}: {evaluation}/{total}{self._rate_text(index)}", refresh=False)

    def per_frame(self) -> float | None:
        later = [seconds for index, seconds in self.seconds if index > 1]
        chosen = later or [seconds for _, seconds in self.seconds]
        return sum(chosen) / len(chosen) if chosen else None

    def _rate_text(self, index: int) -> str:
        per_frame = self.per_frame()
        if per_frame is None:
            return ""
        text = f", {60 / per_frame:.1f} frames/min"
        if self.total is not None:
            text += f", ETA {clock(max(0, self.total - index + 1) * per_frame)}"
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
        if self.bar is not None:
            self.bar.close()
            self.bar = None
