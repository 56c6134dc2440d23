"""Helpers shared by test modules (plain functions; fixtures live in conftest.py files).

Test modules import these from here, never from one another: option lists for tiny runs, a tiny
experiment spec, synthetic pictures and clips.
"""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

# --- pictures ------------------------------------------------------------------------------------


def pattern(width: int, height: int, stripes: bool) -> Image.Image:
    """A smooth 'photo' (stripes=False) or a striped 'painting' of the given size."""
    x = torch.linspace(0, 1, width).view(1, -1).expand(height, width)
    y = torch.linspace(0, 1, height).view(-1, 1).expand(height, width)
    if stripes:
        r = (torch.sin(x * 40) > 0).float()
        g = (torch.sin(y * 30) > 0).float() * 0.8
        b = 0.5 + 0.5 * torch.sin((x + y) * 20)
    else:
        r, g, b = x, y, 1 - x * y
    array = (torch.stack([r, g, b], dim=-1) * 255).round().to(torch.uint8).numpy()
    return Image.fromarray(array, "RGB")


# --- the API and experiments -----------------------------------------------------------------------


def tiny_options(tiny_weights: Path, **overrides: Any) -> dict[str, Any]:
    """`stylize` keywords for a 32 px, 5-evaluation run of the tiny network on the CPU in fp32."""
    options = {"weights": str(tiny_weights), "size": 32, "iterations": 5, "precision": "fp32", "device": "cpu"}
    options.update(overrides)
    return options


TINY_GRID = """
title = "Tiny grid"
study = "nothing in particular"
[options]
size = 32
iterations = {iterations}
precision = "fp32"
device = "cpu"
weights = "{weights}"
[axes.optimizer]
"L-BFGS" = {{ optimizer = "lbfgs" }}
"Adam" = {{ optimizer = "adam", learning_rate = 0.05 }}
"""


def tiny_spec(folder: Path, weights: Path, iterations: int = 5) -> Path:
    """A two-run experiment spec (L-BFGS and Adam) for the tiny network, written to ``folder``."""
    path = folder / "tiny.toml"
    path.write_text(TINY_GRID.format(iterations=iterations, weights=weights), encoding="utf-8")
    return path


# --- clips -----------------------------------------------------------------------------------------

FPS = Fraction(12)


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth random colour texture (bilinear upsampling of coarse noise): good for any flow method."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, height // 6 + 2, width // 6 + 2, generator=generator)
    fine = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)
    return (fine.clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def translating_frames(count: int, dx: int, dy: int, height: int = 64, width: int = 80) -> list[np.ndarray]:
    """Frame i shows the texture moved by (i dx, i dy) pixels: content moves right by dx, down by dy."""
    margin = 4 * (abs(dx) + abs(dy)) * count + 8
    big = texture(height + 2 * margin, width + 2 * margin)
    return [big[margin - i * dy : margin - i * dy + height, margin - i * dx : margin - i * dx + width].copy()
            for i in range(count)]  # fmt: skip


def write_clip(path: Path, frames: list[np.ndarray], *, audio: bool = True) -> Path:
    """A lossless-enough H.264 clip of ``frames`` with, optionally, a second of AAC sine tone (needs PyAV)."""
    import av

    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=FPS)
    stream.height, stream.width = frames[0].shape[:2]
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": "0"}
    sound = container.add_stream("aac", rate=8000) if audio else None
    for array in frames:
        container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
    container.mux(stream.encode(None))
    if sound is not None:
        tone = (0.3 * np.sin(np.arange(8192) / 8000 * 2 * np.pi * 440)).astype(np.float32)[None]
        for offset in range(0, 8192, 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, offset : offset + 1024]), format="fltp",
                                               layout="mono")  # fmt: skip
            frame.sample_rate, frame.pts = 8000, offset
            container.mux(sound.encode(frame))
        container.mux(sound.encode(None))
    container.close()
    return path


def decoded(path: Path) -> tuple[list[np.ndarray], Fraction, bool]:
    """A clip's frames (RGB arrays), frame rate and whether it has sound (needs PyAV)."""
    import av

    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        return frames, container.streams.video[0].average_rate, bool(container.streams.audio)


def video_options(weights: Path, iterations: int = 3) -> list[str]:
    """`painterly video` options for a 32 px run of the tiny network on the CPU in fp32."""
    return ["--size", "32", "--iterations", str(iterations), "--frame-iterations", "2", "--weights", str(weights),
            "--device", "cpu", "--precision", "fp32", "--quiet"]  # fmt: skip


# --- FIFOs (paths that are not regular files) ----------------------------------------------------

UNJAM_AFTER_S = 2.0


# Runs in its own process: a reader blocked inside native code (safetensors) may hold the GIL.
UNJAM = """
import os, sys, time
path, after = sys.argv[1], float(sys.argv[2])
time.sleep(after)
while True:
    try:  # succeeds only while a reader holds the FIFO open (blocked in open or read)
        descriptor = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        time.sleep(0.05)
        continue
    os.close(descriptor)  # the reader sees end of file
    print("opened", flush=True)
    time.sleep(0.05)
"""


class Fifos:
    """Makes FIFOs and records whether the code under test ever opened one for reading."""

    def __init__(self) -> None:
        self.helpers: list[tuple[Path, subprocess.Popen[str]]] = []

    def make(self, path: Path) -> Path:
        os.mkfifo(path)
        command = [sys.executable, "-c", UNJAM, str(path), str(UNJAM_AFTER_S)]
        self.helpers.append((path, subprocess.Popen(command, stdout=subprocess.PIPE, text=True)))
        return path

    def close(self) -> list[Path]:
        """Stop the helpers; the FIFOs that the code under test opened."""
        opened = []
        for path, helper in self.helpers:
            helper.terminate()
            output, _ = helper.communicate(timeout=10)
            if "opened" in output:
                opened.append(path)
        return opened
