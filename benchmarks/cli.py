"""``python -m benchmarks``: the arguments, and the whole benchmark size by size (see :mod:`benchmarks`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import measure, reference, report
from benchmarks.measure import Measurement, RunSpec
from benchmarks.report import BenchmarkSettings, PrecisionCheck, Report, SizeEntry
from painterly import options
from painterly.errors import PainterlyError

SHARED_IMAGES = measure.REPO.parent / "shared" / "images"
DEFAULT_PAIR = (SHARED_IMAGES / "tubingen.jpg", SHARED_IMAGES / "starry_night.jpg")
CPU_SIZES = (256, 512, 1024)
GPU_SIZES = (256, 512, 1024, 2048, 4096)
# The plain reference at 1024 px takes hours on a small CPU; at 4096 px minutes and ~75 GB on a GPU.
CPU_REFERENCE_LIMIT = 512
GPU_REFERENCE_LIMIT = 2048
GPU_WARMUP_ITERATIONS = 20
# Options the benchmark chooses itself (--sizes, --iterations, --device, --weights/--model).
RESERVED_OPTIONS = ("content", "style", "size", "iterations", "device", "precision", "weights", "model")


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
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
        "--set", action="append", default=[], metavar="NAME=VALUE", dest="overrides",
        help="an extra painterly option for painterly's runs, as on its command line (compile=reduce-overhead, "
        "style_weight=1e3, style_layers=conv1_1,conv2_1; JSON also works: style_layer_weights='[0.5, 0.5]'); "
        "the reference follows the objective's options",
    )  # fmt: skip
    parser.add_argument(
        "--reference-from", metavar="FILE",
        help="reuse the reference runs of an earlier JSON made with the same pair, budget, weights, objective "
        "and device (the reference takes a quarter of an hour at 512 px on a small CPU)",
    )  # fmt: skip
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one configuration (a RunSpec's JSON)
    parser.add_argument("--probe", help=argparse.SUPPRESS)  # internal: the facts of this device
    parser.add_argument("--result", help=argparse.SUPPRESS)  # internal: where --one/--probe write their JSON
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.iterations = 50
        arguments.sizes = arguments.sizes or [256]
    return arguments


def parse_override(name: str, text: str) -> Any:
    """One ``--set`` value, read by the option schema (:meth:`painterly.options.Option.parse`).

    The text is read as on painterly's command line; a JSON string, list or null (the form of
    earlier versions: ``compile='"reduce-overhead"'``) is decoded first.
    """
    item = options.option(name)
    value: Any = text
    stripped = text.strip()
    if stripped.startswith(('"', "[")) or stripped == "null":
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            value = text
    return item.parse(value)


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``--set NAME=VALUE`` items as options by canonical name; a mistake ends the program with one line."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, separator, text = item.partition("=")
        if not separator or not key:
            raise SystemExit(f"benchmark: --set needs NAME=VALUE, got {item!r}")
        name = key.strip().replace("-", "_")
        if name in RESERVED_OPTIONS:
            raise SystemExit(f"benchmark: --set {name} is not allowed; the benchmark sets {name} itself")
        try:
            overrides[options.option(name).name] = parse_override(name, text)
        except PainterlyError as error:
            raise SystemExit(f"benchmark: --set {key}: {error}") from None
    return overrides


def _child_main(arguments: argparse.Namespace) -> int:
    """``--one SPEC`` / ``--probe DEVICE``: measure here and write the JSON to ``--result``."""
    if arguments.one:
        data = measure.run_one(RunSpec.from_json(arguments.one)).to_json()
    else:
        data = measure.device_facts(arguments.probe).to_json()
    Path(arguments.result).write_text(json.dumps(data), encoding="utf-8")
    return 0


def _announce(text: str) -> None:
    print(f"  {text} ...", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.one or arguments.probe:
        return _child_main(arguments)

    import torch

    from painterly.memory import available_bytes, format_bytes
    from painterly.runtime import resolve_device

    try:
        device = resolve_device(arguments.device)
    except PainterlyError as error:
        print(f"benchmark: {error}", file=sys.stderr)
        return 2
    cuda = device.type == "cuda"
    sizes: list[int] = arguments.sizes or (arguments.gpu_sizes if cuda else list(CPU_SIZES))
    limit: int = arguments.skip_reference_above
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
    smallest = min(max(min(sizes), options.MIN_SIDE), options.MAX_SIZE)
    try:
        checked = options.validate({**overrides, "size": smallest})  # the options together, before anything runs
        objective = reference.objective_summary(reference.objective_settings(overrides, smallest))
    except PainterlyError as error:
        print(f"benchmark: --set: {error}", file=sys.stderr)
        return 2
    weights = str(Path(arguments.weights).resolve()) if arguments.weights else None
    method = checked.network.method  # the reference loop has the paper's objective only

    def spec(kind: measure.Kind, size: int, precision: str) -> RunSpec:
        return RunSpec(
            kind=kind, size=size, device=device.type, iterations=arguments.iterations,
            content=str(content.resolve()), style=str(style.resolve()), weights=weights, model=arguments.model,
            precision=precision, warmup=warmup, overrides=overrides,
        )  # fmt: skip

    check_size = arguments.precision_check_size if arguments.precision_check_size is not None else min(sizes)
    # The parent process never touches the GPU (a CUDA context here would take memory from the runs).
    facts = measure.probe(device.type) if cuda else measure.device_facts(device.type)
    if isinstance(facts, str):
        print(f"benchmark: cannot use {device.type}: {facts}", file=sys.stderr)
        return 1
    machine = facts.machine
    auto_precision = "bf16" if facts.bf16_native else "fp32"
    print(
        f"painterly benchmark on {machine.gpu or machine.cpu} ({device.type}, torch {torch.__version__}): "
        f"{content.name} x {style.name}, {arguments.iterations} evaluations, sizes {', '.join(map(str, sizes))}",
        file=sys.stderr,
        flush=True,
    )
    load = machine.load_average_1min
    if device.type == "cpu" and load is not None and load > 0.5:
        print(
            f"  warning: the machine is busy (load average {load:g} on {machine.cpu_count} cores); CPU timings "
            "will be slow and noisy (PyTorch's threads wait on each other when a core is taken)",
            file=sys.stderr,
            flush=True,
        )

    settings = BenchmarkSettings(
        iterations=arguments.iterations, sizes=tuple(sizes), skip_reference_above=limit, warmup=warmup,
        content=str(content), style=str(style), weights=weights or arguments.model, overrides=overrides,
        objective=objective,
    )  # fmt: skip
    try:
        earlier = report.earlier_references(arguments.reference_from, settings, machine)
    except ValueError as error:
        print(f"benchmark: {error}", file=sys.stderr)
        return 2

    entries: list[SizeEntry] = []
    runs_at: dict[tuple[str, int], Measurement] = {}
    for size in sizes:
        _announce(f"painterly at {size} px")
        ours = measure.spawn(spec("painterly", size, "auto"))
        runs_at[(auto_precision, size)] = ours
        entry = SizeEntry(size=size, painterly=ours)
        if method != "gatys":
            skipped = f"the reference is the paper's method, not {method}"
            entry = SizeEntry(size=size, painterly=ours, reference_skipped=skipped)
        elif size > limit:
            entry = SizeEntry(size=size, painterly=ours, reference_skipped=f"above --skip-reference-above {limit}")
        elif size in earlier:
            entry = _with_reference(entry, earlier[size])
        else:
            needed = _reference_estimate(spec("reference", size, "fp32"), ours, device.type)
            free = facts.free_bytes if cuda else available_bytes(device)
            if needed is not None and needed > free:
                skipped = f"needs about {format_bytes(needed)}, {format_bytes(free)} free"
                entry = SizeEntry(size=size, painterly=ours, reference_skipped=skipped)
            else:
                _announce(f"reference at {size} px")
                entry = _with_reference(entry, measure.spawn(spec("reference", size, "fp32")))
        entries.append(entry)
        report.write_json(Report(machine, settings, tuple(entries)), arguments.out)

    check: PrecisionCheck | None = None
    if check_size:
        for precision in ("bf16", "fp32"):
            if (precision, check_size) not in runs_at:
                _announce(f"painterly --precision {precision} at {check_size} px")
                runs_at[(precision, check_size)] = measure.spawn(spec("painterly", check_size, precision))
        check = report.precision_check(runs_at[("bf16", check_size)], runs_at[("fp32", check_size)])

    final = Report(machine, settings, tuple(entries), precision_check=check, complete=True)
    print(report.format_table(final))
    report.write_json(final, arguments.out)
    print(f"wrote {arguments.out}", file=sys.stderr)
    return 0


def _with_reference(entry: SizeEntry, run: Measurement) -> SizeEntry:
    """The entry with the reference run, and the ratios where both runs succeeded."""
    both = entry.painterly.error is None and run.error is None
    return SizeEntry(
        size=entry.size, painterly=entry.painterly, reference=run,
        ratios=report.ratios(entry.painterly, run) if both else None,
    )  # fmt: skip


def _reference_estimate(spec: RunSpec, ours: Measurement, device_type: str) -> int | None:
    """The reference's estimated peak memory at painterly's final size (None: the run will report the problem)."""
    try:
        weights = reference.load_network_weights(spec.model, spec.weights, spec.overrides)
        settings = reference.objective_settings(spec.overrides, spec.size)
    except Exception:  # the run itself will report the problem
        return None
    height, width = ours.height or spec.size, ours.width or spec.size
    return reference.reference_estimate(weights, settings, height, width, spec.iterations, device_type)


__all__ = [
    "DEFAULT_PAIR",
    "RESERVED_OPTIONS",
    "main",
    "parse_arguments",
    "parse_override",
    "parse_overrides",
]
