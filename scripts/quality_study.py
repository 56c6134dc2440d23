"""The picture-quality study of issue 12: frame, ripple and the final clamp, per setting.

    python scripts/quality_study.py --size 256 --iterations 300 --out quality-results

Photos outside ../shared (scikit-image's bundled astronaut, rocket, coffee and chelsea, read from
the PyPI wheel without installing it; matplotlib's Grace Hopper) against paintings. For every
photo x painting x setting it writes the picture and a JSON line with: the frame measures
(:func:`painterly.quality.border_ratio`; per side :func:`painterly.quality.edge_bands`), the
ripple measures (:func:`painterly.quality.dot_grid`, and the old
:func:`painterly.quality.ripple` for comparison), the losses the optimiser reported and the
losses of the saved 8-bit picture scored by the same objective in fp32, and the seconds. Crops of
the flattest area and of a corner are saved beside each picture for looking at.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from painterly import options, stylize
from painterly.image import fit_long_side, image_size, load_image, resize, save_image
from painterly.margin import pad_image
from painterly.network import Network, load_weights
from painterly.objective import Objective
from painterly.quality import border_ratio, dot_grid, edge_bands, flattest_tiles, ripple
from painterly.runtime import Runtime
from painterly.settings import Settings
from painterly.terms import TermWeights

SHARED = Path(__file__).resolve().parents[2] / "shared" / "images"
SKIMAGE_PHOTOS = ("rocket.jpg", "astronaut.png", "coffee.png", "chelsea.png")

SETTINGS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "bold": {"style_weight": 1e6},  # --preset bold
    "inside": {"bounds": "inside"},
    "reflect": {"padding": "reflect"},
    "replicate": {"padding": "replicate"},
    "tv30": {"tv_weight": 30.0},
    "tv100": {"tv_weight": 100.0},
    "tv300": {"tv_weight": 300.0},
    "style-scale1.5": {"style_scale": 1.5},
    "style-scale2": {"style_scale": 2.0},
    "no-conv1_1": {"style_layers": ["conv2_1", "conv3_1", "conv4_1", "conv5_1"]},
    "layer-weights": {"style_layer_weights": [256 / 341, 64 / 341, 16 / 341, 4 / 341, 1 / 341]},
    "max-pool": {"pooling": "max"},
    "fp32": {"precision": "fp32"},
    "adam": {"optimizer": "adam"},
    "noise": {"init": "noise"},
    "beta1e5": {"style_weight": 1e5},
    "beta1e6": {"style_weight": 1e6},
    "margin8": {"margin": 8},
    "margin16": {"margin": 16},
    "margin8-beta1e5": {"margin": 8, "style_weight": 1e5},
    "margin8-beta3e5": {"margin": 8, "style_weight": 3e5},
    "margin8-beta1e6": {"margin": 8, "style_weight": 1e6},
    "w2": {"style_loss": "w2"},
    "margin8-w2": {"margin": 8, "style_loss": "w2"},
}


def photos(cache: Path) -> list[Path]:
    """scikit-image's bundled photos, from its wheel (downloaded once, never installed)."""
    cache.mkdir(parents=True, exist_ok=True)
    wanted = [cache / name for name in SKIMAGE_PHOTOS]
    if not all(path.exists() for path in wanted):
        wheels = list(cache.glob("scikit_image-*.whl"))
        if not wheels:
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "scikit-image", "-d", str(cache), "-q"]
            subprocess.run(command, check=True)
            wheels = list(cache.glob("scikit_image-*.whl"))
        with zipfile.ZipFile(wheels[0]) as wheel:
            for path in wanted:
                path.write_bytes(wheel.read(f"skimage/data/{path.name}"))
    return wanted


def scored(
    result_image: torch.Tensor, photo: Path, painting: Path, settings: Settings, *, margin: int = 0
) -> dict[str, float]:
    """The losses of the saved 8-bit picture, by the run's objective on an fp32 network: as the picture
    alone (``margin`` 0: the network pads its edges with zeros), or in a frame of ``margin`` px of
    itself mirrored (the context a run with a margin optimised it in)."""
    chosen = settings.network
    weights, _ = load_weights(chosen.model, chosen.weights, chosen.weights_preprocessing)
    runtime = Runtime(torch.device("cpu"), "fp32", channels_last=False)
    network = Network(weights, chosen.layers, runtime, pooling=chosen.pooling, padding=chosen.padding)
    terms = TermWeights.from_settings(network, settings, blend=(1.0,))
    size = image_size(result_image)
    objective = Objective(network, terms, load_image(photo), [load_image(painting)], size, margin=margin)
    eight_bit = pad_image((result_image * 255).round() / 255, margin)
    with torch.no_grad():
        terms_found = objective(eight_bit)
    return {"content": float(terms_found.content), "style": float(terms_found.style), "total": float(terms_found.total)}


def crops(picture: Path, photo: torch.Tensor, folder: Path, stem: str) -> None:
    """A 3x crop of the flattest tile and of the top-left corner, for looking at."""
    image = Image.open(picture).convert("RGB")
    top, left = flattest_tiles(photo)[0]
    for name, box in (("flat", (left, top, left + 48, top + 48)), ("corner", (0, 0, 48, 48))):
        image.crop(box).resize((144, 144), Image.Resampling.NEAREST).save(folder / f"{stem}-{name}.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--photos", nargs="+", default=["rocket.jpg", "astronaut.png"])
    parser.add_argument("--paintings", nargs="+", default=[str(SHARED / "starry_night.jpg")])
    parser.add_argument("--out", default="quality-results")
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "painterly" / "quality-photos"))
    arguments = parser.parse_args()
    out = Path(arguments.out)
    out.mkdir(parents=True, exist_ok=True)
    available = {path.name: path for path in photos(Path(arguments.cache))}
    results = out / "results.jsonl"
    for photo_name in arguments.photos:
        photo_path = available[photo_name] if photo_name in available else Path(photo_name)
        for painting in map(Path, arguments.paintings):
            for name in arguments.settings:
                stem = f"{photo_path.stem}__{painting.stem}__{name}"
                values = {"size": arguments.size, "iterations": arguments.iterations, "model": "vgg16-hed",
                          **SETTINGS[name]}  # fmt: skip
                started = time.perf_counter()
                result = stylize(photo_path, painting, **values)
                seconds = time.perf_counter() - started
                picture = save_image(result.image, out / f"{stem}.png")
                photo = load_image(photo_path)
                photo = resize(photo, fit_long_side(*image_size(photo), arguments.size))
                found = ripple(result.image, photo)  # the old peak, kept to compare with earlier numbers
                grid = dot_grid(result.image, photo)
                image = result.image
                settings = options.validate({**values, "model": "vgg16-hed"})
                record = {
                    "photo": photo_path.name, "painting": painting.name, "setting": name, "size": arguments.size,
                    "iterations": arguments.iterations, "seconds": round(seconds, 1),
                    "seconds_per_evaluation": round(seconds / max(1, len(result.history)), 4),
                    "border_ratio": round(border_ratio(result.image, photo), 3),
                    "edge_bands": {side: round(value, 3) for side, value in vars(edge_bands(image, photo)).items()},
                    "ripple_peak": round(found.peak, 2), "ripple_energy": round(found.energy, 4),
                    "dot_grid": round(grid.amplitude, 4), "dot_grid_fraction": round(grid.fraction, 3),
                    "reported": result.final_losses, "saved_8bit": scored(result.image, photo_path, painting, settings),
                    "saved_8bit_in_context": scored(result.image, photo_path, painting, settings,
                                                    margin=settings.objective.margin),
                }  # fmt: skip
                crops(picture, photo, out, stem)
                with results.open("a", encoding="utf-8") as stream:
                    stream.write(json.dumps(record) + "\n")
                print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
