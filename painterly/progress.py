"""Terminal progress for the CLI: a bar with losses, evaluations/s and an ETA, or plain lines.

The ETA weighs each evaluation by its pixel count, because coarse scales are much cheaper
than the final one.
"""

from __future__ import annotations

from typing import TextIO

from tqdm import tqdm

from painterly.api import Iterate
from painterly.models.weights import ProgressCallback

PLAIN_REPORTS = 10  # lines printed over a run when the output is not a terminal


def remaining_seconds(iterate: Iterate, seconds_per_pixel_evaluation: float) -> float:
    """Time left if every evaluation costs in proportion to its pixel count."""
    done = iterate.evaluation
    remaining_work = 0.0
    for height, width, evaluations in iterate.schedule:
        left = min(evaluations, max(0, evaluations - done))
        done = max(0, done - evaluations)
        remaining_work += left * height * width
    return remaining_work * seconds_per_pixel_evaluation


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


class StylizeProgress:
    """A tqdm bar on a terminal, else a line every tenth of the run."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.interactive = stream.isatty()
        self.bar: tqdm | None = None
        self.last_reported = 0
        # Pixel-evaluations done and time spent, for the ETA: the current scale's rate is the best guide.
        self.scale = 0
        self.scale_started = 0.0
        self.scale_work = 0.0

    def update(self, iterate: Iterate) -> None:
        if iterate.scale != self.scale:
            self.scale, self.scale_started, self.scale_work = iterate.scale, iterate.seconds, 0.0
        self.scale_work += iterate.height * iterate.width
        elapsed_at_scale = max(iterate.seconds - self.scale_started, 1e-9)
        eta = remaining_seconds(iterate, elapsed_at_scale / self.scale_work)
        if self.interactive:
            self._update_bar(iterate, eta)
        else:
            self._update_plain(iterate, eta)

    def _update_bar(self, iterate: Iterate, eta: float) -> None:
        if self.bar is None:
            self.bar = tqdm(
                total=iterate.total_evaluations,
                file=self.stream,
                unit="eval",
                dynamic_ncols=True,
                bar_format="{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}, {rate_fmt}{postfix}]",
            )
        self.bar.set_description_str(f"scale {iterate.scale}/{iterate.scales} {iterate.width}x{iterate.height}")
        self.bar.set_postfix_str(
            f"ETA {_clock(eta)}, content {iterate.content_loss:.3g}, style {iterate.style_loss:.3g}",
            refresh=False,
        )
        self.bar.update(iterate.evaluation - self.bar.n)

    def _update_plain(self, iterate: Iterate, eta: float) -> None:
        step = max(1, iterate.total_evaluations // PLAIN_REPORTS)
        if iterate.evaluation - self.last_reported < step and iterate.evaluation != iterate.total_evaluations:
            return
        self.last_reported = iterate.evaluation
        print(
            f"evaluation {iterate.evaluation}/{iterate.total_evaluations} "
            f"(scale {iterate.scale}/{iterate.scales}, {iterate.width}x{iterate.height}) "
            f"content {iterate.content_loss:.4g} style {iterate.style_loss:.4g} "
            f"total {iterate.total_loss:.4g}, {iterate.seconds:.0f} s, ETA {_clock(eta)}",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def weights_progress_bar(stream: TextIO) -> ProgressCallback:
    """A download bar for network weights, shown on a terminal only."""
    bars: dict[str, tqdm] = {}

    def report(done: int, total: int | None, description: str) -> None:
        if not stream.isatty():
            if description not in bars:
                bars[description] = None  # type: ignore[assignment]
                print(f"{description} ...", file=stream, flush=True)
            return
        bar = bars.get(description)
        if bar is None:
            bar = bars[description] = tqdm(
                total=total, file=stream, unit="B", unit_scale=True, desc=description, leave=False
            )
        bar.update(done - bar.n)
        if total is not None and done >= total:
            bar.close()

    return report
