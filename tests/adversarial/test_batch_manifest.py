"""Property-based tests of the batch manifest and of batches sharing one output folder (issue 20).

Properties:

- ``Manifest.load`` never raises on any manifest.json (random bytes, truncated JSON, every field
  of every row given a value of any JSON type, unknown or missing keys, another top level, deep
  nesting). What it cannot use is reported once (``keep_damaged``), the file as it was is kept as
  manifest.json.bad-N, and the manifest written back loads with nothing to report (so the
  next row written, and the next run, cannot fail on it).
- ``painterly batch`` on a folder with such a manifest exits 0 or 1 with no traceback, and
  never changes a picture that no row of the damaged manifest recorded.
- A second batch into a folder that a batch is writing (started at any picture of the first,
  or from another process) is refused with one line naming the lock, and the manifest then
  records exactly the pictures on disk.

Budgets are small and derandomized (the manifest property itself runs no network).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import painterly.batch.executor as executor
import painterly.cli as cli
from painterly.batch.lock import LOCK_FILE
from painterly.batch.manifest import JSON_FILE, Entry, Manifest, parse_row
from tests.adversarial import budget

FAST = budget(80)
SLOW = budget(8)
FIELDS = [field for field in Entry.__dataclass_fields__]
counter = itertools.count()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=10**308, max_value=10**310)
    | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip


def valid_rows(count: int = 3) -> list[dict[str, Any]]:
    return [
        {"output": f"p{index}__s.png", "status": "done", "content": f"/in/p{index}.png", "style": "/in/s.png",
         "content_sha256": "a" * 64, "style_sha256": "b" * 64, "settings_key": "k" * 16, "settings": {"size": 32},
         "final_losses": {"content": 1.5, "style": 2.0, "total": 3.5}, "seconds": 0.25, "error": "",
         "finished_at": "2026-01-01T00:00:00+00:00"}
        for index in range(count)
    ]  # fmt: skip


def document(rows: list[Any]) -> dict[str, Any]:
    return {"painterly": "0.1", "pictures": rows}


@st.composite
def damaged_manifests(draw: st.DrawFn) -> bytes:
    """manifest.json text damaged one way (or not at all: the property must hold either way)."""
    rows = valid_rows()
    kind = draw(st.sampled_from(["bytes", "truncated", "field", "unknown", "missing", "top", "row", "deep"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "truncated":
        text = json.dumps(document(rows)).encode()
        return text[: draw(st.integers(0, len(text)))]
    if kind == "deep":
        depth = draw(st.integers(10, 100_000))
        return ('{"pictures": ' + "[" * depth + "]" * depth + "}").encode()
    if kind == "top":
        return json.dumps(draw(json_values)).encode()
    row = rows[draw(st.integers(0, len(rows) - 1))]
    if kind == "field":
        row[draw(st.sampled_from(FIELDS))] = draw(json_values)
    elif kind == "missing":
        del row[draw(st.sampled_from(FIELDS))]
    elif kind == "unknown":
        target = row if draw(st.booleans()) else None
        key = draw(st.text(min_size=1, max_size=6).filter(lambda name: name not in [*FIELDS, "painterly", "pictures"]))
        if target is None:
            top = document(rows)
            top[key] = draw(json_values)
            return json.dumps(top).encode()
        row[key] = draw(json_values)
    else:  # a row replaced by any JSON value
        rows[rows.index(row)] = draw(json_values)
    return json.dumps(document(rows), allow_nan=True).encode()


@FAST
@given(data=damaged_manifests())
def test_any_manifest_loads_is_reported_once_and_is_whole_after(tmp_path, data: bytes) -> None:
    folder = tmp_path / f"case{next(counter)}"
    folder.mkdir()
    (folder / JSON_FILE).write_bytes(data)
    manifest = Manifest.load(folder)
    warning = manifest.keep_damaged()
    if warning is None:
        assert (folder / JSON_FILE).read_bytes() == data and not list(folder.glob("*.bad-*"))
    else:
        assert "\n" not in warning and "manifest.json.bad-1" in warning
        assert (folder / "manifest.json.bad-1").read_bytes() == data  # the user's file is kept as it was
    for entry in manifest.entries.values():
        assert parse_row(entry.__dict__)[0] is not None and manifest.owns(entry.output)
    again = Manifest.load(folder)  # what was written back is whole: no warning, no second copy
    if warning is not None:
        assert again.keep_damaged() is None and not (folder / "manifest.json.bad-2").exists()
        assert set(again.entries) == set(manifest.entries)
    again.record(Entry(output="new.png", status="done", content="c", style="s"))  # the next row is written


def make_image(path: Path, stripes: bool) -> Path:
    image = Image.new("RGB", (40, 32), "white")
    for x in range(0, 40, 6 if stripes else 40):
        image.paste((200, 40, 40) if stripes else (90, 140, 200), (x, 0, x + 3, 32))
    image.save(path)
    return path


def tiny(weights: Path) -> list[str]:
    return ["--size", "32", "--iterations", "2", "--weights", str(weights), "--device", "cpu", "--precision", "fp32",
            "--quiet", "--no-grid"]  # fmt: skip


@pytest.fixture(scope="module")
def made_batch(tiny_weights, tmp_path_factory) -> tuple[Path, list[str]]:
    """A finished batch of one photo in two styles, and the arguments that made it (its -o last)."""
    root = tmp_path_factory.mktemp("batch")
    photo = make_image(root / "photo.png", stripes=False)
    styles = root / "styles"
    styles.mkdir()
    make_image(styles / "stripes.png", stripes=True)
    make_image(styles / "plain.png", stripes=False)
    out = root / "out"
    arguments = ["batch", str(photo), "--style", str(styles), *tiny(tiny_weights)]
    assert cli.main([*arguments, "-o", str(out)]) == 0
    return out, arguments


def pictures(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.glob("*.png")}


@SLOW
@given(data=damaged_manifests(), remove=st.booleans())
def test_a_batch_on_a_damaged_manifest_never_crashes_or_overwrites_what_it_cannot_attribute(
    made_batch, tmp_path, capsys, data: bytes, remove: bool
) -> None:
    source, arguments = made_batch
    out = tmp_path / f"case{next(counter)}"
    shutil.copytree(source, out)
    real = json.loads((out / JSON_FILE).read_text())["pictures"]
    for index, row in enumerate(valid_rows(len(real))):  # the drawn damage, on this folder's real rows
        data = data.replace(row["output"].encode(), real[index]["output"].encode())
    (out / JSON_FILE).write_bytes(data)
    if remove:
        (out / real[0]["output"]).unlink()
    before = pictures(out)
    claimed = Manifest.load(out).owned
    capsys.readouterr()
    status = cli.main([*arguments, "-o", str(out)])
    error = capsys.readouterr().err
    assert status in (0, 1) and "Traceback" not in error, error
    for name, content in before.items():
        assert name in claimed or pictures(out)[name] == content  # a file no row recorded is kept
    if "warning" in error:
        assert (out / "manifest.json.bad-1").read_bytes() == data
    status = cli.main([*arguments, "-o", str(out)])
    assert status in (0, 1) and "warning" not in capsys.readouterr().err
    assert not (out / "manifest.json.bad-2").exists()


def recorded(out: Path) -> set[str]:
    return {row["output"] for row in json.loads((out / JSON_FILE).read_text())["pictures"] if row["status"] == "done"}


@budget(4)
@given(at=st.integers(0, 3), other_settings=st.booleans())
def test_a_second_batch_started_at_any_picture_is_refused(
    tiny_weights, tmp_path, monkeypatch, capsys, at: int, other_settings: bool
) -> None:
    folder = tmp_path / f"case{next(counter)}"
    folder.mkdir()
    photos = [make_image(folder / "a.png", False), make_image(folder / "b.png", True)]
    styles = [make_image(folder / "s.png", True), make_image(folder / "t.png", False)]
    out = folder / "out"
    command = ["batch", *map(str, photos), "--style", *map(str, styles), "-o", str(out), *tiny(tiny_weights)]
    second = [*command, "--style-weight", "7"] if other_settings else command
    real = executor.make_picture
    seen: list[str] = []
    statuses: list[int] = []

    def make_picture(network, task, **kwargs):
        seen.append(task.job.name)
        if len(seen) == at + 1:
            statuses.append(cli.main(second))
        return real(network, task, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(executor, "make_picture", make_picture)
        assert cli.main(command) == 0
    error = capsys.readouterr().err
    assert statuses == [2]
    [line] = [line for line in error.splitlines() if LOCK_FILE in line]
    assert line.startswith("painterly: error: another painterly batch") and "wait for it to finish" in line
    assert recorded(out) == {path.name for path in out.glob("*.png")} and len(recorded(out)) == 4


def test_two_processes_into_one_folder_leave_one_whole_manifest(tiny_weights, tmp_path, capsys) -> None:
    photos = [make_image(tmp_path / f"{name}.png", index % 2 == 0) for index, name in enumerate("abc")]
    style = make_image(tmp_path / "s.png", True)
    out = tmp_path / "out"
    command = ["batch", *map(str, photos), "--style", str(style), "-o", str(out), *tiny(tiny_weights)]
    script = "import sys; from painterly.cli import main; sys.exit(main(sys.argv[1:]))"
    other = subprocess.Popen([sys.executable, "-c", script, *command], stderr=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    try:
        mine = cli.main(command)  # races the other process: one of them may be refused, never both run
        _, other_error = other.communicate(timeout=300)
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()
    mine_error = capsys.readouterr().err
    assert mine in (0, 2) and other.returncode in (0, 2), (mine_error, other_error)
    for status, error in ((mine, mine_error), (other.returncode, other_error)):
        assert "Traceback" not in error
        if status == 2:
            assert len(error.strip().splitlines()) == 1 and LOCK_FILE in error
    assert recorded(out) == {path.name for path in out.glob("*.png")} and len(recorded(out)) == 3
    assert cli.main(command) == 0 and os.path.exists(out / LOCK_FILE)
