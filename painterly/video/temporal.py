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
resized), through :func:`painterly.api.stylize_with`'s ``extra_loss``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from painterly.api import ExtraLoss
from painterly.image import resize


def temporal_loss(x: torch.Tensor, warped: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(1/D) sum_k c_k (x_k - w_k)^2 with images (1, 3, H, W) and the mask (1, 1, H, W)."""
    return (mask * (x - warped) ** 2).sum() / x.numel()


def temporal_term(warped: torch.Tensor, mask: torch.Tensor, weight: float) -> ExtraLoss:
    """The extra loss of one frame: for each scale's (height, width), ``weight`` times
    :func:`temporal_loss` against ``warped`` and ``mask`` resized to that size."""

    def at(size: tuple[int, int]) -> Callable[[torch.Tensor], torch.Tensor]:
        target = resize(warped.float().cpu(), size)
        if tuple(mask.shape[-2:]) == tuple(size):
            weights = mask.float().cpu()
        else:
            weights = torch.nn.functional.interpolate(mask.float().cpu(), size=size, mode="area")
        moved: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

        def loss(image: torch.Tensor) -> torch.Tensor:
            if image.device not in moved:
                moved[image.device] = (target.to(image.device), weights.to(image.device))
            w, c = moved[image.device]
            return weight * temporal_loss(image.float(), w, c)

        return loss

    return at
