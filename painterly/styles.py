"""One or several paintings: loading them, their weights, and their Gram targets at one size.

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
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import torch

from painterly.errors import PainterlyError
from painterly.image import ImageSource, load_image
from painterly.losses import FeatureMoments, StyleRegion, StyleTarget, W2Target, gram_matrix
from painterly.masks import feature_mask


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


#: What describes a painting at one layer: its Gram matrix per position, or its feature moments (W2).
PaintingStatistic = torch.Tensor | FeatureMoments


def painting_statistic(features: torch.Tensor, style_loss: Literal["gram", "w2"] = "gram") -> PaintingStatistic:
    """A painting's (1, N, H, W) activations as the style loss compares them: G / M for ``gram``
    (:func:`gram_per_position`), mu and E[f f^T] for ``w2`` (:class:`~painterly.losses.FeatureMoments`)."""
    if style_loss == "w2":
        return FeatureMoments.of(features)
    return gram_per_position(features)


def style_targets(
    painting_statistics: Sequence[Mapping[str, PaintingStatistic]],
    weights: Sequence[float],
    photo_features: Mapping[str, torch.Tensor],
    regions: Sequence[torch.Tensor] | None,
    style_names: Sequence[str],
) -> tuple[dict[str, StyleTarget], tuple[StyleRegion, ...]]:
    """The style targets of a :class:`~painterly.losses.StyleObjective` at one image size.

    `painting_statistics[k][layer]` is painting k's Gram matrix per position, or its feature
    moments for the W2 loss (:func:`painting_statistic`); `photo_features` gives each layer's size
    at the output's size; `regions` are the effective style masks at the output's size (None: no
    masks). Returns (unmasked targets, masked regions): one of the two is empty. A Gram target is
    A = (blended G / M) * M_output; a W2 target is the Gaussian of the blended moments.
    """
    if regions is None:
        targets: dict[str, StyleTarget] = {}
        for name in style_names:
            blended = _blend(painting_statistics, weights, name)
            if isinstance(blended, FeatureMoments):
                targets[name] = W2Target.from_moments(blended)
                continue
            features = photo_features[name]
            targets[name] = blended * (features.shape[2] * features.shape[3])
        return targets, ()
    if len(regions) == 1 and len(painting_statistics) > 1:  # a content mask only: the blend, outside it
        blended_all = {name: _blend(painting_statistics, weights, name) for name in style_names}
        painting_statistics, weights = [blended_all], [1.0]
    built = []
    for statistics, weight, region in zip(painting_statistics, weights, regions, strict=True):
        if weight == 0:
            continue
        masks = {name: feature_mask(region, photo_features[name]) for name in style_names}
        targets_here = {name: _region_target(statistics[name]) for name in style_names}
        built.append(StyleRegion(masks=masks, targets=targets_here, weight=weight))
    return {}, tuple(built)


def _region_target(statistic: PaintingStatistic) -> StyleTarget:
    """A region's target: the Gram matrix per position as it is, or the Gaussian of the moments."""
    return W2Target.from_moments(statistic) if isinstance(statistic, FeatureMoments) else statistic


def _blend(
    painting_statistics: Sequence[Mapping[str, PaintingStatistic]], weights: Sequence[float], name: str
) -> PaintingStatistic:
    """sum_k w_k A_k at one layer (Gram matrices per position), or the blended moments (W2)."""
    items = [statistics[name] for statistics in painting_statistics]
    moments = [item for item in items if isinstance(item, FeatureMoments)]
    if moments:
        return FeatureMoments.blend(weights, moments)
    grams = [weight * item for weight, item in zip(weights, items, strict=True) if isinstance(item, torch.Tensor)]
    return torch.stack(grams).sum(dim=0) if len(grams) > 1 else grams[0]
