"""The content term of Gatys et al.: how far the image's activations are from the photo's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from painterly.losses import content_loss
from painterly.terms.base import TermContext


@dataclass(frozen=True)
class ContentTerm:
    """L_content = (1 / |C|) sum_{l in C} 1/2 sum_ij (F^l_ij - P^l_ij)^2 over the content layers C.

    P^l are the photo's activations (``targets``, by layer). The layers are averaged (equal weights
    summing to 1: the paper's single conv4_2 when only one is given); no layers give 0.
    """

    targets: Mapping[str, torch.Tensor]
    weight: float = 1.0  # alpha
    name: str = "content"

    @classmethod
    def build(cls, context: TermContext) -> ContentTerm:
        """P^l: the photo's activations on the canvas at each content layer, in float32."""
        weights = context.weights
        targets = {layer: context.photo_features[layer].float() for layer in weights.content_layers}
        return cls(targets, weights.weight("content"))

    def __call__(self, features: Mapping[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        start = torch.zeros((), device=image.device)
        total = sum((content_loss(features[layer], target) for layer, target in self.targets.items()), start=start)
        return total / max(len(self.targets), 1)
