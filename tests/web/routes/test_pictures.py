"""The studio's pictures over HTTP: strong ETags, revalidation (304) and URLs versioned by the tag.

The app runs in this process (Starlette's TestClient without the lifespan: no worker starts, so a
job stays queued and the test writes its pictures itself, as the worker would - atomically).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from painterly.atomic import atomic_path
from tests.studio_harness import png_bytes

pytest.importorskip("fastapi")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx versions
    from starlette.testclient import TestClient

from painterly.web.app import StudioConfig, create_app
from painterly.web.store import FINISHED, JobFiles, JobStore, write_json

PACKAGE = Path(__file__).resolve().parents[3] / "painterly"


@pytest.fixture
def client(tiny_weights: Path, tmp_path: Path) -> Iterator[TestClient]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        app = create_app(StudioConfig(jobs_dir=tmp_path / "jobs", weights=str(tiny_weights)))
        yield TestClient(app, raise_server_exceptions=False)


def write_bytes_atomically(path: Path, content: bytes) -> None:
    """As the worker writes a picture: a new file renamed over the old one."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(content)


def _finished_job(client: TestClient, jobs: Path) -> tuple[str, JobFiles]:
    files = [("content", ("photo.png", png_bytes(48, 36), "image/png")),
             ("style", ("painting.png", png_bytes(40, 40, stripes=True), "image/png"))]  # fmt: skip
    created = client.post("/api/jobs", files=files, data={"size": "32", "iterations": "2"})
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    job = JobStore(jobs).files(job_id)
    assert job is not None
    write_bytes_atomically(job.result, png_bytes(32, 24))
    write_json(job.progress, {"evaluation": 2, "total": 2, "preview": 1})
    write_bytes_atomically(job.preview, png_bytes(32, 24, stripes=True))
    JobStore(jobs).set_state(job_id, FINISHED, "done")
    return job_id, job


def _urls(client: TestClient, job_id: str) -> dict[str, Any]:
    urls: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()["urls"]
    return urls


@pytest.mark.parametrize("kind", ["result", "preview", "content"])
def test_a_picture_has_a_strong_etag_and_revalidates_to_304(client: TestClient, tmp_path: Path, kind: str) -> None:
    job_id, _ = _finished_job(client, tmp_path / "jobs")
    url = _urls(client, job_id)[kind]
    first = client.get(url)
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f-]+"', etag), etag  # strong: quoted, no W/
    assert first.headers["cache-control"] == "no-cache"  # kept, so the browser asks every time
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag and again.headers["cache-control"] == "no-cache"
    for header in (f'"other", {etag}', f"W/{etag}", "*"):  # a list, the weak form, any
        assert client.get(url, headers={"If-None-Match": header}).status_code == 304, header
    stale = client.get(url, headers={"If-None-Match": '"0-0-0"'})
    assert stale.status_code == 200 and stale.content == first.content


def test_a_changed_picture_gets_a_new_etag_and_a_new_url(client: TestClient, tmp_path: Path) -> None:
    job_id, job = _finished_job(client, tmp_path / "jobs")
    before = _urls(client, job_id)
    first = client.get(before["preview"])
    etag = first.headers["etag"]
    assert before["preview"].endswith(f"?v={etag.strip(chr(34))}")  # the URL's version is the tag
    assert _urls(client, job_id)["preview"] == before["preview"]  # unchanged picture, unchanged URL
    write_bytes_atomically(job.preview, png_bytes(32, 24))  # the worker's next snapshot
    after = _urls(client, job_id)
    assert after["preview"] != before["preview"] and after["result"] == before["result"]
    changed = client.get(after["preview"], headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.content == png_bytes(32, 24) != first.content


def test_a_missing_picture_is_404_whatever_the_client_holds(client: TestClient, tmp_path: Path) -> None:
    job_id, job = _finished_job(client, tmp_path / "jobs")
    url = _urls(client, job_id)["preview"]
    etag = client.get(url).headers["etag"]
    job.preview.unlink()
    gone = client.get(url, headers={"If-None-Match": etag})
    assert gone.status_code == 404 and "no snapshot yet" in gone.json()["detail"]
    assert "preview" not in _urls(client, job_id)


def test_only_the_store_spells_a_job_file_name() -> None:
    """The folder layout lives in painterly/web/store.py (JobFiles); nothing else in the studio
    spells a job file's name, so a renamed file cannot leave a reader behind."""
    names = ["job.json", "settings.json", "state.json", "progress.json", "history.json", "preview.png",
             "result.png", "start.png", "content.png", "init.png", "style-"]  # fmt: skip
    found = []
    for path in sorted((PACKAGE / "web").rglob("*.py")):
        if path.name == "store.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#")[0]
            found += [f"{path.name}:{number}: {name}" for name in names if f'"{name}' in code or f"'{name}" in code]
    assert not found, found
