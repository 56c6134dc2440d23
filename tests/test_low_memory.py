"""The lower-memory path (issue 12): VGG blocks recomputed in the backward pass, chosen automatically.

The recomputing network must give the same activations and gradient as the normal one while
keeping fewer tensors for the backward pass; the estimate must count it as smaller; plan_run must
switch to it when only it fits and refuse in one line when neither does. Free memory is faked
with a /proc tree under tmp_path (:data:`painterly.memory.SYSTEM_ROOT`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from painterly import memory
from painterly.api import stylize
from painterly.cli import parse_stylize_arguments
from painterly.errors import PainterlyError
from painterly.memory import RunShape, choose_recompute, estimate_memory, estimate_peak_bytes
from painterly.models.vgg import VGG16, VGG19
from painterly.models.weights import load_weights_file
from painterly.network import Network
from painterly.options import validate
from painterly.runtime import resolve_runtime
from tests.test_api import tiny_options

LAYERS = ("conv4_2", "conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
SHAPE = RunShape(VGG16, LAYERS, "bf16", "lbfgs", content_layers=("conv4_2",), device_type="cuda")
GB = 10**9


# --- the network -------------------------------------------------------------------------------


def tiny(weights: Path, *, precision: str = "fp32", **kwargs: Any) -> Network:
    names = ["relu4_2", "relu1_1", "relu2_1", "relu3_1", "relu4_1"]
    return Network(load_weights_file(str(weights)), names, resolve_runtime("cpu", precision), **kwargs)


def activations_and_gradient(network: Network, image: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    pixels = image.clone().requires_grad_(True)
    features = network(pixels)
    total = sum((features[name].float() ** 2).mean() * (index + 1) for index, name in enumerate(sorted(features)))
    assert isinstance(total, torch.Tensor)
    total.backward()
    assert pixels.grad is not None
    return {name: value.detach().float() for name, value in features.items()}, pixels.grad


@pytest.mark.parametrize(
    ("precision", "pooling", "padding"),
    [("fp32", "avg", "zeros"), ("fp32", "max", "reflect"), ("bf16", "avg", "replicate")],
)
def test_recomputing_gives_the_same_activations_and_gradient(
    tiny_weights: Path, precision: str, pooling: str, padding: Any
) -> None:
    image = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(3))
    normal = tiny(tiny_weights, precision=precision, pooling=pooling, padding=padding)
    low = tiny(tiny_weights, precision=precision, pooling=pooling, padding=padding, recompute=True)
    features, gradient = activations_and_gradient(normal, image)
    low_features, low_gradient = activations_and_gradient(low, image)
    assert set(low_features) == set(features) == set(normal.layers)
    for name, value in features.items():
        torch.testing.assert_close(low_features[name], value, rtol=0, atol=1e-6)
    assert gradient.abs().max() > 0
    torch.testing.assert_close(low_gradient, gradient, rtol=0, atol=1e-6)


def saved_bytes(network: Network, image: torch.Tensor) -> int:
    """Bytes of the distinct tensors autograd keeps for the backward pass of the network's forward."""
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        network(image.clone().requires_grad_(True))
    return sum(storages.values())


def test_recomputing_keeps_fewer_tensors_and_runs_the_blocks_again(tiny_weights: Path) -> None:
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    network = tiny(tiny_weights)
    kept_normally = saved_bytes(network, image)
    network.recompute = True  # switched on an existing network, as plan_run does
    assert network.encoder.recompute
    # Only each block's input is kept (the image, pool1, pool2, pool3 of the 8, 12, 16 channel tiny
    # VGG; float32), besides a few bytes of the preprocessing's constants.
    boundaries = 4 * (3 * 64 * 64 + 8 * 32 * 32 + 12 * 16 * 16 + 16 * 8 * 8)
    assert boundaries <= saved_bytes(network, image) < boundaries + 256
    assert kept_normally > 5 * boundaries

    calls: list[int] = []
    network.encoder.stages["relu1_1"].register_forward_hook(lambda *_: calls.append(1))
    activations_and_gradient(network, image)
    assert len(calls) == 2  # once forward, once more in the backward pass
    calls.clear()
    network.recompute = False
    activations_and_gradient(network, image)
    assert len(calls) == 1
    calls.clear()
    network.recompute = True
    with torch.no_grad():  # nothing to recompute for: plain forward
        network(image)
    assert len(calls) == 1


# --- the estimate ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("precision", "channels_last", "pooling"),
    [("bf16", True, "avg"), ("fp32", True, "avg"), ("fp32", False, "avg"), ("fp32", False, "max")],
)
def test_the_recomputing_estimate_is_smaller_and_grows_with_the_size(
    precision: str, channels_last: bool, pooling: str
) -> None:
    run = replace(SHAPE, precision=precision, channels_last=channels_last, pooling=pooling, device_type="cpu")
    sizes = [16, 17, 64, 100, 256, 257, 512, 1000, *range(1025, 4096, 97), 4096, 8192]
    low = [estimate_peak_bytes(replace(run, recompute=True), s, s * 3 // 4 or 1) for s in sizes]
    normal = [estimate_peak_bytes(run, s, s * 3 // 4 or 1) for s in sizes]
    assert all(a < b for a, b in itertools.pairwise(low))
    assert all(a < b for a, b in zip(low[3:], normal[3:], strict=True))
    parts, low_parts = estimate_memory(run, 2048, 1536), estimate_memory(replace(run, recompute=True), 2048, 1536)
    assert replace(low_parts, activations=0) == replace(parts, activations=0)  # only the kept activations differ
    assert low_parts.activations < 0.75 * parts.activations


def test_the_recomputing_estimate_counts_the_kept_tensors_and_the_largest_block() -> None:
    """VGG-16 to relu5_1 at H x W = P pixels, bf16 (2 bytes): the input (3P) and the pooling outputs
    that feed a block (16P + 8P + 4P + 2P), plus the larger of the requested layers (64P + 32P + 16P
    + 8P + 8P + 2P = 130P for the paper's) and block 1 recomputed in its backward pass (64P + 64P + 16P)."""
    height, width = 1024, 768
    pixels = height * width
    low = estimate_memory(replace(SHAPE, recompute=True), height, width)
    assert low.activations == (3 + 30 + 144) * pixels * 2
    more = estimate_memory(RunShape(VGG16, (*LAYERS, "conv1_2"), "bf16", "lbfgs", recompute=True), height, width)
    assert more.activations == (3 + 30 + 130 + 64) * pixels * 2  # now the requested layers are the larger
    deeper = estimate_memory(RunShape(VGG19, LAYERS, "bf16", "lbfgs", recompute=True), height, width)
    assert deeper.activations == low.activations  # VGG-19's extra convolutions are recomputed, not kept


def test_an_8192_px_run_on_an_h100_fits_by_the_estimate() -> None:
    """The run the H100 refused (docs/benchmarks/h100-8192-refusal.txt: 84 GB free), with today's
    default margin of 8 px; the GPU number is this estimate, not a measurement. Since the Gram
    matrix's gradient product runs in bf16 (no float32 copies of the style layers) the normal path
    fits too, and auto takes it; with 6 GB less free, only recomputation fits."""
    run = replace(SHAPE, final_evaluations=500, margin=8)
    free = 84 * GB
    normal = estimate_peak_bytes(run, 6144, 8192)
    low = estimate_peak_bytes(replace(run, recompute=True), 6144, 8192)
    assert low < normal <= free
    assert choose_recompute(run, 6144, 8192, available=free) is False
    assert choose_recompute(run, 6144, 8192, available=free - 6 * GB) is True


# --- the choice --------------------------------------------------------------------------------


def test_choose_recompute_by_the_option() -> None:
    normal = estimate_peak_bytes(SHAPE, 4096, 3072)
    low = estimate_peak_bytes(replace(SHAPE, recompute=True), 4096, 3072)
    assert low < normal
    assert choose_recompute(SHAPE, 4096, 3072, available=normal) is False
    assert choose_recompute(SHAPE, 4096, 3072, "low", available=normal) is True
    assert choose_recompute(SHAPE, 4096, 3072, available=low) is True
    assert choose_recompute(SHAPE, 4096, 3072, "low", available=low) is True
    with pytest.raises(PainterlyError) as refused:
        choose_recompute(SHAPE, 4096, 3072, "normal", available=low)
    message = str(refused.value)
    assert "--memory low (or auto) would fit at this size" in message and "\n" not in message
    with pytest.raises(PainterlyError) as neither:
        choose_recompute(SHAPE, 4096, 3072, available=low - 1)
    message = str(neither.value)
    assert message.startswith("a 4096 px output needs about ")
    assert "with activations recomputed (--memory low)" in message
    assert "the largest size that fits is about" in message and "\n" not in message
    largest = int(message.split("use --size ")[1].split()[0])
    assert choose_recompute(SHAPE, largest * 3 // 4, largest, available=low - 1) is True  # the advice holds


def fake_free(root: Path, free: int) -> Path:
    """A fake / whose /proc/meminfo has ``free`` bytes available (rounded up to a kB) and no cgroup."""
    (root / "proc").mkdir(parents=True, exist_ok=True)
    (root / "proc" / "meminfo").write_text(f"MemTotal: 134217728 kB\nMemAvailable: {math.ceil(free / 1024)} kB\n")
    return root


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[RunShape, int, int]]:
    """The runs and canvas sizes plan_run asks check_fits about (the real check still runs)."""
    calls: list[tuple[RunShape, int, int]] = []
    real = memory.check_fits

    def spy(run: RunShape, height: int, width: int, **kwargs: Any) -> None:
        calls.append((run, height, width))
        real(run, height, width, **kwargs)

    monkeypatch.setattr(memory, "check_fits", spy)
    return calls


def test_stylize_recomputes_only_when_the_normal_path_does_not_fit(
    tiny_weights: Path, small_images: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    checked: list[tuple[RunShape, int, int]],
) -> None:  # fmt: skip
    content, style = small_images
    options = tiny_options(tiny_weights, size=64, iterations=4)
    monkeypatch.setattr(memory, "SYSTEM_ROOT", fake_free(tmp_path / "plenty", 64 * GB))
    normal = stylize(content, style, **options)
    assert normal.settings["memory"] == "normal"
    run, height, width = checked[0]
    assert not run.recompute and (height, width, run.margin) == (48, 64, 8)  # the output, and its margin
    needed, needed_low = estimate_peak_bytes(run, height, width), estimate_peak_bytes(replace(run, recompute=True),
                                                                                      height, width)  # fmt: skip
    assert needed_low + 1024 < needed

    monkeypatch.setattr(memory, "SYSTEM_ROOT", fake_free(tmp_path / "tight", needed_low))
    seen: list[str] = []
    low = stylize(content, style, callback=lambda iterate: seen.append(iterate.network), **options)
    assert low.settings["memory"] == "low"
    assert "activations recomputed" in seen[0]
    torch.testing.assert_close(low.image, normal.image, rtol=0, atol=1e-6)  # the same picture
    assert [r.total_loss for r in low.history] == pytest.approx([r.total_loss for r in normal.history], rel=1e-6)

    with pytest.raises(PainterlyError) as forced:
        stylize(content, style, **{**options, "memory": "normal"})
    assert "--memory low (or auto) would fit at this size" in str(forced.value)
    assert "\n" not in str(forced.value)

    monkeypatch.setattr(memory, "SYSTEM_ROOT", fake_free(tmp_path / "none", needed_low - 4096))
    with pytest.raises(PainterlyError) as neither:
        stylize(content, style, **options)
    message = str(neither.value)
    assert message.startswith("a 64 px output needs about ") and "\n" not in message
    assert "with activations recomputed (--memory low)" in message and "the largest size that fits" in message


def test_forcing_low_records_it_even_with_plenty_of_memory(
    tiny_weights: Path, small_images: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, style = small_images
    monkeypatch.setattr(memory, "SYSTEM_ROOT", fake_free(tmp_path, 64 * GB))
    result = stylize(content, style, **tiny_options(tiny_weights, memory="low"))
    assert result.settings["memory"] == "low"


# --- the option --------------------------------------------------------------------------------


def test_the_option_is_validated_and_on_the_command_line() -> None:
    assert validate({})["memory"] == "auto"
    assert validate({"memory": "low"})["memory"] == "low"
    with pytest.raises(PainterlyError) as refused:
        validate({"memory": "lowest"})
    assert str(refused.value) == "unknown memory 'lowest'; use auto, normal or low"
    _, chosen = parse_stylize_arguments(["photo.jpg", "painting.jpg", "-o", "out.png", "--memory", "normal"])
    assert chosen["memory"] == "normal"
    with pytest.raises(SystemExit):
        parse_stylize_arguments(["photo.jpg", "painting.jpg", "-o", "out.png", "--memory", "small"])


@pytest.mark.slow
def test_the_compiled_objective_recomputes_too(tiny_weights: Path, small_images: tuple[Path, Path]) -> None:
    # torch.compile traces the checkpointed blocks (Inductor on the CPU) and gives the eager losses.
    content, style = small_images
    options = tiny_options(tiny_weights, iterations=6, scales=1, memory="low")
    eager = stylize(content, style, **options)
    compiled = stylize(content, style, compile="default", **options)
    assert compiled.settings["memory"] == "low"
    eager_losses = [record.total_loss for record in eager.history]
    assert [record.total_loss for record in compiled.history] == pytest.approx(eager_losses, rel=1e-4)
    assert torch.allclose(compiled.image, eager.image, atol=1e-3)


def test_stages_are_grouped_by_block_with_their_pooling() -> None:
    from painterly.models.vgg import group_by_block

    assert group_by_block(VGG16.layer_names()[:6]) == [["relu1_1", "relu1_2", "pool1"], ["relu2_1", "relu2_2", "pool2"]]
