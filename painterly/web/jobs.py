"""The job queue and the worker processes that run it.

:class:`Dispatcher` keeps the queued job ids in order and one worker process per slot (one per
device by default). A thread hands the next queued job to a free worker, notices when a job
ends (its state file turns terminal: the worker writes it last), and restarts a worker that
died - the job it was running is marked failed with why. Cancelling sets the worker's event,
which the run checks after every evaluation; a worker that has not stopped after
:data:`CANCEL_GRACE_SECONDS` is terminated.

At start, jobs a stopped server left running are marked interrupted (their last snapshot is
kept, and they can be resumed) and queued jobs are queued again, oldest first.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from painterly.web.records import inspect
from painterly.web.store import FAILED, INTERRUPTED, QUEUED, RUNNING, TERMINAL, JobStore
from painterly.web.worker import worker_main

CANCEL_GRACE_SECONDS = 10.0
POLL_SECONDS = 0.1
INTERRUPTED_MESSAGE = "the server stopped while this job ran; resume it to continue from its last snapshot"


class QueueFull(Exception):
    """More jobs are waiting than the server takes (``--max-queue``)."""


@dataclass
class Slot:
    """One worker process and the job it runs."""

    index: int
    device: int | None
    process: Any = None
    tasks: Any = None
    cancel: Any = None
    job: str | None = None
    cancel_asked: float | None = None
    restarts: int = 0


class Dispatcher:
    """Queued jobs in order, handed to worker processes; cancel, recover, restart."""

    def __init__(self, store: JobStore, workers: int, max_queue: int, devices: list[int | None]) -> None:
        self.store = store
        self.max_queue = max_queue
        self.context = multiprocessing.get_context("spawn")
        self.slots = [Slot(index, devices[index % len(devices)]) for index in range(workers)]
        self.pending: deque[str] = deque()
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="painterly-dispatcher", daemon=True)

    # --- life ---------------------------------------------------------------------------------

    def start(self) -> None:
        self.recover()
        for slot in self.slots:
            self._spawn(slot)
        self.thread.start()

    def stop(self) -> None:
        """Stop the workers; a job still running is interrupted (resumable), as after a crash."""
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        with self.lock:
            for slot in self.slots:
                self._stop_process(slot)
                if slot.job is not None and self.store.state(slot.job).get("state") == RUNNING:
                    self.store.set_state(slot.job, INTERRUPTED, INTERRUPTED_MESSAGE)

    def recover(self) -> None:
        """Mark the jobs a stopped server left running as interrupted; queue the queued ones again.

        A queued job whose job.json or settings.json is damaged is marked failed with why, never
        queued: it would run with the defaults, another job than the one asked for."""
        self.store.clean_staging()
        queued = []
        for job_id in self.store.ids():
            record = inspect(self.store, job_id)
            if record is None:
                continue
            state = record.state.get("state")
            if state == RUNNING:
                self.store.set_state(job_id, INTERRUPTED, INTERRUPTED_MESSAGE)
            elif state == QUEUED and record.damage:
                self.store.set_state(job_id, FAILED, f"not run: {record.damage}")
            elif state == QUEUED and record.meta is not None:
                queued.append((record.meta.queued, job_id))
        self.pending.extend(job_id for _, job_id in sorted(queued))

    # --- requests -----------------------------------------------------------------------------

    def check_room(self) -> None:
        if len(self.pending) >= self.max_queue:
            raise QueueFull(f"the queue is full ({len(self.pending)} jobs waiting); try again when one has started")

    def admit(self, job_id: str, commit: Any) -> None:
        """Run ``commit`` (which puts the queued job in place) and queue the job, if there is room.

        A job resumed right after its worker ended it may still be held by that worker's slot, until
        the loop next looks; the slot lets go of it first. Otherwise the loop found the job queued,
        not ended, in a slot whose cancel had been asked, stopped the worker after the grace period
        and called the resumed job cancelled (seen once in CI on a loaded machine).
        """
        with self.lock:
            self.check_room()
            for slot in self.slots:
                if slot.job == job_id:
                    slot.job, slot.cancel_asked = None, None
            commit()
            self.pending.append(job_id)

    def position(self, job_id: str) -> int | None:
        with self.lock:
            return self.pending.index(job_id) + 1 if job_id in self.pending else None

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False when it is neither."""
        with self.lock:
            if job_id in self.pending:
                self.pending.remove(job_id)
                self.store.set_state(job_id, "cancelled", "cancelled before it started")
                return True
            for slot in self.slots:
                if slot.job == job_id and self.store.state(job_id).get("state") == RUNNING:
                    slot.cancel.set()
                    slot.cancel_asked = slot.cancel_asked or time.monotonic()
                    return True
        return False

    def running(self, job_id: str) -> bool:
        with self.lock:
            mine = any(slot.job == job_id for slot in self.slots)
            return mine and self.store.state(job_id).get("state") == RUNNING

    def holds(self, job_id: str) -> bool:
        """Whether the job waits in the queue or a worker still runs it (even with its state file
        damaged meanwhile): then it must not be queued a second time."""
        with self.lock:
            if job_id in self.pending:
                return True
            mine = any(slot.job == job_id for slot in self.slots)
            return mine and self.store.state(job_id).get("state") not in TERMINAL

    # --- the loop -----------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self.stopping.wait(POLL_SECONDS):
            with self.lock:
                for slot in self.slots:
                    with contextlib.suppress(Exception):  # one bad job folder must not stop the queue
                        self._tend(slot)

    def _tend(self, slot: Slot) -> None:
        if slot.job is not None:
            state = self.store.state(slot.job).get("state")
            if state in TERMINAL or self.store.folder(slot.job) is None:  # finished, or deleted
                slot.job, slot.cancel_asked = None, None
            elif not slot.process.is_alive():
                code = slot.process.exitcode
                self.store.set_state(slot.job, FAILED, _crash_message(code))
                slot.job, slot.cancel_asked = None, None
                self._spawn(slot)
            elif slot.cancel_asked and time.monotonic() - slot.cancel_asked > CANCEL_GRACE_SECONDS:
                self._stop_process(slot)
                self.store.set_state(slot.job, "cancelled", "cancelled (its worker was stopped)")
                slot.job, slot.cancel_asked = None, None
                self._spawn(slot)
        if slot.job is None and not slot.process.is_alive():
            self._spawn(slot)
        if slot.job is None and self.pending:
            job_id = self.pending.popleft()
            if self.store.state(job_id).get("state") != QUEUED:
                return  # cancelled or deleted meanwhile
            slot.cancel.clear()
            self.store.set_state(job_id, RUNNING, None, started=time.time())
            slot.job = job_id
            slot.tasks.put(job_id)

    def _spawn(self, slot: Slot) -> None:
        slot.tasks = self.context.Queue()
        slot.cancel = self.context.Event()
        slot.process = self.context.Process(
            target=worker_main,
            args=(str(self.store.root), slot.tasks, slot.cancel, slot.device),
            name=f"painterly-worker-{slot.index}",
            daemon=True,
        )
        slot.process.start()
        slot.restarts += 1

    def _stop_process(self, slot: Slot) -> None:
        process = slot.process
        if process is None or not process.is_alive():
            return
        process.terminate()
        process.join(timeout=3)
        if process.is_alive():
            process.kill()
            process.join(timeout=3)


def _crash_message(code: int | None) -> str:
    if code is not None and code < 0:
        how = "was killed (signal 9: perhaps out of memory)" if code == -9 else f"was killed by signal {-code}"
    else:
        how = f"exited with status {code}"
    return f"the job's worker process {how}; try a smaller size, or resume it"
