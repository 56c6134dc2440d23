"""The jobs: create (queue), list, show, cancel, delete and resume.

What each refusal answers: 404 for a job that does not exist (any more), 409 for one in a state
that does not allow the action (or damaged), 429 when the queue is full, 413/400/422 for a
request that is too large, not an image, or has invalid options.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from painterly.errors import PainterlyError
from painterly.web.context import StudioDep, no_job, refuse
from painterly.web.jobs import CANCEL_GRACE_SECONDS, QueueFull
from painterly.web.records import inspect
from painterly.web.resume import starting_point
from painterly.web.schema import JobView
from painterly.web.store import QUEUED
from painterly.web.submission import prepare_job, read_submission
from painterly.web.views import job_view, refusal

router = APIRouter(prefix="/api/jobs")


@router.post("", status_code=201, response_model=JobView)
async def create_job(request: Request, studio: StudioDep) -> dict[str, Any]:
    """Queue a job. Multipart: ``content`` (the photo), ``style`` (one or more paintings), optionally
    ``init`` (an image to start from), ``preset``, options as single fields or one JSON ``options`` field."""
    try:
        studio.dispatcher.check_room()  # before the body is read: a full queue costs no upload
    except QueueFull as error:
        raise refuse(429, str(error)) from None
    submission = await read_submission(request)
    job_id = await run_in_threadpool(prepare_job, studio, submission)
    return studio.view(job_id)


@router.get("")
async def list_jobs(studio: StudioDep) -> dict[str, Any]:
    """Every job, newest first, with its settings and the URLs of its pictures."""
    store, dispatcher = studio.store, studio.dispatcher
    jobs = [job_view(store, job_id, position=dispatcher.position(job_id), curve=False) for job_id in store.ids()]
    return {"jobs": [job for job in jobs if job is not None]}


@router.get("/{job_id}", response_model=JobView)
async def get_job(job_id: str, studio: StudioDep) -> dict[str, Any]:
    return studio.view(job_id)


@router.post("/{job_id}/cancel")
async def cancel(job_id: str, studio: StudioDep) -> dict[str, Any]:
    """Stop a queued or running job (within about one evaluation)."""
    studio.files(job_id)
    if not studio.dispatcher.cancel(job_id):
        record = inspect(studio.store, job_id)
        if record is None:
            raise no_job(job_id)
        raise refuse(409, refusal(record, job_id, "only a queued or running job can be cancelled"))
    return studio.view(job_id)


@router.delete("/{job_id}")
async def delete(job_id: str, studio: StudioDep) -> dict[str, Any]:
    """Remove a job and its files; a running job is cancelled first."""
    studio.files(job_id)
    dispatcher = studio.dispatcher
    if dispatcher.cancel(job_id):
        deadline = time.monotonic() + CANCEL_GRACE_SECONDS + 3
        while dispatcher.running(job_id) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    if not await run_in_threadpool(studio.store.remove, job_id):
        raise no_job(job_id)  # another client deleted it meanwhile
    return {"deleted": job_id}


@router.post("/{job_id}/resume", response_model=JobView)
async def resume(job_id: str, studio: StudioDep) -> dict[str, Any]:
    """Run an interrupted, cancelled or failed job again, starting from its last snapshot (from
    the start when the snapshot is damaged); a job whose state file is damaged can resume too."""
    files = studio.files(job_id)
    record = inspect(studio.store, job_id)
    if record is None:
        raise no_job(job_id)
    if studio.dispatcher.holds(job_id):
        raise refuse(409, f"job {job_id} is queued or running; cancel it first")
    if not record.resumable:
        raise refuse(409, refusal(record, job_id, "only an interrupted, cancelled or failed job can resume"))

    def requeue() -> None:
        studio.store.set_state(job_id, QUEUED, starting_point(files))

    try:
        await run_in_threadpool(studio.dispatcher.admit, job_id, requeue)
    except QueueFull as error:
        raise refuse(429, str(error)) from None
    except PainterlyError as error:
        raise refuse(409, str(error)) from None
    except FileNotFoundError:  # another client deleted the job meanwhile: nothing was queued
        raise no_job(job_id) from None
    return studio.view(job_id)
