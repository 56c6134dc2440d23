"""Failures an adversarial run found in the stylise command and the API (issue 13), one test each.

Each test reproduced its failure on commit 71a4382 before the fix.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import painterly.cli as cli
from painterly import PainterlyError, stylize
from painterly.image import read_png_metadata

REPOSITORY = Path(__file__).resolve().parents[1]


def run(capsys: pytest.CaptureFixture[str], *arguments: str | Path) -> tuple[int, str]:
    code = cli.main([str(argument) for argument in arguments])
    return code, capsys.readouterr().err


def tiny(weights: Path, *extra: str) -> list[str]:
    return ["--weights", str(weights), "--size", "32", "--iterations", "4", "--precision", "fp32", "--quiet", *extra]


def one_error_line(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("painterly: error: "), err
    for word in words:
        assert word in lines[0], lines[0]


def api_options(weights: Path, **extra: object) -> dict[str, object]:
    return {"weights": str(weights), "size": 32, "iterations": 3, "precision": "fp32", "device": "cpu", **extra}


# 1. --save-every overwrote inputs named like its snapshots ---------------------------------------


@pytest.mark.parametrize("role", ["photo", "painting", "init"])
def test_save_every_never_overwrites_an_input(tiny_weights, small_images, tmp_path, capsys, role) -> None:
    content, style = small_images
    victim = tmp_path / "out_00002.png"
    if role == "photo":
        victim.write_bytes(content.read_bytes())
        arguments = [victim, style]
    elif role == "painting":
        victim.write_bytes(style.read_bytes())
        arguments = [content, victim]
    else:
        victim.write_bytes(style.read_bytes())
        arguments = [content, style, "--init", victim]
    before = victim.read_bytes()
    code, err = run(capsys, *arguments, "-o", tmp_path / "out.png", *tiny(tiny_weights, "--save-every", "2"))
    one_error_line(code, err, "--save-every", "out_NNNNN.png", "rename the input")
    assert victim.read_bytes() == before
    assert not (tmp_path / "out.png").exists()


def test_save_every_still_writes_snapshots_beside_unrelated_inputs(tiny_weights, small_images, tmp_path, capsys):
    content, style = small_images
    code, err = run(capsys, content, style, "-o", tmp_path / "out.png", *tiny(tiny_weights, "--save-every", "2"))
    assert code == 0, err
    assert sorted(path.name for path in tmp_path.glob("out_*.png")) == ["out_00002.png", "out_00004.png"]


# 3. tiny sides: a traceback in avg_pool2d -------------------------------------------------------


def picture(path: Path, width: int, height: int) -> Path:
    generator = np.random.default_rng(width * 7 + height)
    Image.fromarray(generator.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize(("width", "height", "size"), [(1200, 100, 512), (1000, 100, 512), (160, 16, 160)])
def test_narrow_photos_work_where_a_picture_is_possible(tiny_weights, tmp_path, width, height, size) -> None:
    photo = picture(tmp_path / "panorama.png", width, height)
    painting = picture(tmp_path / "painting.png", 40, 40)
    result = stylize(photo, painting, **api_options(tiny_weights, size=size, iterations=4))
    got_height, got_width = result.image.shape[-2:]
    assert max(got_height, got_width) == size
    assert all(min(h, w) >= 16 for h, w, _ in result.settings["scales"])


@pytest.mark.parametrize(("width", "height"), [(20000, 8), (4000, 16), (600, 8)])
def test_photos_too_narrow_at_any_size_are_one_clear_error(tiny_weights, tmp_path, width, height) -> None:
    photo = picture(tmp_path / "strip.png", width, height)
    painting = picture(tmp_path / "painting.png", 40, 40)
    with pytest.raises(PainterlyError, match=r"short side would be .* the network needs at least 16"):
        stylize(photo, painting, **api_options(tiny_weights, size=512))


def test_a_narrow_tensor_in_the_api_is_a_clear_error(tiny_weights, small_images) -> None:
    _, style = small_images
    with pytest.raises(PainterlyError, match=r"use --size 1200 or more"):
        stylize(torch.rand(3, 8, 600), style, **api_options(tiny_weights, size=512))


@pytest.mark.parametrize(("style_scale", "size"), [(0.1, 512), (0.01, 64), (1.0, 64)])
def test_tiny_or_narrow_paintings_are_enlarged_to_what_the_network_sees(
    tiny_weights, tmp_path, style_scale, size
) -> None:
    photo = picture(tmp_path / "photo.png", 64, 48)
    painting = picture(tmp_path / "wide.png", 400, 40)  # 10:1
    result = stylize(photo, painting, **api_options(tiny_weights, size=size, style_scale=style_scale))
    assert torch.isfinite(result.image).all()


# 4. signals: a second Ctrl-C lost the image; SIGTERM ------------------------------------------


def _start(tiny_weights: Path, small_images: tuple[Path, Path], output: Path) -> subprocess.Popen[str]:
    content, style = small_images
    command = [
        sys.executable, "-m", "painterly.cli", str(content), str(style), "-o", str(output),
        "--weights", str(tiny_weights), "--size", "48", "--iterations", "3000", "--precision", "fp32",
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=REPOSITORY, stderr=subprocess.PIPE, text=True)


def _wait_for_evaluations(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    line = process.stderr.readline()
    while line and not line.startswith("evaluation"):
        line = process.stderr.readline()
    return line


@pytest.mark.parametrize("signals", [[signal.SIGTERM], [signal.SIGINT, signal.SIGINT], [signal.SIGINT] * 5])
def test_signals_save_the_image_first(tiny_weights, small_images, tmp_path, signals) -> None:
    output = tmp_path / "out.png"
    process = _start(tiny_weights, small_images, output)
    assert _wait_for_evaluations(process), "the run printed no progress"
    for signum in signals:
        process.send_signal(signum)
        time.sleep(0.01)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert "saved" in err
    assert "painterly:interrupted" in read_png_metadata(output)


def test_ctrl_c_while_torch_loads_is_quiet(small_images, tmp_path) -> None:
    content, style = small_images
    command = [sys.executable, "-m", "painterly.cli", str(content), str(style), "-o", str(tmp_path / "o.png")]
    process = subprocess.Popen(command, cwd=REPOSITORY, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)  # the interpreter is up; PyTorch is loading
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err


# 8. seeds of 2**64 and more: ValueError: Overflow --------------------------------------------


def test_seed_is_bounded_by_the_schema(tiny_weights, small_images, capsys) -> None:
    content, style = small_images
    with pytest.raises(PainterlyError, match="seed must be an integer of at least 0 and at most 18446744073709551615"):
        stylize(content, style, **api_options(tiny_weights, seed=2**64))
    code, err = run(capsys, content, style, "-o", "x.png", *tiny(tiny_weights, "--seed", str(2**70)))
    one_error_line(code, err, "seed must be an integer")
    result = stylize(content, style, **api_options(tiny_weights, seed=2**64 - 1, init="noise"))
    assert torch.isfinite(result.image).all()


# 13. an objective that is identically zero -------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"content_weight": 0.0, "style_layer_weights": [0, 0, 0, 0, 0]},
        {"content_weight": 0.0, "style_weight": 0.0},
        {"content_layers": [], "style_layer_weights": [0, 0, 0, 0, 0]},
    ],
)
def test_an_objective_that_is_zero_everywhere_is_refused(tiny_weights, small_images, extra) -> None:
    content, style = small_images
    with pytest.raises(PainterlyError, match=r"nothing would be optimised|identically zero|no content layers given"):
        stylize(content, style, **api_options(tiny_weights, **extra))


# 14. misleading messages --------------------------------------------------------------------


def test_an_overflowing_tv_weight_is_named(tiny_weights, small_images) -> None:
    content, style = small_images
    with pytest.raises(PainterlyError, match=r"--tv-weight 1e\+300 is too large"):
        stylize(content, style, **api_options(tiny_weights, tv_weight=1e300))


def test_a_huge_style_scale_blames_the_style_scale(tiny_weights, small_images) -> None:
    content, style = small_images
    with pytest.raises(PainterlyError, match="lower --style-scale"):
        stylize(content, style, **api_options(tiny_weights, style_scale=1e6))


def test_an_init_word_in_the_wrong_case_names_the_valid_words(tiny_weights, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    code, err = run(capsys, content, style, "-o", tmp_path / "o.png", *tiny(tiny_weights, "--init", "Noise"))
    one_error_line(code, err, "content, palette, noise or style", "did you mean 'noise'")


# --log that cannot be written; callbacks that edit the image ------------------------------------


def test_a_log_that_cannot_be_written_says_the_image_is_fine(tiny_weights, small_images, tmp_path, capsys, monkeypatch):
    content, style = small_images

    def disk_full(path, text):
        raise PainterlyError(f"could not write {path}: No space left on device")

    monkeypatch.setattr("painterly.atomic.write_text_atomically", disk_full)
    output = tmp_path / "out.png"
    code, err = run(capsys, content, style, "-o", output, *tiny(tiny_weights, "--log", tmp_path / "log.json"))
    one_error_line(code, err, "No space left on device", f"the image {output} was written and is fine")
    assert output.exists()


def test_callbacks_that_edit_the_images_do_not_change_the_result(tiny_weights, small_images) -> None:
    content, style = small_images
    plain = stylize(content, style, **api_options(tiny_weights, iterations=6, scales=2))

    def vandal(iterate) -> None:
        iterate.best.fill_(0.5)
        iterate.image.fill_(0.0)

    edited = stylize(content, style, callback=vandal, **api_options(tiny_weights, iterations=6, scales=2))
    assert torch.equal(plain.image, edited.image)


def test_the_network_is_named_before_the_run(tiny_weights, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    arguments = [word for word in tiny(tiny_weights) if word != "--quiet"]
    code, err = run(capsys, content, style, "-o", tmp_path / "o.png", *arguments)
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0].startswith("network: tiny.safetensors"), err
    assert lines[1].startswith("evaluation")


def test_summary_json_round_trips(tiny_weights, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    log = tmp_path / "h.json"
    code, err = run(capsys, content, style, "-o", tmp_path / "o.png", *tiny(tiny_weights, "--log", log))
    assert code == 0, err
    assert json.loads(log.read_text())["settings"]["seed"] == 0
    assert os.path.getsize(tmp_path / "o.png") > 0
