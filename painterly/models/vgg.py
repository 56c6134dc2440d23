"""VGG feature extractors with named layers (no torchvision needed).

Layer names follow the paper: ``convX_Y`` is the *rectified* output of the Y-th convolution in
block X (Caffe ran the ReLU in place, so the paper's "conv4_2" is a rectified tensor).
``reluX_Y`` names the same tensor, and ``poolX`` is the output of block X's pooling layer.
Parameters are stored as ``convX_Y.weight`` / ``convX_Y.bias`` with shape (out, in, 3, 3).

With ``recompute`` on, :class:`VGGFeatures` runs each block (its convolutions, ReLUs and pooling)
under :func:`torch.utils.checkpoint.checkpoint`: autograd then keeps only each block's input
(the image, the pooling outputs) and the returned tensors the losses hold, and recomputes a
block's other activations during its backward pass. The activations and gradients are the same
(bit for bit on the CPU); an evaluation needs less memory and more time (measured in
docs/benchmarks/README.md, "Lower-memory path").
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

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


_CONV_KEY = re.compile(r"^conv(\d+)_(\d+)\.(weight|bias)$")
# How many missing keys an error message names before it says "and N more".
_SHOWN_KEYS = 6


def architecture_from_state_dict(state_dict: Mapping[str, torch.Tensor]) -> VGGArchitecture:
    """Infer the architecture from ``convX_Y.weight``/``.bias`` keys (any widths; five blocks at most).

    A block's convolution count is its highest index among weights *and* biases, so a layer with
    only one of the two is reported missing rather than silently dropped. A block's width is the
    out-channel count most of its tensors agree on, so one misshapen tensor is reported against
    the network the rest describe (VGG-16 or VGG-19 when they match), expected and found the right
    way round.

    Partial VGG files are not supported: a file with VGG's widths (64, 128, 256, 512, 512) whose
    layers are a strict subset of VGG-16's or VGG-19's (``conv5_3`` missing, say) is refused,
    naming the missing keys, rather than taken for a smaller custom network. Files with other
    widths (small test networks) describe custom architectures named ``vgg-customN``.
    """
    counts, widths = _conv_counts_and_widths(state_dict)
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
    _refuse_partial_vgg(state_dict, convs, channels)
    return VGGArchitecture(f"vgg-custom{sum(convs)}", convs, channels)


def _conv_counts_and_widths(state_dict: Mapping[str, torch.Tensor]) -> tuple[dict[int, int], dict[int, int]]:
    """Per block: the highest convolution index, and the out-channel count most tensors agree on."""
    counts: dict[int, int] = {}
    votes: dict[int, Counter[int]] = {}
    for key, tensor in state_dict.items():
        match = _CONV_KEY.match(key)
        if match is None or tensor.dim() == 0:
            continue
        block, index = int(match.group(1)), int(match.group(2))
        counts[block] = max(counts.get(block, 0), index)
        votes.setdefault(block, Counter())[int(tensor.shape[0])] += 1
    # most_common keeps first-seen order among ties: the earliest tensor of the block decides.
    return counts, {block: counter.most_common(1)[0][0] for block, counter in votes.items()}


def _refuse_partial_vgg(
    state_dict: Mapping[str, torch.Tensor], convs: tuple[int, ...], channels: tuple[int, ...]
) -> None:
    """Refuse a file that is VGG-16 or VGG-19 with layers missing, naming the missing keys."""
    for known in ARCHITECTURES.values():
        blocks = len(convs)
        if channels != known.channels[:blocks]:
            continue
        if all(count <= limit for count, limit in zip(convs, known.convs_per_block, strict=False)):
            missing = [key for key in known.parameter_shapes() if key not in state_dict]
            raise PainterlyError(
                f"the weights look like {known.name} but lack {_name_keys(missing)}; the file is incomplete "
                "(partial VGG files are not supported): use a complete VGG-16 or VGG-19 file"
            )


def _name_keys(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN_KEYS])
    return shown if len(keys) <= _SHOWN_KEYS else f"{shown} and {len(keys) - _SHOWN_KEYS} more"


def check_state_dict(state_dict: Mapping[str, torch.Tensor], arch: VGGArchitecture) -> None:
    """Raise a clear error when tensors are missing, misshapen or not finite.

    Missing keys are all named at once; a misshapen tensor is reported as found vs expected.
    """
    expected_shapes = arch.parameter_shapes()
    missing = [key for key in expected_shapes if key not in state_dict]
    if missing:
        raise PainterlyError(
            f"the weights lack {_name_keys(missing)} for {arch.name}; the file is incomplete or not VGG"
        )
    for key, shape in expected_shapes.items():
        tensor = state_dict[key]
        if tuple(tensor.shape) != shape:
            raise PainterlyError(
                f"weight {key} has shape {tuple(tensor.shape)} where {arch.name} expects {shape}; "
                "the file is for another network or damaged"
            )
        if not torch.isfinite(tensor).all():
            raise PainterlyError(f"weight {key} contains NaN or infinite values; the file is corrupt")


class EdgePad(nn.Module):
    """One pixel of padding before a 3x3 convolution, by reflection or replication of the edge.

    Zero padding (what the network was trained with) shows the network a dark frame around every
    picture. A map of 1 px on a side (conv5 of a 16 px picture) has nothing to reflect, so it is
    replicated there.
    """

    def __init__(self, mode: Literal["reflect", "replicate"]) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mode = self.mode if min(x.shape[-2:]) > 1 else "replicate"
        return nn.functional.pad(x, (1, 1, 1, 1), mode=mode)


def group_by_block(stages: Sequence[str]) -> list[list[str]]:
    """The stage names grouped by block, in forward order: convolutions + ReLUs, then the pooling."""
    grouped: dict[str, list[str]] = {}
    for name in stages:
        grouped.setdefault(name[4] if name.startswith("relu") else name[4:], []).append(name)
    return list(grouped.values())


class VGGFeatures(nn.Module):
    """A frozen VGG trunk, truncated after the deepest requested layer.

    ``forward`` returns a dict from canonical layer name to activation for the requested layers.
    ``recompute`` (an attribute, may be changed between calls) recomputes each block's activations
    in the backward pass instead of keeping them (see the module's docstring); it changes nothing
    when no gradient is recorded (``torch.no_grad``).
    """

    def __init__(
        self,
        arch: VGGArchitecture,
        state_dict: Mapping[str, torch.Tensor],
        layers: Iterable[str],
        *,
        pooling: str = "avg",
        padding: Literal["zeros", "reflect", "replicate"] = "zeros",
        recompute: bool = False,
    ) -> None:
        super().__init__()
        self.arch = arch
        self.recompute = recompute
        self.wanted = sorted({arch.resolve_layer(name) for name in layers}, key=arch.depth_of)
        if not self.wanted:
            raise PainterlyError("no layers requested from the network")
        deepest = arch.depth_of(self.wanted[-1])
        self.stages = nn.ModuleDict()  # canonical name -> module producing that tensor
        in_channels = 3
        for name in arch.layer_names()[: deepest + 1]:
            if name.startswith("relu"):
                out_channels = arch.channels[int(name[4]) - 1]
                if padding == "zeros":
                    conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
                    self.stages[name] = nn.Sequential(conv, nn.ReLU(inplace=True))
                else:
                    conv = nn.Conv2d(in_channels, out_channels, 3, padding=0)
                    self.stages[name] = nn.Sequential(EdgePad(padding), conv, nn.ReLU(inplace=True))
                in_channels = out_channels
            elif pooling == "avg":
                self.stages[name] = nn.AvgPool2d(2, 2)
            else:
                self.stages[name] = nn.MaxPool2d(2, 2)
        self.blocks = group_by_block(list(self.stages))
        self._load(state_dict)
        self.requires_grad_(False)
        self.eval()

    def _load(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        check_state_dict(state_dict, self.arch)
        with torch.no_grad():
            for name, stage in self.stages.items():
                if name.startswith("relu"):
                    assert isinstance(stage, nn.Sequential)
                    conv = stage[-2]
                    assert isinstance(conv, nn.Conv2d) and conv.bias is not None
                    key = "conv" + name[len("relu") :]
                    conv.weight.copy_(state_dict[f"{key}.weight"])
                    conv.bias.copy_(state_dict[f"{key}.bias"])

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs: dict[str, torch.Tensor] = {}
        x = image
        recompute = self.recompute and torch.is_grad_enabled()
        for names in self.blocks:
            if recompute:  # no random op in the network: no RNG state to restore
                x, kept = checkpoint(self._block, x, names, use_reentrant=False, preserve_rng_state=False)
            else:
                x, kept = self._block(x, names)
            outputs.update(kept)
        return outputs

    def _block(self, x: torch.Tensor, names: list[str]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One block's stages from its input ``x``: its output and the requested layers among them."""
        kept: dict[str, torch.Tensor] = {}
        for name in names:
            x = self.stages[name](x)
            if name in self.wanted:
                kept[name] = x
        return x, kept
