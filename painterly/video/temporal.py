"""The short-term temporal loss of a video frame (Ruder, Dosovitskiy and Brox 2016, eq. 7):

    L_temporal(x, w, c) = (1/D) sum_k c_k (x_k - w_k)^2

over the D = 3 H W pixel values of the frame x being optimised, with w the previous stylised
frame warped onto this one by the optical flow and c the reliability mask (1 where the flow is
trusted, 0 at disocclusions and motion boundaries; :func:`painterly.video.flow.reliable`). It
pulls every pixel that the previous frame determines towards its stylised value there, and leaves
newly visible ones free, so strokes follow the motion instead of being repainted: flicker goes.

It enters the frame's objective with the weight ``--temporal-weight`` times the first frame's
final objective (so the weight means the same on every network; see
:func:`painterly.video.command.reference_loss`), at every scale's size (``w`` and ``c``
resized), as the term "temporal" (:class:`TemporalTerm`) that :func:`temporal_term` hands
:func:`painterly.api.stylize_with` as its ``extra_loss``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from painterly.api import ExtraLoss
from painterly.image import resize
from painterly.margin import Canvas


def temporal_loss(x: torch.Tensor, warped: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(1/D) sum_k c_k (x_k - w_k)^2 with images (1, 3, H, W) and the mask (1, 1, H, W)."""
    return (mask * (x - warped) ** 2).sum() / x.numel()


@dataclass(frozen=True)
class TemporalTerm:
    """L_temporal = (1/D) sum_k c_k (x_k - w_k)^2 of the picture (the canvas without its margin), with
    the warped previous frame ``warped`` and the reliability ``mask`` at the picture's size (CPU or
    the image's device: moved once, on first use)."""

    warped: torch.Tensor
    mask: torch.Tensor
    canvas: Canvas
    weight: float
    name: str = "temporal"
    moved: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = field(
        default_factory=dict, repr=False, compare=False
    )  # warped and mask on each device the image came on

    @classmethod
    def at(cls, warped: torch.Tensor, mask: torch.Tensor, canvas: Canvas, weight: float) -> TemporalTerm:
        """The term at a scale's canvas: ``warped`` and ``mask`` resized to its picture (area-averaged mask)."""
        size = canvas.inner
        target = resize(warped.float().cpu(), size)
        if tuple(mask.shape[-2:]) == tuple(size):
            weights = mask.float().cpu()
        else:
            weights = torch.nn.functional.interpolate(mask.float().cpu(), size=size, mode="area")
        return cls(target, weights, canvas, weight)

    def __call__(self, features: Mapping[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        picture = self.canvas.crop(image).float()
        if picture.device not in self.moved:  # once per device
            self.moved[picture.device] = (self.warped.to(picture.device), self.mask.to(picture.device))
        warped, mask = self.moved[picture.device]
        return temporal_loss(picture, warped, mask)


def temporal_term(warped: torch.Tensor, mask: torch.Tensor, weight: float) -> ExtraLoss:
    """The extra term of one frame: for each scale's canvas, :class:`TemporalTerm` with ``weight``
    against ``warped`` and ``mask`` resized to that scale's picture."""

    def at(canvas: Canvas) -> TemporalTerm:
        return TemporalTerm.at(warped, mask, canvas, weight)

    return at
