"""The image the optimisation starts from."""

from __future__ import annotations

import torch

from painterly.color import transfer_color
from painterly.image import image_size, load_image, resize


def cover_and_crop(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Scale `image` to cover height x width without stretching, then crop the centre."""
    source_height, source_width = image_size(image)
    factor = max(height / source_height, width / source_width)
    scaled_height = max(height, round(source_height * factor))
    scaled_width = max(width, round(source_width * factor))
    scaled = resize(image, (scaled_height, scaled_width))
    top = (scaled_height - height) // 2
    left = (scaled_width - width) // 2
    return scaled[:, :, top : top + height, left : left + width]


def initial_image(
    init: str,
    content: torch.Tensor,
    style: torch.Tensor,
    height: int,
    width: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """`content` (the photo), `palette`, `noise` (seeded uniform white noise), `style` or a path to an image.

    `palette` is the photo recoloured so that its pixels' mean and colour covariance are the
    painting's (:func:`painterly.color.transfer_color`, PCA; with several paintings, the first
    one's, as for `style`). It starts the optimisation nearer the painting's first-layer
    statistics, which the style loss would otherwise have to paint in: at alpha/beta 1e-3, 512 px,
    one scale (Tübingen x Starry Night, vgg16-hed, this project's 2-core CPU), L-BFGS reached the
    plain reference's final loss after about 150 evaluations instead of 177-185 (docs/quality.md,
    "Speed goals").
    """
    if init == "content":
        return resize(content, (height, width))
    if init == "palette":
        return transfer_color(resize(content, (height, width)), style)
    if init == "noise":
        return torch.rand((1, 3, height, width), generator=generator)
    if init == "style":
        return cover_and_crop(style, height, width)
    return cover_and_crop(load_image(init, role="init image"), height, width)


def upsample_result(previous: torch.Tensor, content: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Start a finer scale from the coarser result.

    Only what the optimisation changed is upsampled (the result minus the photo at the coarse
    size), then added to the photo at the fine size: the photo's fine detail is kept instead of
    the blur that upsampling the whole image would bring.
    """
    coarse_photo = resize(content, image_size(previous))
    change = torch.nn.functional.interpolate(previous - coarse_photo, size=size, mode="bicubic", align_corners=False)
    return (resize(content, size) + change).clamp(0, 1)
