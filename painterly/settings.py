"""The settings of a run: every option checked, typed and grouped as the code reads them.

:func:`painterly.options.validate` returns a :class:`Settings`. Reading an option is an attribute
that mypy checks (``settings.schedule.optimizer``), not a string key. The option schema
(:data:`painterly.options.OPTIONS`) stays the one place an option's default, bounds and help are
written; this module adds its group, and repeats its type so that mypy can check it: a test checks
that the fields here are exactly the schema's options, each in one group, with the schema's types,
so the two cannot drift (a new option fails it until it has a field here).

The groups, as the code uses them:

- **inputs**: what is painted and how the images are prepared: the output's size, the paintings'
  scale and blend, the masks, the colour controls;
- **network**: every option that decides the built network: its weights, the layers it returns,
  pooling, padding, device and precision. Runs whose network settings are equal share one network
  (:func:`painterly.runs.networks.network_key`), so an option that changes the network belongs here;
- **objective**: the loss: its weights, the style loss, total variation, the margin;
- **schedule**: the optimisation path: optimiser, step, levers, budget, start, seed, scales, early stop;
- **runtime**: how an evaluation runs: compilation, activation memory.

A :class:`Settings` holds the values as validated: numbers as numbers, lists as tuples, paths as
text, in-memory images (the API's) named ``<Image>``/``<Tensor>``. :meth:`Settings.as_dict` is the
flat, JSON-friendly record (PNG metadata, job records, manifests) that ``validate`` accepts back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

#: The step size of each optimiser unless told (RGB pixels in 0..1, the same for every network).
DEFAULT_LEARNING_RATES = {"lbfgs": 1.0, "adam": 0.02}
#: The decay of the moving average of the iterates each optimiser returns unless told: Adam's
#: iterates oscillate around the minimum (the average is smoother, docs/quality.md), L-BFGS's do not.
DEFAULT_AVERAGES = {"lbfgs": 0.0, "adam": 0.95}

Optimizer = Literal["lbfgs", "adam"]


@dataclass(frozen=True)
class InputSettings:
    """What is painted, and how the photo and paintings are prepared."""

    size: int
    style_scale: float
    style_weights: tuple[float, ...] | None
    style_masks: tuple[str, ...] | None
    content_mask: str | None
    preserve_color: Literal["none", "luminance", "histogram"]
    color_transfer: Literal["pca", "cholesky", "symmetric"]
    original_colors: bool


@dataclass(frozen=True)
class NetworkSettings:
    """Everything the built network depends on: equal values, one shared network."""

    method: Literal["gatys", "strotss", "nnst"]
    model: str
    weights: str | None
    weights_preprocessing: Literal["auto", "caffe", "torchvision"]
    pooling: Literal["avg", "max"]
    padding: Literal["zeros", "reflect", "replicate"]
    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    precision: Literal["auto", "fp32", "bf16"]
    device: Literal["auto", "cpu", "cuda", "mps"]

    @property
    def layers(self) -> list[str]:
        """The layers the network returns: content first, then style (the paper's method), or the
        method's own (:mod:`painterly.methods`)."""
        if self.method != "gatys":
            from painterly.methods import METHODS

            return list(METHODS[self.method].layers)
        return [*self.content_layers, *self.style_layers]


@dataclass(frozen=True)
class ObjectiveSettings:
    """The loss: alpha L_content + beta L_style + tv_weight TV, over the picture and its margin."""

    tv_weight: float
    margin: int
    style_layer_weights: tuple[float, ...] | None
    style_loss: Literal["gram", "w2"]
    content_weight: float
    style_weight: float
    content_preservation: float


@dataclass(frozen=True)
class ScheduleSettings:
    """The optimisation path: optimiser and step, the levers, the budget and its scales, the start."""

    optimizer: Optimizer
    bounds: Literal["inside", "after"]
    learning_rate: float | None
    jitter: int
    jitter_every: int
    average: float | None
    pyramid: int
    iterations: int
    init: str
    seed: int
    scales: int | None
    tolerance: float | None

    @property
    def step(self) -> float:
        """The step size the run uses: ``learning_rate``, else the optimiser's default."""
        return self.learning_rate if self.learning_rate is not None else DEFAULT_LEARNING_RATES[self.optimizer]

    @property
    def decay(self) -> float:
        """The decay of the average the run returns: ``average``, else the optimiser's default."""
        return self.average if self.average is not None else DEFAULT_AVERAGES[self.optimizer]


@dataclass(frozen=True)
class RuntimeSettings:
    """How an evaluation runs on the network, without changing its result beyond rounding."""

    compile: Literal["off", "default", "reduce-overhead"]
    memory: Literal["auto", "normal", "low"]


#: The groups of :class:`Settings`, by field name.
GROUP_TYPES: dict[str, type] = {
    "inputs": InputSettings,
    "network": NetworkSettings,
    "objective": ObjectiveSettings,
    "schedule": ScheduleSettings,
    "runtime": RuntimeSettings,
}


@dataclass(frozen=True)
class Settings:
    """Every option of one run, checked (:func:`painterly.options.validate` makes them)."""

    inputs: InputSettings
    network: NetworkSettings
    objective: ObjectiveSettings
    schedule: ScheduleSettings
    runtime: RuntimeSettings

    @classmethod
    def from_checked(cls, values: Mapping[str, Any]) -> Settings:
        """Settings from every option's checked value, by name (lists become tuples)."""
        groups = {}
        for group, kind in GROUP_TYPES.items():
            names = [item.name for item in dataclasses.fields(kind)]
            groups[group] = kind(**{name: _frozen(values[name]) for name in names})
        return cls(**groups)

    def as_dict(self) -> dict[str, Any]:
        """The flat record: every option by name, tuples as lists (JSON-friendly), in group order."""
        flat: dict[str, Any] = {}
        for group in GROUP_TYPES:
            values = getattr(self, group)
            for item in dataclasses.fields(values):
                value = getattr(values, item.name)
                flat[item.name] = list(value) if isinstance(value, tuple) else value
        return flat

    def replace(self, **changes: Any) -> Settings:
        """These settings with some options changed by name, checked again as a whole."""
        from painterly.options import validate

        return validate({**self.as_dict(), **changes})


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


__all__ = [
    "DEFAULT_AVERAGES",
    "DEFAULT_LEARNING_RATES",
    "GROUP_TYPES",
    "InputSettings",
    "NetworkSettings",
    "ObjectiveSettings",
    "RuntimeSettings",
    "ScheduleSettings",
    "Settings",
]
