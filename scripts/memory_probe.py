"""Peak memory of one evaluation on the CPU, on the normal or the lower-memory path.

    MALLOC_MMAP_THRESHOLD_=65536 python scripts/memory_probe.py PHOTO PAINTING --size 1024 --memory low

Builds the defaults' network (vgg16-hed unless ``--model``; bf16 and channels_last on the CPU) and
:class:`painterly.objective.Objective` at ``--size`` (``--margin`` px around it, default 0), then
runs one evaluation (forward and backward) and prints one JSON line: the growth of the peak
resident set size (``ru_maxrss``) over the resident size just before it, the estimate of the
same parts by :func:`painterly.memory.estimate_memory` (activations, float32 copies, backward and
the bf16 weight copies), and the seconds of ``--timed`` further evaluations. Run each case in a
fresh process (the peak only grows), with glibc returning freed blocks at once
(``MALLOC_MMAP_THRESHOLD_=65536``, as :mod:`painterly.memory` was calibrated).
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from painterly import options
from painterly.api import build_network, prepare_inputs
from painterly.image import fit_long_side, image_size, resize
from painterly.memory import RunShape, estimate_memory
from painterly.objective import Objective
from painterly.terms import TermWeights


def resident_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo")
    parser.add_argument("painting")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--model", default="vgg16-hed")
    parser.add_argument("--memory", choices=("normal", "low"), default="normal")
    parser.add_argument("--margin", type=int, default=0)
    parser.add_argument("--timed", type=int, default=0)
    arguments = parser.parse_args()
    settings = options.validate({"model": arguments.model, "size": arguments.size, "margin": arguments.margin})
    inputs = prepare_inputs(arguments.photo, arguments.painting, settings)
    network, _ = build_network(settings)
    network.recompute = arguments.memory == "low"
    terms = TermWeights.from_settings(network, settings, inputs.blend)
    height, width = fit_long_side(*image_size(inputs.photo), arguments.size)
    objective = Objective(
        network, terms, inputs.photo, inputs.paintings, (height, width), margin=arguments.margin
    )
    image = objective.canvas.pad(resize(inputs.photo, (height, width))).requires_grad_(True)

    def evaluate() -> float:
        image.grad = None
        started = time.perf_counter()
        objective(image).total.backward()
        return time.perf_counter() - started

    before = resident_bytes()
    first = evaluate()
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    shape = RunShape(
        network.arch, list(terms.layers), network.runtime.precision, "lbfgs",
        content_layers=list(terms.content_layers), channels_last=network.runtime.channels_last,
        recompute=network.recompute, margin=arguments.margin,
    )  # fmt: skip
    parts = estimate_memory(shape, height, width)
    bf16_copies = parts.weights // 3 if network.runtime.precision == "bf16" else 0  # 2 of each weight's 6 bytes
    estimate = parts.activations + parts.loss_copies + parts.backward + bf16_copies
    print(json.dumps({
        "size": [height, width], "memory": arguments.memory, "precision": network.runtime.precision,
        "margin": arguments.margin, "growth_bytes": growth, "estimate_bytes": estimate,
        "first_seconds": round(first, 3), "seconds": [round(evaluate(), 3) for _ in range(arguments.timed)],
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
