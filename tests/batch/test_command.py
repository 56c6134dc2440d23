"""`painterly batch` with the tiny network: names, manifest, resume, bad files, Ctrl-C, exit codes."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

import painterly.api as api
import painterly.batch.command as batch
import painterly.batch.executor as executor
import painterly.cli as cli
from painterly.batch.manifest import CSV_FILE, JSON_FILE
from painterly.batch.plan import plan_jobs
from painterly.errors import PainterlyError
from painterly.image import read_png_metadata


def tiny_options(weights: Path, iterations: int = 2) -> list[str]:
    return ["--size", "32", "--iterations", str(iterations), "--weights", str(weights), "--device", "cpu",
            "--precision", "fp32", "--quiet"]  # fmt: skip


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
    command = _one_photo(folders, out, tiny_weights)
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
    (out / JSON_FILE).write_text("{ damaged")  # kept aside; its pictures are not overwritten (tests below)
    assert cli.main([*command, "--style-weight", "100"]) == 1
    assert calls == [] and (out / "manifest.json.bad-1").read_text() == "{ damaged"


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
    named = [str(photos / "one.png"), str(clash)]  # files named one by one: -o may be their folder
    assert cli.main(["batch", *named, "--style", str(styles / "stripes.png"), "-o", str(photos)]) == 2
    assert "would overwrite the input" in capsys.readouterr().err


def test_a_worker_builds_its_network_with_the_runs_padding(tiny_weights) -> None:
    from painterly import options
    from painterly.models.vgg import EdgePad
    from painterly.models.weights import load_weights_file
    from painterly.runs.ray import worker_network

    weights = load_weights_file(str(tiny_weights), preprocessing="torchvision")
    settings = options.validate({"padding": "reflect", "device": "cpu", "precision": "fp32"})
    reflecting = worker_network(weights, settings, "tiny")
    pads = [module for module in reflecting.encoder.modules() if isinstance(module, EdgePad)]
    assert pads and all(pad.mode == "reflect" for pad in pads)
    zeros = worker_network(weights, settings.replace(padding="zeros"), "tiny")
    assert zeros is not reflecting and not any(isinstance(m, EdgePad) for m in zeros.encoder.modules())


# Issue 20, section 2: names, -o among the inputs, a lock, FIFOs, damaged manifests, users' files.


def batch_of(photos: list[Path], style: Path, out: Path, weights: Path, *extra: str) -> list[str]:
    return ["batch", *map(str, photos), "--style", str(style), "-o", str(out), *tiny_options(weights), *extra]


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("painterly: ")]


def test_a_photo_named_like_a_renamed_one_gets_its_own_picture(tiny_weights, small_images, tmp_path) -> None:
    content, style = small_images
    photos = []
    for folder, name in (("d1", "x.png"), ("d2", "x.png"), ("d3", "x-2.png")):
        (tmp_path / folder).mkdir()
        photos.append(tmp_path / folder / name)
        shutil.copy(content, photos[-1])
    names = [job.name for job in plan_jobs(photos, [style], tmp_path / "out")]
    assert len(set(names)) == 3 and names[2] == "x-2__painting.png"  # the file keeps its own name
    out = tmp_path / "out"
    assert cli.main(batch_of(photos, style, out, tiny_weights)) == 0
    assert len(list(out.glob("*.png"))) == 3 and len(rows(out)) == 3
    assert {row["content"] for row in rows(out).values()} == {str(path) for path in photos}
    assert cli.main(batch_of(photos, style, out, tiny_weights)) == 0  # a rerun: the same names, nothing redone
    assert set(rows(out)) == set(names)


@pytest.mark.parametrize("role", ["photo", "painting"])
def test_an_output_folder_that_is_an_input_folder_is_refused_up_front(
    tiny_weights, folders, tmp_path, capsys, role
) -> None:
    photos, styles = folders
    out = photos if role == "photo" else styles
    before = sorted(path.name for path in out.iterdir())
    status = cli.main(["batch", str(photos), "--style", str(styles), "-o", str(out), *tiny_options(tiny_weights)])
    error = capsys.readouterr().err
    assert status == 2 and len(error.strip().splitlines()) == 1
    assert f"is the {role} folder" in error and "choose another -o folder" in error
    assert sorted(path.name for path in out.iterdir()) == before  # nothing written there


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_runs(
    tiny_weights, folders, tmp_path, monkeypatch, capsys
) -> None:
    photos, styles = folders
    out = tmp_path / "out"
    command = ["batch", str(photos), "--style", str(styles), "-o", str(out), *tiny_options(tiny_weights)]
    real = executor.make_picture
    inner: list[int] = []
    started: list[bool] = []

    def make_picture(network, task, **kwargs):
        if not started:  # another batch into the same folder starts while this one computes
            started.append(True)
            inner.append(cli.main(command))
        return real(network, task, **kwargs)

    monkeypatch.setattr(executor, "make_picture", make_picture)
    assert cli.main(command) == 0
    error = capsys.readouterr().err
    assert inner == [2]
    [line] = [line for line in error_lines(error) if "lock" in line]
    assert ".painterly-batch.lock" in line and "another painterly batch" in line and "wait" in line
    assert set(rows(out)) == {path.name for path in out.glob("*.png")} and len(rows(out)) == 4


def test_a_lock_held_by_another_process_is_named_and_a_dead_ones_is_taken_over(
    tiny_weights, folders, tmp_path, capsys
) -> None:
    import subprocess
    import sys

    photos, styles = folders
    out = tmp_path / "out"
    out.mkdir()
    lock = out / ".painterly-batch.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\nfcntl.flock(fd, fcntl.LOCK_EX)\n"
         "os.write(fd, str(os.getpid()).encode())\nprint('held', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        command = ["batch", str(photos), "--style", str(styles / "stripes.png"), "-o", str(out),
                   *tiny_options(tiny_weights)]  # fmt: skip
        assert cli.main(command) == 2
        error = capsys.readouterr().err
        assert len(error.strip().splitlines()) == 1 and f"process {holder.pid}" in error and str(lock) in error
    finally:
        holder.kill()
        holder.wait()
    assert lock.exists()  # left behind by a dead process: taken over
    assert cli.main(command) == 0
    assert len(rows(out)) == 2


def _unblock_fifos_after(fifos: list[Path], seconds: float, stop: Any, stuck: list[bool]) -> None:
    """Before the fix the batch blocks forever opening a FIFO: feed it EOFs until the batch ends."""
    if stop.wait(seconds):
        return
    stuck.append(True)
    while not stop.is_set():
        for fifo in fifos:
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        stop.wait(0.05)


@pytest.mark.parametrize("role", ["photo", "painting"])
def test_a_fifo_given_as_an_input_is_refused_without_hanging(
    tiny_weights, small_images, tmp_path, capsys, role
) -> None:
    import threading

    content, style = small_images
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    photo, painting = (fifo, style) if role == "photo" else (content, fifo)
    stop, stuck = threading.Event(), []
    guard = threading.Thread(target=_unblock_fifos_after, args=([fifo], 20.0, stop, stuck), daemon=True)
    guard.start()
    try:
        status = cli.main(batch_of([photo], painting, tmp_path / "out", tiny_weights))
    finally:
        stop.set()
        guard.join()
    error = capsys.readouterr().err
    assert not stuck, "the batch blocked reading a FIFO"
    assert status == 2 and len(error.strip().splitlines()) == 1 and "not a regular file" in error
    assert str(fifo) in error and "Traceback" not in error


def test_hashing_a_fifo_or_a_folder_is_an_error_not_a_hang(tmp_path) -> None:
    import threading

    from painterly.hashing import sha256_of_file

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    stop, stuck = threading.Event(), []
    guard = threading.Thread(target=_unblock_fifos_after, args=([fifo], 10.0, stop, stuck), daemon=True)
    guard.start()
    try:
        for path in (fifo, tmp_path):
            with pytest.raises(PainterlyError, match="not a regular file"):
                sha256_of_file(path)
    finally:
        stop.set()
        guard.join()
    assert not stuck


def _one_photo(folders: tuple[Path, Path], out: Path, weights: Path) -> list[str]:
    """The batch command for the folder's first photo with every painting, into ``out``."""
    photos, styles = folders
    return ["batch", str(photos / "one.png"), "--style", str(styles), "-o", str(out), *tiny_options(weights)]


def _made(out: Path, command: list[str]) -> dict[str, bytes]:
    assert cli.main(command) == 0
    return {path.name: path.read_bytes() for path in out.glob("*.png")}


@pytest.mark.parametrize(
    "damage",
    [{"seconds": "x"}, {"final_losses": []}, {"final_losses": {"style": "high"}}, {"colour": "blue"},
     {"status": 3}, {"settings": None}],
    ids=["seconds", "losses-list", "losses-text", "unknown-key", "status", "settings"],
)  # fmt: skip
def test_a_damaged_manifest_row_is_reported_and_made_again(
    tiny_weights, folders, tmp_path, capsys, monkeypatch, damage
) -> None:
    out = tmp_path / "out"
    command = _one_photo(folders, out, tiny_weights)
    _made(out, command)
    data = json.loads((out / JSON_FILE).read_text())
    data["pictures"][0].update(damage)
    damaged_name = data["pictures"][0]["output"]
    original = json.dumps(data)
    (out / JSON_FILE).write_text(original)
    (out / data["pictures"][1]["output"]).unlink()  # the next row is written after this one is made
    capsys.readouterr()
    calls = counting(monkeypatch)
    assert cli.main(command) == 0
    error = capsys.readouterr().err
    assert "Traceback" not in error
    [warning] = [line for line in error_lines(error) if "manifest" in line]
    assert warning.startswith("painterly: warning:") and "damaged" in warning and "manifest.json.bad-1" in warning
    assert (out / "manifest.json.bad-1").read_text() == original  # the file as it was is kept
    assert sorted(calls) == sorted([damaged_name, data["pictures"][1]["output"]])
    assert all(row["status"] == "done" for row in rows(out).values()) and len(rows(out)) == 2
    calls.clear()
    assert cli.main(command) == 0 and calls == []  # the manifest is whole again
    assert not (out / "manifest.json.bad-2").exists()


@pytest.mark.parametrize("text", ["{ damaged", "[1, 2]", '{"pictures": 5}', "", '{"pictures": [], "x": 1'])
def test_an_unreadable_manifest_is_kept_and_pictures_not_in_a_manifest_are_not_overwritten(
    tiny_weights, folders, tmp_path, capsys, monkeypatch, text
) -> None:
    out = tmp_path / "out"
    command = _one_photo(folders, out, tiny_weights)
    before = _made(out, command)
    (out / JSON_FILE).write_text(text)
    capsys.readouterr()
    calls = counting(monkeypatch)
    assert cli.main(command) == 1
    error = capsys.readouterr().err
    assert "Traceback" not in error and calls == []
    warnings = [line for line in error_lines(error) if "warning" in line]
    assert len(warnings) == 1 and "cannot be read" in warnings[0] and "manifest.json.bad-1" in warnings[0]
    assert (out / "manifest.json.bad-1").read_text() == text
    refused = [line for line in error_lines(error) if "not recorded in" in line]
    assert len(refused) == 2 and all("move or delete it" in line for line in refused)
    assert {path.name: path.read_bytes() for path in out.glob("*.png")} == before  # nothing overwritten
    (out / "one__smooth.png").unlink()  # the user moves one away: that one is made again
    assert cli.main(command) == 1 and calls == ["one__smooth.png"]
    assert not (out / "manifest.json.bad-2").exists()


def test_a_users_file_with_an_outputs_name_is_not_overwritten(tiny_weights, folders, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "one__stripes.png").write_bytes(b"my own picture")
    command = _one_photo(folders, out, tiny_weights)
    assert cli.main(command) == 1
    error = capsys.readouterr().err
    [line] = [line for line in error_lines(error) if "one__stripes.png" in line]
    assert "not recorded in" in line and "Traceback" not in error
    assert (out / "one__stripes.png").read_bytes() == b"my own picture"
    assert rows(out)["one__smooth.png"]["status"] == "done" and "one__stripes.png" not in rows(out)


# --- painterly.batch.command called directly ---------------------------------------------------------


def test_batch_command_called_directly_paints_the_pair(tiny_weights, small_images, tmp_path) -> None:
    photo, painting = small_images
    out = tmp_path / "out"
    assert batch.batch_command([str(photo), "--style", str(painting), "-o", str(out), *tiny_options(tiny_weights)]) == 0
    assert (out / "photo__painting.png").is_file()
    assert rows(out)["photo__painting.png"]["status"] == "done"


def test_the_output_folder_checks(tmp_path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    assert batch.prepare_folder(tmp_path / "a" / "b") == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(PainterlyError, match="is a file"):
        batch.prepare_folder(tmp_path / "file")
    with pytest.raises(PainterlyError, match="is the photo folder"):
        batch.check_not_an_input_folder(photos, {"photo": [str(photos)], "painting": []})
    batch.check_not_an_input_folder(photos / "painted", {"photo": [str(photos)], "painting": []})


@pytest.mark.parametrize("method", ["strotss", "nnst"])
def test_a_batch_paints_with_a_later_method(method, tiny_weights, folders, tmp_path) -> None:
    photos, styles = folders
    out = tmp_path / "out"
    status = cli.main(["batch", str(photos), "--style", str(styles), "-o", str(out), "--method", method,
                       *tiny_options(tiny_weights, iterations=3)])  # fmt: skip
    assert status == 0
    recorded = rows(out)
    assert len(recorded) == 4 and all(row["status"] == "done" for row in recorded.values())
    for name in recorded:
        settings = json.loads(read_png_metadata(out / name)["painterly:settings"])
        assert settings["method"] == method
