"""Tests for painterly.samples: the demo's offline content photo and rendered style painting."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from painterly import samples
from painterly.errors import PainterlyError


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def painting() -> Image.Image:
    return samples.render_painting(512, seed=0)


def test_sample_photo_is_matplotlibs_portrait() -> None:
    path = samples.sample_photo_path()
    assert path.name == "grace_hopper.jpg"
    with Image.open(path) as photo:
        assert photo.mode == "RGB"
        assert photo.size == (512, 600)


def test_sample_photo_missing_raises_painterly_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from matplotlib import cbook

    monkeypatch.setattr(cbook, "get_sample_data", lambda *a, **k: str(tmp_path / "nope.jpg"))
    with pytest.raises(PainterlyError, match="grace_hopper"):
        samples.sample_photo_path()


@pytest.mark.parametrize("size", [64, 200, 512])
def test_painting_size_and_mode(size: int) -> None:
    image = samples.render_painting(size, seed=1)
    assert image.mode == "RGB"
    assert image.size == (size, size)


def test_painting_is_deterministic_for_a_seed(painting: Image.Image) -> None:
    again = samples.render_painting(512, seed=0)
    assert _png_bytes(again) == _png_bytes(painting)
    assert samples.render_painting().tobytes() == painting.tobytes()


def test_painting_differs_across_seeds() -> None:
    a = np.asarray(samples.render_painting(128, seed=1), dtype=np.float64)
    b = np.asarray(samples.render_painting(128, seed=2), dtype=np.float64)
    assert np.abs(a - b).mean() > 20


def test_painting_has_strong_texture_everywhere(painting: Image.Image) -> None:
    grey = np.asarray(painting.convert("L"), dtype=np.float64)
    gradient = (np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean()) / 2
    assert gradient > 12  # the sample photo scores about 7, a flat image 0
    # No flat background: every 8x8 block has visible brushwork in it.
    blocks = grey.reshape(64, 8, 64, 8).std(axis=(1, 3))
    assert (blocks < 4).mean() < 0.01


def test_painting_has_bold_blue_and_yellow_palette(painting: Image.Image) -> None:
    hsv = np.asarray(painting.convert("HSV"), dtype=np.float64)
    saturated = hsv[..., 1] > 80
    assert saturated.mean() > 0.7
    hue = hsv[..., 0][saturated] * 360 / 255
    assert hue.std() > 40  # several distinct hues, not a single tint
    assert ((hue > 190) & (hue < 250)).mean() > 0.4  # blues
    assert ((hue > 20) & (hue < 65)).mean() > 0.05  # yellows and ochres


def test_painting_rejects_tiny_size() -> None:
    with pytest.raises(PainterlyError):
        samples.render_painting(4)


def test_write_samples_writes_both_images(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "folder"
    content, style = samples.write_samples(folder)
    assert (content, style) == (folder / "content.jpg", folder / "style.png")
    assert content.read_bytes() == samples.sample_photo_path().read_bytes()
    with Image.open(content) as photo:
        assert photo.size == (512, 600)
    with Image.open(style) as painting:
        assert painting.format == "PNG"
        assert painting.mode == "RGB"
        assert painting.size == (512, 512)


def test_main_writes_and_prints_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert samples.main([str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "content.jpg"), str(tmp_path / "style.png")]
    assert all(Path(p).is_file() for p in printed)


def test_main_reports_errors_with_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert samples.main([str(blocker)]) == 2
    assert "error" in capsys.readouterr().err
