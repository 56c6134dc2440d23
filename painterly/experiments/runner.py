"""Running a grid: skip what is finished, run the rest one by one, in parallel processes or on Ray.

The backends are :mod:`painterly.runs`': ``jobs=1`` runs in this process
(:mod:`painterly.runs.local`); ``jobs=N`` starts N worker processes (:mod:`painterly.runs.pool`:
spawn, so no state is inherited, each with ``cores // N`` threads) that report progress through a
queue; ``executor="ray"`` sends one Ray task per run (:mod:`painterly.runs.ray`). A run that fails,
with any error, is reported and the others go on, whatever the backend; rerunning the command
retries it. Only Ctrl-C (KeyboardInterrupt) stops the grid: worker processes ignore it, so that
they print nothing, and the parent stops them.

Progress is sent as events, small frozen dataclasses (they cross the process boundary pickled):
:class:`GridStarted` first, then per run :class:`RunSkipped` (finished earlier), or
:class:`RunStarted`, :class:`RunProgress`... and :class:`RunFinished` or :class:`RunFailed`;
:class:`RunWaiting` and :class:`RunFinishedElsewhere` when another command computes the run.

Several commands may share one output folder: a run is computed under its lock
(:func:`painterly.experiments.store.run_lock`), and a process that finds a run locked computes
the free runs first, then waits for the lock and uses the other command's result.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import torch

import painterly
from painterly.api import Iterate, StylizeResult, stylize
from painterly.errors import PainterlyError
from painterly.experiments.grid import Run
from painterly.experiments.store import (
    IMAGE_FILE,
    SNAPSHOT_FOLDER,
    code_fingerprint,
    is_finished,
    is_locked,
    run_lock,
    snapshot_evaluations,
    snapshot_path,
    write_history,
    write_result,
)
from painterly.image import save_image
from painterly.runs.local import run_here
from painterly.runs.outcome import Outcome, failure
from painterly.runs.pool import run_in_pool, send_event
from painterly.runs.progress import Every
from painterly.schedule import automatic_scale_count

# How often (seconds) a worker process sends progress to the parent.
PROGRESS_INTERVAL_S = 0.25


# --- events --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridStarted:
    """The grid's distinct runs (``total``), of which ``skipped`` were finished earlier."""

    total: int
    skipped: int


@dataclass(frozen=True)
class RunSkipped:
    """A run finished before this grid started (counted in :attr:`GridStarted.skipped`)."""

    key: str
    name: str


@dataclass(frozen=True)
class RunWaiting:
    """Another process is computing this run; this one waits for it (see :func:`compute_run`)."""

    key: str
    name: str


@dataclass(frozen=True)
class RunStarted:
    key: str
    name: str
    total: int  # the evaluation budget


@dataclass(frozen=True)
class RunProgress:
    """One evaluation of the objective (workers send at most a few per second, and the last)."""

    key: str
    evaluation: int
    total: int
    loss: float
    seconds: float


@dataclass(frozen=True)
class RunFinished:
    key: str
    name: str
    summary: dict[str, Any]  # what result.json holds


@dataclass(frozen=True)
class RunFinishedElsewhere:
    """The run was finished by another process while this one waited for it."""

    key: str
    name: str


@dataclass(frozen=True)
class RunFailed:
    key: str
    name: str
    error: str  # one line


Event = (
    GridStarted | RunSkipped | RunWaiting | RunStarted | RunProgress | RunFinished | RunFinishedElsewhere | RunFailed
)
EventSink = Callable[[Event], None]


def _ignore(event: Event) -> None:
    """The sink when nobody listens."""


# --- the grid ------------------------------------------------------------------------------------


@dataclass
class GridOutcome:
    """What happened to the runs of a grid."""

    finished: list[Run] = field(default_factory=list)  # computed now
    skipped: list[Run] = field(default_factory=list)  # finished before, or by another process meanwhile
    failed: list[tuple[Run, str]] = field(default_factory=list)


def unique_runs(runs: Sequence[Run]) -> list[Run]:
    """Runs with distinct settings hashes (identical runs are computed once)."""
    seen: dict[str, Run] = {}
    for run in runs:
        seen.setdefault(run.key, run)
    return list(seen.values())


def run_grid(
    runs: Sequence[Run],
    *,
    jobs: int = 1,
    events: EventSink | None = None,
    rerun_stale: bool = False,
    executor: str = "local",
    ray_address: str | None = None,
) -> GridOutcome:
    """Compute every run that is not finished yet; ``events`` receives the progress events.

    With ``rerun_stale``, runs computed by other code (see :func:`code_fingerprint`) are recomputed.
    Every error of a run is caught and reported (:class:`RunFailed`, ``outcome.failed``);
    KeyboardInterrupt stops the grid and propagates. ``executor="ray"`` computes the runs as Ray
    tasks (:func:`_run_on_ray`; ``ray_address`` an existing cluster) instead of here or in ``jobs``
    processes; this process still writes every file, under the runs' locks.
    """
    if jobs < 1:
        raise PainterlyError(f"--jobs must be at least 1; got {jobs}")
    sink = events or _ignore
    code = code_fingerprint() if rerun_stale else None
    outcome = GridOutcome()
    todo: list[Run] = []
    for run in unique_runs(runs):
        (outcome.skipped if is_finished(run.directory, run.key, code=code) else todo).append(run)
    sink(GridStarted(total=len(outcome.skipped) + len(todo), skipped=len(outcome.skipped)))
    for run in outcome.skipped:
        sink(RunSkipped(key=run.key, name=run.name))
    todo = _free_first(todo)

    def record(done: Outcome[Run]) -> None:
        _record(done, sink, outcome)

    if executor == "ray":
        _run_on_ray(todo, sink, outcome, code, ray_address)
    elif jobs == 1 or len(todo) <= 1:
        for done in run_here(lambda run: compute_run(run, sink, code=code), todo):
            record(done)
    else:
        run_in_pool(
            _worker, todo, jobs=jobs, key=lambda run: run.key, on_event=sink, on_outcome=record, arguments=(code,)
        )
    return outcome


def _free_first(todo: list[Run]) -> list[Run]:
    """Runs that another process is computing now go last: by then it has probably finished them."""
    locked = {run.key for run in todo if is_locked(run.directory)}
    return [run for run in todo if run.key not in locked] + [run for run in todo if run.key in locked]


def _record(done: Outcome[Run], sink: EventSink, outcome: GridOutcome) -> None:
    """A run ended, whichever backend computed it: finished now, by another process (its summary
    None), or failed (one line)."""
    run = done.item
    if done.error is not None:
        outcome.failed.append((run, done.error))
        sink(RunFailed(key=run.key, name=run.name, error=done.error))
    elif done.value is None:
        outcome.skipped.append(run)
        sink(RunFinishedElsewhere(key=run.key, name=run.name))
    else:
        outcome.finished.append(run)
        sink(RunFinished(key=run.key, name=run.name, summary=done.value))


# --- one run -------------------------------------------------------------------------------------


def compute_run(
    run: Run, events: EventSink | None = None, *, code: str | None = None, threads: int | None = None
) -> dict[str, Any] | None:
    """Compute ``run`` holding its lock; returns its summary, or None when another process finished it.

    A run locked by another process is being computed there: this one sends :class:`RunWaiting`,
    waits for the lock, and computes the run only if the other process did not finish it (it
    failed or was stopped). ``code`` as in :func:`painterly.experiments.store.is_finished`.
    """
    sink = events or _ignore
    if is_locked(run.directory):
        sink(RunWaiting(key=run.key, name=run.name))
    with run_lock(run.directory):
        if is_finished(run.directory, run.key, code=code):
            return None
        return execute_run(run, sink, threads=threads)


def execute_run(run: Run, events: EventSink | None = None, *, threads: int | None = None) -> dict[str, Any]:
    """Stylise one run and write its files (result.json last); returns the summary written.

    The caller holds the run's lock (see :func:`compute_run`). ``events`` receives
    :class:`RunStarted` and one :class:`RunProgress` per evaluation.

    What is timed: ``seconds`` (the report's "time (s)") is stylize's own measure, from the start
    of the optimisation (the network is loaded before) to the final image. The one-off costs of
    a process (library and kernel initialisation, cuDNN's search for the fastest convolutions of
    each image size) are paid by a warm-up before the first run of each network and image size
    (see :func:`warm_up`), so that the first run of a grid is not slower than the others.
    ``wall_seconds`` is the whole stylize call: loading the network and images included, the
    warm-up not.
    """
    sink = events or _ignore
    directory = run.directory
    if directory.exists():
        shutil.rmtree(directory)  # a partial or damaged run starts over
    (directory / SNAPSHOT_FOLDER).mkdir(parents=True)
    budget = int(run.options["iterations"])
    marks = set(snapshot_evaluations(budget))
    saved: list[int] = []
    warm_up(run)
    sink(RunStarted(key=run.key, name=run.name, total=budget))

    def on_iterate(iterate: Iterate) -> None:
        if iterate.evaluation in marks:
            save_image(iterate.image.detach().float().cpu(), snapshot_path(directory, iterate.evaluation))
            saved.append(iterate.evaluation)
        sink(
            RunProgress(
                key=run.key, evaluation=iterate.evaluation, total=iterate.total_evaluations,
                loss=iterate.total_loss, seconds=iterate.seconds,
            )
        )  # fmt: skip

    started = time.perf_counter()
    result = stylize(run.pair.content, run.pair.style, callback=on_iterate, **run.options)
    wall_seconds = time.perf_counter() - started
    return write_run(run, result, saved, wall_seconds, threads)


def write_run(
    run: Run, result: StylizeResult, saved: list[int], wall_seconds: float, threads: int | None = None
) -> dict[str, Any]:
    """Write a computed run's image, history and (last) result.json; returns the summary written."""
    directory = run.directory
    result.save(directory / IMAGE_FILE)
    write_history(directory, {"key": run.key, **result.summary()})
    height, width = result.image.shape[-2:]
    summary = {
        "key": run.key,
        "code": code_fingerprint(),
        "painterly": painterly.__version__,
        "content": str(run.pair.content),
        "style": str(run.pair.style),
        "options": run.options,
        "model": result.model,
        "runtime": result.runtime,
        "threads": threads if threads is not None else torch.get_num_threads(),
        "final_losses": result.final_losses,
        "evaluations": len(result.history),
        "seconds": result.seconds,
        "wall_seconds": wall_seconds,
        "stop_reason": result.stop_reason,
        "height": int(height),
        "width": int(width),
        "snapshots": saved,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_result(directory, summary)
    return summary


# Options that decide the network and the tensor shapes, hence the one-off costs of a process.
WARM_UP_OPTIONS = (
    "model", "weights", "weights_preprocessing", "device", "precision", "compile", "pooling", "size", "scales",
    "style_scale", "content_layers", "style_layers",
)  # fmt: skip
_warmed: set[str] = set()  # warm-up keys done in this process


def warm_up(run: Run) -> None:
    """Once per process, network and image sizes: a short stylize of ``run`` (one evaluation per scale).

    It pays what only the first run would pay otherwise: initialising the libraries and the
    device, and choosing convolution algorithms for these image sizes (cuDNN benchmark mode), so
    that every run's time measures its optimisation alone. It is not timed and writes nothing;
    its errors are ignored (the run itself then fails with them).
    """
    options = run.options
    key = json.dumps(
        [str(run.pair.content), str(run.pair.style), *(options.get(name) for name in WARM_UP_OPTIONS)], default=str
    )
    if key in _warmed:
        return
    _warmed.add(key)
    scales = options.get("scales") or automatic_scale_count(int(options["size"]))
    short = {**options, "iterations": scales, "tolerance": None}
    with contextlib.suppress(Exception):
        stylize(run.pair.content, run.pair.style, **short)


# --- Ray ------------------------------------------------------------------------------------------


def ray_run(
    state_dict: dict[str, Any], weights: Any, weights_id: str, run: Run, content: bytes, style: bytes, threads: int
) -> tuple[Any, ...]:
    """The body of one Ray task: the run stylised on a network built (once per worker) from the
    weights in the object store, its images shipped as bytes (no shared file system needed);
    returns (result, snapshot images by evaluation, wall seconds)."""
    from painterly import options
    from painterly.api import prepare_inputs, stylize_with
    from painterly.runs.ray import shipped_files, worker_setup

    settings = options.validate(run.options)
    network = worker_setup(state_dict, weights, weights_id, settings, threads)
    marks = set(snapshot_evaluations(int(run.options["iterations"])))
    snapshots: dict[int, torch.Tensor] = {}

    def on_iterate(iterate: Iterate) -> None:
        if iterate.evaluation in marks:
            snapshots[iterate.evaluation] = iterate.image.detach().float().cpu()

    started = time.perf_counter()
    with shipped_files([(run.pair.content, content), (run.pair.style, style)]) as (content_path, style_path):
        inputs = prepare_inputs(str(content_path), str(style_path), settings)
        result = stylize_with(network, inputs, settings, callback=on_iterate)
    return result, snapshots, time.perf_counter() - started


def _run_on_ray(todo: list[Run], sink: EventSink, outcome: GridOutcome, code: str | None, address: str | None) -> None:
    """One Ray task per run (1 CPU, or 1 GPU for a CUDA run; retried if its worker is lost), each
    network's weights put in the object store once; the results are written here, under the lock."""
    from painterly.network import load_weights
    from painterly.runs.networks import weights_key
    from painterly.runs.ray import RayBackend

    backend = RayBackend(address)
    with backend.session() as session:  # leaving it (Ctrl-C) cancels the runs not written: they stay unfinished
        for run in todo:
            name = weights_key(run.options)
            shipped = backend.weights.get(name)
            if shipped is None:
                source = run.options.get("model", "auto"), run.options.get("weights")
                weights, _ = load_weights(*source, run.options.get("weights_preprocessing", "auto"))
                shipped = backend.ship_weights(weights, name)
            images = [backend.ship_file(path) for path in (run.pair.content, run.pair.style)]  # each image once
            gpus = 1 if run.options.get("device") == "cuda" else 0
            session.submit(run, ray_run, shipped.state_dict, shipped.small, shipped.id, run, *images, 1, num_gpus=gpus)
            sink(RunStarted(key=run.key, name=run.name, total=int(run.options["iterations"])))
        for done in session.outcomes():
            if done.error is None:
                try:
                    result, snapshots, wall_seconds = done.value
                    done = Outcome(done.item, value=_write_ray_run(done.item, result, snapshots, wall_seconds, code))
                except Exception as error:  # a write error fails this run only
                    done = failure(done.item, error)
            _record(done, sink, outcome)


def _write_ray_run(
    run: Run, result: StylizeResult, snapshots: dict[int, torch.Tensor], wall_seconds: float, code: str | None
) -> dict[str, Any] | None:
    """Write a run computed by Ray as :func:`execute_run` would; None if another process finished it."""
    with run_lock(run.directory):
        if is_finished(run.directory, run.key, code=code):
            return None
        if run.directory.exists():
            shutil.rmtree(run.directory)
        (run.directory / SNAPSHOT_FOLDER).mkdir(parents=True)
        for evaluation, image in sorted(snapshots.items()):
            save_image(image, snapshot_path(run.directory, evaluation))
        return write_run(run, result, sorted(snapshots), wall_seconds, threads=1)


# --- worker processes ----------------------------------------------------------------------------


def _worker(run: Run, threads: int, code: str | None) -> dict[str, Any] | None:
    """A run in a worker process (:func:`painterly.runs.pool.run_in_pool`); its events go to the
    parent, progress at most every :data:`PROGRESS_INTERVAL_S` besides the last evaluation."""
    every = Every(PROGRESS_INTERVAL_S)

    def forward(event: Event) -> None:
        final = not isinstance(event, RunProgress) or event.evaluation == event.total
        if every.due(force=final):
            send_event(event)

    return compute_run(run, forward, code=code, threads=threads)
