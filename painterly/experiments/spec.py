"""Experiment specs: a small TOML file describing a grid of stylisations.

```toml
title = "Optimiser: L-BFGS vs Adam"          # optional; default: the file's name
description = "What the experiment asks."      # optional
study = "What the reference study found."      # optional, quoted in the report
pairs = ["photo.jpg:painting.jpg"]             # optional; or [{ content = "...", style = "..." }]
spike_factor = 2.0                             # optional: a spike is a loss above 2x the running minimum
reach_within = 0.05                            # optional: "evaluations to reach within 5 % of the best final loss"

[options]                                      # keywords of painterly.stylize shared by every run
size = 256
iterations = 1000

[axes.optimizer]                               # an axis: one named setting per key, each a table of options
"L-BFGS" = { optimizer = "lbfgs", learning_rate = 0.8 }
"Adam" = { optimizer = "adam", learning_rate = 0.01 }

[axes]
seed = [0, 1, 2]                               # shorthand: one option over a list of values
```

The grid is the product of the axes (one setting when there are none) times the pairs. Relative
paths (pairs, ``weights``, an ``init`` image) are relative to the spec file. Every mistake is a
one-line :class:`PainterlyError` that names the file and the key.
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from painterly import options as schema
from painterly.errors import PainterlyError

#: The most runs one experiment may have (settings x pairs), checked before the grid is expanded.
#: A run takes seconds on a GPU and a minute or two on a CPU, so 10,000 runs are days to weeks of
#: computing, and their report a table no one reads; the built-in specs have 6 to 12. A larger grid
#: is almost always axes multiplied by mistake (4 axes of 100 values are 10^8 runs, whose mere list
#: would fill the memory), so it is refused with the sizes that make it up.
MAX_RUNS = 10_000
#: The deepest nesting of tables and arrays a spec may have. A real one needs 5 (axes, an axis, a
#: setting, an option, a list of layers); Python's TOML parser recurses once per level and fails
#: with a RecursionError near 300, so the check comes well before that.
MAX_DEPTH = 16
DEFAULT_SPIKE_FACTOR = 2.0
DEFAULT_REACH_WITHIN = 0.05
TOP_LEVEL_KEYS = ("title", "description", "study", "pairs", "spike_factor", "reach_within", "options", "axes")
# Options whose value may be a file (or a list of files), resolved relative to the spec.
PATH_OPTIONS = tuple(option.name for option in schema.OPTIONS if option.path)


@dataclass(frozen=True)
class Pair:
    """A content photo and a style painting."""

    content: Path
    style: Path
    label: str  # "tubingen × starry_night"
    slug: str  # "tubingen__starry_night", for file names


@dataclass(frozen=True)
class Setting:
    """One point of the grid: a label and the options its axes set."""

    label: str
    options: dict[str, Any]
    slug: str


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple[tuple[str, dict[str, Any]], ...]  # (label, options)


@dataclass
class Spec:
    """A parsed, validated experiment spec (without CLI overrides applied)."""

    name: str  # built-in name or the file's stem
    source: str  # "built-in spec 'optimizers'" or the file path, for messages
    title: str
    description: str = ""
    study: str = ""
    pairs: list[Pair] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    axes: list[Axis] = field(default_factory=list)
    spike_factor: float = DEFAULT_SPIKE_FACTOR
    reach_within: float = DEFAULT_REACH_WITHIN
    base_dir: Path = field(default_factory=Path.cwd)

    def setting_count(self) -> int:
        """How many settings :meth:`settings` will make, without making them."""
        return math.prod(len(axis.values) for axis in self.axes)

    def settings(self) -> list[Setting]:
        """The product of the axes, in the order written; labels joined with ", "."""
        if not self.axes:
            return [Setting("default", {}, "default")]
        out = []
        for combination in itertools.product(*(axis.values for axis in self.axes)):
            label = ", ".join(value_label for value_label, _ in combination)
            options: dict[str, Any] = {}
            for _, value_options in combination:
                options.update(value_options)
            out.append(Setting(label, options, slugify(label)))
        return out

    def varied_options(self) -> dict[str, str]:
        """Option name -> the axis that sets it."""
        return {key: axis.name for axis in self.axes for _, options in axis.values for key in options}


# ---------------------------------------------------------------------------------------------
# Loading


def builtin_names() -> list[str]:
    """Names of the specs shipped with painterly."""
    folder = resources.files("painterly.experiments") / "builtin"
    return sorted(entry.name[: -len(".toml")] for entry in folder.iterdir() if entry.name.endswith(".toml"))


def load_spec(name_or_path: str | Path) -> Spec:
    """A built-in spec by name (``optimizers``) or a ``.toml`` file."""
    text = str(name_or_path)
    if text in builtin_names():
        resource = resources.files("painterly.experiments") / "builtin" / f"{text}.toml"
        return parse_spec(resource.read_text(encoding="utf-8"), name=text, source=f"built-in spec '{text}'")
    path = Path(text).expanduser()
    if not path.is_file():
        hint = f"; built-in specs: {', '.join(builtin_names())}"
        if path.exists():
            raise PainterlyError(f"spec {text} is not a file{hint}")
        close = difflib.get_close_matches(text, builtin_names(), n=1)
        if close:
            hint = f"; did you mean the built-in spec '{close[0]}'?"
        raise PainterlyError(f"spec {text} does not exist{hint}")
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PainterlyError(f"cannot read spec {path}: {error}") from None
    return parse_spec(content, name=path.stem, source=str(path), base_dir=path.resolve().parent)


def parse_spec(text: str, *, name: str, source: str, base_dir: Path | None = None) -> Spec:
    """Parse and validate spec text; ``source`` names it in error messages."""
    base_dir = base_dir if base_dir is not None else Path.cwd()
    document = _load_toml(text, source)
    _check_keys(document, TOP_LEVEL_KEYS, source, "the top level")
    spec = Spec(name=name, source=source, title=_text(document, "title", source) or name, base_dir=base_dir)
    spec.description = _text(document, "description", source)
    spec.study = _text(document, "study", source)
    spec.spike_factor = _number(document, "spike_factor", DEFAULT_SPIKE_FACTOR, source, minimum=1.0)
    spec.reach_within = _number(document, "reach_within", DEFAULT_REACH_WITHIN, source, minimum=0.0)
    options = document.get("options", {})
    if not isinstance(options, dict):
        raise PainterlyError(f"{source}: 'options' must be a table of stylize options ([options])")
    spec.options = check_options(options, f"{source}: [options]", base_dir)
    spec.axes = _parse_axes(document.get("axes", {}), source, base_dir)
    check_grid_size(spec, 1)  # before the settings are made, below
    overlap = set(spec.options) & set(spec.varied_options())
    if overlap:
        key = sorted(overlap)[0]
        raise PainterlyError(
            f"{source}: option '{key}' is set in [options] and varied by axis '{spec.varied_options()[key]}'; "
            "remove it from [options]"
        )
    if "pairs" in document:
        spec.pairs = _parse_spec_pairs(document["pairs"], source, base_dir)
    for setting in spec.settings():
        check_ranges({**spec.options, **setting.options}, f"{source}: setting '{setting.label}'")
    return spec


def _load_toml(text: str, source: str) -> dict[str, Any]:
    """The TOML document; a syntax error or a nesting deeper than :data:`MAX_DEPTH` is one line."""
    too_deep = PainterlyError(
        f"{source}: its tables and arrays are nested too deeply (more than {MAX_DEPTH} levels); "
        "a spec needs 5 at most: flatten it"
    )
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PainterlyError(f"{source}: not valid TOML: {_one_line(error)}") from None
    except RecursionError:  # the parser recurses once per level; thousands of levels exhaust the stack
        raise too_deep from None
    if _depth(document) > MAX_DEPTH:
        raise too_deep
    return document


def _depth(document: Any) -> int:
    """How deeply tables and arrays nest in ``document`` (iteratively: it may be deep)."""
    deepest = 0
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
    return deepest


def check_grid_size(spec: Spec, pairs: int) -> None:
    """Refuse a grid of more than :data:`MAX_RUNS` runs, from its axes' lengths, before expanding it."""
    settings = spec.setting_count()
    runs = settings * max(pairs, 1)
    if runs <= MAX_RUNS:
        return
    if pairs > 1:
        made_of = f"{settings:,} settings x {pairs:,} pairs"
    else:
        made_of = " x ".join(f"{len(axis.values):,} {axis.name}" for axis in spec.axes)
    raise PainterlyError(
        f"{spec.source}: the grid has {runs:,} runs ({made_of}); an experiment may have at most "
        f"{MAX_RUNS:,}: give the axes fewer values, or split them over several specs"
    )


def _parse_axes(axes: Any, source: str, base_dir: Path) -> list[Axis]:
    if not isinstance(axes, dict):
        raise PainterlyError(f"{source}: 'axes' must be a table of axes ([axes.NAME])")
    parsed: list[Axis] = []
    owner: dict[str, str] = {}
    for axis_name, body in axes.items():
        where = f"{source}: [axes.{axis_name}]"
        if isinstance(body, list):
            check_options({axis_name: body[0] if body else None}, where, base_dir, only_name=True)
            if not body:
                raise PainterlyError(f"{where}: the list of values is empty")
            values = []
            for value in body:
                checked = check_options({axis_name: value}, where, base_dir)
                values.append((f"{axis_name.replace('_', '-')} {_value_text(value)}", checked))
        elif isinstance(body, dict):
            if not body:
                raise PainterlyError(f"{where}: the axis has no settings; add e.g. NAME = {{ option = value }}")
            values = []
            for label, options in body.items():
                if not isinstance(options, dict):
                    raise PainterlyError(
                        f"{where}: '{label}' must be a table of options, e.g. {label} = {{ seed = 1 }}; "
                        f"got {_value_text(options)}"
                    )
                if not options:
                    raise PainterlyError(f"{where}: setting '{label}' sets no option")
                values.append((str(label), check_options(options, f"{where} '{label}'", base_dir)))
        else:
            raise PainterlyError(
                f"{where}: an axis is a table of named settings or a list of values of one option; "
                f"got {_value_text(body)}"
            )
        labels = [label for label, _ in values]
        if len(set(labels)) != len(labels):
            raise PainterlyError(f"{where}: two settings have the same label")
        for _, options in values:
            for key in options:
                if owner.setdefault(key, axis_name) != axis_name:
                    raise PainterlyError(
                        f"{where}: option '{key}' is already varied by axis '{owner[key]}'; vary it in one axis"
                    )
        parsed.append(Axis(axis_name, tuple(values)))
    return parsed


# ---------------------------------------------------------------------------------------------
# Options


def check_options(options: Mapping[str, Any], where: str, base_dir: Path, *, only_name: bool = False) -> dict[str, Any]:
    """Check names and values of stylize options (:mod:`painterly.options`); ints become floats where
    a float is meant. Paths (``weights``, masks, an ``init`` image) become absolute, relative to ``base_dir``.
    """
    checked: dict[str, Any] = {}
    for key, value in options.items():
        if key in ("content", "style"):
            raise PainterlyError(
                f'{where}: unknown option \'{key}\'; images are given as pairs (pairs = ["photo.jpg:painting.jpg"] '
                "or --pairs)"
            )
        try:
            option = schema.option(key)
        except PainterlyError as error:
            raise PainterlyError(f"{where}: {error}") from None
        if only_name:
            continue
        try:
            checked[key] = option.parse(value)
        except PainterlyError as error:
            raise PainterlyError(f"{where}: {error}") from None
        if option.path:
            checked[key] = _resolve_files(key, checked[key], base_dir, where)
    return checked


def _resolve_files(key: str, value: Any, base_dir: Path, where: str) -> Any:
    """Make file paths absolute (relative to ``base_dir``) and check that they exist."""
    if isinstance(value, list):
        return [_resolve_files(key, item, base_dir, where) for item in value]
    if not isinstance(value, str) or value in schema.option(key).words:
        return value
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise PainterlyError(f"{where}: {key} file {str(path)!r} does not exist")
    return str(path.resolve())


def check_ranges(options: Mapping[str, Any], where: str) -> None:
    """The schema's checks of values and of the rules between options, on a full set of options."""
    try:
        schema.validate(options)
    except PainterlyError as error:
        raise PainterlyError(f"{where}: {error}") from None


# ---------------------------------------------------------------------------------------------
# Pairs


def parse_pair_text(text: str, base_dir: Path, where: str) -> tuple[Path, Path]:
    """``CONTENT:STYLE`` -> two existing files (split at the colon that makes both exist)."""
    positions = [index for index, character in enumerate(text) if character == ":"]
    if not positions:
        raise PainterlyError(f"{where}: pair {text!r} must be CONTENT:STYLE (two image paths joined by ':')")
    candidates = [(text[:index], text[index + 1 :]) for index in positions]
    for content, style in candidates:
        if content and style and _resolve(content, base_dir).is_file() and _resolve(style, base_dir).is_file():
            return _resolve(content, base_dir), _resolve(style, base_dir)
    content, style = candidates[0]
    return _existing(content, "content image", base_dir, where), _existing(style, "style image", base_dir, where)


def make_pairs(paths: Sequence[tuple[Path, Path]]) -> list[Pair]:
    """Label pairs by the files' stems; a repeated label gets a number."""
    pairs: list[Pair] = []
    seen: dict[str, int] = {}
    for content, style in paths:
        label = f"{content.stem} × {style.stem}"
        slug = f"{slugify(content.stem)}__{slugify(style.stem)}"
        seen[slug] = seen.get(slug, 0) + 1
        if seen[slug] > 1:
            label, slug = f"{label} ({seen[slug]})", f"{slug}-{seen[slug]}"
        pairs.append(Pair(content, style, label, slug))
    return pairs


def _parse_spec_pairs(value: Any, source: str, base_dir: Path) -> list[Pair]:
    if not isinstance(value, list):
        raise PainterlyError(f'{source}: pairs must be a list, e.g. pairs = ["photo.jpg:painting.jpg"]')
    paths = []
    for index, item in enumerate(value):
        where = f"{source}: pairs[{index}]"
        if isinstance(item, str):
            paths.append(parse_pair_text(item, base_dir, where))
        elif isinstance(item, dict):
            _check_keys(item, ("content", "style"), source, f"pairs[{index}]")
            if not isinstance(item.get("content"), str) or not isinstance(item.get("style"), str):
                raise PainterlyError(f'{where}: give both content = "..." and style = "..."')
            paths.append(
                (
                    _existing(item["content"], "content image", base_dir, where),
                    _existing(item["style"], "style image", base_dir, where),
                )
            )
        else:
            raise PainterlyError(f'{where}: a pair is "CONTENT:STYLE" or {{ content = ..., style = ... }}')
    return make_pairs(paths)


def _resolve(text: str, base_dir: Path) -> Path:
    path = Path(text).expanduser()
    return (path if path.is_absolute() else base_dir / path).resolve()


def _existing(text: str, role: str, base_dir: Path, where: str) -> Path:
    path = _resolve(text, base_dir)
    if not path.is_file():
        shown = text if Path(text).is_absolute() else f"{text} (looked in {base_dir})"
        raise PainterlyError(f"{where}: {role} {shown} does not exist")
    return path


# ---------------------------------------------------------------------------------------------
# Small helpers


def slugify(text: str) -> str:
    """A file-name-safe lower-case version of ``text``."""
    slug = re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")
    return slug or "x"


def _check_keys(table: Mapping[str, Any], allowed: Sequence[str], source: str, where: str) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(allowed)}"
            raise PainterlyError(f"{source}: unknown key '{key}' at {where}{hint}")


def _text(document: Mapping[str, Any], key: str, source: str) -> str:
    value = document.get(key, "")
    if not isinstance(value, str):
        raise PainterlyError(f"{source}: {key} must be a string; got {_value_text(value)}")
    return value.strip()


def _number(document: Mapping[str, Any], key: str, default: float, source: str, *, minimum: float) -> float:
    value = document.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= minimum:
        raise PainterlyError(f"{source}: {key} must be a number greater than {minimum:g}; got {_value_text(value)}")
    return float(value)


def _value_text(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, bool):
        text = "true" if value else "false"
    return text if len(text) <= 60 else text[:57] + "..."


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())
