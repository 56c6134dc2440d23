"""Hostile requests to the studio: random option names and values, random bytes as images,
truncated images, huge fields. Every answer is 2xx, or 4xx with a one-line ``detail``; never 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from painterly import options
from tests.studio_harness import StudioServer, png_bytes

pytest.importorskip("fastapi")

PHOTO = png_bytes(48, 36)
PAINTING = png_bytes(40, 40, stripes=True)


@pytest.fixture(scope="module")
def server(tiny_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StudioServer]:
    jobs = tmp_path_factory.mktemp("adversarial") / "jobs"
    extra = ("--max-upload-mb", "0.5", "--max-queue", "2")
    with StudioServer(jobs, weights=tiny_weights, extra=extra) as running:
        yield running


names = st.one_of(st.sampled_from([item.name for item in options.OPTIONS] + ["preset", "options", "init"]),
                  st.text(min_size=1, max_size=30))  # fmt: skip
values = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["none", "true", "nan", "-1", "0", "1e309", "conv1_1,conv9_9", "{}", "[1,", "16", "32"]),
    st.just("x" * 600_000),  # a huge field
)
images = st.one_of(
    st.just(PHOTO),
    st.binary(max_size=2000),
    st.integers(min_value=0, max_value=len(PHOTO) - 1).map(lambda cut: PHOTO[:cut]),
    st.binary(min_size=1, max_size=64).map(lambda junk: PHOTO[:40] + junk + PHOTO[40:]),
)


def _check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        detail = response.json()["detail"]
        assert isinstance(detail, str) and detail and "\n" not in detail, detail


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    fields=st.dictionaries(names, values, max_size=4),
    photo=images,
    painting=images,
    as_json=st.booleans(),
    size=st.sampled_from(["16", "32"]),
)
def test_job_requests_never_fail_the_server(
    server: StudioServer, fields: dict[str, str], photo: bytes, painting: bytes, as_json: bool, size: str
) -> None:
    data = {"size": size, "iterations": "2", **fields}  # valid requests stay small
    if as_json:
        data = {"options": json.dumps(data)}
    files = [("content", ("photo.png", photo, "image/png")), ("style", ("painting.png", painting, "image/png"))]
    with server.client(timeout=60) as client:
        _check(client.post("/api/jobs", files=files, data=data))


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    job_id=st.text(max_size=40).map(lambda text: text.replace("/", "%2F").replace("?", "%3F").replace("#", "%23")),
    tail=st.sampled_from(["", "/events", "/result", "/preview", "/inputs/content", "/inputs/../x", "/cancel"]),
    method=st.sampled_from(["GET", "POST", "DELETE"]),
)
def test_job_urls_never_fail_the_server(server: StudioServer, job_id: str, tail: str, method: str) -> None:
    with server.client(timeout=30) as client:
        try:
            response = client.request(method, f"/api/jobs/{job_id}{tail}")
        except httpx.InvalidURL:
            return  # the client refused to send it
        _check(response)
