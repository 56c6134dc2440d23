"""A job's pictures: the result, the latest snapshot and the uploaded inputs, as PNG.

Each is read whole (an atomically replaced file is never sent half old, half new) and sent with a
strong ETag and ``Cache-Control: no-cache``: the browser revalidates, and an unchanged picture
is answered 304 with no body (:mod:`painterly.web.etags`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from painterly.web.context import StudioDep, refuse
from painterly.web.etags import not_modified, read_picture
from painterly.web.records import inspect
from painterly.web.store import FINISHED, INPUT_NAME, JOB_ID
from painterly.web.views import refusal

router = APIRouter(prefix="/api/jobs/{job_id}")


def send_picture(request: Request, job_id: str, path: Path, missing: str, download: bool = False) -> Response:
    """The picture at ``path`` (one of the job's files), or 304 when the client's copy
    (``If-None-Match``) is current, or 404 with ``missing`` when there is none."""
    picture = read_picture(path)
    if picture is None:
        raise refuse(404, missing)
    headers = {"cache-control": "no-cache", "etag": picture.etag}
    if not_modified(request.headers.get("if-none-match"), picture.etag):
        return Response(status_code=304, headers=headers)
    if download:
        headers["content-disposition"] = f'attachment; filename="painterly-{job_id}.png"'
    return Response(picture.content, media_type="image/png", headers=headers)


@router.get("/result")
async def result(job_id: str, request: Request, studio: StudioDep, download: bool = False) -> Response:
    """The finished picture (PNG with the settings as metadata); 404 until the job has finished."""
    record = inspect(studio.store, job_id) if JOB_ID.fullmatch(job_id) else None
    if record is not None and record.shown_state != FINISHED:
        raise refuse(404, refusal(record, job_id, "its picture is ready when it has finished"))
    path = studio.files(job_id).result
    return send_picture(request, job_id, path, f"job {job_id[:40]!r} has no result", download)


@router.get("/preview")
async def preview(job_id: str, request: Request, studio: StudioDep) -> Response:
    """The latest snapshot (the picture as it forms, at the current scale's size)."""
    missing = "no snapshot yet; the first comes after the first evaluation"
    return send_picture(request, job_id, studio.files(job_id).preview, missing)


@router.get("/inputs/{name}")
async def job_input(job_id: str, name: str, request: Request, studio: StudioDep) -> Response:
    """The photo (``content``), a painting (``style-1`` ...) or the uploaded ``init`` image."""
    if not INPUT_NAME.fullmatch(name):
        raise refuse(404, f"no input {name[:40]!r}; use content, style-1, style-2 ... or init")
    path = studio.files(job_id).input(name)
    return send_picture(request, job_id, path, f"job {job_id[:40]!r} has no input {name}")
