"""NNST: Neural Neighbor Style Transfer (Kolkin, Kucera, Paris, Sykora, Shechtman and
Shakhnarovich, 2022).

Each position's features are *replaced* by the painting's nearest features, and the picture is
optimised until the network sees those replacements. A hypercolumn here is relu1_1 ... relu4_3
of VGG-16 (ten layers), each layer divided by its channel count (so that wide layers do not
dominate the cosine), resized bilinearly to a quarter of the image's sides and concatenated
(:func:`dense_hypercolumns`). At each scale of the schedule (:mod:`painterly.methods`):

1. the query image is q = (1 - p) e + p c, with c the photo, e the scale's start image with the
   photo's finest band, and p the ``content_preservation`` option (p = 1 at the first scale: the
   photo alone);
2. each of q's hypercolumns is replaced by its nearest neighbour among the painting's, by centred
   cosine distance (both sets centred on their own mean), the painting and its rotations by 90,
   180 and 270 degrees (more choices to match the photo's structures);
   :func:`~painterly.methods.features.nearest_neighbours` computes the distances in chunks;
3. the picture (Adam on a Laplacian pyramid, step 2e-3) minimises L = mean_i (1 - cos(F_i, T_i))
   between its hypercolumns F and those targets T.

A final pass at full size matches each layer on its own ("feature splitting"): at every
evaluation, for every layer, the picture's and the painting's activations read on the same
grid of every s-th position with a random offset (s = the layer's long side // 64, so at most
about 64 x 64 positions), L = sum_l mean_i min_j D_ij with D the centred cosine distance from the
picture's vector i to the painting's j: the nearest neighbour is searched anew at every step.

The result is coloured like the reference's: in OkLab, its lightness is kept (within the
painting's range) and its chroma is the photo's, matched to the painting's chroma mean and
covariance (ZCA) and smoothed by a bilateral filter guided by the lightness
(:func:`match_colours`). Written from the paper and the reference code
(nkolkin13/NeuralNeighborStyleTransfer); not a copy of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from painterly.image import image_size, resize
from painterly.methods.features import nearest_distances, nearest_neighbours
from painterly.methods.strotss import finest_band, product_dtype
from painterly.options import MIN_SIDE
from painterly.terms.base import Term, TermContext
from painterly.terms.style import painting_size

LAYERS = (
    "relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu4_1", "relu4_2", "relu4_3",
)  # fmt: skip
#: The final pass reads each layer on a grid of at most about SPLIT_SIDE x SPLIT_SIDE positions.
SPLIT_SIDE = 64


def dense_hypercolumns(features: Mapping[str, torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    """(1, C, H // 4, W // 4): each layer divided by its channel count, resized bilinearly (corners
    aligned) to a quarter of the image's ``size`` and concatenated, float32."""
    height, width = max(1, size[0] // 4), max(1, size[1] // 4)
    maps = [
        F.interpolate(features[layer].float() / features[layer].shape[1], size=(height, width), mode="bilinear",
                      align_corners=True)
        for layer in LAYERS
    ]  # fmt: skip
    return torch.cat(maps, dim=1)


def rows(maps: torch.Tensor) -> torch.Tensor:
    """(H W, C) rows of a (1, C, H, W) map."""
    return maps[0].flatten(1).T


def rotations(image: torch.Tensor) -> list[torch.Tensor]:
    """The image turned by 0, 90, 180 and 270 degrees."""
    return [torch.rot90(image, turns, dims=(-2, -1)) for turns in range(4)]


def style_rows(context: TermContext) -> torch.Tensor:
    """The painting's hypercolumns, and its rotations', as rows (m, C)."""
    painting = _scaled_painting(context)
    found = []
    with torch.no_grad():
        for turned in rotations(painting):
            found.append(rows(dense_hypercolumns(context.network(turned), image_size(turned))))
    return torch.cat(found)


def _scaled_painting(context: TermContext) -> torch.Tensor:
    painting = context.paintings[0]
    long_side = max(MIN_SIDE, round(context.weights.style_scale * max(context.canvas.inner)))
    return resize(painting, painting_size(*image_size(painting), long_side)).to(context.network.runtime.device)


@dataclass(frozen=True, eq=False)
class NeighbourTerm:
    """L = mean_i (1 - cos(F_i, T_i)) against the unit target hypercolumns ``targets`` (1, C, h, w)."""

    targets: torch.Tensor
    weight: float = 1.0
    name: str = "style"

    def __call__(self, features: Mapping[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        current = dense_hypercolumns(features, image_size(image))
        unit = current / current.norm(dim=1, keepdim=True).clamp_min(1e-8)
        return (1.0 - (unit * self.targets).sum(1)).mean()

    @classmethod
    def build(cls, context: TermContext) -> NeighbourTerm:
        """The targets: the query image's hypercolumns replaced by their nearest painting hypercolumns."""
        stage = context.stage
        assert stage is not None, "NNST builds its terms for a stage of its schedule"
        share = 1.0 if stage.index == 1 else context.weights.content_preservation
        extracted = stage.start - finest_band(stage.start) + finest_band(stage.photo)
        query = (1.0 - share) * extracted + share * stage.photo
        with torch.no_grad():
            maps = dense_hypercolumns(context.network(query), image_size(query))
            reference = style_rows(context)
            chosen = reference[nearest_neighbours(rows(maps), reference, dtype=product_dtype(context))]
        targets = chosen.T.reshape(maps.shape)
        return cls(targets / targets.norm(dim=1, keepdim=True).clamp_min(1e-8))


@dataclass(frozen=True, eq=False)
class SplitNeighbourTerm:
    """The final pass: L = sum_l mean_i min_j D_ij per layer, on a random grid drawn each evaluation
    (the painting's activations per layer ``style``, its rotations turned back and stacked)."""

    style: Mapping[str, torch.Tensor]
    generator: torch.Generator
    weight: float = 1.0
    name: str = "style"
    dtype: torch.dtype | None = None  # of the products of vectors (strotss.product_dtype)

    def __call__(self, features: Mapping[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        total = torch.zeros((), device=image.device)
        for layer in LAYERS:
            current, painting = features[layer][0].float(), self.style[layer]
            stride = max(1, max(current.shape[-2:]) // SPLIT_SIDE)
            row, column = (int(offset) for offset in torch.randint(stride, (2,), generator=self.generator))
            picked = current[:, row::stride, column::stride].flatten(1).T
            reference = painting[:, row::stride, column::stride].flatten(1).T
            total = total + nearest_distances(picked, reference, dtype=self.dtype).mean()
        return total

    @classmethod
    def build(cls, context: TermContext) -> SplitNeighbourTerm:
        """The painting's activations at each layer, with its rotations' turned back and stacked below."""
        stage = context.stage
        assert stage is not None, "NNST builds its terms for a stage of its schedule"
        painting = _scaled_painting(context)
        stacked: dict[str, list[torch.Tensor]] = {layer: [] for layer in LAYERS}
        with torch.no_grad():
            for turns, turned in enumerate(rotations(painting)):
                features = context.network(turned)
                for layer in LAYERS:
                    back = torch.rot90(features[layer][0].float(), -turns, dims=(-2, -1))
                    stacked[layer].append(back)
        style = {layer: _stack_rows(maps) for layer, maps in stacked.items()}
        return cls(style, stage.generator, dtype=product_dtype(context))


def _stack_rows(maps: list[torch.Tensor]) -> torch.Tensor:
    """(C, sum h, w): maps of (nearly) the same size stacked along their rows, cropped to the narrowest."""
    width = min(item.shape[-1] for item in maps)
    return torch.cat([item[..., :width] for item in maps], dim=1)


def build_terms(context: TermContext) -> list[Term]:
    """The scale's term: neighbour targets at the ladder's scales, feature splitting at the final pass."""
    stage = context.stage
    assert stage is not None, "NNST builds its terms for a stage of its schedule"
    if stage.index == stage.count:
        return [SplitNeighbourTerm.build(context)]
    return [NeighbourTerm.build(context)]


# --- colour ------------------------------------------------------------------------------------------

_TO_LMS = torch.tensor(
    [[0.4121656120, 0.5362752080, 0.0514575653], [0.2118591070, 0.6807189584, 0.1074065790],
     [0.0883097947, 0.2818474174, 0.6302613616]]
)  # fmt: skip
_TO_LAB = torch.tensor(
    [[0.2104542553, 0.7936177850, -0.0040720468], [1.9779984951, -2.4285922050, 0.4505937099],
     [0.0259040371, 0.7827717662, -0.8086757660]]
)  # fmt: skip


def to_oklab(image: torch.Tensor) -> torch.Tensor:
    """OkLab (Ottosson 2020) of an RGB image in 0..1, its values taken as linear (as the reference does)."""
    lms = torch.einsum("ij,bjhw->bihw", _TO_LMS.to(image.device), image.clamp(0, 1)).clamp_min(0) ** (1 / 3)
    return torch.einsum("ij,bjhw->bihw", _TO_LAB.to(image.device), lms)


def from_oklab(lab: torch.Tensor) -> torch.Tensor:
    """The RGB image in 0..1 of an OkLab image (the inverse of :func:`to_oklab`, then clamped)."""
    lms = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_TO_LAB).to(lab.device), lab) ** 3
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_TO_LMS).to(lab.device), lms).clamp(0, 1)


def _moments(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = values[0].flatten(1)
    mean = flat.mean(1, keepdim=True)
    centred = flat - mean
    return mean, centred @ centred.T / flat.shape[1]


def _symmetric_power(matrix: torch.Tensor, power: float) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix + 1e-4 * torch.eye(len(matrix), device=matrix.device))
    return vectors @ torch.diag(values.clamp_min(1e-8) ** power) @ vectors.T


def match_moments(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``source`` (1, C, H, W) with the mean and covariance of ``target``: ZCA whitening, then colouring."""
    source_mean, source_cov = _moments(source)
    target_mean, target_cov = _moments(target)
    transform = _symmetric_power(target_cov, 0.5) @ _symmetric_power(source_cov, -0.5)
    flat = transform @ (source[0].flatten(1) - source_mean) + target_mean
    return flat.reshape(source.shape)


def guided_smoothing(chroma: torch.Tensor, lightness: torch.Tensor, rounds: int = 5) -> torch.Tensor:
    """``chroma`` averaged over each 3 x 3 neighbourhood, ``rounds`` times, each neighbour weighted by
    exp(-10 |L - L_neighbour|) of the ``lightness`` (a bilateral filter: colour stops at edges)."""
    height, width = image_size(chroma)

    def neighbours(image: torch.Tensor) -> list[torch.Tensor]:
        padded = F.pad(image, (1, 1, 1, 1), mode="replicate")
        return [padded[..., i : i + height, j : j + width] for i in range(3) for j in range(3)]

    weights = [torch.exp(-10.0 * (lightness - near).abs()) for near in neighbours(lightness)]
    total = sum(weights[1:], start=weights[0])
    for _ in range(rounds):
        moved = (w * near for w, near in zip(weights, neighbours(chroma), strict=True))
        chroma = sum(moved, start=torch.zeros_like(chroma)) / total
    return chroma


def match_colours(photo: torch.Tensor, painting: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """The reference's colour step: the picture's OkLab lightness, the photo's chroma matched to the
    painting's (mean and covariance) and smoothed along the lightness; every channel kept within
    the painting's range. A painting without chroma (grey) recolours the picture's own instead."""
    photo_lab, painting_lab = to_oklab(resize(photo, image_size(image))), to_oklab(painting)
    lab = to_oklab(image)
    low = painting_lab.amin(dim=(0, 2, 3)).view(1, 3, 1, 1)
    high = painting_lab.amax(dim=(0, 2, 3)).view(1, 3, 1, 1)
    lightness = torch.maximum(torch.minimum(lab[:, :1], high[:, :1]), low[:, :1])
    if _moments(painting_lab[:, 1:])[1].abs().max() < 6e-5:
        result = match_moments(torch.cat([lightness, lab[:, 1:]], 1), painting_lab)
    else:
        chroma = guided_smoothing(match_moments(photo_lab[:, 1:], painting_lab[:, 1:]), lightness)
        result = torch.cat([lightness, chroma], 1)
    return from_oklab(torch.maximum(torch.minimum(result, high), low))


__all__: Sequence[str] = [
    "LAYERS",
    "NeighbourTerm",
    "SplitNeighbourTerm",
    "build_terms",
    "dense_hypercolumns",
    "match_colours",
    "match_moments",
    "rotations",
    "to_oklab",
]
