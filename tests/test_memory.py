"""The memory estimate: its shape, its agreement with a measured run, and the refusal message."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from painterly.errors import PainterlyError
from painterly.memory import (
    MemoryEstimate,
    RunShape,
    available_bytes,
    check_fits,
    estimate_memory,
    estimate_peak_bytes,
    format_bytes,
    largest_fitting_size,
)
from painterly.models.vgg import VGG16, VGG19
from painterly.runtime import bf16_is_fast

LAYERS = ("conv4_2", "conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
CONTENT = ("conv4_2",)
# The estimate agrees with a measured run within this factor either way (measured: 0.93-1.3 at 256-1024 px;
# the three runs below, since the Gram gradient's product runs in bf16: 1.33, 1.17 and 1.02).
MEASURED_FACTOR = 1.5


def estimate(size: int, **options: object) -> int:
    settings = {"precision": "bf16", "optimizer": "lbfgs", "lbfgs_history": 100, "content_layers": CONTENT}
    settings.update(options)
    return estimate_peak_bytes(RunShape(VGG16, LAYERS, **settings), size, size * 3 // 4 or 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("history", [100, None])  # None: painterly's L-BFGS keeps fewer pairs for large images
def test_estimate_grows_with_the_size(precision: str, optimizer: str, channels_last: bool, history: int | None) -> None:
    sizes = [16, 17, 32, 100, 128, 256, 257, 512, 1000, 1024, *range(1025, 4096, 13), 4096, 8192, 16384]
    values = [
        estimate(s, precision=precision, optimizer=optimizer, channels_last=channels_last, lbfgs_history=history)
        for s in sizes
    ]
    assert all(a < b for a, b in itertools.pairwise(values))


def test_parts_scale_as_described() -> None:
    pixels = 1024 * 768
    with_history = estimate(1024, lbfgs_history=100)
    fewer = estimate(1024, lbfgs_history=50)  # (with none, computing the painting's targets is the peak)
    assert with_history - fewer == 50 * 2 * 3 * pixels * 4  # two float32 vectors of 3 x H x W per pair
    assert estimate(1024, lbfgs_history=100, final_evaluations=30) == estimate(1024, lbfgs_history=30)
    assert estimate(1024, lbfgs_history=None, final_evaluations=30) == estimate(1024, lbfgs_history=30)
    assert estimate(2048, precision="bf16", optimizer="adam") < estimate(2048, precision="fp32", optimizer="adam")
    assert estimate(1024, pooling="max") > estimate(1024, pooling="avg")
    deeper = estimate_peak_bytes(RunShape(VGG19, LAYERS, "fp32", "adam"), 1024, 768)
    assert deeper > estimate_peak_bytes(RunShape(VGG16, LAYERS, "fp32", "adam"), 1024, 768)
    parts = estimate_memory(RunShape(VGG16, LAYERS, "bf16", "lbfgs"), 1024, 768)
    assert isinstance(parts, MemoryEstimate)
    assert parts.total == sum(v for k, v in parts.as_dict().items() if k != "total")
    # A painting four times as large as the output dominates the peak.
    assert estimate(1024, style_scale=4.0, optimizer="adam") > estimate(1024, optimizer="adam")


def test_the_margin_is_counted_around_the_output() -> None:
    """Sizes are the output's; the network sees the canvas with ``margin`` pixels on every side. A
    refusal names the output's size and a --size whose canvas fits."""
    framed = RunShape(VGG16, LAYERS, "bf16", "lbfgs", lbfgs_history=100, content_layers=CONTENT, margin=8)
    with_margin = estimate_memory(framed, 768, 1024).as_dict()
    canvas = estimate_memory(replace(framed, margin=0), 784, 1040).as_dict()
    # the same parts as a canvas of that size, plus the style layers' cropped copies (bf16)
    copies = with_margin.pop("loss_copies") - canvas.pop("loss_copies")
    assert copies == 2 * (64 * 784 * 1040 + 128 * 392 * 520 + 256 * 196 * 260 + 512 * 98 * 130 + 512 * 49 * 65)
    assert with_margin.pop("total") - canvas.pop("total") == copies
    assert with_margin == canvas
    free = estimate_peak_bytes(framed, 4096, 3072) - 1
    with pytest.raises(PainterlyError) as refused:
        check_fits(framed, 3072, 4096, available=free)
    message = str(refused.value)
    assert message.startswith("a 4096 px output needs about "), message
    largest = int(message.split("use --size ")[1].split(")")[0])
    assert largest < 4096
    check_fits(framed, largest * 3 // 4, largest, available=free)


def test_shallow_layers_need_less_than_deep_ones() -> None:
    shallow = estimate_peak_bytes(RunShape(VGG16, ["conv1_1", "conv2_1"], "fp32", "adam"), 1024, 1024)
    assert shallow < estimate_peak_bytes(RunShape(VGG16, LAYERS, "fp32", "adam"), 1024, 1024)


def test_unknown_arguments_are_refused() -> None:
    with pytest.raises(PainterlyError, match="unknown layer"):
        estimate_peak_bytes(RunShape(VGG16, ["conv9_9"], "fp32", "adam"), 64, 64)
    with pytest.raises(ValueError, match="no layers"):
        RunShape(VGG16, [], "fp32", "adam")
    with pytest.raises(ValueError, match="size must be positive"):
        estimate_peak_bytes(RunShape(VGG16, LAYERS, "fp32", "adam"), 0, 64)


# A short optimisation on a full-width VGG-16 with random weights (memory does not depend on the
# values), measuring the growth of the peak resident set size from before the network is built.
# glibc is told to return every freed block at once, so the peak counts live tensors only.
PROBE = r"""
import json, sys
import torch
from painterly.losses import gram_matrix
from painterly.terms import ContentTerm, GramStyleTerm, evaluate_terms
from painterly.models.preprocessing import CAFFE
from painterly.models.vgg import VGG16, VGGFeatures
from painterly.optimize import optimize_image

def rss(key):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1]) * 1024

size, precision, channels_last, optimizer, evaluations, recompute = sys.argv[1:7]
size, evaluations, channels_last, recompute = int(size), int(evaluations), channels_last == "1", recompute == "1"
generator = torch.Generator().manual_seed(0)
state = {k: torch.randn(s, generator=generator) * 0.02 for k, s in VGG16.parameter_shapes().items()}
photo, painting = torch.rand(2, 1, 3, size, size, generator=generator)
content, style = ["relu4_2"], ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # reset the peak (VmHWM) to the current resident size
before = rss("VmRSS")
encoder = VGGFeatures(VGG16, state, content + style, recompute=recompute)
if channels_last:
    encoder = encoder.to(memory_format=torch.channels_last)

def network(image):
    pixels = CAFFE(image)
    if channels_last:
        pixels = pixels.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        return encoder(pixels)

with torch.no_grad():
    photo_features, painting_features = network(photo), network(painting)
    terms = [
        ContentTerm({name: photo_features[name].float() for name in content}, weight=1.0),
        GramStyleTerm({name: 0.2 for name in style}, {name: gram_matrix(painting_features[name]) for name in style},
                      weight=1e3),
    ]
    del photo_features, painting_features
optimize_image(photo, lambda image: evaluate_terms(terms, network(image), image), optimizer=optimizer,
               learning_rate=1.0 if optimizer == "lbfgs" else 0.02, evaluations=evaluations)
print(json.dumps({"growth": rss("VmHWM") - before}))
"""


def _can_reset_peak() -> bool:
    return sys.platform.startswith("linux") and os.access("/proc/self/clear_refs", os.W_OK)


def _bf16_runs_natively() -> bool:
    """The CPU has AVX512-BF16 or AMX, and oneDNN is not capped below them.

    `bf16_is_fast` reads the CPU's flags; ONEDNN_MAX_CPU_ISA=AVX2 or AVX512_CORE (the older kernels)
    leaves them set but runs bf16 convolutions on emulated kernels, 12-33x slower than native here
    (a 64-channel 128x128 3x3 convolution: 1.5 ms with AMX, 18 ms AVX512_CORE, 49 ms AVX2): the
    recomputing probe then outlasts its 300 s timeout, and its memory is not that of native bf16.
    oneDNN's names of the levels with bf16 kernels contain BF16, AMX, FP16 or AVX10.
    """
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    uncapped = cap in ("", "ALL", "DEFAULT") or any(word in cap for word in ("BF16", "AMX", "FP16", "AVX10"))
    return bf16_is_fast(torch.device("cpu")) and uncapped


@pytest.mark.slow
@pytest.mark.skipif(not _can_reset_peak(), reason="needs Linux's /proc/self/clear_refs to measure a peak")
@pytest.mark.parametrize(
    ("precision", "channels_last", "optimizer", "evaluations", "recompute"),
    [("bf16", True, "lbfgs", 8, False), ("fp32", False, "adam", 3, False), ("bf16", True, "lbfgs", 8, True)],
)
def test_estimate_is_within_a_factor_of_a_measured_run(
    precision: str, channels_last: bool, optimizer: str, evaluations: int, recompute: bool
) -> None:
    if precision == "bf16" and not _bf16_runs_natively():
        pytest.skip("bf16 on this CPU is emulated; the calibration is for native bf16")
    size = 256
    environment = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    flags = ["1" if channels_last else "0", optimizer, str(evaluations), "1" if recompute else "0"]
    arguments = [str(size), precision, *flags]
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    measured = json.loads(completed.stdout.strip().splitlines()[-1])["growth"]
    shape = RunShape(
        VGG16, LAYERS, precision, optimizer, lbfgs_history=evaluations - 1, content_layers=CONTENT,
        channels_last=channels_last, recompute=recompute,
    )  # fmt: skip
    estimated = estimate_peak_bytes(shape, size, size)
    ratio = estimated / measured
    assert 1 / MEASURED_FACTOR <= ratio <= MEASURED_FACTOR, (estimated, measured)


def test_available_bytes_on_the_cpu_is_plausible() -> None:
    free = available_bytes("cpu")
    assert free > 0
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        assert free <= os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * 1.01


SHAPE = RunShape(VGG16, LAYERS, "bf16", "lbfgs", lbfgs_history=24, content_layers=CONTENT)


def test_check_fits_passes_when_there_is_room() -> None:
    needed = estimate_peak_bytes(SHAPE, 512, 384)
    check_fits(SHAPE, 512, 384, available=needed)


@pytest.mark.parametrize("device", ["cuda", "cpu"])
def test_check_fits_refuses_in_one_line_naming_the_largest_size(device: str) -> None:
    free = 78 * 10**9
    with pytest.raises(PainterlyError) as caught:
        check_fits(replace(SHAPE, device_type=device), 8192, 6144, available=free)
    message = str(caught.value)
    assert "\n" not in message
    pattern = (
        rf"a 8192 px output needs about (\d+) GB on {device} but 78 GB is free; "
        r"the largest size that fits is about (\d+) px \(use --size (\d+)"
    )
    match = re.match(pattern, message)
    assert match, message
    assert int(match.group(1)) > 78
    largest = int(match.group(2))
    assert largest == int(match.group(3))
    assert 1000 < largest < 8192 and largest % 100 == 0
    assert ("or --device cpu)" in message) == (device == "cuda")
    fitted = estimate_peak_bytes(SHAPE, largest, largest * 3 // 4)
    assert fitted <= free
    assert estimate_peak_bytes(SHAPE, largest + 200, (largest + 200) * 3 // 4) > free


def test_check_fits_when_nothing_fits() -> None:
    with pytest.raises(PainterlyError, match="not even 16 px fits"):
        check_fits(SHAPE, 1024, 1024, available=10**6)


def test_check_fits_suggests_adam_when_only_the_history_is_too_much() -> None:
    lbfgs = replace(SHAPE, lbfgs_history=100, device_type="cuda")
    adam = estimate_peak_bytes(replace(lbfgs, optimizer="adam"), 4096, 4096)
    with pytest.raises(PainterlyError, match="--optimizer adam would fit"):
        check_fits(lbfgs, 4096, 4096, available=adam)


def test_largest_fitting_size_keeps_the_aspect_ratio_and_rounds_down() -> None:
    free = 4 * 10**9
    wide = largest_fitting_size(SHAPE, 300, 900, available=free)
    square = largest_fitting_size(SHAPE, 900, 900, available=free)
    assert wide > square  # the same pixels allow a longer side on a wide image
    assert wide % 100 == 0 and square % 100 == 0
    assert largest_fitting_size(SHAPE, 900, 900, available=10**15) >= 16384


def test_format_bytes() -> None:
    assert format_bytes(85_300_000_000) == "85 GB"
    assert format_bytes(1_520_000_000) == "1.5 GB"
    assert format_bytes(640_000_000) == "640 MB"
