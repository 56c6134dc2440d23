"""Property-based tests of ``painterly video``'s work folder (``OUT.mp4.work/``) under damage.

Properties, whatever was done to the folder between two runs:

- the command returns 0 or 2 and prints no traceback; a 2 is one line;
- nothing painterly did not write is ever deleted: a file or folder the user put there is
  refused (2) and left as it was;
- a damaged record or frame costs at most one run: the run after it writes the whole clip.

Damage drawn: ``state.json`` replaced by random bytes, cut short, or with any value of it replaced
by any JSON value or removed (``"frames": 5``, a record's ``"losses": null``...); a frame cut short,
overwritten, deleted or replaced by a valid PNG of another size; user files beside them. Each test
draws a small fixed budget of examples, derandomized; one run is three 32 px frames of the tiny
network (about a second).
"""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import painterly.cli as cli
from tests.adversarial import budget

av = pytest.importorskip("av")
pytest.importorskip("cv2")

BUDGET = budget(12)
FRAMES = 3
SYSTEM_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}  # tolerated (and kept): painterly.video.work
counter = itertools.count()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def finished(tiny_weights, tmp_path_factory) -> dict[str, Any]:
    """A clip, a painting, and the work folder of a finished run (kept with --keep-frames)."""
    from tests.helpers import pattern as _pattern
    from tests.helpers import translating_frames, write_clip

    folder = tmp_path_factory.mktemp("finished")
    clip = write_clip(folder / "clip.mp4", translating_frames(FRAMES, dx=1, dy=1, height=36, width=48), audio=False)
    painting = folder / "painting.png"
    _pattern(40, 40, stripes=True).save(painting)
    command = command_for(clip, painting, folder / "out.mp4", tiny_weights)
    assert cli.main([*command, "--keep-frames"]) == 0
    return {"clip": clip, "painting": painting, "work": folder / "out.mp4.work"}


def command_for(clip: Path, painting: Path, out: Path, weights: Path) -> list[str]:
    return ["video", str(clip), str(painting), "-o", str(out), "--frames", str(FRAMES), "--size", "32",
            "--iterations", "2", "--frame-iterations", "1", "--weights", str(weights), "--device", "cpu",
            "--precision", "fp32", "--quiet"]  # fmt: skip


def case(finished: dict[str, Any], tmp_path: Path) -> tuple[Path, Path]:
    """A fresh copy of the finished work folder: (the output path, its work folder)."""
    folder = tmp_path / f"case{next(counter)}"
    folder.mkdir()
    shutil.copytree(finished["work"], folder / "out.mp4.work")
    return folder / "out.mp4", folder / "out.mp4.work"


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON document (keys and list indices), the root included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_of(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths_of(item, (*prefix, index))
    return found


def replaced(document: Any, path: tuple[Any, ...], value: Any, remove: bool) -> Any:
    if not path:
        return value
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    if remove:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return document


def runs_clean(command: list[str], capsys) -> int:
    status = cli.main(command)
    error = capsys.readouterr().err
    assert status in (0, 2), error
    assert "Traceback" not in error, error
    if status == 2:
        assert len(error.strip().splitlines()) == 1, error
    return status


def recovers(command: list[str], out: Path, capsys) -> None:
    """This run or, after a damaged frame named in one line, the next one writes the whole clip."""
    if runs_clean(command, capsys) == 2:
        assert runs_clean(command, capsys) == 0
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == FRAMES
    assert not out.with_name(out.name + ".work").exists()


@BUDGET
@given(data=st.data())
def test_any_damage_to_state_json(tiny_weights, finished, tmp_path, capsys, data) -> None:
    out, work = case(finished, tmp_path)
    state_file = work / "state.json"
    kind = data.draw(st.sampled_from(["value", "value", "value", "bytes", "cut"]))
    if kind == "bytes":
        state_file.write_bytes(data.draw(st.binary(max_size=300)))
    elif kind == "cut":
        text = state_file.read_bytes()
        state_file.write_bytes(text[: data.draw(st.integers(0, len(text) - 1))])
    else:
        document = json.loads(state_file.read_text())
        path = data.draw(st.sampled_from(paths_of(document)))
        remove = bool(path) and data.draw(st.booleans())
        state_file.write_text(json.dumps(replaced(document, path, data.draw(json_values), remove)))
    recovers(command_for(finished["clip"], finished["painting"], out, tiny_weights), out, capsys)


@BUDGET
@given(
    index=st.integers(1, FRAMES),
    kind=st.sampled_from(["cut", "garbage", "delete", "other size", "empty"]),
    where=st.floats(0.0, 1.0),
)
def test_any_damage_to_a_frame(tiny_weights, finished, tmp_path, capsys, index, kind, where) -> None:
    from PIL import Image

    out, work = case(finished, tmp_path)
    frame = work / f"frame_{index:05d}.png"
    data = frame.read_bytes()
    cut = int(where * (len(data) - 1))
    if kind == "cut":
        frame.write_bytes(data[:cut])
    elif kind == "garbage":
        frame.write_bytes(data[:cut] + bytes(range(256))[: len(data) - cut] + data[cut + 256 :])
    elif kind == "delete":
        frame.unlink()
    elif kind == "other size":
        Image.new("RGB", (20, 16), "red").save(frame)
    else:
        frame.write_bytes(b"")
    recovers(command_for(finished["clip"], finished["painting"], out, tiny_weights), out, capsys)


names = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1,
                max_size=16).filter(lambda name: name not in (".", ".."))  # fmt: skip


@BUDGET
@given(
    entries=st.lists(
        st.tuples(names, st.sampled_from(["file", "folder", "link"]), st.binary(max_size=50)), min_size=1, max_size=4
    ),
    also_damaged=st.booleans(),
)
def test_files_the_user_put_there_are_kept(tiny_weights, finished, tmp_path, capsys, entries, also_damaged) -> None:
    out, work = case(finished, tmp_path)
    if also_damaged:  # what made painterly discard the folder before: a state of other settings
        (work / "state.json").write_text(json.dumps({"key": "other", "frames": []}))
    before = {path.name for path in work.iterdir()}
    placed: dict[str, bytes | None] = {}
    for name, kind, data in entries:
        path = work / name
        if name in before or name in placed:
            continue
        try:
            if kind == "folder":
                path.mkdir()
                (path / "inside.txt").write_bytes(data)
            elif kind == "link":
                path.symlink_to(finished["painting"])
            else:
                path.write_bytes(data)
        except OSError:  # a name the file system refuses (too long in bytes, say)
            continue
        placed[name] = None if kind != "file" else data
    if not placed:
        return
    status = runs_clean(command_for(finished["clip"], finished["painting"], out, tiny_weights), capsys)
    if set(placed) <= SYSTEM_FILES:
        assert status == 0
    else:
        assert status == 2 and not out.exists()
    for name, data in placed.items():
        path = work / name
        assert path.exists() or path.is_symlink(), name
        if data is not None:
            assert path.read_bytes() == data
        elif path.is_dir() and not path.is_symlink():
            assert (path / "inside.txt").exists()
    if status == 2:  # and painterly's own files were not touched either
        assert before <= {path.name for path in work.iterdir()}
