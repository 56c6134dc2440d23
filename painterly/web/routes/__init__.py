"""The studio's HTTP routes, one :class:`fastapi.APIRouter` per concern.

* :mod:`~painterly.web.routes.jobs` - create, list, show, cancel, delete and resume jobs;
* :mod:`~painterly.web.routes.pictures` - a job's result, its snapshot and its inputs (with ETags);
* :mod:`~painterly.web.routes.events` - a job's progress as Server-Sent Events;
* :mod:`~painterly.web.routes.options` - the page, the options a job takes, the health check.

Routes get the studio's parts through :data:`painterly.web.context.StudioDep`.
"""

from __future__ import annotations

from fastapi import APIRouter

from painterly.web.routes import events, jobs, options, pictures

#: In the order :func:`painterly.web.app.create_app` includes them (the order of the API docs).
ROUTERS: tuple[APIRouter, ...] = (options.router, jobs.router, events.router, pictures.router)

__all__ = ["ROUTERS"]
