"""The losses of Gatys, Ecker and Bethge, exactly as in the paper.

All arithmetic here runs in float32 whatever precision the network ran in: features computed
under bf16 autocast are upcast before the Gram matrix and the sums.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch


def feature_matrix(features: torch.Tensor) -> torch.Tensor:
    """(1, N, H, W) activations -> the paper's N x M matrix F (filters x positions), float32."""
    if features.dim() != 4 or features.shape[0] != 1:
        raise ValueError(f"expected activations of shape (1, N, H, W), got {tuple(features.shape)}")
    return features.float().reshape(features.shape[1], -1)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """G = F F^T, the N x N Gram matrix of (1, N, H, W) activations (not normalised)."""
    matrix = feature_matrix(features)
    return matrix @ matrix.T


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


@dataclass(frozen=True)
class StyleRegion:
    """One style's targets inside one region: per style layer the mask at that layer's size and the
    target Gram matrix per position; ``weight`` multiplies the region's loss."""

    masks: dict[str, torch.Tensor]
    targets: dict[str, torch.Tensor]
    weight: float = 1.0


@dataclass(frozen=True)
class LossTerms:
    """One evaluation of the objective: total = alpha * content + beta * style (+ tv_weight * tv).

    ``tv`` is the total variation term when the objective has one (see
    :class:`painterly.objective.Objective`), else None; ``total`` always includes it.
    """

    content: torch.Tensor
    style: torch.Tensor
    total: torch.Tensor
    tv: torch.Tensor | None = None


@dataclass
class StyleObjective:
    """Targets and weights of the total loss at one image size.

    ``content_targets`` maps canonical layer name to P (the photo's activations) and
    ``style_targets`` to A (the painting's Gram matrix). Content layers are averaged (equal
    weights summing to 1, which is the paper's single conv4_2 when only one is given); style
    layers carry the weights w_l. ``style_regions`` (masked styles) add
    sum_r weight_r * w_l * E_l^r (:func:`region_style_loss`) to the style loss.
    """

    content_targets: dict[str, torch.Tensor]
    style_targets: dict[str, torch.Tensor]
    style_layer_weights: dict[str, float]
    content_weight: float
    style_weight: float
    style_regions: tuple[StyleRegion, ...] = ()

    def __call__(self, features: Mapping[str, torch.Tensor]) -> LossTerms:
        content = sum(
            (content_loss(features[layer], target) for layer, target in self.content_targets.items()),
            start=torch.zeros((), device=_device_of(features)),
        ) / max(len(self.content_targets), 1)
        style = sum(
            (
                self.style_layer_weights[layer] * layer_style_loss(features[layer], target)
                for layer, target in self.style_targets.items()
            ),
            start=torch.zeros((), device=_device_of(features)),
        )
        for region in self.style_regions:
            for layer, target in region.targets.items():
                weight = region.weight * self.style_layer_weights[layer]
                style = style + weight * region_style_loss(features[layer], region.masks[layer], target)
        total = self.content_weight * content + self.style_weight * style
        return LossTerms(content=content, style=style, total=total)


def _device_of(features: Mapping[str, torch.Tensor]) -> torch.device:
    return next(iter(features.values())).device
