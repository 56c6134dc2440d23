"""The study of issue 24: the paper's method, STROTSS and NNST side by side (docs/methods.md).

    python scripts/method_study.py --out methods-results                  # run and measure all three
    python scripts/method_study.py --out methods-results --methods strotss nnst \\
        --gatys-from ablation-results                                     # the paper's from an ablation
    python scripts/method_study.py --out methods-results --measure-only   # tables from finished runs

Eight photo x painting pairs (china and rocket, photos outside ../shared read from their PyPI
wheels as scripts/path_ablation.py does, against the four paintings in ../shared/images), each
method at its defaults at 512 px, through ``painterly experiment`` (one spec in
``OUT/methods.toml``, the method an axis; a repeated command resumes). ``--gatys-from`` takes the
paper's pictures from a finished path ablation instead (its "Adam + average" runs at beta 1e4: the
default options, the same pairs and size). Every picture is measured: the dot grid
(:func:`painterly.quality.dot_grid`), the frame (:func:`painterly.quality.frame_bands` and
:func:`painterly.quality.edge_bands`, worst side) and the seconds of its run. Losses are not
compared: each method minimises its own. Writes ``OUT/methods.jsonl``, ``OUT/methods.md`` (the
table), ``OUT/side_by_side.jpg`` (each pair: photo, then the three methods, 256 px) and
``OUT/crops.jpg`` (the photo's flattest 64 px area of each pair, at 4x), and ``OUT/readme.jpg``
(two pairs, 320 px, for the README).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw

from painterly.image import fit_long_side, image_size, load_image, resize, to_pil
from painterly.quality import dot_grid, edge_bands, flattest_tiles, frame_bands

sys.path.insert(0, str(Path(__file__).resolve().parent))
from path_ablation import SHARED, photos

METHODS = ("gatys", "strotss", "nnst")
PAIRS = (
    ("china.jpg", "great_wave.jpg"), ("rocket.jpg", "starry_night.jpg"), ("china.jpg", "shipwreck.jpg"),
    ("rocket.jpg", "composition_vii.jpg"), ("china.jpg", "starry_night.jpg"), ("rocket.jpg", "great_wave.jpg"),
    ("china.jpg", "composition_vii.jpg"), ("rocket.jpg", "shipwreck.jpg"),
)  # fmt: skip
#: The two pairs of the README's picture of the methods.
README_PAIRS = (("china.jpg", "composition_vii.jpg"), ("rocket.jpg", "starry_night.jpg"))
#: The path ablation's default-path runs (scripts/path_ablation.py): the paper's method at its defaults.
ABLATION_DEFAULT = {"optimizer": "adam", "jitter": 0, "average": 0.95, "pyramid": 0, "style_weight": 1e4}


def run(out: Path, methods: list[str], cache: Path) -> None:
    spec = out / "methods.toml"
    lines = ['title = "Three methods side by side (issue 24)"', "[options]", "size = 512", 'model = "vgg16-hed"',
             "[axes.method]", *(f'"{name}" = {{ method = "{name}" }}' for name in methods)]  # fmt: skip
    spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = {path.name: path for path in photos(cache)}
    pairs = [f"{found[photo]}:{SHARED / painting}" for photo, painting in PAIRS]
    painterly = str(Path(sys.executable).with_name("painterly"))
    subprocess.run([painterly, "experiment", str(spec), "--out", str(out), "--pairs", *pairs], check=True)


def finished(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(run folder, result.json) of every finished run under ``folder/runs``."""
    return [
        (path.parent, json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(folder.glob("runs/*/result.json"))
    ]


def measure(run: Path, summary: dict[str, Any], method: str) -> dict[str, Any]:
    picture = load_image(run / "image.png")
    photo = load_image(Path(summary["content"]))
    photo = resize(photo, fit_long_side(*image_size(photo), summary["options"]["size"]))
    frame, edges = frame_bands(picture, photo), edge_bands(picture, photo)
    return {
        "photo": Path(summary["content"]).name,
        "painting": Path(summary["style"]).name,
        "method": method,
        "run": str(run),
        "seconds": summary["seconds"],
        "dot_grid": dot_grid(picture, photo).amplitude,
        "frame_bands": vars(frame),
        "edge_bands": vars(edges),
    }


def collect(out: Path, gatys_from: Path | None) -> list[dict[str, Any]]:
    measures = []
    wanted = set(PAIRS)
    for run, summary in finished(out):
        method = summary["options"].get("method", "gatys")
        measures.append(measure(run, summary, method))
    if gatys_from is not None:
        for run, summary in finished(gatys_from):
            chosen = summary["options"]
            pair = (Path(summary["content"]).name, Path(summary["style"]).name)
            if pair in wanted and all(chosen.get(key) == value for key, value in ABLATION_DEFAULT.items()):
                measures.append(measure(run, summary, "gatys"))
    return [found for found in measures if (found["photo"], found["painting"]) in wanted]


def table(measures: list[dict[str, Any]]) -> str:
    rows = ["| method | pictures | seconds per picture: mean (min-max) | pictures with a dot grid | dot grid max "
            "| frame_bands worst side: mean / max | sides > 1.1 (of 4 per picture) | edge_bands sides > 1.1 |",
            "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for method in METHODS:
        cell = [found for found in measures if found["method"] == method]
        if not cell:
            continue
        seconds = [found["seconds"] for found in cell]
        worst = [max(found["frame_bands"].values()) for found in cell]
        rows.append(
            f"| {method} | {len(cell)} | {statistics.mean(seconds):.0f} ({min(seconds):.0f}-{max(seconds):.0f}) "
            f"| {sum(found['dot_grid'] > 0 for found in cell)} | {max(found['dot_grid'] for found in cell):.4f} "
            f"| {statistics.mean(worst):.2f} / {max(worst):.2f} "
            f"| {sum(v > 1.1 for found in cell for v in found['frame_bands'].values())} "
            f"| {sum(v > 1.1 for found in cell for v in found['edge_bands'].values())} |"
        )
    rows += ["", "| pair | " + " | ".join(f"{m}: s / worst frame side" for m in METHODS) + " |",
             "|---|" + "---|" * len(METHODS)]  # fmt: skip
    for photo, painting in PAIRS:
        cells = []
        for method in METHODS:
            found = next(
                (f for f in measures if (f["photo"], f["painting"], f["method"]) == (photo, painting, method)), None
            )
            cells.append("-" if found is None else f"{found['seconds']:.0f} / {max(found['frame_bands'].values()):.2f}")
        rows.append(f"| {photo} x {painting} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


Pairs = list[tuple[str, str]]
RunsByPair = dict[tuple[str, str], dict[str, Path]]


def pair_photo(runs: dict[str, Path]) -> torch.Tensor:
    """The pair's photo at the size of its pictures (any of its runs: they share photo and size)."""
    run = next(iter(runs.values()))
    summary = json.loads((run / "result.json").read_text(encoding="utf-8"))
    picture = Image.open(run / "image.png")
    return resize(load_image(summary["content"]), (picture.height, picture.width))


def side_by_side(by_pair: RunsByPair, pairs: Pairs, width: int) -> Image.Image:
    """One row per pair: the photo, then each method's picture, ``width`` px wide each."""
    label = 16
    first = Image.open(next(iter(by_pair[pairs[0]].values())) / "image.png")
    height = round(width * first.height / first.width)
    sheet = Image.new("RGB", (width * 4, label + height * len(pairs)), "white")
    for column, name in enumerate(("photo", *METHODS)):
        ImageDraw.Draw(sheet).text((column * width + 4, 2), name, fill="black")
    for row, pair in enumerate(pairs):
        runs = by_pair[pair]
        photo = pair_photo(runs)
        row_height = round(width * photo.shape[-2] / photo.shape[-1])
        sheet.paste(to_pil(photo).resize((width, row_height), Image.Resampling.LANCZOS), (0, label + row * height))
        for column, method in enumerate(METHODS):
            if method in runs:
                image = Image.open(runs[method] / "image.png").convert("RGB")
                place = ((column + 1) * width, label + row * height)
                sheet.paste(image.resize((width, row_height), Image.Resampling.LANCZOS), place)
    return sheet


def crop_sheet(by_pair: RunsByPair, pairs: Pairs) -> Image.Image:
    """The photo's flattest 64 px area of each pair in each method's picture, at 4x (nearest)."""
    label, tile = 16, 192
    crops = Image.new("RGB", (tile * 3, label + tile * len(pairs)), "white")
    for column, name in enumerate(METHODS):
        ImageDraw.Draw(crops).text((column * tile + 4, 2), name, fill="black")
    for row, pair in enumerate(pairs):
        runs = by_pair[pair]
        photo = pair_photo(runs)
        top, left = flattest_tiles(photo, tile=64)[0]
        for column, method in enumerate(METHODS):
            if method in runs:
                image = Image.open(runs[method] / "image.png").convert("RGB")
                crop = image.crop((left, top, left + 64, top + 64)).resize((tile, tile), Image.Resampling.NEAREST)
                crops.paste(crop, (column * tile, label + row * tile))
        ImageDraw.Draw(crops).text((4, label + row * tile + 4), f"{pair[0]} x {pair[1]}", fill="white")
    return crops


def sheets(measures: list[dict[str, Any]], out: Path) -> None:
    """``side_by_side.jpg`` (every pair, 256 px wide), ``readme.jpg`` (README_PAIRS, 320 px) and
    ``crops.jpg`` (4x crops of flat areas)."""
    by_pair: RunsByPair = {}
    for found in measures:
        by_pair.setdefault((found["photo"], found["painting"]), {})[found["method"]] = Path(found["run"])
    pairs = [pair for pair in PAIRS if pair in by_pair]
    if not pairs:
        return
    side_by_side(by_pair, pairs, 256).save(out / "side_by_side.jpg", quality=88)
    chosen = [pair for pair in README_PAIRS if pair in by_pair]
    if chosen:
        side_by_side(by_pair, chosen, 320).save(out / "readme.jpg", quality=88)
    crop_sheet(by_pair, pairs).save(out / "crops.jpg", quality=90)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="methods-results")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--gatys-from", type=Path, default=None, help="a finished scripts/path_ablation.py folder")
    parser.add_argument("--measure-only", action="store_true", help="measure the finished runs, run nothing")
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "painterly" / "quality-photos"))
    arguments = parser.parse_args()
    out = Path(arguments.out)
    out.mkdir(parents=True, exist_ok=True)
    if not arguments.measure_only:
        run(out, arguments.methods, Path(arguments.cache))
    measures = collect(out, arguments.gatys_from)
    with (out / "methods.jsonl").open("w", encoding="utf-8") as stream:
        stream.writelines(json.dumps(found) + "\n" for found in measures)
    (out / "methods.md").write_text(table(measures), encoding="utf-8")
    sheets(measures, out)
    print((out / "methods.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
