"""Measures of two picture defects, on (1, 3, H, W) RGB images in 0..1 (the photo at the same size).

- **Frame** (:func:`border_ratio`): zero padding makes the network see an edge all around the
  picture, and the optimiser paints one. The mean absolute Laplacian of the luminance in the outer
  ``band`` pixels over that of the interior, for the picture, divided by the same ratio for the
  photo: about 1 when the border is as busy as the inside (relative to the photo), 1.3-2.2 for the
  frayed frames seen with zero padding.
  :func:`edge_bands` compares each side's band with the band just inside it instead (the same
  part of the photo), which a photo's calm edges do not confound.
- **Ripple** (:func:`ripple`): a regular, fish-scale texture in flat areas. In the photo's flattest
  tiles the picture's fine detail (luminance minus a 5x5 box blur) is split into its power
  spectrum; ``peak`` is the strongest frequency's power over the mean power (a regular ripple
  concentrates its energy in a few frequencies: a high peak; irregular, paint-like texture spreads
  it: a low peak), ``energy`` the root mean square of that detail (how busy the flat areas are).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: The luma weights of Rec. 601 (also Y of YIQ in :mod:`painterly.color`).
LUMA = (0.299, 0.587, 0.114)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) RGB -> (1, 1, H, W) luma."""
    weights = torch.tensor(LUMA, dtype=torch.float32, device=image.device).view(1, 3, 1, 1)
    return (image.float() * weights).sum(dim=1, keepdim=True)


def laplacian(image: torch.Tensor) -> torch.Tensor:
    """|4-neighbour Laplacian| of the luminance, (H - 2, W - 2) (no padding: no invented edge)."""
    y = luminance(image)[0, 0]
    centre = y[1:-1, 1:-1]
    return (y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:] - 4 * centre).abs()


def _band_over_interior(image: torch.Tensor, band: int) -> float:
    magnitude = laplacian(image)
    inner = band - 1  # the Laplacian map starts one pixel in
    mask = torch.ones_like(magnitude, dtype=torch.bool)
    mask[inner:-inner, inner:-inner] = False
    interior = magnitude[~mask].mean()
    return float(magnitude[mask].mean() / interior.clamp_min(1e-8))


def border_ratio(picture: torch.Tensor, photo: torch.Tensor, band: int = 8) -> float:
    """How much busier the picture's outer ``band`` px are than its inside, relative to the photo's."""
    if picture.shape[-2:] != photo.shape[-2:]:
        raise ValueError(f"picture {tuple(picture.shape)} and photo {tuple(photo.shape)} differ in size")
    if min(picture.shape[-2:]) <= 4 * band:
        raise ValueError(f"the picture is too small for a {band} px band")
    return _band_over_interior(picture, band) / _band_over_interior(photo, band)


@dataclass(frozen=True)
class EdgeBands:
    """Per side, the outer band's mean |Laplacian| over that of the band just inside it (twice as
    wide), for the picture divided by the same for the photo: a frame shows as a side above 1."""

    top: float
    bottom: float
    left: float
    right: float

    @property
    def worst(self) -> float:
        return max(self.top, self.bottom, self.left, self.right)


def edge_bands(picture: torch.Tensor, photo: torch.Tensor, band: int = 8) -> EdgeBands:
    """The frame measured against its neighbourhood, side by side.

    :func:`border_ratio` compares the border with the whole interior, so a picture that paints
    strokes over a photo's flat sky (a calm top edge, a busy town inside) measures above 1 without
    any frame; here each side's outer ``band`` px are compared with the ``2 band`` px just inside
    them, which are of the same part of the photo.
    """
    if picture.shape[-2:] != photo.shape[-2:]:
        raise ValueError(f"picture {tuple(picture.shape)} and photo {tuple(photo.shape)} differ in size")
    if min(picture.shape[-2:]) <= 8 * band:
        raise ValueError(f"the picture is too small for a {band} px band")

    def sides(image: torch.Tensor) -> list[float]:
        magnitude = laplacian(image)
        outer, inner = band - 1, 3 * band - 1  # the Laplacian map starts one pixel in
        pairs = (
            (magnitude[:outer], magnitude[outer:inner]),
            (magnitude[-outer:], magnitude[-inner:-outer]),
            (magnitude[:, :outer], magnitude[:, outer:inner]),
            (magnitude[:, -outer:], magnitude[:, -inner:-outer]),
        )
        return [float(edge.mean() / within.mean().clamp_min(1e-8)) for edge, within in pairs]

    ratios = [mine / max(theirs, 1e-8) for mine, theirs in zip(sides(picture), sides(photo), strict=True)]
    return EdgeBands(*ratios)


@dataclass(frozen=True)
class Ripple:
    peak: float  # strongest frequency's power over the mean power, in the flattest tiles
    energy: float  # RMS of the fine detail there (0..1 luminance units)
    tiles: int


def _detail(image: torch.Tensor) -> torch.Tensor:
    y = luminance(image)
    return (y - F.avg_pool2d(F.pad(y, (2, 2, 2, 2), mode="replicate"), 5, stride=1))[0, 0]


def flattest_tiles(photo: torch.Tensor, tile: int = 48, count: int = 4, margin: int = 16) -> list[tuple[int, int]]:
    """Top-left corners of the ``count`` non-overlapping tiles where the photo has the least detail
    (away from the border, so that the frame does not count as ripple)."""
    energy = _detail(photo).pow(2)
    height, width = energy.shape
    scores = []
    for top in range(margin, height - margin - tile + 1, tile // 2):
        for left in range(margin, width - margin - tile + 1, tile // 2):
            scores.append((float(energy[top : top + tile, left : left + tile].mean()), top, left))
    chosen: list[tuple[int, int]] = []
    for _, top, left in sorted(scores):
        if all(abs(top - t) >= tile or abs(left - s) >= tile for t, s in chosen):
            chosen.append((top, left))
        if len(chosen) == count:
            break
    return chosen


def ripple(picture: torch.Tensor, photo: torch.Tensor, tile: int = 48, count: int = 4) -> Ripple:
    """The regularity and strength of the picture's fine texture where the photo is flat."""
    corners = flattest_tiles(photo, tile, count)
    if not corners:
        raise ValueError("the picture is too small to find flat tiles")
    detail = _detail(picture)
    window = torch.hann_window(tile, periodic=False).outer(torch.hann_window(tile, periodic=False))
    peaks, energies = [], []
    for top, left in corners:
        patch = detail[top : top + tile, left : left + tile]
        energies.append(float(patch.pow(2).mean().sqrt()))
        power = torch.fft.rfft2((patch - patch.mean()) * window).abs().pow(2)
        power[:2, :2] = 0  # the lowest frequencies: shading, not texture
        power[-1:, :2] = 0
        peaks.append(float(power.max() / power[power > 0].mean().clamp_min(1e-12)))
    return Ripple(peak=sum(peaks) / len(peaks), energy=sum(energies) / len(energies), tiles=len(corners))
