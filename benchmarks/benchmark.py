"""Time painterly against a plain reference loop and compare the pictures' losses.

    python benchmarks/benchmark.py            # CPU: 256 to 1024 px (reference to 512); GPU: 256 to 4096 px
    python benchmarks/benchmark.py --quick    # 256 px, 50 evaluations: a smoke run of a minute or two

For every size it runs, each in a fresh process (so that peak memory is per run):

- **painterly** with its defaults (coarse-to-fine scales, automatic precision, channels_last, ...);
- **reference**, the classic way: one scale, float32, no channels_last, plain
  ``torch.optim.LBFGS`` with a strong-Wolfe line search, the same network, layers, weights and
  objective (painterly's own :class:`~painterly.losses.StyleObjective`) and the same budget of
  objective evaluations; it keeps its lowest-loss image, as painterly does.

Both final pictures are then scored the same way: one more forward pass at the final size, with
the same network in float32 (no TF32), gives the content and style losses in the table. Also:
painterly with ``--precision bf16`` against ``fp32`` at one size, to show what bf16 costs in loss.

Timing: "s/eval" is the mean time between consecutive evaluations at the final scale; "end to
end" runs from the call with the two image paths (weights read from disk included) to the final
image. On a GPU every run is preceded by a short warm-up run of the same shapes in the same
process (cuDNN autotuning, torch.compile), and peak memory is ``torch.cuda.max_memory_allocated``
after it; on the CPU peak memory is the growth of the process's peak resident set size over the
run. Results go to a table on stdout and to JSON (``--out``).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import itertools
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED_IMAGES = REPO.parent / "shared" / "images"
DEFAULT_PAIR = (SHARED_IMAGES / "tubingen.jpg", SHARED_IMAGES / "starry_night.jpg")
CPU_SIZES = (256, 512, 1024)
GPU_SIZES = (256, 512, 1024, 2048, 4096)
# The plain reference at 1024 px takes hours on a small CPU; at 4096 px minutes and ~75 GB on a GPU.
CPU_REFERENCE_LIMIT = 512
GPU_REFERENCE_LIMIT = 2048
GPU_WARMUP_ITERATIONS = 20
PRECISION_TOLERANCE_PERCENT = 2.0
# Options of stylize() that change the objective: the reference follows them when given with --set.
OBJECTIVE_OPTIONS = (
    "content_layers", "style_layers", "style_layer_weights", "content_weight", "style_weight",
    "learning_rate", "style_scale", "pooling",
)  # fmt: skip
REFERENCE_HISTORY = 100  # torch.optim.LBFGS's default
# Options of stylize() the benchmark chooses itself (--sizes, --iterations, --device, --weights/--model).
RESERVED_OPTIONS = ("content", "style", "size", "iterations", "device", "precision", "weights", "model")


# ---------------------------------------------------------------------------------------------
# One run, in its own process


def objective_settings(overrides: dict[str, Any]) -> dict[str, Any]:
    """The objective of painterly's defaults (read from stylize's signature), with --set overrides."""
    from painterly.api import DEFAULT_LEARNING_RATES, stylize

    defaults = {name: parameter.default for name, parameter in inspect.signature(stylize).parameters.items()}
    settings = {name: defaults[name] for name in OBJECTIVE_OPTIONS}
    settings.update({name: value for name, value in overrides.items() if name in OBJECTIVE_OPTIONS})
    if settings["learning_rate"] is None:
        settings["learning_rate"] = DEFAULT_LEARNING_RATES["lbfgs"]
    return settings


def load_network(spec: dict[str, Any]) -> Any:
    from painterly.models.weights import load_source, load_weights_file

    if spec.get("weights"):
        return load_weights_file(spec["weights"])
    return load_source(spec["model"])


def fp32_objective(
    loaded: Any, settings: dict[str, Any], content: Any, style: Any, height: int, width: int, device: Any,
    *, bf16: bool = False,
) -> Callable[[Any], Any]:  # fmt: skip
    """Painterly's objective at one size (as its api builds it for one painting, no masks), in float32.

    The network runs in float32 without channels_last or autocast (``bf16``: under bf16 autocast,
    to measure what bf16 changes in the loss of one image); the targets are the photo's
    activations and the painting's Gram matrices per position, times the output's positions.
    """
    import torch

    from painterly.image import fit_long_side, image_size, resize
    from painterly.losses import StyleObjective
    from painterly.models.vgg import VGGFeatures
    from painterly.styles import gram_per_position, style_targets

    arch = loaded.arch
    content_names = [arch.resolve_layer(name) for name in settings["content_layers"]]
    style_names = [arch.resolve_layer(name) for name in settings["style_layers"]]
    given = settings["style_layer_weights"]
    layer_weights = (
        {name: 1.0 / len(style_names) for name in style_names}
        if given is None
        else dict(zip(style_names, (float(w) for w in given), strict=True))
    )
    encoder = VGGFeatures(arch, loaded.state_dict, [*content_names, *style_names], pooling=settings["pooling"])
    encoder = encoder.to(device)

    def network(image: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            return encoder(loaded.preprocessing(image))

    with torch.no_grad():
        photo_features = network(resize(content, (height, width)).to(device))
        painting_side = max(8, round(settings["style_scale"] * max(height, width)))
        painting = resize(style, fit_long_side(*image_size(style), painting_side)).to(device)
        painting_features = network(painting)
        grams = {name: gram_per_position(painting_features[name]) for name in style_names}
        del painting_features
        targets, _ = style_targets([grams], [1.0], photo_features, None, style_names)
        objective = StyleObjective(
            content_targets={name: photo_features[name].float() for name in content_names},
            style_targets=targets,
            style_layer_weights=layer_weights,
            content_weight=settings["content_weight"],
            style_weight=settings["style_weight"],
        )
        del photo_features
    return lambda image: objective(network(image))


class _BudgetSpent(Exception):
    pass


def reference_stylize(spec: dict[str, Any], iterations: int, device: Any) -> tuple[Any, list[float], int, int]:
    """The classic loop: one scale, float32, torch.optim.LBFGS with strong-Wolfe, `iterations` evaluations.

    Returns the lowest-loss image (on the CPU, clamped to 0..1), the time of every evaluation
    (seconds since the optimisation started) and the image's height and width.
    """
    import torch

    from painterly.image import fit_long_side, image_size, load_image, resize

    settings = objective_settings(spec["overrides"])
    loaded = load_network(spec)
    content, style = load_image(spec["content"]), load_image(spec["style"])
    height, width = fit_long_side(*image_size(content), spec["size"])
    objective = fp32_objective(loaded, settings, content, style, height, width, device)
    image = resize(content, (height, width)).to(device).requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [image],
        lr=settings["learning_rate"],
        max_iter=iterations,
        max_eval=2 * iterations,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        history_size=REFERENCE_HISTORY,
        line_search_fn="strong_wolfe",
    )
    stamps: list[float] = []
    optimising_started = time.perf_counter()
    best: list[Any] = [math.inf, None]

    def closure() -> torch.Tensor:
        if len(stamps) >= iterations:
            raise _BudgetSpent
        optimizer.zero_grad()
        terms = objective(image)
        terms.total.backward()
        loss = float(terms.total)
        stamps.append(time.perf_counter() - optimising_started)
        if loss < best[0]:
            best[:] = [loss, image.detach().clone()]
        return terms.total

    with contextlib.suppress(_BudgetSpent):
        while len(stamps) < iterations:
            before = len(stamps)
            optimizer.step(closure)
            if len(stamps) == before:
                break
    final = best[1] if best[1] is not None else image.detach()
    return final.clamp(0, 1).cpu(), stamps, height, width


def painterly_stylize(spec: dict[str, Any], iterations: int, device: str) -> Any:
    from painterly.api import stylize

    options = dict(spec["overrides"])
    if spec.get("weights"):
        options["weights"] = spec["weights"]
    else:
        options["model"] = spec["model"]
    return stylize(
        spec["content"], spec["style"], size=spec["size"], iterations=iterations, device=device,
        precision=spec["precision"], **options,
    )  # fmt: skip


def _rss(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _mean_step(stamps: Sequence[float]) -> float | None:
    if len(stamps) < 2:
        return None
    return statistics.fmean(b - a for a, b in itertools.pairwise(stamps))


def _seconds_per_scale(history: Sequence[Any]) -> list[float]:
    """Seconds spent at each scale (its targets included), from painterly's history."""
    ends: dict[int, float] = {}
    for record in history:
        ends[record.scale] = record.seconds
    marks = [0.0, *(ends[scale] for scale in sorted(ends))]
    return [round(b - a, 3) for a, b in itertools.pairwise(marks)]


def device_facts(device: str) -> dict[str, Any]:
    """The machine, whether bf16 is native, and the free memory (run in a child when CUDA is used)."""
    import torch

    from painterly.memory import available_bytes
    from painterly.runtime import bf16_is_fast

    return {
        "machine": machine_description(device),
        "bf16_native": bf16_is_fast(torch.device(device)),
        "free_bytes": available_bytes(device),
    }


def run_one(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one configuration here and return its measurements (called in a fresh process)."""
    import torch

    if spec["kind"] == "probe":
        return device_facts(spec["device"])

    # Import everything before the measurements start, so that loading code counts in neither.
    import painterly.api
    import painterly.styles  # noqa: F401
    from painterly.errors import PainterlyError
    from painterly.memory import RunShape, estimate_peak_bytes
    from painterly.runtime import resolve_runtime

    runtime = resolve_runtime(spec["device"], spec.get("precision") or "fp32")
    device = runtime.device
    cuda = device.type == "cuda"
    kind = spec["kind"]
    result: dict[str, Any] = {"kind": kind, "size": spec["size"], "device": device.type}
    if cuda:
        result["device_name"] = torch.cuda.get_device_name(device)

    def run(iterations: int) -> tuple[Any, list[float], int, int, Any]:
        """(image, times of the final scale's evaluations, height, width, painterly's result or None)."""
        if kind == "reference":
            # Plain float32: no TF32 (painterly's runtime would turn it on for CUDA).
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cudnn.benchmark = False
            image, stamps, height, width = reference_stylize(spec, iterations, device)
            return image, stamps, height, width, None
        outcome = painterly_stylize(spec, iterations, spec["device"])
        final_scale = outcome.history[-1].scale if outcome.history else 0
        stamps = [record.seconds for record in outcome.history if record.scale == final_scale]
        height, width = outcome.image.shape[-2:]
        return outcome.image, stamps, int(height), int(width), outcome

    try:
        if spec.get("warmup"):
            run(spec["warmup"])
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.empty_cache()
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
            baseline = torch.cuda.memory_allocated(device)
        else:
            with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
                clear.write("5")  # restart the peak (VmHWM) from here, where Linux allows it
            baseline = _rss("VmRSS") or 0
        started = time.perf_counter()
        image, stamps, height, width, outcome = run(spec["iterations"])
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        if cuda:
            peak = torch.cuda.max_memory_allocated(device)
        else:
            peak = _rss("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    except PainterlyError as error:
        return {**result, "error": str(error)}
    except torch.OutOfMemoryError:
        return {**result, "error": "out of memory"}

    settings = objective_settings(spec["overrides"])
    loaded = load_network(spec)
    if outcome is not None:
        precision, channels_last = outcome.settings["precision"], runtime.channels_last
        final_evaluations = outcome.settings["scales"][-1][2]
        result.update(
            precision=precision,
            runtime=outcome.runtime,
            scales=outcome.settings["scales"],
            evaluations=len(outcome.history),
            evaluations_final_scale=sum(1 for r in outcome.history if r.scale == outcome.history[-1].scale),
            stop_reason=outcome.stop_reason,
            own_final_losses=outcome.final_losses,
            seconds_per_scale=_seconds_per_scale(outcome.history),
        )
        history = None  # painterly's own rule
    else:
        precision, channels_last = "fp32", False
        result.update(
            precision="fp32", runtime=f"{device.type} fp32 (plain torch.optim.LBFGS)",
            scales=[[height, width, spec["iterations"]]], evaluations=len(stamps), evaluations_final_scale=len(stamps),
        )  # fmt: skip
        history, final_evaluations = REFERENCE_HISTORY, spec["iterations"]
    layers = [*settings["content_layers"], *settings["style_layers"]]
    optimizer = spec["overrides"].get("optimizer", "lbfgs") if kind == "painterly" else "lbfgs"
    shape = RunShape(
        loaded.arch, layers, precision, optimizer, lbfgs_history=history, final_evaluations=final_evaluations,
        content_layers=settings["content_layers"], channels_last=channels_last, pooling=settings["pooling"],
        device_type=device.type, style_scale=settings["style_scale"],
    )  # fmt: skip
    estimate = estimate_peak_bytes(shape, height, width)
    result.update(
        height=height,
        width=width,
        seconds_end_to_end=seconds,
        seconds_per_evaluation=_mean_step(stamps),
        seconds_optimising=stamps[-1] if stamps else None,
        peak_memory_bytes=peak - (baseline if not cuda else 0),
        peak_memory_measure="torch.cuda.max_memory_allocated" if cuda else "growth of peak RSS over the run",
        estimated_peak_bytes=estimate,
    )
    if not cuda:
        result["process_peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    # Score the picture: one float32 forward pass at the final size with the same network.
    from painterly.image import load_image

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    content, style = load_image(spec["content"]), load_image(spec["style"])
    objective = fp32_objective(loaded, settings, content, style, height, width, device)
    with torch.no_grad():
        terms = objective(image.to(device).float())
    result["final_losses"] = {"content": float(terms.content), "style": float(terms.style), "total": float(terms.total)}
    if precision == "bf16":  # the same image, scored by the network in bf16: the loss's own bf16 error
        objective = fp32_objective(loaded, settings, content, style, height, width, device, bf16=True)
        with torch.no_grad():
            terms = objective(image.to(device).float())
        result["final_losses_bf16_network"] = {
            "content": float(terms.content), "style": float(terms.style), "total": float(terms.total),
        }  # fmt: skip
    return result


# ---------------------------------------------------------------------------------------------
# The whole benchmark


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/benchmark.py",
        description="Time painterly against a plain single-scale float32 L-BFGS loop; print a table, write JSON.",
    )
    parser.add_argument("--sizes", type=int, nargs="+", metavar="PX", help=f"long sides (CPU default: {CPU_SIZES})")
    parser.add_argument(
        "--gpu-sizes", type=int, nargs="+", metavar="PX", default=list(GPU_SIZES),
        help=f"long sides when running on CUDA and --sizes is not given (default: {GPU_SIZES})",
    )  # fmt: skip
    parser.add_argument("--iterations", type=int, default=500, metavar="N", help="objective evaluations per run")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where to run")
    parser.add_argument(
        "--skip-reference-above", type=int, metavar="PX",
        help=f"run the reference only up to this size (default: CPU {CPU_REFERENCE_LIMIT}, GPU {GPU_REFERENCE_LIMIT})",
    )  # fmt: skip
    parser.add_argument("--out", default="benchmark-results/benchmark.json", metavar="FILE", help="the JSON to write")
    parser.add_argument(
        "--pair", nargs=2, metavar=("CONTENT", "STYLE"),
        help="photo and painting (default: tubingen.jpg and starry_night.jpg in ../shared/images)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="a smoke run: 50 evaluations at 256 px")
    parser.add_argument("--weights", metavar="FILE", help="a local VGG .safetensors/.pth (e.g. a copy of the cache)")
    parser.add_argument("--model", default="vgg16-hed", metavar="NAME", help="named weights, without --weights")
    parser.add_argument(
        "--precision-check-size", type=int, metavar="PX",
        help="size of the bf16-vs-fp32 comparison (default: the smallest size; 0: skip it)",
    )  # fmt: skip
    parser.add_argument(
        "--warmup", type=int, metavar="N",
        help=f"evaluations of a warm-up run before each timed run (default: GPU {GPU_WARMUP_ITERATIONS}, CPU 0)",
    )  # fmt: skip
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
        help="an extra stylize() option for painterly (JSON value, e.g. compile='\"reduce-overhead\"' or "
        "style_weight=1e3); the reference follows the objective's options",
    )  # fmt: skip
    parser.add_argument(
        "--reference-from", metavar="FILE",
        help="reuse the reference runs of an earlier JSON made with the same pair, budget, weights, objective "
        "and device (the reference takes a quarter of an hour at 512 px on a small CPU)",
    )  # fmt: skip
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one configuration (a JSON spec)
    parser.add_argument("--result", help=argparse.SUPPRESS)  # internal: where --one writes its result
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.iterations = 50
        arguments.sizes = arguments.sizes or [256]
    return arguments


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for item in items:
        key, separator, text = item.partition("=")
        if not separator or not key:
            raise SystemExit(f"benchmark: --set needs KEY=VALUE, got {item!r}")
        key = key.replace("-", "_")
        if key in RESERVED_OPTIONS:
            raise SystemExit(f"benchmark: --set {key} is not allowed; the benchmark sets {key} itself")
        try:
            overrides[key] = json.loads(text)
        except json.JSONDecodeError:
            overrides[key] = text
    return overrides


def machine_description(device: str) -> dict[str, Any]:
    import torch

    from painterly.runtime import bf16_is_fast

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    described = {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": device,
        "bf16_native": bf16_is_fast(torch.device(device)),
    }
    with contextlib.suppress(OSError, AttributeError):
        described["load_average_1min"] = round(os.getloadavg()[0], 2)
    if device == "cuda":
        described["gpu"] = torch.cuda.get_device_name()
        described["cuda"] = torch.version.cuda
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10
        )
        if commit.returncode == 0:
            described["painterly_commit"] = commit.stdout.strip()
    return described


def spawn(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one configuration in a fresh Python process and return its result."""
    with tempfile.TemporaryDirectory(prefix="painterly-benchmark-") as folder:
        out = Path(folder) / "result.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--one", json.dumps(spec), "--result", str(out)]
        completed = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if completed.returncode != 0 or not out.exists():
            sys.stderr.write(completed.stdout[-3000:])
            tail = completed.stdout.strip().splitlines()[-1:] or [f"exit status {completed.returncode}"]
            return {"kind": spec["kind"], "size": spec["size"], "error": tail[0]}
        return json.loads(out.read_text(encoding="utf-8"))


def ratios(ours: dict[str, Any], reference: dict[str, Any]) -> dict[str, float | None]:
    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    return {
        "seconds_per_evaluation": ratio(ours.get("seconds_per_evaluation"), reference.get("seconds_per_evaluation")),
        "seconds_end_to_end": ratio(ours.get("seconds_end_to_end"), reference.get("seconds_end_to_end")),
        "peak_memory": ratio(ours.get("peak_memory_bytes"), reference.get("peak_memory_bytes")),
        **{
            f"{term}_loss": ratio(ours["final_losses"][term], reference["final_losses"][term])
            for term in ("content", "style", "total")
        },
    }


def precision_check(bf16: dict[str, Any], fp32: dict[str, Any]) -> dict[str, Any]:
    """Percent difference of the bf16 run's final losses from the fp32 run's (both scored in float32).

    Two runs in different precisions follow different paths, so this mixes bf16's rounding with
    the optimiser's sensitivity to it; ``same_image_percent_difference`` isolates the first: the
    bf16 run's picture scored by the network in bf16 against float32.
    """
    if "error" in bf16 or "error" in fp32:
        return {"size": fp32["size"], "error": bf16.get("error") or fp32.get("error")}

    def percent_of(ours: dict[str, float], base: dict[str, float]) -> dict[str, float]:
        return {term: 100.0 * (ours[term] - base[term]) / base[term] for term in ("content", "style", "total")}

    percent = percent_of(bf16["final_losses"], fp32["final_losses"])
    same_image = None
    if bf16.get("final_losses_bf16_network"):
        same_image = percent_of(bf16["final_losses_bf16_network"], bf16["final_losses"])
    return {
        "size": fp32["size"],
        "bf16_final_losses": bf16["final_losses"],
        "fp32_final_losses": fp32["final_losses"],
        "percent_difference": percent,
        "tolerance_percent": PRECISION_TOLERANCE_PERCENT,
        "within_tolerance": all(abs(value) <= PRECISION_TOLERANCE_PERCENT for value in percent.values()),
        "same_image_percent_difference": same_image,
        "bf16_seconds_per_evaluation": bf16.get("seconds_per_evaluation"),
        "fp32_seconds_per_evaluation": fp32.get("seconds_per_evaluation"),
    }


def _number(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:.3e}"


def _megabytes(value: int | None) -> str:
    return "-" if value is None else f"{value / 1e6:.0f}"


def format_table(report: dict[str, Any]) -> str:
    """The runs and their ratios as a plain-text table."""
    header = ("size", "run", "precision", "s/eval", "end to end s", "peak MB", "est. MB", "content loss", "style loss")
    rows: list[tuple[str, ...]] = []  # 9 columns, or 3 (size, run, a message)
    for entry in report["sizes"]:
        size = str(entry["size"])
        for run in (entry.get("painterly"), entry.get("reference")):
            if run is None:
                continue
            if "error" in run:
                rows.append((size, run["kind"], f"failed: {run['error']}"))
                continue
            rows.append((
                size, run["kind"], run.get("precision", "-"), _number(run["seconds_per_evaluation"]),
                _number(run["seconds_end_to_end"]), _megabytes(run["peak_memory_bytes"]),
                _megabytes(run.get("estimated_peak_bytes")), _number(run["final_losses"]["content"], 4),
                _number(run["final_losses"]["style"], 4),
            ))  # fmt: skip
        if entry.get("ratios"):
            r = entry["ratios"]
            rows.append((
                size, "ratio p/r", "", _number(r["seconds_per_evaluation"]), _number(r["seconds_end_to_end"]),
                _number(r["peak_memory"]), "", _number(r["content_loss"]), _number(r["style_loss"]),
            ))  # fmt: skip
        elif entry.get("reference_skipped"):
            rows.append((size, "reference", f"skipped: {entry['reference_skipped']}"))
    full = [row for row in rows if len(row) == len(header)]
    widths = [max([len(header[i]), *(len(row[i]) for row in full)]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(text.ljust(width) for text, width in zip(cells, widths, strict=False)).rstrip()

    lines = [line(header)]
    for row in rows:
        lines.append(line(row) if len(row) == len(header) else line(row[:2]) + "  " + row[2])
    references = [entry.get("reference", {}) for entry in report["sizes"]]
    reused = sorted({run["reused_from"] for run in references if run.get("reused_from")})
    if reused:
        lines.append(f"reference runs reused from {', '.join(reused)} (--reference-from)")
    check = report.get("precision_check")
    if check:
        if "error" in check:
            lines.append(f"bf16 vs fp32 at {check['size']} px: {check['error']}")
        else:
            p = check["percent_difference"]
            verdict = "yes" if check["within_tolerance"] else "no"
            lines.append(
                f"bf16 vs fp32 at {check['size']} px (final losses in float32): content {p['content']:+.2f} %, "
                f"style {p['style']:+.2f} %, total {p['total']:+.2f} %; within {check['tolerance_percent']:g} %: "
                f"{verdict}"
            )
            same = check.get("same_image_percent_difference")
            if same:
                lines.append(
                    f"  the bf16 picture scored by the network in bf16 instead of float32: content "
                    f"{same['content']:+.2f} %, style {same['style']:+.2f} %, total {same['total']:+.2f} %"
                )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if str(REPO) not in sys.path:  # painterly from this checkout, installed or not
        sys.path.insert(0, str(REPO))
    if arguments.one:
        result = run_one(json.loads(arguments.one))
        Path(arguments.result).write_text(json.dumps(result), encoding="utf-8")
        return 0

    import torch

    from painterly.atomic import write_text_atomically
    from painterly.errors import PainterlyError
    from painterly.memory import available_bytes, format_bytes
    from painterly.runtime import resolve_device

    try:
        device = resolve_device(arguments.device)
    except PainterlyError as error:
        print(f"benchmark: {error}", file=sys.stderr)
        return 2
    cuda = device.type == "cuda"
    sizes = arguments.sizes or (arguments.gpu_sizes if cuda else list(CPU_SIZES))
    limit = arguments.skip_reference_above
    if limit is None:
        limit = GPU_REFERENCE_LIMIT if cuda else CPU_REFERENCE_LIMIT
    warmup = arguments.warmup if arguments.warmup is not None else (GPU_WARMUP_ITERATIONS if cuda else 0)
    if arguments.pair:
        content, style = (Path(path) for path in arguments.pair)
        for path in (content, style):
            if not path.is_file():
                print(f"benchmark: {path} does not exist", file=sys.stderr)
                return 2
    else:
        content, style = DEFAULT_PAIR
        if not (content.is_file() and style.is_file()):
            print(
                f"benchmark skipped: the default pair {content.name} and {style.name} is not in {content.parent}; "
                "pass --pair CONTENT STYLE",
                file=sys.stderr,
            )
            return 0
    overrides = parse_overrides(arguments.overrides)
    base = {
        "device": device.type, "iterations": arguments.iterations, "content": str(content.resolve()),
        "style": str(style.resolve()), "weights": str(Path(arguments.weights).resolve()) if arguments.weights else None,
        "model": arguments.model, "warmup": warmup, "overrides": overrides,
    }  # fmt: skip
    check_size = arguments.precision_check_size if arguments.precision_check_size is not None else min(sizes)
    # The parent process never touches the GPU (a CUDA context here would take memory from the runs).
    facts = spawn({"kind": "probe", "size": 0, "device": device.type}) if cuda else device_facts(device.type)
    if "error" in facts:
        print(f"benchmark: cannot use {device.type}: {facts['error']}", file=sys.stderr)
        return 1
    machine = facts["machine"]
    auto_precision = "bf16" if facts["bf16_native"] else "fp32"
    print(
        f"painterly benchmark on {machine.get('gpu') or machine['cpu']} ({device.type}, torch {torch.__version__}): "
        f"{content.name} x {style.name}, {arguments.iterations} evaluations, sizes {', '.join(map(str, sizes))}",
        file=sys.stderr,
        flush=True,
    )

    load = machine.get("load_average_1min")
    if device.type == "cpu" and load is not None and load > 0.5:
        print(
            f"  warning: the machine is busy (load average {load:g} on {machine['cpu_count']} cores); CPU timings "
            "will be slow and noisy (PyTorch's threads wait on each other when a core is taken)",
            file=sys.stderr,
            flush=True,
        )

    def announce(text: str) -> None:
        print(f"  {text} ...", file=sys.stderr, flush=True)

    settings = {
        "iterations": arguments.iterations, "sizes": sizes, "skip_reference_above": limit, "warmup": warmup,
        "content": str(content), "style": str(style), "weights": base["weights"] or arguments.model,
        "overrides": overrides, "objective": _jsonable(objective_settings(overrides)),
    }  # fmt: skip
    try:
        earlier_references = _earlier_references(arguments.reference_from, settings, machine)
    except ValueError as error:
        print(f"benchmark: {error}", file=sys.stderr)
        return 2

    def save(report: dict[str, Any]) -> None:
        """Write the JSON; also after each size, so that a run stopped early keeps what it measured."""
        out = Path(arguments.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(out, json.dumps(report, indent=2) + "\n")

    entries = []
    runs_at: dict[tuple[str, int], dict[str, Any]] = {}
    for size in sizes:
        announce(f"painterly at {size} px")
        ours = spawn({**base, "kind": "painterly", "size": size, "precision": "auto"})
        runs_at[(auto_precision, size)] = ours
        entry: dict[str, Any] = {"size": size, "painterly": ours}
        if size > limit:
            entry["reference_skipped"] = f"above --skip-reference-above {limit}"
        else:
            height, width = ours.get("height", size), ours.get("width", size)
            needed = _reference_estimate(base, overrides, height, width, device.type)
            free = facts["free_bytes"] if cuda else available_bytes(device)
            if size in earlier_references:
                entry["reference"] = earlier_references[size]
                if "error" not in ours:
                    entry["ratios"] = ratios(ours, entry["reference"])
            elif needed is not None and needed > free:
                entry["reference_skipped"] = f"needs about {format_bytes(needed)}, {format_bytes(free)} free"
            else:
                announce(f"reference at {size} px")
                entry["reference"] = spawn({**base, "kind": "reference", "size": size, "precision": "fp32"})
                if "error" not in ours and "error" not in entry["reference"]:
                    entry["ratios"] = ratios(ours, entry["reference"])
        entries.append(entry)
        save({"machine": machine, "settings": settings, "sizes": entries, "complete": False})

    check = None
    if check_size:
        for precision in ("bf16", "fp32"):
            if (precision, check_size) not in runs_at:
                announce(f"painterly --precision {precision} at {check_size} px")
                spec = {**base, "kind": "painterly", "size": check_size, "precision": precision}
                runs_at[(precision, check_size)] = spawn(spec)
        check = precision_check(runs_at[("bf16", check_size)], runs_at[("fp32", check_size)])
        check["runs"] = {"bf16": runs_at[("bf16", check_size)], "fp32": runs_at[("fp32", check_size)]}

    report = {"machine": machine, "settings": settings, "sizes": entries, "precision_check": check, "complete": True}
    print(format_table(report))
    save(report)
    print(f"wrote {arguments.out}", file=sys.stderr)
    return 0


def _earlier_references(path: str | None, settings: dict[str, Any], machine: dict[str, Any]) -> dict[int, Any]:
    """The reference runs, by size, of the benchmark JSON at `path`, if it measured the same thing here."""
    if path is None:
        return {}
    try:
        earlier = json.loads(Path(path).read_text(encoding="utf-8"))
        earlier_settings, earlier_machine = earlier["settings"], earlier["machine"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"cannot read the earlier benchmark {path} ({error}); give a JSON this script wrote") from None
    for key in ("iterations", "content", "style", "weights", "objective"):
        if earlier_settings.get(key) != json.loads(json.dumps(settings[key])):  # tuples were written as lists
            raise ValueError(
                f"--reference-from {path} was made with a different {key!r} setting; run the reference again"
            )
    for key in ("device", "cpu", "gpu", "cpu_count"):
        if earlier_machine.get(key) != machine.get(key):
            raise ValueError(f"--reference-from {path} was measured with a different {key!r}; run the reference again")
    return {
        entry["size"]: {**entry["reference"], "reused_from": str(path)}
        for entry in earlier.get("sizes", [])
        if "error" not in entry.get("reference", {"error": "none"})
    }


def _reference_estimate(
    base: dict[str, Any], overrides: dict[str, Any], height: int, width: int, device_type: str
) -> int | None:
    """The reference's estimated peak memory (float32, no channels_last, torch's 100 L-BFGS pairs)."""
    try:
        loaded = load_network(base)
    except Exception:  # the run itself will report the problem
        return None
    settings = objective_settings(overrides)
    from painterly.memory import RunShape, estimate_peak_bytes

    shape = RunShape(
        loaded.arch, [*settings["content_layers"], *settings["style_layers"]], "fp32", "lbfgs",
        lbfgs_history=REFERENCE_HISTORY, final_evaluations=base["iterations"],
        content_layers=settings["content_layers"], channels_last=False, pooling=settings["pooling"],
        device_type=device_type, style_scale=settings["style_scale"],
    )  # fmt: skip
    return estimate_peak_bytes(shape, height, width)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
