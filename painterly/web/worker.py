"""The worker process: runs one job at a time, on a network it loads once and keeps
(:class:`painterly.runs.networks.NetworkCache`).

Started by :class:`painterly.web.jobs.Dispatcher` with the ``spawn`` method, so it shares nothing
with the server but a task queue and a cancel event: a crash, an out-of-memory kill or a hung
run ends here, never in the server. It dies with the server (``PR_SET_PDEATHSIG`` and a parent
check), so a killed server leaves no orphan still writing into a job folder.

While a job runs, the worker writes ``progress.json`` and ``preview.png`` (atomically, at most
every :data:`PREVIEW_SECONDS`), then ``result.png`` and ``history.json``, and last the terminal
state, which is what tells the dispatcher that the worker is free.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import sys
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from painterly.errors import PainterlyError
from painterly.settings import Settings
from painterly.web.records import Damage, read_meta, read_settings
from painterly.web.store import CANCELLED, FAILED, FINISHED, JobFiles, JobStore, read_json, write_json

#: How often the preview snapshot and the progress file are rewritten while a job runs.
PREVIEW_SECONDS = 0.4
#: Points of the loss curve kept in progress.json (thinned by half when full).
CURVE_POINTS = 400


class Cancelled(Exception):
    """Raised in the progress callback when the job was cancelled: ends the run at this evaluation."""


class ParentGone(Exception):
    """The server died: stop now, leave the job as it is (the next server marks it interrupted)."""


def worker_main(root: str, tasks: Any, cancel: Event, device_index: int | None) -> None:
    """The worker process's body: take job ids from ``tasks`` until None or the server is gone."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's; it stops the workers
    if device_index is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(device_index)
    parent = os.getppid()
    runner = JobRunner(JobStore(Path(root)), cancel, parent)
    while True:
        try:
            job_id = tasks.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:
                return
            continue
        if job_id is None:
            return
        try:
            runner.run(job_id)
        except ParentGone:
            return


def _die_with_parent() -> None:
    """Ask Linux to kill this process when the server dies (a no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class JobRunner:
    """Runs jobs from their folders, reusing the network while the network settings stay the same."""

    def __init__(self, store: JobStore, cancel: Event, parent: int) -> None:
        from painterly.runs.networks import NetworkCache

        self.store = store
        self.cancel = cancel
        self.parent = parent
        self.networks = NetworkCache()  # the last settings' network (a failed build leaves none)

    @property
    def network(self) -> Any:
        """The network the last job ran on (kept for the next job of the same network settings)."""
        return self.networks.last

    def run(self, job_id: str) -> None:
        folder = self.store.folder(job_id)
        if folder is None:
            return  # deleted while it waited
        try:
            self._run(job_id, folder)
        except Cancelled:
            self.store.set_state(job_id, CANCELLED, "cancelled; resume it to continue from its last snapshot")
        except ParentGone:
            raise
        except PainterlyError as error:
            self.store.set_state(job_id, FAILED, _without_folder(str(error), folder))
        except Exception as error:
            self.store.set_state(job_id, FAILED, _without_folder(_describe_failure(error), folder))

    def _run(self, job_id: str, folder: Path) -> None:
        from painterly.api import prepare_inputs, stylize_with

        try:  # never the defaults for damaged files: that would be another job than the one asked for
            meta = read_meta(folder)
            settings = read_settings(folder, meta)  # an older version's settings: new options take defaults
        except Damage as error:
            raise PainterlyError(f"the job cannot run: {error}") from None
        files = JobFiles(folder)
        styles = [str(path) for path in files.styles(meta.styles)]
        start = _start_image(files)
        inputs = prepare_inputs(str(files.content), styles[0] if len(styles) == 1 else styles, settings)
        network, reason = self._network(settings)
        progress = ProgressWriter(files, self)
        result = stylize_with(network, inputs, settings, callback=progress, reason=reason, start=start)
        result.save(files.result)
        write_json(files.history, result.summary())
        progress.finish(result)
        self.store.set_state(job_id, FINISHED, result.stop_reason, seconds=result.seconds)

    def _network(self, settings: Settings) -> tuple[Any, str | None]:
        """The network of these settings, loaded once and kept for the jobs that share them."""
        return self.networks.get(settings)

    def check(self) -> None:
        """Between evaluations: stop when cancelled or when the server is gone."""
        if self.cancel.is_set():
            raise Cancelled
        if os.getppid() != self.parent:
            raise ParentGone


class ProgressWriter:
    """The run's callback: checks for cancellation and keeps progress.json and preview.png fresh
    (the ETA is :class:`painterly.runs.eta.EtaEstimate`'s, as on the terminal)."""

    def __init__(self, files: JobFiles, runner: JobRunner) -> None:
        from painterly.runs.eta import EtaEstimate
        from painterly.runs.progress import Every

        self.files = files
        self.runner = runner
        self.eta = EtaEstimate()
        self.curve: list[list[float]] = []
        self.step = 1
        self.every = Every(PREVIEW_SECONDS)
        self.last_scale = 0
        self.previews = 0

    def __call__(self, iterate: Any) -> None:
        self.runner.check()
        eta = self.eta.update(iterate)
        if iterate.evaluation % self.step == 0:
            self.curve.append([iterate.evaluation, iterate.total_loss])
            if len(self.curve) > CURVE_POINTS:
                self.curve, self.step = self.curve[::2], self.step * 2
        new_scale = iterate.scale != self.last_scale
        if self.every.due(force=new_scale or iterate.evaluation == iterate.total_evaluations):
            self.last_scale = iterate.scale
            self._write(iterate.image, self._progress(iterate, eta))

    def _progress(self, iterate: Any, eta: float) -> dict[str, Any]:
        return {
            "evaluation": iterate.evaluation, "total": iterate.total_evaluations,
            "scale": iterate.scale, "scales": iterate.scales, "height": iterate.height, "width": iterate.width,
            "content_loss": iterate.content_loss, "style_loss": iterate.style_loss,
            "total_loss": iterate.total_loss, "seconds": iterate.seconds, "eta": eta,
            "network": iterate.network, "curve": self.curve,
        }  # fmt: skip

    def _write(self, image: Any, progress: dict[str, Any]) -> None:
        from painterly.image import save_image

        self.previews += 1
        try:
            save_image(image, self.files.preview)
            write_json(self.files.progress, {**progress, "preview": self.previews})
        except PainterlyError:
            self.runner.check()  # the folder went away: deleted, or the server is gone
            raise

    def finish(self, result: Any) -> None:
        """The final picture becomes the last snapshot too."""
        progress = read_json(self.files.progress) or {}
        history = result.history
        if history:
            last = history[-1]
            progress.update(evaluation=last.evaluation, seconds=result.seconds, eta=0.0,
                            content_loss=last.content_loss, style_loss=last.style_loss,
                            total_loss=last.total_loss, height=last.height, width=last.width)  # fmt: skip
        progress["curve"] = self.curve
        self._write(result.image, progress)


def _start_image(files: JobFiles) -> Any:
    """The image a resumed job starts from, or None: from the start when it is missing or damaged
    (the resume already said so; a damaged start image must not fail the job)."""
    from painterly.image import load_image

    if not files.start.is_file():
        return None
    try:
        return load_image(files.start, role="snapshot")
    except PainterlyError:
        return None


def _without_folder(message: str, folder: Path) -> str:
    """A failure's words without the server's path to the job folder (a client sees them)."""
    return message.replace(f"{folder}{os.sep}", "").replace(str(folder), "the job's folder")


def _describe_failure(error: BaseException) -> str:
    """One line for a failure the user cannot fix by changing an option, or can (out of memory)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(error, torch.OutOfMemoryError):
        return "out of memory; use a smaller size, precision bf16 or device cpu"
    text = " ".join(str(error).split()) or type(error).__name__
    return f"the run failed: {type(error).__name__}: {text[:300]}"
