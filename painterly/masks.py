"""Region masks: which style goes where, and which part of the photo is kept untouched.

A mask is a greyscale image with the photo's aspect ratio (any size; colour images are reduced to
their mean of R, G and B): white (1) = "this applies here", black (0) = "not here", grey values
blend. Masks are resized to each optimisation scale and then area-downsampled (the mean over each
feature cell) to each layer's feature map size, so that a mask weights every feature position by
the share of it that lies inside the region.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from painterly.errors import PainterlyError
from painterly.image import ImageSource, image_size, load_image, resize
from painterly.margin import pad_image

# The aspect ratio of a mask may differ from the photo's by this much (relative) plus one pixel.
ASPECT_TOLERANCE = 0.01
# A mask whose brightest pixel is below this counts as all black.
BLACK_LEVEL = 0.5 / 255


def load_mask(source: ImageSource, *, role: str, photo_size: tuple[int, int]) -> torch.Tensor:
    """Load a mask as a (1, 1, H, W) float32 tensor in 0..1, checked against the photo's (H, W).

    Raises PainterlyError when it is not an image, its aspect ratio differs from the photo's, or it
    is black everywhere.
    """
    image = load_image(source, role=role)
    mask = image.mean(dim=1, keepdim=True)
    height, width = image_size(mask)
    photo_height, photo_width = photo_size
    expected_height = height * photo_width / width  # the mask's height once scaled to the photo's width
    if abs(expected_height - photo_height) > 1 + ASPECT_TOLERANCE * photo_height:
        raise PainterlyError(
            f"{_named(role, source)} is {width}x{height} pixels but the photo is {photo_width}x{photo_height}; "
            "a mask must have the photo's aspect ratio"
        )
    if float(mask.max()) < BLACK_LEVEL:
        raise PainterlyError(
            f"{_named(role, source)} is black everywhere, so it selects nothing; paint its region white"
        )
    return mask


def _named(role: str, source: ImageSource) -> str:
    return f"{role} '{os.fspath(source)}'" if isinstance(source, str | os.PathLike) else role


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a (1, 1, H, W) mask to (height, width): area averaging when shrinking, bilinear otherwise."""
    if image_size(mask) == tuple(size):
        return mask
    height, width = image_size(mask)
    if size[0] <= height and size[1] <= width:
        return F.interpolate(mask, size=size, mode="area")
    return F.interpolate(mask, size=size, mode="bilinear", align_corners=False).clamp(0.0, 1.0)


def feature_mask(mask: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """The mask at the size of a (1, N, h, w) feature map: the mean of the mask over each cell."""
    height, width = features.shape[-2:]
    return resize_mask(mask.to(device=features.device, dtype=torch.float32), (height, width))


@dataclass(frozen=True)
class RegionMasks:
    """The masks of one run at the photo's full size.

    ``style`` holds one mask per style image (None: no style masks, the styles are blended
    everywhere); ``keep`` is the content mask (None: none). The region where style k applies is
    ``style[k] * (1 - keep)``.
    """

    style: tuple[torch.Tensor, ...] | None = None
    keep: torch.Tensor | None = None

    @property
    def active(self) -> bool:
        return self.style is not None or self.keep is not None

    def style_regions(self, size: tuple[int, int]) -> list[torch.Tensor] | None:
        """The effective style masks at an image size (None when the style applies everywhere)."""
        if not self.active:
            return None
        free = None if self.keep is None else 1.0 - resize_mask(self.keep, size)
        masks = [resize_mask(mask, size) for mask in self.style] if self.style is not None else [None]
        regions = []
        for mask in masks:
            if mask is None:
                assert free is not None
                regions.append(free)
            else:
                regions.append(mask if free is None else mask * free)
        return regions

    def framed(self, size: tuple[int, int], margin: int) -> RegionMasks:
        """These masks resized to ``size`` with ``margin`` pixels replicated around them (a canvas, see
        :mod:`painterly.margin`): a region reaching the picture's edge goes on into the margin."""
        if not self.active or margin <= 0:
            return self

        def fit(mask: torch.Tensor) -> torch.Tensor:
            return pad_image(resize_mask(mask, size), margin, mode="replicate")

        return RegionMasks(
            None if self.style is None else tuple(fit(mask) for mask in self.style),
            None if self.keep is None else fit(self.keep),
        )

    def compositor(self, photo: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """A function that composites images of any size with `photo` (full size, resized once per size)."""
        if self.keep is None:
            return lambda image: image
        keep_mask = self.keep
        cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

        def composite(image: torch.Tensor) -> torch.Tensor:
            size = image_size(image)
            key = (size, image.device, image.dtype)
            if key not in cache:
                keep = resize_mask(keep_mask, size).to(device=image.device, dtype=image.dtype)
                cache[key] = (keep, keep * resize(photo, size).to(device=image.device, dtype=image.dtype))
            keep, kept_photo = cache[key]
            return kept_photo + (1.0 - keep) * image

        return composite


def load_region_masks(
    style_masks: Sequence[ImageSource] | None,
    content_mask: ImageSource | None,
    style_count: int,
    photo_size: tuple[int, int],
) -> RegionMasks:
    """Load and check the masks of a run (see :class:`RegionMasks`)."""
    styles = None
    if isinstance(style_masks, str | os.PathLike | torch.Tensor) or not isinstance(style_masks, Sequence | None):
        style_masks = [style_masks]  # one mask given on its own
    if style_masks is not None:
        if len(style_masks) != style_count:
            raise PainterlyError(
                f"{len(style_masks)} style mask(s) for {style_count} style image(s); give one mask per style"
            )
        styles = tuple(
            load_mask(source, role=f"style mask {index}", photo_size=photo_size)
            for index, source in enumerate(style_masks, start=1)
        )
    keep = None if content_mask is None else load_mask(content_mask, role="content mask", photo_size=photo_size)
    if keep is not None and float(keep.min()) > 1.0 - BLACK_LEVEL:
        raise PainterlyError("the content mask is white everywhere, so the whole photo would be kept; nothing to do")
    masks = RegionMasks(styles, keep)
    if styles is not None and keep is not None:
        for index, region in enumerate(masks.style_regions(photo_size) or [], start=1):
            if float(region.max()) < BLACK_LEVEL:
                raise PainterlyError(f"style mask {index} lies entirely inside the content mask, so it selects nothing")
    return masks
