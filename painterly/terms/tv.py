"""The total variation term: a smoothness prior on the pixels (off unless ``--tv-weight`` is set)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from painterly.losses import total_variation
from painterly.terms.base import TermContext


@dataclass(frozen=True)
class TVTerm:
    """TV(x) = sum (x[c,i+1,j] - x[c,i,j])^2 + sum (x[c,i,j+1] - x[c,i,j])^2 of the image the network
    sees (:func:`painterly.losses.total_variation`), margin included."""

    weight: float
    name: str = "tv"

    @classmethod
    def build(cls, context: TermContext) -> TVTerm | None:
        """The term with the ``tv_weight`` option's weight; None (no term) when it is 0."""
        weight = context.weights.weight("tv")
        return cls(weight) if weight else None

    def __call__(self, features: Mapping[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        return total_variation(image)
