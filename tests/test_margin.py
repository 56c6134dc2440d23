"""The margin optimised around the picture and cropped (painterly.margin, Objective, run_scales)."""

from __future__ import annotations

import pytest
import torch

from painterly import stylize
from painterly.cli import main
from painterly.image import resize
from painterly.margin import Canvas, crop_margin, pad_image, scaled_margin
from painterly.masks import RegionMasks
from painterly.objective import Objective
from painterly.terms import TermWeights
from tests.helpers import tiny_options


def ramp(height: int, width: int) -> torch.Tensor:
    values = torch.arange(height * width * 3, dtype=torch.float32).reshape(1, 3, height, width)
    return values / values.max()


def test_pad_mirrors_the_edge_and_crop_gives_the_picture_back() -> None:
    image = ramp(5, 7)
    padded = pad_image(image, 2)
    assert padded.shape == (1, 3, 9, 11)
    assert torch.equal(crop_margin(padded, 2), image)
    assert torch.equal(padded[..., 2, 0], image[..., 0, 2])  # reflected: column -2 is column 2
    assert torch.equal(padded[..., 0, 2], image[..., 2, 0])


def test_a_side_no_longer_than_the_margin_is_replicated() -> None:
    image = ramp(2, 6)
    padded = pad_image(image, 3)
    assert padded.shape == (1, 3, 8, 12)
    assert torch.equal(padded[..., 0, 3:9], image[..., 0, :])


def test_zero_margin_is_the_image_itself() -> None:
    image = ramp(4, 4)
    assert pad_image(image, 0) is image and crop_margin(image, 0) is image


@pytest.mark.parametrize(("long_side", "expected"), [(512, 16), (256, 8), (128, 4), (20, 1)])
def test_the_margin_scales_with_the_picture_and_is_at_least_one_pixel(long_side: int, expected: int) -> None:
    assert scaled_margin(16, long_side, 512) == expected
    assert scaled_margin(0, long_side, 512) == 0


def test_a_canvas_crops_only_images_of_its_own_size() -> None:
    canvas = Canvas(6, 8, 2)
    assert canvas.size == (10, 12) and canvas.inner == (6, 8)
    image = ramp(10, 12)
    assert torch.equal(canvas.crop(image), image[..., 2:8, 2:10])
    with pytest.raises(ValueError, match=r"expected a canvas of \(10, 12\), got \(6, 8\)"):
        canvas.crop(ramp(6, 8))


def test_the_photo_mirrored_into_the_margin_has_no_content_loss(tiny_network) -> None:
    network, content, style = tiny_network()
    terms = TermWeights(tuple(content), {name: 1.0 / len(style) for name in style}, 1.0, 1.0)
    photo, painting = ramp(40, 52), ramp(30, 30).flip(-1)
    seen: list[tuple[int, ...]] = []

    def extra(image: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(image.shape[-2:]))
        return image.sum() * 0

    objective = Objective(network, terms, photo, [painting], (20, 26), extra=extra, margin=3)
    canvas = pad_image(resize(photo, (20, 26)), 3)
    assert float(objective(canvas).content) == 0.0
    assert float(objective(resize(photo, (26, 32))).content) > 0  # the photo stretched over the canvas is not
    assert seen == [(20, 26), (20, 26)]  # the extra term sees the picture, not the margin


def test_a_kept_region_goes_on_into_the_margin(tiny_network) -> None:
    network, content, style = tiny_network()
    terms = TermWeights(tuple(content), {name: 1.0 / len(style) for name in style}, 1.0, 1.0)
    photo = ramp(20, 20)
    keep = torch.zeros(1, 1, 20, 20)
    keep[..., :, :10] = 1.0  # keep the left half
    objective = Objective(network, terms, photo, [photo], (20, 20), RegionMasks(keep=keep), margin=4)
    composited = objective.composite(torch.zeros(1, 3, 28, 28))
    mirrored = pad_image(photo, 4)
    assert torch.equal(composited[..., :, :14], mirrored[..., :, :14])  # margin and kept half: the photo
    assert float(composited[..., :, 14:].abs().max()) == 0.0


def test_stylize_with_a_margin_hands_out_pictures_of_the_asked_size(tiny_weights, small_images) -> None:
    content, style = small_images
    sizes: list[tuple[int, ...]] = []

    def callback(iterate) -> None:
        sizes.append(tuple(iterate.image.shape[-2:]))

    plain = stylize(content, style, **tiny_options(tiny_weights, size=160, iterations=6, scales=2))
    framed = stylize(content, style, callback=callback, **tiny_options(tiny_weights, size=160, iterations=6, scales=2,
                                                                       margin=4))  # fmt: skip
    assert framed.image.shape == plain.image.shape == (1, 3, 120, 160)
    assert set(sizes) == {(96, 128), (120, 160)}  # every scale's iterate without its margin
    assert framed.settings["margin"] == 4
    assert not torch.equal(framed.image, plain.image)


def test_the_cli_refuses_a_negative_margin(capsys) -> None:
    assert main(["photo.png", "painting.png", "-o", "out.png", "--margin", "-1"]) == 2
    assert "margin must be an integer of at least 0 and at most 256; got -1" in capsys.readouterr().err


def test_the_style_loss_counts_the_picture_not_the_margin(tiny_network) -> None:
    from painterly.losses import layer_style_loss

    network, content, style = tiny_network()
    weights = {name: 1.0 / len(style) for name in style}
    terms = TermWeights(tuple(content), weights, 1.0, 1.0)
    photo, painting = ramp(40, 52), ramp(30, 30).flip(-1)
    objective = Objective(network, terms, photo, [painting], (20, 26), margin=3)
    canvas = torch.rand(1, 3, 26, 32, generator=torch.Generator().manual_seed(0))
    features = network(canvas)
    cells = objective.style.margins
    # 3 px at full resolution, 1.5 -> 2 cells after one pooling, 0.75 -> 1 after two
    strides = {name: 26 // features[name].shape[2] for name in style}
    assert cells == {name: {1: 3, 2: 2, 4: 1}[strides[name]] for name in style}
    expected = sum(
        weights[name] * layer_style_loss(crop_margin(features[name], cells[name]), objective.style.targets[name])
        for name in style
    )
    assert float(objective(canvas).style) == pytest.approx(float(expected), rel=1e-5)
    assert objective.style.regions == ()  # no masked Gram matrices without masks


def test_with_style_masks_the_regions_end_at_the_picture(tiny_network) -> None:
    from painterly.losses import region_style_loss
    from painterly.masks import feature_mask

    network, content, style = tiny_network()
    weights = {name: 1.0 / len(style) for name in style}
    terms = TermWeights(tuple(content), weights, 1.0, 1.0)
    photo, painting = ramp(40, 52), ramp(30, 30).flip(-1)
    everywhere = RegionMasks(style=(torch.ones(1, 1, 40, 52),))
    objective = Objective(network, terms, photo, [painting], (20, 26), everywhere, margin=3)
    canvas = torch.rand(1, 3, 26, 32, generator=torch.Generator().manual_seed(0))
    features = network(canvas)
    inside = Canvas(20, 26, 3).inside()
    share = 20 * 26 / (26 * 32)
    expected = (
        sum(
            weights[name]
            * region_style_loss(features[name], feature_mask(inside, features[name]), region.targets[name])
            for region in objective.style.regions
            for name in style
        )
        / share
    )
    assert float(objective(canvas).style) == pytest.approx(float(expected), rel=1e-5)
    assert Canvas(20, 26, 3).inside().sum() == 20 * 26


def test_a_cropped_map_hands_its_gradient_back_in_place_and_in_its_layout() -> None:
    features = torch.randn(1, 4, 9, 11).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    weights = torch.randn(1, 4, 5, 7)
    cropped = crop_margin(features, 2)
    assert torch.equal(cropped, features.detach()[..., 2:-2, 2:-2])
    (cropped * weights).sum().backward()
    expected = torch.zeros(1, 4, 9, 11)
    expected[..., 2:-2, 2:-2] = weights
    assert features.grad is not None and torch.equal(features.grad, expected)
    assert features.grad.is_contiguous(memory_format=torch.channels_last)
    assert crop_margin(features, 0) is features
    assert torch.autograd.gradcheck(lambda x: crop_margin(x, 1), torch.randn(1, 2, 4, 5, dtype=torch.float64,
                                                                             requires_grad=True))  # fmt: skip
