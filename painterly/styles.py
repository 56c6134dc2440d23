"""One or several paintings: loading them, their weights, and how they are compared per position.

Gram matrices are compared per position (G / M): a painting rendered at another size or aspect
ratio than the output has another number of positions M, so its raw Gram matrix would ask the
output for larger or smaller activations. Dividing by M, and multiplying back by the output's M
for the paper's unmasked loss, keeps only what describes the style.

- Without masks the paintings' per-position Gram matrices are blended: A = sum_k w_k A_k, the
  weights normalised to sum to 1.
- With style masks each painting has its own region (a :class:`~painterly.losses.StyleRegion`),
  the weights scale each region's loss, normalised to average 1 (equal weights: every region is
  stylised at full strength).

With ``--style-loss w2`` a painting is described at each layer by the mean and second raw moment
of its features (:class:`~painterly.losses.FeatureMoments`, already per position) instead of its
Gram matrix: several paintings blend their moments with the same weights (mu = sum_k w_k mu_k,
E[f f^T] = sum_k w_k E_k[f f^T], then C = E[f f^T] - mu mu^T: the Gaussian of the mixture of their
features), and each target becomes a :class:`~painterly.losses.W2Target`.

The targets themselves are built by the style terms (:mod:`painterly.terms.style`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from painterly.errors import PainterlyError
from painterly.image import ImageSource, load_image
from painterly.losses import gram_matrix


def style_sources(style: ImageSource | Sequence[ImageSource]) -> list[ImageSource]:
    """`style` as a list: one path / PIL image / tensor, or a list or tuple of them."""
    if isinstance(style, list | tuple):
        if not style:
            raise PainterlyError("no style image given; pass at least one painting")
        return list(style)
    return [style]  # type: ignore[list-item]  # a str is a Sequence too, but one path here


def load_styles(style: ImageSource | Sequence[ImageSource]) -> list[torch.Tensor]:
    sources = style_sources(style)
    if len(sources) == 1:
        return [load_image(sources[0], role="style image")]
    return [load_image(source, role=f"style image {index}") for index, source in enumerate(sources, start=1)]


def style_blend_weights(given: Sequence[float] | None, count: int, *, masked: bool) -> list[float]:
    """Check the weights of `count` styles and normalise them (sum 1, or mean 1 with masks)."""
    if given is None:
        return [1.0] * count if masked else [1.0 / count] * count
    weights = [given] if isinstance(given, int | float) else list(given)
    if len(weights) != count:
        raise PainterlyError(f"{len(weights)} style weight(s) for {count} style image(s); give one weight per style")
    for weight in weights:
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
            raise PainterlyError(f"style weights must be finite and non-negative; got {weight!r}")
    total = float(sum(weights))
    if total <= 0:
        raise PainterlyError("the style weights are all 0; give at least one a positive weight")
    scale = count if masked else 1
    return [scale * float(weight) / total for weight in weights]


def gram_per_position(features: torch.Tensor) -> torch.Tensor:
    """G / M for (1, N, H, W) activations: the Gram matrix divided by the number of positions."""
    return gram_matrix(features) / (features.shape[2] * features.shape[3])
