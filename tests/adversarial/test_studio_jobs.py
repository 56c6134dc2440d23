"""Damaged job folders, restarts with jobs in every state, and concurrent clients, against the studio.

The app runs in this process (no worker processes: queued jobs wait), on the tiny network, so
each example takes a fraction of a second. Whatever is in a job's files, every answer is 2xx, or
4xx/5xx with a one-line ``detail``; a damaged job never hides or breaks another; a restart never
runs a job whose description or settings are damaged; every job can be deleted.
"""

from __future__ import annotations

import json
import shutil
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from painterly.web.store import JobStore, read_json, write_json
from tests.studio_harness import png_bytes

pytest.importorskip("fastapi")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx versions
    from starlette.testclient import TestClient

from painterly.web.app import StudioConfig, create_app
from painterly.web.jobs import Dispatcher
from painterly.web.records import inspect
from painterly.web.worker import JobRunner

PHOTO = png_bytes(48, 36)
PAINTING = png_bytes(40, 40, stripes=True)
STATES = ["queued", "running", "finished", "failed", "cancelled", "interrupted"]
FILES = ["job.json", "settings.json", "state.json", "progress.json", "preview.png", "result.png", "start.png",
         "content.png", "style-1.png"]  # fmt: skip
EXAMPLES = settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=6,
)
#: Plausible keys with values of any kind: what a half-edited or older file holds.
json_records = st.fixed_dictionaries(
    {},
    optional={key: json_values | st.sampled_from([float("inf"), -1, 0, 1e300, "abc", STATES[1]])
              for key in ("state", "created", "queued", "styles", "init_file", "names", "updated", "started",
                          "message", "size", "iterations", "preview", "curve", "evaluation")},
)  # fmt: skip
contents = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda value: json.dumps(value).encode()),
    json_records.map(lambda value: json.dumps(value).encode()),
    st.integers(0, len(PHOTO) - 1).map(lambda cut: PHOTO[:cut]),
    st.just(b"\xff" * 10),
    st.just(None),  # missing
    st.just("folder"),  # a folder in its place
)
damages = st.dictionaries(st.sampled_from(FILES), contents, min_size=1, max_size=3)


def _client(jobs: Path, weights: Path, **config: Any) -> TestClient:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TestClient(create_app(StudioConfig(jobs_dir=jobs, weights=str(weights), **config)),
                          raise_server_exceptions=False)  # fmt: skip


def _post(client: TestClient, **fields: str) -> Any:
    files = [("content", ("photo.png", PHOTO, "image/png")), ("style", ("painting.png", PAINTING, "image/png"))]
    return client.post("/api/jobs", files=files, data={"size": "32", "iterations": "2", **fields})


def _check(response: Any) -> Any:
    assert response.status_code != 500 or "detail" in response.json(), response.text
    if response.status_code >= 400:
        detail = response.json()["detail"]
        assert isinstance(detail, str) and detail and "\n" not in detail, detail
        assert "None" not in detail and "/tmp" not in detail, detail
    return response


def _damage(folder: Path, name: str, content: bytes | str | None) -> None:
    path = folder / name
    if path.is_dir():
        shutil.rmtree(path)
    path.unlink(missing_ok=True)
    if content == "folder":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)


def _restart(jobs: Path) -> Dispatcher:
    dispatcher = Dispatcher(JobStore(jobs), workers=1, max_queue=100, devices=[None])
    dispatcher.recover()
    return dispatcher


@pytest.fixture(scope="module")
def made(tiny_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A job folder as the server makes it (queued), to copy for every example."""
    jobs = tmp_path_factory.mktemp("template") / "jobs"
    created = _post(_client(jobs, tiny_weights))
    assert created.status_code == 201, created.text
    return jobs / created.json()["id"]


def _copy_job(made: Path, jobs: Path, state: str, created: float) -> str:
    """A copy of the template job under a new id, in ``state``."""
    from painterly.web.store import new_job_id

    job_id = new_job_id()
    folder = jobs / job_id
    shutil.copytree(made, folder)
    meta = read_json(folder / "job.json")
    write_json(folder / "job.json", {**meta, "id": job_id, "created": created, "queued": created})
    write_json(folder / "state.json", {"state": state, "message": None, "updated": created})
    if state in ("finished", "running", "interrupted", "cancelled"):
        (folder / "preview.png").write_bytes(png_bytes(32, 24))
        write_json(folder / "progress.json", {"evaluation": 1, "total": 2, "preview": 1})
    if state == "finished":
        (folder / "result.png").write_bytes(png_bytes(32, 24))
    return job_id


@EXAMPLES
@given(state=st.sampled_from(STATES), damage=damages)
def test_a_damaged_job_is_shown_deletable_and_never_breaks_the_others(
    made: Path, tiny_weights: Path, tmp_path_factory: pytest.TempPathFactory, state: str,
    damage: dict[str, bytes | str | None],
) -> None:  # fmt: skip
    jobs = tmp_path_factory.mktemp("damaged") / "jobs"
    jobs.mkdir()
    good = _copy_job(made, jobs, "finished", 1.0)
    job_id = _copy_job(made, jobs, state, 2.0)
    for name, content in damage.items():
        _damage(jobs / job_id, name, content)
    dispatcher = _restart(jobs)  # the server starts: never raises
    client = _client(jobs, tiny_weights)
    listed = _check(client.get("/api/jobs"))
    assert listed.status_code == 200
    by_id = {job["id"]: job for job in listed.json()["jobs"]}
    assert by_id[good]["state"] == "finished" and _check(client.get(by_id[good]["urls"]["result"])).status_code == 200
    job = _check(client.get(f"/api/jobs/{job_id}")).json()
    assert {key: by_id[job_id][key] for key in ("state", "message", "resumable", "urls")} == {
        key: job[key] for key in ("state", "message", "resumable", "urls")
    }
    assert job["state"] in [*STATES, "damaged"]
    if job["state"] == "damaged":
        assert any(name in job["message"] for name in ("job.json", "settings.json", "state.json")), job
    if job_id in dispatcher.pending:  # queued again only when intact
        assert job["state"] == "queued" and read_json(jobs / job_id / "settings.json")
    for url in [*job["urls"].values()]:
        for one in url if isinstance(url, list) else [url]:
            if not one.endswith("/events") or job["state"] not in ("queued", "running"):
                _check(client.get(one))
    for action in ("cancel", "resume"):
        _check(client.post(f"/api/jobs/{job_id}/{action}"))
    assert _check(client.delete(f"/api/jobs/{job_id}")).status_code == 200
    assert not (jobs / job_id).exists()
    assert [entry["id"] for entry in client.get("/api/jobs").json()["jobs"]] == [good]


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(damage=damages)
def test_the_worker_fails_a_damaged_job_in_one_line_and_never_runs_it_with_defaults(
    made: Path, tmp_path_factory: pytest.TempPathFactory, damage: dict[str, bytes | str | None]
) -> None:
    import os

    jobs = tmp_path_factory.mktemp("worker") / "jobs"
    jobs.mkdir()
    job_id = _copy_job(made, jobs, "running", 1.0)
    damage = {name: content for name, content in damage.items() if name in ("job.json", "settings.json")}
    damage = damage or {"settings.json": b"{}garbage"}
    for name, content in damage.items():
        _damage(jobs / job_id, name, content)
    assume(inspect(JobStore(jobs), job_id).damage is not None)  # random bytes can make a valid file
    JobRunner(JobStore(jobs), threading.Event(), parent=os.getppid()).run(job_id)
    state = read_json(jobs / job_id / "state.json")
    assert state["state"] == "failed" and "\n" not in state["message"] and str(jobs) not in state["message"]
    assert "the job cannot run" in state["message"], state
    assert not (jobs / job_id / "result.png").exists()


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(states=st.lists(st.sampled_from(STATES), min_size=len(STATES), max_size=10), damaged=st.sets(st.integers(0, 9)))
def test_a_restart_with_jobs_in_every_state(made: Path, tmp_path_factory: pytest.TempPathFactory,
                                            states: list[str], damaged: set[int]) -> None:  # fmt: skip
    jobs = tmp_path_factory.mktemp("restart") / "jobs"
    jobs.mkdir()
    states = [*STATES, *states[len(STATES) :]]  # every state at least once
    ids = [_copy_job(made, jobs, state, float(100 - index)) for index, state in enumerate(states)]
    for index in damaged & set(range(len(ids))):
        (jobs / ids[index] / "settings.json").write_text("{garbage")
    dispatcher = _restart(jobs)
    expected_queue = [ids[index] for index in reversed(range(len(ids)))
                      if states[index] == "queued" and index not in damaged]  # fmt: skip
    assert list(dispatcher.pending) == expected_queue  # oldest first, only the intact ones
    for index, job_id in enumerate(ids):
        now = read_json(jobs / job_id / "state.json")["state"]
        before = states[index]
        want = {"running": "interrupted", "queued": "failed" if index in damaged else "queued"}.get(before, before)
        assert now == want, (before, index in damaged)


@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(plans=st.lists(st.lists(st.sampled_from(["post", "bad", "list", "get", "cancel", "resume", "delete"]),
                               min_size=3, max_size=8), min_size=3, max_size=4))  # fmt: skip
def test_concurrent_clients_never_see_a_500_or_lose_a_job(
    tiny_weights: Path, tmp_path_factory: pytest.TempPathFactory, plans: list[list[str]]
) -> None:
    jobs = tmp_path_factory.mktemp("concurrent") / "jobs"
    client = _client(jobs, tiny_weights, max_queue=5)
    created: list[str] = []
    deleted: set[str] = set()
    problems: list[str] = []
    lock = threading.Lock()

    def run(plan: list[str]) -> None:
        for action in plan:
            try:
                with lock:
                    target = created[-1] if created else "A" * 22
                if action == "post":
                    response = _check(_post(client))
                    if response.status_code == 201:
                        with lock:
                            created.append(response.json()["id"])
                    else:
                        assert response.status_code == 429, response.text
                elif action == "bad":
                    assert _check(_post(client, content_layers="conv9_9")).status_code in (422, 429)
                elif action == "list":
                    assert _check(client.get("/api/jobs")).status_code == 200
                elif action == "get":
                    _check(client.get(f"/api/jobs/{target}"))
                elif action in ("cancel", "resume"):
                    _check(client.post(f"/api/jobs/{target}/{action}"))
                elif _check(client.delete(f"/api/jobs/{target}")).status_code == 200:
                    with lock:
                        deleted.add(target)
            except Exception as error:  # collected: an assertion in a thread must fail the test
                problems.append(f"{action}: {error!r}")

    threads = [threading.Thread(target=run, args=(plan,)) for plan in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not problems, problems
    listed = [job["id"] for job in client.get("/api/jobs").json()["jobs"]]
    assert len(listed) == len(set(listed)) and set(listed) == set(created) - deleted
    assert _check(_post(client, content_layers="conv9_9")).status_code in (422, 429)
    for job_id in listed:  # room again: a valid job after the bad ones is still taken
        client.post(f"/api/jobs/{job_id}/cancel")
    assert _check(_post(client)).status_code == 201
