"""`painterly video` (painterly.video.command and painterly.video.io) end to end with the tiny network on
a synthetic clip it makes itself: encoding and decoding round trips, audio copy, resume by frame, Ctrl-C,
and every bad input's one-line error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")
pytest.importorskip("cv2")

import painterly.api as api  # noqa: E402
import painterly.cli as cli  # noqa: E402
import painterly.video.command as command  # noqa: E402
from painterly import options  # noqa: E402
from painterly.errors import PainterlyError  # noqa: E402
from painterly.video import io  # noqa: E402
from tests.helpers import FPS, decoded, translating_frames, video_options, write_clip  # noqa: E402


@pytest.fixture
def clip(tmp_path) -> Path:
    return write_clip(tmp_path / "clip.mp4", translating_frames(8, dx=2, dy=1, height=48, width=64))


def grey_error(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of the luma (4:2:0 H.264 keeps it, and halves the colour)."""
    luma = np.array([0.299, 0.587, 0.114])
    return float(np.abs(a.astype(float) @ luma - b.astype(float) @ luma).mean())


def test_probe_and_read_frames_with_start_duration_and_count(clip) -> None:
    info = io.probe(clip)
    assert (info.width, info.height, info.fps, info.frames, info.has_audio) == (64, 48, FPS, 8, True)
    truth = translating_frames(8, dx=2, dy=1, height=48, width=64)
    frames = list(io.read_frames(clip, (48, 64)))
    assert len(frames) == 8
    assert grey_error(frames[3], truth[3]) < 2.5  # crf 0: only the 4:2:0 colour loss
    assert len(list(io.read_frames(clip, (24, 32), frames=3))) == 3
    later = list(io.read_frames(clip, (48, 64), start=0.25, duration=0.25))  # frames 3..5 at 12 fps
    assert len(later) == 3 and grey_error(later[0], truth[3]) < 2.5
    assert io.working_size(48, 64, 33) == (24, 32) and io.working_size(1080, 1920, 101) == (56, 100)


def test_encode_decode_round_trip_keeps_frames_rate_and_audio(clip, tmp_path) -> None:
    frames = translating_frames(5, dx=1, dy=0, height=48, width=64)
    out = tmp_path / "round.mp4"
    assert io.write_video(frames, out, FPS, audio_from=clip, crf=0) is None
    back, rate, audio = decoded(out)
    assert len(back) == 5 and rate == FPS and audio
    assert max(grey_error(a, b) for a, b in zip(back, frames, strict=True)) < 2.5
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".part")]


def test_video_command_writes_the_clip_with_audio_and_reports_flicker(tiny_weights, small_images, clip, tmp_path,
                                                                      capsys) -> None:  # fmt: skip
    out = tmp_path / "out.mp4"
    status = cli.main(["video", str(clip), str(small_images[1]), "-o", str(out), "--frames", "5", "--report",
                       *video_options(tiny_weights)])  # fmt: skip
    assert status == 0, capsys.readouterr().err
    frames, rate, audio = decoded(out)
    assert len(frames) == 5 and frames[0].shape == (24, 32, 3) and rate == FPS and audio
    report = capsys.readouterr().out
    assert "flicker:" in report and "over 4 frame pair(s)" in report
    assert not (tmp_path / "out.mp4.work").exists()  # removed once the clip is written


def test_resume_by_frame_and_ctrl_c_keeps_the_frames(tiny_weights, small_images, clip, tmp_path, monkeypatch,
                                                     capsys) -> None:  # fmt: skip
    out = tmp_path / "out.mp4"
    real = api.stylize_with
    calls: list[int] = []

    def stylize_with(*arguments, **keywords):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*arguments, **keywords)

    monkeypatch.setattr(api, "stylize_with", stylize_with)
    command = ["video", str(clip), str(small_images[1]), "-o", str(out), "--frames", "6", *video_options(tiny_weights)]
    assert cli.main(command) == 130
    assert "3 frame(s) done are kept" in capsys.readouterr().err
    state = json.loads((tmp_path / "out.mp4.work" / "state.json").read_text())
    assert [frame["index"] for frame in state["frames"]] == [1, 2, 3]
    kept = (tmp_path / "out.mp4.work" / "frame_00003.png").read_bytes()
    calls.clear()
    assert cli.main([*command, "--keep-frames"]) == 0
    assert len(calls) == 3  # frames 4, 5 and 6 only
    assert (tmp_path / "out.mp4.work" / "frame_00003.png").read_bytes() == kept
    calls.clear()
    assert cli.main([*command[:-len(video_options(tiny_weights))], "--frames", "7", *video_options(tiny_weights)]) == 0
    assert len(calls) == 1  # a longer clip continues the shorter one
    assert len(decoded(out)[0]) == 7


def test_independent_frames_flicker_more_than_temporal_ones(tiny_weights, small_images, clip, tmp_path,
                                                           capsys) -> None:  # fmt: skip
    flicker = {}
    for weight in ("0", "1000"):
        capsys.readouterr()
        status = cli.main(["video", str(clip), str(small_images[1]), "-o", str(tmp_path / f"w{weight}.mp4"),
                           "--report", "--temporal-weight", weight, "--init", "noise", "--frames", "4",
                           *video_options(tiny_weights, iterations=4)])  # fmt: skip
        assert status == 0
        line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("flicker:"))
        flicker[weight] = float(line.split()[1])
    assert flicker["1000"] < flicker["0"] / 2


def bad_inputs(tmp_path: Path, clip: Path) -> dict[str, tuple[list[str], str]]:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    sound = tmp_path / "sound.m4a"
    container = av.open(str(sound), "w", format="mp4")
    stream = container.add_stream("aac", rate=8000)
    frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
    frame.sample_rate = 8000
    container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()
    return {
        "not a video": ([str(text)], "is not a video"),
        "missing": ([str(tmp_path / "nope.mp4")], "does not exist"),
        "folder": ([str(tmp_path)], "is not a regular file (a folder)"),
        "no video stream": ([str(sound)], "no video stream"),
    }


@pytest.mark.parametrize("case", ["not a video", "missing", "folder", "no video stream"])
def test_bad_inputs_are_one_line_errors(tiny_weights, small_images, clip, tmp_path, capsys, case) -> None:
    arguments, message = bad_inputs(tmp_path, clip)[case]
    output = str(tmp_path / "o.mp4")
    status = cli.main(["video", *arguments, str(small_images[1]), "-o", output, *video_options(tiny_weights)])
    error = capsys.readouterr().err
    assert status == 2 and message in error and len(error.strip().splitlines()) == 1, error


def test_unwritable_outputs_are_refused_before_work(tiny_weights, small_images, clip, tmp_path, capsys) -> None:
    for output, message in [
        (tmp_path / "missing" / "o.mp4", "does not exist"),
        (tmp_path / "o.gif", "must end in"),
        (clip, "is the input video"),
    ]:
        status = cli.main(["video", str(clip), str(small_images[1]), "-o", str(output), *video_options(tiny_weights)])
        error = capsys.readouterr().err
        assert status == 2 and message in error and len(error.strip().splitlines()) == 1, error


def test_a_clip_too_large_for_memory_is_refused_before_decoding(tiny_weights, small_images, clip, tmp_path,
                                                                monkeypatch, capsys) -> None:  # fmt: skip
    import painterly.memory as memory

    monkeypatch.setattr(memory, "available_bytes", lambda *a, **k: 10_000_000)
    status = cli.main(["video", str(clip), str(small_images[1]), "-o", str(tmp_path / "o.mp4"),
                       *video_options(tiny_weights), "--size", "2000", "--scales", "1"])  # fmt: skip
    error = capsys.readouterr().err  # one scale: 3 evaluations are enough, only the memory is short
    assert status == 2 and "too large" in error and "needs about" in error, error
    assert len(error.strip().splitlines()) == 1, error


def test_a_damaged_middle_is_a_clean_error_or_a_shorter_clip(tiny_weights, small_images, clip, tmp_path,
                                                             capsys) -> None:  # fmt: skip
    damaged = tmp_path / "damaged.mp4"
    data = bytearray(clip.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 400] = os.urandom(400)
    damaged.write_bytes(bytes(data))
    status = cli.main(["video", str(damaged), str(small_images[1]), "-o", str(tmp_path / "o.mp4"),
                       *video_options(tiny_weights)])  # fmt: skip
    error = capsys.readouterr().err
    assert status in (0, 2) and "Traceback" not in error
    if status == 2:
        assert len(error.strip().splitlines()) == 1


def test_read_frames_reports_a_frame_that_cannot_be_decoded(clip, monkeypatch) -> None:
    class Broken:
        def __init__(self, frames):
            self.frames = iter(frames)
            self.count = 0

        def __iter__(self):
            return self

        def __next__(self):
            self.count += 1
            if self.count == 3:
                raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")
            return next(self.frames)

    real_open = av.open

    def opened(*arguments, **keywords):
        container = real_open(*arguments, **keywords)
        decode = container.decode

        class Wrapper:
            def __getattr__(self, name):
                return getattr(container, name)

            def decode(self, *a, **k):
                return Broken(decode(*a, **k))

        return Wrapper()

    monkeypatch.setattr(av, "open", opened)
    with pytest.raises(PainterlyError, match="frame 3 cannot be decoded"):
        list(io.read_frames(clip, (48, 64)))


# --- painterly.video.command's checks and report, called directly --------------------------------------


def test_frame_settings_and_the_frame_checks() -> None:
    arguments = ["clip.mp4", "painting.png", "-o", "o.mp4", "--iterations", "40", "--scales", "2"]
    namespace, chosen = options.parse_command_line(command.build_parser(), arguments)
    given = options.given_options(command.build_parser(with_defaults=False), arguments)
    first, later = command.frame_settings(chosen, namespace, given)
    assert first.schedule.iterations == 40 and first.schedule.scales == 2
    later_path = later.schedule  # a warped start needs fewer evaluations, at full size
    assert later_path.scales == 1 and 1 <= later_path.iterations < 40
    command.check_frames(first, later, (36, 48))
    with pytest.raises(PainterlyError, match="too narrow"):
        command.check_frames(first, later, (4, 200))
    with pytest.raises(PainterlyError, match="--iterations 1 is too few"):
        command.check_frames(first.replace(iterations=1), later, (36, 48))


@pytest.mark.parametrize(
    ("extra", "first_optimizer", "later_optimizer"),
    [
        ([], "adam", "lbfgs"),  # the default: the later frames leave the warped start alone where it is right
        (["--optimizer", "adam"], "adam", "adam"),  # a path the user chose is kept for every frame
        (["--average", "0.9"], "adam", "adam"),
        (["--preset", "classic"], "lbfgs", "lbfgs"),
        (["--temporal-weight", "0"], "adam", "adam"),  # independent frames: each like the first
    ],
)
def test_later_frames_use_lbfgs_unless_a_path_is_chosen(extra, first_optimizer, later_optimizer) -> None:
    arguments = ["clip.mp4", "painting.png", "-o", "o.mp4", *extra]
    namespace, chosen = options.parse_command_line(command.build_parser(), arguments)
    given = options.given_options(command.build_parser(with_defaults=False), arguments)
    first, later = command.frame_settings(chosen, namespace, given)
    assert (first.schedule.optimizer, later.schedule.optimizer) == (first_optimizer, later_optimizer)
    if later_optimizer == "lbfgs":
        assert later.schedule.decay == 0.0  # L-BFGS returns its best iterate, not an average


def test_the_report_and_the_unit_of_the_temporal_weight() -> None:
    records = [{"losses": {"total": 8.0, "style": 2.0}, "flicker": None},
               {"losses": {"total": 6.0, "style": 4.0}, "flicker": 1.5}]  # fmt: skip
    assert command.reference_loss(records) == 8.0 and command.reference_loss([]) == 1.0
    text = command.report_text(records, temporal_weight=100)
    assert "frames: 2 (temporal weight 100)" in text and "over 1 frame pair(s)" in text
    assert "style loss: mean 3 over the frames" in text


@pytest.mark.parametrize("method", ["strotss", "nnst"])
def test_the_later_methods_stylise_a_clip_with_the_temporal_term(method, tiny_weights, small_images, clip, tmp_path,
                                                                 monkeypatch) -> None:  # fmt: skip
    records: list[tuple[str, bool]] = []
    real = api.stylize_with

    def recording(network, inputs, settings, **kwargs):
        records.append((settings.network.method, kwargs.get("extra_loss") is not None))
        return real(network, inputs, settings, **kwargs)

    monkeypatch.setattr(api, "stylize_with", recording)
    out = tmp_path / "out.mp4"
    command_line = ["video", str(clip), str(small_images[1]), "-o", str(out), "--frames", "3", "--method", method]
    assert cli.main([*command_line, *video_options(tiny_weights)]) == 0
    frames, _, _ = decoded(out)
    assert len(frames) == 3 and frames[0].shape[:2] == (24, 32)
    # the first frame alone, the later ones with the temporal term, all with the method asked for
    assert records == [(method, False), (method, True), (method, True)]
