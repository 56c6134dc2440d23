"""The Ray executor on a local instance (``ray.init(num_cpus=2)``): for `painterly batch` and
`painterly experiment`, the same pictures as the local executor (same pixels, CPU fp32), the same
manifest and resume behaviour, and a failing task reported like a local failure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray")

import painterly.cli as cli  # noqa: E402
from painterly.batch.executor import RayExecutor, Task  # noqa: E402
from painterly.batch.plan import Job  # noqa: E402
from painterly.experiments.grid import plan_runs  # noqa: E402
from painterly.experiments.runner import run_grid  # noqa: E402
from painterly.experiments.spec import load_spec, make_pairs  # noqa: E402
from painterly.experiments.store import IMAGE_FILE, RESULT_FILE  # noqa: E402
from painterly.models.weights import load_weights_file  # noqa: E402
from tests.helpers import tiny_spec  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module (starting one takes seconds)."""
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def tiny(weights: Path) -> list[str]:
    return ["--size", "32", "--iterations", "3", "--weights", str(weights), "--device", "cpu", "--precision", "fp32",
            "--quiet", "--no-grid"]  # fmt: skip


@pytest.fixture
def inputs(small_images, tmp_path) -> tuple[Path, Path]:
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(small_images[0], photos / "smooth.png")
    shutil.copy(small_images[1], photos / "stripes.png")
    return photos, small_images[1]


def test_ray_batch_makes_the_same_pictures_and_manifest_as_local(local_ray, tiny_weights, inputs, tmp_path) -> None:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a Ray task of 1 CPU uses one thread: the same sums in the same order
    try:
        photos, style = inputs
        assert cli.main(["batch", str(photos), "--style", str(style), "-o", str(tmp_path / "local"),
                         *tiny(tiny_weights)]) == 0  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    status = cli.main(["batch", str(photos), "--style", str(style), "-o", str(tmp_path / "ray"), "--executor", "ray",
                       *tiny(tiny_weights)])  # fmt: skip
    assert status == 0
    for name in ("smooth__painting.png", "stripes__painting.png"):
        assert np.array_equal(pixels(tmp_path / "local" / name), pixels(tmp_path / "ray" / name))
    local = json.loads((tmp_path / "local" / "manifest.json").read_text())["pictures"]
    remote = json.loads((tmp_path / "ray" / "manifest.json").read_text())["pictures"]
    assert [(row["output"], row["status"], row["settings_key"], row["final_losses"]) for row in local] == [
        (row["output"], row["status"], row["settings_key"], row["final_losses"])
        for row in sorted(remote, key=lambda row: [r["output"] for r in local].index(row["output"]))
    ]
    written = (tmp_path / "ray" / "smooth__painting.png").stat().st_mtime_ns
    assert cli.main(["batch", str(photos), "--style", str(style), "-o", str(tmp_path / "ray"), "--executor", "ray",
                     *tiny(tiny_weights)]) == 0  # fmt: skip
    assert (tmp_path / "ray" / "smooth__painting.png").stat().st_mtime_ns == written  # resumed: nothing redone


def test_a_failing_ray_task_is_one_line_and_the_others_finish(local_ray, tiny_weights, inputs, tmp_path,
                                                              capsys) -> None:  # fmt: skip
    photos, style = inputs
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    status = cli.main(["batch", str(photos), "--style", str(style), "-o", str(tmp_path / "out"), "--executor", "ray",
                       *tiny(tiny_weights)])  # fmt: skip
    error = capsys.readouterr().err
    assert status == 1 and "Traceback" not in error
    assert len([line for line in error.splitlines() if "broken__painting.png" in line]) == 1
    rows = {row["output"]: row for row in json.loads((tmp_path / "out" / "manifest.json").read_text())["pictures"]}
    assert rows["broken__painting.png"]["status"] == "failed" and rows["smooth__painting.png"]["status"] == "done"


def test_the_executor_ships_the_weights_once_through_the_object_store(local_ray, tiny_weights, small_images,
                                                                      tmp_path) -> None:  # fmt: skip
    from painterly import options

    weights = load_weights_file(str(tiny_weights))
    executor = RayExecutor(weights)
    assert isinstance(executor.weights_ref, ray.ObjectRef)
    settings = options.validate({"size": 32, "iterations": 2, "weights": str(tiny_weights), "device": "cpu",
                                 "precision": "fp32"})  # fmt: skip
    tasks = [Task(Job(small_images[0], small_images[1], tmp_path / f"{index}.png"), settings) for index in range(3)]
    outcomes = list(executor.run(tasks))
    assert len(outcomes) == 3 and all(outcome.result is not None for outcome in outcomes)
    first = outcomes[0].result
    assert first is not None and tuple(first.image.shape) == (1, 3, 24, 32)


def test_ray_experiment_runs_equal_local_ones(local_ray, tiny_weights, small_images, tmp_path) -> None:
    import torch

    spec = load_spec(tiny_spec(tmp_path, tiny_weights, iterations=4))
    pairs = make_pairs([small_images])
    local_runs, _ = plan_runs(spec, pairs, tmp_path / "local")
    ray_runs, _ = plan_runs(spec, pairs, tmp_path / "ray")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert not run_grid(local_runs).failed
    finally:
        torch.set_num_threads(threads)
    outcome = run_grid(ray_runs, executor="ray")
    assert not outcome.failed and len(outcome.finished) == 2
    for local, remote in zip(local_runs, ray_runs, strict=True):
        assert np.array_equal(pixels(local.directory / IMAGE_FILE), pixels(remote.directory / IMAGE_FILE))
        ours, theirs = (json.loads((run.directory / RESULT_FILE).read_text()) for run in (local, remote))
        assert ours["final_losses"] == theirs["final_losses"] and ours["snapshots"] == theirs["snapshots"]
    again = run_grid(ray_runs, executor="ray")
    assert len(again.skipped) == 2 and not again.finished


def test_experiment_command_accepts_the_ray_executor_flags(capsys) -> None:
    assert cli.main(["experiment", "optimizers", "--ray-address", "auto", "--dry-run"]) == 2
    assert "needs --executor ray" in capsys.readouterr().err
