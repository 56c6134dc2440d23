"""Tests for painterly.image: loading every Pillow mode, bad inputs, resizing, atomic saving."""

from __future__ import annotations

import errno
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms, ImageFile

import painterly.cli as cli
import painterly.image as image_mod
from painterly.errors import PainterlyError
from painterly.image import (
    check_output_path,
    fit_long_side,
    image_size,
    load_image,
    read_png_metadata,
    resize,
    resize_long_side,
    save_image,
    to_pil,
)
from tests.helpers import Fifos

SHARED_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "images"
RUNNING_AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def pixel(image: torch.Tensor, y: int = 0, x: int = 0) -> list[float]:
    """RGB values of one pixel of a (1, 3, H, W) tensor."""
    return image[0, :, y, x].tolist()


def assert_rgb(image: torch.Tensor, expected: tuple[float, float, float], tol: float = 1 / 255) -> None:
    """Every pixel of ``image`` equals ``expected`` (0..1) within ``tol``."""
    target = torch.tensor(expected, dtype=torch.float32).view(1, 3, 1, 1)
    assert (image - target).abs().max().item() <= tol, image.mean(dim=(2, 3))


def assert_loaded(image: torch.Tensor, height: int, width: int) -> None:
    assert image.shape == (1, 3, height, width)
    assert image.dtype == torch.float32
    assert image.device.type == "cpu"
    assert 0.0 <= image.min().item() <= image.max().item() <= 1.0


def write_png(path: Path, width: int, height: int, color_type: int, bit_depth: int, raw: bytes) -> Path:
    """Write a PNG by hand (for layouts Pillow cannot save, such as 16-bit RGB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )
    return path


def noise(width: int = 64, height: int = 48, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


# ---------------------------------------------------------------------------------------------------
# Loading: every mode, with known pixel values


def test_rgb_png_loads_exactly(tmp_path: Path) -> None:
    source = noise(40, 30)
    path = tmp_path / "rgb.png"
    source.save(path)
    image = load_image(path)
    assert_loaded(image, 30, 40)
    expected = torch.from_numpy(np.array(source)).permute(2, 0, 1).float().div(255)
    assert torch.equal(image[0], expected)


def test_accepts_str_and_expands_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.new("RGB", (10, 12), RED).save(tmp_path / "red.png")
    assert_rgb(load_image(str(tmp_path / "red.png")), (1, 0, 0))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert_loaded(load_image("~/red.png"), 12, 10)


@pytest.mark.parametrize("value, expected", [(0, 0.0), (128, 128 / 255), (255, 1.0)])
def test_greyscale_l(tmp_path: Path, value: int, expected: float) -> None:
    Image.new("L", (10, 10), value).save(tmp_path / "grey.png")
    assert_rgb(load_image(tmp_path / "grey.png"), (expected,) * 3, tol=1e-6)


@pytest.mark.parametrize(
    "grey, alpha, expected",
    [(0, 255, 0.0), (0, 0, 1.0), (0, 128, 1 - 128 / 255), (200, 255, 200 / 255)],
)
def test_greyscale_la_composites_on_white(tmp_path: Path, grey: int, alpha: int, expected: float) -> None:
    Image.new("LA", (10, 10), (grey, alpha)).save(tmp_path / "la.png")
    assert_rgb(load_image(tmp_path / "la.png"), (expected,) * 3, tol=1e-5)


def test_one_bit(tmp_path: Path) -> None:
    bits = Image.new("1", (16, 8), 0)
    bits.paste(1, (8, 0, 16, 8))
    bits.save(tmp_path / "bits.png")
    image = load_image(tmp_path / "bits.png")
    assert_rgb(image[..., :8], (0, 0, 0), tol=0)
    assert_rgb(image[..., 8:], (1, 1, 1), tol=0)


def palette_image() -> Image.Image:
    pal = Image.new("P", (12, 8), 0)
    pal.putpalette([*RED, *GREEN, *BLUE] + [0, 0, 0] * 253)
    pal.paste(1, (4, 0, 8, 8))
    pal.paste(2, (8, 0, 12, 8))
    return pal


@pytest.mark.parametrize("suffix", [".png", ".gif", ".bmp"])
def test_palette_colours(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"pal{suffix}"
    palette_image().save(path)
    with Image.open(path) as check:
        assert check.mode == "P"
    image = load_image(path)
    assert_rgb(image[..., 0:4], (1, 0, 0), tol=0)
    assert_rgb(image[..., 4:8], (0, 1, 0), tol=0)
    assert_rgb(image[..., 8:12], (0, 0, 1), tol=0)


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_palette_transparency_is_white(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"pal{suffix}"
    palette_image().save(path, transparency=1)  # green is transparent
    image = load_image(path)
    assert_rgb(image[..., 0:4], (1, 0, 0), tol=0)
    assert_rgb(image[..., 4:8], (1, 1, 1), tol=0)
    assert_rgb(image[..., 8:12], (0, 0, 1), tol=0)


def test_rgb_with_transparent_colour_is_white(tmp_path: Path) -> None:
    rgb = Image.new("RGB", (10, 8), BLUE)
    rgb.paste(RED, (0, 0, 5, 8))
    rgb.save(tmp_path / "trns.png", transparency=RED)
    image = load_image(tmp_path / "trns.png")
    assert_rgb(image[..., :5], (1, 1, 1), tol=0)
    assert_rgb(image[..., 5:], (0, 0, 1), tol=0)


@pytest.mark.parametrize(
    "rgba, expected",
    [
        ((255, 0, 0, 255), (1, 0, 0)),
        ((255, 0, 0, 0), (1, 1, 1)),
        ((0, 0, 0, 0), (1, 1, 1)),
        ((0, 0, 255, 128), (1 - 128 / 255, 1 - 128 / 255, 1)),
    ],
)
def test_rgba_composites_on_white(tmp_path: Path, rgba: tuple[int, ...], expected: tuple[float, float, float]) -> None:
    Image.new("RGBA", (10, 10), rgba).save(tmp_path / "rgba.png")
    assert_rgb(load_image(tmp_path / "rgba.png"), expected, tol=1e-5)


@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
def test_cmyk_pure_cyan(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"cyan{suffix}"
    Image.new("CMYK", (16, 16), (255, 0, 0, 0)).save(path)
    with Image.open(path) as check:
        assert check.mode == "CMYK"
    assert_rgb(load_image(path), (0, 1, 1), tol=0.02)


def test_cmyk_with_broken_icc_profile_falls_back(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.tif"
    Image.new("CMYK", (16, 16), (0, 0, 255, 0)).save(path, icc_profile=b"not a profile")
    assert_rgb(load_image(path), (1, 1, 0), tol=0.02)


@pytest.mark.parametrize("value", [0, 1000, 32768, 65535])
def test_sixteen_bit_greyscale_png(tmp_path: Path, value: int) -> None:
    path = tmp_path / "grey16.png"
    Image.fromarray(np.full((10, 12), value, dtype=np.uint16)).save(path)
    with Image.open(path) as check:
        assert check.mode.startswith("I")
    image = load_image(path)
    assert_loaded(image, 10, 12)
    assert_rgb(image, (value / 65535,) * 3, tol=1e-6)  # 1000 must not clip to white


def test_sixteen_bit_greyscale_keeps_precision(tmp_path: Path) -> None:
    ramp = np.tile(np.arange(0, 65536, 256, dtype=np.uint16) + 7, (8, 1))  # 8 x 256, odd low bytes
    path = tmp_path / "ramp16.png"
    Image.fromarray(ramp).save(path)
    image = load_image(path)
    assert torch.allclose(image[0, 0], torch.from_numpy(ramp.astype(np.float32) / 65535), atol=1e-6)


def test_sixteen_bit_big_endian_tiff(tmp_path: Path) -> None:
    source = Image.fromarray(np.full((10, 10), 32768, dtype=">u2"))
    assert source.mode == "I;16B"
    source.save(tmp_path / "grey16b.tif")
    assert_rgb(load_image(tmp_path / "grey16b.tif"), (0.5, 0.5, 0.5), tol=1e-4)
    assert_rgb(load_image(source), (0.5, 0.5, 0.5), tol=1e-4)


def test_mode_i_scaled_as_sixteen_bit(tmp_path: Path) -> None:
    source = Image.fromarray(np.full((10, 10), 32768, dtype=np.int32))
    assert source.mode == "I"
    source.save(tmp_path / "grey32.tif")
    assert_rgb(load_image(tmp_path / "grey32.tif"), (0.5, 0.5, 0.5), tol=1e-4)


def test_sixteen_bit_rgb_png(tmp_path: Path) -> None:
    row = b"\x00" + struct.pack(">HHH", 65535, 32768, 0) * 10
    path = write_png(tmp_path / "rgb16.png", 10, 10, color_type=2, bit_depth=16, raw=row * 10)
    assert_rgb(load_image(path), (1, 0.5, 0), tol=1 / 255)


@pytest.mark.parametrize("scale", [1.0, 255.0])
def test_float_mode(tmp_path: Path, scale: float) -> None:
    source = Image.fromarray(np.full((10, 10), 0.25 * scale, dtype=np.float32))
    assert source.mode == "F"
    source.save(tmp_path / "float.tif")
    assert_rgb(load_image(tmp_path / "float.tif"), (0.25, 0.25, 0.25), tol=1e-6)


@pytest.mark.parametrize("mode", ["YCbCr", "HSV", "LAB"])
def test_other_colour_spaces(mode: str) -> None:
    colour = (200, 40, 90)
    rgb = Image.new("RGB", (10, 10), colour)
    if mode == "LAB":
        to_lab = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB")
        converted = ImageCms.applyTransform(rgb, to_lab)
    else:
        converted = rgb.convert(mode)
    assert converted is not None and converted.mode == mode
    assert_rgb(load_image(converted), tuple(c / 255 for c in colour), tol=0.03)


def test_ycbcr_jpeg(tmp_path: Path) -> None:
    Image.new("RGB", (16, 16), (30, 160, 220)).convert("YCbCr").save(tmp_path / "ycc.jpg", quality=95)
    assert_rgb(load_image(tmp_path / "ycc.jpg"), (30 / 255, 160 / 255, 220 / 255), tol=0.03)


def orientation_jpeg(path: Path, orientation: int) -> Path:
    """A 40 wide x 20 high JPEG: left half red, right half blue, with the given EXIF orientation."""
    source = Image.new("RGB", (40, 20), BLUE)
    source.paste(RED, (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = orientation
    source.save(path, quality=95, exif=exif)
    return path


def test_exif_orientation_6_rotates(tmp_path: Path) -> None:
    image = load_image(orientation_jpeg(tmp_path / "rot.jpg", 6))
    assert_loaded(image, 40, 20)  # displayed 20 wide x 40 high
    # Orientation 6: the stored left (red) half is displayed at the top.
    assert_rgb(image[:, :, 2:18, :], (1, 0, 0), tol=0.1)
    assert_rgb(image[:, :, 22:38, :], (0, 0, 1), tol=0.1)


def test_exif_orientation_1_unchanged(tmp_path: Path) -> None:
    image = load_image(orientation_jpeg(tmp_path / "plain.jpg", 1))
    assert_loaded(image, 20, 40)
    assert_rgb(image[..., 2:18], (1, 0, 0), tol=0.1)


def test_pil_image_with_orientation_is_rotated(tmp_path: Path) -> None:
    with Image.open(orientation_jpeg(tmp_path / "rot.jpg", 8)) as pil:
        assert_loaded(load_image(pil), 40, 20)


def test_animated_gif_uses_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 16), RED), Image.new("RGB", (16, 16), BLUE)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(tmp_path / "anim.gif") as check:
        assert check.n_frames == 2
    assert_rgb(load_image(tmp_path / "anim.gif"), (1, 0, 0), tol=0.02)


def test_pil_image_input_is_copied() -> None:
    pil = Image.new("RGBA", (10, 9), (0, 255, 0, 255))
    image = load_image(pil)
    assert_loaded(image, 9, 10)
    assert_rgb(image, (0, 1, 0), tol=0)
    assert pil.mode == "RGBA"  # the caller's image is not modified


# ---------------------------------------------------------------------------------------------------
# Loading tensors


@pytest.mark.parametrize(
    "shape, out_shape",
    [((3, 10, 12), (1, 3, 10, 12)), ((1, 3, 10, 12), (1, 3, 10, 12)), ((1, 10, 12), (1, 3, 10, 12)),
     ((10, 12), (1, 3, 10, 12)), ((1, 1, 10, 12), (1, 3, 10, 12))],
)  # fmt: skip
def test_tensor_shapes(shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
    source = torch.rand(shape)
    image = load_image(source)
    assert image.shape == out_shape
    assert image.dtype == torch.float32
    if len(shape) == 2 or shape[-3] == 1:
        assert torch.equal(image[0, 0], image[0, 1]) and torch.equal(image[0, 0], image[0, 2])
        assert torch.equal(image[0, 0], source.reshape(10, 12))


def test_tensor_is_detached_float32_copy() -> None:
    source = torch.rand(1, 3, 10, 10, dtype=torch.float64, requires_grad=True)
    image = load_image(source)
    assert image.dtype == torch.float32 and not image.requires_grad
    image.zero_()
    assert source.detach().sum() > 0
    same_dtype = torch.rand(1, 3, 10, 10)
    copy = load_image(same_dtype)
    assert copy.data_ptr() != same_dtype.data_ptr()


def test_uint8_tensor_divided_by_255() -> None:
    source = torch.full((3, 10, 10), 51, dtype=torch.uint8)
    assert_rgb(load_image(source), (0.2, 0.2, 0.2), tol=1e-6)


@pytest.mark.parametrize(
    "source, words",
    [
        (torch.full((3, 10, 10), 1.5), "[0, 1]"),
        (torch.full((3, 10, 10), -0.2), "[0, 1]"),
        (torch.full((3, 10, 10), float("nan")), "NaN"),
        (torch.full((3, 10, 10), float("inf")), "infinite"),
        (torch.zeros(3, 10, 10, dtype=torch.int64), "int64"),
        (torch.zeros(3, 10, 10, dtype=torch.bool), "bool"),
        (torch.zeros(2, 3, 10, 10), "shape"),
        (torch.zeros(4, 10, 10), "shape"),
        (torch.zeros(10), "shape"),
        (torch.zeros(3, 0, 10), "empty"),
        (torch.zeros(3, 7, 10), "too small"),
    ],
)
def test_bad_tensors(source: torch.Tensor, words: str) -> None:
    with pytest.raises(PainterlyError, match="style image") as info:
        load_image(source, role="style image")
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_tensor_rounding_noise_tolerated() -> None:
    image = load_image(torch.full((3, 10, 10), 1.00001))
    assert image.max().item() == 1.0


def test_wrong_source_type() -> None:
    with pytest.raises(TypeError):
        load_image(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------
# Loading: bad inputs


def assert_error(path: Path, *words: str, role: str = "content image") -> str:
    with pytest.raises(PainterlyError) as info:
        load_image(path, role=role)
    message = str(info.value)
    assert "\n" not in message
    assert role in message
    assert str(path) in message
    for word in words:
        assert word in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    assert_error(tmp_path / "nope.jpg", "does not exist")


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "folder.jpg").mkdir()
    assert_error(tmp_path / "folder.jpg", "folder")


def test_empty_path() -> None:
    with pytest.raises(PainterlyError, match="no content image given"):
        load_image("", role="content image")


@pytest.mark.skipif(RUNNING_AS_ROOT or os.name == "nt", reason="root (or Windows) can read a chmod 000 file")
def test_unreadable_file_chmod(tmp_path: Path) -> None:
    path = tmp_path / "secret.png"
    Image.new("RGB", (10, 10)).save(path)
    path.chmod(0)
    try:
        assert_error(path, "permission denied")
    finally:
        path.chmod(0o644)


def test_unreadable_file_monkeypatched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.png"
    Image.new("RGB", (10, 10)).save(path)

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(image_mod, "open", refuse, raising=False)
    assert_error(path, "permission denied")


def test_other_read_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "flaky.png"
    Image.new("RGB", (10, 10)).save(path)

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(image_mod, "open", fail, raising=False)
    assert_error(path, "Input/output error")


@pytest.mark.parametrize("content", [b"hello, this is not a JPEG\n", b""])
def test_not_an_image(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fake.jpg"
    path.write_bytes(content)
    assert_error(path, "not an image")


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_image(tmp_path: Path, suffix: str) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    path = tmp_path / f"cut{suffix}"
    noise(128, 128).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert_error(path, "damaged or truncated")


def test_truncated_pil_image(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    noise(128, 128).save(path)
    path.write_bytes(path.read_bytes()[:2000])
    with Image.open(path) as pil, pytest.raises(PainterlyError, match="damaged or truncated"):
        load_image(pil)


@pytest.mark.parametrize("side", [40, 100])  # 1600 px: warning made an error; 10000 px: Pillow's error
def test_decompression_bomb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, side: int) -> None:
    path = tmp_path / "bomb.png"
    Image.new("RGB", (side, side)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert_error(path, "more than 1000 pixels", "too large", "downscale")


def test_zero_sized_pil_image() -> None:
    with pytest.raises(PainterlyError, match="empty"):
        load_image(Image.new("RGB", (0, 10)))


@pytest.mark.parametrize("size", [(7, 20), (20, 7), (1, 1)])
def test_too_small(tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "tiny.png"
    Image.new("RGB", size).save(path)
    assert_error(path, "too small", "at least 8 pixels")


def test_smallest_allowed(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "eight.png")
    assert_loaded(load_image(tmp_path / "eight.png"), 8, 8)


@pytest.mark.skipif(not (SHARED_IMAGES / "tubingen.jpg").is_file(), reason="shared test images absent")
def test_shared_tubingen() -> None:
    image = load_image(SHARED_IMAGES / "tubingen.jpg", role="content image")
    assert_loaded(image, 768, 1024)
    assert 0.2 < image.mean().item() < 0.8


# ---------------------------------------------------------------------------------------------------
# Sizes and resizing


@pytest.mark.parametrize(
    "height, width, long_side, expected",
    [
        (768, 1024, 512, (384, 512)),
        (1024, 768, 512, (512, 384)),
        (100, 100, 50, (50, 50)),
        (300, 400, 800, (600, 800)),
        (3, 1000, 500, (2, 500)),  # 1.5 rounds up
        (1, 10000, 100, (1, 100)),  # never below 1
        (10000, 1, 100, (100, 1)),
        (662, 960, 512, (353, 512)),
    ],
)
def test_fit_long_side(height: int, width: int, long_side: int, expected: tuple[int, int]) -> None:
    assert fit_long_side(height, width, long_side) == expected


def test_fit_long_side_rejects_bad_sizes() -> None:
    with pytest.raises(PainterlyError):
        fit_long_side(10, 10, 0)
    with pytest.raises(ValueError):
        fit_long_side(0, 10, 5)


def test_image_size() -> None:
    assert image_size(torch.zeros(1, 3, 5, 7)) == (5, 7)
    assert image_size(torch.zeros(3, 5, 7)) == (5, 7)


def test_resize_long_side_keeps_aspect_ratio() -> None:
    image = torch.rand(1, 3, 60, 80)
    assert resize_long_side(image, 40).shape == (1, 3, 30, 40)
    assert resize_long_side(image, 160).shape == (1, 3, 120, 160)
    assert resize_long_side(image[0], 40).shape == (3, 30, 40)


def test_resize_exact_size_and_identity() -> None:
    image = torch.rand(1, 3, 20, 30)
    assert resize(image, (7, 50)).shape == (1, 3, 7, 50)
    same = resize(image, (20, 30))
    assert torch.equal(same, image) and same.data_ptr() != image.data_ptr()


def test_resize_clamps_overshoot() -> None:
    checker = (torch.arange(16).view(4, 4) % 2 == torch.arange(16).view(4, 4).T % 2).float()
    image = checker.expand(1, 3, 4, 4)
    up = resize(image, (32, 32))
    unclamped = torch.nn.functional.interpolate(image, size=(32, 32), mode="bicubic", align_corners=False)
    assert unclamped.max() > 1.0 or unclamped.min() < 0.0  # bicubic does overshoot here
    assert 0.0 <= up.min().item() <= up.max().item() <= 1.0


def test_resize_downscale_is_antialiased() -> None:
    stripes = (torch.arange(64) % 2).float().expand(1, 3, 64, 64).contiguous()  # 1-pixel stripes
    small = resize(stripes, (16, 16))
    assert (small - 0.5).abs().max().item() < 0.05  # no aliasing: averages to grey


def test_resize_constant_stays_constant() -> None:
    image = torch.full((1, 3, 30, 40), 0.3)
    assert torch.allclose(resize(image, (17, 23)), image[..., :17, :23], atol=1e-5)


# ---------------------------------------------------------------------------------------------------
# to_pil and saving


def test_to_pil_clamps_and_rounds() -> None:
    values = torch.tensor([-0.5, 0.0, 0.5 / 255 - 1e-4, 0.5 / 255 + 1e-4, 0.5, 1.0, 2.0])
    image = values.view(1, 1, 7).expand(3, 1, 7)
    pil = to_pil(image)
    assert pil.mode == "RGB" and pil.size == (7, 1)
    assert [pil.getpixel((x, 0))[0] for x in range(7)] == [0, 0, 0, 1, 128, 255, 255]
    assert to_pil(image.unsqueeze(0)).size == (7, 1)


def test_to_pil_rejects_nan_and_bad_shapes() -> None:
    with pytest.raises(PainterlyError, match="NaN"):
        to_pil(torch.full((3, 4, 4), float("nan")))
    with pytest.raises(ValueError):
        to_pil(torch.zeros(4, 4, 4))


def quantised(height: int = 24, width: int = 32) -> torch.Tensor:
    """A random image whose values survive 8-bit quantisation exactly."""
    return torch.randint(0, 256, (1, 3, height, width), generator=torch.Generator().manual_seed(1)) / 255


def test_png_round_trip_with_metadata(tmp_path: Path) -> None:
    image = quantised()
    metadata = {"painterly": "0.1.0", "content": "tübingen.jpg", "style": "スタイル", "empty": ""}
    out = save_image(image, tmp_path / "out.png", metadata=metadata)
    assert out == tmp_path / "out.png"
    assert torch.equal(load_image(out), image)
    assert read_png_metadata(out) == metadata
    assert list(tmp_path.iterdir()) == [out]


def test_png_without_metadata(tmp_path: Path) -> None:
    out = save_image(quantised(), tmp_path / "plain.PNG")
    with Image.open(out) as pil:
        assert pil.format == "PNG"
    assert read_png_metadata(out) == {}


@pytest.mark.parametrize("name", ["out.jpg", "out.JPEG"])
def test_jpeg_round_trip_with_metadata(tmp_path: Path, name: str) -> None:
    smooth = torch.linspace(0, 1, 64).view(1, 1, 1, 64).expand(1, 3, 48, 64).clone()
    smooth[:, 1] = 1 - smooth[:, 1]
    out = save_image(smooth, tmp_path / name, metadata={"seed": "0", "style": "Starry Night"})
    with Image.open(out) as pil:
        assert pil.format == "JPEG"
        assert json.loads(pil.info["comment"]) == {"seed": "0", "style": "Starry Night"}
    assert (load_image(out) - smooth).abs().mean().item() < 0.01
    assert read_png_metadata(out) == {"seed": "0", "style": "Starry Night"}


def test_jpeg_quality_changes_size(tmp_path: Path) -> None:
    image = torch.rand(1, 3, 64, 64)
    low = save_image(image, tmp_path / "low.jpg", jpeg_quality=20).stat().st_size
    high = save_image(image, tmp_path / "high.jpg", jpeg_quality=95).stat().st_size
    assert low < high
    with pytest.raises(ValueError):
        save_image(image, tmp_path / "bad.jpg", jpeg_quality=0)


def test_save_replaces_existing_file_and_uses_normal_permissions(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    save_image(quantised(), out)
    assert out.read_bytes().startswith(b"\x89PNG")
    if os.name != "nt":
        fresh = save_image(quantised(), tmp_path / "fresh.png")
        umask = os.umask(0)
        os.umask(umask)
        assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask  # not the 0600 of a temp file


def test_save_rejects_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(PainterlyError, match=r"\.png, \.jpg or \.jpeg"):
        save_image(quantised(), tmp_path / "out.bmp")


def failing_save(exc: BaseException):
    """A replacement for PIL.Image.Image.save that writes part of the file, then raises."""

    def save(self: Image.Image, fp: object, format: str | None = None, **params: object) -> None:
        fp.write(b"\x89PNG\r\n\x1a\npartial data")  # type: ignore[attr-defined]
        raise exc

    return save


@pytest.mark.parametrize(
    "exc, expected",
    [
        (OSError(errno.ENOSPC, "No space left on device"), PainterlyError),
        (PermissionError(errno.EACCES, "Permission denied"), PainterlyError),
        (RuntimeError("encoder bug"), RuntimeError),
        (KeyboardInterrupt(), KeyboardInterrupt),
    ],
)
def test_atomic_write_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException, expected: type[BaseException]
) -> None:
    existing = tmp_path / "existing.png"
    save_image(quantised(), existing)
    before = existing.read_bytes()
    monkeypatch.setattr(Image.Image, "save", failing_save(exc))
    for target in (tmp_path / "new.png", existing, tmp_path / "new.jpg"):
        with pytest.raises(expected) as info:
            save_image(quantised(), target)
        if expected is PainterlyError:
            message = str(info.value)
            assert str(target) in message and "\n" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.png"]  # no output, no temp file
    assert existing.read_bytes() == before


def test_save_disk_full_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image.Image, "save", failing_save(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(PainterlyError, match="no space left"):
        save_image(quantised(), tmp_path / "out.png")


def test_save_into_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(PainterlyError, match="does not exist; create it first"):
        save_image(quantised(), tmp_path / "missing" / "out.png")


def test_read_png_metadata_errors(tmp_path: Path) -> None:
    with pytest.raises(PainterlyError, match=r"nope\.png"):
        read_png_metadata(tmp_path / "nope.png")


# ---------------------------------------------------------------------------------------------------
# check_output_path


@pytest.mark.parametrize("name", ["out.png", "out.PNG", "out.jpg", "out.Jpeg", "out.JPG"])
def test_output_extensions_allowed(tmp_path: Path, name: str) -> None:
    assert check_output_path(tmp_path / name) == tmp_path / name


@pytest.mark.parametrize("name", ["out.bmp", "out.webp", "out", "out.png.txt"])
def test_output_extension_rejected(tmp_path: Path, name: str) -> None:
    with pytest.raises(PainterlyError, match=r"\.png, \.jpg or \.jpeg") as info:
        check_output_path(tmp_path / name)
    assert str(tmp_path / name) in str(info.value)


def test_output_folder_missing(tmp_path: Path) -> None:
    with pytest.raises(PainterlyError, match="does not exist; create it first") as info:
        check_output_path(tmp_path / "missing" / "out.png")
    assert str(tmp_path / "missing") in str(info.value)


def test_output_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(PainterlyError, match="not a folder"):
        check_output_path(tmp_path / "file" / "out.png")


def test_output_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(PainterlyError, match="is a folder"):
        check_output_path(tmp_path / "dir.png")
    with pytest.raises(PainterlyError, match="is a folder"):
        check_output_path(tmp_path)


@pytest.mark.skipif(RUNNING_AS_ROOT or os.name == "nt", reason="root (or Windows) can write anywhere")
def test_output_folder_not_writable_chmod(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(PainterlyError, match="not writable"):
            check_output_path(locked / "out.png")
    finally:
        locked.chmod(0o755)


def test_output_folder_not_writable_monkeypatched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "access", lambda path, mode, **kwargs: False)
    with pytest.raises(PainterlyError, match="not writable") as info:
        check_output_path(tmp_path / "out.png")
    assert str(tmp_path) in str(info.value)


def test_output_equals_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content = tmp_path / "content.png"
    Image.new("RGB", (10, 10)).save(content)
    with pytest.raises(PainterlyError, match="same file as the content image") as info:
        check_output_path(content, inputs={"content image": content, "style image": tmp_path / "s.jpg"})
    assert "choose another name" in str(info.value)
    # A different spelling of the same path, relative to the working folder.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    with pytest.raises(PainterlyError, match="same file as the input image"):
        check_output_path("./sub/../content.png", inputs=[str(content)])
    # Output does not exist yet and differs from the inputs: fine; non-path inputs are ignored.
    assert check_output_path("result.png", inputs=[content, torch.zeros(3), None]) == Path("result.png")


def test_output_hard_link_to_input(tmp_path: Path) -> None:
    content = tmp_path / "content.jpg"
    Image.new("RGB", (10, 10)).save(content)
    link = tmp_path / "linked.jpg"
    try:
        os.link(content, link)
    except OSError:
        pytest.skip("hard links not supported here")
    with pytest.raises(PainterlyError, match="same file as the style image"):
        check_output_path(link, inputs={"style image": content})


def test_output_symlink_to_input(tmp_path: Path) -> None:
    content = tmp_path / "content.png"
    Image.new("RGB", (10, 10)).save(content)
    link = tmp_path / "alias.png"
    try:
        link.symlink_to(content)
    except OSError:
        pytest.skip("symlinks not supported here")
    with pytest.raises(PainterlyError, match="same file"):
        check_output_path(link, inputs=[content])


# --- paths that are not regular files (issue 13): FIFOs and devices given as pictures ---


def run_cli(capsys: pytest.CaptureFixture[str], *arguments: str | Path) -> tuple[int, str]:
    code = cli.main([str(argument) for argument in arguments])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("role", ["content image", "style image", "init image", "content mask"])
def test_fifo_image_is_refused_before_it_is_opened(tmp_path: Path, fifos: Fifos, role: str) -> None:
    pipe = fifos.make(tmp_path / "picture.png")
    with pytest.raises(PainterlyError) as raised:
        load_image(pipe, role=role)
    message = str(raised.value)
    assert message == f"{role} '{pipe}' is not a regular file (a FIFO); give an image file"


def test_character_device_is_refused(tmp_path: Path) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    with pytest.raises(PainterlyError, match=r"is not a regular file \(a character device\)"):
        load_image("/dev/zero", role="content image")


@pytest.mark.parametrize("position", ["photo", "painting", "--style-masks", "--content-mask", "--init", "--weights"])
def test_fifo_anywhere_on_the_command_line_is_one_clear_error(
    tiny_weights: Path,
    small_images: tuple[Path, Path],
    tmp_path: Path,
    fifos: Fifos,
    capsys: pytest.CaptureFixture[str],
    position: str,
) -> None:
    content, style = small_images
    pipe = fifos.make(tmp_path / ("pipe.safetensors" if position == "--weights" else "pipe.png"))
    photo = pipe if position == "photo" else content
    painting = pipe if position == "painting" else style
    extra: list[str | Path] = [position, pipe] if position.startswith("--") else []
    weights: list[str | Path] = [] if position == "--weights" else ["--weights", tiny_weights]
    arguments = [photo, painting, "-o", tmp_path / "out.png", *weights, "--size", "32", "--iterations", "2", *extra]
    code, err = run_cli(capsys, *arguments, "--quiet", "--precision", "fp32")
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "is not a regular file (a FIFO)" in lines[0] and str(pipe) in lines[0], lines[0]
    assert not (tmp_path / "out.png").exists()
