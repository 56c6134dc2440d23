"""The studio's REST API against a real server (uvicorn in a subprocess) running the tiny network."""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from painterly import options
from painterly.errors import PainterlyError
from tests.studio_harness import StudioServer, png_bytes, submit, wait_for

pytest.importorskip("fastapi")

LONG = {"size": 64, "iterations": 100000}  # runs until cancelled


@pytest.fixture(scope="module")
def server(tiny_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StudioServer]:
    jobs = tmp_path_factory.mktemp("studio") / "jobs"
    with StudioServer(jobs, weights=tiny_weights, extra=("--max-upload-mb", "1")) as running:
        yield running


@pytest.fixture
def client(server: StudioServer) -> Iterator[httpx.Client]:
    with server.client() as opened:
        yield opened


def _cli_words(values: dict[str, str]) -> str:
    with pytest.raises(PainterlyError) as error:
        options.parse(values)
    return str(error.value)


def test_options_describe_the_schema_and_presets(client: httpx.Client, server: StudioServer) -> None:
    assert (server.jobs_dir / ".gitignore").read_text() == "*\n"  # ./studio-jobs in a checkout stays out of git
    document = client.get("/api/options").json()
    by_name = {item["name"]: item for item in document["options"]}
    assert by_name["size"]["default"] == 512 and by_name["size"]["type"] == "integer"
    assert by_name["size"]["common"] and not by_name["pooling"]["common"]
    assert by_name["pooling"]["choices"] == ["avg", "max"]
    assert by_name["size"]["low"] == 16 and by_name["size"]["high"] == 16384
    assert "weights" not in by_name and "style_masks" not in by_name  # server paths are never a client's
    server_side = {"weights", "style_masks", "content_mask", "compile", "device"}
    assert set(by_name) == {item.name for item in options.OPTIONS} - server_side
    assert document["presets"]["paper"]["style_weight"] == 1e3 and document["presets"]["paper"]["init"] == "noise"
    assert document["presets"]["nnst"] == {"method": "nnst", "iterations": 1000}  # values the form can show
    assert client.get("/docs").status_code == 200


def test_a_job_streams_progress_and_gives_a_png_of_the_right_size(client: httpx.Client) -> None:
    created = submit(client, size=32, iterations=30)
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    events = []
    with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        kind = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
                if kind == "end":
                    break
    assert events[-1] == ("end", {"state": "finished"})
    progress = [data["progress"] for kind, data in events if kind == "progress" and data["progress"]]
    assert progress and progress[-1]["evaluation"] == 30 and progress[-1]["total"] == 30
    assert {"scale", "scales", "content_loss", "style_loss", "total_loss", "eta", "curve"} <= set(progress[-1])
    job = client.get(f"/api/jobs/{job_id}").json()
    assert job["state"] == "finished" and job["settings"]["size"] == 32
    result = client.get(job["urls"]["result"])
    assert result.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(result.content))
    assert image.size == (32, 24)
    assert "painterly:settings" in image.info  # the CLI's metadata
    assert client.get(job["urls"]["preview"]).status_code == 200
    assert client.get(f"/api/jobs/{job_id}/inputs/content").status_code == 200
    assert client.get(f"/api/jobs/{job_id}/inputs/style-1").status_code == 200
    download = client.get(job["urls"]["download"])
    assert "attachment" in download.headers["content-disposition"]


@pytest.mark.parametrize("method", ["strotss", "nnst"])
def test_a_job_paints_with_a_later_method_or_its_preset(client: httpx.Client, method: str) -> None:
    by_option = submit(client, size=32, iterations=4, method=method).json()["id"]
    by_preset = submit(client, size=32, iterations=4, preset=method).json()["id"]
    for job_id in (by_option, by_preset):
        job = wait_for(client, job_id, {"finished", "failed"})
        assert job["state"] == "finished" and job["settings"]["method"] == method, job
    refused = submit(client, size=32, iterations=4, method=method, optimizer="lbfgs")
    assert refused.status_code == 422 and f"does not apply to --method {method}" in refused.text


def test_list_is_newest_first_with_settings_and_thumbnails(client: httpx.Client) -> None:
    first = submit(client, size=32, iterations=5).json()["id"]
    second = submit(client, size=32, iterations=5, preset="paper").json()["id"]
    wait_for(client, second, {"finished"})
    listed = client.get("/api/jobs").json()["jobs"]
    ids = [job["id"] for job in listed]
    assert ids.index(second) < ids.index(first)
    entry = listed[ids.index(second)]
    assert entry["settings"]["init"] == "noise" and entry["urls"]["content"] and entry["urls"]["result"]


def test_cancel_stops_a_running_job_which_can_resume_and_be_deleted(client: httpx.Client, server: StudioServer) -> None:
    job_id = submit(client, **LONG).json()["id"]
    wait_for(client, job_id, {"running"}, condition=lambda job: job["progress"])
    assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 200
    # The job would run for hours; a generous bound, not a timing, so a loaded machine passes too.
    job = wait_for(client, job_id, {"cancelled"}, timeout=30)
    assert job["resumable"] and client.get(f"/api/jobs/{job_id}/result").status_code == 404
    assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 409
    resumed = client.post(f"/api/jobs/{job_id}/resume")
    assert resumed.status_code == 200 and resumed.json()["state"] in ("queued", "running")
    wait_for(client, job_id, {"running"})
    assert client.delete(f"/api/jobs/{job_id}").status_code == 200  # cancels, then removes
    assert client.get(f"/api/jobs/{job_id}").status_code == 404
    assert not (server.jobs_dir / job_id).exists()
    assert job_id not in [job["id"] for job in client.get("/api/jobs").json()["jobs"]]


def test_unknown_options_and_bad_values_get_the_command_lines_words(client: httpx.Client) -> None:
    response = submit(client, sise=32)
    assert response.status_code == 422 and response.json()["detail"] == _cli_words({"sise": "32"})
    assert "did you mean 'size'" in response.json()["detail"]
    response = submit(client, size=3)
    assert response.status_code == 422 and response.json()["detail"] == _cli_words({"size": "3"})
    response = submit(client, pooling="median")
    assert response.status_code == 422 and response.json()["detail"] == _cli_words({"pooling": "median"})
    response = submit(client, options=json.dumps({"style_weight": -1}))
    assert response.status_code == 422 and response.json()["detail"] == _cli_words({"style_weight": -1})
    response = submit(client, weights="/etc/passwd")
    assert response.status_code == 422 and "names a file on the server" in response.json()["detail"]
    response = submit(client, init="/etc/passwd")
    assert response.status_code == 422 and "upload it" in response.json()["detail"]


def test_a_size_that_does_not_fit_is_refused_before_queueing(client: httpx.Client) -> None:
    response = submit(client, size=16384, iterations=100, scales=1, style_scale=0.01)
    assert response.status_code == 422
    assert "free; the largest size that fits is about" in response.json()["detail"]


def _bomb() -> bytes:
    """A PNG whose header claims 100000 x 100000 pixels."""
    data = bytearray(png_bytes(8, 8))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", 100_000, 100_000)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    return bytes(data)


def test_bad_uploads_are_refused(client: httpx.Client) -> None:
    response = submit(client, photo=_bomb())
    assert response.status_code == 413 and "--max-upload-pixels" in response.json()["detail"]
    response = submit(client, photo=b"this is not an image")
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "content image 'photo.png' is not an image Pillow can read; use a PNG, JPEG or other common image file"
    )
    response = submit(client, photo=png_bytes(48, 36)[:200])
    assert response.status_code == 400 and "truncated" in response.json()["detail"]
    response = submit(client, photo=png_bytes(1200, 1000) + bytes(1_200_000))  # over --max-upload-mb 1
    assert response.status_code == 413 and "--max-upload-mb" in response.json()["detail"]
    response = client.post("/api/jobs", files=[("style", ("s.png", png_bytes(40, 40), "image/png"))])
    assert response.status_code == 422


@pytest.mark.parametrize(
    "path",
    [
        "/api/jobs/..%2F..%2Fetc%2Fpasswd",
        "/api/jobs/..%2F..%2Fetc/inputs/content",
        "/api/jobs/AAAAAAAAAAAAAAAAAAAAAA/result",
        "/api/jobs/AAAAAAAAAAAAAAAAAAAAAA/inputs/..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/jobs/%2E%2E/preview",
    ],
)
def test_no_path_leaves_the_jobs_folder(client: httpx.Client, path: str) -> None:
    response = client.get(httpx.URL(path))
    assert response.status_code in (404, 422)
    assert b"root:" not in response.content


def test_a_real_jobs_inputs_refuse_other_names(client: httpx.Client) -> None:
    job_id = submit(client, size=32, iterations=3).json()["id"]
    for name in ("%2E%2E", "job", "settings", "style-0", "content.png", "..%2Fjob.json"):
        assert client.get(httpx.URL(f"/api/jobs/{job_id}/inputs/{name}")).status_code == 404
    wait_for(client, job_id, {"finished"})


@pytest.fixture(scope="module")
def guarded(tiny_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StudioServer]:
    jobs = tmp_path_factory.mktemp("guarded") / "jobs"
    with StudioServer(jobs, weights=tiny_weights, token="s3cret-token", extra=("--max-queue", "1")) as running:
        yield running


def test_a_token_is_needed_for_every_request(guarded: StudioServer) -> None:
    with httpx.Client(base_url=guarded.base) as anonymous:
        for path in ("/", "/api/jobs", "/api/options", "/static/studio.js"):
            assert anonymous.get(path).status_code == 401
        assert anonymous.get("/api/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert "token" in anonymous.get("/api/jobs").json()["detail"]
        assert anonymous.get("/api/jobs?token=s3cret-token").status_code == 200
        page = anonymous.get("/?token=s3cret-token")
        assert page.status_code == 200 and "painterly_token" in page.headers["set-cookie"]
        assert anonymous.get("/static/studio.css").status_code == 200  # the cookie from the page
    with guarded.client() as client:
        assert client.get("/api/jobs").status_code == 200


def test_a_full_queue_is_refused(guarded: StudioServer) -> None:
    with guarded.client() as client:
        running = submit(client, **LONG).json()["id"]
        wait_for(client, running, {"running"})
        waiting = submit(client, **LONG)
        assert waiting.status_code == 201
        full = submit(client, **LONG)
        assert full.status_code == 429 and "queue is full" in full.json()["detail"]
        for job_id in (waiting.json()["id"], running):
            assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 200
        wait_for(client, running, {"cancelled"}, timeout=20)
