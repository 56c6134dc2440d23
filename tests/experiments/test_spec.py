"""Experiment specs: the built-in ones, the format, and one clear error per kind of mistake."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import painterly.cli as cli
from painterly.errors import PainterlyError
from painterly.experiments.grid import plan_runs
from painterly.experiments.spec import builtin_names, load_spec, make_pairs, parse_pair_text
from painterly.presets import PRESETS


def write_spec(folder: Path, text: str, name: str = "spec.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_specs_follow_the_reference_study() -> None:
    assert builtin_names() == ["init", "optimizers", "style-layers"]
    optimizers = load_spec("optimizers")
    settings = {setting.label: {**optimizers.options, **setting.options} for setting in optimizers.settings()}
    lbfgs, adam = settings["L-BFGS lr 0.8"], settings["Adam lr 0.01"]
    for preset, options in (("study", lbfgs), ("study-adam", adam)):
        for key in ("content_weight", "style_weight", "optimizer", "learning_rate", "scales", "precision"):
            assert options[key] == PRESETS[preset][key], (preset, key)
    assert lbfgs["iterations"] == adam["iterations"] == 1000  # the same evaluation budget
    layers = load_spec("style-layers")
    assert [setting.options["style_layers"] for setting in layers.settings()] == [
        ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"],
        ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"],
    ]
    assert [setting.options["init"] for setting in load_spec("init").settings()] == ["noise", "content"]
    for name in builtin_names():
        spec = load_spec(name)
        assert spec.spike_factor == 2.0 and spec.reach_within == 0.05 and spec.study


def test_axes_multiply_and_paths_are_relative_to_the_spec(tmp_path: Path, small_images: tuple[Path, Path]) -> None:
    content, style = small_images
    folder = tmp_path / "specs"
    folder.mkdir()
    path = write_spec(
        folder,
        f"""
title = "two axes"
pairs = ["../{content.name}:../{style.name}", {{ content = "{content}", style = "{style}" }}]
spike_factor = 3
[options]
style_weight = 1000      # an integer where a float is meant
size = 64
[axes.optimizer]
"L-BFGS" = {{ optimizer = "lbfgs", learning_rate = 1 }}
Adam = {{ optimizer = "adam", learning_rate = 0.05 }}
[axes]
seed = [0, 1]
""",
    )
    spec = load_spec(path)
    assert spec.name == "spec" and spec.title == "two axes" and spec.spike_factor == 3.0
    assert spec.options == {"style_weight": 1000.0, "size": 64}
    assert isinstance(spec.options["style_weight"], float)
    assert [setting.label for setting in spec.settings()] == [
        "L-BFGS, seed 0",
        "L-BFGS, seed 1",
        "Adam, seed 0",
        "Adam, seed 1",
    ]
    assert spec.settings()[3].options == {"optimizer": "adam", "learning_rate": 0.05, "seed": 1}
    assert [pair.content for pair in spec.pairs] == [content.resolve(), content.resolve()]
    assert [pair.label for pair in spec.pairs] == ["photo × painting", "photo × painting (2)"]
    assert len({pair.slug for pair in spec.pairs}) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("title = ", "not valid TOML"),
        ("titel = 'x'", "unknown key 'titel' at the top level; did you mean 'title'?"),
        ("[options]\nsize = 'big'", "[options]: size must be an integer; got 'big'"),
        ("[options]\nlearnig_rate = 0.1", "[options]: unknown option 'learnig_rate'; did you mean 'learning_rate'?"),
        ("[options]\ncontent = 'a.jpg'", "unknown option 'content'; images are given as pairs"),
        ("[options]\noptimizer = 'sgd'", "[options]: unknown optimizer 'sgd'; use lbfgs or adam"),
        ("[options]\nstyle_layers = 3", "[options]: style-layers must be a string; got 3"),
        ("[options]\nsize = 3", "[options]: size must be an integer of at least 16"),
        ("[options]\ncontent_weight = -1", "content-weight must be a finite zero or positive number"),
        ("[axes.opt]\nfast = { optimzer = 'adam' }", "[axes.opt] 'fast': unknown option 'optimzer'"),
        ("[axes.opt]\nfast = 'adam'", "[axes.opt]: 'fast' must be a table of options"),
        ("[axes.opt]\nfast = {}", "[axes.opt]: setting 'fast' sets no option"),
        ("[axes]\nseeds = [1, 2]", "[axes.seeds]: unknown option 'seeds'; did you mean 'seed'?"),
        ("[axes]\nseed = []", "[axes.seed]: the list of values is empty"),
        ("[axes]\nseed = 3", "an axis is a table of named settings or a list of values"),
        ("[options]\nseed = 1\n[axes]\nseed = [1, 2]", "option 'seed' is set in [options] and varied by axis 'seed'"),
        ("[axes.a]\nx = { seed = 1 }\n[axes.b]\ny = { seed = 2 }", "option 'seed' is already varied by axis 'a'"),
        ("pairs = ['nothing.jpg:also-nothing.jpg']", "pairs[0]: content image nothing.jpg"),
        ("pairs = ['no-colon.jpg']", "pairs[0]: pair 'no-colon.jpg' must be CONTENT:STYLE"),
        ("pairs = [{ content = 'a.jpg' }]", "pairs[0]: give both content"),
        ("pairs = 'a.jpg:b.jpg'", "pairs must be a list"),
        ("spike_factor = 1", "spike_factor must be a number greater than 1; got 1"),
        ("reach_within = 'x'", "reach_within must be a number greater than 0"),
        ("[options]\nweights = 'missing.safetensors'", "weights file"),
    ],
)
def test_spec_errors_name_the_file_and_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write_spec(tmp_path, text, "bad.toml")
    with pytest.raises(PainterlyError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert expected in message


def test_missing_spec_suggests_a_builtin() -> None:
    with pytest.raises(PainterlyError, match="did you mean the built-in spec 'optimizers'"):
        load_spec("optimisers")


def test_pairs_from_the_command_line(small_images: tuple[Path, Path], tmp_path: Path) -> None:
    content, style = small_images
    assert parse_pair_text(f"{content}:{style}", tmp_path, "--pairs") == (content.resolve(), style.resolve())
    assert parse_pair_text("photo.png:painting.png", tmp_path, "--pairs") == (content.resolve(), style.resolve())
    with pytest.raises(PainterlyError, match=re.escape("--pairs: style image nope.png")):
        parse_pair_text(f"{content}:nope.png", tmp_path, "--pairs")
    assert make_pairs([(content, style)])[0].slug == "photo__painting"


def test_plan_refuses_an_override_of_a_varied_option(tiny_weights: Path, small_images: tuple[Path, Path]) -> None:
    spec = load_spec("optimizers")
    pairs = make_pairs([small_images])
    with pytest.raises(PainterlyError, match="--optimizer would override axis 'optimizer'"):
        plan_runs(spec, pairs, Path("unused"), {"optimizer": "adam", "weights": str(tiny_weights)})
    with pytest.raises(PainterlyError, match="names no image pairs"):
        plan_runs(spec, [], Path("unused"), {"weights": str(tiny_weights)})


def test_plan_checks_layers_against_the_network(tiny_weights: Path, small_images: tuple[Path, Path]) -> None:
    spec = load_spec("optimizers")
    overrides = {"weights": str(tiny_weights), "style_layers": ["conv1_1", "conv9_9"]}
    with pytest.raises(PainterlyError, match=re.escape("setting 'L-BFGS lr 0.8': unknown layer 'conv9_9'")):
        plan_runs(spec, make_pairs([small_images]), Path("unused"), overrides)


def test_identical_runs_of_different_experiments_share_a_key(tiny_weights, small_images, tmp_path) -> None:
    pairs = make_pairs([small_images])
    overrides = {"weights": str(tiny_weights), "size": 32, "iterations": 5}
    keys = {}
    for name in builtin_names():
        runs, _ = plan_runs(load_spec(name), pairs, tmp_path, overrides)
        keys[name] = {run.setting.label: run.key for run in runs}
    shared = keys["optimizers"]["L-BFGS lr 0.8"]
    assert keys["style-layers"]["paper layers"] == shared == keys["init"]["content photo"]
    assert len({*keys["optimizers"].values(), *keys["style-layers"].values(), *keys["init"].values()}) == 4
    changed, _ = plan_runs(load_spec("init"), pairs, tmp_path, {**overrides, "iterations": 6})
    assert changed[1].key != shared


def test_cli_reports_spec_errors_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_spec(tmp_path, "[options]\nsize = 'big'", "bad.toml")
    assert cli.main(["experiment", str(path)]) == cli.EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("painterly: error: ") and "size must be an integer; got 'big'" in err
    assert cli.main(["experiment", "optimizers"]) == cli.EXIT_USER_ERROR
    assert "names no image pairs; give --pairs" in capsys.readouterr().err


class Expansion:
    """Stands in for the spec module's ``itertools``: counts the settings its ``product`` hands out,
    and stops the test at 20,001 (before the fix, a 10^8-run grid was expanded whole: 120 MB/s)."""

    def __init__(self) -> None:
        import itertools

        self.itertools = itertools
        self.count = 0

    def product(self, *iterables):
        for item in self.itertools.product(*iterables):
            self.count += 1
            assert self.count <= 20_000, "the grid was expanded before its size was checked"
            yield item

    def __getattr__(self, name: str):
        return getattr(self.itertools, name)


def test_a_grid_beyond_the_limit_is_refused_before_it_is_expanded(tmp_path, capsys, monkeypatch) -> None:
    import painterly.experiments.spec as spec_module

    expansion = Expansion()
    monkeypatch.setattr(spec_module, "itertools", expansion)
    axes = {"seed": range(100), "content_weight": range(1, 101), "style_weight": range(1, 101),
            "tv_weight": range(100)}  # fmt: skip
    text = "[axes]\n" + "".join(f"{name} = {list(values)}\n" for name, values in axes.items())
    path = write_spec(tmp_path, text, "huge.toml")
    assert cli.main(["experiment", str(path), "--dry-run"]) == cli.EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "100,000,000 runs" in err and "at most 10,000" in err, err
    assert expansion.count == 0


def test_settings_times_pairs_beyond_the_limit_are_refused_before_planning(tmp_path, small_images,
                                                                            tiny_weights) -> None:  # fmt: skip
    content, style = small_images
    spec = load_spec(write_spec(tmp_path, f"[options]\nweights = '{tiny_weights}'\n[axes]\nseed = {list(range(5000))}"))
    pairs = make_pairs([(content, style)] * 3)
    with pytest.raises(PainterlyError, match=r"15,000 runs \(5,000 settings x 3 pairs\).*at most 10,000"):
        plan_runs(spec, pairs, tmp_path / "out")
    assert len(plan_runs(spec, pairs[:2], tmp_path / "out")[0]) == 10_000  # the limit itself is allowed


@pytest.mark.parametrize(
    "text",
    ["title = " + "[" * 5000 + "]" * 5000, "x = " + "{a=" * 5000 + "1" + "}" * 5000,
     "[options]\nseed = " + "{a=" * 400 + "1" + "}" * 400, "[axes]\nseed = " + "[" * 200 + "]" * 200],
    ids=["arrays-5000", "tables-5000", "tables-400", "axis-arrays-200"],
)  # fmt: skip
def test_a_spec_nested_too_deeply_is_one_line(tmp_path, capsys, text) -> None:
    path = write_spec(tmp_path, text, "deep.toml")
    assert cli.main(["experiment", str(path), "--dry-run"]) == cli.EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "nested too deeply" in err, err
