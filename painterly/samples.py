"""Sample images for the demo, made offline from what is installed.

The content photo is the portrait matplotlib ships (``grace_hopper.jpg``). The style image is
a painting rendered here: thousands of short, thick, curved brush strokes that follow a swirling
flow field (a few vortices plus smooth noise), in a bold blue/yellow palette, each stroke
darker at its edges and varying slightly in colour along its length.

Run ``python -m painterly.samples FOLDER`` to write ``content.jpg`` and ``style.png`` there.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from painterly.errors import PainterlyError
from painterly.extras import require

__all__ = ["main", "render_painting", "sample_photo_path", "write_samples"]

# Palette, dark to light blues, then the warm colours of the swirls and highlights.
_BLUES = np.array(
    [
        (14, 26, 80),  # deep navy
        (22, 38, 120),  # ultramarine
        (34, 78, 176),  # cobalt
        (58, 128, 206),  # cerulean
        (104, 184, 222),  # cyan
        (186, 222, 226),  # pale sky
    ],
    dtype=np.float64,
)
_YELLOWS = np.array(
    [
        (196, 132, 36),  # ochre
        (232, 190, 54),  # cadmium yellow
        (246, 226, 120),  # lemon
        (250, 244, 200),  # near white
    ],
    dtype=np.float64,
)
_WARM = np.array([(228, 122, 40), (238, 160, 56), (204, 90, 38)], dtype=np.float64)


def sample_photo_path() -> Path:
    """Path of the portrait photo matplotlib ships; PainterlyError if it is not installed.

    matplotlib is not a core dependency, only the plots extra's (``make demo`` installs every
    extra): the photo is borrowed rather than bundled, so the package carries no picture."""
    cbook = require("plots", "matplotlib.cbook", "the demo's sample photo (matplotlib's grace_hopper.jpg)")
    try:
        path = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    except Exception as exc:  # a matplotlib build without sample data
        raise PainterlyError(
            f"cannot find matplotlib's sample photo grace_hopper.jpg ({exc}); reinstall matplotlib"
        ) from exc
    if not path.is_file():
        raise PainterlyError(
            f"matplotlib's sample photo grace_hopper.jpg is missing at {path}; reinstall matplotlib"
        )
    return path


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth noise in about -1..1: a cells x cells random grid upsampled bicubically."""
    grid = rng.standard_normal((cells, cells)).astype(np.float32)
    image = Image.fromarray(grid, mode="F").resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.float64)


def _ramp(palette: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Colours along a palette at positions t in 0..1 (linear between entries)."""
    x = np.clip(t, 0.0, 1.0) * (len(palette) - 1)
    i = np.minimum(x.astype(int), len(palette) - 2)
    f = (x - i)[..., None]
    return palette[i] * (1 - f) + palette[i + 1] * f


def _fields(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flow and colour fields of a painting.

    Returns the unit flow direction (size, size, 2) as (dx, dy), the blue and the yellow paint
    to use at each pixel (size, size, 3) each, and how likely a stroke there is yellow (size, size).
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    # Stream function: logarithmic vortices plus smooth noise plus a gentle drift to the right.
    n_vortices = int(rng.integers(3, 6))
    centres = rng.uniform(0.12, 0.88, size=(n_vortices, 2))
    strengths = rng.uniform(0.6, 1.2, size=n_vortices) * rng.choice([-1.0, 1.0], size=n_vortices)
    cores = rng.uniform(0.03, 0.07, size=n_vortices)
    psi = 0.35 * yy + 0.08 * _smooth_noise(rng, size, 5) + 0.03 * _smooth_noise(rng, size, 11)
    for (cx, cy), s, core in zip(centres, strengths, cores, strict=True):
        psi += 0.175 * s * np.log((xx - cx) ** 2 + (yy - cy) ** 2 + core**2)
    dpsi_dy, dpsi_dx = np.gradient(psi)
    flow = np.stack([dpsi_dy, -dpsi_dx], axis=-1)
    flow /= np.linalg.norm(flow, axis=-1, keepdims=True) + 1e-12

    # Colour: a blue ground whose lightness wanders, yellow spiral bands and discs at vortices.
    t = 0.45 + 0.25 * _smooth_noise(rng, size, 4) + 0.12 * _smooth_noise(rng, size, 9)
    blue = _ramp(_BLUES, t)
    yellow_weight = np.zeros((size, size))
    for (cx, cy), s, core in zip(centres, strengths, cores, strict=True):
        dx, dy = xx - cx, yy - cy
        r = np.sqrt(dx**2 + dy**2)
        theta = np.arctan2(dy, dx)
        band = 0.5 + 0.5 * np.sin(r * 70.0 - np.sign(s) * theta * 2.0 + rng.uniform(0, 6.3))
        band = np.clip((band - 0.55) * 3.0, 0.0, 1.0) * np.exp(-((r / (5 * core)) ** 2))
        disc = np.exp(-((r / (1.6 * core)) ** 4))
        yellow_weight = np.maximum(yellow_weight, np.maximum(band * 0.9, disc))
    yellow_t = 0.35 + 0.3 * _smooth_noise(rng, size, 6)
    yellow = _ramp(_YELLOWS, yellow_t + 0.4 * yellow_weight)
    return flow, blue, yellow, yellow_weight


def _trace(flow: np.ndarray, starts: np.ndarray, steps: int, step: float) -> np.ndarray:
    """Streamlines (n, steps + 1, 2) from starts (n, 2), midpoint rule, centred on the start."""
    size = flow.shape[0]

    def direction(p: np.ndarray) -> np.ndarray:
        ix = np.clip(p[:, 0].astype(int), 0, size - 1)
        iy = np.clip(p[:, 1].astype(int), 0, size - 1)
        return flow[iy, ix]

    half = steps // 2
    back = [starts]
    p = starts.copy()
    for _ in range(half):
        p = p - step * direction(p - 0.5 * step * direction(p))
        back.append(p)
    fwd = []
    p = starts.copy()
    for _ in range(steps - half):
        p = p + step * direction(p + 0.5 * step * direction(p))
        fwd.append(p)
    return np.stack(back[::-1] + fwd, axis=1)


def _paint_layer(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    flow: np.ndarray,
    blue: np.ndarray,
    yellow: np.ndarray,
    yellowness: np.ndarray,
    count: int,
    width: float,
    length: float,
    jitter: float,
) -> None:
    """Lay count strokes of about this width and length, in random order over the canvas."""
    size = flow.shape[0]
    steps = 6
    starts = rng.uniform(-0.02 * size, 1.02 * size, size=(count, 2))
    lengths = length * rng.uniform(0.6, 1.4, size=count)
    widths = np.maximum(1, np.round(width * rng.uniform(0.7, 1.3, size=count))).astype(int)
    paths = _trace(flow, starts, steps, 1.0)
    # Rescale each unit-step path to its own length (directions are unchanged).
    paths = starts[:, None, :] + (paths - starts[:, None, :]) * (lengths / steps)[:, None, None]
    ix = np.clip(starts[:, 0].astype(int), 0, size - 1)
    iy = np.clip(starts[:, 1].astype(int), 0, size - 1)
    # Each stroke is either blue or yellow paint (never a muddy mix of the two).
    is_yellow = rng.random(count) < yellowness[iy, ix]
    base = np.where(is_yellow[:, None], yellow[iy, ix], blue[iy, ix])
    base *= rng.uniform(1 - jitter, 1 + jitter, size=(count, 1))
    base += rng.normal(0, 10, size=(count, 1)) + rng.normal(0, 40 * jitter, size=(count, 3))
    accents = rng.random(count) < np.where(yellowness[iy, ix] > 0.3, 0.04, 0.003)
    base[accents] = _WARM[rng.integers(0, len(_WARM), size=int(accents.sum()))]
    tint = rng.normal(0, 10, size=(count, 3))  # colour drift from one end of a stroke to the other
    for k in range(count):
        pts = [(float(x), float(y)) for x, y in paths[k]]
        w = int(widths[k])
        c0 = base[k]
        dark = tuple(int(v) for v in np.clip(c0 * 0.55, 0, 255))
        draw.line(pts, fill=dark, width=w + 2, joint="curve")
        mid = steps // 2
        for a, b, c in ((0, mid, c0 - tint[k]), (mid, steps, c0 + tint[k])):
            draw.line(pts[a : b + 1], fill=tuple(int(v) for v in np.clip(c, 0, 255)), width=w, joint="curve")
        if w >= 3:
            light = tuple(int(v) for v in np.clip(c0 * 1.18 + 18, 0, 255))
            draw.line(pts[1:-1], fill=light, width=max(1, w // 4))


def render_painting(size: int = 512, *, seed: int = 0) -> Image.Image:
    """Render a swirling Van Gogh-like oil painting, size x size RGB, deterministic for a seed."""
    if size < 16:
        raise PainterlyError(f"painting size must be at least 16 pixels, got {size}")
    rng = np.random.default_rng(seed)
    flow, blue, yellow, yellowness = _fields(rng, size)
    w = yellowness[..., None]
    ground = Image.fromarray(np.clip(blue * (1 - w) + yellow * w, 0, 255).astype(np.uint8), mode="RGB")
    canvas = ground.filter(ImageFilter.GaussianBlur(size / 64))
    draw = ImageDraw.Draw(canvas)
    s = size / 512
    area = size * size
    for width, length, jitter in ((10.0, 44.0, 0.10), (7.0, 32.0, 0.14), (4.5, 22.0, 0.18)):
        count = int(1.6 * area / (width * s * length * s))
        _paint_layer(draw, rng, flow, blue, yellow, yellowness, count, width * s, length * s, jitter)
    return canvas


def write_samples(folder: str | Path) -> tuple[Path, Path]:
    """Write content.jpg (the sample photo) and style.png (the painting) to folder; return both paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    content = folder / "content.jpg"
    style = folder / "style.png"
    shutil.copyfile(sample_photo_path(), content)
    render_painting().save(style)
    return content, style


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m painterly.samples FOLDER`` writes the samples and prints their paths."""
    parser = argparse.ArgumentParser(
        prog="python -m painterly.samples", description="Write the demo's sample content and style images."
    )
    parser.add_argument("folder", help="folder to write content.jpg and style.png into (created if needed)")
    args = parser.parse_args(argv)
    try:
        paths = write_samples(args.folder)
    except (PainterlyError, OSError) as exc:
        print(f"painterly: error: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
