"""The network (painterly.network) with VGG blocks recomputed in the backward pass (issue 12): the same
activations and gradient as the normal one, fewer kept tensors, and the compiled objective recomputes too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from painterly.api import stylize
from painterly.models.weights import load_weights_file
from painterly.network import Network
from painterly.runtime import resolve_runtime
from tests.helpers import tiny_options


# --- the network -------------------------------------------------------------------------------
def network_of(weights: Path, *, precision: str = "fp32", **kwargs: Any) -> Network:
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
    normal = network_of(tiny_weights, precision=precision, pooling=pooling, padding=padding)
    low = network_of(tiny_weights, precision=precision, pooling=pooling, padding=padding, recompute=True)
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
    network = network_of(tiny_weights)
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
