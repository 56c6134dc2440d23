"""The artistic controls on the command line: several styles, masks, colour, smoothness, and bad values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

import painterly.cli as cli
from painterly.image import read_png_metadata


def run(capsys: pytest.CaptureFixture[str], *arguments: str | Path) -> tuple[int, str]:
    code = cli.main([str(argument) for argument in arguments])
    return code, capsys.readouterr().err


def tiny(weights: Path, *extra: str | Path) -> list[str | Path]:
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
        capsys, content, style, second, "-o", output, *tiny(tiny_weights), "--style-weights", "0.7", "0.3",
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
    code, err = run(capsys, content, style, "-o", output, *tiny(tiny_weights), "--preserve-color", mode)
    assert code == 0, err
    assert Image.open(output).size == (32, 24)


def test_output_may_not_overwrite_a_mask(tiny_weights, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    left, _ = masks(tmp_path)
    before = left.read_bytes()
    code, err = run(capsys, content, style, "-o", left, *tiny(tiny_weights), "--content-mask", left)
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
    code, err = run(capsys, content, style, "-o", output, *tiny(tiny_weights), *[e.format(**names) for e in extra])
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("painterly: error: "), err
    for word in words:
        assert word in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_bad_style_among_several(tiny_weights, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    output = tmp_path / "out.png"
    code, err = run(capsys, content, style, tmp_path / "missing.jpg", "-o", output, *tiny(tiny_weights))
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
