"""painterly's L-BFGS: the batched direction equals the two-loop recursion, the iterates torch's."""

from __future__ import annotations

import pytest
import torch

from painterly.lbfgs import PairHistory, _direction, first_step, minimize_lbfgs


def two_loop(grad: torch.Tensor, pairs: list[tuple[torch.Tensor, torch.Tensor]], scale: float) -> torch.Tensor:
    """The textbook recursion (Nocedal and Wright, algorithm 7.4), pairs oldest first, in float64."""
    q = grad.clone()
    alphas = []
    for s, y in reversed(pairs):
        alpha = s.dot(q) / y.dot(s)
        q -= alpha * y
        alphas.append(alpha)
    r = scale * q
    for (s, y), alpha in zip(pairs, reversed(alphas), strict=True):
        beta = y.dot(r) / y.dot(s)
        r += s * (alpha - beta)
    return -r


@pytest.mark.parametrize(("capacity", "appended"), [(5, 1), (5, 3), (5, 5), (4, 11)])
def test_direction_matches_the_two_loop_recursion(capacity: int, appended: int) -> None:
    generator = torch.Generator().manual_seed(capacity * 100 + appended)
    numel = 40
    curvature = torch.diag(torch.rand(numel, generator=generator, dtype=torch.float64) + 0.5)
    history = PairHistory(capacity, numel, torch.device("cpu"), dtype=torch.float64)
    kept: list[tuple[torch.Tensor, torch.Tensor]] = []
    for _ in range(appended):  # pairs of a convex quadratic, so that s . y > 0 as in L-BFGS
        s = torch.randn(numel, generator=generator, dtype=torch.float64)
        y = curvature @ s + 0.01 * torch.randn(numel, generator=generator, dtype=torch.float64)
        history.append(s, y)
        kept = [*kept, (s, y)][-capacity:]
    grad = torch.randn(numel, generator=generator, dtype=torch.float64)
    expected = two_loop(grad, kept, 0.7)
    got = _direction(grad, history, torch.tensor(0.7, dtype=torch.float64))
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def rosenbrock_sum(x: torch.Tensor) -> torch.Tensor:
    flat = x.reshape(-1)
    return (100 * (flat[1:] - flat[:-1] ** 2) ** 2 + (1 - flat[:-1]) ** 2).sum()


def test_iterates_match_torch_lbfgs_with_strong_wolfe() -> None:
    start = torch.linspace(-1.5, 1.5, 24, dtype=torch.float64)
    budget = 60

    ours = start.clone().requires_grad_(True)
    our_losses: list[float] = []

    def our_closure() -> torch.Tensor:
        if len(our_losses) == budget:
            raise StopIteration
        ours.grad = None
        loss = rosenbrock_sum(ours)
        loss.backward()
        our_losses.append(float(loss.detach()))
        return loss.detach()

    with pytest.raises(StopIteration):
        minimize_lbfgs(ours, our_closure, learning_rate=1.0, history_size=10, first="torch")

    theirs = start.clone().requires_grad_(True)
    their_losses: list[float] = []
    optimizer = torch.optim.LBFGS(
        [theirs], lr=1.0, max_iter=budget, max_eval=budget, tolerance_grad=0.0, tolerance_change=0.0,
        history_size=10, line_search_fn="strong_wolfe",
    )  # fmt: skip

    def their_closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = rosenbrock_sum(theirs)
        loss.backward()
        their_losses.append(float(loss.detach()))
        return loss

    optimizer.step(their_closure)
    compared = min(len(their_losses), budget)
    assert compared > 40
    ours_then, theirs_then = torch.tensor(our_losses[:compared]), torch.tensor(their_losses[:compared])
    torch.testing.assert_close(ours_then, theirs_then, rtol=1e-6, atol=1e-9)
    assert our_losses[compared - 1] < 0.05 * our_losses[0]


@pytest.mark.parametrize("scale", [1.0, 1e8])
def test_the_first_step_is_polyaks_whatever_the_losss_scale(scale: float) -> None:
    """f = a |x|^2: L / |g|^2 = 1 / (4a), so the first trial halves x and the loss falls to a quarter."""
    start = torch.linspace(0.5, 2.0, 50, dtype=torch.float64)
    losses: list[float] = []
    x = start.clone().requires_grad_(True)

    def closure() -> torch.Tensor:
        if len(losses) == 2:
            raise StopIteration
        x.grad = None
        loss = scale * x.pow(2).sum()
        loss.backward()
        losses.append(float(loss.detach()))
        return loss.detach()

    with pytest.raises(StopIteration):
        minimize_lbfgs(x, closure, learning_rate=1.0)
    assert losses[1] == pytest.approx(0.25 * losses[0], rel=1e-12)
    grad = 2 * scale * start
    assert first_step(losses[0], grad, "polyak") == pytest.approx(1 / (4 * scale), rel=1e-12)
    # torch's rule, min(1, 1 / |g|_1), shrinks with the loss's scale
    assert first_step(losses[0], grad, "torch") == pytest.approx(min(1.0, 1 / grad.abs().sum().item()))
    assert first_step(0.0, grad, "polyak") == first_step(0.0, grad, "torch")  # nothing to go by at a zero loss
