"""Paths that are not regular files (issue 13): FIFOs given as inputs, folders in the weights cache.

A FIFO blocks whoever opens it for reading until a writer comes, so a program that opens one
hangs. These tests cannot hang: while a test runs, a helper thread checks whether the code under
test opened the FIFO and, if so, opens the other end and closes it at once, so that the reader
sees an empty file and the test fails on its assertion instead of blocking.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import painterly.cli as cli
from painterly.errors import PainterlyError
from painterly.image import load_image
from painterly.models import cache
from painterly.models.vgg import VGGArchitecture
from painterly.models.weights import load_source, load_weights_file

UNJAM_AFTER_S = 2.0
TINY19 = VGGArchitecture("tiny19", (2, 2, 4, 4, 4), (4, 8, 8, 8, 8))
# Runs in its own process: a reader blocked inside native code (safetensors) may hold the GIL.
UNJAM = """
import os, sys, time
path, after = sys.argv[1], float(sys.argv[2])
time.sleep(after)
while True:
    try:  # succeeds only while a reader holds the FIFO open (blocked in open or read)
        descriptor = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        time.sleep(0.05)
        continue
    os.close(descriptor)  # the reader sees end of file
    print("opened", flush=True)
    time.sleep(0.05)
"""


class Fifos:
    """Makes FIFOs and records whether the code under test ever opened one for reading."""

    def __init__(self) -> None:
        self.helpers: list[tuple[Path, subprocess.Popen[str]]] = []

    def make(self, path: Path) -> Path:
        os.mkfifo(path)
        command = [sys.executable, "-c", UNJAM, str(path), str(UNJAM_AFTER_S)]
        self.helpers.append((path, subprocess.Popen(command, stdout=subprocess.PIPE, text=True)))
        return path

    def close(self) -> list[Path]:
        """Stop the helpers; the FIFOs that the code under test opened."""
        opened = []
        for path, helper in self.helpers:
            helper.terminate()
            output, _ = helper.communicate(timeout=10)
            if "opened" in output:
                opened.append(path)
        return opened


@pytest.fixture
def fifos() -> Iterator[Fifos]:
    maker = Fifos()
    yield maker
    opened = maker.close()
    assert not opened, f"the code opened {opened} (it would block forever)"


def run_cli(capsys: pytest.CaptureFixture[str], *arguments: str | Path) -> tuple[int, str]:
    code = cli.main([str(argument) for argument in arguments])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("role", ["content image", "style image", "init image", "content mask"])
def test_fifo_image_is_refused_before_it_is_opened(tmp_path: Path, fifos: Fifos, role: str) -> None:
    pipe = fifos.make(tmp_path / "picture.png")
    with pytest.raises(PainterlyError) as raised:
        load_image(pipe, role=role)
    message = str(raised.value)
    assert message == f"{role} '{pipe}' is not a regular file (a FIFO); give an image file"


def test_character_device_is_refused(tmp_path: Path) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    with pytest.raises(PainterlyError, match=r"is not a regular file \(a character device\)"):
        load_image("/dev/zero", role="content image")


@pytest.mark.parametrize("position", ["photo", "painting", "--style-masks", "--content-mask", "--init", "--weights"])
def test_fifo_anywhere_on_the_command_line_is_one_clear_error(
    tiny_weights: Path,
    small_images: tuple[Path, Path],
    tmp_path: Path,
    fifos: Fifos,
    capsys: pytest.CaptureFixture[str],
    position: str,
) -> None:
    content, style = small_images
    pipe = fifos.make(tmp_path / ("pipe.safetensors" if position == "--weights" else "pipe.png"))
    photo = pipe if position == "photo" else content
    painting = pipe if position == "painting" else style
    extra: list[str | Path] = [position, pipe] if position.startswith("--") else []
    weights: list[str | Path] = [] if position == "--weights" else ["--weights", tiny_weights]
    arguments = [photo, painting, "-o", tmp_path / "out.png", *weights, "--size", "32", "--iterations", "2", *extra]
    code, err = run_cli(capsys, *arguments, "--quiet", "--precision", "fp32")
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "is not a regular file (a FIFO)" in lines[0] and str(pipe) in lines[0], lines[0]
    assert not (tmp_path / "out.png").exists()


def test_fifo_weights_file_is_refused(tmp_path: Path, fifos: Fifos) -> None:
    pipe = fifos.make(tmp_path / "vgg19.pth")
    with pytest.raises(PainterlyError, match=r"weights file .*vgg19.pth is not a regular file \(a FIFO\); give a"):
        load_weights_file(pipe)


def test_fifo_in_the_cache_is_refused(fifos: Fifos, monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = fifos.make(cache.prepare_weights_dir() / "vgg19.safetensors")
    monkeypatch.setattr("painterly.models.download.download_http_file", _must_not_download)
    with pytest.raises(PainterlyError, match=r"cached vgg19 weights .* is not a regular file \(a FIFO\); delete"):
        load_source("vgg19")
    assert pipe.exists()  # left for the user to look at, not deleted


def test_file_in_place_of_the_weights_folder_is_named(isolated_cache: Path) -> None:
    (isolated_cache / "weights").write_text("not a folder")
    with pytest.raises(PainterlyError) as raised:
        load_source("vgg19")
    message = str(raised.value)
    assert f"{isolated_cache / 'weights'} is a file, not a folder" in message
    assert "free some space" not in message


def test_write_failures_name_their_cause(tmp_path: Path) -> None:
    folder = tmp_path / "weights" / "vgg19.safetensors"
    folder.mkdir(parents=True)
    assert "it is a folder" in cache.write_failure(folder, IsADirectoryError(21, "Is a directory"))
    full = cache.write_failure(tmp_path / "x.safetensors", OSError(28, "No space left on device"))
    assert "free some space" in full
    denied = cache.write_failure(tmp_path / "x.safetensors", PermissionError(13, "Permission denied"))
    assert "Permission denied" in denied and "free some space" not in denied


def _must_not_download(*args: object, **kwargs: object) -> None:
    raise AssertionError("a FIFO in the cache must be reported, not replaced by a download")


def test_regular_files_still_load(tmp_path: Path) -> None:
    from painterly.models.weights import save_weights_file

    generator = torch.Generator().manual_seed(0)
    state = {key: torch.randn(shape, generator=generator) for key, shape in TINY19.parameter_shapes().items()}
    save_weights_file(tmp_path / "ok.safetensors", state, preprocessing="caffe")
    assert load_weights_file(tmp_path / "ok.safetensors").arch.convs_per_block == TINY19.convs_per_block
