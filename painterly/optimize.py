"""The optimisation loop at one image size: L-BFGS or Adam on the output pixels.

Every objective evaluation (one forward + backward pass) is counted; the budget is exact for
both optimisers, so "iterations" always means evaluations. The loop keeps the lowest-loss image
it has evaluated, recovers from a non-finite loss by restarting from that image with a smaller
step, and can stop early when the loss stops improving. It does no I/O: each evaluation is
reported to a callback as an :class:`Evaluation`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from painterly.lbfgs import history_size_for, minimize_lbfgs
from painterly.terms import LossValues

# How many times a non-finite loss may restart the optimiser (each time with half the step).
MAX_RECOVERIES = 3
# The relative-improvement test of `tolerance` looks this many evaluations back.
TOLERANCE_WINDOW = 20


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
) -> OptimizationOutcome:
    """Minimise ``objective(image).total`` over the pixels of ``image`` for exactly ``evaluations``.

    ``optimizer`` is ``"lbfgs"`` or ``"adam"`` (checked by :mod:`painterly.options`). ``bounds``
    "inside": L-BFGS minimises the loss of the image clamped to 0..1 (:func:`_seen_in_range`);
    "after": it runs unconstrained and the result is clamped (Adam's steps are always projected);
    ``on_evaluation(evaluation, best_image)`` is called after every evaluation.
    """
    tracker = _Tracker(evaluations, tolerance, on_evaluation, time.perf_counter())
    if bounds == "inside" and optimizer == "lbfgs":
        objective = _seen_in_range(objective)
    image = initial.detach().clone().requires_grad_(True)
    step = learning_rate
    stop_reason: str | None = None
    recoveries = 0
    while tracker.count < evaluations:
        try:
            run = _run_lbfgs if optimizer == "lbfgs" else _run_adam
            run(image, objective, tracker, step)
        except _BudgetSpent:
            if tracker.converged():
                stop_reason = f"converged: loss improved less than {tolerance} over {TOLERANCE_WINDOW} evaluations"
            break
        except _NonFiniteLoss:
            if tracker.best_image is None or recoveries >= MAX_RECOVERIES:
                stop_reason = (
                    f"the loss became NaN or infinite at evaluation {tracker.count}; "
                    "stopped and kept the best image so far"
                )
                break
            recoveries += 1
            step /= 2
            with torch.no_grad():
                image.copy_(tracker.best_image)
            continue
        if tracker.converged():
            stop_reason = f"converged: loss improved less than {tolerance} over {TOLERANCE_WINDOW} evaluations"
            break
    best = tracker.best_image if tracker.best_image is not None else image.detach().clone()
    if recoveries and stop_reason is None:
        stop_reason = f"recovered {recoveries} time(s) from a non-finite loss by halving the step"
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
    image: torch.Tensor, objective: Callable[[torch.Tensor], LossValues], tracker: _Tracker, step: float
) -> None:
    """L-BFGS until the budget or `tolerance` ends it (we loop if it stops on its own).

    Its strong-Wolfe line search keeps the huge raw losses of the paper's normalisation from
    blowing up the second step (plain L-BFGS jumps to ~1e27 and returns NaN).
    """

    def closure() -> torch.Tensor:
        # None rather than zeroed: a compiled objective's gradient may live in CUDA-graph memory.
        image.grad = None
        total = _evaluate(image, objective, tracker)
        if tracker.converged():
            raise _BudgetSpent
        return total

    before = tracker.count
    # A run of n evaluations stores fewer than n pairs: no need to keep room for more.
    history = min(history_size_for(image.numel()), max(1, tracker.budget - tracker.count))
    minimize_lbfgs(image, closure, learning_rate=step, history_size=history)
    if tracker.count == before:  # cannot happen; guards against an endless loop
        raise _BudgetSpent


def _run_adam(
    image: torch.Tensor, objective: Callable[[torch.Tensor], LossValues], tracker: _Tracker, step: float
) -> None:
    adam = torch.optim.Adam([image], lr=step)
    while True:
        adam.zero_grad()
        _evaluate(image, objective, tracker)
        if tracker.converged():
            return
        adam.step()
        with torch.no_grad():
            image.clamp_(0, 1)  # projected gradient: Adam's steps may leave the valid pixel range
