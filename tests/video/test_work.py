"""The video work folder (``OUT.mp4.work/``, painterly.video.work) and the inputs of ``painterly video``
under hostile conditions: files the user put in the folder, damaged state.json and frames, FIFOs given
as a clip or a painting, and the words of the errors about the frames' size and iterations."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

av = pytest.importorskip("av")
pytest.importorskip("cv2")

import painterly.cli as cli  # noqa: E402
from tests.helpers import decoded, translating_frames, video_options, write_clip  # noqa: E402


@pytest.fixture
def clip(tmp_path) -> Path:
    return write_clip(tmp_path / "clip.mp4", translating_frames(4, dx=2, dy=1, height=48, width=64), audio=False)


def run(clip: Path, painting: Path, out: Path, weights: Path, *extra: str) -> int:
    arguments = ["video", str(clip), str(painting), "-o", str(out), "--frames", "3"]
    return cli.main([*arguments, *video_options(weights), *extra])


def one_line(error: str) -> bool:
    return "Traceback" not in error and len(error.strip().splitlines()) == 1


def test_files_the_user_put_in_the_work_folder_are_never_deleted(tiny_weights, small_images, clip, tmp_path,
                                                                 capsys) -> None:  # fmt: skip
    out = tmp_path / "out.mp4"
    work = tmp_path / "out.mp4.work"
    (work / "mydocs").mkdir(parents=True)
    (work / "mydocs" / "letter.txt").write_text("dear")
    (work / "notes.txt").write_text("mine")
    status = run(clip, small_images[1], out, tiny_weights)
    error = capsys.readouterr().err
    assert status == 2 and one_line(error), error
    assert "did not write" in error and "notes.txt" in error and "mydocs" in error
    assert (work / "notes.txt").read_text() == "mine" and (work / "mydocs" / "letter.txt").read_text() == "dear"
    assert not out.exists()


def test_only_painterlys_own_files_are_discarded_and_removed(tiny_weights, small_images, clip, tmp_path,
                                                            capsys) -> None:  # fmt: skip
    """Frames of other settings are discarded by name; a Finder/Explorer file is kept, and so is its folder."""
    out = tmp_path / "out.mp4"
    work = tmp_path / "out.mp4.work"
    assert run(clip, small_images[1], out, tiny_weights, "--keep-frames", "--seed", "1") == 0
    (work / ".DS_Store").write_bytes(b"finder")
    (work / ".frame_00009.png-0123456789ab.part").write_bytes(b"half")  # a crash's leftover
    capsys.readouterr()
    assert run(clip, small_images[1], out, tiny_weights) == 0  # another seed: the frames are discarded
    assert sorted(os.listdir(work)) == [".DS_Store"]
    assert len(decoded(out)[0]) == 3


@pytest.mark.parametrize(
    "damage",
    [
        lambda state: {**state, "frames": 5},
        lambda state: {**state, "frames": None},
        lambda state: {**state, "frames": [{k: v for k, v in state["frames"][0].items() if k != "losses"}]},
        lambda state: {**state, "frames": [{**state["frames"][0], "losses": None}, *state["frames"][1:]]},
        lambda state: {**state, "frames": [*state["frames"][:1], {**state["frames"][1], "losses": {"style": "x"}}]},
        lambda state: {**state, "frames": [True, *state["frames"][1:]]},
        lambda state: [state],
        lambda state: None,
    ],
    ids=["frames-5", "frames-null", "no-losses", "losses-null", "losses-text", "record-true", "list", "null"],
)
def test_a_damaged_state_is_one_note_and_the_frames_are_recomputed(damage, tiny_weights, small_images, clip,
                                                                    tmp_path, capsys) -> None:  # fmt: skip
    out = tmp_path / "out.mp4"
    state_file = tmp_path / "out.mp4.work" / "state.json"
    assert run(clip, small_images[1], out, tiny_weights, "--keep-frames") == 0
    state_file.write_text(json.dumps(damage(json.loads(state_file.read_text()))))
    capsys.readouterr()
    status = run(clip, small_images[1], out, tiny_weights, "--keep-frames", "--report")
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "Traceback" not in captured.err and "frames: 3" in captured.out
    repaired = json.loads(state_file.read_text())
    assert [record["index"] for record in repaired["frames"]] == [1, 2, 3]


def test_a_damaged_frame_is_recomputed_on_the_next_run(tiny_weights, small_images, clip, tmp_path, capsys) -> None:
    out = tmp_path / "out.mp4"
    work = tmp_path / "out.mp4.work"
    assert run(clip, small_images[1], out, tiny_weights, "--keep-frames", "--frames", "2") == 0
    frame = work / "frame_00002.png"
    frame.write_bytes(frame.read_bytes()[:60])  # truncated
    capsys.readouterr()
    assert run(clip, small_images[1], out, tiny_weights, "--keep-frames") == 0, capsys.readouterr().err
    assert len(decoded(out)[0]) == 3


def test_a_frame_damaged_while_encoding_names_the_frame_and_the_next_run_mends_it(tiny_weights, small_images, clip,
                                                                                 tmp_path, monkeypatch,
                                                                                 capsys) -> None:  # fmt: skip
    from painterly.video import io

    out = tmp_path / "out.mp4"
    frame = tmp_path / "out.mp4.work" / "frame_00002.png"
    real = io.write_video

    def damage_then_write(frames, *arguments, **keywords):
        frame.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
        return real(frames, *arguments, **keywords)

    monkeypatch.setattr(io, "write_video", damage_then_write)
    status = run(clip, small_images[1], out, tiny_weights)
    error = capsys.readouterr().err
    assert status == 2 and one_line(error), error
    assert "frame 2" in error and "damaged" in error and "could not write" not in error and not out.exists()
    monkeypatch.setattr(io, "write_video", real)
    assert run(clip, small_images[1], out, tiny_weights) == 0
    assert len(decoded(out)[0]) == 3


def fifo(path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(path)
    return path


def without_hanging(function, pipe: Path, seconds: float = 20.0) -> int:
    """Run ``function``; if after ``seconds`` something is blocked reading ``pipe``, a watchdog thread
    opens it for writing and closes it (the reader sees the end) and the test fails instead of hanging."""
    hung = threading.Event()
    done = threading.Event()

    def watchdog() -> None:
        if done.wait(seconds):
            return
        while not done.is_set():
            try:  # succeeds only while a reader has the FIFO open
                os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
                hung.set()
            except OSError:
                pass
            done.wait(0.2)

    thread = threading.Thread(target=watchdog, daemon=True)
    thread.start()
    try:
        status = function()
    finally:
        done.set()
        thread.join()
    assert not hung.is_set(), "painterly video hung on a FIFO"
    return status


@pytest.mark.parametrize("role", ["clip", "painting"])
def test_a_fifo_is_refused_without_hanging(role, tiny_weights, small_images, clip, tmp_path, capsys) -> None:
    pipe = fifo(tmp_path / ("in.mp4" if role == "clip" else "in.png"))
    source, painting = (pipe, small_images[1]) if role == "clip" else (clip, pipe)
    status = without_hanging(lambda: run(source, painting, tmp_path / "out.mp4", tiny_weights), pipe)
    error = capsys.readouterr().err
    assert status == 2 and one_line(error) and "not a regular file" in error, error


def test_frames_too_narrow_are_not_called_too_large(tiny_weights, small_images, tmp_path, capsys) -> None:
    wide = write_clip(tmp_path / "wide.mp4", translating_frames(3, dx=1, dy=0, height=16, width=200), audio=False)
    status = cli.main(["video", str(wide), str(small_images[1]), "-o", str(tmp_path / "o.mp4"),
                       *video_options(tiny_weights), "--size", "64"])  # fmt: skip
    error = capsys.readouterr().err
    assert status == 2 and one_line(error), error
    assert "too large" not in error and "too narrow" in error and "--size" in error


@pytest.mark.parametrize(
    ("extra", "named"),
    [(["--iterations", "2", "--scales", "3"], "--iterations 2"),
     (["--iterations", "3", "--scales", "3", "--temporal-weight", "0"], "--frame-iterations 2")],
)  # fmt: skip
def test_too_few_iterations_are_not_called_too_large(extra, named, tiny_weights, small_images, clip, tmp_path,
                                                     capsys) -> None:  # fmt: skip
    status = cli.main(["video", str(clip), str(small_images[1]), "-o", str(tmp_path / "o.mp4"),
                       *video_options(tiny_weights), "--size", "64", *extra])  # fmt: skip
    error = capsys.readouterr().err
    assert status == 2 and one_line(error), error
    assert "too large" not in error and named in error and "3 scales" in error
