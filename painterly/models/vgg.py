"""VGG feature extractors with named layers (no torchvision needed).

Layer names follow the paper: ``convX_Y`` is the *rectified* output of the Y-th convolution in
block X (Caffe ran the ReLU in place, so the paper's "conv4_2" is a rectified tensor).
``reluX_Y`` names the same tensor, and ``poolX`` is the output of block X's pooling layer.
Parameters are stored as ``convX_Y.weight`` / ``convX_Y.bias`` with shape (out, in, 3, 3).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from painterly.errors import PainterlyError


@dataclass(frozen=True)
class VGGArchitecture:
    """Shape of a VGG network: convolutions per block and channels per block."""

    name: str
    convs_per_block: tuple[int, ...]
    channels: tuple[int, ...]

    def conv_names(self) -> list[str]:
        return [
            f"conv{block}_{index}"
            for block, count in enumerate(self.convs_per_block, start=1)
            for index in range(1, count + 1)
        ]

    def layer_names(self) -> list[str]:
        """Every addressable tensor in forward order (canonical names: relu and pool)."""
        names = []
        for block, count in enumerate(self.convs_per_block, start=1):
            names += [f"relu{block}_{index}" for index in range(1, count + 1)]
            names.append(f"pool{block}")
        return names

    def accepted_names(self) -> list[str]:
        """Every name a user may give: conv and relu names of each rectified output, pool names."""
        return [*self.conv_names(), *self.layer_names()]

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        in_channels = 3
        for block, count in enumerate(self.convs_per_block, start=1):
            out_channels = self.channels[block - 1]
            for index in range(1, count + 1):
                shapes[f"conv{block}_{index}.weight"] = (out_channels, in_channels, 3, 3)
                shapes[f"conv{block}_{index}.bias"] = (out_channels,)
                in_channels = out_channels
        return shapes

    def resolve_layer(self, name: str) -> str:
        """Canonical name of a layer (``conv4_2`` -> ``relu4_2``); a clear error if unknown."""
        cleaned = name.strip().lower()
        if cleaned.startswith("conv") and cleaned in self.conv_names():
            return "relu" + cleaned[len("conv") :]
        if cleaned in self.layer_names():
            return cleaned
        close = difflib.get_close_matches(cleaned, self.accepted_names(), n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise PainterlyError(
            f"unknown layer {name!r} for {self.name}.{hint} "
            f"Valid layers: {', '.join(self.accepted_names())}."
        )

    def depth_of(self, canonical_layer: str) -> int:
        return self.layer_names().index(canonical_layer)


VGG_CHANNELS = (64, 128, 256, 512, 512)
VGG16 = VGGArchitecture("vgg16", (2, 2, 3, 3, 3), VGG_CHANNELS)
VGG19 = VGGArchitecture("vgg19", (2, 2, 4, 4, 4), VGG_CHANNELS)
ARCHITECTURES: dict[str, VGGArchitecture] = {a.name: a for a in (VGG16, VGG19)}


def architecture_from_state_dict(state_dict: Mapping[str, torch.Tensor]) -> VGGArchitecture:
    """Infer the architecture from ``convX_Y.weight`` keys (any widths; five blocks at most)."""
    counts: dict[int, int] = {}
    widths: dict[int, int] = {}
    for key, tensor in state_dict.items():
        if not (key.startswith("conv") and key.endswith(".weight")):
            continue
        block, index = (int(part) for part in key[len("conv") : -len(".weight")].split("_"))
        counts[block] = max(counts.get(block, 0), index)
        widths[block] = int(tensor.shape[0])
    blocks = sorted(counts)
    if not blocks or blocks != list(range(1, len(blocks) + 1)):
        raise PainterlyError(
            "the weights do not describe a VGG network (no conv1_1 ... keys); "
            "use a VGG-16 or VGG-19 file or one of the sources listed by `painterly models`"
        )
    convs = tuple(counts[b] for b in blocks)
    channels = tuple(widths[b] for b in blocks)
    for known in ARCHITECTURES.values():
        if known.convs_per_block == convs and known.channels == channels:
            return known
    return VGGArchitecture(f"vgg-custom{sum(convs)}", convs, channels)


def check_state_dict(state_dict: Mapping[str, torch.Tensor], arch: VGGArchitecture) -> None:
    """Raise a clear error when tensors are missing, misshapen or not finite."""
    for key, shape in arch.parameter_shapes().items():
        if key not in state_dict:
            raise PainterlyError(f"the weights lack {key} for {arch.name}; the file is incomplete or not VGG")
        tensor = state_dict[key]
        if tuple(tensor.shape) != shape:
            raise PainterlyError(
                f"weight {key} has shape {tuple(tensor.shape)}, expected {shape} for {arch.name}; "
                "the file is for another network"
            )
        if not torch.isfinite(tensor).all():
            raise PainterlyError(f"weight {key} contains NaN or infinite values; the file is corrupt")


class VGGFeatures(nn.Module):
    """A frozen VGG trunk, truncated after the deepest requested layer.

    ``forward`` returns a dict from canonical layer name to activation for the requested layers.
    """

    def __init__(
        self,
        arch: VGGArchitecture,
        state_dict: Mapping[str, torch.Tensor],
        layers: Iterable[str],
        *,
        pooling: str = "avg",
    ) -> None:
        super().__init__()
        if pooling not in ("avg", "max"):
            raise PainterlyError(f"unknown pooling {pooling!r}; use avg or max")
        self.arch = arch
        self.wanted = sorted({arch.resolve_layer(name) for name in layers}, key=arch.depth_of)
        if not self.wanted:
            raise PainterlyError("no layers requested from the network")
        deepest = arch.depth_of(self.wanted[-1])
        self.stages = nn.ModuleDict()  # canonical name -> module producing that tensor
        in_channels = 3
        for name in arch.layer_names()[: deepest + 1]:
            if name.startswith("relu"):
                out_channels = arch.channels[int(name[4]) - 1]
                conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
                self.stages[name] = nn.Sequential(conv, nn.ReLU(inplace=True))
                in_channels = out_channels
            elif pooling == "avg":
                self.stages[name] = nn.AvgPool2d(2, 2)
            else:
                self.stages[name] = nn.MaxPool2d(2, 2)
        self._load(state_dict)
        self.requires_grad_(False)
        self.eval()

    def _load(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        check_state_dict(state_dict, self.arch)
        with torch.no_grad():
            for name, stage in self.stages.items():
                if name.startswith("relu"):
                    conv = stage[0]
                    key = "conv" + name[len("relu") :]
                    conv.weight.copy_(state_dict[f"{key}.weight"])
                    conv.bias.copy_(state_dict[f"{key}.bias"])

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs: dict[str, torch.Tensor] = {}
        x = image
        last = self.wanted[-1]
        for name, stage in self.stages.items():
            x = stage(x)
            if name in self.wanted:
                outputs[name] = x
            if name == last:
                break
        return outputs
