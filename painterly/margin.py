"""A margin optimised around the picture and cropped at the end: the cure for the frayed frame.

Near the picture's edge a pixel is seen by fewer of the network's windows than inside (a 3x3
convolution sees a corner pixel from 4 positions instead of 9, and the deeper layers' windows
are cut off alike), so the content loss holds it less, and the style loss fills the edge with
more texture than the inside: a frayed frame, which padding the convolutions by reflection or
replication does not remove (measured in docs/quality.md: 1.44 with zeros, 1.52 reflect, 1.69
replicate). With a margin, the optimised canvas is the picture plus ``m`` pixels on every side,
started from the photo mirrored at its edges; the weakly held pixels are the margin's, and the
crop throws them away.

The style loss counts the picture only (a style region of the canvas, :class:`Canvas.inside`):
counted over the whole canvas, the optimiser put the painting's statistics into the margin and
left the picture near the photo (measured at 128 px with an 8 px margin, a quarter of the canvas:
style loss 25 over the canvas, 573 for the picture alone). The content loss counts the whole
canvas, the margin against the mirrored photo, so the margin stays a plausible continuation.
The losses a run reports are the canvas's.

At each scale the margin is ``m`` scaled like the picture (at least one pixel), so that every
scale shows the network the same framing.
"""

from __future__ import annotations

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
    """The inside of a (…, H, W) canvas: ``margin`` pixels removed from every side."""
    if margin <= 0:
        return image
    return image[..., margin:-margin, margin:-margin]


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

    def crop(self, image: torch.Tensor) -> torch.Tensor:
        """The picture inside a canvas of this size (an image of another size is returned as it is)."""
        if tuple(image.shape[-2:]) != self.size:
            return image
        return crop_margin(image, self.margin)
