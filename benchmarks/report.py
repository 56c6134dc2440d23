"""The benchmark's results: ratios of painterly to the reference, the bf16-vs-fp32 check, the
table on stdout, the JSON (:meth:`Report.to_json`), and reading an earlier JSON back for
``--reference-from``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.measure import Machine, Measurement, plain, time_to_loss
from benchmarks.reference import OBJECTIVE_OPTIONS, LossValues
from painterly import options
from painterly.atomic import write_text_atomically

PRECISION_TOLERANCE_PERCENT = 2.0
_TERMS = ("content", "style", "total")


@dataclass(frozen=True)
class Ratios:
    """painterly over the reference at one size (None where a number is missing)."""

    seconds_per_evaluation: float | None
    seconds_end_to_end: float | None
    peak_memory: float | None
    content_loss: float | None
    style_loss: float | None
    total_loss: float | None
    # seconds at which each run first reached the reference's final total loss (time-to-loss)
    painterly_time_to_loss: float | None = None
    reference_time_to_loss: float | None = None

    @property
    def time_to_loss(self) -> float | None:
        """painterly's time-to-loss over the reference's (the speed goal: at most 1/7 on the CPU)."""
        return _ratio(self.painterly_time_to_loss, self.reference_time_to_loss)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def ratios(ours: Measurement, reference: Measurement) -> Ratios:
    """painterly's measurements over the reference's."""
    mine, theirs = ours.final_losses, reference.final_losses
    target = theirs.total if theirs else None
    return Ratios(
        painterly_time_to_loss=time_to_loss(ours, target) if target is not None else None,
        reference_time_to_loss=time_to_loss(reference, target) if target is not None else None,
        seconds_per_evaluation=_ratio(ours.seconds_per_evaluation, reference.seconds_per_evaluation),
        seconds_end_to_end=_ratio(ours.seconds_end_to_end, reference.seconds_end_to_end),
        peak_memory=_ratio(ours.peak_memory_bytes, reference.peak_memory_bytes),
        content_loss=_ratio(mine.content, theirs.content) if mine and theirs else None,
        style_loss=_ratio(mine.style, theirs.style) if mine and theirs else None,
        total_loss=_ratio(mine.total, theirs.total) if mine and theirs else None,
    )


@dataclass(frozen=True)
class PrecisionCheck:
    """painterly in bf16 against fp32 at one size; ``error`` set: one of the runs failed.

    ``percent_difference`` and ``same_image_percent_difference`` hold percentages per loss term.
    """

    size: int
    error: str | None = None
    bf16_final_losses: LossValues | None = None
    fp32_final_losses: LossValues | None = None
    percent_difference: LossValues | None = None
    tolerance_percent: float = PRECISION_TOLERANCE_PERCENT
    within_tolerance: bool | None = None
    same_image_percent_difference: LossValues | None = None
    bf16_seconds_per_evaluation: float | None = None
    fp32_seconds_per_evaluation: float | None = None
    runs: Mapping[str, Measurement] = field(default_factory=dict)  # "bf16" and "fp32"

    def to_json(self) -> dict[str, Any]:
        runs = {name: run.to_json() for name, run in self.runs.items()}
        if self.error is not None:
            return {"size": self.size, "error": self.error, "runs": runs}
        data = {
            item.name: plain(getattr(self, item.name))
            for item in dataclasses.fields(self)
            if item.name not in ("error", "runs")
        }
        return {**data, "runs": runs}


def _percent_of(ours: LossValues, base: LossValues) -> LossValues:
    return LossValues(*(100.0 * (getattr(ours, term) - getattr(base, term)) / getattr(base, term) for term in _TERMS))


def precision_check(bf16: Measurement, fp32: Measurement) -> PrecisionCheck:
    """Percent difference of the bf16 run's final losses from the fp32 run's (both scored in float32).

    Two runs in different precisions follow different paths, so this mixes bf16's rounding with
    the optimiser's sensitivity to it; ``same_image_percent_difference`` isolates the first: the
    bf16 run's picture scored by the network in bf16 against float32.
    """
    runs = {"bf16": bf16, "fp32": fp32}
    if bf16.error is not None or fp32.error is not None or bf16.final_losses is None or fp32.final_losses is None:
        return PrecisionCheck(size=fp32.size, error=bf16.error or fp32.error or "no final losses", runs=runs)
    percent = _percent_of(bf16.final_losses, fp32.final_losses)
    same_image = None
    if bf16.final_losses_bf16_network is not None:
        same_image = _percent_of(bf16.final_losses_bf16_network, bf16.final_losses)
    return PrecisionCheck(
        size=fp32.size,
        bf16_final_losses=bf16.final_losses,
        fp32_final_losses=fp32.final_losses,
        percent_difference=percent,
        within_tolerance=all(abs(getattr(percent, term)) <= PRECISION_TOLERANCE_PERCENT for term in _TERMS),
        same_image_percent_difference=same_image,
        bf16_seconds_per_evaluation=bf16.seconds_per_evaluation,
        fp32_seconds_per_evaluation=fp32.seconds_per_evaluation,
        runs=runs,
    )


@dataclass(frozen=True)
class SizeEntry:
    """painterly at one size, and the reference (or why it was skipped)."""

    size: int
    painterly: Measurement
    reference_skipped: str | None = None
    reference: Measurement | None = None
    ratios: Ratios | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"size": self.size, "painterly": self.painterly.to_json()}
        if self.reference_skipped is not None:
            data["reference_skipped"] = self.reference_skipped
        if self.reference is not None:
            data["reference"] = self.reference.to_json()
        if self.ratios is not None:
            data["ratios"] = {**plain(self.ratios), "time_to_loss": self.ratios.time_to_loss}
        return data


@dataclass(frozen=True)
class BenchmarkSettings:
    """What the whole benchmark measured; ``objective``: what a reference run depends on."""

    iterations: int
    sizes: tuple[int, ...]
    skip_reference_above: int
    warmup: int
    content: str
    style: str
    weights: str  # the weights file, else the model's name
    overrides: Mapping[str, Any]  # --set, parsed
    objective: Mapping[str, Any]  # reference.objective_summary

    def to_json(self) -> dict[str, Any]:
        return {item.name: plain(getattr(self, item.name)) for item in dataclasses.fields(self)}


@dataclass(frozen=True)
class Report:
    """Everything the benchmark writes; ``complete`` is False while sizes are still to come."""

    machine: Machine
    settings: BenchmarkSettings
    sizes: tuple[SizeEntry, ...]
    precision_check: PrecisionCheck | None = None
    complete: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine.to_json(),
            "settings": self.settings.to_json(),
            "sizes": [entry.to_json() for entry in self.sizes],
            "precision_check": None if self.precision_check is None else self.precision_check.to_json(),
            "complete": self.complete,
        }


def write_json(report: Report, path: str | Path) -> None:
    """Write the report, atomically (also after each size, so that a run stopped early keeps what it measured)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(out, json.dumps(report.to_json(), indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# The table


def _number(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:.3e}"


def _megabytes(value: int | None) -> str:
    return "-" if value is None else f"{value / 1e6:.0f}"


def _losses(values: LossValues | None, term: str) -> str:
    return "-" if values is None else _number(getattr(values, term), 4)


def format_table(report: Report) -> str:
    """The runs and their ratios as a plain-text table."""
    header = ("size", "run", "precision", "s/eval", "end to end s", "peak MB", "est. MB", "content loss", "style loss")
    rows: list[tuple[str, ...]] = []  # 9 columns, or 3 (size, run, a message)
    for entry in report.sizes:
        size = str(entry.size)
        for run in (entry.painterly, entry.reference):
            if run is None:
                continue
            if run.error is not None:
                rows.append((size, run.kind, f"failed: {run.error}"))
                continue
            rows.append((
                size, run.kind, run.precision or "-", _number(run.seconds_per_evaluation),
                _number(run.seconds_end_to_end), _megabytes(run.peak_memory_bytes),
                _megabytes(run.estimated_peak_bytes), _losses(run.final_losses, "content"),
                _losses(run.final_losses, "style"),
            ))  # fmt: skip
        if entry.ratios is not None:
            r = entry.ratios
            rows.append((
                size, "ratio p/r", "", _number(r.seconds_per_evaluation), _number(r.seconds_end_to_end),
                _number(r.peak_memory), "", _number(r.content_loss), _number(r.style_loss),
            ))  # fmt: skip
            if r.painterly_time_to_loss is not None or r.reference_time_to_loss is not None:
                rows.append((
                    size, "time-to-loss",
                    f"painterly {_number(r.painterly_time_to_loss)} s, reference {_number(r.reference_time_to_loss)} s "
                    f"to the reference's final total loss; ratio {_number(r.time_to_loss)}",
                ))  # fmt: skip
        elif entry.reference_skipped:
            rows.append((size, "reference", f"skipped: {entry.reference_skipped}"))
    full = [row for row in rows if len(row) == len(header)]
    widths = [max([len(header[i]), *(len(row[i]) for row in full)]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(text.ljust(width) for text, width in zip(cells, widths, strict=False)).rstrip()

    lines = [line(header)]
    for row in rows:
        lines.append(line(row) if len(row) == len(header) else line(row[:2]) + "  " + row[2])
    references = [entry.reference for entry in report.sizes if entry.reference is not None]
    reused = sorted({run.reused_from for run in references if run.reused_from})
    if reused:
        lines.append(f"reference runs reused from {', '.join(reused)} (--reference-from)")
    check = report.precision_check
    if check is not None:
        if check.error is not None or check.percent_difference is None:
            lines.append(f"bf16 vs fp32 at {check.size} px: {check.error}")
        else:
            p = check.percent_difference
            verdict = "yes" if check.within_tolerance else "no"
            lines.append(
                f"bf16 vs fp32 at {check.size} px (final losses in float32): content {p.content:+.2f} %, "
                f"style {p.style:+.2f} %, total {p.total:+.2f} %; within {check.tolerance_percent:g} %: {verdict}"
            )
            same = check.same_image_percent_difference
            if same is not None:
                lines.append(
                    f"  the bf16 picture scored by the network in bf16 instead of float32: content "
                    f"{same.content:+.2f} %, style {same.style:+.2f} %, total {same.total:+.2f} %"
                )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# --reference-from


# What older JSON files did not record, as their runs had it (not today's defaults).
_BEFORE_RECORDED = {"tv_weight": 0.0, "padding": "zeros"}


def _objective_as_written(objective: Mapping[str, Any]) -> dict[str, Any]:
    """An objective summary with the options an older JSON did not record as its runs had them
    (tv_weight 0, zero padding)."""
    defaults = options.defaults()
    filled = {name: defaults[name] for name in OBJECTIVE_OPTIONS}
    filled.update(_BEFORE_RECORDED)
    filled["learning_rate"] = options.DEFAULT_LEARNING_RATES["lbfgs"]
    written: dict[str, Any] = plain({**filled, **objective})
    return written


def earlier_references(path: str | None, settings: BenchmarkSettings, machine: Machine) -> dict[int, Measurement]:
    """The reference runs, by size, of the benchmark JSON at ``path``, if it measured the same thing here.

    Raises ValueError (one line) for a file that is not such a JSON, or was made with another
    pair, budget, weights or objective, or on another machine.
    """
    if path is None:
        return {}
    unreadable = "cannot read the earlier benchmark {path} ({error}); give a JSON this script wrote"
    try:
        earlier = json.loads(Path(path).read_text(encoding="utf-8"))
        earlier_settings, earlier_machine = dict(earlier["settings"]), dict(earlier["machine"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(unreadable.format(path=path, error=error)) from None
    current = settings.to_json()
    for key in ("iterations", "content", "style", "weights", "objective"):
        then, now = earlier_settings.get(key), current[key]
        if key == "objective" and isinstance(then, Mapping):
            then, now = _objective_as_written(then), _objective_as_written(now)
        if then != now:
            raise ValueError(
                f"--reference-from {path} was made with a different {key!r} setting; run the reference again"
            )
    here = machine.to_json()
    for key in ("device", "cpu", "gpu", "cpu_count"):
        if earlier_machine.get(key) != here.get(key):
            raise ValueError(f"--reference-from {path} was measured with a different {key!r}; run the reference again")
    try:
        return {
            int(entry["size"]): dataclasses.replace(Measurement.from_json(entry["reference"]), reused_from=str(path))
            for entry in earlier.get("sizes", [])
            if "error" not in entry.get("reference", {"error": "none"})
        }
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(unreadable.format(path=path, error=error)) from None


__all__ = [
    "PRECISION_TOLERANCE_PERCENT",
    "BenchmarkSettings",
    "PrecisionCheck",
    "Ratios",
    "Report",
    "SizeEntry",
    "earlier_references",
    "format_table",
    "precision_check",
    "ratios",
    "write_json",
]
