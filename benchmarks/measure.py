"""One measured run in its own process: what it does (:class:`RunSpec`) and what it measured
(:class:`Measurement`): timings, peak memory and the picture's losses.

:func:`spawn` starts ``python -m benchmarks --one SPEC --result FILE`` in a fresh process, which
calls :func:`run_one`; :func:`probe` does the same for :func:`device_facts` (the parent never
touches the GPU: a CUDA context there would take memory from the runs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from benchmarks.reference import (
    LossValues,
    build_objective,
    load_network_weights,
    objective_settings,
    reference_estimate,
    reference_stylize,
)
from painterly import stylize
from painterly.errors import PainterlyError
from painterly.image import image_size, load_image
from painterly.memory import RunShape, available_bytes, estimate_peak_bytes
from painterly.models.weights import LoadedWeights
from painterly.result import HistoryRecord, StylizeResult
from painterly.runtime import bf16_is_fast, resolve_runtime
from painterly.settings import Settings

REPO = Path(__file__).resolve().parents[1]

Kind = Literal["painterly", "reference"]


def plain(value: Any) -> Any:
    """JSON-friendly: dataclasses as dicts, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return json.loads(json.dumps(value))


@dataclass(frozen=True)
class RunSpec:
    """One measured run: painterly's :func:`~painterly.stylize` or the reference loop, at one size."""

    kind: Kind
    size: int  # long side in pixels
    device: str  # "cpu" or "cuda"
    iterations: int  # objective evaluations
    content: str  # photo (absolute path)
    style: str  # painting (absolute path)
    weights: str | None  # a local weights file, else `model`
    model: str
    precision: str = "auto"  # painterly: auto, bf16 or fp32; the reference: fp32
    warmup: int = 0  # evaluations of a warm-up run of the same shapes first
    overrides: Mapping[str, Any] = field(default_factory=dict)  # options from --set, parsed

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        return cls(**json.loads(text))


# Fields a measurement leaves out of its JSON when they are None (not every run has them).
_SOMETIMES = frozenset({
    "device", "device_name", "error", "stop_reason", "own_final_losses", "seconds_per_scale",
    "process_peak_rss_bytes", "final_losses_bf16_network", "reused_from", "final_scale_losses",
})  # fmt: skip
_LOSS_FIELDS = ("own_final_losses", "final_losses", "final_losses_bf16_network")


@dataclass(frozen=True)
class Measurement:
    """What one run measured; ``error`` set: it failed, and only ``kind``, ``size`` and ``device`` are known.

    The JSON (:meth:`to_json`) has the keys of the benchmark's earlier JSON (docs/benchmarks/).
    """

    kind: Kind
    size: int
    device: str | None = None
    device_name: str | None = None  # the GPU
    error: str | None = None
    precision: str | None = None  # as run: "bf16" or "fp32"
    runtime: str | None = None
    scales: tuple[tuple[int, int, int], ...] | None = None  # (height, width, evaluations), coarse to fine
    evaluations: int | None = None
    evaluations_final_scale: int | None = None
    stop_reason: str | None = None  # painterly's
    own_final_losses: LossValues | None = None  # painterly's own, in its precision
    seconds_per_scale: tuple[float, ...] | None = None  # painterly's, targets included
    height: int | None = None
    width: int | None = None
    seconds_end_to_end: float | None = None
    seconds_per_evaluation: float | None = None  # mean, at the final scale
    seconds_optimising: float | None = None
    peak_memory_bytes: int | None = None
    peak_memory_measure: str | None = None
    estimated_peak_bytes: int | None = None  # painterly.memory's estimate
    process_peak_rss_bytes: int | None = None  # CPU
    final_losses: LossValues | None = None  # the picture scored in float32
    final_losses_bf16_network: LossValues | None = None  # the same picture scored in bf16 (bf16 runs)
    reused_from: str | None = None  # the JSON of --reference-from
    # (seconds since the optimisation started, total loss as the optimiser saw it) at the final scale
    final_scale_losses: tuple[tuple[float, float], ...] | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = plain(self)
        if self.failed:
            known = ("kind", "size", "device", "device_name", "error")
            return {key: data[key] for key in known if data[key] is not None}
        keep_none = {"stop_reason"} if self.kind == "painterly" else set()
        return {
            key: value for key, value in data.items() if value is not None or key not in _SOMETIMES or key in keep_none
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Measurement:
        """A measurement from its JSON (unknown keys are ignored)."""
        known = {item.name for item in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        for key in _LOSS_FIELDS:
            if values.get(key) is not None:
                values[key] = LossValues.from_json(values[key])
        if values.get("scales") is not None:
            values["scales"] = tuple(tuple(scale) for scale in values["scales"])
        if values.get("seconds_per_scale") is not None:
            values["seconds_per_scale"] = tuple(values["seconds_per_scale"])
        if values.get("final_scale_losses") is not None:
            values["final_scale_losses"] = tuple(tuple(pair) for pair in values["final_scale_losses"])
        return cls(**values)


@dataclass(frozen=True)
class Machine:
    """The machine a benchmark ran on."""

    cpu: str
    cpu_count: int | None
    torch_threads: int
    torch: str
    python: str
    device: str
    bf16_native: bool
    load_average_1min: float | None = None
    gpu: str | None = None
    cuda: str | None = None
    painterly_commit: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in plain(self).items() if value is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Machine:
        known = {item.name for item in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass(frozen=True)
class DeviceFacts:
    """The machine, whether bf16 is native on the device, and the device's free memory."""

    machine: Machine
    bf16_native: bool
    free_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"machine": self.machine.to_json(), "bf16_native": self.bf16_native, "free_bytes": self.free_bytes}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeviceFacts:
        return cls(Machine.from_json(data["machine"]), bool(data["bf16_native"]), int(data["free_bytes"]))


# ---------------------------------------------------------------------------------------------
# The machine


def machine_description(device: str) -> Machine:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = None
    with contextlib.suppress(OSError, AttributeError):
        load = round(os.getloadavg()[0], 2)
    commit = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        described = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10
        )
        if described.returncode == 0:
            commit = described.stdout.strip()
    cuda = device == "cuda"
    return Machine(
        cpu=cpu,
        cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        torch=torch.__version__,
        python=platform.python_version(),
        device=device,
        bf16_native=bf16_is_fast(torch.device(device)),
        load_average_1min=load,
        gpu=torch.cuda.get_device_name() if cuda else None,
        cuda=torch.version.cuda if cuda else None,
        painterly_commit=commit,
    )


def device_facts(device: str) -> DeviceFacts:
    """The machine, whether bf16 is native and the free memory (run in a child when CUDA is used)."""
    return DeviceFacts(machine_description(device), bf16_is_fast(torch.device(device)), available_bytes(device))


# ---------------------------------------------------------------------------------------------
# One run, in this process


@dataclass(frozen=True)
class _Timed:
    image: torch.Tensor  # the final picture, (1, 3, H, W)
    stamps: tuple[float, ...]  # times of the final scale's evaluations
    result: StylizeResult | None  # painterly's; None for the reference
    totals: tuple[float, ...] = ()  # the total losses of those evaluations


def _rss(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def time_to_loss(run: Measurement, target: float) -> float | None:
    """Seconds into the optimisation at which ``run`` first reported a total loss <= ``target``
    at its final scale (None: never, or not recorded). The losses are the optimiser's own (for
    painterly: before the final clamp, in the run's precision); ``target`` is normally the
    reference's final total scored on its saved picture."""
    for seconds, total in run.final_scale_losses or ():
        if total <= target:
            return seconds
    return None


def mean_step(stamps: Sequence[float]) -> float | None:
    """The mean time between consecutive evaluations."""
    if len(stamps) < 2:
        return None
    return statistics.fmean(b - a for a, b in itertools.pairwise(stamps))


def seconds_per_scale(history: Sequence[HistoryRecord]) -> tuple[float, ...]:
    """Seconds spent at each scale (its targets included), from painterly's history."""
    ends: dict[int, float] = {}
    for record in history:
        ends[record.scale] = record.seconds
    marks = [0.0, *(ends[scale] for scale in sorted(ends))]
    return tuple(round(b - a, 3) for a, b in itertools.pairwise(marks))


def painterly_stylize(spec: RunSpec, iterations: int) -> StylizeResult:
    """painterly's normal run: :func:`painterly.stylize` with the spec's options."""
    chosen = dict(spec.overrides)
    if spec.weights:
        chosen["weights"] = spec.weights
    else:
        chosen["model"] = spec.model
    result: StylizeResult = stylize(
        spec.content, spec.style, size=spec.size, iterations=iterations, device=spec.device,
        precision=spec.precision, **chosen,
    )  # fmt: skip
    return result


def run_one(spec: RunSpec) -> Measurement:
    """Run one configuration here and return its measurements (called in a fresh process).

    Timed from the call with the two image paths to the final image, weights read included: for
    painterly, :func:`painterly.stylize`; for the reference, its weights, images and loop.
    """
    runtime = resolve_runtime(spec.device, spec.precision)
    device = runtime.device
    cuda = device.type == "cuda"
    base = Measurement(
        kind=spec.kind, size=spec.size, device=device.type,
        device_name=torch.cuda.get_device_name(device) if cuda else None,
    )  # fmt: skip

    def run(iterations: int) -> _Timed:
        if spec.kind == "reference":
            # Plain float32: no TF32 (painterly's runtime would turn it on for CUDA).
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cudnn.benchmark = False
            settings = objective_settings(spec.overrides, spec.size)
            weights = load_network_weights(spec.model, spec.weights, spec.overrides)
            done = reference_stylize(spec.content, spec.style, spec.size, weights, settings, iterations, device)
            return _Timed(done.image, done.seconds, None, tuple(losses.total for losses in done.losses))
        outcome = painterly_stylize(spec, iterations)
        final_scale = outcome.history[-1].scale if outcome.history else 0
        final = [record for record in outcome.history if record.scale == final_scale]
        stamps = tuple(record.seconds for record in final)
        return _Timed(outcome.image, stamps, outcome, tuple(record.total_loss for record in final))

    try:
        if spec.warmup:
            run(spec.warmup)
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.empty_cache()
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
            baseline = 0
        else:
            with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
                clear.write("5")  # restart the peak (VmHWM) from here, where Linux allows it
            baseline = _rss("VmRSS") or 0
        started = time.perf_counter()
        timed = run(spec.iterations)
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        if cuda:
            peak = torch.cuda.max_memory_allocated(device)
        else:
            peak = _rss("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    except PainterlyError as error:
        return dataclasses.replace(base, error=str(error))
    except torch.OutOfMemoryError:
        return dataclasses.replace(base, error="out of memory")

    settings = objective_settings(spec.overrides, spec.size)
    weights = load_network_weights(spec.model, spec.weights, spec.overrides)
    (height, width), outcome = image_size(timed.image), timed.result
    if outcome is not None:
        precision = str(outcome.settings["precision"])
        final_scale = outcome.history[-1].scale if outcome.history else 0
        shape = RunShape(
            weights.arch, settings.network.layers, precision,
            str(outcome.settings["optimizer"]), lbfgs_history=None,
            final_evaluations=outcome.settings["scales"][-1][2], content_layers=list(settings.network.content_layers),
            channels_last=runtime.channels_last, pooling=settings.network.pooling, device_type=device.type,
            style_scale=settings.inputs.style_scale, margin=int(outcome.settings["margin"]),
            recompute=outcome.settings.get("memory") == "low",
        )  # fmt: skip
        measured = dataclasses.replace(
            base,
            precision=precision,
            runtime=outcome.runtime,
            scales=tuple((int(h), int(w), int(n)) for h, w, n in outcome.settings["scales"]),
            evaluations=len(outcome.history),
            evaluations_final_scale=sum(1 for record in outcome.history if record.scale == final_scale),
            stop_reason=outcome.stop_reason,
            own_final_losses=LossValues.from_json(outcome.final_losses),
            seconds_per_scale=seconds_per_scale(outcome.history),
            estimated_peak_bytes=estimate_peak_bytes(shape, height, width),
        )
    else:
        precision = "fp32"
        measured = dataclasses.replace(
            base,
            precision="fp32",
            runtime=f"{device.type} fp32 (plain torch.optim.LBFGS)",
            scales=((height, width, spec.iterations),),
            evaluations=len(timed.stamps),
            evaluations_final_scale=len(timed.stamps),
            estimated_peak_bytes=reference_estimate(weights, settings, height, width, spec.iterations, device.type),
        )
    fp32, bf16 = score(spec, weights, settings, timed.image, device, bf16=precision == "bf16")
    return dataclasses.replace(
        measured,
        height=height,
        width=width,
        seconds_end_to_end=seconds,
        seconds_per_evaluation=mean_step(timed.stamps),
        seconds_optimising=timed.stamps[-1] if timed.stamps else None,
        peak_memory_bytes=peak - baseline,
        peak_memory_measure="torch.cuda.max_memory_allocated" if cuda else "growth of peak RSS over the run",
        process_peak_rss_bytes=None if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        final_losses=fp32,
        final_losses_bf16_network=bf16,
        final_scale_losses=tuple(zip(timed.stamps, timed.totals, strict=True)) if timed.totals else None,
    )


def score(
    spec: RunSpec,
    weights: LoadedWeights,
    settings: Settings,
    image: torch.Tensor,
    device: torch.device,
    *,
    bf16: bool = False,
) -> tuple[LossValues, LossValues | None]:
    """The saved picture's losses: the image rounded to 8 bits as in the PNG, one float32 forward pass
    at its size with the same network, no TF32; ``bf16``: also the same picture scored by the
    network in bf16 (the loss's own bf16 error)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    photo, painting = load_image(spec.content), load_image(spec.style)
    size = (int(image.shape[-2]), int(image.shape[-1]))
    found: list[LossValues] = []
    for precision in ("fp32", "bf16") if bf16 else ("fp32",):
        objective = build_objective(weights, settings, photo, painting, size, device, precision)
        with torch.no_grad():
            saved = (image.to(device).float().clamp(0, 1) * 255).round() / 255
            found.append(LossValues.from_terms(objective(saved)))
    return found[0], found[1] if bf16 else None


# ---------------------------------------------------------------------------------------------
# In a fresh process


def _child(arguments: Sequence[str], kind: str) -> tuple[dict[str, Any] | None, str]:
    """Run ``python -m benchmarks ARGUMENTS --result FILE``: (the JSON it wrote, or None; its last line)."""
    with tempfile.TemporaryDirectory(prefix="painterly-benchmark-") as folder:
        out = Path(folder) / "result.json"
        command = [sys.executable, "-m", "benchmarks", *arguments, "--result", str(out)]
        completed = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if completed.returncode != 0 or not out.exists():
            sys.stderr.write(completed.stdout[-3000:])
            tail = completed.stdout.strip().splitlines()[-1:] or [f"{kind}: exit status {completed.returncode}"]
            return None, tail[0]
        return json.loads(out.read_text(encoding="utf-8")), ""


def spawn(spec: RunSpec) -> Measurement:
    """Run one configuration in a fresh Python process and return its measurement."""
    data, error = _child(["--one", spec.to_json()], spec.kind)
    if data is None:
        return Measurement(kind=spec.kind, size=spec.size, device=spec.device, error=error)
    return Measurement.from_json(data)


def probe(device: str) -> DeviceFacts | str:
    """:func:`device_facts` in a fresh process, or why it failed."""
    data, error = _child(["--probe", device], "probe")
    return error if data is None else DeviceFacts.from_json(data)


__all__ = [
    "DeviceFacts",
    "Machine",
    "Measurement",
    "RunSpec",
    "device_facts",
    "machine_description",
    "mean_step",
    "painterly_stylize",
    "plain",
    "probe",
    "run_one",
    "score",
    "seconds_per_scale",
    "spawn",
]
