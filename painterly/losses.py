"""The losses of Gatys, Ecker and Bethge, exactly as in the paper, and a Wasserstein-2 style loss.

All arithmetic here runs in float32 whatever precision the network ran in: features computed
under bf16 autocast are upcast before the Gram matrix and the sums. The one exception is the
Gram matrix's gradient, whose product runs in bf16 (see :func:`gram_matrix`).

The formulas only: the terms of the objective that use them are :mod:`painterly.terms`. The style
loss is the paper's Gram loss by default; with ``--style-loss w2`` a style target is a
:class:`W2Target` instead of a Gram matrix and each layer's loss is :func:`layer_w2_loss` (the
option picks the term: :class:`painterly.terms.W2StyleTerm`). An evaluation with W2 costs
more than with Gram: an eigendecomposition per style layer (measured in docs/benchmarks/README.md,
"Measurements behind choices in the code").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import torch


def feature_matrix(features: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(1, N, H, W) activations -> the paper's N x M matrix F (filters x positions), as `dtype`.

    A view where the layout allows: channels_last activations give the transpose of a contiguous
    M x N matrix, which the matrix products read as it is (reshaping them to a contiguous N x M
    copied every style layer each evaluation).
    """
    if features.dim() != 4 or features.shape[0] != 1:
        raise ValueError(f"expected activations of shape (1, N, H, W), got {tuple(features.shape)}")
    return features.to(dtype).flatten(2).squeeze(0)


class _SelfProduct(torch.autograd.Function):
    """F F^T in float32, with the gradient of a symmetric product: dL/dF = (dG + dG^T) F.

    Autograd's rule for ``F @ F.T`` takes two N x N x M products (one per operand); this takes
    one, and hands the gradient back in the layout of F (for channels_last activations, the
    transpose of a contiguous M x N matrix). With the view of :func:`feature_matrix` this made an
    evaluation about a tenth faster on the CPU (docs/quality.md, "Cost per evaluation").

    F may be bf16 (the activations as they are): G is then formed from a float32 copy that is not
    kept, and the backward product runs in bf16 (see :func:`gram_matrix`).
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, matrix: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(matrix)
        exact = matrix.float()
        return exact @ exact.T

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        (matrix,) = ctx.saved_tensors  # type: ignore[attr-defined]
        symmetric = (grad + grad.T).to(matrix.dtype)
        if matrix.stride(0) == 1 and matrix.shape[1] > 1:  # F is the transpose of a contiguous M x N (channels_last)
            return (matrix.T @ symmetric).T  # the gradient in the activations' own layout
        return symmetric @ matrix


def self_product(matrix: torch.Tensor) -> torch.Tensor:
    """``matrix @ matrix.T`` (N x M -> N x N, float32) with one matrix product in the backward pass, not two."""
    return _SelfProduct.apply(matrix)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """G = F F^T, the N x N Gram matrix of (1, N, H, W) activations (not normalised), in float32.

    For bf16 activations, G is exact (the products of bf16 entries are exact in float32, and sum
    there), but the gradient's product (dG + dG^T) F runs in bf16 with float32 accumulation: dG is
    rounded to bf16 (relative 2^-9) and the result, which autograd would round to the activations'
    bf16 anyway, comes out in bf16. That product is faster than in float32, and F is kept for it
    in bf16, not as a float32 copy. Forming G in bf16 as well would save as much again, but it
    rounds G to 8 significant bits, and the loss becomes a staircase once a step changes G by less
    than that: L-BFGS stopped making progress short of the float32 run's loss
    (docs/quality.md, "Cost per evaluation").
    """
    keep = torch.bfloat16 if features.dtype == torch.bfloat16 else torch.float32
    return self_product(feature_matrix(features, keep))


def masked_gram_matrix(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """G_m = F diag(m) F^T / sum(m): the mask-weighted mean of f_p f_p^T over positions p (N x N).

    `mask` is (1, 1, H, W) at the features' size with values in 0..1. For a mask of ones this is
    G / M, the Gram matrix per position; dividing by the mask's area makes regions of any size
    comparable with each other and with a painting's G / M.
    """
    matrix = feature_matrix(features)
    weights = mask.float().reshape(1, -1)
    return (matrix * weights) @ matrix.T / weights.sum().clamp_min(1e-8)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """TV(x) = sum_{c,i,j} (x[c,i+1,j] - x[c,i,j])^2 + sum_{c,i,j} (x[c,i,j+1] - x[c,i,j])^2.

    The squared differences of vertically and horizontally neighbouring pixels of a (1, 3, H, W)
    RGB image in 0..1, summed over channels and positions (like the content loss, it grows with
    the pixel count, so the balance of the two does not change with the output size).
    """
    image = image.float()
    vertical = (image[..., 1:, :] - image[..., :-1, :]).pow(2).sum()
    horizontal = (image[..., :, 1:] - image[..., :, :-1]).pow(2).sum()
    return vertical + horizontal


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_content = 1/2 * sum_ij (F_ij - P_ij)^2."""
    return 0.5 * (features.float() - target.float()).pow(2).sum()


def layer_style_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """E_l = 1 / (4 N^2 M^2) * sum_ij (G_ij - A_ij)^2, N filters and M positions of layer l."""
    filters = features.shape[1]
    positions = features.shape[2] * features.shape[3]
    difference = gram_matrix(features) - target_gram
    return difference.pow(2).sum() / (4.0 * filters**2 * positions**2)


def region_style_loss(features: torch.Tensor, mask: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The style loss of one region at one layer, comparable to the paper's E_l.

    E_l^r = a_r / M * 1 / (4 N^2) * sum_ij (G_m,ij - T_ij)^2, with G_m the masked Gram matrix,
    T the target Gram matrix per position (the painting's G / M_painting) and a_r / M the share
    of the image the region covers (sum of the mask over the number of positions). For a mask of
    ones this is exactly the paper's E_l; for a smaller region each pixel inside it feels the same
    style pressure as in an unmasked run.
    """
    filters = features.shape[1]
    positions = features.shape[2] * features.shape[3]
    share = mask.float().sum() / positions
    difference = masked_gram_matrix(features, mask) - target
    return share * difference.pow(2).sum() / (4.0 * filters**2)


# --- the Wasserstein-2 style loss -------------------------------------------------------------

#: Eigenvalues of C_t^{1/2} C C_t^{1/2} below this fraction of the largest are float32 rounding noise
#: and get the bounded linear branch of :func:`trace_sqrtm_psd` (measured at N = 512, product formed
#: in float32: tr(sqrtm) within 5e-4 relative of the all-float64 value for covariances of rank 512,
#: 64 and 8; a smaller threshold lets more noise through, 1e-8 gave 3e-3 at rank 8).
SQRT_RELATIVE_EPS = 1e-6
#: The threshold's floor, for an all-zero product (constant features): keeps 1/sqrt(eps) finite.
SQRT_ABSOLUTE_EPS = 1e-12
#: A painting's covariance eigenvalues at or below this fraction of the largest are dropped (float64
#: rounding of E[f f^T] - mu mu^T; sqrt(1e-10) = 1e-5 of the largest standard deviation).
COVARIANCE_RELATIVE_EPS = 1e-10


@contextlib.contextmanager
def _one_cpu_thread(tensor: torch.Tensor) -> Iterator[None]:
    """Run the enclosed eigendecomposition of a CPU tensor on one thread (PyTorch's thread count is
    restored after it; other devices are left alone).

    ``torch.linalg.eigh``'s threads wait for each other at every step of the reduction, so on a
    CPU whose cores are busy with other work several threads take orders of magnitude longer than
    one, while on an idle machine one thread costs at most about twice as much (the measurement:
    docs/benchmarks/README.md, "Measurements behind choices in the code"). The thread count is
    process-wide: other threads of the process run on one thread for those milliseconds too.
    """
    if tensor.device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class FeatureMoments:
    """The first two raw moments of a layer's features over positions: mu = E[f] (N,) and
    S = E[f f^T] (N x N), float64.

    Unlike covariance matrices, raw moments blend linearly: the moments of a mixture of paintings
    with weights w_k (summing to 1) are sum_k w_k mu_k and sum_k w_k S_k; the mixture's
    covariance is then S - mu mu^T (:meth:`covariance`). S is the Gram matrix per position G / M.
    """

    mean: torch.Tensor
    second: torch.Tensor

    @classmethod
    def of(cls, features: torch.Tensor) -> FeatureMoments:
        """mu = (1/M) sum_p f_p and S = (1/M) sum_p f_p f_p^T of (1, N, H, W) activations (M = H W)."""
        matrix = feature_matrix(features).double()
        return cls(mean=matrix.mean(dim=1), second=matrix @ matrix.T / matrix.shape[1])

    @classmethod
    def blend(cls, weights: Sequence[float], moments: Sequence[FeatureMoments]) -> FeatureMoments:
        """The mixture's moments: sum_k w_k mu_k and sum_k w_k S_k."""
        pairs = list(zip(weights, moments, strict=True))
        mean = torch.stack([weight * item.mean for weight, item in pairs]).sum(dim=0)
        second = torch.stack([weight * item.second for weight, item in pairs]).sum(dim=0)
        return cls(mean=mean, second=second)

    def covariance(self) -> torch.Tensor:
        """C = S - mu mu^T (float64: the subtraction cancels much of S when the mean is large)."""
        return self.second - torch.outer(self.mean, self.mean)


@dataclass(frozen=True)
class W2Target:
    """A painting's features at one layer as a Gaussian, ready for :func:`wasserstein2_squared`:
    the mean mu_t (N,), a factor R (N x r) of C_t^{1/2} and tr(C_t), float32.

    Built once per target by :meth:`from_moments`: an eigendecomposition C_t = V diag(l) V^T in
    float64 keeping the r eigenvalues above ``COVARIANCE_RELATIVE_EPS`` l_max (the rest is rounding
    noise: a painting with M_p positions has rank <= M_p - 1, e.g. 79 of 512 at conv5_1 for a
    128 px output), R = V_+ diag(sqrt l_+), so C_t^{1/2} = R V_+^T and
    C_t^{1/2} C C_t^{1/2} = V_+ (R^T C R) V_+^T, whose non-zero eigenvalues are those of the
    r x r matrix R^T C R (V_+ has orthonormal columns): the loss takes its eigenvalues, a smaller
    problem without the all-zero rows of filters dead on the painting (a matrix with 137 such rows
    is one PyTorch's float32 eigh failed on). tr(C_t) = sum l_+, so a Gaussian equal to the target
    has W2 = 0 up to rounding.
    """

    mean: torch.Tensor
    root_factor: torch.Tensor
    covariance_trace: torch.Tensor

    @classmethod
    def from_moments(cls, moments: FeatureMoments) -> W2Target:
        covariance = moments.covariance()
        with _one_cpu_thread(covariance):
            eigenvalues, eigenvectors = torch.linalg.eigh(0.5 * (covariance + covariance.T))
        kept = eigenvalues > COVARIANCE_RELATIVE_EPS * eigenvalues.max().clamp_min(0)
        values = eigenvalues[kept]
        factor = eigenvectors[:, kept] * values.sqrt()
        return cls(mean=moments.mean.float(), root_factor=factor.float(), covariance_trace=values.sum().float())


def feature_mean_covariance(
    features: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean mu (N,) and covariance C (N x N) of (1, N, H, W) activations over positions, float32.

    With position weights m_p (``mask``, (1, 1, H, W) at the features' size, values in 0..1;
    None: all 1): mu = sum_p m_p f_p / sum_p m_p and
    C = sum_p m_p (f_p - mu)(f_p - mu)^T / sum_p m_p (centred first: E[f f^T] - mu mu^T would
    cancel in float32 where the mean is large against the spread).
    """
    matrix = feature_matrix(features)
    if mask is None:
        mean = matrix.mean(dim=1)
        centred = matrix - mean[:, None]
        return mean, centred @ centred.T / matrix.shape[1]
    weights = mask.float().reshape(1, -1)
    total = weights.sum().clamp_min(1e-8)
    mean = (matrix * weights).sum(dim=1) / total
    centred = matrix - mean[:, None]
    return mean, (centred * weights) @ centred.T / total


def trace_sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    """tr(A^{1/2}) = sum_i sqrt(l_i) for a symmetric positive semi-definite A with eigenvalues l_i.

    Differentiable and finite everywhere: the gradient of sum_i g(l_i) is V diag(g'(l)) V^T (no
    eigenvalue gaps, so repeated eigenvalues are harmless), and g is sqrt above a threshold
    eps = max(1e-6 l_max, 1e-12) and the line l / sqrt(eps) below it (continuous at eps; zero for
    negative rounding noise), so g' <= 1 / sqrt(eps) where sqrt' would be infinite at 0.

    Eigenvalues rather than coupled Newton-Schulz iterations through autograd (crowsonkb's
    method): the iterations were several times slower forward + backward, and as accurate as the
    eigenvalues on a full-rank C only with 20 of them, slower still (the measurement:
    docs/benchmarks/README.md, "Measurements behind choices in the code"). The eigenvalues are
    computed in float64 for stability, not accuracy: PyTorch's float32 eigh failed to converge
    ("ill-conditioned or too many repeated eigenvalues") on a real conv5_1 product with 137
    all-zero rows; float64 succeeded. A itself is formed in float32; its rounding is what eps absorbs.
    """
    if matrix.shape[0] == 0:  # a painting without variance: nothing to match
        return matrix.sum()
    symmetric = 0.5 * (matrix + matrix.T)
    with _one_cpu_thread(symmetric):
        eigenvalues = torch.linalg.eigvalsh(symmetric.double()).to(matrix.dtype)
    eps = (eigenvalues.detach().max() * SQRT_RELATIVE_EPS).clamp_min(SQRT_ABSOLUTE_EPS)
    roots = torch.where(eigenvalues > eps, eigenvalues.clamp_min(eps).sqrt(), eigenvalues.clamp_min(0) / eps.sqrt())
    return roots.sum()


def wasserstein2_squared(mean: torch.Tensor, covariance: torch.Tensor, target: W2Target) -> torch.Tensor:
    """W2^2 between the Gaussians N(mu, C) and N(mu_t, C_t):

    W2^2 = |mu - mu_t|^2 + tr(C) + tr(C_t) - 2 tr((C_t^{1/2} C C_t^{1/2})^{1/2}).

    The trace of the square root is taken on R^T C R, which has the same non-zero eigenvalues as
    C_t^{1/2} C C_t^{1/2} (:class:`W2Target`).
    """
    mean_term = (mean - target.mean).pow(2).sum()
    product = target.root_factor.T @ covariance @ target.root_factor
    return mean_term + covariance.trace() + target.covariance_trace - 2.0 * trace_sqrtm_psd(product)


def layer_w2_loss(features: torch.Tensor, target: W2Target) -> torch.Tensor:
    """E_l^W2 = W2^2 / N: the squared Wasserstein-2 distance between the Gaussians of the iterate's
    and the painting's features at layer l (N filters), per filter, as crowsonkb's mean over channels.

    W2^2 has the units of a covariance (activation^2), the Gram loss E_l those of its square, so
    their sizes differ (first evaluation, from the photo: L_style 118 with W2, 13518 with Gram),
    yet at the end of a run the two balance alike. Measured with the defaults (vgg16-hed, alpha 1, beta 1e4,
    L-BFGS, tubingen x starry night, 128 px, 200 evaluations, CPU bf16), share of beta * L_style in
    the final total: Gram 0.24 (L_content 1.56e5, L_style 5.00), W2 0.58 (L_content 5.38e4,
    L_style 7.56): the same order, so the default beta serves both.
    """
    mean, covariance = feature_mean_covariance(features)
    return wasserstein2_squared(mean, covariance, target) / features.shape[1]


def region_w2_loss(features: torch.Tensor, mask: torch.Tensor, target: W2Target) -> torch.Tensor:
    """The W2 style loss of one region at one layer: E_l^r = a_r / M * W2^2(mu_m, C_m; target) / N.

    mu_m and C_m are the iterate's mask-weighted mean and covariance
    (:func:`feature_mean_covariance`) and a_r / M the region's share of the image, as in
    :func:`region_style_loss`: for a mask of ones this is :func:`layer_w2_loss`.
    """
    positions = features.shape[2] * features.shape[3]
    share = mask.float().sum() / positions
    mean, covariance = feature_mean_covariance(features, mask)
    return share * wasserstein2_squared(mean, covariance, target) / features.shape[1]


RegionTarget = TypeVar("RegionTarget")  # a Gram matrix per position, or a W2Target


@dataclass(frozen=True)
class StyleRegion(Generic[RegionTarget]):
    """One style's targets inside one region: per style layer the mask at that layer's size and the
    target Gram matrix per position (or the painting's :class:`W2Target`); ``weight`` multiplies the
    region's loss (:class:`painterly.terms.style.StyleTerm`)."""

    masks: dict[str, torch.Tensor]
    targets: Mapping[str, RegionTarget]
    weight: float = 1.0
