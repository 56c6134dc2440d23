"""The page itself, the options a job takes (the form is built from them) and the health check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from painterly.web.context import StudioDep
from painterly.web.schema import options_document

#: The page's files (index.html, studio.js, studio.css), served under /static.
STATIC = Path(__file__).parent.parent / "static"

router = APIRouter()


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})


@router.get("/api/health")
async def health(studio: StudioDep) -> dict[str, Any]:
    return {"ok": True, "workers": studio.config.workers}


@router.get("/api/options")
async def get_options() -> dict[str, Any]:
    """Every option a job takes (type, default, choices, bounds, help, common/advanced) and the presets."""
    return options_document()
