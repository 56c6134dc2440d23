"""The option schema: every stylisation option's type, default, choices, bounds and help, in one place.

Every front end is generated from :data:`OPTIONS` and every value is checked by it:

- :func:`painterly.stylize` validates its keywords with :func:`validate`;
- the command line (``painterly ...``, ``painterly experiment``) gets its flags from
  :func:`add_arguments` and reads them back with :func:`from_namespace`;
- experiment specs (TOML), the benchmark's ``--set`` and job requests turn loosely typed values
  into options with :func:`parse` (from a document value) or :meth:`Option.parse_text`.

A value is checked against its option's type (``int``, ``float``, ``str``, ``bool``, a
``Literal`` of words, a tuple of them, or any of these ``| None``) and bounds (``low``, ``high``;
``above`` for an open lower bound). Rules that tie several options together are in
:func:`validate`. Every mistake is a one-line :class:`PainterlyError` that names the option as
on the command line, without the dashes (``style-scale``), so it reads the same in the API.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import math
import os
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from painterly.errors import PainterlyError
from painterly.settings import DEFAULT_AVERAGES, DEFAULT_LEARNING_RATES, GROUP_TYPES, Settings

#: The paper's layers (Gatys et al. 2016, section 2): content at conv4_2, style at conv1_1 ... conv5_1.
PAPER_CONTENT_LAYERS = ("conv4_2",)
PAPER_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
#: The smallest image side the network can describe: four 2x2 poolings before conv5_1 leave 1 px of 16.
MIN_SIDE = 16
MAX_SIZE = 16384
#: torch.Generator.manual_seed takes at most a 64-bit unsigned integer.
MAX_SEED = 2**64 - 1
#: Words `init` accepts besides an image file.
INIT_WORDS = ("content", "palette", "noise", "style")
#: Where the in-memory images that path options also take (in the API) come from.
IMAGE_MODULES = ("PIL", "torch", "numpy")


@dataclass(frozen=True)
class Option:
    """One stylisation option: a keyword of :func:`painterly.stylize`, a flag, a spec key, a form field.

    ``kind`` is the Python type (``int``, ``float | None``, ``tuple[str, ...]``,
    ``Literal["avg", "max"]`` ...). ``low``/``high`` bound a number (and each item of a list of
    numbers); ``above`` makes ``low`` exclusive ("positive"). ``path`` marks values that name files
    (relative to a spec file's folder in a spec); ``words`` are the values of a path option that
    are not files (``init``'s content, noise and style).
    """

    name: str
    kind: Any
    default: Any
    help: str
    metavar: str | None = None
    low: float | None = None
    high: float | None = None
    above: bool = False
    path: bool = False
    words: tuple[str, ...] = ()
    common: bool = False  # shown first in a form; the rest are "advanced"

    @property
    def label(self) -> str:
        """The option as named in messages: ``style-scale``."""
        return self.name.replace("_", "-")

    @property
    def flag(self) -> str:
        return "--" + self.label

    @property
    def nullable(self) -> bool:
        return type(None) in typing.get_args(self.kind) and _is_union(self.kind)

    @property
    def base(self) -> Any:
        """The type without ``| None``."""
        if _is_union(self.kind):
            remaining = [argument for argument in typing.get_args(self.kind) if argument is not type(None)]
            if len(remaining) == 1:
                return remaining[0]
        return self.kind

    @property
    def is_list(self) -> bool:
        return typing.get_origin(self.base) in (tuple, list, Sequence)

    @property
    def item(self) -> Any:
        """The type of one value (of each item, for a list)."""
        return typing.get_args(self.base)[0] if self.is_list else self.base

    @property
    def choices(self) -> tuple[str, ...] | None:
        return typing.get_args(self.item) if typing.get_origin(self.item) is Literal else None

    def describe_bounds(self) -> str:
        """``of at least 16 and at most 16384``, for messages and help."""
        parts = []
        if self.low is not None:
            parts.append(f"above {_number_text(self.low)}" if self.above else f"at least {_number_text(self.low)}")
        if self.high is not None:
            parts.append(f"at most {_number_text(self.high)}")
        return " and ".join(parts)

    # --- checking -------------------------------------------------------------------------

    def check(self, value: Any) -> Any:
        """``value`` checked against the type and bounds; lists become lists, ints become floats
        where a float is meant. Raises :class:`PainterlyError` naming the option."""
        if value is None:
            if self.nullable:
                return None
            raise PainterlyError(f"{self.label} needs a value; got None")
        if self.is_list:
            if isinstance(value, str | bytes | os.PathLike) or not isinstance(value, Iterable):
                items = [value]  # one value where a list is meant: a list of one
            else:
                items = list(value)
            return [self._check_one(item) for item in items]
        return self._check_one(value)

    def _check_one(self, value: Any) -> Any:
        item = self.item
        if self.choices is not None:
            if value not in self.choices:
                raise PainterlyError(f"unknown {self.label} {value!r}; use {_either(self.choices)}")
            return value
        if item is bool:
            if not isinstance(value, bool):
                raise PainterlyError(f"{self.label} must be True or False; got {value!r}")
            return value
        if item is int:
            if isinstance(value, bool) or not isinstance(value, int) or not self._in_bounds(value):
                bounds = f" of {self.describe_bounds()}" if self.describe_bounds() else ""
                raise PainterlyError(f"{self.label} must be an integer{bounds}; got {value!r}")
            return value
        if item is float:
            ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
            if not ok or not self._in_bounds(value):
                raise PainterlyError(f"{self.label} must be {self._float_need()}; got {value!r}")
            return float(value)
        if item is str:
            if self.path and isinstance(value, os.PathLike):
                return os.fspath(value)
            if self.path and not isinstance(value, str):
                if type(value).__module__.split(".")[0] in IMAGE_MODULES:
                    return value  # an in-memory image (API): described by `jsonable`
                raise PainterlyError(f"{self.label} must be a path, a PIL image or a tensor; got {value!r}")
            if not isinstance(value, str):
                raise PainterlyError(f"{self.label} must be a string; got {value!r}")
            return value
        raise TypeError(f"option {self.name} has a type the schema does not know: {self.kind!r}")  # pragma: no cover

    def _in_bounds(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.above else value < self.low):
            return False
        return self.high is None or value <= self.high

    def _float_need(self) -> str:
        if self.low == 0 and self.high is None:
            return "a finite positive number" if self.above else "a finite zero or positive number"
        bounds = self.describe_bounds()
        return f"a finite number {bounds}" if bounds else "a finite number"

    # --- reading text and documents -----------------------------------------------------------

    def parse_text(self, text: str) -> Any:
        """One command-line word or form field as this option's item type (not yet range-checked)."""
        item = self.item
        if self.choices is not None or item is str:
            return text
        if item is bool:
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise PainterlyError(f"{self.label}: {text!r} is not true or false")
        try:
            return item(text)
        except ValueError:
            kind = "an integer" if item is int else "a number"
            raise PainterlyError(f"{self.label} must be {kind}; got {text!r}") from None

    def parse(self, value: Any) -> Any:
        """A value from a document (TOML, JSON, a form): text is parsed, "none" is None where
        allowed, a comma-separated string is a list; then :meth:`check`."""
        if self.nullable and isinstance(value, str) and value.strip().lower() == "none":
            return None
        if self.is_list and isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if self.is_list and isinstance(value, list):
            value = [self.parse_text(part) if isinstance(part, str) else part for part in value]
        elif isinstance(value, str) and self.item not in (str,) and self.choices is None:
            value = self.parse_text(value)
        return self.check(value)


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _either(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


Weights = tuple[float, ...]
Layers = tuple[str, ...]

OPTIONS: tuple[Option, ...] = (
    Option("size", int, 512, "long side of the output in pixels; the photo's aspect ratio is kept", "PX",
           low=MIN_SIDE, high=MAX_SIZE, common=True),
    Option("style_scale", float, 1.0,
           "brush-stroke size: the painting's long side as a multiple of the output's (never stretched); "
           "2 = strokes twice as large, 0.5 = half", "X", low=0, above=True, common=True),
    Option("style_weights", Weights | None, None,
           "one weight per style image: how their Gram matrices are blended, or with --style-masks the strength "
           "of each region; default: equal", "W", low=0),
    Option("style_masks", tuple[str, ...] | None, None,
           "one mask image per style image, with the photo's aspect ratio: white = this style here", "MASK",
           path=True),
    Option("content_mask", str | None, None,
           "mask image, the photo's aspect ratio: white = keep the photo untouched here", "MASK", path=True),
    Option("preserve_color", Literal["none", "luminance", "histogram"], "none",
           "keep the photo's colours: luminance = stylise the luminance only and keep the photo's chroma; "
           "histogram = recolour the painting to the photo's colour statistics first", common=True),
    Option("color_transfer", Literal["pca", "cholesky", "symmetric"], "pca",
           "the linear colour transfer of --preserve-color histogram"),
    Option("original_colors", bool, False,
           "give the finished picture the photo's chroma (YIQ), keeping the stylised luminance", common=True),
    Option("tv_weight", float, 0.0,
           "weight of total variation smoothing (sum of squared neighbour differences, 0..1 RGB)", "W", low=0),
    Option("model", str, "auto", "network weights: auto, vgg19, vgg19-caffe or vgg16-hed", "NAME"),
    Option("weights", str | None, None, "a local .safetensors or .pth VGG file (overrides --model)", "FILE",
           path=True),
    Option("weights_preprocessing", Literal["auto", "caffe", "torchvision"], "auto", "input convention of --weights"),
    Option("pooling", Literal["avg", "max"], "avg", "pooling layers (the paper: avg)"),
    Option("padding", Literal["zeros", "reflect", "replicate"], "zeros",
           "how the convolutions see past the picture's edge: zeros (the trained network's) paints a frame"),
    Option("margin", int, 8,
           "pixels optimised around the picture on every side (at the output's size) and cropped at the "
           "end, so that the frayed frame falls outside the picture; 0 = none, the paper's",
           "PX", low=0, high=256),
    Option("method", Literal["gatys", "strotss", "nnst"], "gatys",
           "the objective and its path: gatys = the paper's Gram matrices, on the options below; strotss = "
           "relaxed optimal transport and self-similarity (Kolkin et al. 2019); nnst = neural neighbours "
           "(Kolkin et al. 2022); the later two bring their own optimiser and scales", common=True),
    Option("content_layers", Layers, PAPER_CONTENT_LAYERS, "layers matched to the photo", "LAYER"),
    Option("style_layers", Layers, PAPER_STYLE_LAYERS, "layers whose Gram matrices match the painting", "LAYER"),
    Option("style_layer_weights", Weights | None, None, "w_l per style layer (default: equal, summing to 1)", "W",
           low=0),
    Option("style_loss", Literal["gram", "w2"], "gram",
           "what the style layers match: gram = the paper's Gram matrices; w2 = each layer's feature mean and "
           "covariance, by the squared Wasserstein-2 distance between Gaussians per filter (crowsonkb's)"),
    Option("content_weight", float, 1.0, "alpha, the weight of the content loss", "ALPHA", low=0, common=True),
    Option("style_weight", float, 1e4, "beta, the weight of the style loss", "BETA", low=0, common=True),
    Option("content_preservation", float, 0.75,
           "nnst: how much of the photo's layout the painting's features are matched to, 0 (the picture's own, "
           "most stylised) to 1 (the photo's)", "P", low=0, high=1),
    Option("optimizer", Literal["lbfgs", "adam"], "adam",
           "optimiser of the pixels: adam (with --average, no dot grid in flat areas) or lbfgs (the paper's; "
           "painterly 0.1's default, also --preset classic)"),
    Option("bounds", Literal["inside", "after"], "inside",
           "L-BFGS and the 0..1 pixel range: inside = optimise the loss of the clamped image (the one saved); "
           "after = unconstrained, clamped when finished (the classic tools)"),
    Option("learning_rate", float | None, None, "step size on 0..1 RGB pixels (default: lbfgs 1.0, adam 0.02)",
           "LR", low=0, above=True),
    Option("jitter", int, 0,
           "the network sees the canvas shifted by a random offset of up to this many pixels (at the output's "
           "size), a new one every Adam step or every --jitter-every L-BFGS evaluations: against the regular "
           "grid of dots; 0 = a fixed view, the paper's", "PX", low=0, high=32),
    Option("jitter_every", int, 25, "L-BFGS with --jitter: evaluations per view (L-BFGS restarts at each)", "N",
           low=1),
    Option("average", float | None, None,
           "the result is the moving average of the iterates with this decay per step, 0 = the best iterate "
           "(default: adam 0.95, lbfgs 0)", "DECAY", low=0, high=0.9999),
    Option("pyramid", int, 0,
           "Adam steps on a Laplacian pyramid of this many levels instead of the pixels (0 = the pixels)", "N",
           low=0, high=8),
    Option("iterations", int, 500, "objective evaluations (forward + backward), all scales together", "N",
           low=1, high=10_000_000, common=True),
    Option("init", str, "content",
           "start image: content, palette (the photo in the painting's colours), noise, style or an image file",
           "INIT", path=True, words=INIT_WORDS),
    Option("seed", int, 0, "random seed (noise init); a CPU run is reproducible bit for bit", "N",
           low=0, high=MAX_SEED),
    Option("scales", int | None, None,
           "number of coarse-to-fine scales from ~128 px (default: automatic; 1 = single)", "N", low=1, high=10),
    Option("precision", Literal["auto", "fp32", "bf16"], "auto",
           "network precision (auto: bf16 where the hardware has it)"),
    Option("device", Literal["auto", "cpu", "cuda", "mps"], "auto", "where to run"),
    Option("compile", Literal["off", "default", "reduce-overhead"], "off",
           "torch.compile the network and losses (GPU; each scale compiles once: pays off for long runs)"),
    Option("memory", Literal["auto", "normal", "low"], "auto",
           "low = recompute each VGG block's activations in the backward pass instead of keeping them "
           "(less memory, more time per evaluation: docs/benchmarks/README.md); "
           "normal = never, refusing a run that does not fit; auto = low only where normal would not fit"),
    Option("tolerance", float | None, None,
           "end a scale early when the loss improves less than this (relative) in 20 evaluations; default: off",
           "T", low=0, above=True),
)  # fmt: skip

BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
#: Each option's group in :class:`painterly.settings.Settings` (``inputs``, ``network``, ...).
GROUPS: dict[str, str] = {
    field.name: group for group, kind in GROUP_TYPES.items() for field in dataclasses.fields(kind)
}


def option(name: str) -> Option:
    """The option called ``name`` (``style_scale`` or ``style-scale``); an unknown name is an error
    that gives the closest match."""
    key = name.replace("-", "_")
    if key in BY_NAME:
        return BY_NAME[key]
    close = difflib.get_close_matches(key, NAMES, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; options are: {', '.join(NAMES)}"
    raise PainterlyError(f"unknown option '{name}'{hint}")


def defaults() -> dict[str, Any]:
    """Every option's default, JSON-friendly (tuples as lists)."""
    return {item.name: list(item.default) if isinstance(item.default, tuple) else item.default for item in OPTIONS}


# --- validation -----------------------------------------------------------------------------


def validate(values: Mapping[str, Any]) -> Settings:
    """Every option checked (missing ones take their defaults), and the rules between them.

    Returns the typed settings of a run (:class:`painterly.settings.Settings`): paths as text and
    in-memory mask images named (``<Image>``); ``.as_dict()`` is their JSON-friendly record, which
    this accepts back. Unknown names are an error with the closest match.
    """
    for name in values:
        option(name)
    settings = {item.name: item.check(values.get(item.name, item.default)) for item in OPTIONS}
    _check_together(settings)
    return Settings.from_checked({name: jsonable(value) for name, value in settings.items()})


#: The options of the paper's objective and of painterly's path, which the later methods replace
#: with their own (:mod:`painterly.methods`): refused with them unless left at their defaults.
GATYS_ONLY: dict[str, str] = {
    "content_layers": "it compares hypercolumns of fixed layers",
    "style_layers": "it compares hypercolumns of fixed layers",
    "style_layer_weights": "it compares hypercolumns of fixed layers",
    "style_loss": "it has its own style loss",
    "style_weight": "its style loss has a fixed weight; --content-weight sets the balance",
    "style_weights": "it takes one painting",
    "style_masks": "it takes one painting for the whole picture",
    "optimizer": "it brings its own optimiser",
    "bounds": "it brings its own optimiser",
    "learning_rate": "it brings its own step sizes",
    "jitter": "it brings its own path",
    "jitter_every": "it brings its own path",
    "average": "its result is its last iterate",
    "pyramid": "it always steps on a Laplacian pyramid of its own",
    "init": "it starts from its own images",
    "tolerance": "its scales run their whole budgets",
    "compile": "its losses draw random positions at every evaluation",
}
#: Options that only one method reads, refused with the others unless left at their defaults.
METHOD_ONLY: dict[str, str] = {"content_preservation": "nnst"}


def _check_method(settings: Mapping[str, Any]) -> None:
    """Options that do not apply to the chosen method are refused, not ignored."""
    method = settings["method"]

    def given(name: str) -> bool:
        return jsonable(settings[name]) != jsonable(BY_NAME[name].default)

    unused = [name for name in GATYS_ONLY if method != "gatys" and given(name)]
    unused += [name for name, owner in METHOD_ONLY.items() if owner != method and given(name)]
    if unused:
        name = unused[0]
        why = GATYS_ONLY[name] if name in GATYS_ONLY else f"it is an option of --method {METHOD_ONLY[name]}"
        raise PainterlyError(
            f"--{BY_NAME[name].label} does not apply to --method {method} ({why}); leave it out"
        )
    if method == "strotss" and settings["content_weight"] == 0:
        raise PainterlyError("--content-weight 0 leaves STROTSS without its content term; give a weight above 0")


def _check_together(settings: Mapping[str, Any]) -> None:
    """Rules that involve several options."""
    _check_method(settings)
    if settings["content_weight"] == 0 and settings["style_weight"] == 0:
        raise PainterlyError("content-weight and style-weight are both 0; nothing would be optimised")
    if not settings["style_layers"]:
        raise PainterlyError("no style layers given; name at least one (e.g. conv1_1)")
    if not settings["content_layers"] and settings["content_weight"] > 0:
        raise PainterlyError("no content layers given; name at least one (e.g. conv4_2)")
    layer_weights = settings["style_layer_weights"]
    if layer_weights is not None and len(layer_weights) != len(settings["style_layers"]):
        raise PainterlyError(
            f"{len(layer_weights)} style layer weights for {len(settings['style_layers'])} style layers; "
            "give one per layer"
        )
    style_off = settings["style_weight"] == 0 or (layer_weights is not None and not any(layer_weights))
    content_off = settings["content_weight"] == 0 or not settings["content_layers"]
    if style_off and content_off:
        raise PainterlyError(
            "the objective is identically zero (no content weight and no style layer with a weight); "
            "give --content-weight or a style layer weight above 0"
        )
    painting = settings["style_scale"] * settings["size"]
    if painting > MAX_SIZE:
        raise PainterlyError(
            f"style-scale {settings['style_scale']:g} at size {settings['size']} makes the painting "
            f"{painting:.0f} px long, above the {MAX_SIZE} px limit; lower --style-scale"
        )
    if settings["pyramid"] and settings["optimizer"] != "adam":
        raise PainterlyError(
            f"--pyramid {settings['pyramid']} needs --optimizer adam (L-BFGS is nearly unaffected by a linear "
            "reparametrisation); add --optimizer adam or use --pyramid 0"
        )
    init = settings["init"]
    if isinstance(init, str) and init not in INIT_WORDS and not Path(init).exists():
        close = difflib.get_close_matches(init.lower(), INIT_WORDS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise PainterlyError(f"init {init!r} is neither {_either(INIT_WORDS)} nor an existing image file{hint}")


def jsonable(value: Any) -> Any:
    """Paths as text, tuples as lists, mappings item by item, in-memory images as ``<Image>``/``<Tensor>``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    return f"<{type(value).__name__}>"


def parse(values: Mapping[str, Any], *, where: str = "") -> dict[str, Any]:
    """Options from a document (TOML, JSON, a form): names checked, values parsed and checked one by
    one (not against each other: a spec's shared options are completed by its axes). ``where``
    prefixes every message (``spec.toml: [options]``)."""
    parsed = {}
    for name, value in values.items():
        try:
            parsed[option(name).name] = option(name).parse(value)
        except PainterlyError as error:
            raise PainterlyError(f"{where}: {error}" if where else str(error)) from None
    return parsed


# --- the command line -----------------------------------------------------------------------


class ArgumentContainer(Protocol):
    """An argparse parser or argument group."""

    def add_argument(self, *args: Any, **kwargs: Any) -> Any: ...


def add_arguments(parser: ArgumentContainer, *, with_defaults: bool = True) -> None:
    """One flag per option: ``--style-scale X``. Lists take several words (or commas:
    ``--style-layers conv1_1,conv2_1``); Literals become choices; a bool is a switch.

    ``with_defaults=False`` leaves options that are not given out of the namespace (and out of the
    help), for front ends whose defaults come from elsewhere (an experiment spec).
    """
    for item in OPTIONS:
        default = item.default if with_defaults else argparse.SUPPRESS
        help_text = item.help
        if with_defaults and "default" not in item.help:  # help that explains its own default keeps it
            help_text = f"{item.help} (default: {_default_text(item.default)})"
        if item.item is bool:
            parser.add_argument(item.flag, dest=item.name, action="store_true", default=default, help=help_text)
            continue
        kwargs: dict[str, Any] = {"dest": item.name, "default": default, "help": help_text}
        if item.choices is not None:
            kwargs["choices"] = list(item.choices)
        else:
            kwargs["type"] = _argparse_type(item)
        if item.is_list:
            kwargs["nargs"] = "+"
        if item.metavar:
            kwargs["metavar"] = item.metavar
        parser.add_argument(item.flag, **kwargs)


def parse_command_line(parser: argparse.ArgumentParser, arguments: Sequence[str]) -> tuple[argparse.Namespace, dict]:
    """Parse ``arguments`` with ``parser`` (which has ``--preset`` and :func:`add_arguments`'s flags):
    the preset's values become defaults that options given explicitly override."""
    from painterly.presets import PRESETS

    probe = argparse.ArgumentParser(add_help=False)
    probe.add_argument("--preset", choices=sorted(PRESETS))
    known, _ = probe.parse_known_args(arguments)
    if known.preset:
        parser.set_defaults(**PRESETS[known.preset])
    namespace = parser.parse_args(arguments)
    return namespace, from_namespace(namespace)


def given_options(parser: argparse.ArgumentParser, arguments: Sequence[str]) -> frozenset[str]:
    """The options that ``arguments`` give, on the command line or through ``--preset``, as opposed
    to those left at their defaults. ``parser`` is the front end's, its options added with
    ``add_arguments(..., with_defaults=False)``. A value equal to the default counts as given:
    ``--optimizer adam`` is a choice."""
    from painterly.presets import PRESETS

    namespace = parser.parse_args(arguments)
    preset = getattr(namespace, "preset", None)
    return frozenset(item.name for item in OPTIONS if hasattr(namespace, item.name)) | frozenset(
        PRESETS[preset] if preset else ()
    )


def from_namespace(namespace: argparse.Namespace) -> dict[str, Any]:
    """The options present in a parsed namespace; lists as tuples, comma-separated words split."""
    found = {}
    for item in OPTIONS:
        if hasattr(namespace, item.name):
            value = getattr(namespace, item.name)
            if item.is_list and isinstance(value, list):
                value = tuple(part for word in value for part in (word if isinstance(word, list) else [word]))
            found[item.name] = value
    return found


def _argparse_type(item: Option) -> Any:
    def parse(text: str) -> Any:
        try:
            if item.is_list:
                if item.path and Path(text).exists():
                    return text  # a file whose name holds a comma is not split
                parts = [part.strip() for part in text.split(",") if part.strip()]
                values = [item.parse_text(part) for part in parts]
                return values[0] if len(values) == 1 else values
            return item.parse_text(text)
        except PainterlyError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {item.item.__name__}") from None

    parse.__name__ = item.item.__name__
    return parse


def _default_text(value: Any) -> str:
    if isinstance(value, tuple | list):
        return " ".join(str(item) for item in value)
    return "none" if value is None else str(value)


__all__ = [
    "BY_NAME",
    "DEFAULT_AVERAGES",
    "DEFAULT_LEARNING_RATES",
    "GROUPS",
    "INIT_WORDS",
    "MAX_SEED",
    "MAX_SIZE",
    "MIN_SIDE",
    "NAMES",
    "OPTIONS",
    "PAPER_CONTENT_LAYERS",
    "PAPER_STYLE_LAYERS",
    "ArgumentContainer",
    "Option",
    "add_arguments",
    "defaults",
    "from_namespace",
    "jsonable",
    "option",
    "parse",
    "parse_command_line",
    "validate",
]
