"""Running a grid: skip what is finished, run the rest one by one or in parallel processes.

``jobs=1`` runs in this process. ``jobs=N`` starts N worker processes (spawn, so no state is
inherited) that each use ``cores // N`` threads; workers report progress through a queue.
A run that fails, with any error, is reported and the others go on, whatever ``jobs`` is;
rerunning the command retries it. Only Ctrl-C (KeyboardInterrupt) stops the grid: worker
processes ignore it, so that they print nothing, and the parent stops them.

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
import dataclasses
import json
import multiprocessing
import os
import queue as queues
import shutil
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

import painterly
from painterly.api import Iterate, StylizeResult, stylize
from painterly.errors import PainterlyError, describe_error
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


def available_cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


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
    if executor == "ray":
        _run_on_ray(todo, sink, outcome, code, ray_address)
    elif jobs == 1 or len(todo) <= 1:
        for run in todo:
            _run_here(run, sink, outcome, code)
    else:
        _run_in_pool(todo, jobs, sink, outcome, code)
    return outcome


def _free_first(todo: list[Run]) -> list[Run]:
    """Runs that another process is computing now go last: by then it has probably finished them."""
    locked = {run.key for run in todo if is_locked(run.directory)}
    return [run for run in todo if run.key not in locked] + [run for run in todo if run.key in locked]


def _record(run: Run, summary: dict[str, Any] | None, sink: EventSink, outcome: GridOutcome) -> None:
    if summary is None:
        outcome.skipped.append(run)
        sink(RunFinishedElsewhere(key=run.key, name=run.name))
    else:
        outcome.finished.append(run)
        sink(RunFinished(key=run.key, name=run.name, summary=summary))


def _record_failure(run: Run, error: Exception, sink: EventSink, outcome: GridOutcome) -> None:
    message = describe_error(error)
    outcome.failed.append((run, message))
    sink(RunFailed(key=run.key, name=run.name, error=message))


def _run_here(run: Run, sink: EventSink, outcome: GridOutcome, code: str | None) -> None:
    try:
        summary = compute_run(run, sink, code=code)
    except Exception as error:  # any failure of one run; KeyboardInterrupt is no Exception and stops the grid
        _record_failure(run, error, sink, outcome)
        return
    _record(run, summary, sink, outcome)


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
    from painterly.batch.executor import shipped_files, worker_network

    torch.set_num_threads(max(1, threads))
    settings = options.validate(run.options)
    network = worker_network(dataclasses.replace(weights, state_dict=state_dict), settings, weights_id)
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
    from painterly.batch.executor import connect_ray
    from painterly.network import load_weights

    ray = connect_ray(address)
    remote = ray.remote(ray_run)
    shipped: dict[str, tuple[Any, Any, str]] = {}
    files: dict[Path, Any] = {}
    pending: dict[Any, Run] = {}
    try:
        for run in todo:
            source = (run.options.get("model", "auto"), run.options.get("weights"),
                      run.options.get("weights_preprocessing", "auto"))  # fmt: skip
            name = repr(source)
            if name not in shipped:
                weights, _ = load_weights(*source)
                small = dataclasses.replace(weights, state_dict={})
                shipped[name] = (ray.put(weights.state_dict), small, f"{name}:{os.getpid()}")
            reference, small, weights_id = shipped[name]
            images = []
            for path in (run.pair.content, run.pair.style):
                if path not in files:
                    files[path] = ray.put(Path(path).read_bytes())  # each image once
                images.append(files[path])
            gpus = 1 if run.options.get("device") == "cuda" else 0
            task = remote.options(num_cpus=1, num_gpus=gpus, max_retries=3)
            pending[task.remote(reference, small, weights_id, run, *images, 1)] = run
            sink(RunStarted(key=run.key, name=run.name, total=int(run.options["iterations"])))
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for reference in done:
                run = pending.pop(reference)
                try:
                    result, snapshots, wall_seconds = ray.get(reference)
                    summary = _write_ray_run(run, result, snapshots, wall_seconds, code)
                except Exception as error:  # the task's own error, a lost worker, or a write error
                    cause = getattr(error, "cause", None)
                    message = describe_error(cause if isinstance(cause, BaseException) else error)
                    outcome.failed.append((run, message))
                    sink(RunFailed(key=run.key, name=run.name, error=message))
                    continue
                _record(run, summary, sink, outcome)
    finally:
        for reference in pending:  # Ctrl-C: the runs not written stay unfinished
            ray.cancel(reference, force=True)


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


def _run_in_pool(todo: list[Run], jobs: int, sink: EventSink, outcome: GridOutcome, code: str | None) -> None:
    context = multiprocessing.get_context("spawn")
    threads = max(1, available_cores() // jobs)
    events = context.Queue()
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(todo)), mp_context=context, initializer=_init_worker, initargs=(threads, events)
    )
    try:
        with _interrupts_blocked():  # the workers start with Ctrl-C blocked, then ignore it
            futures = {pool.submit(_worker, run, threads, code): run for run in todo}
        _collect(futures, events, sink, outcome)
    except BaseException:  # Ctrl-C above all: the workers ignore it, so stop them
        _stop_workers(pool)
        raise
    pool.shutdown(wait=True)


def _collect(futures: dict[Future, Run], events: Any, sink: EventSink, outcome: GridOutcome) -> None:
    """Forward the workers' events and record each run's outcome as it comes."""
    pending = set(futures)
    ended: set[str] = set()
    while pending:
        done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
        _drain(events, sink, ended)
        for future in done:
            run = futures[future]
            ended.add(run.key)
            try:
                summary = future.result()
            except Exception as error:  # a worker's exception, re-raised here
                _record_failure(run, error, sink, outcome)
                continue
            _record(run, summary, sink, outcome)
    _drain(events, sink, ended)


def _drain(events: Any, sink: EventSink, ended: set[str]) -> None:
    """Forward the queued events, except late ones of runs already ended (the queue and the
    results travel through different pipes, so a run's last progress may come after its end)."""
    while True:
        try:
            event = events.get_nowait()
        except queues.Empty:
            return
        if getattr(event, "key", None) not in ended:
            sink(event)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the workers now (a run they were computing stays unfinished) and drop the pool."""
    processes = list((pool._processes or {}).values())  # no public way before Python 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)


@contextlib.contextmanager
def _interrupts_blocked() -> Iterator[None]:
    """Block SIGINT in this thread while worker processes start: they inherit the mask, so a Ctrl-C
    cannot interrupt them before :func:`_init_worker` ignores it. A Ctrl-C meanwhile waits, then
    interrupts this process as usual."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


_events: Any = None  # in a worker: the queue to the parent


def _init_worker(threads: int, events: Any) -> None:
    """Ignore Ctrl-C (the parent stops the workers, so none prints a traceback), set the threads."""
    global _events
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # a pending Ctrl-C is dropped
    torch.set_num_threads(threads)
    _events = events


def _worker(run: Run, threads: int, code: str | None) -> dict[str, Any] | None:
    last_sent = 0.0

    def forward(event: Event) -> None:
        nonlocal last_sent
        now = time.monotonic()
        if isinstance(event, RunProgress) and event.evaluation != event.total and now - last_sent < PROGRESS_INTERVAL_S:
            return
        last_sent = now
        _events.put(event)

    return compute_run(run, forward, code=code, threads=threads)
