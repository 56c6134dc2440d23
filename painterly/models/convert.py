"""Conversion of foreign weight layouts to painterly's canonical ``convX_Y.weight`` names.

Two layouts are understood: PyTorch state dicts with torchvision's ``features.N.*`` keys (or
already canonical keys), and the Keras HDF5 file of the HED edge detector.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import h5py
import torch

from painterly.errors import PainterlyError
from painterly.models import files

_CANONICAL_KEY = re.compile(r"^conv(\d+)_(\d+)\.(weight|bias)$")
_FEATURES_KEY = re.compile(r"^(?:module\.)?features\.(\d+)\.(weight|bias|running_mean)$")
_KERAS_CONV = re.compile(r"^conv2d(?:_(\d+))?$")


def to_canonical(raw: Mapping[str, object], *, what: str) -> dict[str, torch.Tensor]:
    """Canonical float32 CPU tensors from a state dict with canonical or torchvision keys.

    Other keys (torchvision's ``classifier.*``, HED's side outputs) are dropped. ``what`` names
    the file in error messages.
    """
    tensors = {key: value for key, value in raw.items() if isinstance(value, torch.Tensor)}
    canonical = {key: value for key, value in tensors.items() if _CANONICAL_KEY.match(key)}
    if not canonical:
        features = {key: value for key, value in tensors.items() if _FEATURES_KEY.match(key)}
        if not features:
            raise PainterlyError(
                f"{what} holds no VGG convolution weights "
                "(expected keys like conv1_1.weight or torchvision's features.0.weight)"
            )
        canonical = _from_torchvision(features, what=what)
    return {key: value.detach().to("cpu", torch.float32).contiguous() for key, value in canonical.items()}


def _from_torchvision(features: Mapping[str, torch.Tensor], *, what: str) -> dict[str, torch.Tensor]:
    """Map ``features.N`` to ``convX_Y`` by the order of N.

    torchvision's VGG ``features`` is conv, ReLU, [conv, ReLU, ...] max-pool per block, so two
    consecutive convolutions are 2 indices apart within a block and 3 apart across a pool.
    """
    if any(key.endswith(".running_mean") for key in features):
        raise PainterlyError(f"{what} is a batch-normalised VGG (vgg*_bn); use a plain VGG-16 or VGG-19")
    prefix = "module.features." if any(key.startswith("module.") for key in features) else "features."
    indices = sorted(
        {
            int(key[len(prefix) :].split(".")[0])
            for key, value in features.items()
            if key.endswith(".weight") and value.dim() == 4
        }
    )
    result: dict[str, torch.Tensor] = {}
    block, conv = 1, 0
    for position, index in enumerate(indices):
        if position > 0:
            gap = index - indices[position - 1]
            if gap == 3:
                block, conv = block + 1, 0
            elif gap != 2:
                raise PainterlyError(
                    f"{what} has convolutions at features.{indices[position - 1]} and features.{index}, "
                    "which is not torchvision's VGG layout (conv, ReLU and max-pool layers)"
                )
        conv += 1
        for kind in ("weight", "bias"):
            key = f"{prefix}{index}.{kind}"
            if key not in features:
                raise PainterlyError(f"{what} lacks {key}; the file is incomplete")
            result[f"conv{block}_{conv}.{kind}"] = features[key]
    return result


def hed_state_dict(h5_file: str | Path | BinaryIO) -> dict[str, torch.Tensor]:
    """The VGG-16 trunk of HED's Keras weights: ``block{B}/layers/conv2d{,_1,_2}/vars/{0,1}``.

    Keras stores kernels as (kh, kw, in, out); PyTorch wants (out, in, kh, kw). Both frameworks
    compute a cross-correlation, so the kernel is transposed, not flipped.
    """
    state_dict: dict[str, torch.Tensor] = {}
    try:
        with h5py.File(h5_file, "r") as h5:
            block = 1
            while f"block{block}" in h5:
                layers = h5[f"block{block}/layers"]
                convs = sorted(
                    (int(match.group(1) or 0), name) for name in layers if (match := _KERAS_CONV.match(name))
                )
                for position, (_, name) in enumerate(convs, start=1):
                    kernel = torch.from_numpy(layers[name]["vars"]["0"][()])
                    bias = torch.from_numpy(layers[name]["vars"]["1"][()])
                    state_dict[f"conv{block}_{position}.weight"] = kernel.permute(3, 2, 0, 1).float().contiguous()
                    state_dict[f"conv{block}_{position}.bias"] = bias.float().contiguous()
                block += 1
    except (OSError, KeyError, ValueError, TypeError) as error:
        raise PainterlyError(f"the HED weights file does not have the expected Keras layout ({error})") from None
    if not state_dict:
        raise PainterlyError("the HED weights file holds no block1 ... block5 convolutions")
    return state_dict


FILE_FORMATS = ("torch", "keras-hed-h5")


def convert_file(file_format: str, file: Path | BinaryIO, *, what: str) -> dict[str, torch.Tensor]:
    """Canonical tensors from a fetched file in ``file_format`` (one of :data:`FILE_FORMATS`)."""
    if file_format == "torch":
        if not isinstance(file, Path):
            raise TypeError("PyTorch weights are read from a path")
        return to_canonical(files.read_torch(file, label=what), what=what)
    if file_format == "keras-hed-h5":
        return hed_state_dict(file)
    raise ValueError(f"unknown weights file format {file_format!r}")
