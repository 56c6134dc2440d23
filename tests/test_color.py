"""Colour control against its formulas: YIQ, luminance matching, linear colour transfer, original colours."""

from __future__ import annotations

import pytest
import torch

from painterly import stylize
from painterly.color import (
    ColorControl,
    color_statistics,
    combine_luminance_and_chroma,
    grey,
    linear_transfer_matrix,
    luminance,
    match_luminance,
    rgb_to_yiq,
    transfer_color,
    yiq_to_rgb,
)
from painterly.image import load_image, resize


def correlated_image(seed: int, height: int = 20, width: int = 24, *, mean=(0.5, 0.4, 0.6), spread=0.12):
    """Pixels with a full-rank, correlated colour covariance, mostly inside 0..1."""
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(3, 3, generator=generator, dtype=torch.float64) * spread / 2
    noise = torch.randn(3, height * width, generator=generator, dtype=torch.float64)
    pixels = mixing @ noise + torch.tensor(mean, dtype=torch.float64)[:, None]
    return pixels.reshape(1, 3, height, width).float()


def test_yiq_round_trip_and_luma_weights() -> None:
    image = torch.rand(1, 3, 5, 7)
    assert torch.allclose(yiq_to_rgb(rgb_to_yiq(image)), image, atol=1e-6)
    r, g, b = image[:, 0], image[:, 1], image[:, 2]
    assert torch.allclose(luminance(image)[:, 0], 0.299 * r + 0.587 * g + 0.114 * b, atol=1e-6)
    white = torch.ones(1, 3, 1, 1)
    assert torch.allclose(rgb_to_yiq(white).flatten(), torch.tensor([1.0, 0.0, 0.0]), atol=1e-5)


def test_grey_has_equal_channels_equal_to_luminance() -> None:
    image = torch.rand(1, 3, 4, 4)
    g = grey(image)
    assert torch.equal(g[:, 0], g[:, 1]) and torch.equal(g[:, 1], g[:, 2])
    assert torch.allclose(g[:, :1], luminance(image), atol=1e-6)


def test_luminance_matching_gives_the_targets_mean_and_spread() -> None:
    style = correlated_image(1, mean=(0.3, 0.35, 0.3), spread=0.05)
    photo = correlated_image(2, 30, 18, mean=(0.55, 0.5, 0.5), spread=0.1)
    matched = match_luminance(style, photo)
    assert (matched > 0).all() and (matched < 1).all()  # no clamping happened, so the formula is exact
    got, want = luminance(matched).double(), luminance(photo).double()
    assert got.mean().item() == pytest.approx(want.mean().item(), abs=1e-5)
    assert got.std().item() == pytest.approx(want.std().item(), rel=1e-4)
    assert torch.equal(matched[:, 0], matched[:, 2])  # grey: R = G = B


def test_combining_keeps_the_chroma_exactly_in_yiq() -> None:
    stylised = torch.rand(1, 3, 6, 8)
    photo = torch.rand(1, 3, 6, 8)
    combined = combine_luminance_and_chroma(stylised, photo, clamp=False)
    assert torch.allclose(rgb_to_yiq(combined)[:, 1:], rgb_to_yiq(photo)[:, 1:], atol=1e-6)
    assert torch.allclose(rgb_to_yiq(combined)[:, :1], luminance(stylised), atol=1e-6)


@pytest.mark.parametrize("method", ["pca", "cholesky", "symmetric"])
def test_linear_transfer_matches_mean_and_covariance(method) -> None:
    source = correlated_image(3, mean=(0.2, 0.5, 0.4))
    target = correlated_image(4, 16, 30, mean=(0.6, 0.45, 0.3))
    result = transfer_color(source, target, method, clamp=False, epsilon=0.0)
    got_mean, got_covariance = color_statistics(result)
    want_mean, want_covariance = color_statistics(target)
    assert torch.allclose(got_mean, want_mean, atol=1e-5)
    assert torch.allclose(got_covariance, want_covariance, atol=1e-6, rtol=1e-4)
    # the default regularisation and clamping move the statistics only a little
    clamped_mean, clamped_covariance = color_statistics(transfer_color(source, target, method))
    assert torch.allclose(clamped_mean, want_mean, atol=5e-3)
    assert torch.allclose(clamped_covariance, want_covariance, atol=5e-4)


def test_the_palette_start_is_the_photo_at_the_output_size_in_the_paintings_colours() -> None:
    from painterly.initialization import initial_image

    photo = correlated_image(7, mean=(0.3, 0.5, 0.45))  # 20 x 24: the size of the start
    painting = correlated_image(8, 30, 30, mean=(0.55, 0.4, 0.3))
    start = initial_image("palette", photo, painting, 20, 24, torch.Generator())
    assert start.shape == (1, 3, 20, 24)
    start_mean, start_covariance = color_statistics(start)
    want_mean, want_covariance = color_statistics(painting)
    assert torch.allclose(start_mean, want_mean, atol=5e-3)
    assert torch.allclose(start_covariance, want_covariance, atol=5e-4)
    # the photo's picture, not the painting's: each pixel is an affine map of the photo's
    assert torch.equal(start, transfer_color(resize(photo, (20, 24)), painting))


def test_transfer_matrices_have_their_defining_forms() -> None:
    s = color_statistics(correlated_image(5))[1]
    t = color_statistics(correlated_image(6))[1]
    for method in ("pca", "cholesky", "symmetric"):
        a = linear_transfer_matrix(s, t, method)
        assert torch.allclose(a @ s @ a.T, t, atol=1e-10), method
    symmetric = linear_transfer_matrix(s, t, "symmetric")
    assert torch.allclose(symmetric, symmetric.T, atol=1e-10)
    cholesky = linear_transfer_matrix(s, t, "cholesky")
    assert torch.allclose(cholesky, cholesky.tril(), atol=1e-12)
    # pca: A = T^(1/2) S^(-1/2), so A S^(1/2) is the symmetric square root of T
    values, vectors = torch.linalg.eigh(s)
    root_s = vectors @ torch.diag(values.sqrt()) @ vectors.T
    root_t = linear_transfer_matrix(s, t, "pca") @ root_s
    assert torch.allclose(root_t, root_t.T, atol=1e-10) and torch.allclose(root_t @ root_t, t, atol=1e-10)


def test_a_greyscale_painting_does_not_divide_by_zero() -> None:
    painting = torch.rand(1, 1, 10, 10).expand(1, 3, 10, 10)
    result = transfer_color(painting, correlated_image(7), "cholesky")
    assert torch.isfinite(result).all()


def test_color_control_prepares_what_the_network_sees() -> None:
    photo, painting = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 6, 9)
    content, (style,) = ColorControl("luminance").prepare(photo, [painting])
    assert torch.allclose(content[:, :1], luminance(photo), atol=1e-6) and torch.equal(content[:, 0], content[:, 1])
    assert torch.equal(style, match_luminance(painting, photo))
    content, (style,) = ColorControl("histogram", "symmetric").prepare(photo, [painting])
    assert torch.equal(content, photo) and torch.equal(style, transfer_color(painting, photo, "symmetric"))
    content, (style,) = ColorControl().prepare(photo, [painting])
    assert content is photo and style is painting


def chroma_matches_photo(result: torch.Tensor, photo_path) -> None:
    """The result's I, Q equal the photo's wherever the recombination did not need clamping."""
    photo = resize(load_image(photo_path), tuple(result.shape[-2:]))
    inside = ((result > 1e-4) & (result < 1 - 1e-4)).all(dim=1, keepdim=True).expand(-1, 2, -1, -1)
    assert inside.float().mean() > 0.5
    difference = (rgb_to_yiq(result)[:, 1:] - rgb_to_yiq(photo)[:, 1:])[inside]
    assert difference.abs().max() < 1e-5


@pytest.mark.parametrize(
    "options",
    [
        {"preserve_color": "luminance"},
        {"original_colors": True},
        {"preserve_color": "luminance", "optimizer": "adam", "weights_preprocessing": "caffe"},
        {"original_colors": True, "optimizer": "adam", "scales": 2, "size": 144},
    ],
)
def test_stylized_output_has_the_photos_chroma(tiny_weights, small_images, options) -> None:
    content, style = small_images
    settings = {"weights": str(tiny_weights), "size": 32, "iterations": 6, "precision": "fp32", "device": "cpu"}
    settings.update(options)
    result = stylize(content, style, **settings)
    chroma_matches_photo(result.image, content)
    plain = stylize(content, style, **{**settings, "preserve_color": "none", "original_colors": False})
    assert not torch.allclose(rgb_to_yiq(plain.image)[:, 1:], rgb_to_yiq(result.image)[:, 1:], atol=1e-3)


def test_histogram_mode_stylises_towards_the_recoloured_painting(tiny_weights, small_images) -> None:
    content, style = small_images
    settings = {"weights": str(tiny_weights), "size": 32, "iterations": 6, "precision": "fp32", "device": "cpu"}
    runs = {
        method: stylize(content, style, preserve_color="histogram", color_transfer=method, **settings).image
        for method in ("pca", "cholesky", "symmetric")
    }
    plain = stylize(content, style, **settings).image
    for image in runs.values():
        assert torch.isfinite(image).all() and not torch.equal(image, plain)
    assert not torch.equal(runs["pca"], runs["cholesky"])
