"""The command line (painterly.cli) end to end on small images with a tiny network: every bad input,
the artistic controls (several styles, masks, colour, smoothness), and the failures an adversarial
run found in the stylise command (issue 13), one test each."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

import painterly.cli as cli
from painterly import PainterlyError, stylize
from painterly.image import read_png_metadata


def api_options(weights: Path, **extra: object) -> dict[str, object]:
    return {"weights": str(weights), "size": 32, "iterations": 3, "precision": "fp32", "device": "cpu", **extra}


def run(capsys: pytest.CaptureFixture[str], *arguments: str | Path) -> tuple[int, str]:
    code = cli.main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return code, captured.err


def tiny(weights: Path, *extra: str) -> list[str]:
    return ["--weights", str(weights), "--size", "32", "--iterations", "6", "--precision", "fp32", "--quiet", *extra]


def test_stylizes_and_writes_png_with_metadata_and_log(tiny_weights, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    output = tmp_path / "out.png"
    log = tmp_path / "history.json"
    code, err = run(capsys, content, style, "-o", output, *tiny(tiny_weights), "--log", log)
    assert code == 0, err
    with Image.open(output) as image:
        assert image.size == (32, 24)  # long side 32, the photo's 4:3 kept
    metadata = read_png_metadata(output)
    settings = json.loads(metadata["painterly:settings"])
    assert settings["size"] == 32 and settings["iterations"] == 6
    assert set(json.loads(metadata["painterly:final_losses"])) == {"content", "style", "total"}
    document = json.loads(log.read_text())
    assert [record["evaluation"] for record in document["history"]] == [1, 2, 3, 4, 5, 6]
    assert {"content_loss", "style_loss", "total_loss", "seconds"} <= set(document["history"][0])


def test_jpeg_output_and_snapshots(tiny_weights, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    output = tmp_path / "out.jpg"
    code, err = run(capsys, content, style, "-o", output, *tiny(tiny_weights, "--save-every", "3", "--scales", "1"))
    assert code == 0, err
    assert Image.open(output).format == "JPEG"
    assert sorted(p.name for p in tmp_path.glob("out_*.jpg")) == ["out_00003.jpg", "out_00006.jpg"]


def test_progress_lines_when_not_a_terminal(tiny_weights, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    arguments = [a for a in tiny(tiny_weights) if a != "--quiet"]
    code, err = run(capsys, content, style, "-o", tmp_path / "o.png", *arguments)
    assert code == 0
    assert "evaluation 6/6" in err and "wrote" in err


def test_preset_values_are_defaults_that_options_override() -> None:
    arguments = ["a.jpg", "b.jpg", "-o", "x.png", "--preset", "study", "--iterations", "5"]
    _, options = cli.parse_stylize_arguments(arguments)
    assert options["style_weight"] == 1e6 and options["content_weight"] == 0.1
    assert options["learning_rate"] == 0.8 and options["iterations"] == 5


def test_layer_lists_accept_spaces_and_commas() -> None:
    _, options = cli.parse_stylize_arguments(
        ["a.jpg", "b.jpg", "-o", "x.png", "--style-layers", "conv1_1,conv2_1", "relu3_1"]
    )
    assert options["style_layers"] == ("conv1_1", "conv2_1", "relu3_1")


def test_every_stylize_option_is_on_the_command_line() -> None:
    import inspect

    flags = {action.dest for action in cli.build_parser()._actions}
    wanted = set(inspect.signature(stylize).parameters) - {"content", "style", "callback", "weights_progress"}
    assert wanted <= flags


def test_interrupt_saves_the_current_image(tiny_weights, small_images, tmp_path, capsys, monkeypatch) -> None:
    content, style = small_images

    def interrupted_stylize(*args, callback, **kwargs):
        def stop_after_three(iterate):
            callback(iterate)
            if iterate.evaluation == 3:
                raise KeyboardInterrupt

        return stylize(*args, callback=stop_after_three, **kwargs)

    monkeypatch.setattr("painterly.api.stylize", interrupted_stylize)
    output = tmp_path / "out.png"
    code, err = run(capsys, content, style, "-o", output, *tiny(tiny_weights))
    assert code == 130
    assert "interrupted at evaluation 3/6" in err
    assert output.exists()


# --- bad input: one line, non-zero exit, nothing written ---------------------------------------
def assert_user_error(code: int, err: str, *words: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("painterly: error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--style-layers", "conv1_1", "conv9_1"], ["unknown layer 'conv9_1'"]),
        (["--content-layers", "relu4_3x"], ["Did you mean"]),
        (["--size", "0"], ["size"]),
        (["--size", "-5"], ["size"]),
        (["--iterations", "0"], ["iterations"]),
        (["--style-weight", "-1"], ["style-weight"]),
        (["--content-weight", "nan"], ["content-weight"]),
        (["--learning-rate", "0"], ["learning-rate"]),
        (["--style-scale", "0"], ["style-scale"]),
        (["--style-layer-weights", "1", "2"], ["style layer weights"]),
        (["--scales", "4", "--iterations", "3"], ["cannot be shared"]),
        (["--save-every", "0"], ["--save-every"]),
        (["--init", "missing-file.png"], ["missing-file.png"]),
    ],
)
def test_bad_options(tiny_weights, small_images, tmp_path, capsys, extra, words) -> None:
    content, style = small_images
    output = tmp_path / "out.png"
    code, err = run(capsys, content, style, "-o", output, *tiny(tiny_weights), *extra)
    assert_user_error(code, err, *words)
    assert not output.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["painting.png", "photo.png"]


def test_unknown_model_name(small_images, tmp_path, capsys) -> None:
    content, style = small_images
    code, err = run(capsys, content, style, "-o", tmp_path / "o.png", "--model", "vgg91")
    assert_user_error(code, err, "vgg91", "vgg19")


def test_argparse_rejects_wrong_types(small_images, tmp_path, capsys) -> None:
    content, style = small_images
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(content), str(style), "-o", str(tmp_path / "o.png"), "--size", "big"])
    assert exit_info.value.code == 2
    assert "not a valid int" in capsys.readouterr().err


def test_output_equal_to_input_is_refused_and_input_untouched(tiny_weights, small_images, capsys) -> None:
    content, style = small_images
    before = content.read_bytes()
    code, err = run(capsys, content, style, "-o", content, *tiny(tiny_weights))
    assert_user_error(code, err, "same file as the content image")
    assert content.read_bytes() == before


def test_output_in_missing_folder(tiny_weights, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    code, err = run(capsys, content, style, "-o", tmp_path / "nope" / "o.png", *tiny(tiny_weights))
    assert_user_error(code, err, "does not exist")


def test_output_with_unknown_extension(tiny_weights, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    code, err = run(capsys, content, style, "-o", tmp_path / "o.gif", *tiny(tiny_weights))
    assert_user_error(code, err, ".png")


def test_missing_and_non_image_inputs(tiny_weights, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    code, err = run(capsys, tmp_path / "absent.jpg", style, "-o", tmp_path / "o.png", *tiny(tiny_weights))
    assert_user_error(code, err, "absent.jpg")
    fake = tmp_path / "fake.jpg"
    fake.write_text("not an image")
    code, err = run(capsys, content, fake, "-o", tmp_path / "o.png", *tiny(tiny_weights))
    assert_user_error(code, err, "fake.jpg")
    assert not (tmp_path / "o.png").exists()


def test_corrupt_weights_file(small_images, tmp_path, capsys) -> None:
    content, style = small_images
    corrupt = tmp_path / "broken.safetensors"
    corrupt.write_bytes(b"\x00\x01garbage" * 10)
    code, err = run(capsys, content, style, "-o", tmp_path / "o.png", "--weights", corrupt)
    assert_user_error(code, err, "broken.safetensors")
    assert not (tmp_path / "o.png").exists()


def test_bad_log_path(tiny_weights, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    code, err = run(capsys, content, style, "-o", tmp_path / "o.png", "--log", tmp_path / "h.txt", *tiny(tiny_weights))
    assert_user_error(code, err, ".json")


def test_non_finite_loss_from_the_start_is_a_clear_error(tiny_weights, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    output = tmp_path / "o.png"
    code, err = run(capsys, content, style, "-o", output, *tiny(tiny_weights, "--style-weight", "1e308"))
    assert_user_error(code, err, "not finite", "style-weight")
    assert not output.exists()


def test_models_lists_sources(capsys) -> None:
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("vgg19", "vgg19-caffe", "vgg16-hed"):
        assert name in out


def test_eta_weighs_evaluations_by_pixels() -> None:
    from painterly.progress import remaining_seconds

    class Stub:
        evaluation = 5
        schedule = ((10, 10, 10), (20, 20, 4))

    # 5 evaluations of 100 px left at scale 1, then 4 of 400 px: 2100 pixel-evaluations.
    assert remaining_seconds(Stub(), 0.01) == pytest.approx(21.0)


def test_too_large_for_memory_is_refused(tiny_weights, small_images, tmp_path, capsys, monkeypatch) -> None:
    import painterly.memory

    monkeypatch.setattr(painterly.memory, "available_bytes", lambda device: 400 * 2**20)
    content, style = small_images
    output = tmp_path / "o.png"
    code, err = run(capsys, content, style, "-o", output, *tiny(tiny_weights), "--size", "4096")
    assert_user_error(code, err, "needs about", "the largest size that fits")
    assert not output.exists()


def quick(weights: Path, *extra: str | Path) -> list[str | Path]:
    return ["--weights", weights, "--size", "32", "--iterations", "4", "--precision", "fp32", "--quiet", *extra]


def masks(folder: Path, size: tuple[int, int] = (48, 36)) -> tuple[Path, Path]:
    width, height = size
    left, right = Image.new("L", size, 0), Image.new("L", size, 0)
    left.paste(255, (0, 0, width // 2, height))
    right.paste(255, (width // 2, 0, width, height))
    left.save(folder / "left.png")
    right.save(folder / "right.png")
    return folder / "left.png", folder / "right.png"


def test_the_generated_options() -> None:
    _, options = cli.parse_stylize_arguments(["a.jpg", "b.jpg", "-o", "x.png"])
    assert options["original_colors"] is False and options["preserve_color"] == "none"
    assert options["color_transfer"] == "pca" and options["tv_weight"] == 0.0
    assert options["style_weights"] is None and options["style_masks"] is None and options["content_mask"] is None
    namespace, options = cli.parse_stylize_arguments(
        ["a.jpg", "b.jpg", "c.jpg", "-o", "x.png", "--style-weights", "0.7", "0.3", "--original-colors",
         "--style-masks", "m1.png,m2.png", "--preserve-color", "histogram", "--color-transfer", "cholesky"]
    )  # fmt: skip
    assert namespace.style == ["b.jpg", "c.jpg"]
    assert options["style_weights"] == (0.7, 0.3) and options["original_colors"] is True
    assert options["style_masks"] == ("m1.png", "m2.png")
    assert options["preserve_color"] == "histogram" and options["color_transfer"] == "cholesky"


def test_a_mask_file_with_a_comma_in_its_name_is_not_split(tmp_path) -> None:
    odd = tmp_path / "sky,left.png"
    odd.write_bytes(b"")
    _, options = cli.parse_stylize_arguments(["a.jpg", "b.jpg", "-o", "x.png", "--style-masks", str(odd)])
    assert options["style_masks"] == (str(odd),)


def test_two_styles_with_weights_and_masks(tiny_weights, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    second = tmp_path / "second.png"
    Image.open(style).rotate(90).save(second)
    left, right = masks(tmp_path)
    corner = tmp_path / "corner.png"
    keep = Image.new("L", (48, 36), 0)
    keep.paste(255, (0, 0, 12, 12))
    keep.save(corner)
    output = tmp_path / "out.png"
    code, err = run(
        capsys, content, style, second, "-o", output, *quick(tiny_weights), "--style-weights", "0.7", "0.3",
        "--style-masks", left, right, "--content-mask", corner, "--tv-weight", "0.5", "--original-colors",
    )  # fmt: skip
    assert code == 0, err
    settings = json.loads(read_png_metadata(output)["painterly:settings"])
    assert settings["style_weights"] == [0.7, 0.3] and settings["style_masks"] == [str(left), str(right)]
    assert settings["content_mask"] == str(corner) and settings["original_colors"] is True


@pytest.mark.parametrize("mode", ["luminance", "histogram"])
def test_preserve_color_on_the_command_line(tiny_weights, small_images, tmp_path, capsys, mode) -> None:
    content, style = small_images
    output = tmp_path / "out.jpg"
    code, err = run(capsys, content, style, "-o", output, *quick(tiny_weights), "--preserve-color", mode)
    assert code == 0, err
    assert Image.open(output).size == (32, 24)


def test_output_may_not_overwrite_a_mask(tiny_weights, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    left, _ = masks(tmp_path)
    before = left.read_bytes()
    code, err = run(capsys, content, style, "-o", left, *quick(tiny_weights), "--content-mask", left)
    assert code == 2 and "same file" in err
    assert left.read_bytes() == before


def bad_files(folder: Path) -> dict[str, Path]:
    files = {}
    files["square"] = folder / "square.png"
    Image.new("L", (40, 40), 255).save(files["square"])
    files["black"] = folder / "black.png"
    Image.new("L", (48, 36), 0).save(files["black"])
    files["white"] = folder / "white.png"
    Image.new("L", (48, 36), 255).save(files["white"])
    files["text"] = folder / "notes.png"
    files["text"].write_text("not an image")
    return files


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--style-weights", "0.7", "0.3"], ["2 style weight(s) for 1 style image(s)"]),
        (["--style-weights", "-1"], ["style-weights must be a finite zero or positive number; got -1.0"]),
        (["--style-weights", "0"], ["all 0"]),
        (["--style-masks", "{left}", "{left}"], ["2 style mask(s) for 1 style image(s)"]),
        (["--style-masks", "{square}"], ["aspect ratio", "square.png"]),
        (["--style-masks", "{black}"], ["black everywhere"]),
        (["--style-masks", "{text}"], ["notes.png", "not an image"]),
        (["--style-masks", "{tmp}/absent.png"], ["absent.png", "does not exist"]),
        (["--content-mask", "{white}"], ["white everywhere"]),
        (["--content-mask", "{black}"], ["black everywhere"]),
        (["--content-mask", "{square}"], ["aspect ratio"]),
        (["--style-masks", "{left}", "--content-mask", "{left}"], ["entirely inside the content mask"]),
        (["--tv-weight", "-1"], ["tv-weight"]),
        (["--tv-weight", "inf"], ["tv-weight"]),
    ],
)
def test_bad_control_values(tiny_weights, small_images, tmp_path, capsys, extra, words) -> None:
    content, style = small_images
    names = {name: str(path) for name, path in bad_files(tmp_path).items()}
    left, _ = masks(tmp_path)
    names.update(left=str(left), tmp=str(tmp_path))
    before = sorted(p.name for p in tmp_path.iterdir())
    output = tmp_path / "out.png"
    code, err = run(capsys, content, style, "-o", output, *quick(tiny_weights), *[e.format(**names) for e in extra])
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("painterly: error: "), err
    for word in words:
        assert word in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_bad_style_among_several(tiny_weights, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    output = tmp_path / "out.png"
    code, err = run(capsys, content, style, tmp_path / "missing.jpg", "-o", output, *quick(tiny_weights))
    assert code == 2 and "style image 2" in err and "missing.jpg" in err
    assert not output.exists()


@pytest.mark.parametrize(
    "extra", [["--preserve-color", "sepia"], ["--color-transfer", "lab"], ["--original-colors", "yes"]]
)
def test_argparse_rejects_unknown_choices(small_images, tmp_path, capsys, extra) -> None:
    content, style = small_images
    output = tmp_path / "out.png"
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(content), str(style), "-o", str(output), *extra])
    assert exit_info.value.code == 2
    assert not output.exists()


REPOSITORY = Path(__file__).resolve().parents[1]


def one_error_line(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("painterly: error: "), err
    for word in words:
        assert word in lines[0], lines[0]


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
    code, err = run(capsys, *arguments, "-o", tmp_path / "out.png", *quick(tiny_weights, "--save-every", "2"))
    one_error_line(code, err, "--save-every", "out_NNNNN.png", "rename the input")
    assert victim.read_bytes() == before
    assert not (tmp_path / "out.png").exists()


def test_save_every_still_writes_snapshots_beside_unrelated_inputs(tiny_weights, small_images, tmp_path, capsys):
    content, style = small_images
    code, err = run(capsys, content, style, "-o", tmp_path / "out.png", *quick(tiny_weights, "--save-every", "2"))
    assert code == 0, err
    assert sorted(path.name for path in tmp_path.glob("out_*.png")) == ["out_00002.png", "out_00004.png"]


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
    code, err = run(capsys, content, style, "-o", "x.png", *quick(tiny_weights, "--seed", str(2**70)))
    one_error_line(code, err, "seed must be an integer")
    result = stylize(content, style, **api_options(tiny_weights, seed=2**64 - 1, init="noise"))
    assert torch.isfinite(result.image).all()


def test_an_init_word_in_the_wrong_case_names_the_valid_words(tiny_weights, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    code, err = run(capsys, content, style, "-o", tmp_path / "o.png", *quick(tiny_weights, "--init", "Noise"))
    one_error_line(code, err, "content, palette, noise or style", "did you mean 'noise'")


# --log that cannot be written; callbacks that edit the image ------------------------------------
def test_a_log_that_cannot_be_written_says_the_image_is_fine(tiny_weights, small_images, tmp_path, capsys, monkeypatch):
    content, style = small_images

    def disk_full(path, text):
        raise PainterlyError(f"could not write {path}: No space left on device")

    monkeypatch.setattr("painterly.atomic.write_text_atomically", disk_full)
    output = tmp_path / "out.png"
    code, err = run(capsys, content, style, "-o", output, *quick(tiny_weights, "--log", tmp_path / "log.json"))
    one_error_line(code, err, "No space left on device", f"the image {output} was written and is fine")
    assert output.exists()


def test_the_network_is_named_before_the_run(tiny_weights, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    arguments = [word for word in quick(tiny_weights) if word != "--quiet"]
    code, err = run(capsys, content, style, "-o", tmp_path / "o.png", *arguments)
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0].startswith("network: tiny.safetensors"), err
    assert lines[1].startswith("evaluation")


def test_summary_json_round_trips(tiny_weights, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    log = tmp_path / "h.json"
    code, err = run(capsys, content, style, "-o", tmp_path / "o.png", *quick(tiny_weights, "--log", log))
    assert code == 0, err
    assert json.loads(log.read_text())["settings"]["seed"] == 0
    assert os.path.getsize(tmp_path / "o.png") > 0
