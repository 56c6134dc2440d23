"""A job's progress as Server-Sent Events, read from its files (the worker writes, this reads)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from painterly.web.context import Studio, StudioDep
from painterly.web.records import DAMAGED
from painterly.web.store import TERMINAL
from painterly.web.views import job_view

#: How often the event stream looks at a job's files, and the longest pause between two events
#: (a proxy or a browser would otherwise take a quiet stream for a dead one).
EVENT_POLL_SECONDS = 0.25
EVENT_EVERY_SECONDS = 1.0

router = APIRouter()


@router.get("/api/jobs/{job_id}/events")
async def events(job_id: str, request: Request, studio: StudioDep) -> StreamingResponse:
    """Server-Sent Events: ``progress`` (the job, as GET shows it) on every change and at least
    every second; ``end`` when the job stops."""
    studio.view(job_id)
    return StreamingResponse(
        stream(studio, job_id, request), media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )  # fmt: skip


async def stream(studio: Studio, job_id: str, request: Request) -> AsyncIterator[str]:
    """The events of one job until it stops, is deleted, or the client goes away."""
    last, sent = "", 0.0
    while True:
        found = job_view(studio.store, job_id, position=studio.dispatcher.position(job_id))
        if found is None:
            yield 'event: end\ndata: {"state": null}\n\n'
            return
        payload = json.dumps(found)
        now = time.monotonic()
        if payload != last or now - sent >= EVENT_EVERY_SECONDS:
            yield f"event: progress\ndata: {payload}\n\n"
            last, sent = payload, now
        if found["state"] in TERMINAL or found["state"] == DAMAGED:
            yield f"event: end\ndata: {json.dumps({'state': found['state']})}\n\n"
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(EVENT_POLL_SECONDS)
