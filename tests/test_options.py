"""The option schema: one source for stylize's keywords, the CLI, specs and validation."""

from __future__ import annotations

import argparse
import inspect
import typing

import pytest

from painterly import PRESETS, PainterlyError, options, stylize
from painterly.cli import build_parser


def test_stylize_signature_is_the_schema() -> None:
    """stylize repeats the schema for readers and type checkers: same names, order and defaults."""
    parameters = inspect.signature(stylize).parameters
    keywords = [name for name in parameters if name not in ("content", "style", "callback", "weights_progress")]
    assert keywords == list(options.NAMES)
    for option in options.OPTIONS:
        assert parameters[option.name].default == option.default, option.name
        assert parameters[option.name].kind is inspect.Parameter.KEYWORD_ONLY


def test_signature_types_match_the_schema() -> None:
    hints = typing.get_type_hints(stylize)
    for option in options.OPTIONS:
        hint = hints[option.name]
        if option.choices is not None:
            assert typing.get_args(hint) == option.choices, option.name
        elif option.item in (int, float, bool) and not option.is_list:
            assert option.item in (hint, *typing.get_args(hint)), option.name


def test_every_preset_is_valid() -> None:
    for name, preset in PRESETS.items():
        settings = options.validate(preset).as_dict()
        assert {key: settings[key] for key in preset} == {
            key: list(value) if isinstance(value, tuple) else value for key, value in preset.items()
        }, name


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"size": 8}, "size must be an integer of at least 16 and at most 16384; got 8"),
        ({"size": 20000}, "size must be an integer of at least 16 and at most 16384; got 20000"),
        ({"size": 64.0}, "size must be an integer of at least 16"),
        ({"size": True}, "size must be an integer"),
        ({"iterations": 0}, "iterations must be an integer of at least 1"),
        ({"style_scale": 0}, "style-scale must be a finite positive number; got 0"),
        ({"style_scale": float("nan")}, "style-scale must be a finite positive number"),
        ({"content_weight": -1}, "content-weight must be a finite zero or positive number; got -1"),
        ({"tv_weight": float("inf")}, "tv-weight must be a finite zero or positive number"),
        ({"learning_rate": 0}, "learning-rate must be a finite positive number"),
        ({"tolerance": -0.1}, "tolerance must be a finite positive number"),
        ({"scales": 11}, "scales must be an integer of at least 1 and at most 10"),
        ({"seed": -1}, "seed must be an integer of at least 0"),
        ({"seed": 2**64}, "at most 18446744073709551615"),
        ({"pooling": "median"}, "unknown pooling 'median'; use avg or max"),
        ({"optimizer": "sgd"}, "unknown optimizer 'sgd'; use lbfgs or adam"),
        ({"padding": "circular"}, "unknown padding 'circular'; use zeros, reflect or replicate"),
        ({"bounds": "project"}, "unknown bounds 'project'; use inside or after"),
        ({"memory": "small"}, "unknown memory 'small'; use auto, normal or low"),
        ({"original_colors": "yes"}, "original-colors must be True or False"),
        ({"style_layer_weights": [1, -1, 0, 0, 0]}, "style-layer-weights must be a finite zero or positive number"),
        ({"style_layer_weights": [1, 1]}, "2 style layer weights for 5 style layers"),
        ({"style_layers": []}, "no style layers given"),
        ({"content_layers": []}, "no content layers given"),
        ({"content_weight": 0, "style_weight": 0}, "content-weight and style-weight are both 0"),
        ({"init": "Noise"}, "init 'Noise' is neither content, palette, noise or style nor an existing image file"),
        ({"style_scale": 100.0}, "makes the painting 51200 px long"),
        ({"sise": 512}, "unknown option 'sise'; did you mean 'size'?"),
    ],
)
def test_validation_messages(values: dict[str, object], message: str) -> None:
    with pytest.raises(PainterlyError) as caught:
        options.validate(values)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_validate_fills_defaults_and_normalises() -> None:
    settings = options.validate({"style_weight": 10, "style_layers": ("conv1_1",), "style_weights": (1, 2)})
    assert settings.objective.style_weight == 10.0 and isinstance(settings.objective.style_weight, float)
    assert settings.network.style_layers == ("conv1_1",) and settings.inputs.style_weights == (1.0, 2.0)
    assert settings.inputs.size == 512 and settings.network.content_layers == ("conv4_2",)
    record = settings.as_dict()
    assert set(record) == set(options.NAMES) and record["style_layers"] == ["conv1_1"]  # JSON-friendly
    assert options.validate(record) == settings  # the record reads back as the same settings


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("size", "256", 256),
        ("style_weight", 1000, 1000.0),
        ("learning_rate", "none", None),
        ("style_layers", "conv1_1, conv2_1", ["conv1_1", "conv2_1"]),
        ("style_weights", "0.2,0.8", [0.2, 0.8]),
        ("original_colors", "true", True),
        ("precision", "bf16", "bf16"),
    ],
)
def test_documents_are_parsed_by_the_schema(name: str, value: object, expected: object) -> None:
    assert options.option(name).parse(value) == expected


def test_the_cli_flags_come_from_the_schema() -> None:
    help_text = " ".join(build_parser().format_help().split())
    for option in options.OPTIONS:
        assert option.flag in help_text, option.name
        if option.choices is not None:
            assert "{" + ",".join(option.choices) + "}" in help_text, option.name
    assert "--style-scale X" in help_text and "(default: 1.0)" in help_text


def test_options_without_defaults_are_left_out_of_the_namespace() -> None:
    parser = argparse.ArgumentParser()
    options.add_arguments(parser, with_defaults=False)
    namespace = parser.parse_args(["--size", "64", "--style-layers", "conv1_1,conv2_1", "relu3_1"])
    assert options.from_namespace(namespace) == {"size": 64, "style_layers": ("conv1_1", "conv2_1", "relu3_1")}


def test_the_readme_lists_every_option() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for option in options.OPTIONS:
        assert f"`{option.flag}" in readme, option.flag
