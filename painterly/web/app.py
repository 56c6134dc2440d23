"""The studio's HTTP server: the REST API, the event stream and the page (FastAPI).

The server keeps no job in memory that is not also on disk: jobs are folders
(:mod:`painterly.web.store`), run by worker processes (:mod:`painterly.web.jobs`). Every
refusal a user can fix is a 4xx whose ``detail`` is one line (the command line's words for
options), and no path is ever taken from a request. The routes live in :mod:`painterly.web.routes`;
this module only assembles them with the error handlers, the dispatcher's lifetime and the guards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from painterly.web.config import StudioConfig
from painterly.web.context import Studio
from painterly.web.guard import BodyLimit, BodyTooLarge, TokenGuard
from painterly.web.routes import ROUTERS
from painterly.web.routes.options import STATIC


def create_app(config: StudioConfig) -> Any:
    """The studio as an ASGI application (the API behind the token and size guards)."""
    studio = Studio.of(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        studio.dispatcher.start()  # the workers live as long as the server, not as long as the app object
        try:
            yield
        finally:
            await run_in_threadpool(studio.dispatcher.stop)

    app = FastAPI(
        title="painterly studio",
        description="Neural style transfer jobs: upload a photo and paintings, watch them paint, download.",
        lifespan=lifespan,
    )
    app.state.studio = studio
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(BodyTooLarge, too_large)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router)
    return TokenGuard(BodyLimit(app, config.max_upload_bytes), config.token)


async def invalid_request(request: Request, error: Exception) -> JSONResponse:
    """A request FastAPI could not parse, in one line: where, and what is wrong."""
    errors = error.errors() if isinstance(error, RequestValidationError) else []
    first = errors[0] if errors else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid request')}"}, status_code=422)


async def too_large(request: Request, error: Exception) -> JSONResponse:
    """A body over the limit, found while reading it: 413, and the connection is closed (the rest
    of the body is not read)."""
    return JSONResponse({"detail": str(error)}, status_code=413, headers={"connection": "close"})


__all__ = ["StudioConfig", "create_app"]
