"""Render the pictures of docs/controls.md: one per artistic control, on the shared test images.

    python scripts/render_examples.py                      # all, 320 px, into docs/images/
    python scripts/render_examples.py --only regions --size 128 --out /tmp/try

Every picture uses stylize()'s defaults (network "auto", 500 evaluations, multi-scale, the
default path: Adam with the average of its iterates) except for the one control it shows;
``--preset classic`` renders them on painterly 0.1's L-BFGS path instead. Each control gives
`<name>.jpg` (the result) and `<name>_side.jpg` (photo | result, with the painting(s) and masks
as insets). The masks of the region pictures are made here from the photo itself: the sky of
Tübingen is the part of the upper image that is bright and blue. The time of each picture and of
all ten is printed (docs/controls.md gives the last measured).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from painterly import stylize
from painterly.image import load_image, resize, to_pil
from painterly.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT.parent / "shared" / "images"
JPEG_QUALITY = 85
MAX_BYTES = 120_000


@dataclass(frozen=True)
class Example:
    name: str
    caption: str
    styles: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    masks: Callable[[torch.Tensor, Path], dict[str, Any]] | None = None  # photo, folder -> extra options


def sky_mask(photo: torch.Tensor) -> torch.Tensor:
    """(1, 1, H, W) in 0..1: bright blue pixels connected to the top of the picture, softened.

    A simple colour threshold (blue above red and green, bright enough), kept only in the upper
    two thirds, cleaned with a small closing and blurred by a few pixels for a soft edge.
    """
    red, green, blue = photo[:, 0:1], photo[:, 1:2], photo[:, 2:3]
    height = photo.shape[-2]
    rows = torch.arange(height, dtype=torch.float32).view(1, 1, -1, 1) / height
    blue_sky = (blue > red + 0.12) & (blue > green + 0.02) & (blue > 0.45) & (rows < 0.66)
    mask = blue_sky.float()
    # closing: fill thin gaps (twigs, antennas), then open away isolated specks
    mask = -F.max_pool2d(-F.max_pool2d(mask, 5, 1, 2), 5, 1, 2)
    mask = F.max_pool2d(-F.max_pool2d(-mask, 3, 1, 1), 3, 1, 1)
    radius = max(1, round(photo.shape[-1] / 256))
    kernel = 2 * radius + 1
    return F.avg_pool2d(F.pad(mask, [radius] * 4, mode="replicate"), kernel, 1).clamp(0, 1)


def save_mask(mask: torch.Tensor, path: Path) -> Path:
    grey = (mask[0, 0].clamp(0, 1) * 255).round().byte().numpy()
    Image.fromarray(grey, "L").save(path)
    return path


def sky_and_ground(photo: torch.Tensor, folder: Path) -> dict[str, Any]:
    sky = sky_mask(photo)
    return {"style_masks": [str(save_mask(sky, folder / "sky.png")), str(save_mask(1 - sky, folder / "ground.png"))]}


def keep_ground(photo: torch.Tensor, folder: Path) -> dict[str, Any]:
    return {"content_mask": str(save_mask(1 - sky_mask(photo), folder / "keep_ground.png"))}


EXAMPLES = (
    Example("baseline", "no controls: Tübingen in the style of The Starry Night", ("starry_night.jpg",)),
    # Matching grey statistics is easier than matching colour ones: the default style weight gives a
    # mild result, so this picture raises it tenfold.
    Example("preserve_color_luminance", "--preserve-color luminance --style-weight 1e5", ("starry_night.jpg",),
            {"preserve_color": "luminance", "style_weight": 1e5}),
    Example("preserve_color_histogram", "--preserve-color histogram (PCA colour transfer)", ("starry_night.jpg",),
            {"preserve_color": "histogram"}),
    Example("original_colors", "--original-colors", ("starry_night.jpg",), {"original_colors": True}),
    Example("two_styles", "two paintings, --style-weights 0.5 0.5", ("starry_night.jpg", "composition_vii.jpg"),
            {"style_weights": [0.5, 0.5]}),
    Example("style_scale_small", "--style-scale 0.5 (smaller brush strokes)", ("starry_night.jpg",),
            {"style_scale": 0.5}),
    Example("style_scale_large", "--style-scale 2 (larger brush strokes)", ("starry_night.jpg",),
            {"style_scale": 2.0}),
    Example("tv_weight", "--tv-weight 300 (smoother)", ("starry_night.jpg",), {"tv_weight": 300.0}),
    Example("regions", "--style-masks sky.png ground.png: The Starry Night in the sky, Turner's Shipwreck below",
            ("starry_night.jpg", "shipwreck.jpg"), masks=sky_and_ground),
    Example("content_mask", "--content-mask keep_ground.png: only the sky is repainted", ("starry_night.jpg",),
            masks=keep_ground),
)  # fmt: skip


def side_by_side(photo: Image.Image, result: Image.Image, insets: list[Image.Image]) -> Image.Image:
    """Photo and result next to each other; small insets (paintings, masks) in the photo's lower left."""
    width, height = result.size
    canvas = Image.new("RGB", (2 * width + 8, height), "white")
    canvas.paste(photo.resize((width, height)), (0, 0))
    canvas.paste(result, (width + 8, 0))
    inset_height = max(24, height // 4)
    widths = sum(inset.width * inset_height / inset.height + 4 for inset in insets)
    if widths > width - 8:  # shrink the insets to fit inside the photo's half
        inset_height = max(12, int(inset_height * (width - 8) / widths))
    left = 4
    draw = ImageDraw.Draw(canvas)
    for inset in insets:
        thumbnail = inset.convert("RGB")
        thumbnail = thumbnail.resize((max(1, round(thumbnail.width * inset_height / thumbnail.height)), inset_height))
        top = height - inset_height - 4
        canvas.paste(thumbnail, (left, top))
        draw.rectangle((left - 1, top - 1, left + thumbnail.width, top + thumbnail.height), outline="white")
        left += thumbnail.width + 4
    return canvas


def save_jpeg(image: Image.Image, path: Path) -> None:
    quality = JPEG_QUALITY
    while True:
        image.save(path, "JPEG", quality=quality, optimize=True)
        if path.stat().st_size < MAX_BYTES or quality <= 50:
            return
        quality -= 5


def render(
    example: Example, size: int, iterations: int | None, out: Path, images: Path, preset: str | None = None
) -> float:
    photo_path = images / "tubingen.jpg"
    photo = load_image(photo_path)
    extra = example.masks(photo, out) if example.masks else {}
    options = {"size": size, **(PRESETS[preset] if preset else {}), **example.options, **extra}
    if iterations is not None:
        options["iterations"] = iterations
    styles = [str(images / name) for name in example.styles]
    started = time.perf_counter()
    result = stylize(str(photo_path), styles[0] if len(styles) == 1 else styles, **options)
    seconds = time.perf_counter() - started
    picture = result.to_pil()
    save_jpeg(picture, out / f"{example.name}.jpg")
    insets = [Image.open(path) for path in styles]
    insets += [Image.open(path) for key in ("style_masks", "content_mask") for path in _as_list(extra.get(key))]
    small_photo = to_pil(resize(photo, tuple(result.image.shape[-2:])))
    save_jpeg(side_by_side(small_photo, picture, insets), out / f"{example.name}_side.jpg")
    return seconds


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=320, help="long side of each picture (default: 320)")
    parser.add_argument("--iterations", type=int, help="evaluations per picture (default: stylize's)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="folder (default: docs/images)")
    parser.add_argument("--images", type=Path, default=IMAGES, help="the shared test images")
    parser.add_argument("--only", nargs="+", choices=[e.name for e in EXAMPLES], help="render only these")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="a preset under every picture (default: none)")
    arguments = parser.parse_args(argv)
    if not (arguments.images / "tubingen.jpg").exists():
        print(f"render_examples: {arguments.images} does not hold the test images", file=sys.stderr)
        return 2
    arguments.out.mkdir(parents=True, exist_ok=True)
    total = time.perf_counter()
    for example in EXAMPLES:
        if arguments.only and example.name not in arguments.only:
            continue
        seconds = render(
            example, arguments.size, arguments.iterations, arguments.out, arguments.images, arguments.preset
        )
        print(f"{example.name}: {seconds:.0f} s", flush=True)
    print(f"all: {time.perf_counter() - total:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
