"""The optimisation loop on objectives with known minima."""

import pytest
import torch

from painterly.optimize import optimize_image
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
