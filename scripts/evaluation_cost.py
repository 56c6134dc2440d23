"""Seconds per evaluation of the objective at one size, for several margins, interleaved.

    python scripts/evaluation_cost.py PHOTO PAINTING --size 512 --margins 0 8 --masked 8

One evaluation is ``objective(image).total.backward()`` of :class:`painterly.objective.Objective`
with the defaults' network (vgg16-hed unless ``--model``; bf16 and channels_last on the CPU), on
a random canvas of the objective's size. Every objective is built first; then ``--rounds`` rounds
run ``--per-round`` evaluations of each in turn, so that a machine that slows down or speeds up
during the measurement affects all of them alike. Prints one JSON object: per objective the
median seconds and the ratio to the first. ``--masked M``: a margin of M px with a style mask of
ones, which takes the masked-Gram path (:mod:`painterly.margin`) instead of the crop.
``--recomputed M``: a margin of M px on the lower-memory path (``--memory low``: each VGG block
recomputed in the backward pass). Measure on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from painterly import options
from painterly.api import build_network, prepare_inputs
from painterly.image import fit_long_side, image_size
from painterly.masks import RegionMasks
from painterly.objective import Objective
from painterly.terms import TermWeights


def seconds(objective: Objective, recompute: bool) -> float:
    objective.network.recompute = recompute
    image = torch.rand(1, 3, *objective.canvas.size, requires_grad=True)
    started = time.perf_counter()
    objective(image).total.backward()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo")
    parser.add_argument("painting")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--model", default="vgg16-hed")
    parser.add_argument("--margins", type=int, nargs="*", default=[0, 8])
    parser.add_argument("--masked", type=int, nargs="*", default=[])
    parser.add_argument("--recomputed", type=int, nargs="*", default=[])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=7)
    arguments = parser.parse_args()
    settings = options.validate({"model": arguments.model, "size": arguments.size})
    inputs = prepare_inputs(arguments.photo, arguments.painting, settings)
    network, _ = build_network(settings)
    terms = TermWeights.from_settings(network, settings, inputs.blend)
    size = fit_long_side(*image_size(inputs.photo), arguments.size)
    everywhere = RegionMasks(style=(torch.ones(1, 1, *image_size(inputs.photo)),))
    cases = [(f"margin {m}", m, None, False) for m in arguments.margins]
    cases += [(f"margin {m}, masked", m, everywhere, False) for m in arguments.masked]
    cases += [(f"margin {m}, recomputed", m, None, True) for m in arguments.recomputed]
    objectives = {
        label: (Objective(network, terms, inputs.photo, inputs.paintings, size, masks, margin=margin), recompute)
        for label, margin, masks, recompute in cases
    }
    for objective, recompute in objectives.values():  # warm-up: first calls allocate and pick kernels
        seconds(objective, recompute)
    times: dict[str, list[float]] = {label: [] for label in objectives}
    for _ in range(arguments.rounds):
        for label, (objective, recompute) in objectives.items():
            times[label] += [seconds(objective, recompute) for _ in range(arguments.per_round)]
    medians = {label: statistics.median(values) for label, values in times.items()}
    first = next(iter(medians.values()))
    print(json.dumps({label: {"seconds": round(value, 4), "ratio": round(value / first, 3)}
                      for label, value in medians.items()}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
