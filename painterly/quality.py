"""Measures of two picture defects, on (1, 3, H, W) RGB images in 0..1 (the photo at the same size).

- **Frame** (:func:`border_ratio`): zero padding makes the network see an edge all around the
  picture, and the optimiser paints one. The mean absolute Laplacian of the luminance in the outer
  ``band`` pixels over that of the interior, for the picture, divided by the same ratio for the
  photo: about 1 when the border is as busy as the inside (relative to the photo), 1.3-2.2 for the
  frayed frames seen with zero padding.
  :func:`edge_bands` compares each side's band with the band just inside it instead (the same
  part of the photo), which a photo's calm edges do not confound; :func:`frame_bands` does the
  same without asking the picture to be calmer where the photo's edge is calmer than its inside.
- **Ripple** (:func:`ripple`): a regular, fish-scale texture in flat areas. In the photo's flattest
  tiles the picture's fine detail (luminance minus a 5x5 box blur) is split into its power
  spectrum; ``peak`` is the strongest frequency's power over the mean power (a regular ripple
  concentrates its energy in a few frequencies: a high peak; irregular, paint-like texture spreads
  it: a low peak), ``energy`` the root mean square of that detail (how busy the flat areas are).
  The peak also rises for large regular strokes (their one low frequency is a sharp peak), so it
  is kept only for comparison with the numbers measured with it.
- **Dot grid** (:func:`dot_grid`): the ripple as it is, a regular grid of dots or a hatch of
  period 2-5 px (the network's stride-2 pooling), told apart from paint texture and from broad
  strokes by where and how narrow its spectral peaks are (the maths is in its docstring).
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
    _check_bands(picture, photo, band)
    ratios = [mine / max(theirs, 1e-8) for mine, theirs in zip(_sides(picture, band), _sides(photo, band), strict=True)]
    return EdgeBands(*ratios)


def frame_bands(picture: torch.Tensor, photo: torch.Tensor, band: int = 8) -> EdgeBands:
    """The frame as the picture's own: each side's outer ``band`` px over the ``2 band`` px just
    inside them, in the picture, divided by the same for the photo only where the photo's edge is
    the busier one.

    :func:`edge_bands` divides by the photo's ratio on every side, so where the photo's edge is
    calmer than the band inside it (a flat sky along the edge, a tower starting a few pixels in)
    it asks the picture to be as much calmer there, and a painting's texture laid evenly over the
    picture reads as a frame though the picture's own edge is no busier than its inside (measured
    cases in docs/quality.md). A frame is the picture busier at its edge than just inside it; a
    photo that is itself busier at an edge excuses that much, a calm one does not ask for less:
    ``own(picture) / max(own(photo), 1)``.
    """
    _check_bands(picture, photo, band)
    ratios = [mine / max(theirs, 1.0) for mine, theirs in zip(_sides(picture, band), _sides(photo, band), strict=True)]
    return EdgeBands(*ratios)


def _check_bands(picture: torch.Tensor, photo: torch.Tensor, band: int) -> None:
    if picture.shape[-2:] != photo.shape[-2:]:
        raise ValueError(f"picture {tuple(picture.shape)} and photo {tuple(photo.shape)} differ in size")
    if min(picture.shape[-2:]) <= 8 * band:
        raise ValueError(f"the picture is too small for a {band} px band")


def _sides(image: torch.Tensor, band: int) -> list[float]:
    """Top, bottom, left, right: the outer ``band`` px's mean |Laplacian| over the ``2 band`` px inside."""
    magnitude = laplacian(image)
    outer, inner = band - 1, 3 * band - 1  # the Laplacian map starts one pixel in
    pairs = (
        (magnitude[:outer], magnitude[outer:inner]),
        (magnitude[-outer:], magnitude[-inner:-outer]),
        (magnitude[:, :outer], magnitude[:, outer:inner]),
        (magnitude[:, -outer:], magnitude[:, -inner:-outer]),
    )
    return [float(edge.mean() / within.mean().clamp_min(1e-8)) for edge, within in pairs]


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


@dataclass(frozen=True)
class DotGrid:
    """What :func:`dot_grid` found in the chosen regions."""

    amplitude: float  # RMS of the peaked part of the fine detail over the regions (0..1 luminance units)
    fraction: float  # its share of all the detail at periods of at most 5 px (0..1)
    peak: float  # the largest peak ratio found in any region (no peak: 0; a grid: above PEAK_RATIO)
    regions: int
    tiles: int


#: Periods of at most 5 px (spatial frequencies of at least 0.2 cycles/px) count as fine.
FINE_FREQUENCY = 0.2
#: A bin is a peak when its 3x3 mean power is this many times its background (see dot_grid).
PEAK_RATIO = 6.0
#: The background is read this many bins away (Chebyshev distance), and a peak is the largest
#: 3x3 mean within this distance.
PEAK_REACH = 3
#: A peak's lobe: the bins within 2 of a peak bin (5x5) make up the grid's power.
LOBE_REACH = 2
#: The background never counts as less than this share of the band's mean power per bin.
FLOOR_SHARE = 0.25


def _gaussian_residual(y: torch.Tensor, sigma: float = 2.0) -> torch.Tensor:
    radius = int(3 * sigma)
    taps = torch.exp(-torch.arange(-radius, radius + 1, dtype=torch.float32).pow(2) / (2 * sigma**2))
    taps = (taps / taps.sum()).to(y.device)
    padded = F.pad(y, (radius, radius, radius, radius), mode="reflect")
    blurred = F.conv2d(F.conv2d(padded, taps.view(1, 1, 1, -1)), taps.view(1, 1, -1, 1))
    return (y - blurred)[0, 0]


def _pool(values: torch.Tensor, reach: int, mode: str) -> torch.Tensor:
    """Circular mean or max of ``values`` (a 2-D spectrum) over the (2 reach + 1)^2 square around each bin."""
    padded = F.pad(values[None, None], (reach, reach, reach, reach), mode="circular")
    pool = F.avg_pool2d if mode == "mean" else F.max_pool2d
    return pool(padded, 2 * reach + 1, stride=1)[0, 0]


def _grid_in_spectrum(power: torch.Tensor) -> tuple[float, float, float]:
    """(excess, band power, largest peak ratio) of one region's Welch spectrum; see dot_grid."""
    tile = power.shape[0]
    frequency = torch.fft.fftfreq(tile, device=power.device)
    band = (frequency.view(-1, 1).pow(2) + frequency.view(1, -1).pow(2)).sqrt() >= FINE_FREQUENCY
    total = float(power[band].sum())
    if total <= 0:
        return 0.0, 0.0, 0.0
    local = _pool(power, 1, "mean")
    reach = PEAK_REACH
    span = range(-reach, reach + 1)
    ring = [(dy, dx) for dy in span for dx in span if max(abs(dy), abs(dx)) == reach]
    pairs = ring[: len(ring) // 2]  # ring is symmetric: the other half holds each -o
    background = torch.stack([torch.minimum(local.roll(o, (0, 1)), local.roll((-o[0], -o[1]), (0, 1))) for o in pairs])
    background = background.max(0).values
    ratio = local / background.clamp_min(FLOOR_SHARE * total / int(band.sum()))
    summit = band & (local >= _pool(local, reach, "max"))
    ratio = torch.where(summit, ratio, torch.zeros_like(ratio))
    peaks = ratio > PEAK_RATIO
    lobes = band & (_pool(peaks.float(), LOBE_REACH, "max") > 0)
    under = -_pool(-torch.where(peaks, background, torch.full_like(background, float("inf"))), LOBE_REACH, "max")
    excess = float((power - under).clamp_min(0)[lobes].sum())
    return excess, total, float(ratio.max())


def dot_grid(
    picture: torch.Tensor,
    photo: torch.Tensor | None = None,
    *,
    tile: int = 32,
    region: int = 64,
    keep: float = 0.25,
    margin: int = 16,
) -> DotGrid:
    """The strength of a regular fine grid (period 2-5 px) in the picture's flat areas.

    1. Fine detail: d = Y - G_2 * Y, the luminance minus its Gaussian blur (sigma 2 px; the
       residual passes 1 - exp(-2 pi^2 sigma^2 f^2) of an amplitude: 0.96 at f = 0.2 cycles/px,
       0.26 at 1/16 and 0.07 at 1/32), so that shading and broad strokes barely reach the spectrum.
    2. Regions: ``region`` px squares at half-region steps, ``margin`` px away from the border
       (the frame is not ripple); the ``keep`` share of them where the photo's own detail is
       least (all of them without a photo). The grid the optimiser paints bends and its period
       drifts (2.5-4 px) across a sky, so its spectral peaks move from place to place; a 64 px
       region is small enough that they stay put inside it.
    3. Welch's spectrum of each region: S(f) = mean over its 9 ``tile`` px tiles (half-tile
       steps) of |DFT(w (d - mean d))|^2 / (T^2 sum w^2), w a periodic Hann window, so that
       sum_f S(f) is the detail's mean square there (Parseval).
    4. Peaks, in the band |f| >= 0.2 cycles/px (periods <= 5 px, both axes and the diagonals):
       P = the 3x3 mean of S (a drifting lobe spreads over 2-3 bins); the background
       B(f) = max over the 12 opposite pairs (o, -o) on the ring at Chebyshev distance 3 of
       min(P(f + o), P(f - o)), at least a quarter of the band's mean power per bin. A peak is
       a bin where P is the largest within distance 3 and P > 6 B. A compact peak is low on
       both sides in every direction; a ridge (a stroke's or oriented noise's spectrum) is
       high on both sides along itself, a slope or a ring (pink or band-pass noise) along its
       tangent, and a slope's or a ridge's in-band bins are not the local maximum. Measured
       (docs/quality.md, "A dot-grid measure"): irregular textures and the clean crops at most
       3.6 in a 9-tile region, one region in 147 of oriented noise 7.4, one region of the
       Tübingen photo's sky 5.1; the crops with a visible grid 8.6-25, synthetic grids 19-200.
    5. The bins within 2 of a peak (5x5, the main lobe) give the excess
       E = sum (S(f) - B(peak))^+; ``amplitude`` = sqrt(mean of E over the regions), the
       RMS of the grid in luminance units (a dot grid of RMS a gives a), ``fraction`` = the sum
       of E over the sum of the band's power, ``peak`` the largest P / B of any region.

    Smooth stripes and broad strokes (period 16 px and more) have their power below the band.
    Hard-edged stripes have harmonics: of period 16-32 px they fall on a line 2 bins or less
    apart, which the local-maximum test drops (scored 0); of period 8-12 px their 3rd and 5th
    harmonics (periods 1.6-4 px) are real, regular fine structure and are counted at their RMS
    (0.44 of an 8 px square wave's). A flat picture gives 0.
    """
    if photo is not None and picture.shape[-2:] != photo.shape[-2:]:
        raise ValueError(f"picture {tuple(picture.shape)} and photo {tuple(photo.shape)} differ in size")
    detail = _gaussian_residual(luminance(picture))
    height, width = detail.shape
    corners = [(top, left) for top in range(margin, height - margin - region + 1, region // 2)
               for left in range(margin, width - margin - region + 1, region // 2)]  # fmt: skip
    if not corners:
        raise ValueError(f"the picture is too small for a {region} px region and a {margin} px margin")
    if photo is not None:
        busy = _gaussian_residual(luminance(photo)).pow(2)
        corners.sort(key=lambda c: float(busy[c[0] : c[0] + region, c[1] : c[1] + region].mean()))
        corners = corners[: max(1, round(keep * len(corners)))]
    window = torch.hann_window(tile, periodic=True, device=detail.device)
    window = window.outer(window)
    steps = range(0, region - tile + 1, tile // 2)
    excess = total = peak = 0.0
    for top, left in corners:
        power = torch.zeros(tile, tile, device=detail.device)
        for dy in steps:
            for dx in steps:
                patch = detail[top + dy : top + dy + tile, left + dx : left + dx + tile]
                power += torch.fft.fft2((patch - patch.mean()) * window).abs().pow(2)
        power /= len(steps) ** 2 * tile * tile * float(window.pow(2).sum())
        found = _grid_in_spectrum(power)
        excess, total, peak = excess + found[0], total + found[1], max(peak, found[2])
    return DotGrid(
        amplitude=(excess / len(corners)) ** 0.5,
        fraction=excess / total if total > 0 else 0.0,
        peak=peak,
        regions=len(corners),
        tiles=len(corners) * len(steps) ** 2,
    )
