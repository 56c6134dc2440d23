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

    With a jitter (:mod:`painterly.jitter`) the network sees a shifted view of the image, and P^l is
    the photo in the same view: ``targets[layer]`` holds one map per view (stacked on the first
    axis) and ``view`` is the current view's index.
    """

    targets: Mapping[str, torch.Tensor]
    weight: float = 1.0  # alpha
    name: str = "content"
    view: torch.Tensor | None = None

    @classmethod
    def build(cls, context: TermContext) -> ContentTerm:
        """P^l: the photo's activations on the canvas at each content layer (in each view), in float32."""
        weights = context.weights
        if context.jitter is None:
            targets = {layer: context.photo_features[layer].float() for layer in weights.content_layers}
            return cls(targets, weights.weight("content"))
        views = [context.photo_features, *context.view_features]
        stacked = {layer: torch.cat([view[layer].float() for view in views]) for layer in weights.content_layers}
        return cls(stacked, weights.weight("content"), view=context.jitter.index)

    def __call__(self, features: Mapping[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        start = torch.zeros((), device=image.device)
        total = sum((content_loss(features[layer], self.target(layer)) for layer in self.targets), start=start)
        return total / max(len(self.targets), 1)

    def target(self, layer: str) -> torch.Tensor:
        """P^l of the current view."""
        if self.view is None:
            return self.targets[layer]
        return self.targets[layer].index_select(0, self.view.reshape(1))
