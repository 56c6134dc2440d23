"""The plain reference: one scale, float32, no channels_last, ``torch.optim.LBFGS`` with strong-Wolfe.

It optimises painterly's own :class:`~painterly.objective.Objective`, built from painterly's
public pieces (:mod:`painterly.options`, :class:`~painterly.network.Network`,
:class:`~painterly.terms.TermWeights`) on a float32 :class:`~painterly.runtime.Runtime` without
channels_last: the objective is the one painterly minimises, only the loop around it differs.
The same objective (in float32, or bf16 for the precision check) scores every run's picture.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from painterly import options
from painterly.image import fit_long_side, image_size, load_image, resize
from painterly.memory import RunShape, estimate_peak_bytes
from painterly.models.weights import LoadedWeights
from painterly.network import Network, load_weights
from painterly.objective import Objective
from painterly.runtime import Runtime
from painterly.settings import Settings
from painterly.terms import LossValues as ObjectiveValues
from painterly.terms import TermWeights

#: Options that change the objective: the reference follows them when given with ``--set``.
OBJECTIVE_OPTIONS = (
    "content_layers", "style_layers", "style_layer_weights", "content_weight", "style_weight",
    "learning_rate", "style_scale", "pooling", "padding", "tv_weight",
)  # fmt: skip
#: torch.optim.LBFGS's default history.
REFERENCE_HISTORY = 100


@dataclass(frozen=True)
class LossValues:
    """Content, style and total loss of one evaluation, as plain numbers."""

    content: float
    style: float
    total: float

    @classmethod
    def from_terms(cls, terms: ObjectiveValues) -> LossValues:
        return cls(float(terms.content.detach()), float(terms.style.detach()), float(terms.total.detach()))

    @classmethod
    def from_json(cls, data: Mapping[str, float]) -> LossValues:
        return cls(float(data["content"]), float(data["style"]), float(data["total"]))


@dataclass(frozen=True)
class ReferenceRun:
    """What the reference loop did: its lowest-loss image and every evaluation's time and losses."""

    image: torch.Tensor  # (1, 3, H, W) float32 in 0..1, on the CPU
    seconds: tuple[float, ...]  # of every evaluation, since the optimisation started
    losses: tuple[LossValues, ...]  # of every evaluation, in order


def objective_settings(overrides: Mapping[str, Any], size: int | None = None) -> Settings:
    """Validated options (:func:`painterly.options.validate`): painterly's defaults with the
    overrides that change the objective, at ``size`` (the default size if None), for L-BFGS (the
    reference's optimiser: ``schedule.step`` is its learning rate)."""
    defaults = options.defaults()
    values = {name: defaults[name] for name in OBJECTIVE_OPTIONS}
    values.update({name: value for name, value in overrides.items() if name in OBJECTIVE_OPTIONS})
    if size is not None:
        values["size"] = size
    return options.validate({**values, "optimizer": "lbfgs"})


def objective_summary(settings: Settings) -> dict[str, Any]:
    """The options of :data:`OBJECTIVE_OPTIONS`, JSON-friendly: what a reference run depends on
    (the learning rate resolved)."""
    record = {**settings.as_dict(), "learning_rate": settings.schedule.step}
    return {name: record[name] for name in OBJECTIVE_OPTIONS}


def load_network_weights(model: str, weights: str | None, overrides: Mapping[str, Any]) -> LoadedWeights:
    """The weights painterly would load for these arguments (``weights`` wins over ``model``)."""
    loaded, _ = load_weights(model, weights, overrides.get("weights_preprocessing", "auto"))
    return loaded


def build_objective(
    weights: LoadedWeights,
    settings: Settings,
    photo: torch.Tensor,
    painting: torch.Tensor,
    size: tuple[int, int],
    device: torch.device | str,
    precision: str = "fp32",
) -> Objective:
    """Painterly's objective at ``size`` for one painting, no masks, on a network without channels_last.

    ``precision`` "fp32": the network in float32 (the reference, and the score of every picture);
    "bf16": under bf16 autocast, to measure what bf16 changes in the loss of one image.
    """
    runtime = Runtime(torch.device(device), precision, channels_last=False)
    chosen = settings.network
    network = Network(weights, chosen.layers, runtime, pooling=chosen.pooling, padding=chosen.padding)
    terms = TermWeights.from_settings(network, settings, blend=(1.0,))
    return Objective(network, terms, photo, [painting], size)


class _BudgetSpent(Exception):
    pass


def lbfgs_loop(
    objective: Callable[[torch.Tensor], ObjectiveValues], start: torch.Tensor, iterations: int, learning_rate: float
) -> ReferenceRun:
    """``torch.optim.LBFGS`` with strong-Wolfe from ``start`` for exactly ``iterations`` evaluations
    (fewer if it converges), keeping the lowest-loss image."""
    image = start.detach().clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [image],
        lr=learning_rate,
        max_iter=iterations,
        max_eval=2 * iterations,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        history_size=REFERENCE_HISTORY,
        line_search_fn="strong_wolfe",
    )
    stamps: list[float] = []
    losses: list[LossValues] = []
    best_loss = math.inf
    best: torch.Tensor | None = None
    started = time.perf_counter()

    def closure() -> torch.Tensor:
        nonlocal best_loss, best
        if len(stamps) >= iterations:
            raise _BudgetSpent
        optimizer.zero_grad()
        terms = objective(image)
        terms.total.backward()
        values = LossValues.from_terms(terms)
        stamps.append(time.perf_counter() - started)
        losses.append(values)
        if values.total < best_loss:
            best_loss, best = values.total, image.detach().clone()
        return terms.total

    with contextlib.suppress(_BudgetSpent):
        while len(stamps) < iterations:
            before = len(stamps)
            optimizer.step(closure)
            if len(stamps) == before:
                break
    final = best if best is not None else image.detach()
    return ReferenceRun(final.clamp(0, 1).cpu(), tuple(stamps), tuple(losses))


def reference_stylize(
    content: str | Path,
    style: str | Path,
    size: int,
    weights: LoadedWeights,
    settings: Settings,
    iterations: int,
    device: torch.device | str,
) -> ReferenceRun:
    """The classic loop: the photo at ``size`` (long side) as the start, one scale, float32,
    :func:`lbfgs_loop` on :func:`build_objective` for ``iterations`` evaluations."""
    photo, painting = load_image(content), load_image(style)
    height, width = fit_long_side(*image_size(photo), size)
    objective = build_objective(weights, settings, photo, painting, (height, width), device, "fp32")
    start = resize(photo, (height, width)).to(device)
    return lbfgs_loop(objective, start, iterations, settings.schedule.step)


def reference_estimate(
    weights: LoadedWeights, settings: Settings, height: int, width: int, iterations: int, device_type: str
) -> int:
    """The reference's estimated peak memory (float32, no channels_last, torch's 100 L-BFGS pairs)."""
    shape = RunShape(
        weights.arch, settings.network.layers, "fp32", "lbfgs",
        lbfgs_history=REFERENCE_HISTORY, final_evaluations=iterations,
        content_layers=list(settings.network.content_layers), channels_last=False, pooling=settings.network.pooling,
        device_type=device_type, style_scale=settings.inputs.style_scale,
    )  # fmt: skip
    return estimate_peak_bytes(shape, height, width)


__all__ = [
    "OBJECTIVE_OPTIONS",
    "REFERENCE_HISTORY",
    "LossValues",
    "ReferenceRun",
    "build_objective",
    "lbfgs_loop",
    "load_network_weights",
    "objective_settings",
    "objective_summary",
    "reference_estimate",
    "reference_stylize",
]
