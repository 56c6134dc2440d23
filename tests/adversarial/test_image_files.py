"""Property-based tests of ``load_image`` over generated image files (issue 13).

Property: ``painterly.image.load_image(path, role="content image")`` either returns a float32
(1, 3, H, W) tensor with finite values in 0..1, or raises :class:`PainterlyError` with a
non-empty one-line message; never any other exception. An undamaged file of at least
``MIN_IMAGE_SIDE`` pixels a side in an integer mode must load, at its own size.

What the files cover (each test draws 60 examples, derandomized, so runs are repeatable):

- sizes from 1x1 to 48x48, and thin strips (1-9 by 500-3000 pixels, either way round);
- Pillow modes 1, L, LA, P (with a random palette), RGB, RGBA, CMYK, I;16, I and F, filled with
  random bytes (so F may hold NaN or infinity);
- formats PNG, JPEG, WEBP, BMP, TIFF and GIF (a mode a format cannot store is converted to RGB
  first, so every format is still written), under their own suffix or a wrong one;
- damage: none, truncation at a random point, a random run of garbage bytes written over the
  file, or a file of random bytes only.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from painterly.errors import PainterlyError
from painterly.image import MIN_IMAGE_SIDE, load_image
from tests.adversarial import budget

MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F")
FORMATS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif", "GIF": ".gif"}
BYTES_PER_PIXEL = {"L": 1, "LA": 2, "P": 1, "RGB": 3, "RGBA": 4, "CMYK": 4, "I;16": 2, "I": 4, "F": 4}
BUDGET = budget(60)

small = st.tuples(st.integers(1, 48), st.integers(1, 48))
strip = st.tuples(st.integers(1, 9), st.integers(500, 3000)).flatmap(lambda pair: st.sampled_from([pair, pair[::-1]]))
sizes = st.one_of(small, small, strip)  # (width, height)


def make_image(mode: str, size: tuple[int, int], seed: int) -> Image.Image:
    """An image of ``mode`` filled with random bytes."""
    rng = np.random.default_rng(seed)
    width, height = size
    count = (width + 7) // 8 * height if mode == "1" else width * height * BYTES_PER_PIXEL[mode]
    image = Image.frombytes(mode, size, rng.bytes(count))
    if mode == "P":
        image.putpalette(rng.bytes(768))
    return image


def encode(image: Image.Image, fmt: str) -> bytes:
    """The image in ``fmt``; converted to RGB first when the format cannot store its mode."""
    for candidate in (image, image.convert("RGB")):
        buffer = io.BytesIO()
        try:
            candidate.save(buffer, format=fmt)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        return buffer.getvalue()
    raise AssertionError(f"Pillow cannot write {fmt} here")


def damage(data: bytes, kind: str, rng: np.random.Generator) -> bytes:
    if kind == "truncate":
        return data[: int(rng.integers(0, len(data)))]
    if kind == "garbage":
        start = int(rng.integers(0, len(data)))
        length = int(rng.integers(1, 64))
        return data[:start] + rng.bytes(length) + data[start + length :]
    if kind == "random":
        return rng.bytes(int(rng.integers(0, 4096)))
    return data


def check_property(path: Path) -> torch.Tensor | None:
    """The loaded tensor, or None after a one-line PainterlyError; any other exception fails the test."""
    try:
        image = load_image(path, role="content image")
    except PainterlyError as error:
        message = str(error)
        assert message.strip() and "\n" not in message, repr(message)
        return None
    assert isinstance(image, torch.Tensor) and image.dtype == torch.float32
    assert image.dim() == 4 and image.shape[:2] == (1, 3), image.shape
    assert torch.isfinite(image).all() and float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    return image


@BUDGET
@given(
    mode=st.sampled_from(MODES),
    fmt=st.sampled_from(sorted(FORMATS)),
    size=sizes,
    seed=st.integers(0, 2**32 - 1),
    wrong_suffix=st.booleans(),
)
def test_undamaged_files_load_or_fail_cleanly(
    tmp_path: Path, mode: str, fmt: str, size: tuple[int, int], seed: int, wrong_suffix: bool
) -> None:
    data = encode(make_image(mode, size, seed), fmt)
    path = tmp_path / f"{seed}{'.png' if wrong_suffix else FORMATS[fmt]}"
    path.write_bytes(data)
    image = check_property(path)
    width, height = size
    if min(width, height) >= MIN_IMAGE_SIDE and mode != "F":  # random float bytes may be NaN: refused
        assert image is not None, f"a good {width}x{height} {mode} {fmt} file was refused"
        assert image.shape[2:] == (height, width)


@BUDGET
@given(
    mode=st.sampled_from(MODES),
    fmt=st.sampled_from(sorted(FORMATS)),
    size=sizes,
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(["truncate", "garbage", "random"]),
)
def test_damaged_files_load_or_fail_cleanly(
    tmp_path: Path, mode: str, fmt: str, size: tuple[int, int], seed: int, kind: str
) -> None:
    data = encode(make_image(mode, size, seed), fmt)
    path = tmp_path / f"{seed}-{kind}{FORMATS[fmt]}"
    path.write_bytes(damage(data, kind, np.random.default_rng(seed)))
    check_property(path)


@pytest.mark.parametrize("data", [b"", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"\xff\xd8\xff", b"BM", b"II*\x00"])
def test_bare_magic_numbers_fail_cleanly(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "magic.png"
    path.write_bytes(data)
    assert check_property(path) is None
