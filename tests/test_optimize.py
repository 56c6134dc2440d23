"""The optimisation loop on objectives with known minima."""

import math

import pytest
import torch

from painterly.jitter import Jitter
from painterly.optimize import Levers, _Walk, laplacian_pyramid, optimize_image, reconstruct
from painterly.terms import LossValues


def quadratic(target: torch.Tensor):
    def objective(image: torch.Tensor) -> LossValues:
        loss = (image - target).pow(2).sum() * 1e6  # huge raw scale, like the paper's losses
        return LossValues(content=loss, style=torch.zeros(()), total=loss)

    return objective


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
@pytest.mark.parametrize("budget", [1, 7, 50])
def test_exactly_the_budget_of_evaluations(optimizer: str, budget: int) -> None:
    seen = []
    target = torch.full((1, 3, 4, 4), 0.3)
    outcome = optimize_image(
        torch.full((1, 3, 4, 4), 0.9),
        quadratic(target),
        optimizer=optimizer,
        learning_rate=1.0 if optimizer == "lbfgs" else 0.05,
        evaluations=budget,
        on_evaluation=lambda evaluation, best: seen.append(evaluation.index),
    )
    assert outcome.evaluations == budget
    assert seen == list(range(1, budget + 1))


def test_lbfgs_reaches_the_minimum_of_a_badly_scaled_quadratic() -> None:
    target = torch.rand(1, 3, 8, 8)
    outcome = optimize_image(
        torch.rand(1, 3, 8, 8), quadratic(target), optimizer="lbfgs", learning_rate=1.0, evaluations=30
    )
    assert torch.allclose(outcome.best_image, target, atol=1e-4)
    assert outcome.stop_reason is None


def test_best_image_is_the_lowest_loss_one_and_clamped() -> None:
    target = torch.full((1, 3, 2, 2), 1.5)  # outside the pixel range
    losses = []
    outcome = optimize_image(
        torch.zeros(1, 3, 2, 2),
        quadratic(target),
        optimizer="lbfgs",
        learning_rate=1.0,
        evaluations=10,
        on_evaluation=lambda evaluation, best: losses.append(evaluation.total_loss),
    )
    assert float(outcome.best_terms.total) == min(losses)
    assert outcome.best_image.max() <= 1.0


def test_non_finite_loss_keeps_best_image_and_says_so() -> None:
    calls = {"n": 0}

    def exploding(image: torch.Tensor) -> LossValues:
        calls["n"] += 1
        loss = (image - 0.5).pow(2).sum()
        if calls["n"] > 3:
            loss = loss * float("nan")
        return LossValues(content=loss, style=torch.zeros(()), total=loss)

    outcome = optimize_image(
        torch.zeros(1, 3, 2, 2), exploding, optimizer="adam", learning_rate=0.1, evaluations=20
    )
    assert "NaN or infinite" in outcome.stop_reason
    assert torch.isfinite(outcome.best_image).all()
    assert outcome.evaluations < 20


def test_one_nan_is_recovered_from() -> None:
    calls = {"n": 0}

    def glitch(image: torch.Tensor) -> LossValues:
        calls["n"] += 1
        loss = (image - 0.5).pow(2).sum()
        if calls["n"] == 5:
            loss = loss * float("inf")
        return LossValues(content=loss, style=torch.zeros(()), total=loss)

    outcome = optimize_image(torch.zeros(1, 3, 2, 2), glitch, optimizer="lbfgs", learning_rate=1.0, evaluations=15)
    assert outcome.evaluations == 15
    assert "recovered 1 time" in outcome.stop_reason
    assert torch.allclose(outcome.best_image, torch.full((1, 3, 2, 2), 0.5), atol=1e-3)


def test_tolerance_stops_early_once_converged() -> None:
    target = torch.rand(1, 3, 4, 4)
    outcome = optimize_image(
        torch.rand(1, 3, 4, 4), quadratic(target), optimizer="adam", learning_rate=0.05, evaluations=2000,
        tolerance=1e-3,
    )  # fmt: skip
    assert outcome.evaluations < 2000
    assert outcome.stop_reason.startswith("converged")


# --- the path levers ------------------------------------------------------------------------------


def test_a_laplacian_pyramid_adds_back_up_to_the_image() -> None:
    image = torch.rand(1, 3, 67, 80, generator=torch.Generator().manual_seed(0))
    levels = laplacian_pyramid(image, 4)
    assert [tuple(level.shape[-2:]) for level in levels] == [(67, 80), (34, 40), (17, 20), (9, 10)]
    # Three bilinear upsamplings of values in 0..1, each a convex combination: float32 rounding only.
    assert (reconstruct(levels) - image).abs().max() < 1e-5
    assert len(laplacian_pyramid(image, 8)) == 4  # stops before a side falls under 8 px


def test_the_average_is_the_debiased_moving_average_of_the_iterates() -> None:
    image = torch.zeros(1, 1, 1, 1, requires_grad=True)
    walk = _Walk(image, Levers(average=0.5))
    for value in (0.2, 0.4, 1.0):
        with torch.no_grad():
            image.fill_(value)
        walk.stepped()
    # a_3 = 0.5 * 1.0 + 0.25 * 0.4 + 0.125 * 0.2, divided by 1 - 0.5^3
    assert float(walk.result()) == pytest.approx((0.5 + 0.1 + 0.025) / 0.875, rel=1e-6)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_with_levers_the_last_evaluation_scores_the_result_in_the_identity_view(optimizer: str) -> None:
    target = torch.full((1, 3, 6, 6), 0.3)
    jitter = Jitter.make(2, (6, 6), torch.Generator().manual_seed(0), torch.device("cpu"))
    views = []
    objective = quadratic(target)

    def seen(image: torch.Tensor) -> LossValues:
        views.append(int(jitter.index))
        return objective(image)

    levers = Levers(jitter=jitter, generator=torch.Generator().manual_seed(1), restart_every=5, average=0.5)
    outcome = optimize_image(
        torch.full((1, 3, 6, 6), 0.9), seen, optimizer=optimizer, learning_rate=1.0 if optimizer == "lbfgs" else 0.05,
        evaluations=21, levers=levers,
    )  # fmt: skip
    assert outcome.evaluations == len(views) == 21
    assert views[-1] == 0
    assert float(outcome.best_terms.total) == pytest.approx(float(objective(outcome.best_image).total), rel=1e-6)
    if optimizer == "lbfgs":  # one view per restart: the view changes only after every 5th evaluation
        changes = [index for index in range(1, 20) if views[index] != views[index - 1]]
        assert changes and all(index % 5 == 0 for index in changes)
    else:
        assert len(set(views[:-1])) > 1


def test_adam_on_a_pyramid_reaches_the_minimum() -> None:
    target = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 0.8 + 0.1
    outcome = optimize_image(
        torch.full((1, 3, 16, 16), 0.5), quadratic(target), optimizer="adam", learning_rate=0.02,
        evaluations=400, levers=Levers(pyramid=3),
    )  # fmt: skip
    assert (outcome.best_image - target).abs().max() < 0.02


def test_a_run_stopped_by_a_non_finite_loss_keeps_its_best_image_with_levers() -> None:
    calls = {"n": 0}

    def breaks(image: torch.Tensor) -> LossValues:
        calls["n"] += 1
        loss = (image - 0.5).pow(2).sum() * (float("inf") if calls["n"] > 4 else 1.0)
        return LossValues(content=loss, style=torch.zeros(()), total=loss)

    outcome = optimize_image(
        torch.zeros(1, 3, 2, 2), breaks, optimizer="adam", learning_rate=0.05, evaluations=30,
        levers=Levers(average=0.9),
    )  # fmt: skip
    assert "NaN or infinite" in outcome.stop_reason
    assert torch.isfinite(outcome.best_image).all() and math.isfinite(float(outcome.best_terms.total))
