"""Region masks: loading and checking, scaling to the features, routing styles, keeping the photo."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from painterly import PainterlyError, stylize
from painterly.image import load_image, resize
from painterly.losses import region_style_loss
from painterly.masks import RegionMasks, feature_mask, load_mask, load_region_masks, resize_mask
from painterly.objective import Objective
from painterly.styles import gram_per_position
from painterly.terms import TermWeights


def save_mask(path: Path, width: int, height: int, box: tuple[int, int, int, int] | None, value: int = 255) -> Path:
    """A black image with the box (left, top, right, bottom) filled with `value`."""
    image = Image.new("L", (width, height), 0)
    if box is not None:
        image.paste(value, box)
    image.save(path)
    return path


def halves(tmp_path: Path, width: int = 48, height: int = 36) -> tuple[Path, Path]:
    left = save_mask(tmp_path / "left.png", width, height, (0, 0, width // 2, height))
    right = save_mask(tmp_path / "right.png", width, height, (width // 2, 0, width, height))
    return left, right


def checker_painting(tmp_path: Path) -> Path:
    """Blue and green squares of 8 pixels."""
    y, x = torch.meshgrid(torch.arange(40), torch.arange(40), indexing="ij")
    squares = ((x // 8 + y // 8) % 2).float()
    rgb = torch.stack([0.1 + 0 * squares, 0.3 + 0.5 * squares, 0.9 - 0.5 * squares])
    path = tmp_path / "checker.png"
    Image.fromarray((rgb.permute(1, 2, 0) * 255).round().byte().numpy()).save(path)
    return path


def other_painting(tmp_path: Path) -> Path:
    """Large smooth colour blobs, unlike the striped painting."""
    y, x = torch.meshgrid(torch.linspace(0, 1, 40), torch.linspace(0, 1, 40), indexing="ij")
    rgb = torch.stack([0.9 - 0.3 * x, 0.2 + 0.2 * y, 0.1 + 0.1 * x * y])
    path = tmp_path / "blobs.png"
    Image.fromarray((rgb.permute(1, 2, 0) * 255).round().byte().numpy()).save(path)
    return path


def test_load_mask_greys_colour_and_keeps_values(tmp_path) -> None:
    path = tmp_path / "m.png"
    Image.new("RGB", (20, 15), (255, 0, 0)).save(path)
    mask = load_mask(path, role="style mask", photo_size=(30, 40))
    assert mask.shape == (1, 1, 15, 20) and torch.allclose(mask, torch.full_like(mask, 1 / 3))
    # a mask one pixel off the exact ratio (rounding when it was made) is fine
    load_mask(save_mask(tmp_path / "n.png", 41, 30, (0, 0, 5, 5)), role="style mask", photo_size=(30, 40))


@pytest.mark.parametrize(
    ("size", "box", "words"),
    [
        ((40, 40), (0, 0, 10, 10), "aspect ratio"),
        ((30, 40), (0, 0, 10, 10), "aspect ratio"),
        ((40, 30), None, "black everywhere"),
    ],
)
def test_bad_masks(tmp_path, size, box, words) -> None:
    path = save_mask(tmp_path / "m.png", *size, box)
    with pytest.raises(PainterlyError, match=words):
        load_mask(path, role="style mask", photo_size=(30, 40))


def test_mask_that_is_not_an_image(tmp_path) -> None:
    fake = tmp_path / "mask.png"
    fake.write_text("not an image")
    with pytest.raises(PainterlyError, match=r"mask\.png"):
        load_region_masks([fake], None, 1, (30, 40))


def test_region_mask_counts_and_overlaps(tmp_path) -> None:
    left, right = halves(tmp_path, 40, 30)
    white = save_mask(tmp_path / "white.png", 40, 30, (0, 0, 40, 30))
    with pytest.raises(PainterlyError, match="1 style mask"):
        load_region_masks([left], None, 2, (30, 40))
    with pytest.raises(PainterlyError, match="white everywhere"):
        load_region_masks(None, white, 1, (30, 40))
    with pytest.raises(PainterlyError, match="style mask 1 lies entirely inside the content mask"):
        load_region_masks([left, right], left, 2, (30, 40))
    masks = load_region_masks([left, right], None, 2, (30, 40))
    regions = masks.style_regions((15, 20))
    assert regions is not None and torch.allclose(regions[0] + regions[1], torch.ones(1, 1, 15, 20))
    keep_only = load_region_masks(None, left, 1, (30, 40)).style_regions((30, 40))
    assert keep_only is not None and torch.equal(keep_only[0], 1 - load_mask(left, role="m", photo_size=(30, 40)))
    assert load_region_masks(None, None, 1, (30, 40)).style_regions((30, 40)) is None


def test_masks_are_area_downsampled_to_each_feature_map() -> None:
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., :, :6] = 1.0
    small = feature_mask(mask, torch.zeros(1, 8, 4, 4))
    assert small.shape == (1, 1, 4, 4)
    assert torch.allclose(small[0, 0, 0], torch.tensor([1.0, 0.5, 0.0, 0.0]))  # column 1 half inside
    assert small.mean().item() == pytest.approx(mask.mean().item())
    assert resize_mask(mask, (32, 32)).shape == (1, 1, 32, 32)


def region_losses(network, names, image, mask, paintings) -> list[float]:
    """The style loss of `image` inside `mask` against each painting's Gram matrices."""
    with torch.no_grad():
        features = network(image)
        losses = []
        for painting in paintings:
            painting_features = network(painting)
            losses.append(sum(
                region_style_loss(features[n], feature_mask(mask, features[n]), gram_per_position(painting_features[n]))
                .item() for n in names
            ))  # fmt: skip
    return losses


def test_masks_route_each_style_to_its_region(tiny_weights, tiny_network, small_images, tmp_path) -> None:
    """Style loss measured inside and outside the masks: each region matches its own painting."""
    content, _ = small_images
    checker, blobs = checker_painting(tmp_path), other_painting(tmp_path)
    left, right = halves(tmp_path)
    network, _, names = tiny_network()
    paintings = [resize(load_image(p), (48, 48)) for p in (checker, blobs)]
    left_mask = load_mask(left, role="m", photo_size=(36, 48))
    right_mask = load_mask(right, role="m", photo_size=(36, 48))

    def run(masks):
        result = stylize(
            content, [checker, blobs], style_masks=masks, weights=str(tiny_weights), size=48, scales=1,
            iterations=20, init="noise", content_weight=0.0, style_weight=1e3, precision="fp32", device="cpu",
            optimizer="lbfgs",
        )  # fmt: skip
        in_left = region_losses(network, names, result.image, left_mask, paintings)
        in_right = region_losses(network, names, result.image, right_mask, paintings)
        return in_left, in_right

    in_left, in_right = run([left, right])  # checker left, blobs right
    assert in_left[0] < 0.2 * in_left[1] and in_right[1] < 0.2 * in_right[0], (in_left, in_right)
    swapped_left, swapped_right = run([right, left])  # blobs left, checker right
    assert swapped_left[1] < 0.2 * swapped_left[0] and swapped_right[0] < 0.2 * swapped_right[1]
    # the same region measured against the same painting: far closer when that painting was routed there
    assert in_left[0] < 0.2 * swapped_left[0] and in_right[1] < 0.2 * swapped_right[1]
    assert swapped_right[0] < 0.2 * in_right[0] and swapped_left[1] < 0.2 * in_left[1]


def test_content_mask_keeps_the_photo_exactly(tiny_weights, small_images, tmp_path) -> None:
    content, style = small_images
    left, _ = halves(tmp_path)
    result = stylize(
        content, style, content_mask=left, weights=str(tiny_weights), size=48, scales=1, iterations=8,
        style_weight=1e5, precision="fp32", device="cpu",
    )  # fmt: skip
    photo = load_image(content)
    assert torch.allclose(result.image[..., :24], photo[..., :24], atol=1e-6)
    assert (result.image[..., 25:] - photo[..., 25:]).abs().max() > 0.05
    assert result.settings["content_mask"] == str(left)


def test_kept_pixels_get_no_gradient(tiny_network, small_images, tmp_path) -> None:
    content, style = small_images
    network, content_names, style_names = tiny_network()
    left, _ = halves(tmp_path)
    keep = load_mask(left, role="content mask", photo_size=(36, 48))
    terms = TermWeights(tuple(content_names), {n: 1 / 3 for n in style_names}, content_weight=1.0, style_weight=1e3)
    objective = Objective(
        network, terms, load_image(content), [load_image(style)], (36, 48), masks=RegionMasks(keep=keep)
    )
    image = torch.rand(1, 3, 36, 48, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    objective(image).total.backward()
    assert image.grad[..., :24].abs().max() == 0
    assert image.grad[..., 24:].abs().max() > 0


@pytest.mark.parametrize(
    ("optimizer", "preprocessing", "extra"),
    [
        ("lbfgs", "torchvision", {"scales": 2, "size": 144}),
        ("adam", "caffe", {"scales": 2, "size": 144}),
        ("adam", "torchvision", {"preserve_color": "luminance", "tv_weight": 1.0}),
        ("lbfgs", "caffe", {"original_colors": True, "style_weights": [1, 3]}),
    ],
)
def test_masks_with_every_optimizer_network_and_scale(
    tiny_weights, small_images, tmp_path, optimizer, preprocessing, extra
) -> None:
    content, style = small_images
    left, right = halves(tmp_path, 96, 72)  # another size than the photo, same aspect ratio
    keep = save_mask(tmp_path / "keep.png", 96, 72, (0, 0, 20, 20))
    result = stylize(
        content, [style, other_painting(tmp_path)], style_masks=[left, right], content_mask=keep,
        optimizer=optimizer, weights=str(tiny_weights), weights_preprocessing=preprocessing,
        iterations=6, precision="fp32", device="cpu", **{"size": 48, **extra},
    )  # fmt: skip
    height, width = result.image.shape[-2:]
    assert torch.isfinite(result.image).all()
    photo = resize(load_image(content), (height, width))
    corner = round(20 / 96 * width) - 2
    assert torch.allclose(result.image[..., :corner, :corner], photo[..., :corner, :corner], atol=2e-3)
