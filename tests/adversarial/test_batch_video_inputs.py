"""Property-based tests of ``painterly batch`` and ``painterly video`` over hostile inputs.

Property: the command returns a status (0, 1 for a batch with failed pictures, 2 for a user
error) and prints no traceback; every error is one line. Inputs: random bytes named as a video,
a real clip truncated at a random point or with garbage written over a random run, and folders
of oddly named files (random bytes, valid images, empty files, subfolders, image extensions on
non-images). Each test draws a small fixed budget of examples, derandomized.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import painterly.cli as cli
from tests.adversarial import budget

av = pytest.importorskip("av")
pytest.importorskip("cv2")

BUDGET = budget(12)
counter = itertools.count()


def tiny(weights: Path, video: bool = True) -> list[str]:
    frames = ["--frame-iterations", "1"] if video else []
    return ["--size", "32", "--iterations", "2", *frames, "--weights", str(weights), "--device", "cpu",
            "--precision", "fp32", "--quiet"]  # fmt: skip


def check_clean(status: int, error: str, allowed: tuple[int, ...]) -> None:
    assert status in allowed, error
    assert "Traceback" not in error
    if status == 2:
        assert len(error.strip().splitlines()) == 1, error


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory) -> bytes:
    from tests.helpers import translating_frames, write_clip

    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    return write_clip(path, translating_frames(4, dx=1, dy=0, height=32, width=48)).read_bytes()


@BUDGET
@given(data=st.binary(min_size=0, max_size=4000), suffix=st.sampled_from([".mp4", ".mov", ".mkv", ".webm", ""]))
def test_random_bytes_as_a_video(tiny_weights, small_images, tmp_path, capsys, data: bytes, suffix: str) -> None:
    folder = tmp_path / f"case{next(counter)}"
    folder.mkdir()
    source = folder / f"in{suffix}"
    source.write_bytes(data)
    status = cli.main(["video", str(source), str(small_images[1]), "-o", str(folder / "o.mp4"),
                       *tiny(tiny_weights)])  # fmt: skip
    check_clean(status, capsys.readouterr().err, (0, 2))


@BUDGET
@given(cut=st.floats(0.0, 1.0), garbage=st.booleans(), seed=st.integers(0, 2**16))
def test_damaged_clips(tiny_weights, small_images, clip_bytes, tmp_path, capsys, cut, garbage, seed) -> None:
    folder = tmp_path / f"case{next(counter)}"
    folder.mkdir()
    data = bytearray(clip_bytes)
    position = int(cut * len(data))
    if garbage:
        run = bytes((seed * 31 + index * 17) % 256 for index in range(300))
        data[position : position + 300] = run
    else:
        data = data[:position]
    source = folder / "in.mp4"
    source.write_bytes(bytes(data))
    status = cli.main(["video", str(source), str(small_images[1]), "-o", str(folder / "o.mp4"), "--frames", "2",
                       *tiny(tiny_weights)])  # fmt: skip
    check_clean(status, capsys.readouterr().err, (0, 2))


names = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1,
                max_size=12).filter(lambda name: name not in (".", ".."))  # fmt: skip
kinds = st.sampled_from(["image", "bytes", "empty", "folder"])
suffixes = st.sampled_from([".png", ".jpg", ".txt", "", ".PNG", ".tiff"])


@BUDGET
@given(entries=st.lists(st.tuples(names, kinds, suffixes, st.binary(max_size=200)), max_size=5))
def test_odd_folders_for_batch(tiny_weights, small_images, tmp_path, capsys, entries) -> None:
    folder = tmp_path / f"case{next(counter)}"
    photos = folder / "photos"
    photos.mkdir(parents=True)
    for name, kind, suffix, data in entries:
        path = photos / f"{name}{suffix}"
        try:
            if kind == "folder":
                path.mkdir(exist_ok=True)
            elif kind == "image":
                shutil.copy(small_images[0], path)
            else:
                path.write_bytes(b"" if kind == "empty" else data)
        except OSError:  # a name the file system refuses (too long in bytes, say)
            continue
    status = cli.main(["batch", str(photos), "--style", str(small_images[1]), "-o", str(folder / "out"),
                       *tiny(tiny_weights, video=False), "--no-grid"])  # fmt: skip
    check_clean(status, capsys.readouterr().err, (0, 1, 2))
