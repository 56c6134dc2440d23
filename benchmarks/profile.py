"""``python -m benchmarks.profile``: where the time of one run goes, per objective evaluation.

One warm-up run of the same shapes (it compiles, with ``--set compile=...``), one timed run
without the profiler, then the same run under :mod:`torch.profiler` with CPU and CUDA activity.
Four parts of the loop are marked as profiler ranges by wrapping them for the profiled run only
(the library carries no profiling code):

- ``evaluation``: :func:`painterly.optimize._evaluate`, one forward + backward of the objective
  plus the bookkeeping below;
- ``record``: :meth:`painterly.optimize._Tracker.record`, the three losses copied to the host and
  the best image kept;
- ``line_search``: torch's strong-Wolfe search, which contains the evaluations it asks for;
- ``direction``: :func:`painterly.lbfgs._direction`, the two-loop recursion as matrix products.

Ranges nest (evaluations run inside the line search), so their times are inclusive. The summary
says, per evaluation: the wall time, the time kernels ran on the GPU (the sum of their
durations), how many kernels and graph launches the host issued, and how many times the host
waited for the device (``aten::_local_scalar_dense``: every ``float(tensor)``, ``.item()`` or
``if tensor``), then the kernels and host operators that took the most time.

    python -m benchmarks.profile --device cuda --weights vgg16-hed.safetensors \\
        --pair tubingen.jpg starry_night.jpg --size 512 --out profile.json [--set compile=reduce-overhead]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile, record_function

import painterly.lbfgs
import painterly.optimize
from benchmarks.cli import DEFAULT_PAIR, parse_overrides
from painterly import stylize

# Host-side CUDA runtime calls worth counting: launches and the calls that wait for the device.
RUNTIME_CALLS = (
    "cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx", "cudaGraphLaunch",
    "cudaMemcpyAsync", "cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize",
)  # fmt: skip
HOST_WAIT = "aten::_local_scalar_dense"


def _marked(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with record_function(name):
            return function(*args, **kwargs)

    return wrapper


# (owner, attribute, range name): what marked_ranges wraps.
MARKED: tuple[tuple[Any, str, str], ...] = (
    (painterly.optimize, "_evaluate", "evaluation"),
    (painterly.optimize._Tracker, "record", "record"),
    (painterly.lbfgs, "_strong_wolfe", "line_search"),
    (painterly.lbfgs, "_direction", "direction"),
)
RANGES = tuple(name for _, _, name in MARKED)


@contextlib.contextmanager
def marked_ranges() -> Iterator[None]:
    """The loop's four parts as profiler ranges, for the duration of the block."""
    saved = [getattr(owner, attribute) for owner, attribute, _ in MARKED]
    for (owner, attribute, name), function in zip(MARKED, saved, strict=True):
        setattr(owner, attribute, _marked(name, function))
    try:
        yield
    finally:
        for (owner, attribute, _), function in zip(MARKED, saved, strict=True):
            setattr(owner, attribute, function)


def _device_us(event: Any) -> float:
    """An averaged event's own time on the device in microseconds (torch renamed the attribute)."""
    for name in ("self_device_time_total", "self_cuda_time_total"):
        value = getattr(event, name, None)
        if value is not None:
            return float(value)
    return 0.0


def summarise(prof: Any, evaluations: int, wall_seconds: float, top: int) -> dict[str, Any]:
    """Per-evaluation figures and the top kernels and host operators of one profiled run."""
    averages = prof.key_averages()
    # A range is both a host event and a device annotation of the same name: keep the host's.
    by_name = {event.key: event for event in averages if event.device_type == torch.autograd.DeviceType.CPU}
    # Device events that are not ranges (our four, and torch.compile's "## Call CompiledFxGraph" ones).
    kernels = [
        event
        for event in prof.events()
        if event.device_type == torch.autograd.DeviceType.CUDA and not getattr(event, "is_user_annotation", False)
    ]
    kernel_us = sum(event.time_range.elapsed_us() for event in kernels)
    per = max(1, evaluations)
    ranges = {
        name: {"calls": by_name[name].count, "cpu_ms_per_evaluation": by_name[name].cpu_time_total / 1e3 / per}
        for name in RANGES
        if name in by_name
    }
    runtime = {name: by_name[name].count / per for name in RUNTIME_CALLS if name in by_name}
    device_ops = sorted((event for event in averages if event.key not in RANGES), key=_device_us, reverse=True)[:top]
    host_ops = sorted(averages, key=lambda event: event.self_cpu_time_total, reverse=True)[:top]
    return {
        "evaluations": evaluations,
        "profiled_wall_seconds": wall_seconds,
        "profiled_ms_per_evaluation": wall_seconds * 1e3 / per,
        "kernel_ms_per_evaluation": kernel_us / 1e3 / per,
        "kernels_per_evaluation": len(kernels) / per,
        "host_waits_per_evaluation": by_name[HOST_WAIT].count / per if HOST_WAIT in by_name else 0.0,
        "runtime_calls_per_evaluation": runtime,
        "ranges": ranges,
        "top_device": [
            {"name": event.key, "calls": event.count, "device_ms": _device_us(event) / 1e3} for event in device_ops
        ],
        "top_host": [
            {"name": event.key, "calls": event.count, "self_cpu_ms": event.self_cpu_time_total / 1e3}
            for event in host_ops
        ],
    }


def _run(arguments: argparse.Namespace, iterations: int) -> tuple[int, float]:
    chosen = dict(parse_overrides(arguments.set))
    chosen["weights" if arguments.weights else "model"] = arguments.weights or arguments.model
    started = time.perf_counter()
    result = stylize(
        arguments.pair[0], arguments.pair[1], size=arguments.size, iterations=iterations,
        device=arguments.device, **chosen,
    )  # fmt: skip
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return len(result.history), time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=512, metavar="PX")
    parser.add_argument("--iterations", type=int, default=500, metavar="N")
    parser.add_argument("--warmup", type=int, default=20, metavar="N")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--weights", metavar="FILE")
    parser.add_argument("--model", default="vgg16-hed")
    parser.add_argument("--pair", nargs=2, default=[str(path) for path in DEFAULT_PAIR], metavar=("CONTENT", "STYLE"))
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--out", required=True, metavar="FILE")
    arguments = parser.parse_args(argv)

    _run(arguments, arguments.warmup)
    evaluations, unprofiled = _run(arguments, arguments.iterations)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with marked_ranges(), profile(activities=activities) as prof:
        profiled_evaluations, profiled = _run(arguments, arguments.iterations)
    summary = summarise(prof, profiled_evaluations, profiled, arguments.top)
    summary.update(
        size=arguments.size, options=arguments.set, device=arguments.device, torch=torch.__version__,
        device_name=torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        unprofiled_seconds=unprofiled, unprofiled_evaluations=evaluations,
        unprofiled_ms_per_evaluation=unprofiled * 1e3 / max(1, evaluations),
    )  # fmt: skip
    Path(arguments.out).parent.mkdir(parents=True, exist_ok=True)
    Path(arguments.out).write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print(json.dumps({key: value for key, value in summary.items() if not key.startswith("top_")}, indent=1))
    for row in summary["top_device"]:
        print(f"device {row['device_ms']:10.1f} ms {row['calls']:7d}  {row['name'][:90]}")
    for row in summary["top_host"]:
        print(f"host   {row['self_cpu_ms']:10.1f} ms {row['calls']:7d}  {row['name'][:90]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
