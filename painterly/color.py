"""Colour control (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer").

All arithmetic here runs on RGB images in 0..1, shape (1, 3, H, W), before any network
preprocessing, so it means the same for every network.

- Luminance-only transfer: style is transferred on the luminance Y of YIQ; the painting's
  luminance is first matched to the photo's mean and spread, and the photo's chroma (I, Q) is put
  back afterwards.
- Linear colour transfer: the painting's pixels are mapped by an affine map so that their mean and
  3x3 covariance become the photo's, before stylising (PCA, Cholesky or symmetric square root).
- Original colours: the finished picture's luminance combined with the photo's chroma.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from painterly.errors import PainterlyError
from painterly.image import image_size, resize

PreserveColor = Literal["none", "luminance", "histogram"]
ColorTransfer = Literal["pca", "cholesky", "symmetric"]
PRESERVE_COLOR_CHOICES: tuple[str, ...] = ("none", "luminance", "histogram")
COLOR_TRANSFER_CHOICES: tuple[str, ...] = ("pca", "cholesky", "symmetric")

#: RGB -> YIQ (FCC NTSC). Y is the luma 0.299 R + 0.587 G + 0.114 B; I and Q carry the chroma.
RGB_TO_YIQ = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ],
    dtype=torch.float64,
)
#: The exact inverse of :data:`RGB_TO_YIQ` (so a round trip is the identity up to float rounding).
YIQ_TO_RGB = torch.linalg.inv(RGB_TO_YIQ)

#: Added to both covariance matrices (in 0..1 RGB units) before square roots and inverses, so that a
#: painting with (nearly) no colour, e.g. a greyscale one, does not divide by zero.
COVARIANCE_EPSILON = 1e-5


def _apply_matrix(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Multiply every pixel's 3-vector of a (N, 3, H, W) image by a 3x3 matrix."""
    if image.dim() != 4 or image.shape[1] != 3:
        raise ValueError(f"expected a (N, 3, H, W) image, got shape {list(image.shape)}")
    return torch.einsum("ij,njhw->nihw", matrix.to(device=image.device, dtype=image.dtype), image)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB -> YIQ, channel 0 the luminance Y (0..1), channels 1-2 the chroma I, Q."""
    return _apply_matrix(RGB_TO_YIQ, image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) YIQ -> RGB (not clamped)."""
    return _apply_matrix(YIQ_TO_RGB, image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """Y of YIQ as a (N, 1, H, W) tensor."""
    return rgb_to_yiq(image)[:, :1]


def grey(image: torch.Tensor) -> torch.Tensor:
    """The luminance repeated in R, G and B: the image the network sees in luminance-only mode."""
    return luminance(image).expand(-1, 3, -1, -1).clamp(0.0, 1.0).contiguous()


def match_luminance(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Grey image of `source` whose luminance has the mean and standard deviation of `target`'s.

    L' = sigma_t / sigma_s * (L_s - mu_s) + mu_t (Gatys et al. 2017, eq. 7), clamped to 0..1.
    """
    source_y = luminance(source).double()
    target_y = luminance(target).double()
    spread = target_y.std() / source_y.std().clamp_min(1e-6)
    matched = (source_y - source_y.mean()) * spread + target_y.mean()
    return matched.to(source.dtype).expand(-1, 3, -1, -1).clamp(0.0, 1.0).contiguous()


def combine_luminance_and_chroma(
    luminance_from: torch.Tensor, chroma_from: torch.Tensor, *, clamp: bool = True
) -> torch.Tensor:
    """RGB image with the Y of `luminance_from` and the I, Q of `chroma_from` (same size).

    Without `clamp` the result has exactly the chroma of `chroma_from` in YIQ; clamping to 0..1
    changes it only where the combination falls outside the RGB cube.
    """
    if luminance_from.shape != chroma_from.shape:
        raise ValueError(f"sizes differ: {list(luminance_from.shape)} and {list(chroma_from.shape)}")
    combined = torch.cat([rgb_to_yiq(luminance_from)[:, :1], rgb_to_yiq(chroma_from)[:, 1:]], dim=1)
    rgb = yiq_to_rgb(combined)
    return rgb.clamp(0.0, 1.0) if clamp else rgb


def color_statistics(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (3,) and covariance (3, 3) of the pixels of a (1, 3, H, W) image, in float64."""
    pixels = image.double().reshape(3, -1)
    mean = pixels.mean(dim=1)
    centred = pixels - mean[:, None]
    return mean, centred @ centred.T / pixels.shape[1]


def _symmetric_power(matrix: torch.Tensor, power: float) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag(values.clamp_min(1e-12) ** power) @ vectors.T


def linear_transfer_matrix(
    source_covariance: torch.Tensor, target_covariance: torch.Tensor, method: ColorTransfer = "pca"
) -> torch.Tensor:
    """The 3x3 matrix A with A S A^T = T for covariances S (source) and T (target).

    - ``pca`` (image analogies): A = T^(1/2) S^(-1/2), square roots by eigendecomposition;
    - ``cholesky``: A = L_T L_S^(-1), L the lower Cholesky factors;
    - ``symmetric`` (the Monge-Kantorovich, i.e. optimal-transport, map):
      A = S^(-1/2) (S^(1/2) T S^(1/2))^(1/2) S^(-1/2), the one symmetric solution.
    """
    if method == "pca":
        return _symmetric_power(target_covariance, 0.5) @ _symmetric_power(source_covariance, -0.5)
    if method == "cholesky":
        source_factor = torch.linalg.cholesky(source_covariance)
        target_factor = torch.linalg.cholesky(target_covariance)
        return target_factor @ torch.linalg.inv(source_factor)
    if method == "symmetric":
        root = _symmetric_power(source_covariance, 0.5)
        inverse_root = _symmetric_power(source_covariance, -0.5)
        return inverse_root @ _symmetric_power(root @ target_covariance @ root, 0.5) @ inverse_root
    raise PainterlyError(f"unknown color-transfer {method!r}; use {', '.join(COLOR_TRANSFER_CHOICES)}")


def transfer_color(
    source: torch.Tensor,
    target: torch.Tensor,
    method: ColorTransfer = "pca",
    *,
    clamp: bool = True,
    epsilon: float = COVARIANCE_EPSILON,
) -> torch.Tensor:
    """`source` recoloured so that its pixels' mean and covariance are those of `target`.

    x' = A (x - mu_S) + mu_T with A from :func:`linear_transfer_matrix` (Gatys et al. 2017,
    section 5.1). Both images are (1, 3, H, W) RGB in 0..1; sizes may differ. `epsilon` is added to
    the diagonal of both covariances. With `clamp` the result is clipped to 0..1, which moves the
    statistics only where the map leaves the RGB cube.
    """
    source_mean, source_covariance = color_statistics(source)
    target_mean, target_covariance = color_statistics(target)
    ridge = epsilon * torch.eye(3, dtype=torch.float64)
    matrix = linear_transfer_matrix(source_covariance + ridge, target_covariance + ridge, method)
    centred = source.double() - source_mean.view(1, 3, 1, 1)
    result = (_apply_matrix(matrix, centred) + target_mean.view(1, 3, 1, 1)).to(source.dtype)
    return result.clamp(0.0, 1.0) if clamp else result


@dataclass(frozen=True)
class ColorControl:
    """What `stylize` does with colour: prepare the images the network sees, then finish the output.

    ``prepare`` runs once on the full-size images; ``finish`` runs on every image handed out (the
    callback's and the result), given the photo at the same size.
    """

    preserve_color: PreserveColor = "none"
    color_transfer: ColorTransfer = "pca"
    original_colors: bool = False

    @property
    def restores_chroma(self) -> bool:
        return self.preserve_color == "luminance" or self.original_colors

    def prepare(
        self, content: torch.Tensor, styles: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The photo and paintings as the network should see them."""
        if self.preserve_color == "luminance":
            return grey(content), [match_luminance(style, content) for style in styles]
        if self.preserve_color == "histogram":
            return content, [transfer_color(style, content, self.color_transfer) for style in styles]
        return content, list(styles)

    def finisher(self, content: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """A function that turns an optimised image (any size) into the picture handed out."""
        if not self.restores_chroma:
            return lambda image: image
        cache: dict[tuple[int, int], torch.Tensor] = {}

        def finish(image: torch.Tensor) -> torch.Tensor:
            size = image_size(image)
            if size not in cache:
                cache[size] = resize(content, size)
            photo = cache[size].to(device=image.device, dtype=image.dtype)
            return combine_luminance_and_chroma(image, photo)

        return finish
