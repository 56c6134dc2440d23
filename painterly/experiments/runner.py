"""Running a grid: skip what is finished, run the rest one by one or in parallel processes.

``jobs=1`` runs in this process. ``jobs=N`` starts N worker processes (spawn, so no state is
inherited) that each use ``cores // N`` threads; workers report progress through a queue.
A run that fails is reported and the others go on; rerunning the command retries it.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import torch

import painterly
from painterly.api import Iterate, stylize
from painterly.errors import PainterlyError
from painterly.experiments.grid import Run
from painterly.experiments.store import (
    IMAGE_FILE,
    SNAPSHOT_FOLDER,
    code_fingerprint,
    is_finished,
    snapshot_evaluations,
    snapshot_path,
    write_history,
    write_result,
)
from painterly.image import save_image

# How often (seconds) a worker process sends progress to the parent.
PROGRESS_INTERVAL_S = 0.25

Event = dict[str, Any]
EventSink = Callable[[Event], None]


@dataclass
class GridOutcome:
    """What happened to the runs of a grid."""

    finished: list[Run] = field(default_factory=list)  # computed now
    skipped: list[Run] = field(default_factory=list)  # finished before
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
    runs: Sequence[Run], *, jobs: int = 1, events: EventSink | None = None, rerun_stale: bool = False
) -> GridOutcome:
    """Compute every run that is not finished yet; ``events`` receives progress (see :func:`execute_run`).

    With ``rerun_stale``, runs computed by other code (see :func:`code_fingerprint`) are recomputed.
    """
    if jobs < 1:
        raise PainterlyError(f"--jobs must be at least 1; got {jobs}")
    sink = events or (lambda event: None)
    outcome = GridOutcome()
    todo = []
    for run in unique_runs(runs):
        code = code_fingerprint() if rerun_stale else None
        (outcome.skipped if is_finished(run.directory, run.key, code=code) else todo).append(run)
    sink({"kind": "grid", "total": len(outcome.skipped) + len(todo), "skipped": len(outcome.skipped)})
    for run in outcome.skipped:
        sink({"kind": "skipped", "key": run.key, "name": run.name})
    if jobs == 1 or len(todo) <= 1:
        for run in todo:
            _run_here(run, sink, outcome)
    else:
        _run_in_pool(todo, jobs, sink, outcome)
    return outcome


def execute_run(run: Run, events: EventSink | None = None, *, threads: int | None = None) -> dict[str, Any]:
    """Stylise one run and write its files (result.json last); returns the summary written.

    ``events`` receives ``{"kind": "start" | "evaluation", "key": ..., ...}`` dictionaries.
    """
    sink = events or (lambda event: None)
    directory = run.directory
    if directory.exists():
        shutil.rmtree(directory)  # a partial run starts over
    (directory / SNAPSHOT_FOLDER).mkdir(parents=True)
    budget = int(run.options["iterations"])
    marks = set(snapshot_evaluations(budget))
    saved: list[int] = []
    sink({"kind": "start", "key": run.key, "name": run.name, "total": budget})

    def on_iterate(iterate: Iterate) -> None:
        if iterate.evaluation in marks:
            save_image(iterate.image.detach().float().cpu(), snapshot_path(directory, iterate.evaluation))
            saved.append(iterate.evaluation)
        sink(
            {
                "kind": "evaluation",
                "key": run.key,
                "evaluation": iterate.evaluation,
                "total": iterate.total_evaluations,
                "loss": iterate.total_loss,
                "seconds": iterate.seconds,
            }
        )

    started = time.perf_counter()
    result = stylize(run.pair.content, run.pair.style, callback=on_iterate, **run.options)
    wall_seconds = time.perf_counter() - started
    result.save(directory / IMAGE_FILE)
    write_history(
        directory,
        {"key": run.key, **result.summary()},
    )
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


def _run_here(run: Run, sink: EventSink, outcome: GridOutcome) -> None:
    try:
        summary = execute_run(run, sink)
    except PainterlyError as error:
        outcome.failed.append((run, str(error)))
        sink({"kind": "failed", "key": run.key, "name": run.name, "error": str(error)})
        return
    outcome.finished.append(run)
    sink({"kind": "done", "key": run.key, "name": run.name, "summary": summary})


def _run_in_pool(todo: list[Run], jobs: int, sink: EventSink, outcome: GridOutcome) -> None:
    context = multiprocessing.get_context("spawn")
    threads = max(1, available_cores() // jobs)
    with context.Manager() as manager:
        queue = manager.Queue()
        pool = ProcessPoolExecutor(
            max_workers=min(jobs, len(todo)), mp_context=context, initializer=_init_worker, initargs=(threads,)
        )
        try:
            futures: dict[Future, Run] = {pool.submit(_worker, run, queue, threads): run for run in todo}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(queue, sink)
                for future in done:
                    run = futures[future]
                    try:
                        summary = future.result()
                    except Exception as error:  # a worker's exception, re-raised here
                        message = str(error)
                        if not isinstance(error, PainterlyError):
                            message = f"{type(error).__name__}: {error}"
                        outcome.failed.append((run, message))
                        sink({"kind": "failed", "key": run.key, "name": run.name, "error": message})
                        continue
                    outcome.finished.append(run)
                    sink({"kind": "done", "key": run.key, "name": run.name, "summary": summary})
            _drain(queue, sink)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


def _drain(queue: Any, sink: EventSink) -> None:
    while True:
        try:
            event = queue.get_nowait()
        except Exception:  # queue.Empty through the manager proxy
            return
        sink(event)


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _worker(run: Run, queue: Any, threads: int) -> dict[str, Any]:
    last_sent = 0.0

    def forward(event: Event) -> None:
        nonlocal last_sent
        now = time.monotonic()
        final = event.get("evaluation") == event.get("total")
        if event["kind"] != "evaluation" or final or now - last_sent >= PROGRESS_INTERVAL_S:
            last_sent = now
            queue.put(event)

    return execute_run(run, forward, threads=threads)
