"""Fixtures of the batch tests: folders of photos and paintings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def folders(small_images, tmp_path) -> tuple[Path, Path]:
    """photos/ with two photos, styles/ with two paintings."""
    content, style = small_images
    photos, styles = tmp_path / "photos", tmp_path / "styles"
    photos.mkdir()
    styles.mkdir()
    shutil.copy(content, photos / "one.png")
    shutil.copy(content, photos / "two.jpg.png")
    shutil.copy(style, styles / "stripes.png")
    shutil.copy(content, styles / "smooth.png")
    (photos / "notes.txt").write_text("not an image, and not an image extension either")
    return photos, styles
