"""The process-pool backend: items computed in N worker processes on this machine.

Workers are started with ``spawn``, so they inherit no state (no half-initialised PyTorch, no
network), and each uses ``cores // N`` threads (:func:`threads_per_worker`). They send progress
events to the parent through a queue (:func:`send_event`), which forwards them to the caller as
they come, and the outcomes as the items finish.

Ctrl-C is the parent's: workers start with SIGINT blocked and then ignore it, so none prints a
traceback, and the parent terminates them (an item they were computing stays unfinished).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue as queues
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

from painterly.runs.outcome import Outcome, failure

T = TypeVar("T")


def available_cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def threads_per_worker(jobs: int) -> int:
    """The threads each of ``jobs`` workers uses: the cores shared out, at least one."""
    return max(1, available_cores() // jobs)


def run_in_pool(
    work: Callable[..., Any],
    items: Sequence[T],
    *,
    jobs: int,
    key: Callable[[T], str],
    on_event: Callable[[Any], None],
    on_outcome: Callable[[Outcome[T]], None],
    arguments: tuple[Any, ...] = (),
) -> None:
    """``work(item, threads, *arguments)`` for every item, in ``min(jobs, len(items))`` spawned workers.

    ``work`` must be importable by name (a module-level function): the workers find it by name.
    What ``work`` passes to :func:`send_event` reaches ``on_event`` here; an event with a ``key``
    attribute equal to ``key(item)`` of an item already ended is dropped (the queue and the
    results travel through different pipes, so an item's last progress may come after its end).
    ``on_outcome`` receives each item's :class:`~painterly.runs.outcome.Outcome`. Any exception
    here (Ctrl-C above all) terminates the workers and propagates.
    """
    context = multiprocessing.get_context("spawn")
    threads = threads_per_worker(jobs)
    events = context.Queue()
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(items)), mp_context=context, initializer=_init_worker, initargs=(threads, events)
    )
    try:
        with _interrupts_blocked():  # the workers start with Ctrl-C blocked, then ignore it
            futures = {pool.submit(work, item, threads, *arguments): item for item in items}
        _collect(futures, events, key, on_event, on_outcome)
    except BaseException:  # Ctrl-C above all: the workers ignore it, so stop them
        _stop_workers(pool)
        raise
    pool.shutdown(wait=True)


def _collect(
    futures: dict[Future[Any], T], events: Any, key: Callable[[T], str], on_event: Callable[[Any], None],
    on_outcome: Callable[[Outcome[T]], None],
) -> None:  # fmt: skip
    """Forward the workers' events and each item's outcome as it comes."""
    pending = set(futures)
    ended: set[str] = set()
    while pending:
        done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
        _drain(events, on_event, ended)
        for future in done:
            item = futures[future]
            ended.add(key(item))
            try:
                value = future.result()
            except Exception as error:  # a worker's exception, re-raised here
                on_outcome(failure(item, error))
                continue
            on_outcome(Outcome(item, value=value))
    _drain(events, on_event, ended)


def _drain(events: Any, on_event: Callable[[Any], None], ended: set[str]) -> None:
    """Forward the queued events, except late ones of items already ended."""
    while True:
        try:
            event = events.get_nowait()
        except queues.Empty:
            return
        if getattr(event, "key", None) not in ended:
            on_event(event)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the workers now (an item they were computing stays unfinished) and drop the pool."""
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
    import torch

    torch.set_num_threads(threads)
    _events = events


def send_event(event: Any) -> None:
    """In a worker: send ``event`` (picklable) to the parent's ``on_event``; elsewhere, nothing."""
    if _events is not None:
        _events.put(event)
