"""The time left of a run, for every front end that shows one (the terminal, the studio's page).

The ETA weighs each evaluation by its pixel count, because coarse scales are much cheaper
than the final one: the time per pixel-evaluation is about the same at every scale (within
about a tenth on the CPU: docs/benchmarks/README.md, "Measurements behind choices in the
code"). The cost per pixel-evaluation is measured as the run goes (:class:`EtaEstimate`).
Front ends that count whole items (a video's frames) use :func:`items_left_seconds`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from painterly.result import Iterate


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


def items_left_seconds(per_item: float, left: int) -> float:
    """Time left for ``left`` items at ``per_item`` seconds each."""
    return max(0, left) * per_item


def mean_seconds(seconds: Sequence[float]) -> float | None:
    """The mean of ``seconds``, or None when there are none yet."""
    return sum(seconds) / len(seconds) if seconds else None


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
