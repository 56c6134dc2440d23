"""painterly.runs.ray's worker side, without Ray: one network per weights and network options in a
worker process, and the shipped input files named by the driver's paths in errors. (The driver
side runs against a local Ray instance in tests/batch/test_executor.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from painterly import options
from painterly.errors import PainterlyError
from painterly.models.weights import load_weights_file
from painterly.runs.ray import shipped_files, worker_network


def test_a_worker_builds_one_network_per_weights_and_network_options(tiny_weights: Path) -> None:
    weights = load_weights_file(str(tiny_weights))
    settings = options.validate({"device": "cpu", "precision": "fp32", "padding": "reflect"})
    first = worker_network(weights, settings, "tiny-a")
    assert worker_network(weights, settings.replace(size=64, optimizer="lbfgs"), "tiny-a") is first
    assert worker_network(weights, settings, "tiny-b") is not first  # other weights
    assert worker_network(weights, settings.replace(padding="zeros"), "tiny-a") is not first


def test_shipped_files_keep_their_names_and_errors_name_the_drivers_paths(tmp_path: Path) -> None:
    original = tmp_path / "driver" / "photo.png"
    with shipped_files([(original, b"bytes"), (tmp_path / "painting.jpg", b"more")]) as (photo, painting):
        assert photo.name == "photo.png" and photo.read_bytes() == b"bytes" and painting.name == "painting.jpg"
        assert photo != original
    assert not photo.exists()
    with pytest.raises(PainterlyError) as raised, shipped_files([(original, b"x")]) as (local,):
        raise PainterlyError(f"cannot decode {local}")
    assert str(raised.value) == f"cannot decode {original}"
