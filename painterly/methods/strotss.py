"""STROTSS: style by relaxed optimal transport, content by self-similarity (Kolkin, Salavon and
Shakhnarovich, CVPR 2019, "Style Transfer by Relaxed Optimal Transport and Self-Similarity").

The picture and the painting are compared as sets of hypercolumns: at a position, the RGB value
and the activations of relu1_1, 1_2, 2_1, 2_2, 3_1, 3_2, 3_3, 4_3 and 5_3 (VGG-16), read
bilinearly at that position (:func:`~painterly.methods.features.sample_hypercolumns`; 2179
numbers on VGG-16). Each evaluation draws 1024 positions of the picture afresh (from a grid of
about 128 x 128 positions with a random offset); the painting's 5000 vectors are drawn once per
scale. With X the picture's vectors, Y the painting's, C_ij = 1 - cos(X_i, Y_j):

- style, the relaxed earth mover's distance: REMD(X, Y) = max(mean_i min_j C_ij, mean_j min_i C_ij),
  each vector moved to its nearest neighbour, in both directions (the larger of the two bounds
  the true transport cost from below);
- moments: l_m = mean_k |mu_X,k - mu_Y,k| + mean_kl |Sigma_X,kl - Sigma_Y,kl| (mean and covariance
  of the vectors), which REMD, blind to magnitudes, cannot see;
- palette: REMD on the RGB part alone, in YUV, with cost cosine + Euclidean distance, weighted
  1 / max(content weight, 1);
- content, self-similarity: with D^X_ij = 1 - cos(X_i, X_j) among the picture's vectors and D^P
  the photo's at the same positions, each column divided by its sum,
  L_content = (1/n) sum_ij |D^X_ij / sum_k D^X_kj - D^P_ij / sum_k D^P_kj|
  (the reference's mean times n): the picture keeps the photo's *relations* between places, not
  its features, so its textures are free to be the painting's.

The objective is (w L_content + REMD + l_m + palette) / (w + 2), with w = 16 x ``content_weight``
at the coarsest scale, halved at each finer one: the terms "content" (lambda = w / (w + 2)) and
"style" (lambda = 1 / (w + 2), REMD + l_m + palette). The schedule
(:mod:`painterly.methods`): long sides 64, 128, ... up to ``size``, RMSprop on a 5-level Laplacian
pyramid at a step of 2e-3 (1e-3 at the last scale), each scale started from the coarser result
upsampled plus the photo's finest band (the first from the painting's mean colour plus that band).
Written from the paper and the reference code (nkolkin13/STROTSS); not a copy of it.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from painterly.image import image_size, resize
from painterly.methods.features import (
    cosine_distances,
    euclidean_distances,
    random_positions,
    sample_hypercolumns,
)
from painterly.options import MIN_SIDE
from painterly.terms.base import Term, TermContext
from painterly.terms.style import painting_size

#: The hypercolumn's layers after the RGB value (the reference's VGG-16 indices 1, 3, 6, 8, 11, 13, 15, 22, 29).
LAYERS = ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu4_3", "relu5_3")
#: The picture's positions per evaluation, and the grid (about GRID x GRID positions) they are drawn from.
SAMPLES = 1024
GRID = 128
#: The painting's vectors, drawn once per scale.
STYLE_SAMPLES = 5000
#: w at the coarsest scale is this times the content_weight option (the reference's command line does so).
CONTENT_SCALE = 16.0
#: RGB to YUV as the reference's palette term has it (an orthonormal basis: luminance first).
YUV = torch.tensor(
    [[0.577350, 0.577350, 0.577350], [-0.577350, 0.788675, -0.211325], [-0.577350, -0.211325, 0.788675]]
)


def product_dtype(context: TermContext) -> torch.dtype | None:
    """bfloat16 for the large products of vectors where the network runs in it, else float32 (None)."""
    return torch.bfloat16 if context.network.runtime.precision == "bf16" else None


def relaxed_emd(distances: torch.Tensor) -> torch.Tensor:
    """REMD = max(mean_i min_j C_ij, mean_j min_i C_ij) of a cost matrix C (n, m)."""
    return torch.maximum(distances.min(dim=1).values.mean(), distances.min(dim=0).values.mean())


def cosine_remd(x: torch.Tensor, y: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """REMD of C = 1 - cos(x_i, y_j) between the rows of ``x`` (n, d) and the constant ``y`` (m, d),
    with the value and gradient of ``relaxed_emd(cosine_distances(x, y))``.

    A minimum's gradient is that of its smallest entry (away from ties), so C is formed without
    gradient (products in ``dtype``) only to find each row's and each column's nearest, and the
    n + m matched distances are formed with it, in float32: the backward pass then costs
    (n + m) d instead of the n m d of the whole matrix (1024 x 5000 x 2179 for every evaluation).
    """
    with torch.no_grad():
        distances = cosine_distances(x.detach(), y, dtype=dtype)
        nearest_y, nearest_x = distances.argmin(dim=1), distances.argmin(dim=0)
    unit_x = x.float() / x.float().norm(dim=1, keepdim=True).clamp_min(1e-8)
    unit_y = y.float() / y.float().norm(dim=1, keepdim=True).clamp_min(1e-8)
    forward = 1.0 - (unit_x * unit_y[nearest_y]).sum(1)  # each picture vector to its nearest painting vector
    backward = 1.0 - (unit_x[nearest_x] * unit_y).sum(1)  # each painting vector to its nearest picture vector
    return torch.maximum(forward.mean(), backward.mean())


def moment_loss(
    x: torch.Tensor, mean: torch.Tensor, covariance: torch.Tensor, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """mean_k |mu_X,k - mean_k| + mean_kl |Sigma_X,kl - covariance_kl| of the rows of ``x`` (n, d)
    (covariance with 1/n; its product in ``dtype``, as for :func:`cosine_distances`)."""
    mu = x.mean(0)
    centred = x - mu if dtype is None else (x - mu).to(dtype)
    sigma = (centred.T @ centred).float() / len(x)
    return (mu - mean).abs().mean() + (sigma - covariance).abs().mean()


def palette_loss(x_rgb: torch.Tensor, y_rgb: torch.Tensor) -> torch.Tensor:
    """REMD between two sets of RGB rows in YUV, with cost cosine + Euclidean distance."""
    yuv = YUV.to(x_rgb.device)
    x, y = x_rgb @ yuv.T, y_rgb @ yuv.T
    return relaxed_emd(cosine_distances(x, y) + euclidean_distances(x, y))


def self_similarity_loss(x: torch.Tensor, photo: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """(1/n) sum_ij |D^X_ij / sum_k D^X_kj - D^P_ij / sum_k D^P_kj|, D = 1 - cos among the rows of
    ``x`` and of ``photo`` (n, d) at the same positions (the reference's mean times n)."""
    dx, dp = cosine_distances(x, x, dtype=dtype), cosine_distances(photo, photo, dtype=dtype)
    dx = dx / dx.sum(0, keepdim=True).clamp_min(1e-8)
    dp = dp / dp.sum(0, keepdim=True).clamp_min(1e-8)
    return (dx - dp).abs().sum() / len(x)


def hypercolumn_maps(features: Mapping[str, torch.Tensor], image: torch.Tensor) -> list[torch.Tensor]:
    """The maps a hypercolumn reads: the image's RGB, then :data:`LAYERS`."""
    return [image, *(features[layer] for layer in LAYERS)]


@dataclass(eq=False)
class Hypercolumns:
    """The picture's and the photo's vectors at this evaluation's positions, shared by the two terms.

    The first term called with a new set of activations draws the positions (inside the picture,
    not its margin); the second finds them cached (the cache knows the activations by a weak
    reference, so it never keeps them alive)."""

    photo_maps: list[torch.Tensor]
    inner: tuple[int, int, int, int]  # top, left, height, width of the picture on the canvas
    generator: torch.Generator
    _seen: weakref.ref | None = field(default=None, repr=False)
    _vectors: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)

    def vectors(self, features: Mapping[str, torch.Tensor], image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(picture's, photo's) vectors (SAMPLES, d) at this evaluation's positions."""
        key = features[LAYERS[0]]
        if self._seen is not None and self._seen() is key and self._vectors is not None:
            return self._vectors
        top, left, height, width = self.inner
        stride = max(1, math.floor(math.sqrt(height * width / GRID**2)))
        positions = random_positions(height, width, SAMPLES, self.generator, stride=stride)
        positions = (positions + torch.tensor([top, left])).to(image.device)
        size = image_size(image)
        picture = sample_hypercolumns(hypercolumn_maps(features, image), positions, size)
        photo = sample_hypercolumns(self.photo_maps, positions, size)
        self._seen, self._vectors = weakref.ref(key), (picture, photo)
        return picture, photo


@dataclass(frozen=True, eq=False)
class StrotssContentTerm:
    """L_content: the self-similarity loss of this evaluation's positions (:func:`self_similarity_loss`)."""

    columns: Hypercolumns
    weight: float
    name: str = "content"
    dtype: torch.dtype | None = None  # of the products of vectors (product_dtype)

    def __call__(self, features: Mapping[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        picture, photo = self.columns.vectors(features, image)
        return self_similarity_loss(picture, photo, self.dtype)


@dataclass(frozen=True, eq=False)
class StrotssStyleTerm:
    """REMD + l_m + palette_weight x palette against the painting's vectors ``style`` (m, d)."""

    columns: Hypercolumns
    style: torch.Tensor
    mean: torch.Tensor
    covariance: torch.Tensor
    palette_weight: float
    weight: float
    name: str = "style"
    dtype: torch.dtype | None = None  # of the products of vectors (product_dtype)

    def __call__(self, features: Mapping[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        picture, _ = self.columns.vectors(features, image)
        remd = cosine_remd(picture, self.style, self.dtype)
        moments = moment_loss(picture, self.mean, self.covariance, self.dtype)
        return remd + moments + self.palette_weight * palette_loss(picture[:, :3], self.style[:, :3])


def content_weight_at(content_weight: float, index: int) -> float:
    """w at scale ``index`` (1-based): 16 x ``content_weight``, halved at each finer scale."""
    return CONTENT_SCALE * content_weight / 2 ** (index - 1)


def build_terms(context: TermContext) -> list[Term]:
    """The content and style terms at this scale: the painting's vectors drawn once, the photo's
    maps kept for the positions each evaluation draws."""
    stage, canvas = context.stage, context.canvas
    assert stage is not None, "STROTSS builds its terms for a stage of its schedule"
    painting = context.paintings[0]
    long_side = max(MIN_SIDE, round(context.weights.style_scale * max(canvas.inner)))
    scaled = resize(painting, painting_size(*image_size(painting), long_side)).to(context.network.runtime.device)
    painting_maps = hypercolumn_maps(context.network(scaled), scaled)
    height, width = image_size(scaled)
    positions = random_positions(height, width, STYLE_SAMPLES, stage.generator).to(scaled.device)
    style = sample_hypercolumns(painting_maps, positions, (height, width))
    centred = style - style.mean(0)
    covariance = centred.T @ centred / len(style)
    photo_maps = [maps.detach() for maps in hypercolumn_maps(context.photo_features, stage.photo)]
    columns = Hypercolumns(photo_maps, (canvas.margin, canvas.margin, *canvas.inner), stage.generator)
    w, dtype = content_weight_at(context.weights.content_weight, stage.index), product_dtype(context)
    return [
        StrotssContentTerm(columns, w / (w + 2), dtype=dtype),
        StrotssStyleTerm(columns, style, style.mean(0), covariance, 1.0 / max(w, 1.0), 1.0 / (w + 2), dtype=dtype),
    ]


def first_image(photo: torch.Tensor, painting: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The first scale's start: the painting's mean colour plus the photo's finest band."""
    mean = painting.mean(dim=(-2, -1), keepdim=True)
    return (mean + finest_band(resize(photo, size))).clamp(0, 1)


def finest_band(image: torch.Tensor) -> torch.Tensor:
    """The finest band of a Laplacian pyramid: the image minus its half-size copy upsampled."""
    height, width = image_size(image)
    half = torch.nn.functional.interpolate(image, size=(max(1, height // 2), max(1, width // 2)), mode="bilinear")
    return image - torch.nn.functional.interpolate(half, size=(height, width), mode="bilinear")


def next_image(previous: torch.Tensor, photo: torch.Tensor, size: tuple[int, int], last: bool) -> torch.Tensor:
    """A finer scale's start: the coarser result upsampled, plus the photo's finest band except at the last."""
    upsampled = torch.nn.functional.interpolate(previous, size=size, mode="bilinear")
    return upsampled if last else (upsampled + finest_band(resize(photo, size))).clamp(0, 1)


__all__: Sequence[str] = [
    "LAYERS",
    "Hypercolumns",
    "StrotssContentTerm",
    "StrotssStyleTerm",
    "build_terms",
    "content_weight_at",
    "cosine_remd",
    "first_image",
    "moment_loss",
    "next_image",
    "palette_loss",
    "relaxed_emd",
    "self_similarity_loss",
]
