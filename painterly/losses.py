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


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_content = 1/2 * sum_ij (F_ij - P_ij)^2."""
    return 0.5 * (features.float() - target.float()).pow(2).sum()


def layer_style_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """E_l = 1 / (4 N^2 M^2) * sum_ij (G_ij - A_ij)^2, N filters and M positions of layer l."""
    filters = features.shape[1]
    positions = features.shape[2] * features.shape[3]
    difference = gram_matrix(features) - target_gram
    return difference.pow(2).sum() / (4.0 * filters**2 * positions**2)


@dataclass(frozen=True)
class LossTerms:
    """One evaluation of the objective: total = alpha * content + beta * style."""

    content: torch.Tensor
    style: torch.Tensor
    total: torch.Tensor


@dataclass
class StyleObjective:
    """Targets and weights of the total loss at one image size.

    ``content_targets`` maps canonical layer name to P (the photo's activations) and
    ``style_targets`` to A (the painting's Gram matrix). Content layers are averaged (equal
    weights summing to 1, which is the paper's single conv4_2 when only one is given); style
    layers carry the weights w_l.
    """

    content_targets: dict[str, torch.Tensor]
    style_targets: dict[str, torch.Tensor]
    style_layer_weights: dict[str, float]
    content_weight: float
    style_weight: float

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
        total = self.content_weight * content + self.style_weight * style
        return LossTerms(content=content, style=style, total=total)


def _device_of(features: Mapping[str, torch.Tensor]) -> torch.device:
    return next(iter(features.values())).device
