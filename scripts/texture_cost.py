"""Where painting costs content: the objective's change when a fixed texture is added to the photo
in one band of rows at a time (docs/quality.md, "Where painting costs content").

The start of every run is the photo (on its canvas, the margin mirrored). A fixed pattern of
Gaussian noise (sigma ``--amplitude``, ``--band`` rows by the columns ``--columns``) is added to one
band of rows, and the content loss's rise and the weighted style loss's fall are printed for each
band, top to bottom: a first-order picture of where texture is cheap (content rises little) and
where it pays (the style falls a lot). fp32, the default network and options otherwise.

    python scripts/texture_cost.py PHOTO PAINTING --columns 300 480 [--margin 8] [--rows 48]
"""

from __future__ import annotations

import argparse

import torch

from painterly import options
from painterly.api import build_network, prepare_inputs
from painterly.image import fit_long_side, image_size, resize
from painterly.objective import Objective
from painterly.terms import TermWeights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photo")
    parser.add_argument("painting")
    parser.add_argument("--columns", type=int, nargs=2, required=True, metavar=("FIRST", "END"))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--margin", type=int, default=8)
    parser.add_argument("--band", type=int, default=8)
    parser.add_argument("--amplitude", type=float, default=0.1)
    parser.add_argument("--rows", type=int, default=0, help="only the bands above this row (0: all)")
    arguments = parser.parse_args()
    settings = options.validate({"precision": "fp32", "margin": arguments.margin, "size": arguments.size})
    inputs = prepare_inputs(arguments.photo, arguments.painting, settings)
    network, _ = build_network(settings)
    weights = TermWeights.from_settings(network, settings, inputs.blend)
    size = fit_long_side(*image_size(inputs.photo), arguments.size)
    objective = Objective(network, weights, inputs.photo, inputs.paintings, size, inputs.masks, margin=arguments.margin)
    start = objective.canvas.pad(resize(inputs.photo, size))
    first, end = arguments.columns
    band, margin = arguments.band, arguments.margin
    pattern = arguments.amplitude * torch.randn(1, 3, band, end - first, generator=torch.Generator().manual_seed(0))
    alpha, beta = weights.weight("content"), weights.weight("style")
    last = arguments.rows or size[0] - band + 1
    print("row  weighted content rise  weighted style fall")
    with torch.no_grad():
        base = objective(start)
        for row in range(0, min(last, size[0] - band + 1), band):
            image = start.clone()
            image[..., margin + row : margin + row + band, margin + first : margin + end] += pattern
            values = objective(image)
            rise = float(values.content - base.content) * alpha
            fall = float(base.style - values.style) * beta
            print(f"{row:4d} {rise:22.4g} {fall:20.4g}", flush=True)


if __name__ == "__main__":
    main()
