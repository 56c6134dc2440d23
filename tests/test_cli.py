"""The command line end to end on small images with a tiny network, and every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

import painterly.cli as cli
from painterly.api import stylize
from painterly.image import read_png_metadata


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
