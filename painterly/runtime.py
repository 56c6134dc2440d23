"""Where and how the network runs: device choice, precision and memory layout."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from painterly.errors import PainterlyError


@dataclass(frozen=True)
class Runtime:
    """A resolved device and precision; `autocast()` wraps the network's forward pass only."""

    device: torch.device
    precision: str  # "fp32" or "bf16"
    channels_last: bool

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def describe(self) -> str:
        layout = ", channels_last" if self.channels_last else ""
        return f"{self.device.type} {self.precision}{layout}"


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA, else MPS, else the CPU), ``cpu``, ``cuda`` or ``mps`` (names checked by the options)."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise PainterlyError("--device cuda was asked for but PyTorch sees no CUDA GPU; use --device cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise PainterlyError("--device mps was asked for but this PyTorch has no MPS support; use --device cpu")
    return torch.device(name)


def bf16_is_fast(device: torch.device) -> bool:
    """bf16 pays where the hardware computes it natively: CUDA GPUs with bf16, CPUs with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = torch.cpu
        return bool(
            getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
            or getattr(cpu, "_is_amx_tile_supported", lambda: False)()
        )
    return False


def resolve_runtime(device: str, precision: str) -> Runtime:
    """The device and precision a run uses (``precision`` auto: bf16 where it is fast, else fp32)."""
    resolved = resolve_device(device)
    if precision == "auto":
        precision = "bf16" if bf16_is_fast(resolved) else "fp32"
    elif precision == "bf16" and resolved.type == "mps":
        raise PainterlyError("bf16 is not supported on MPS here; use --precision fp32")
    if resolved.type == "cuda":
        # TF32 matmuls/convolutions for the fp32 parts; the losses are accumulated in fp32 anyway.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    return Runtime(resolved, precision, channels_last=resolved.type in ("cpu", "cuda"))
