"""The network as the losses see it: VGG features bound to their weights' preprocessing, the run's
precision (autocast), memory layout and device.

A :class:`Network` is called with an RGB image in 0..1, shape (1, 3, H, W), on its device, and
returns the activations of the layers it was built for, by canonical name (``relu4_2``). The
image is the one parametrisation painterly optimises for every weight source; each source's own
convention (Caffe: BGR, 0..255 minus the mean; torchvision: ImageNet mean and std) is applied
here, so a learning rate means the same for every network.

``recompute`` (see :mod:`painterly.models.vgg`) trades time for memory: each VGG block's
activations are recomputed in the backward pass instead of kept. A run that would not fit
otherwise (the ``memory`` option, :func:`painterly.api.plan_run_network`) runs on a view of the
network with it on (:meth:`Network.with_recompute`): the network itself, which other runs may
share, is not changed.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Literal

import torch

from painterly.errors import PainterlyError
from painterly.models.vgg import VGGArchitecture, VGGFeatures
from painterly.models.weights import LoadedWeights, ProgressCallback, choose_auto, load_source, load_weights_file
from painterly.runtime import Runtime


class Network:
    """Frozen VGG features for ``layers`` (any accepted names), truncated after the deepest one.

    ``recompute`` may be set at any time; it applies from the next call on.
    """

    def __init__(
        self,
        weights: LoadedWeights,
        layers: Sequence[str],
        runtime: Runtime,
        *,
        pooling: str = "avg",
        padding: Literal["zeros", "reflect", "replicate"] = "zeros",
        recompute: bool = False,
    ) -> None:
        self.weights = weights
        self.runtime = runtime
        self.layers = tuple(dict.fromkeys(weights.arch.resolve_layer(name) for name in layers))
        encoder = VGGFeatures(
            weights.arch, weights.state_dict, self.layers, pooling=pooling, padding=padding, recompute=recompute
        )
        encoder = encoder.to(runtime.device)
        if runtime.channels_last:
            encoder = encoder.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.encoder = encoder

    @property
    def arch(self) -> VGGArchitecture:
        return self.weights.arch

    @property
    def description(self) -> str:
        return self.weights.description

    @property
    def recompute(self) -> bool:
        """Whether each block's activations are recomputed in the backward pass instead of kept."""
        return self.encoder.recompute

    @recompute.setter
    def recompute(self, on: bool) -> None:
        self.encoder.recompute = on

    def with_recompute(self, on: bool) -> Network:
        """This network for one run, with ``recompute`` set to ``on``: a view sharing the weights,
        layers and modules (nothing large is copied), whose flag is its own, so a run never changes
        the network other runs share. The network itself when its flag is already ``on``."""
        if self.recompute == on:
            return self
        view = copy.copy(self)
        view.encoder = copy.copy(self.encoder)  # shares the stages and their parameters
        view.encoder.recompute = on
        return view

    def resolve(self, name: str) -> str:
        """The canonical name of a layer (``conv4_2`` -> ``relu4_2``); an unknown name is an error."""
        return self.arch.resolve_layer(name)

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        pixels = self.weights.preprocessing(image)
        if self.runtime.channels_last:
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        with self.runtime.autocast():
            return self.encoder(pixels)


def load_weights(
    model: str = "auto",
    weights: str | None = None,
    weights_preprocessing: str = "auto",
    *,
    progress: ProgressCallback | None = None,
) -> tuple[LoadedWeights, str | None]:
    """The weights a run uses and, for ``model="auto"``, why they were chosen.

    ``weights`` (a local file) wins over ``model``; ``weights_preprocessing`` names its input
    convention ("auto": from the file's metadata, else by the file's kind).
    """
    if weights is not None:
        chosen = None if weights_preprocessing == "auto" else weights_preprocessing
        return load_weights_file(weights, preprocessing=chosen), None
    if model == "auto":
        return choose_auto(progress=progress)
    return load_source(model, progress=progress), None


def resolve_layers(arch: VGGArchitecture, names: Sequence[str], *, role: str) -> list[str]:
    """Canonical names of ``names``; the same tensor named twice (conv4_2 and relu4_2) is an error."""
    resolved = [arch.resolve_layer(name) for name in names]
    if len(set(resolved)) != len(resolved):
        raise PainterlyError(f"a {role} layer is listed twice (conv and relu names are the same tensor)")
    return resolved
