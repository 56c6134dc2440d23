"""The finished runs of one experiment, read back and measured, ready for figures and the report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from painterly.errors import PainterlyError
from painterly.experiments.grid import Run
from painterly.experiments.metrics import colourfulness, objective_key, run_metrics
from painterly.experiments.spec import Pair, Setting, Spec
from painterly.experiments.store import RunRecord, load_run


@dataclass(frozen=True)
class Cell:
    """One (pair, setting) of the grid with its record and measures."""

    run: Run
    record: RunRecord
    metrics: dict[str, Any]

    @property
    def final(self) -> dict[str, float]:
        return self.record.summary["final_losses"]


@dataclass(frozen=True)
class ExperimentResults:
    spec: Spec
    pairs: list[Pair]
    settings: list[Setting]
    cells: dict[tuple[str, str], Cell]  # (pair slug, setting label) -> cell
    spike_factor: float
    reach_within: float

    def cell(self, pair: Pair, setting: Setting) -> Cell:
        return self.cells[(pair.slug, setting.label)]


def collect_results(spec: Spec, runs: Sequence[Run], *, spike_factor: float, reach_within: float) -> ExperimentResults:
    """Read every run (all must be finished) and measure it against its pair's best final loss."""
    records: dict[str, RunRecord] = {}
    for run in runs:
        if run.key not in records:
            records[run.key] = _finished_record(run)
    best: dict[tuple[str, str], float] = {}
    worst: dict[tuple[str, str], float] = {}
    size: dict[tuple[str, str], int] = {}
    for run in runs:
        group = (run.pair.slug, objective_key(run.options))
        total = float(records[run.key].summary["final_losses"]["total"])
        best[group] = min(best.get(group, total), total)
        worst[group] = max(worst.get(group, total), total)
        size[group] = size.get(group, 0) + 1
    cells = {}
    for run in runs:
        record = records[run.key]
        group = (run.pair.slug, objective_key(run.options))
        metrics = run_metrics(
            record.history,
            best[group],
            spike_factor=spike_factor,
            within=reach_within,
            worst=worst[group] if size[group] > 1 else None,  # alone in its group: nothing to match
        )
        metrics["colourfulness"] = colourfulness(record.image)
        cells[(run.pair.slug, run.setting.label)] = Cell(run, record, metrics)
    pairs = list({run.pair.slug: run.pair for run in runs}.values())
    settings = list({run.setting.label: run.setting for run in runs}.values())
    return ExperimentResults(spec, pairs, settings, cells, spike_factor, reach_within)


def _finished_record(run: Run) -> RunRecord:
    """The run's record; a PainterlyError if it is missing or damaged (e.g. deleted by another command
    since the grid ran), which the next command recomputes."""
    record = load_run(run.directory, run.key)
    if record is None:
        raise PainterlyError(
            f"run {run.name} is not finished or its files in {run.directory} are damaged; "
            "run the same command again to recompute it"
        )
    return record
