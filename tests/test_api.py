"""The Python API (painterly.api): inputs of every kind, callbacks, reproducibility, initialisations,
and the API failures an adversarial run found (issue 13)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from painterly import PRESETS, PainterlyError, stylize
from painterly.image import read_png_metadata
from painterly.initialization import cover_and_crop
from tests.helpers import tiny_options


def test_accepts_paths_pil_images_and_tensors(tiny_weights, small_images) -> None:
    content, style = small_images
    from_paths = stylize(content, style, **tiny_options(tiny_weights))
    from_pil = stylize(Image.open(content), Image.open(style), **tiny_options(tiny_weights))
    tensor = torch.from_numpy(np.array(Image.open(content))).permute(2, 0, 1).float() / 255
    from_tensor = stylize(tensor, style, **tiny_options(tiny_weights))
    assert from_paths.image.shape == (1, 3, 24, 32)
    assert torch.equal(from_paths.image, from_pil.image)
    assert torch.allclose(from_paths.image, from_tensor.image, atol=1e-5)


def test_callback_sees_every_evaluation_and_history_matches(tiny_weights, small_images) -> None:
    content, style = small_images
    seen = []
    result = stylize(content, style, callback=seen.append, **tiny_options(tiny_weights, iterations=9, scales=2))
    assert [iterate.evaluation for iterate in seen] == list(range(1, 10))
    assert seen[0].scale == 1 and seen[-1].scale == 2
    assert seen[-1].image.shape == (1, 3, 24, 32)
    assert [record.total_loss for record in result.history] == [iterate.total_loss for iterate in seen]
    assert result.settings["scales"][-1] == [24, 32, sum(1 for i in seen if i.scale == 2)]


def test_total_is_alpha_content_plus_beta_style(tiny_weights, small_images) -> None:
    content, style = small_images
    result = stylize(content, style, **tiny_options(tiny_weights, content_weight=0.5, style_weight=30.0))
    for record in result.history:
        expected = 0.5 * record.content_loss + 30.0 * record.style_loss
        assert record.total_loss == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("init", ["noise", "content", "palette", "style"])
def test_a_cpu_run_is_reproducible_bit_for_bit(tiny_weights, small_images, init) -> None:
    content, style = small_images
    first = stylize(content, style, **tiny_options(tiny_weights, init=init, seed=7))
    second = stylize(content, style, **tiny_options(tiny_weights, init=init, seed=7))
    assert torch.equal(first.image, second.image)
    assert [r.total_loss for r in first.history] == [r.total_loss for r in second.history]


def test_noise_seeds_differ(tiny_weights, small_images) -> None:
    content, style = small_images
    one = stylize(content, style, **tiny_options(tiny_weights, init="noise", seed=1, iterations=1))
    two = stylize(content, style, **tiny_options(tiny_weights, init="noise", seed=2, iterations=1))
    assert not torch.equal(one.image, two.image)


def test_init_from_an_image_file(tiny_weights, small_images) -> None:
    content, style = small_images
    result = stylize(content, style, **tiny_options(tiny_weights, init=str(style), iterations=1))
    assert result.image.shape == (1, 3, 24, 32)


def test_cover_and_crop_never_stretches() -> None:
    # A 10x40 image with a bright left half, covering 20x20: scaled by 2 to 20x80, centre crop.
    image = torch.zeros(1, 3, 10, 40)
    image[..., :20] = 1.0
    cropped = cover_and_crop(image, 20, 20)
    assert cropped.shape == (1, 3, 20, 20)
    # The crop comes from columns 30..50 of 80: the left 10 columns bright, the right 10 dark.
    assert cropped[..., :8].mean() > 0.9 and cropped[..., -8:].mean() < 0.1


def test_adam_runs_and_keeps_pixels_in_range(tiny_weights, small_images) -> None:
    content, style = small_images
    result = stylize(content, style, **tiny_options(tiny_weights, optimizer="adam", learning_rate=0.05))
    assert len(result.history) == 5
    assert result.image.min() >= 0.0 and result.image.max() <= 1.0


def test_presets_are_valid_options(tiny_weights, small_images) -> None:
    content, style = small_images
    for name, preset in PRESETS.items():
        options = {**preset, **tiny_options(tiny_weights, iterations=2)}
        settings = stylize(content, style, **options).settings
        kept = set(preset) - set(tiny_options(tiny_weights)) - {"scales"}  # scales: recorded as the plan
        assert {key: settings[key] for key in kept} == {key: preset[key] for key in kept}, name


def test_unknown_style_layer_for_the_network(tiny_weights, small_images) -> None:
    content, style = small_images
    with pytest.raises(PainterlyError, match="Did you mean"):
        stylize(content, style, **tiny_options(tiny_weights, style_layers=("conv3_4",)))


def test_result_save_writes_metadata(tiny_weights, small_images, tmp_path) -> None:

    content, style = small_images
    result = stylize(content, style, **tiny_options(tiny_weights))
    path = result.save(tmp_path / "r.png")
    assert "painterly:settings" in read_png_metadata(path)


def test_upsampling_keeps_the_photos_fine_detail() -> None:
    from painterly.image import resize
    from painterly.initialization import upsample_result

    photo = torch.rand(1, 3, 40, 60, generator=torch.Generator().manual_seed(3))
    coarse = resize(photo, (20, 30))
    # Nothing changed at the coarse scale: the fine scale starts from the photo itself, not a blur.
    assert torch.allclose(upsample_result(coarse, photo, (40, 60)), photo, atol=1e-6)
    # A uniform change at the coarse scale is carried over as the same change.
    brighter = upsample_result((coarse + 0.1).clamp(0, 1), photo, (40, 60))
    assert torch.allclose((brighter - photo).mean(), torch.tensor(0.1), atol=0.02)


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("compile", "fast", "unknown compile 'fast'; use off, default or reduce-overhead"),
        ("precision", "fp8", "precision"),
        ("device", "tpu", "device"),
    ],
)
def test_bad_runtime_options(tiny_weights, small_images, option, value, words) -> None:
    content, style = small_images
    with pytest.raises(PainterlyError, match=words):
        stylize(content, style, **tiny_options(tiny_weights, **{option: value}))


@pytest.mark.slow
def test_compiled_objective_gives_the_eager_losses(tiny_weights, small_images) -> None:
    # torch.compile traces the network, the losses and the backward of each scale (Inductor on the CPU).
    content, style = small_images
    options = tiny_options(tiny_weights, iterations=8, scales=2)
    eager = stylize(content, style, **options)
    compiled = stylize(content, style, compile="default", **options)
    assert len(compiled.history) == 8
    eager_losses = [record.total_loss for record in eager.history]
    compiled_losses = [record.total_loss for record in compiled.history]
    assert compiled_losses == pytest.approx(eager_losses, rel=1e-4)
    assert torch.allclose(compiled.image, eager.image, atol=1e-3)


def test_callback_image_is_finished_with_the_colour_controls(tiny_weights, small_images) -> None:
    content, style = small_images
    seen = []
    result = stylize(content, style, callback=seen.append, **tiny_options(tiny_weights, original_colors=True))
    plain = stylize(content, style, **tiny_options(tiny_weights))
    last = seen[-1]
    assert torch.equal(last.best.cpu().clamp(0, 1), plain.image)  # the optimised pixels, unfinished
    # The handed-out image has the photo's colours like the result (which is clamped before finishing).
    finished_error = (last.image.cpu() - result.image).abs().max()
    unfinished_error = (last.best.cpu() - result.image).abs().max()
    assert finished_error < unfinished_error / 3


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: torch.empty(3, 48, 64, device="meta"), "meta device"),
        (lambda: torch.empty(3, 48, 64, dtype=torch.uint8, device="meta"), "meta device"),
        (lambda: torch.zeros(3, 48, 64).to_sparse(), "sparse"),
        (lambda: torch.zeros(3, 48, 64, dtype=torch.complex64), "complex64"),
    ],
    ids=["meta", "meta-uint8", "sparse", "complex"],
)
def test_tensors_without_pixels_are_refused_in_one_line(make, words, tiny_weights, small_images) -> None:
    content, style = small_images
    for arguments in ((make(), style), (content, make())):
        with pytest.raises(PainterlyError, match=words) as caught:
            stylize(*arguments, **tiny_options(tiny_weights))
        assert "\n" not in str(caught.value)


def test_result_save_refuses_to_replace_an_input(tiny_weights, small_images, tmp_path) -> None:
    """The CLI refuses an output that is an input; so does the API (before, the photo was replaced)."""
    content, style = small_images
    photo, painting = content.read_bytes(), style.read_bytes()
    result = stylize(str(content), [style], **tiny_options(tiny_weights))
    for target, role in (
        (content, "content image"),
        (style, "style image"),
        (tmp_path / "." / content.name, "content"),
    ):
        with pytest.raises(PainterlyError, match=f"same file as the {role}") as caught:
            result.save(target)
        assert str(content.name if role != "style image" else style.name) in str(caught.value)
    link = tmp_path / "link.png"
    link.symlink_to(content)
    with pytest.raises(PainterlyError, match="same file as the content image"):
        result.save(link)
    assert content.read_bytes() == photo and style.read_bytes() == painting
    assert result.save(tmp_path / "elsewhere.png").exists()


def api_options(weights: Path, **extra: object) -> dict[str, object]:
    return {"weights": str(weights), "size": 32, "iterations": 3, "precision": "fp32", "device": "cpu", **extra}


# 3. tiny sides: a traceback in avg_pool2d -------------------------------------------------------
def picture(path: Path, width: int, height: int) -> Path:
    generator = np.random.default_rng(width * 7 + height)
    Image.fromarray(generator.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize(("width", "height", "size"), [(1200, 100, 512), (1000, 100, 512), (160, 16, 160)])
def test_narrow_photos_work_where_a_picture_is_possible(tiny_weights, tmp_path, width, height, size) -> None:
    photo = picture(tmp_path / "panorama.png", width, height)
    painting = picture(tmp_path / "painting.png", 40, 40)
    result = stylize(photo, painting, **api_options(tiny_weights, size=size, iterations=4))
    got_height, got_width = result.image.shape[-2:]
    assert max(got_height, got_width) == size
    assert all(min(h, w) >= 16 for h, w, _ in result.settings["scales"])


@pytest.mark.parametrize(("width", "height"), [(20000, 8), (4000, 16), (600, 8)])
def test_photos_too_narrow_at_any_size_are_one_clear_error(tiny_weights, tmp_path, width, height) -> None:
    photo = picture(tmp_path / "strip.png", width, height)
    painting = picture(tmp_path / "painting.png", 40, 40)
    with pytest.raises(PainterlyError, match=r"short side would be .* the network needs at least 16"):
        stylize(photo, painting, **api_options(tiny_weights, size=512))


def test_a_narrow_tensor_in_the_api_is_a_clear_error(tiny_weights, small_images) -> None:
    _, style = small_images
    with pytest.raises(PainterlyError, match=r"use --size 1200 or more"):
        stylize(torch.rand(3, 8, 600), style, **api_options(tiny_weights, size=512))


@pytest.mark.parametrize(("style_scale", "size"), [(0.1, 512), (0.01, 64), (1.0, 64)])
def test_tiny_or_narrow_paintings_are_enlarged_to_what_the_network_sees(
    tiny_weights, tmp_path, style_scale, size
) -> None:
    photo = picture(tmp_path / "photo.png", 64, 48)
    painting = picture(tmp_path / "wide.png", 400, 40)  # 10:1
    result = stylize(photo, painting, **api_options(tiny_weights, size=size, style_scale=style_scale))
    assert torch.isfinite(result.image).all()


# 13. an objective that is identically zero -------------------------------------------------------
@pytest.mark.parametrize(
    "extra",
    [
        {"content_weight": 0.0, "style_layer_weights": [0, 0, 0, 0, 0]},
        {"content_weight": 0.0, "style_weight": 0.0},
        {"content_layers": [], "style_layer_weights": [0, 0, 0, 0, 0]},
    ],
)
def test_an_objective_that_is_zero_everywhere_is_refused(tiny_weights, small_images, extra) -> None:
    content, style = small_images
    with pytest.raises(PainterlyError, match=r"nothing would be optimised|identically zero|no content layers given"):
        stylize(content, style, **api_options(tiny_weights, **extra))


# 14. misleading messages --------------------------------------------------------------------
def test_an_overflowing_tv_weight_is_named(tiny_weights, small_images) -> None:
    content, style = small_images
    with pytest.raises(PainterlyError, match=r"--tv-weight 1e\+300 is too large"):
        stylize(content, style, **api_options(tiny_weights, tv_weight=1e300))


def test_a_huge_style_scale_blames_the_style_scale(tiny_weights, small_images) -> None:
    content, style = small_images
    with pytest.raises(PainterlyError, match="lower --style-scale"):
        stylize(content, style, **api_options(tiny_weights, style_scale=1e6))


def test_callbacks_that_edit_the_images_do_not_change_the_result(tiny_weights, small_images) -> None:
    content, style = small_images
    plain = stylize(content, style, **api_options(tiny_weights, iterations=6, scales=2))

    def vandal(iterate) -> None:
        iterate.best.fill_(0.5)
        iterate.image.fill_(0.0)

    edited = stylize(content, style, callback=vandal, **api_options(tiny_weights, iterations=6, scales=2))
    assert torch.equal(plain.image, edited.image)
