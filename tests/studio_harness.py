"""A real studio server in a subprocess, for the studio's tests (``python -m painterly.cli serve``).

Tests start it on a free loopback port with a tiny network, talk to it over HTTP, and may kill
it hard (SIGKILL) to check what a restarted server makes of the jobs folder.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class StudioServer:
    """``painterly serve`` on 127.0.0.1 with the given jobs folder and options."""

    def __init__(self, jobs_dir: Path, *, weights: Path | None = None, token: str | None = None,
                 extra: tuple[str, ...] = ()) -> None:  # fmt: skip
        self.jobs_dir = jobs_dir
        self.weights = weights
        self.token = token
        self.extra = extra
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = jobs_dir.parent / f"{jobs_dir.name}-server.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=kwargs.pop("timeout", 60), **kwargs)

    def start(self, timeout: float = 90) -> StudioServer:
        command = [sys.executable, "-m", "painterly.cli", "serve", "--port", str(self.port),
                   "--jobs-dir", str(self.jobs_dir), *self.extra]  # fmt: skip
        if self.weights is not None:
            command += ["--weights", str(self.weights)]
        if self.token is not None:
            command += ["--token", self.token]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        with self.client(timeout=5) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the studio server exited: {self.log.read_text()[-2000:]}")
                try:
                    if client.get("/api/health").status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the studio server did not answer in {timeout} s: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL, as a crash or a power cut would: nothing gets to clean up."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """Ctrl-C, then SIGKILL if it does not stop."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> StudioServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for(client: httpx.Client, job_id: str, states: set[str], timeout: float = 120,
             condition: Any = None) -> dict[str, Any]:  # fmt: skip
    """Poll a job until its state is one of ``states`` (and ``condition(job)`` holds); the job."""
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job.get("state") in states and (condition is None or condition(job)):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not reach {states} in {timeout} s: {job.get('state')} {job.get('message')}")


def png_bytes(width: int, height: int, *, stripes: bool = False) -> bytes:
    """A small synthetic picture as PNG bytes: a smooth gradient, or stripes (a 'painting')."""
    import io

    import numpy as np
    from PIL import Image

    x = np.linspace(0, 1, width)[None, :].repeat(height, 0)
    y = np.linspace(0, 1, height)[:, None].repeat(width, 1)
    if stripes:
        rgb = np.stack([(np.sin(x * 40) > 0) * 1.0, (np.sin(y * 30) > 0) * 0.8, 0.5 + 0.5 * np.sin((x + y) * 20)], -1)
    else:
        rgb = np.stack([x, y, 1 - x * y], -1)
    buffer = io.BytesIO()
    Image.fromarray((rgb * 255).round().astype(np.uint8), "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def submit(client: httpx.Client, *, photo: bytes | None = None, styles: int = 1, **fields: Any) -> httpx.Response:
    """POST /api/jobs with a 48x36 photo and striped paintings; ``fields`` are form fields."""
    files = [("content", ("photo.png", photo or png_bytes(48, 36), "image/png"))]
    files += [("style", (f"painting-{index}.png", png_bytes(40, 40, stripes=True), "image/png"))
              for index in range(styles)]  # fmt: skip
    return client.post("/api/jobs", files=files, data={name: str(value) for name, value in fields.items()})
