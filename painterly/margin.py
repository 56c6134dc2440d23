"""A margin optimised around the picture and cropped at the end: the cure for the frayed frame.

The convolutions pad with zeros, so every first-layer filter answers to the picture's edge, and
that outer ring of activations is a large share of the Gram matrices (at 256 px about 2 % of the
relu1_1 positions, with three times the inside's activations: one picture scored a relu1_1 style
loss of 293 alone and 4.6 inside a mirrored margin of itself). Matching the painting's Gram
matrices, the optimiser paints the edge to make up for it, and near the edge a pixel is seen by
fewer windows, so the content loss holds it less: a frayed frame, which padding the convolutions
by reflection or replication does not remove (docs/quality.md: 1.44 with zeros, 1.52 reflect,
1.69 replicate). With a margin, the optimised canvas is the picture plus ``m`` pixels on every
side, started from the photo mirrored at its edges; the padding-facing, weakly held pixels are
the margin's, and the crop throws them away. An 8 px margin at 512 px removed the frame on
Tübingen x The Starry Night (worst side 1.38 -> 1.11) but not on every shared pair, and costs
a little more per evaluation than no margin, for the larger canvas (docs/quality.md, "Cost per
evaluation").

The style loss counts the picture only: counted over the whole canvas, the optimiser put the
painting's statistics into the margin and left the picture near the photo (measured at 128 px
with an 8 px margin, a quarter of the canvas: style loss 25 over the canvas, 573 for the picture
alone). Each style layer's activations are cropped by the margin in that layer's cells
(:meth:`Canvas.feature_margin`); with style masks the regions end at the picture instead
(:meth:`Canvas.inside`), a masked Gram matrix per layer, which is slower than the crop.
The content loss counts the whole canvas, the margin against the mirrored photo, so the margin
stays a plausible continuation. The losses a run reports are the canvas's.

At each scale the margin is ``m`` scaled like the picture (at least one pixel), so that every
scale shows the network the same framing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from painterly.image import image_size


def pad_image(image: torch.Tensor, margin: int, *, mode: str = "reflect") -> torch.Tensor:
    """A (1, C, H, W) image with ``margin`` pixels added on every side by ``mode`` (reflect, replicate).

    Reflection needs a side longer than the margin: a narrower image is replicated instead.
    """
    if margin <= 0:
        return image
    if mode == "reflect" and min(image_size(image)) <= margin:
        mode = "replicate"
    return F.pad(image, (margin, margin, margin, margin), mode=mode)


def crop_margin(image: torch.Tensor, margin: int) -> torch.Tensor:
    """The inside of a (…, H, W) canvas, or feature map: ``margin`` pixels (cells) removed from every
    side; itself for 0. With a gradient, :class:`_Crop` (which keeps the memory layout)."""
    if margin <= 0:
        return image
    if not image.requires_grad:
        return image[..., margin:-margin, margin:-margin]
    return _Crop.apply(image, margin)


class _Crop(torch.autograd.Function):
    """``features[..., c:-c, c:-c]`` whose gradient keeps the activations' memory layout.

    Autograd's slice gradient is a zero tensor in the default (NCHW) layout; added to the
    channels_last gradients of the network's backward pass it converts one of them to the other
    layout, which made an evaluation with a margin about a fifth slower on the CPU (the
    measurement: docs/benchmarks/README.md, "Measurements behind choices in the code").
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, features: torch.Tensor, cells: int) -> torch.Tensor:
        channels_last = features.dim() == 4 and not features.is_contiguous()
        channels_last = channels_last and features.is_contiguous(memory_format=torch.channels_last)
        ctx.cells = cells  # type: ignore[attr-defined]
        ctx.size = features.shape  # type: ignore[attr-defined]
        ctx.layout = torch.channels_last if channels_last else torch.contiguous_format  # type: ignore[attr-defined]
        return features[..., cells:-cells, cells:-cells]

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        cells = ctx.cells  # type: ignore[attr-defined]
        full = torch.empty(ctx.size, dtype=grad.dtype, device=grad.device, memory_format=ctx.layout)  # type: ignore[attr-defined]
        full.zero_()
        full[..., cells:-cells, cells:-cells] = grad
        return full, None


def scaled_margin(margin: int, long_side: int, final_long_side: int) -> int:
    """The margin at a scale whose long side is ``long_side``, for ``margin`` px at the final size."""
    if margin <= 0:
        return 0
    return max(1, round(margin * long_side / final_long_side))


@dataclass(frozen=True)
class Canvas:
    """The optimised canvas of one scale: the picture's (height, width) plus ``margin`` on each side."""

    height: int
    width: int
    margin: int

    @property
    def inner(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def size(self) -> tuple[int, int]:
        return self.height + 2 * self.margin, self.width + 2 * self.margin

    def pad(self, image: torch.Tensor) -> torch.Tensor:
        """A picture of the inner size with the margin mirrored around it."""
        return pad_image(image, self.margin)

    def inside(self) -> torch.Tensor:
        """(1, 1, H + 2 margin, W + 2 margin): 1 on the picture, 0 on the margin."""
        mask = torch.zeros(1, 1, *self.size)
        mask[..., self.margin : self.margin + self.height, self.margin : self.margin + self.width] = 1.0
        return mask

    @property
    def share(self) -> float:
        """The picture's share of the canvas's pixels."""
        return self.height * self.width / (self.size[0] * self.size[1])

    def feature_margin(self, features: torch.Tensor) -> int:
        """The margin in cells of a (…, h, w) feature map of this canvas: ``margin`` times the map's
        cells per pixel, rounded half up (a cell mostly in the margin is the margin's), leaving at
        least one cell."""
        if self.margin <= 0:
            return 0
        height, width = features.shape[-2:]
        cells = math.floor(self.margin * height / self.size[0] + 0.5)
        return max(0, min(cells, (min(height, width) - 1) // 2))

    def crop(self, image: torch.Tensor) -> torch.Tensor:
        """The picture inside a (…, H + 2 margin, W + 2 margin) canvas of this size."""
        if tuple(image.shape[-2:]) != self.size:
            raise ValueError(f"expected a canvas of {self.size}, got {tuple(image.shape[-2:])}")
        return crop_margin(image, self.margin)
