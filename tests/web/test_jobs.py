"""The studio's dispatcher with real worker processes, where timing matters and HTTP polling is too slow."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from painterly import options
from painterly.web.jobs import Dispatcher
from painterly.web.store import JobStore, write_json
from tests.studio_harness import png_bytes

pytest.importorskip("fastapi")


def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen in {timeout} s")
        time.sleep(0.02)


def test_a_job_resumed_before_the_dispatcher_saw_it_end_runs_again(tiny_weights: Path, tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs")
    dispatcher = Dispatcher(store, workers=1, max_queue=4, devices=[None])
    dispatcher.start()
    try:
        job_id, staged = store.staging()
        (staged / "content.png").write_bytes(png_bytes(48, 36))
        (staged / "style-1.png").write_bytes(png_bytes(40, 40))
        settings = options.validate({"size": 32, "iterations": 100000, "weights": str(tiny_weights)})
        write_json(staged / "settings.json", settings.as_dict())
        meta = {"id": job_id, "created": time.time(), "queued": time.time(), "styles": 1, "init_file": False}
        folder = store.commit(job_id, staged, meta)
        dispatcher.admit(job_id, lambda: None)

        def state() -> str | None:
            return store.state(job_id).get("state")

        _until(lambda: state() == "running" and (folder / "preview.png").is_file(), 120, "running")
        assert dispatcher.cancel(job_id)
        with dispatcher.lock:  # the dispatcher's loop cannot look until the job is queued again
            _until(lambda: state() == "cancelled", 30, "the worker's cancel")
            dispatcher.admit(job_id, lambda: store.set_state(job_id, "queued", "resumed"))
        _until(lambda: state() == "running", 30, "running again")
        assert dispatcher.cancel(job_id)
        _until(lambda: state() == "cancelled", 30, "the second cancel")
    finally:
        dispatcher.stop()
