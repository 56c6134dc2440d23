"""The picture-quality measures and the box-constrained L-BFGS (issue 12)."""

from __future__ import annotations

import math

import pytest
import torch

from painterly.optimize import optimize_image
from painterly.quality import border_ratio, edge_bands, flattest_tiles, laplacian, ripple
from painterly.terms import LossValues


def smooth_photo(height: int = 96, width: int = 128) -> torch.Tensor:
    y = torch.linspace(0, 1, height).view(-1, 1).expand(height, width)
    x = torch.linspace(0, 1, width).view(1, -1).expand(height, width)
    return torch.stack([0.3 + 0.4 * x, 0.5 * y + 0.2, 0.6 - 0.3 * x * y]).unsqueeze(0)


def test_laplacian_by_hand() -> None:
    image = torch.zeros(1, 3, 3, 3)
    image[..., 1, 1] = 1.0
    assert laplacian(image).item() == pytest.approx(4.0, rel=1e-6)


def test_border_ratio_is_one_for_the_photo_and_grows_with_a_frame() -> None:
    generator = torch.Generator().manual_seed(0)
    photo = (smooth_photo() + 0.05 * torch.rand(1, 3, 96, 128, generator=generator)).clamp(0, 1)
    assert border_ratio(photo, photo) == pytest.approx(1.0)
    framed = photo.clone()
    noise = 0.3 * torch.rand(1, 3, 96, 128, generator=generator)
    framed[..., :8, :] += noise[..., :8, :]
    framed[..., -8:, :] += noise[..., -8:, :]
    assert border_ratio(framed.clamp(0, 1), photo) > 2.0


def test_edge_bands_find_the_side_with_a_frame_and_ignore_a_calm_edge() -> None:
    generator = torch.Generator().manual_seed(0)
    photo = smooth_photo()
    photo[..., 28:68, 28:100] += 0.2 * torch.rand(1, 3, 40, 72, generator=generator)  # busy inside, calm edges
    photo = photo.clamp(0, 1)
    assert edge_bands(photo, photo).worst == pytest.approx(1.0)
    textured = photo + 0.2 * torch.rand(1, 3, 96, 128, generator=generator)  # the same texture everywhere
    sides = edge_bands(textured.clamp(0, 1), photo)
    assert border_ratio(textured.clamp(0, 1), photo) > 1.2  # the whole-interior measure calls it a frame
    assert sides.worst == pytest.approx(1.0, abs=0.15)  # this one does not
    framed = photo.clone()
    framed[..., :, -8:] += 0.3 * torch.rand(1, 3, 96, 8, generator=generator)
    sides = edge_bands(framed.clamp(0, 1), photo)
    assert sides.right > 2.0 and sides.worst == sides.right
    assert sides.left == pytest.approx(1.0, abs=1e-6)  # untouched; top and bottom share the right corners
    assert sides.right > 2 * max(sides.top, sides.bottom)


def test_ripple_tells_a_regular_pattern_from_irregular_texture() -> None:
    photo = smooth_photo()
    height, width = photo.shape[-2:]
    y = torch.arange(height).view(-1, 1).float()
    x = torch.arange(width).view(1, -1).float()
    regular = (photo + 0.05 * torch.sin(2 * math.pi * (x / 6 + y / 9))).clamp(0, 1)
    noise = torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(1))
    irregular = (photo + 0.05 * noise).clamp(0, 1)
    regular_found, irregular_found = ripple(regular, photo), ripple(irregular, photo)
    assert regular_found.peak > 5 * irregular_found.peak
    assert regular_found.energy > 0.01 and ripple(photo, photo).energy < 1e-3


def test_flattest_tiles_avoid_the_busy_half() -> None:
    photo = smooth_photo()
    photo[..., :, 64:] += 0.2 * torch.rand(1, 3, 96, 64, generator=torch.Generator().manual_seed(2))
    (_, left), *_ = flattest_tiles(photo, count=2)
    assert left + 48 <= 64


def test_bounds_inside_optimises_the_loss_of_the_clamped_image() -> None:
    """The minimum of |x - target|^2 lies outside 0..1: "inside" ends at the clamped target, and the
    loss it reports is the loss of the image it returns; "after" reports an unclamped loss."""
    target = torch.tensor([1.7, -0.4, 0.3, 0.9, 2.0, -3.0]).view(1, 1, 2, 3)
    seen: list[torch.Tensor] = []

    def objective(image: torch.Tensor) -> LossValues:
        seen.append(image.detach().clone())
        loss = (image - target).pow(2).sum()
        return LossValues(content=loss, style=torch.zeros(()), total=loss)

    inside = optimize_image(torch.full((1, 1, 2, 3), 0.5), objective, optimizer="lbfgs", learning_rate=1.0,
                            evaluations=30, bounds="inside")  # fmt: skip
    assert all(bool(((image >= 0) & (image <= 1)).all()) for image in seen)
    assert torch.allclose(inside.best_image, target.clamp(0, 1), atol=1e-4)
    assert inside.best_terms is not None
    assert float(inside.best_terms.total) == pytest.approx(float((inside.best_image - target).pow(2).sum()), rel=1e-5)
    seen.clear()
    after = optimize_image(torch.full((1, 1, 2, 3), 0.5), objective, optimizer="lbfgs", learning_rate=1.0,
                           evaluations=30, bounds="after")  # fmt: skip
    assert any(bool(((image < 0) | (image > 1)).any()) for image in seen)
    assert after.best_terms is not None and float(after.best_terms.total) < 1e-6


@pytest.mark.parametrize("padding", ["reflect", "replicate"])
def test_padding_modes_paint_a_picture_of_their_own(tiny_weights, small_images, padding: str) -> None:
    from painterly import stylize

    content, style = small_images
    options = {"weights": str(tiny_weights), "size": 32, "iterations": 4, "precision": "fp32", "device": "cpu"}
    zeros = stylize(content, style, padding="zeros", **options)
    other = stylize(content, style, padding=padding, **options)
    assert other.settings["padding"] == padding
    assert torch.isfinite(other.image).all() and not torch.equal(zeros.image, other.image)


def test_bounds_inside_reports_the_loss_of_the_returned_picture(tiny_weights, small_images) -> None:
    """With the default bounds the final losses are those of the picture returned (in range);
    with "after" they are those of an unclamped iterate, which the returned picture does not have."""
    from painterly import options, stylize
    from painterly.image import load_image
    from painterly.models.weights import load_weights_file
    from painterly.network import Network
    from painterly.objective import Objective
    from painterly.runtime import resolve_runtime
    from painterly.terms import TermWeights

    content, style = small_images
    chosen = {"weights": str(tiny_weights), "size": 32, "iterations": 12, "precision": "fp32", "device": "cpu",
              "scales": 1, "style_weight": 1e7, "learning_rate": 5.0, "margin": 0}  # fmt: skip
    settings = options.validate(chosen)
    network = Network(load_weights_file(str(tiny_weights)), [*settings["content_layers"], *settings["style_layers"]],
                      resolve_runtime("cpu", "fp32"))  # fmt: skip
    terms = TermWeights.from_settings(network, settings, blend=(1.0,))
    for bounds, same in (("inside", True), ("after", False)):
        result = stylize(content, style, bounds=bounds, **chosen)
        objective = Objective(network, terms, load_image(content), [load_image(style)], tuple(result.image.shape[-2:]))
        with torch.no_grad():
            scored = float(objective(result.image).total)
        assert (scored == pytest.approx(result.final_losses["total"], rel=1e-4)) is same, bounds
