"""`painterly batch` with the tiny network: names, manifest, resume, bad files, Ctrl-C, exit codes."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

import painterly.api as api
import painterly.batch.executor as executor
import painterly.cli as cli
from painterly.batch.manifest import CSV_FILE, JSON_FILE
from painterly.batch.plan import expand, plan_jobs
from painterly.errors import PainterlyError


def tiny_options(weights: Path, iterations: int = 2) -> list[str]:
    return ["--size", "32", "--iterations", str(iterations), "--weights", str(weights), "--device", "cpu",
            "--precision", "fp32", "--quiet"]  # fmt: skip


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


def counting(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = executor.make_picture

    def make_picture(network, task, **kwargs):
        calls.append(task.job.name)
        return real(network, task, **kwargs)

    monkeypatch.setattr(executor, "make_picture", make_picture)
    return calls


def rows(out: Path) -> dict[str, dict]:
    data = json.loads((out / JSON_FILE).read_text())
    return {row["output"]: row for row in data["pictures"]}


def test_plan_names_say_photo_and_painting_and_never_collide(tmp_path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for folder in (a, b):
        (folder / "x.png").write_bytes(b"")
    jobs = plan_jobs([a / "x.png", b / "x.png"], [tmp_path / "s t.jpg"], tmp_path / "out")
    assert [job.name for job in jobs] == ["x__s t.png", "x-2__s t.png"]


def test_expand_reads_folders_and_refuses_missing_or_empty(tmp_path, folders) -> None:
    photos, _ = folders
    assert [path.name for path in expand([photos], "photo")] == ["one.png", "two.jpg.png"]
    with pytest.raises(PainterlyError, match="does not exist"):
        expand([tmp_path / "nope.png"], "photo")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PainterlyError, match="holds no image files"):
        expand([tmp_path / "empty"], "photo")


def test_batch_writes_every_pair_a_manifest_and_a_grid_and_loads_the_network_once(
    tiny_weights, folders, tmp_path, monkeypatch
) -> None:
    photos, styles = folders
    loads: list[int] = []
    real_build = api.build_network
    monkeypatch.setattr(api, "build_network", lambda *a, **k: loads.append(1) or real_build(*a, **k))
    out = tmp_path / "out" / "nested"
    status = cli.main(["batch", str(photos), "--style", str(styles), "-o", str(out), *tiny_options(tiny_weights)])
    assert status == 0
    names = {"one__smooth.png", "one__stripes.png", "two.jpg__smooth.png", "two.jpg__stripes.png"}
    assert names <= {path.name for path in out.iterdir()}
    assert (out / "grid.jpg").is_file()
    assert loads == [1]
    recorded = rows(out)
    assert set(recorded) == names
    assert all(row["status"] == "done" and row["final_losses"]["style"] > 0 for row in recorded.values())
    with open(out / CSV_FILE, newline="") as stream:
        table = list(csv.DictReader(stream))
    assert {row["output"] for row in table} == names and all(float(row["seconds"]) > 0 for row in table)


def test_rerun_skips_finished_and_recomputes_what_changed(tiny_weights, folders, tmp_path, monkeypatch) -> None:
    photos, styles = folders
    out = tmp_path / "out"
    command = ["batch", str(photos / "one.png"), "--style", str(styles), "-o", str(out), *tiny_options(tiny_weights)]
    assert cli.main(command) == 0
    calls = counting(monkeypatch)
    assert cli.main(command) == 0
    assert calls == []  # everything finished
    (out / "one__smooth.png").unlink()  # a deleted output
    shutil.copy(photos / "two.jpg.png", styles / "stripes.png")  # a changed input
    assert cli.main(command) == 0
    assert sorted(calls) == ["one__smooth.png", "one__stripes.png"]
    calls.clear()
    assert cli.main([*command, "--style-weight", "100"]) == 0  # other settings: all again
    assert len(calls) == 2
    calls.clear()
    (out / JSON_FILE).write_text("{ damaged")
    assert cli.main([*command, "--style-weight", "100"]) == 0  # a damaged manifest: redone, not a crash
    assert len(calls) == 2


def test_a_bad_file_is_reported_and_the_others_are_made(tiny_weights, folders, tmp_path, capsys) -> None:
    photos, styles = folders
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    out = tmp_path / "out"
    status = cli.main(["batch", str(photos), "--style", str(styles / "stripes.png"), "-o", str(out),
                       *tiny_options(tiny_weights)])  # fmt: skip
    assert status == 1
    error = capsys.readouterr().err
    lines = [line for line in error.splitlines() if "broken" in line]
    assert len(lines) == 1 and "Traceback" not in error
    recorded = rows(out)
    assert recorded["broken__stripes.png"]["status"] == "failed"
    assert recorded["one__stripes.png"]["status"] == "done" and (out / "one__stripes.png").is_file()


def test_ctrl_c_keeps_the_finished_pictures(tiny_weights, folders, tmp_path, monkeypatch, capsys) -> None:
    photos, styles = folders
    real = executor.make_picture
    made: list[str] = []

    def make_picture(network, task, **kwargs):
        if made:
            raise KeyboardInterrupt
        made.append(task.job.name)
        return real(network, task, **kwargs)

    monkeypatch.setattr(executor, "make_picture", make_picture)
    out = tmp_path / "out"
    status = cli.main(["batch", str(photos), "--style", str(styles), "-o", str(out), *tiny_options(tiny_weights)])
    assert status == 130
    assert "interrupted; 1 of 4" in capsys.readouterr().err
    assert rows(out)[made[0]]["status"] == "done" and (out / made[0]).is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--style-masks", "m.png"], "belong to one photo"),
        (["--ray-address", "auto"], "needs --executor ray"),
        (["--size", "4"], "size must be an integer"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(tiny_weights, folders, tmp_path, capsys, extra, message) -> None:
    photos, styles = folders
    status = cli.main(["batch", str(photos), "--style", str(styles), "-o", str(tmp_path / "o"),
                       *tiny_options(tiny_weights), *extra])  # fmt: skip
    error = capsys.readouterr().err
    assert status == 2 and message in error and len(error.strip().splitlines()) == 1


def test_an_output_folder_that_is_a_file_or_an_input_is_refused(tiny_weights, folders, tmp_path, capsys) -> None:
    photos, styles = folders
    (tmp_path / "file").write_text("x")
    assert cli.main(["batch", str(photos), "--style", str(styles), "-o", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err
    clash = photos / "one__stripes.png"
    shutil.copy(photos / "one.png", clash)
    assert cli.main(["batch", str(photos), "--style", str(styles / "stripes.png"), "-o", str(photos)]) == 2
    assert "would overwrite the input" in capsys.readouterr().err


def test_a_worker_builds_its_network_with_the_runs_padding(tiny_weights) -> None:
    from painterly import options
    from painterly.models.vgg import EdgePad
    from painterly.models.weights import load_weights_file

    weights = load_weights_file(str(tiny_weights), preprocessing="torchvision")
    settings = options.validate({"padding": "reflect", "device": "cpu", "precision": "fp32"})
    reflecting = executor.worker_network(weights, settings, "tiny")
    pads = [module for module in reflecting.encoder.modules() if isinstance(module, EdgePad)]
    assert pads and all(pad.mode == "reflect" for pad in pads)
    zeros = executor.worker_network(weights, {**settings, "padding": "zeros"}, "tiny")
    assert zeros is not reflecting and not any(isinstance(m, EdgePad) for m in zeros.encoder.modules())
