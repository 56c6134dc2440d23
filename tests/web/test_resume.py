"""The studio survives a hard stop: kill -9 the server mid-job, start it again on the same folder.

A job that was running is interrupted with its last snapshot and can be resumed; finished jobs
are still listed; queued jobs run; under load no job is lost or duplicated and no half-written
picture is ever served.
"""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.studio_harness import StudioServer, submit, wait_for

pytest.importorskip("fastapi")


def test_a_killed_server_leaves_interrupted_resumable_jobs(tiny_weights: Path, tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    server = StudioServer(jobs, weights=tiny_weights).start()
    try:
        with server.client() as client:
            done = submit(client, size=32, iterations=5).json()["id"]
            wait_for(client, done, {"finished"})
            running = submit(client, size=64, iterations=100000).json()["id"]
            wait_for(client, running, {"running"}, condition=lambda job: "preview" in job["urls"])
        server.kill()
        server.start()
        with server.client() as client:
            job = client.get(f"/api/jobs/{running}").json()
            assert job["state"] == "interrupted" and job["resumable"] and "resume" in job["message"]
            snapshot = client.get(job["urls"]["preview"])
            assert snapshot.status_code == 200 and Image.open(io.BytesIO(snapshot.content)).size[0] > 0
            listed = {entry["id"]: entry for entry in client.get("/api/jobs").json()["jobs"]}
            assert listed[done]["state"] == "finished"
            assert client.get(listed[done]["urls"]["result"]).status_code == 200
            assert client.post(f"/api/jobs/{running}/resume").status_code == 200
            wait_for(client, running, {"running"}, condition=lambda job: job["progress"])
            assert (jobs / running / "start.png").is_file()  # the resumed run starts from the snapshot
            client.post(f"/api/jobs/{running}/cancel")
            wait_for(client, running, {"cancelled"}, timeout=20)
    finally:
        server.stop()


def _check_png(response: httpx.Response, problems: list[str]) -> None:
    if response.status_code != 200:
        return
    try:
        Image.open(io.BytesIO(response.content)).load()
    except Exception as error:
        problems.append(f"{response.url}: {error}")


def test_twenty_jobs_from_five_clients_survive_a_hard_restart(tiny_weights: Path, tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    server = StudioServer(jobs, weights=tiny_weights).start()
    confirmed: dict[int, str] = {}  # seed -> job id: the seed marks each submission
    unknown: set[int] = set()  # submissions cut off mid-request: they may or may not exist
    problems: list[str] = []
    stop_reading = threading.Event()
    lock = threading.Lock()

    def client_thread(index: int) -> None:
        for number in range(4):
            seed = index * 4 + number
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    with server.client(timeout=30) as client:
                        response = submit(client, size=32, iterations=12, seed=seed)
                    assert response.status_code == 201, response.text
                    with lock:
                        confirmed[seed] = response.json()["id"]
                    break
                except httpx.ConnectError:  # nothing was sent: safe to try again
                    time.sleep(0.2)
                except httpx.HTTPError:  # sent, but the answer was lost
                    with lock:
                        unknown.add(seed)
                    break

    def reader() -> None:  # fetches pictures all along: none may be half written
        while not stop_reading.is_set():
            try:
                with server.client(timeout=10) as client:
                    for job in client.get("/api/jobs").json()["jobs"]:
                        for key in ("preview", "result"):
                            if key in job["urls"]:
                                _check_png(client.get(job["urls"][key]), problems)
            except (httpx.HTTPError, ValueError):
                time.sleep(0.1)

    threads = [threading.Thread(target=client_thread, args=(index,)) for index in range(5)]
    watcher = threading.Thread(target=reader)
    try:
        for thread in [*threads, watcher]:
            thread.start()
        deadline = time.monotonic() + 120
        while len(confirmed) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill()  # in the middle: some jobs done, one running, some queued, some not yet sent
        time.sleep(0.5)
        server.start()
        for thread in threads:
            thread.join(timeout=150)
        with server.client() as client:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                listed = client.get("/api/jobs").json()["jobs"]
                if all(job["state"] not in ("queued", "running") for job in listed):
                    break
                time.sleep(0.3)
            seeds = [job["settings"]["seed"] for job in listed]
            assert len(seeds) == len(set(seeds)), "a submission made two jobs"
            assert set(confirmed.values()) <= {job["id"] for job in listed}, "a confirmed job was lost"
            assert set(seeds) <= set(confirmed) | unknown
            assert len(confirmed) + len(unknown) == 20
            for job in listed:
                assert job["state"] == "finished" or (job["state"] == "interrupted" and job["resumable"]), job
            for job in listed:
                if job["state"] == "interrupted":
                    assert client.post(f"/api/jobs/{job['id']}/resume").status_code == 200
            for job in listed:
                wait_for(client, job["id"], {"finished"}, timeout=120)
    finally:
        stop_reading.set()
        watcher.join(timeout=30)
        server.stop()
    assert not problems, problems


def _worker_pids(server_pid: int) -> list[int]:
    """The server's worker processes (spawned children, not multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == server_pid and b"spawn_main" in command and b"resource_tracker" not in command:
            found.append(int(entry.name))
    return found


def test_a_crashed_worker_fails_its_job_and_the_server_goes_on(tiny_weights: Path, tmp_path: Path) -> None:
    import os
    import signal

    server = StudioServer(tmp_path / "jobs", weights=tiny_weights).start()
    try:
        assert server.process is not None
        with server.client() as client:
            doomed = submit(client, size=64, iterations=100000).json()["id"]
            wait_for(client, doomed, {"running"}, condition=lambda job: job["progress"])
            workers = _worker_pids(server.process.pid)
            assert len(workers) == 1
            os.kill(workers[0], signal.SIGKILL)  # as the kernel's out-of-memory killer would
            job = wait_for(client, doomed, {"failed"}, timeout=30)
            assert "worker process was killed" in job["message"] and job["resumable"]
            after = submit(client, size=32, iterations=5).json()["id"]
            wait_for(client, after, {"finished"}, timeout=120)
    finally:
        server.stop()
