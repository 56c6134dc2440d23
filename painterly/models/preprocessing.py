"""Input conventions bound to a set of weights.

painterly always optimises an RGB image with values in 0..1 (one fixed parametrisation, so a
learning rate means the same thing for every network). Each weight source says how such an
image must be transformed before its first convolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Preprocessing:
    """How an RGB 0..1 image becomes the network's input: reorder, scale, subtract mean, divide by std."""

    name: str
    channel_order: str  # "RGB" or "BGR"
    scale: float  # multiply 0..1 values by this first
    mean: tuple[float, float, float]  # in the network's channel order and scale
    std: tuple[float, float, float]

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """Map a (N, 3, H, W) RGB image in 0..1 to network input."""
        if self.channel_order == "BGR":
            image = image.flip(1)
        mean = torch.tensor(self.mean, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
        return (image * self.scale - mean) / std


CAFFE = Preprocessing(
    name="caffe",
    channel_order="BGR",
    scale=255.0,
    mean=(103.939, 116.779, 123.68),
    std=(1.0, 1.0, 1.0),
)

TORCHVISION = Preprocessing(
    name="torchvision",
    channel_order="RGB",
    scale=1.0,
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
)

PREPROCESSINGS: dict[str, Preprocessing] = {p.name: p for p in (CAFFE, TORCHVISION)}
