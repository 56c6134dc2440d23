"""The optimisation loop at one image size: L-BFGS or Adam on the output pixels.

Every objective evaluation (one forward + backward pass) is counted; the budget is exact for
both optimisers, so "iterations" always means evaluations. The loop keeps the lowest-loss image
it has evaluated, recovers from a non-finite loss by restarting from that image with a smaller
step, and can stop early when the loss stops improving. It does no I/O: each evaluation is
reported to a callback as an :class:`Evaluation`.

:class:`Levers` change the path the optimiser takes, not the loss it minimises (the cure for the
regular grid of dots in flat areas; measured in docs/quality.md, "The optimisation path"):

- **jitter** (:mod:`painterly.jitter`): the network sees the canvas shifted by a random sub-stride
  offset, a new one at every Adam step, or every ``restart_every`` evaluations for L-BFGS, which
  restarts then (its curvature pairs belong to one view's loss);
- **averaging**: the output is the exponential moving average of the iterates,
  ``a_t = d a_{t-1} + (1 - d) x_t`` divided by ``1 - d^t`` (so the first iterate is not weighed
  against a zero start), which removes the step-to-step jitter of the last iterates;
- **pyramid** (Adam only): the picture is the sum of a Laplacian pyramid's levels, each upsampled to
  full size, and Adam steps on the levels. Adam moves every parameter by about its step size, so a
  coarse level's value, which moves a block of pixels at once, changes the picture's low
  frequencies as fast as a pixel changes the high ones (STROTSS and NNST optimise so).

With jitter or averaging the result is the last iterate (or the average), not the lowest-loss
image seen (losses of different views are not comparable), and the last evaluation of the budget
scores it in the identity view, so the reported losses are those of the picture handed on.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from painterly.jitter import Jitter
from painterly.lbfgs import history_size_for, minimize_lbfgs
from painterly.terms import LossValues

# How many times a non-finite loss may restart the optimiser (each time with half the step).
MAX_RECOVERIES = 3
# The relative-improvement test of `tolerance` looks this many evaluations back.
TOLERANCE_WINDOW = 20


@dataclass(frozen=True)
class Levers:
    """The path levers of one optimisation (see the module's docstring); the defaults change nothing."""

    jitter: Jitter | None = None
    generator: torch.Generator | None = None  # draws the jitter's views
    restart_every: int = 25  # L-BFGS with jitter: evaluations per view
    average: float = 0.0  # decay d of the average of the iterates; 0: off
    pyramid: int = 0  # levels of the Laplacian pyramid Adam steps on; 0: the pixels
    last: bool = False  # the result is the last iterate (a loss drawn at random positions has no "best")

    @property
    def scored(self) -> bool:
        """Whether the result is the last iterate or the average, scored by a last evaluation."""
        return self.jitter is not None or self.average > 0 or self.last


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of the objective, as the optimiser saw it (losses are the paper's raw values)."""

    index: int  # 1-based within this optimisation
    content_loss: float
    style_loss: float
    total_loss: float
    seconds: float  # since the optimisation started
    terms: dict[str, float] = field(default_factory=dict)  # each term's unweighted value, by name


@dataclass
class OptimizationOutcome:
    best_image: torch.Tensor
    best_terms: LossValues | None
    evaluations: int
    stop_reason: str | None  # None when the whole budget was spent normally


class _BudgetSpent(Exception):
    """Raised inside the closure to end L-BFGS exactly at the evaluation budget."""


class _NonFiniteLoss(Exception):
    """Raised inside the closure when the objective returns NaN or infinity."""


class _Pause(Exception):
    """Raised inside the closure to restart L-BFGS in a new jitter view."""


@dataclass
class _Tracker:
    """Counts evaluations and keeps the best image seen."""

    budget: int
    tolerance: float | None
    on_evaluation: Callable[[Evaluation, torch.Tensor], None] | None
    started: float
    count: int = 0
    best_total: float = math.inf
    best_image: torch.Tensor | None = None
    best_terms: LossValues | None = None
    recent_best: list[float] = field(default_factory=list)  # best total after each evaluation
    pause_at: int | None = None  # evaluations after which the optimiser pauses (a new jitter view)

    def record(self, image: torch.Tensor, values: LossValues) -> None:
        self.count += 1
        # One device-to-host copy for all the numbers (one synchronisation on a GPU).
        content, style, total, by_name = values.numbers()
        if not math.isfinite(total):
            raise _NonFiniteLoss
        if total < self.best_total:
            self.best_total = total
            self.best_image = image.detach().clone()
            self.best_terms = values
        self.recent_best.append(self.best_total)
        if self.on_evaluation is not None:
            evaluation = Evaluation(
                index=self.count,
                content_loss=content,
                style_loss=style,
                total_loss=total,
                seconds=time.perf_counter() - self.started,
                terms=by_name,
            )
            assert self.best_image is not None  # set by the first finite evaluation, above
            self.on_evaluation(evaluation, self.best_image)

    def converged(self) -> bool:
        """True when the best loss improved by less than `tolerance` (relative) over the window."""
        if self.tolerance is None or len(self.recent_best) <= TOLERANCE_WINDOW:
            return False
        before = self.recent_best[-1 - TOLERANCE_WINDOW]
        now = self.recent_best[-1]
        return (before - now) <= self.tolerance * abs(now)


def optimize_image(
    initial: torch.Tensor,
    objective: Callable[[torch.Tensor], LossValues],
    *,
    optimizer: str,
    learning_rate: float,
    evaluations: int,
    tolerance: float | None = None,
    bounds: str = "inside",
    on_evaluation: Callable[[Evaluation, torch.Tensor], None] | None = None,
    levers: Levers | None = None,
) -> OptimizationOutcome:
    """Minimise ``objective(image).total`` over the pixels of ``image`` for exactly ``evaluations``.

    ``optimizer`` is ``"lbfgs"`` or ``"adam"`` (checked by :mod:`painterly.options`), or
    ``"rmsprop"`` (STROTSS's, :mod:`painterly.methods`). ``bounds``
    "inside": L-BFGS minimises the loss of the image clamped to 0..1 (:func:`_seen_in_range`);
    "after": it runs unconstrained and the result is clamped (Adam's steps are always projected);
    ``on_evaluation(evaluation, best_image)`` is called after every evaluation. ``levers``: see
    :class:`Levers` (a pyramid is refused with L-BFGS by :mod:`painterly.options`).
    """
    levers = levers or Levers()
    scored = levers.scored and evaluations > 1
    tracker = _Tracker(evaluations - 1 if scored else evaluations, tolerance, on_evaluation, time.perf_counter())
    if bounds == "inside" and (optimizer == "lbfgs" or levers.pyramid):
        objective = _seen_in_range(objective)
    image = initial.detach().clone().requires_grad_(True)
    walk = _Walk(image, levers)
    step = learning_rate
    stop_reason: str | None = None
    recoveries = 0
    failed = False  # stopped on a non-finite loss: the best image, never the last iterate
    while tracker.count < tracker.budget:
        try:
            if optimizer == "lbfgs":
                _run_lbfgs(image, objective, tracker, step, walk)
            else:
                _run_adam(image, objective, tracker, step, walk, optimizer)
        except _Pause:
            walk.next_view()
            continue
        except _BudgetSpent:
            if tracker.converged():
                stop_reason = f"converged: loss improved less than {tolerance} over {TOLERANCE_WINDOW} evaluations"
            break
        except _NonFiniteLoss:
            if tracker.best_image is None or recoveries >= MAX_RECOVERIES:
                failed = True
                stop_reason = (
                    f"the loss became NaN or infinite at evaluation {tracker.count}; "
                    "stopped and kept the best image so far"
                )
                break
            recoveries += 1
            step /= 2
            with torch.no_grad():
                image.copy_(tracker.best_image)
            walk.restart()
            continue
        if tracker.converged():
            stop_reason = f"converged: loss improved less than {tolerance} over {TOLERANCE_WINDOW} evaluations"
            break
    if recoveries and stop_reason is None:
        stop_reason = f"recovered {recoveries} time(s) from a non-finite loss by halving the step"
    if scored and not failed and tracker.best_image is not None:
        try:
            return _score(walk, objective, tracker, stop_reason)
        except _NonFiniteLoss:  # the average or last iterate is not finite: keep the best image
            stop_reason = "the result's loss was not finite; kept the best image evaluated"
    best = tracker.best_image if tracker.best_image is not None else image.detach().clone()
    return OptimizationOutcome(best.clamp(0, 1), tracker.best_terms, tracker.count, stop_reason)


def _seen_in_range(objective: Callable[[torch.Tensor], LossValues]) -> Callable[[torch.Tensor], LossValues]:
    """The objective of the image clamped to 0..1: what L-BFGS minimises is the loss of the picture
    that will be saved, and every evaluated image is a valid one.

    Unconstrained L-BFGS wanders outside 0..1 and clamping its result at the end raised the scored
    style loss by half (docs/quality.md, "3. The final clamp"). Through the clamp, a
    pixel pushed past a bound stops at it and gets no gradient there, as at an active bound of
    L-BFGS-B; the line search sees the true loss of each trial image.
    """

    def evaluate(image: torch.Tensor) -> LossValues:
        return objective(image.clamp(0.0, 1.0))

    return evaluate


def _evaluate(image: torch.Tensor, objective: Callable[[torch.Tensor], LossValues], tracker: _Tracker) -> torch.Tensor:
    if tracker.count >= tracker.budget:
        raise _BudgetSpent
    values = objective(image)
    values.total.backward()
    detached = values.detached()
    tracker.record(image, detached)
    return detached.total


def _run_lbfgs(
    image: torch.Tensor,
    objective: Callable[[torch.Tensor], LossValues],
    tracker: _Tracker,
    step: float,
    walk: _Walk,
) -> None:
    """L-BFGS until the budget or `tolerance` ends it (we loop if it stops on its own), or, with a
    jitter, until the view's ``restart_every`` evaluations are spent (:class:`_Pause`).

    Its strong-Wolfe line search keeps the huge raw losses of the paper's normalisation from
    blowing up the second step (plain L-BFGS jumps to ~1e27 and returns NaN).
    """
    pause_at = walk.pause_at(tracker.count)

    def closure() -> torch.Tensor:
        # None rather than zeroed: a compiled objective's gradient may live in CUDA-graph memory.
        image.grad = None
        total = _evaluate(image, objective, tracker)
        walk.seen(image, float(total))
        if tracker.converged():
            raise _BudgetSpent
        if pause_at is not None and tracker.count >= pause_at:
            raise _Pause
        return total

    before = tracker.count
    # A run of n evaluations stores fewer than n pairs: no need to keep room for more.
    history = min(history_size_for(image.numel()), max(1, tracker.budget - tracker.count))
    minimize_lbfgs(image, closure, learning_rate=step, history_size=history)
    if tracker.count == before:  # cannot happen; guards against an endless loop
        raise _BudgetSpent


def _run_adam(
    image: torch.Tensor,
    objective: Callable[[torch.Tensor], LossValues],
    tracker: _Tracker,
    step: float,
    walk: _Walk,
    kind: str = "adam",
) -> None:
    """Adam, or RMSprop with ``kind="rmsprop"`` (torch's defaults otherwise), one evaluation per step."""
    optimizers = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}
    adam = optimizers[kind](walk.parameters(), lr=step)
    while True:
        adam.zero_grad()
        walk.next_view()
        _evaluate(walk.picture(), objective, tracker)
        if tracker.converged():
            return
        adam.step()
        if not walk.levels:
            with torch.no_grad():
                image.clamp_(0, 1)  # projected gradient: Adam's steps may leave the valid pixel range
        walk.stepped()


def _score(
    walk: _Walk, objective: Callable[[torch.Tensor], LossValues], tracker: _Tracker, stop_reason: str | None
) -> OptimizationOutcome:
    """The last evaluation of the budget: the result (last iterate or average) in the identity view."""
    walk.settle()
    result = walk.result().clamp(0, 1)
    if walk.levers.jitter is not None:
        walk.levers.jitter.reset()
    tracker.budget += 1
    with torch.no_grad():
        values = objective(result).detached()
    tracker.record(result, values)
    return OptimizationOutcome(result, values, tracker.count, stop_reason)


class _Walk:
    """The levers' state along one optimisation: the pyramid's levels, the average, the views."""

    def __init__(self, image: torch.Tensor, levers: Levers) -> None:
        self.image = image
        self.levers = levers
        self.levels: list[torch.Tensor] = []
        self.average: torch.Tensor | None = None
        self.steps = 0
        self.view_best = (math.inf, image.detach().clone() if levers.jitter is not None else image)
        self.restart()

    def restart(self) -> None:
        """Start again from ``image`` (the first time, or after a recovery): new levels, no average."""
        if self.levers.pyramid:
            self.levels = [
                level.requires_grad_(True) for level in laplacian_pyramid(self.image.detach(), self.levers.pyramid)
            ]
        self.average, self.steps = None, 0

    def parameters(self) -> list[torch.Tensor]:
        return self.levels or [self.image]

    def picture(self) -> torch.Tensor:
        """The image the parameters stand for (with its graph to the levels, for a pyramid)."""
        return reconstruct(self.levels) if self.levels else self.image

    def stepped(self) -> None:
        """After an optimiser step: fold the new iterate into the average."""
        if self.levers.average <= 0:
            return
        decay = self.levers.average
        with torch.no_grad():
            current = self.picture().detach().clamp(0, 1)
            self.average = (
                current.clone() * (1 - decay)
                if self.average is None
                else self.average.mul_(decay).add_(current, alpha=1 - decay)
            )
        self.steps += 1

    def result(self) -> torch.Tensor:
        """The average of the iterates (debiased), or the last iterate."""
        if self.average is not None:
            return self.average / (1 - self.levers.average**self.steps)
        return self.picture().detach().clone()

    def pause_at(self, count: int) -> int | None:
        """For L-BFGS with a jitter: the evaluation count at which this view ends."""
        return count + self.levers.restart_every if self.levers.jitter is not None else None

    def seen(self, image: torch.Tensor, total: float) -> None:
        """L-BFGS with a jitter: remember the view's lowest-loss iterate (its line search may end a
        view on a trial point that is worse)."""
        if self.levers.jitter is not None and total < self.view_best[0]:
            self.view_best[1].copy_(image.detach())
            self.view_best = (total, self.view_best[1])

    def next_view(self) -> None:
        """A new view of the jitter; L-BFGS goes on from the last view's best iterate."""
        jitter, generator = self.levers.jitter, self.levers.generator
        if jitter is None:
            return
        self.settle()
        jitter.advance(generator if generator is not None else torch.Generator().manual_seed(0))

    def settle(self) -> None:
        """L-BFGS with a jitter, at the end of a view: back to the view's lowest-loss iterate (not a
        line search's last trial), folded into the average."""
        if self.view_best[0] < math.inf:
            with torch.no_grad():
                self.image.copy_(self.view_best[1])
            self.view_best = (math.inf, self.view_best[1])
            self.stepped()


def laplacian_pyramid(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """``levels`` bands of a (1, C, H, W) image, finest first: band i = x_i - up(x_{i+1}), the last
    the coarsest image x_{n-1}, with x_{i+1} = x_i halved (bilinear, antialiased) while both sides stay
    at least 8 px. :func:`reconstruct` adds them back up exactly (up to float rounding)."""
    images = [image]
    while len(images) < levels and min(images[-1].shape[-2:]) >= 16:
        height, width = images[-1].shape[-2:]
        images.append(
            F.interpolate(images[-1], size=((height + 1) // 2, (width + 1) // 2), mode="bilinear", antialias=True)
        )
    bands = [fine - _up(coarse, fine) for fine, coarse in itertools.pairwise(images)]
    return [band.detach().clone() for band in [*bands, images[-1]]]


def reconstruct(levels: list[torch.Tensor]) -> torch.Tensor:
    """The image of a Laplacian pyramid (:func:`laplacian_pyramid`): the coarsest level upsampled and
    added to each finer band in turn."""
    image = levels[-1]
    for band in reversed(levels[:-1]):
        image = _up(image, band) + band
    return image


def _up(coarse: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(coarse, size=tuple(like.shape[-2:]), mode="bilinear", align_corners=False)
