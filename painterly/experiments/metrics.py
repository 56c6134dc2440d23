"""Measures on loss curves: spikes, and how many evaluations a run needs to get near the best loss.

A *spike* is an evaluation whose total loss jumps above ``factor`` times the lowest loss seen
before it (at the same scale); consecutive evaluations above that line are one spike, counted at
the evaluation where it starts. For L-BFGS such an evaluation is usually a rejected line-search
trial point; for Adam it is where the iterate itself is.

*Evaluations to reach* is the number of the first evaluation (at the final scale) whose total loss
is within ``within`` (e.g. 5 %) of a reference: the lowest final total loss among the runs of the
same pair that minimise the same objective.

*Colourfulness* of an image is Hasler and Süsstrunk's measure (2003): the spread and mean of the
opponent channels rg = R - G and yb = (R + G) / 2 - B, on 0..255 pixels; 0 for a grey image,
roughly 30-60 for ordinary photos.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import PIL.Image

# Options that change how a run optimises but not what it minimises.
NOT_OBJECTIVE = (
    "optimizer", "learning_rate", "iterations", "init", "seed", "tolerance", "device", "precision", "scales", "compile",
)  # fmt: skip


def find_spikes(losses: Sequence[float], factor: float = 2.0, scales: Sequence[int] | None = None) -> list[int]:
    """0-based positions where a spike starts: ``loss > factor * min(previous losses at this scale)``."""
    if factor <= 1:
        raise ValueError(f"the spike factor must be above 1; got {factor}")
    spikes: list[int] = []
    running_min = math.inf
    above = False
    for index, loss in enumerate(losses):
        if scales is not None and index > 0 and scales[index] != scales[index - 1]:
            running_min, above = math.inf, False  # a new scale: losses are not comparable
        is_spike = math.isfinite(running_min) and loss > factor * running_min
        if is_spike and not above:
            spikes.append(index)
        above = is_spike
        running_min = min(running_min, loss)
    return spikes


def evaluations_to_reach(losses: Sequence[float], target: float, *, start: int = 0) -> int | None:
    """1-based number of the first evaluation at or after ``start`` whose loss is <= ``target``; None if never."""
    for index in range(start, len(losses)):
        if losses[index] <= target:
            return index + 1
    return None


def final_scale_start(scales: Sequence[int]) -> int:
    """Index of the first record of the last scale (0 for a single-scale run)."""
    if not scales:
        return 0
    last = scales[-1]
    index = len(scales) - 1
    while index > 0 and scales[index - 1] == last:
        index -= 1
    return index


def colourfulness(path: str | os.PathLike) -> float:
    """Hasler and Süsstrunk's colourfulness of an image file (0 for grey)."""
    with PIL.Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    rg = pixels[..., 0] - pixels[..., 1]
    yb = 0.5 * (pixels[..., 0] + pixels[..., 1]) - pixels[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def objective_key(options: Mapping[str, Any]) -> str:
    """Runs with equal keys minimise the same loss (and can share a 'best final loss')."""
    return repr(sorted((key, repr(value)) for key, value in options.items() if key not in NOT_OBJECTIVE))


def run_metrics(
    history: Sequence[Mapping[str, Any]],
    reference: float,
    *,
    spike_factor: float,
    within: float,
    worst: float | None = None,
) -> dict[str, Any]:
    """Spikes and evaluations-to-reach of one run's history.

    ``reference`` is the best final total loss of the run's group, ``worst`` the highest one:
    ``evaluations_to_match_worst`` says how soon this run got to where the slowest run ended.
    Evaluation numbers are those of the history (an evaluation the optimiser discarded as
    non-finite is counted by the budget but has no record).
    """
    losses = [float(record["total_loss"]) for record in history]
    scales = [int(record["scale"]) for record in history]
    spikes = find_spikes(losses, spike_factor, scales)
    start = final_scale_start(scales)
    target = reference * (1 + within)

    def evaluation_number(position: int | None) -> int | None:
        return None if position is None else int(history[position - 1]["evaluation"])

    metrics = {
        "spikes": len(spikes),
        "spike_evaluations": [int(history[index]["evaluation"]) for index in spikes],
        "reach_target": target,
        "evaluations_to_reach": evaluation_number(evaluations_to_reach(losses, target, start=start)),
    }
    if worst is not None:
        metrics["evaluations_to_match_worst"] = evaluation_number(evaluations_to_reach(losses, worst, start=start))
    return metrics
