"""Terminal progress for the CLI: a bar with losses, evaluations/s and an ETA, or plain lines.

The ETA weighs each evaluation by its pixel count, because coarse scales are much cheaper
than the final one: the time per pixel-evaluation is about the same at every scale (within
about a tenth on the CPU: docs/benchmarks/README.md, "Measurements behind choices in the
code"). The cost per pixel-evaluation is measured as the run goes (:class:`EtaEstimate`).
"""

from __future__ import annotations

from typing import TextIO

from tqdm import tqdm

from painterly.models.weights import ProgressCallback
from painterly.result import Iterate

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


def clock(seconds: float) -> str:
    """Seconds as m:ss, or h:mm:ss from an hour."""
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


class EtaEstimate:
    """Seconds left, from the cost per pixel-evaluation measured so far.

    A scale's first evaluation also builds its targets (a pass over the photo and each painting),
    so the rate is measured from it onwards. Early in a scale its few evaluations say little, so
    they are blended with the rate of the scales before it, which counts as ``prior_evaluations``
    evaluations of the current scale.
    """

    def __init__(self, prior_evaluations: int = 10) -> None:
        self.prior_evaluations = prior_evaluations
        self.scale = 0
        self.first = 0.0  # seconds at the current scale's first evaluation
        self.evaluations = 0  # at the current scale
        self.pixels = 0
        self.last = 0.0
        self.earlier_seconds = 0.0  # time and pixel-evaluations of the finished scales, first ones excluded
        self.earlier_work = 0.0

    def update(self, iterate: Iterate) -> float:
        """Record ``iterate`` and return the estimated seconds left."""
        if iterate.scale != self.scale:
            if self.evaluations > 1:
                self.earlier_seconds += self.last - self.first
                self.earlier_work += (self.evaluations - 1) * self.pixels
            self.scale, self.first, self.evaluations = iterate.scale, iterate.seconds, 0
            self.pixels = iterate.height * iterate.width
        self.evaluations += 1
        self.last = iterate.seconds
        work = (self.evaluations - 1) * self.pixels
        earlier = self.earlier_seconds / self.earlier_work if self.earlier_work else None
        if work == 0:
            rate = earlier if earlier is not None else iterate.seconds / self.pixels
        elif earlier is None:
            rate = (iterate.seconds - self.first) / work
        else:
            prior = self.prior_evaluations * self.pixels
            rate = (iterate.seconds - self.first + earlier * prior) / (work + prior)
        return remaining_seconds(iterate, rate)


class StylizeProgress:
    """A tqdm bar on a terminal, else a line every tenth of the run."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.interactive = stream.isatty()
        self.bar: tqdm | None = None
        self.last_reported = 0
        self.eta = EtaEstimate()

    def update(self, iterate: Iterate) -> None:
        if iterate.evaluation == 1 and iterate.network:  # the network, before the run's first line
            print(f"network: {iterate.network}", file=self.stream, flush=True)
        eta = self.eta.update(iterate)
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
            f"ETA {clock(eta)}, content {iterate.content_loss:.3g}, style {iterate.style_loss:.3g}",
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
            f"total {iterate.total_loss:.4g}, {iterate.seconds:.0f} s, ETA {clock(eta)}",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def weights_progress_bar(stream: TextIO) -> ProgressCallback:
    """A download bar for network weights, shown on a terminal only."""
    bars: dict[str, tqdm | None] = {}  # None: announced by a plain line

    def report(done: int, total: int | None, description: str) -> None:
        if not stream.isatty():
            if description not in bars:
                bars[description] = None
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
