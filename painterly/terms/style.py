"""The style term: the paper's Gram loss (:class:`GramStyleTerm`) or the Wasserstein-2 loss
(:class:`W2StyleTerm`), over the paintings blended or one painting per masked region.

Both are

    L_style = sum_l w_l E_l                                  (no masks)
    L_style = sum_r weight_r sum_l w_l E_l^r                 (style masks: one region per painting)

and differ only in what describes a painting at a layer (its *statistic*), what the image is
compared with (its *target*) and the layer's loss E_l; the ``style_loss`` option picks the class
(:data:`STYLE_TERMS`). How the statistics of several paintings blend and why they are taken per
position: :mod:`painterly.styles`.

- Gram: statistic G / M (:func:`~painterly.styles.gram_per_position`), blended as sum_k w_k G_k / M_k;
  target A = (blended G / M) * M_output; E_l = 1 / (4 N^2 M^2) sum_ij (G_ij - A_ij)^2
  (:func:`~painterly.losses.layer_style_loss`), per region :func:`~painterly.losses.region_style_loss`.
- W2: statistic the raw moments mu, E[f f^T] (:class:`~painterly.losses.FeatureMoments`), blended
  linearly; target the blend's Gaussian (:class:`~painterly.losses.W2Target`);
  E_l = W2^2 / N (:func:`~painterly.losses.layer_w2_loss`), per region
  :func:`~painterly.losses.region_w2_loss`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar, Generic, TypeVar

import torch

from painterly.image import fit_long_side, image_size, resize
from painterly.losses import (
    FeatureMoments,
    StyleRegion,
    W2Target,
    layer_style_loss,
    layer_w2_loss,
    region_style_loss,
    region_w2_loss,
)
from painterly.margin import crop_margin
from painterly.masks import feature_mask
from painterly.options import MIN_SIDE
from painterly.styles import gram_per_position
from painterly.terms.base import TermContext

Statistic = TypeVar("Statistic")  # what describes a painting at one layer
Target = TypeVar("Target")  # what the image's activations at one layer are compared with


def painting_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """A painting's size for a style long side of ``long_side``, never narrower than the network can see.

    Four 2x2 poolings come before conv5_1, so a side under 16 px has no activations there: a very
    wide painting (or a tiny ``style_scale``) is enlarged until its short side is 16 px.
    """
    scaled = fit_long_side(height, width, long_side)
    short = min(scaled)
    if short >= MIN_SIDE:
        return scaled
    factor = MIN_SIDE / min(height, width)
    return max(MIN_SIDE, math.ceil(height * factor)), max(MIN_SIDE, math.ceil(width * factor))


@dataclass(frozen=True)
class StyleTerm(ABC, Generic[Statistic, Target]):
    """L_style = sum_l w_l E_l(crop(F^l), T^l) + sum_r weight_r sum_l w_l E_l^r(F^l, m_r^l, T_r^l).

    ``layer_weights`` are the w_l; ``targets`` the unmasked T^l, whose activations lose ``margins[l]``
    cells on every side first (the margin around the picture, :mod:`painterly.margin`); ``regions``
    the masked styles (:class:`~painterly.losses.StyleRegion`). One of the two is empty.
    """

    layer_weights: Mapping[str, float]
    targets: Mapping[str, Target] = field(default_factory=dict)
    regions: tuple[StyleRegion[Target], ...] = ()
    margins: Mapping[str, int] = field(default_factory=dict)
    weight: float = 1.0  # beta
    name: str = "style"
    #: The value of the ``style_loss`` option that picks this class.
    option: ClassVar[str]

    # --- what a subclass defines ----------------------------------------------------------------

    @staticmethod
    @abstractmethod
    def layer_loss(features: torch.Tensor, target: Target) -> torch.Tensor:
        """E_l of (1, N, H, W) activations against a target."""

    @staticmethod
    @abstractmethod
    def region_loss(features: torch.Tensor, mask: torch.Tensor, target: Target) -> torch.Tensor:
        """E_l^r inside a (1, 1, H, W) mask; a mask of ones gives E_l."""

    @staticmethod
    @abstractmethod
    def statistic(features: torch.Tensor) -> Statistic:
        """A painting's (1, N, H, W) activations at one layer as the loss compares them, per position."""

    @staticmethod
    @abstractmethod
    def blend(weights: Sequence[float], statistics: Sequence[Statistic]) -> Statistic:
        """The statistic of the paintings blended with ``weights``."""

    @staticmethod
    @abstractmethod
    def target(statistic: Statistic, positions: int) -> Target:
        """The unmasked target at a layer of ``positions`` positions."""

    @staticmethod
    @abstractmethod
    def region_target(statistic: Statistic) -> Target:
        """A region's target (per position: the region loss weighs it by the region's area)."""

    # --- the loss --------------------------------------------------------------------------------

    def __call__(self, features: Mapping[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        style = sum(
            (
                self.layer_weights[layer] * self.layer_loss(self._cropped(features, layer), target)
                for layer, target in self.targets.items()
            ),
            start=torch.zeros((), device=image.device),
        )
        for region in self.regions:
            for layer, region_target in region.targets.items():
                weight = region.weight * self.layer_weights[layer]
                style = style + weight * self.region_loss(features[layer], region.masks[layer], region_target)
        return style

    def _cropped(self, features: Mapping[str, torch.Tensor], layer: str) -> torch.Tensor:
        """The layer's activations without the margin's cells (none without a margin)."""
        return crop_margin(features[layer], self.margins.get(layer, 0))

    # --- building the targets --------------------------------------------------------------------

    @classmethod
    def build(cls, context: TermContext) -> StyleTerm[Statistic, Target]:
        """The targets at the context's size: each painting scaled to ``style_scale`` times the picture's
        long side (never stretched), described by :meth:`statistic` at each style layer, then blended
        (no masks) or one per region (style masks).

        With a margin the style loss sees the picture only: without masks each style layer's
        activations are cropped (cheaper than a masked statistic), with masks the regions end at the
        picture and each region's loss is the picture's own, not diluted by the margin.
        """
        weights, canvas, masks = context.weights, context.canvas, context.masks
        names = list(weights.style_layer_weights)
        long_side = max(MIN_SIDE // 2, round(weights.style_scale * max(canvas.inner)))
        statistics = []
        for painting in context.paintings:
            shape = painting_size(*image_size(painting), long_side)
            features = context.network(resize(painting, shape).to(context.network.runtime.device))
            statistics.append({name: cls.statistic(features[name]) for name in names})
            del features
        photo = context.photo_features
        cropped = canvas.margin > 0 and not masks.active
        margins = {name: canvas.feature_margin(photo[name]) for name in names} if cropped else {}
        seen = {**photo, **{name: crop_margin(photo[name], cells) for name, cells in margins.items()}}
        regions = masks.style_regions(canvas.size)
        if canvas.margin > 0 and regions is not None:
            regions = [region * canvas.inside() for region in regions]
        targets, built = cls.targets_of(statistics, weights.blend, seen, regions, names)
        if canvas.margin > 0 and not cropped:
            built = tuple(replace(region, weight=region.weight / canvas.share) for region in built)
        return cls(weights.style_layer_weights, targets, built, margins, weights.weight("style"))

    @classmethod
    def targets_of(
        cls,
        statistics: Sequence[Mapping[str, Statistic]],
        weights: Sequence[float],
        photo_features: Mapping[str, torch.Tensor],
        regions: Sequence[torch.Tensor] | None,
        names: Sequence[str],
    ) -> tuple[dict[str, Target], tuple[StyleRegion[Target], ...]]:
        """(unmasked targets, masked regions) at one size: one of the two is empty.

        ``statistics[k][layer]`` is painting k's :meth:`statistic`; ``photo_features`` gives each
        layer's size at the output's size; ``regions`` are the effective style masks at the output's
        size (None: no masks). Zero-weight regions are left out; a content mask alone (one region,
        several paintings) styles the outside with the blend.
        """
        if regions is None:
            targets: dict[str, Target] = {}
            for name in names:
                positions = photo_features[name].shape[2] * photo_features[name].shape[3]
                targets[name] = cls.target(cls.blend(weights, [each[name] for each in statistics]), positions)
            return targets, ()
        if len(regions) == 1 and len(statistics) > 1:
            statistics = [{name: cls.blend(weights, [each[name] for each in statistics]) for name in names}]
            weights = [1.0]
        built: list[StyleRegion[Target]] = []
        for statistic, weight, region in zip(statistics, weights, regions, strict=True):
            if weight == 0:
                continue
            masks = {name: feature_mask(region, photo_features[name]) for name in names}
            region_targets = {name: cls.region_target(statistic[name]) for name in names}
            built.append(StyleRegion(masks=masks, targets=region_targets, weight=weight))
        return {}, tuple(built)


@dataclass(frozen=True)
class GramStyleTerm(StyleTerm[torch.Tensor, torch.Tensor]):
    """The paper's style loss: E_l = 1 / (4 N^2 M^2) sum_ij (G_ij - A_ij)^2 with G = F F^T."""

    option: ClassVar[str] = "gram"

    @staticmethod
    def layer_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return layer_style_loss(features, target)

    @staticmethod
    def region_loss(features: torch.Tensor, mask: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return region_style_loss(features, mask, target)

    @staticmethod
    def statistic(features: torch.Tensor) -> torch.Tensor:
        return gram_per_position(features)

    @staticmethod
    def blend(weights: Sequence[float], statistics: Sequence[torch.Tensor]) -> torch.Tensor:
        """A = sum_k w_k A_k (Gram matrices per position)."""
        grams = [weight * gram for weight, gram in zip(weights, statistics, strict=True)]
        return torch.stack(grams).sum(dim=0) if len(grams) > 1 else grams[0]

    @staticmethod
    def target(statistic: torch.Tensor, positions: int) -> torch.Tensor:
        """A = (G / M)_blend * M_output: the Gram matrix a painting at the output's size would have."""
        return statistic * positions

    @staticmethod
    def region_target(statistic: torch.Tensor) -> torch.Tensor:
        return statistic


@dataclass(frozen=True)
class W2StyleTerm(StyleTerm[FeatureMoments, W2Target]):
    """The Wasserstein-2 style loss: E_l = W2^2(N(mu, C), N(mu_t, C_t)) / N (:func:`painterly.losses.layer_w2_loss`)."""

    option: ClassVar[str] = "w2"

    @staticmethod
    def layer_loss(features: torch.Tensor, target: W2Target) -> torch.Tensor:
        return layer_w2_loss(features, target)

    @staticmethod
    def region_loss(features: torch.Tensor, mask: torch.Tensor, target: W2Target) -> torch.Tensor:
        return region_w2_loss(features, mask, target)

    @staticmethod
    def statistic(features: torch.Tensor) -> FeatureMoments:
        return FeatureMoments.of(features)

    @staticmethod
    def blend(weights: Sequence[float], statistics: Sequence[FeatureMoments]) -> FeatureMoments:
        """mu = sum_k w_k mu_k and E[f f^T] = sum_k w_k E_k[f f^T]: the moments of the mixture."""
        return FeatureMoments.blend(weights, statistics)

    @staticmethod
    def target(statistic: FeatureMoments, positions: int) -> W2Target:
        return W2Target.from_moments(statistic)

    @staticmethod
    def region_target(statistic: FeatureMoments) -> W2Target:
        return W2Target.from_moments(statistic)


#: The style term of each value of the ``style_loss`` option.
STYLE_TERMS: dict[str, type[StyleTerm]] = {term.option: term for term in (GramStyleTerm, W2StyleTerm)}


def build_style_term(context: TermContext) -> StyleTerm:
    """The style term the ``style_loss`` option picks, built from the context."""
    return STYLE_TERMS[context.weights.style_loss].build(context)
