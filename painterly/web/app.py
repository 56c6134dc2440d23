"""The studio's HTTP server: the REST API, the event stream and the page (FastAPI).

The server keeps no job in memory that is not also on disk: jobs are folders
(:mod:`painterly.web.store`), run by worker processes (:mod:`painterly.web.jobs`). Every
refusal a user can fix is a 4xx whose ``detail`` is one line (the command line's words for
options), and no path is ever taken from a request.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import UploadFile

from painterly import options
from painterly.errors import PainterlyError
from painterly.web.guard import BodyLimit, BodyTooLarge, TokenGuard
from painterly.web.jobs import CANCEL_GRACE_SECONDS, Dispatcher, QueueFull
from painterly.web.preflight import Preflight
from painterly.web.records import DAMAGED, inspect
from painterly.web.schema import RESERVED_FIELDS, JobView, options_document, read_options
from painterly.web.store import FINISHED, INPUT_NAME, JOB_ID, TERMINAL, JobStore, write_json
from painterly.web.uploads import (
    DEFAULT_MAX_UPLOAD_PIXELS,
    UploadLimits,
    UploadRejected,
    UploadTooLarge,
    display_name,
    store_upload,
)  # fmt: skip
from painterly.web.views import job_view, refusal

STATIC = Path(__file__).parent / "static"
MAX_STYLES = 8
#: How often the event stream looks at a job's files, and the longest pause between two events.
EVENT_POLL_SECONDS = 0.25
EVENT_EVERY_SECONDS = 1.0


@dataclass
class StudioConfig:
    """What ``painterly serve`` was started with."""

    jobs_dir: Path
    token: str | None = None
    workers: int = 1
    devices: list[int | None] = field(default_factory=lambda: [None])
    max_upload_bytes: int = 50_000_000
    max_upload_pixels: int = DEFAULT_MAX_UPLOAD_PIXELS
    max_queue: int = 100
    weights: str | None = None


def _refuse(status: int, detail: str) -> HTTPException:
    return HTTPException(status_code=status, detail=" ".join(detail.split()))


def create_app(config: StudioConfig) -> Any:
    """The studio as an ASGI application (the API behind the token and size guards)."""
    store = JobStore(config.jobs_dir)
    dispatcher = Dispatcher(store, config.workers, config.max_queue, config.devices)
    preflight = Preflight()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        dispatcher.start()
        try:
            yield
        finally:
            await run_in_threadpool(dispatcher.stop)

    app = FastAPI(
        title="painterly studio",
        description="Neural style transfer jobs: upload a photo and paintings, watch them paint, download.",
        lifespan=lifespan,
    )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid request')}"}, status_code=422)

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, error: BodyTooLarge) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=413, headers={"connection": "close"})

    def folder_of(job_id: str) -> Path:
        folder = store.folder(job_id)
        if folder is None:
            raise _refuse(404, f"no job {job_id[:40]!r}; it may have been deleted")
        return folder

    def view(job_id: str, *, curve: bool = True) -> dict[str, Any]:
        found = job_view(store, job_id, position=dispatcher.position(job_id), curve=curve)
        if found is None:
            raise _refuse(404, f"no job {job_id[:40]!r}; it may have been deleted")
        return found

    # --- the page -----------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # --- the API ------------------------------------------------------------------------------

    @app.get("/api/health")
    async def health() -> dict[str, Any]:
        return {"ok": True, "workers": config.workers}

    @app.get("/api/options")
    async def get_options() -> dict[str, Any]:
        """Every option a job takes (type, default, choices, bounds, help, common/advanced) and the presets."""
        return options_document()

    @app.post("/api/jobs", status_code=201, response_model=JobView)
    async def create_job(request: Request) -> dict[str, Any]:
        """Queue a job. Multipart: ``content`` (the photo), ``style`` (one or more paintings), optionally
        ``init`` (an image to start from), ``preset``, options as single fields or one JSON ``options`` field."""
        try:
            dispatcher.check_room()
        except QueueFull as error:
            raise _refuse(429, str(error)) from None
        try:
            form = await request.form(max_files=MAX_STYLES + 2, max_fields=200)
        except BodyTooLarge as error:
            raise _refuse(413, str(error)) from None
        files: dict[str, list[UploadFile]] = {}
        fields: dict[str, str] = {}
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.setdefault(name, []).append(value)
            elif name not in RESERVED_FIELDS:
                fields[name] = value
        unexpected = set(files) - {"content", "style", "init"}
        if unexpected:
            raise _refuse(422, f"unexpected file field {sorted(unexpected)[0]!r}; send content, style and init")
        if len(files.get("content", [])) != 1:
            raise _refuse(422, "send exactly one photo in the content file field")
        styles = files.get("style", [])
        if not 1 <= len(styles) <= MAX_STYLES:
            raise _refuse(422, f"send one to {MAX_STYLES} paintings in the style file field")
        init_file = files["init"][0] if files.get("init") else None
        if len(files.get("init", [])) > 1:
            raise _refuse(422, "send at most one init image")
        options_json = form.get("options")
        preset = form.get("preset")
        try:
            values = read_options(
                fields, options_json if isinstance(options_json, str) else None,
                preset if isinstance(preset, str) else None,
            )  # fmt: skip
        except PainterlyError as error:
            raise _refuse(422, str(error)) from None
        uploads = [("content", "content image", files["content"][0])]
        uploads += [(f"style-{index}", "style image", upload) for index, upload in enumerate(styles, start=1)]
        if init_file is not None:
            uploads.append(("init", "init image", init_file))
        try:
            data = [(name, role, upload.filename, await upload.read()) for name, role, upload in uploads]
        except BodyTooLarge as error:
            raise _refuse(413, str(error)) from None
        finally:
            await form.close()  # the spooled upload files
        job_id = await run_in_threadpool(prepare_job, values, data)
        return view(job_id)

    def prepare_job(values: dict[str, Any], data: list[tuple[str, str, str | None, bytes]]) -> str:
        """Save the uploads, check the run and queue it: the blocking part of creating a job."""
        job_id, staged = store.staging()
        try:
            chosen = dict(values)
            if config.weights:
                chosen["weights"] = config.weights
            limits = UploadLimits.of(options.validate(chosen), config.max_upload_pixels)
            for name, role, filename, content in data:
                store_upload(content, filename, role, staged / f"{name}.png", limits)
            has_init = any(name == "init" for name, *_ in data)
            if has_init:
                chosen["init"] = str(staged / "init.png")
            settings = options.validate(chosen)
            style_paths = [staged / f"style-{index}.png" for index in range(1, len(data) + 1)
                           if (staged / f"style-{index}.png").is_file()]  # fmt: skip
            try:
                preflight.check(settings, staged / "content.png", style_paths)
            except (PainterlyError, UploadRejected):
                raise
            except Exception as error:  # what would fail the run at its start fails the request instead
                text = " ".join(str(error).split())[:300]
                raise PainterlyError(f"the run cannot start ({type(error).__name__}: {text})") from None
            if has_init:
                settings["init"] = "init.png"  # the worker reads it from the job's folder
            write_json(staged / "settings.json", settings)
            now = time.time()
            names = {"content": display_name(data[0][2]),
                     "styles": [display_name(filename) for name, _, filename, _ in data if name.startswith("style")]}
            meta = {"id": job_id, "created": now, "queued": now, "styles": len(style_paths),
                    "init_file": has_init, "names": names}  # fmt: skip
            dispatcher.admit(job_id, lambda: store.commit(job_id, staged, meta))
        except UploadTooLarge as error:
            store.discard(staged)
            raise _refuse(413, str(error)) from None
        except UploadRejected as error:
            store.discard(staged)
            raise _refuse(400, str(error)) from None
        except QueueFull as error:
            store.discard(staged)
            raise _refuse(429, str(error)) from None
        except PainterlyError as error:
            store.discard(staged)
            raise _refuse(422, str(error)) from None
        except BaseException:
            store.discard(staged)
            raise
        return job_id

    @app.get("/api/jobs")
    async def list_jobs() -> dict[str, Any]:
        """Every job, newest first, with its settings and the URLs of its pictures."""
        jobs = [job_view(store, job_id, position=dispatcher.position(job_id), curve=False) for job_id in store.ids()]
        return {"jobs": [job for job in jobs if job is not None]}

    @app.get("/api/jobs/{job_id}", response_model=JobView)
    async def get_job(job_id: str) -> dict[str, Any]:
        return view(job_id)

    @app.get("/api/jobs/{job_id}/events")
    async def events(job_id: str, request: Request) -> StreamingResponse:
        """Server-Sent Events: ``progress`` (the job, as GET shows it) on every change and at least
        every second; ``end`` when the job stops."""
        view(job_id)

        async def stream() -> AsyncIterator[str]:
            last, sent = "", 0.0
            while True:
                found = job_view(store, job_id, position=dispatcher.position(job_id))
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

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"cache-control": "no-cache", "x-accel-buffering": "no"}
        )

    def picture(job_id: str, name: str, missing: str, download: bool = False) -> Response:
        """A whole PNG, read in one go: an atomically replaced file is never sent half old, half new."""
        path = folder_of(job_id) / name
        try:
            content = path.read_bytes()
        except OSError:
            raise _refuse(404, missing) from None
        headers = {"cache-control": "no-cache"}
        if download:
            headers["content-disposition"] = f'attachment; filename="painterly-{job_id}.png"'
        return Response(content, media_type="image/png", headers=headers)

    @app.get("/api/jobs/{job_id}/result")
    async def result(job_id: str, download: bool = False) -> Response:
        """The finished picture (PNG with the settings as metadata); 404 until the job has finished."""
        record = inspect(store, job_id) if JOB_ID.fullmatch(job_id) else None
        if record is not None and record.shown_state != FINISHED:
            raise _refuse(404, refusal(record, job_id, "its picture is ready when it has finished"))
        return picture(job_id, "result.png", f"job {job_id[:40]!r} has no result", download)

    @app.get("/api/jobs/{job_id}/preview")
    async def preview(job_id: str) -> Response:
        """The latest snapshot (the picture as it forms, at the current scale's size)."""
        return picture(job_id, "preview.png", "no snapshot yet; the first comes after the first evaluation")

    @app.get("/api/jobs/{job_id}/inputs/{name}")
    async def job_input(job_id: str, name: str) -> Response:
        """The photo (``content``), a painting (``style-1`` ...) or the uploaded ``init`` image."""
        if not INPUT_NAME.fullmatch(name):
            raise _refuse(404, f"no input {name[:40]!r}; use content, style-1, style-2 ... or init")
        return picture(job_id, f"{name}.png", f"job {job_id[:40]!r} has no input {name}")

    @app.post("/api/jobs/{job_id}/cancel")
    async def cancel(job_id: str) -> dict[str, Any]:
        """Stop a queued or running job (within about one evaluation)."""
        folder_of(job_id)
        if not dispatcher.cancel(job_id):
            record = inspect(store, job_id)
            if record is None:
                raise _refuse(404, f"no job {job_id[:40]!r}; it may have been deleted")
            raise _refuse(409, refusal(record, job_id, "only a queued or running job can be cancelled"))
        return view(job_id)

    @app.delete("/api/jobs/{job_id}")
    async def delete(job_id: str) -> dict[str, Any]:
        """Remove a job and its files; a running job is cancelled first."""
        folder_of(job_id)
        if dispatcher.cancel(job_id):
            deadline = time.monotonic() + CANCEL_GRACE_SECONDS + 3
            while dispatcher.running(job_id) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        await run_in_threadpool(store.remove, job_id)
        return {"deleted": job_id}

    @app.post("/api/jobs/{job_id}/resume", response_model=JobView)
    async def resume(job_id: str) -> dict[str, Any]:
        """Run an interrupted, cancelled or failed job again, starting from its last snapshot (from
        the start when the snapshot is damaged); a job whose state file is damaged can resume too."""
        folder = folder_of(job_id)
        record = inspect(store, job_id)
        if record is None:
            raise _refuse(404, f"no job {job_id[:40]!r}; it may have been deleted")
        if dispatcher.holds(job_id):
            raise _refuse(409, f"job {job_id} is queued or running; cancel it first")
        if not record.resumable:
            raise _refuse(409, refusal(record, job_id, "only an interrupted, cancelled or failed job can resume"))

        def requeue() -> None:
            store.set_state(job_id, "queued", starting_point(folder))

        try:
            await run_in_threadpool(dispatcher.admit, job_id, requeue)
        except QueueFull as error:
            raise _refuse(429, str(error)) from None
        except PainterlyError as error:
            raise _refuse(409, str(error)) from None
        return view(job_id)

    guarded: Any = BodyLimit(app, config.max_upload_bytes)
    return TokenGuard(guarded, config.token)


__all__ = ["StudioConfig", "create_app"]


def starting_point(folder: Path) -> str:
    """Where a resumed job starts, made ready as ``start.png``; the words for its message.

    The last snapshot (``preview.png``) when it reads; else a start image an earlier resume left;
    else the start, as the job first ran. A damaged snapshot (a disk that filled up, a copied
    folder) so never stops a resume, and no server path appears in the message.
    """
    from painterly.image import load_image, save_image

    snapshot, start = folder / "preview.png", folder / "start.png"
    if not snapshot.is_file():
        return "resumed" if start.is_file() else "resumed from the start"
    try:
        save_image(load_image(snapshot, role="snapshot"), start)
        return "resumed from its last snapshot"
    except PainterlyError:
        pass
    try:
        load_image(start, role="start image")
        return "resumed from an earlier snapshot: its last snapshot is damaged"
    except PainterlyError:
        start.unlink(missing_ok=True)
        return "resumed from the start: its last snapshot is damaged"
