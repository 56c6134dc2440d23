"""The studio's worker (painterly.web.worker) in this process: a queued job folder run by a JobRunner
to its picture, history and finished state; the network kept for the next job of the same settings;
a cancelled job left resumable."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from painterly import options
from painterly.web.store import CANCELLED, FINISHED, JobFiles, JobStore, read_json, write_json
from painterly.web.worker import JobRunner
from tests.studio_harness import png_bytes


def queued_job(store: JobStore, weights: Path, iterations: int = 4) -> tuple[str, Path]:
    """A job folder as the studio commits it: photo, one painting, validated settings and meta."""
    job_id, staged = store.staging()
    (staged / "content.png").write_bytes(png_bytes(48, 36))
    (staged / "style-1.png").write_bytes(png_bytes(40, 40, stripes=True))
    settings = options.validate({"size": 32, "iterations": iterations, "weights": str(weights),
                                 "device": "cpu", "precision": "fp32"})  # fmt: skip
    write_json(staged / "settings.json", settings.as_dict())
    meta = {"id": job_id, "created": time.time(), "queued": time.time(), "styles": 1, "init_file": False}
    return job_id, store.commit(job_id, staged, meta)


def test_a_job_runs_to_its_picture_and_the_network_is_kept_for_the_next(tiny_weights: Path, tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    runner = JobRunner(store, threading.Event(), parent=os.getppid())
    first, folder = queued_job(store, tiny_weights)
    runner.run(first)
    state = store.state(first)
    assert state["state"] == FINISHED, state
    files = JobFiles(folder)
    assert files.result.is_file() and files.preview.is_file()
    assert read_json(files.history) and read_json(files.progress)["evaluation"] == 4
    network = runner.network
    second, _ = queued_job(store, tiny_weights)
    runner.run(second)
    assert store.state(second)["state"] == FINISHED
    assert runner.network is network  # same network settings: loaded once


def test_a_cancelled_job_stops_and_says_it_can_resume(tiny_weights: Path, tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    cancel = threading.Event()
    cancel.set()
    job_id, folder = queued_job(store, tiny_weights, iterations=50)
    JobRunner(store, cancel, parent=os.getppid()).run(job_id)
    state = store.state(job_id)
    assert state["state"] == CANCELLED and "resume" in state["message"], state
    assert not JobFiles(folder).result.exists()
