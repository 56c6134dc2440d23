"""Planning a grid: every (pair, setting) becomes a :class:`Run` with complete, resolved options.

A run is identified by a hash of everything that decides its result: the bytes of its images
(and of a weights or init file), every stylize option with "auto" resolved to the concrete
network, device and precision, and painterly's version. Identical runs of different experiments
written to the same output folder are therefore computed once. Each weights source is resolved
once (:func:`painterly.runs.networks.weights_key`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import painterly
from painterly import options as schema
from painterly.errors import PainterlyError
from painterly.experiments.spec import PATH_OPTIONS, Pair, Setting, Spec, check_grid_size, check_ranges
from painterly.hashing import sha256_of_file
from painterly.models.vgg import VGGArchitecture
from painterly.network import load_weights
from painterly.runs.networks import weights_key
from painterly.runtime import resolve_runtime

RUNS_FOLDER = "runs"


@dataclass(frozen=True)
class Run:
    """One stylisation of the grid."""

    pair: Pair
    setting: Setting
    options: dict[str, Any]  # every stylize keyword, resolved (model, device, precision)
    key: str  # hex digest identifying the result
    directory: Path  # where its files go

    @property
    def name(self) -> str:
        return f"{self.pair.label} · {self.setting.label}"


@dataclass(frozen=True)
class Network:
    """The network a grid runs on, resolved once."""

    model: str  # source name, or "auto" when a weights file decides
    weights: str | None  # absolute path of a weights file
    arch: VGGArchitecture
    description: str
    reason: str | None  # why "auto" chose it


def plan_runs(
    spec: Spec,
    pairs: Sequence[Pair],
    out_dir: Path,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[list[Run], dict[str, Network]]:
    """All runs of ``spec`` over ``pairs``, options resolved; raises PainterlyError on any bad input.

    ``overrides`` (from the command line) replace the spec's shared options; they may not touch an
    option that an axis varies. The networks are by :func:`~painterly.runs.networks.weights_key`.
    """
    if not pairs:
        raise PainterlyError(
            f"{spec.source} names no image pairs; give --pairs CONTENT:STYLE "
            "(e.g. --pairs ../shared/images/tubingen.jpg:../shared/images/starry_night.jpg)"
        )
    check_grid_size(spec, len(pairs))  # before anything is expanded or hashed
    overrides = dict(overrides or {})
    varied = spec.varied_options()
    for key in overrides:
        if key in varied:
            raise PainterlyError(
                f"--{key.replace('_', '-')} would override axis '{varied[key]}' of {spec.source}, "
                "which varies it; write a spec file to change it"
            )
    networks: dict[str, Network] = {}
    hashes: dict[str, str] = {}
    runs: list[Run] = []
    for setting in spec.settings():
        options = {**schema.defaults(), **spec.options, **setting.options, **overrides}
        check_ranges(options, f"{spec.source}: setting '{setting.label}'")
        source = weights_key(options)
        if source not in networks:
            networks[source] = resolve_network(options["model"], options["weights"], options["weights_preprocessing"])
        network = networks[source]
        options["model"] = network.model
        runtime = resolve_runtime(options["device"], options["precision"])
        options["device"] = runtime.device.type
        options["precision"] = runtime.precision
        for layer in [*options["content_layers"], *options["style_layers"]]:
            try:
                network.arch.resolve_layer(layer)
            except PainterlyError as error:
                raise PainterlyError(f"{spec.source}: setting '{setting.label}': {error}") from None
        for pair in pairs:
            files: dict[str, Any] = {"content": _sha256(pair.content, hashes), "style": _sha256(pair.style, hashes)}
            for key in PATH_OPTIONS:
                value = options.get(key)
                if isinstance(value, list):
                    files[key] = [_sha256(Path(item), hashes) for item in value]
                elif isinstance(value, str) and value not in schema.option(key).words:
                    files[key] = _sha256(Path(value), hashes)
            key = run_key(options, files)
            directory = out_dir / RUNS_FOLDER / f"{pair.slug}-{key[:12]}"
            runs.append(Run(pair, setting, dict(options), key, directory))
    return runs, networks


def run_key(options: Mapping[str, Any], files: Mapping[str, Any]) -> str:
    """The settings hash: options (file paths replaced by the files' hashes) and painterly's version."""
    hashed_options = {key: files.get(key, value) for key, value in options.items()}
    document = {"painterly": painterly.__version__, "files": dict(files), "options": hashed_options}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def resolve_network(model: str, weights: str | None, weights_preprocessing: str = "auto") -> Network:
    """Load the network once to learn what "auto" means here and which layers it has."""
    loaded, reason = load_weights(model, weights, weights_preprocessing)
    return Network("auto" if weights is not None else loaded.source, weights, loaded.arch, loaded.description, reason)


def _sha256(path: Path, cache: dict[str, str]) -> str:
    text = str(path)
    if text not in cache:
        cache[text] = sha256_of_file(path)
    return cache[text]
