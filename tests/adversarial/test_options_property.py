"""Any value of any option gives a picture or one clear error, never a traceback (issue 13).

Hypothesis draws one to three options at a time, each either a valid value (kept cheap: small
sizes and budgets on the tiny network) or an adversarial one (None, booleans, huge and negative
integers, NaN, infinities, random text, lists of anything), and runs them through the API and the
command line. The budget is fixed (derandomised examples) so the suite's time does not drift.
`pytest -s` prints the tally of outcomes.
"""

from __future__ import annotations

import collections
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import painterly.cli as cli
from painterly import PainterlyError, options, stylize

TALLY: collections.Counter[str] = collections.Counter()
# Never fuzzed: they pick the network (the tests must not download one) and torch.compile (minutes).
FIXED = {"weights", "model", "weights_preprocessing"}
BASE = {"size": 32, "iterations": 3, "device": "cpu"}


@pytest.fixture(scope="module", autouse=True)
def report_tally():
    yield
    print(f"\nadversarial options: {dict(TALLY)}")


def garbage() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**80), max_value=2**80),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
        st.sampled_from(["", "none", "auto", "conv4_2", "relu9_9", "Noise", "-1", "1e400", "../../etc/passwd"]),
    )
    return st.one_of(scalars, st.lists(scalars, max_size=6))


def valid(option: options.Option) -> st.SearchStrategy[Any]:
    """Cheap valid values: small images and budgets, the tiny network's layers."""
    cheap: dict[str, st.SearchStrategy[Any]] = {
        "size": st.integers(16, 64),
        "iterations": st.integers(1, 6),
        "scales": st.one_of(st.none(), st.integers(1, 3)),
        "style_scale": st.floats(0.01, 3.0),
        "seed": st.integers(0, options.MAX_SEED),
        "compile": st.just("off"),
        "device": st.sampled_from(["auto", "cpu"]),
        "content_layers": st.lists(st.sampled_from(["conv4_2", "relu3_1", "conv1_1", "pool2"]), max_size=2),
        "style_layers": st.lists(st.sampled_from(["conv1_1", "relu2_1", "conv3_1", "conv5_1"]), min_size=1,
                                 max_size=4, unique=True),
        "style_masks": st.none(),
        "content_mask": st.none(),
        "init": st.sampled_from(options.INIT_WORDS),
    }  # fmt: skip
    if option.name in cheap:
        return cheap[option.name]
    if option.choices is not None:
        return st.sampled_from(option.choices)
    number = st.floats(0, 1e6) if option.item is float else st.integers(0, 100)
    if option.is_list:
        value: st.SearchStrategy[Any] = st.lists(number, min_size=1, max_size=5)
    elif option.item is bool:
        value = st.booleans()
    else:
        value = number
    return st.one_of(st.none(), value) if option.nullable else value


def expensive(values: dict[str, Any]) -> bool:
    """Valid values that would make a test run for minutes (they are refused before running anyway
    when out of bounds)."""
    def number(name: str, default: float) -> float:
        value = values.get(name, default)
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        return float(value) if ok else default

    size = number("size", 32)
    return (
        (16 <= size <= 16384 and size > 64)
        or 6 < number("iterations", 3) <= 10_000_000
        or (values.get("compile") in ("default", "reduce-overhead"))
        or (number("style_scale", 1.0) > 0 and number("style_scale", 1.0) * size > 256)
        or values.get("device") in ("cuda", "mps")
    )


@st.composite
def option_values(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from([o.name for o in options.OPTIONS if o.name not in FIXED]),
                          min_size=1, max_size=3, unique=True))  # fmt: skip
    return {name: draw(st.one_of(valid(options.option(name)), garbage())) for name in names}


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(values=option_values())
def test_any_option_values_in_the_api(tiny_weights: Path, small_images: tuple[Path, Path], values) -> None:
    assume(not expensive({**BASE, **values}))
    content, style = small_images
    try:
        result = stylize(content, style, **{**BASE, "weights": str(tiny_weights), **values})
    except PainterlyError as error:
        assert "\n" not in str(error) and str(error)
        TALLY["api: clean error"] += 1
        return
    assert result.image.dim() == 4 and torch.isfinite(result.image).all()
    TALLY["api: picture"] += 1


def as_words(name: str, value: Any) -> list[str]:
    option = options.option(name)
    if option.item is bool:
        return [option.flag] if value else []
    items = value if isinstance(value, list) else [value]
    return [option.flag, *(str(item) for item in items)] if items else [option.flag]


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(values=option_values())
def test_any_option_words_on_the_command_line(
    tiny_weights: Path, small_images: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory, values, capsys
) -> None:
    assume(not expensive({**BASE, **values}))
    capsys.readouterr()  # the fixture lives across examples: start each one empty
    content, style = small_images
    output = tmp_path_factory.mktemp("cli") / "out.png"
    words = [str(content), str(style), "-o", str(output), "--weights", str(tiny_weights), "--quiet"]
    words += ["--size", "32", "--iterations", "3", "--device", "cpu"]
    for name, value in values.items():
        words += as_words(name, value)
    try:
        code = cli.main(words)
    except SystemExit as stop:  # argparse refuses a word: usage and one error line, exit 2
        code = stop.code
        assert code == 2
        TALLY["cli: argparse refusal"] += 1
        assert not output.exists()
        return
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code == 0:
        assert output.exists()
        TALLY["cli: picture"] += 1
    else:
        assert code == 2 and err.startswith("painterly: error: ") and err.count("\n") == 1, err
        assert not output.exists()
        TALLY["cli: clean error"] += 1
