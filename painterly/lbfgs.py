"""L-BFGS with a strong-Wolfe line search whose direction costs a handful of GPU kernels.

torch.optim.LBFGS runs the two-loop recursion pair by pair: with a history of m pairs that is
about 8m small kernels per step (800 at m = 100: several milliseconds of launch overhead on a
GPU at a few microseconds each, about what a compiled evaluation costs at 512 px) and 2m host
synchronisations, because
``q.add_(y, alpha=-al[i])`` copies the tensor ``al[i]`` to the host. Here the pairs are rows of
two matrices S and Y, and the recursion is rewritten as two triangular solves on the m x m
matrix of inner products s_i . y_j (see :func:`_direction`): seven matrix-vector products (two
of them keep the inner products up to date) and two small solves per step, with no
synchronisation, the same direction in exact arithmetic. The rest is
torch's algorithm (BSD-3-Clause; same memory update and line search, which is reused directly;
the first step is torch's with ``first="torch"``, see :data:`FirstStep`): with the same history and
first step it gives torch's iterates up to rounding (tests/test_lbfgs.py).
The history shrinks below torch's 100 pairs only for images too large to keep 100 pairs in
HISTORY_BYTES.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch.optim.lbfgs import _strong_wolfe

#: The first iteration's trial step along -g (no curvature pairs yet, so no scale to go by).
#: "torch": torch.optim.LBFGS's min(1, 1 / |g|_1), made for losses of order one. The paper's raw
#: losses are 1e7-1e10 with |g|_1 in proportion, and that step moved the pixels by about 1e-5 of
#: their range: the line search's ten-fold extrapolations took 4-5 evaluations before the loss
#: moved (Tübingen x Starry Night, 512 px, alpha/beta 1e-3). "polyak": L / |g|^2, where the linear
#: model of a loss that cannot go below 0 reaches 0 (Polyak's step with f* = 0). It does not depend
#: on the loss's scale: from the photo it was thousands of times torch's step, and that one step
#: lowered the loss by more than half (docs/quality.md, "Speed goals").
FirstStep = Literal["torch", "polyak"]

# Keep the history vectors under this many bytes (two float32 image-sized vectors per pair).
HISTORY_BYTES = 2 * 1024**3
MAX_HISTORY = 100  # torch's default
MIN_HISTORY = 5


def history_size_for(numel: int) -> int:
    """As many (s, y) pairs as fit in HISTORY_BYTES, between MIN_HISTORY and MAX_HISTORY."""
    return max(MIN_HISTORY, min(MAX_HISTORY, HISTORY_BYTES // (2 * 4 * numel)))


class PairHistory:
    """The last `capacity` update pairs (s_k, y_k) as rows of S and Y, with all products s_i . y_j.

    Rows fill from 0; once the history is full they are reused as a ring, the oldest row first.
    """

    def __init__(self, capacity: int, numel: int, device: torch.device, dtype: torch.dtype = torch.float32) -> None:
        self.capacity = capacity
        self.steps = torch.empty(capacity, numel, device=device, dtype=dtype)  # S
        self.changes = torch.empty(capacity, numel, device=device, dtype=dtype)  # Y
        self.products = torch.zeros(capacity, capacity, device=device, dtype=dtype)  # [a, b] = s_a . y_b
        self.count = 0
        self.oldest = 0  # row of the oldest pair

    def __len__(self) -> int:
        return self.count

    def append(self, step: torch.Tensor, change: torch.Tensor) -> None:
        if self.count < self.capacity:
            row = self.count
            self.count += 1
        else:
            row = self.oldest
            self.oldest = (self.oldest + 1) % self.capacity
        self.steps[row] = step
        self.changes[row] = change
        used = self.count
        self.products[row, :used] = self.changes[:used] @ step  # s_row . y_b
        self.products[:used, row] = self.steps[:used] @ change  # s_a . y_row

    def order(self) -> torch.Tensor:
        """The rows in use, oldest pair first (made on the device: no host-to-device copy)."""
        rows = torch.arange(self.count, device=self.steps.device)
        return (rows + self.oldest) % self.capacity


def _direction(grad: torch.Tensor, pairs: PairHistory, scale: torch.Tensor) -> torch.Tensor:
    """-H grad, H the L-BFGS inverse-Hessian approximation with initial scale `scale` (gamma).

    The two-loop recursion, pairs i oldest first and rho_i = 1 / (s_i . y_i):
    alpha_i = rho_i s_i . q_i for i from the newest (q = grad, then q -= alpha_i y_i); r = gamma q;
    r += (alpha_i - beta_i) s_i with beta_i = rho_i y_i . r for i from the oldest. Unrolled, with
    M[i, j] = s_i . y_j, the alphas solve triu(M) alpha = S grad and c = alpha - beta solves
    tril(M^T) c = diag(M) alpha - Y r0 with r0 = gamma (grad - Y^T alpha); then r = r0 + S^T c.
    """
    used = len(pairs)
    steps, changes = pairs.steps[:used], pairs.changes[:used]
    order = pairs.order()
    products = pairs.products[order][:, order]
    alpha = torch.linalg.solve_triangular(products.triu(), (steps @ grad)[order, None], upper=True)[:, 0]
    alpha_by_row = torch.zeros_like(alpha).index_copy_(0, order, alpha)
    r0 = (grad - changes.T @ alpha_by_row) * scale
    right = (products.diagonal() * alpha - (changes @ r0)[order])[:, None]
    c = torch.linalg.solve_triangular(products.T.tril(), right, upper=False)[:, 0]
    c_by_row = torch.zeros_like(c).index_copy_(0, order, c)
    return (r0 + steps.T @ c_by_row).neg_()


def first_step(loss: float, grad: torch.Tensor, rule: FirstStep) -> float:
    """The first iteration's trial step along -grad, before the learning rate (see :data:`FirstStep`)."""
    if rule == "polyak" and loss > 0:
        return loss / grad.pow(2).sum().item()
    return min(1.0, 1.0 / grad.abs().sum().item())


def minimize_lbfgs(
    image: torch.Tensor,
    closure: Callable[[], torch.Tensor],
    *,
    learning_rate: float,
    history_size: int | None = None,
    first: FirstStep = "polyak",
) -> None:
    """Run L-BFGS on `image` in place until `closure` raises (the caller's budget or convergence).

    `closure()` must clear ``image.grad``, evaluate the loss, call backward and return the loss.
    It returns only if the search direction stops being a descent direction (converged). `first`
    chooses the first iteration's trial step (:func:`first_step`).
    """
    capacity = history_size or history_size_for(image.numel())
    pairs = PairHistory(capacity, image.numel(), image.device, image.dtype)

    def gradient() -> torch.Tensor:
        assert image.grad is not None, "the closure must call backward"
        return image.grad.detach().reshape(-1).clone()

    def evaluate_along(start: torch.Tensor, step: float, direction: torch.Tensor) -> tuple[float, torch.Tensor]:
        with torch.no_grad():
            image.view(-1).copy_(start).add_(direction, alpha=step)
        loss = float(closure())
        return loss, gradient()

    loss = float(closure())
    grad = gradient()
    direction = grad.neg()
    grad_norm = grad.abs().sum().item()
    if grad_norm == 0:  # a stationary point: nothing to do
        return
    step = first_step(loss, grad, first) * learning_rate
    previous_grad: torch.Tensor | None = None
    scale = torch.ones((), device=image.device)  # gamma, the initial inverse-Hessian scale
    while True:
        if previous_grad is not None:
            change = grad - previous_grad
            step_taken = direction * step
            curvature = change.dot(step_taken)
            if curvature > 1e-10:  # the one synchronisation of the memory update
                pairs.append(step_taken, change)
                scale = curvature / change.dot(change)
            direction = _direction(grad, pairs, scale) if len(pairs) else grad.neg()
            step = learning_rate
        previous_grad = grad
        slope = grad.dot(direction)
        if slope > 0:  # not a descent direction: the history is stale or we are at a minimum
            return
        start = image.detach().reshape(-1).clone()
        loss, grad, step, _ = _strong_wolfe(evaluate_along, start, step, direction, loss, grad, slope)
        with torch.no_grad():
            image.view(-1).copy_(start).add_(direction, alpha=step)
