"""What every route works with: the studio's parts, handed to routes as a FastAPI dependency.

:func:`painterly.web.app.create_app` makes one :class:`Studio` and keeps it in ``app.state``; a
route asks for it with a :data:`StudioDep` parameter. Routes so live in plain modules (one
:class:`fastapi.APIRouter` each) instead of closures inside ``create_app``, and a test can build a
:class:`Studio` of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from painterly.web.config import StudioConfig
from painterly.web.jobs import Dispatcher
from painterly.web.preflight import Preflight
from painterly.web.store import JobFiles, JobStore
from painterly.web.views import job_view


def refuse(status: int, detail: str) -> HTTPException:
    """A refusal a user can act on: the status and its reason, on one line."""
    return HTTPException(status_code=status, detail=" ".join(detail.split()))


def no_job(job_id: str) -> HTTPException:
    """The 404 of a job that does not exist (any more); the id is cut, as a client may send anything."""
    return refuse(404, f"no job {job_id[:40]!r}; it may have been deleted")


@dataclass
class Studio:
    """The server's parts: its configuration, the jobs folder, the queue and the start-of-run checks."""

    config: StudioConfig
    store: JobStore
    dispatcher: Dispatcher
    preflight: Preflight

    @classmethod
    def of(cls, config: StudioConfig) -> Studio:
        store = JobStore(config.jobs_dir)
        dispatcher = Dispatcher(store, config.workers, config.max_queue, config.devices)
        return cls(config, store, dispatcher, Preflight())

    def files(self, job_id: str) -> JobFiles:
        """The job's files, or a 404 when there is no such job."""
        files = self.store.files(job_id)
        if files is None:
            raise no_job(job_id)
        return files

    def view(self, job_id: str, *, curve: bool = True) -> dict[str, Any]:
        """The job as the API shows it (with its place in the queue), or a 404."""
        found = job_view(self.store, job_id, position=self.dispatcher.position(job_id), curve=curve)
        if found is None:
            raise no_job(job_id)
        return found


def studio(request: Request) -> Studio:
    """The dependency: the studio of the application that received the request."""
    found: Studio = request.app.state.studio
    return found


#: A route parameter typed ``StudioDep`` receives the :class:`Studio`.
StudioDep = Annotated[Studio, Depends(studio)]
