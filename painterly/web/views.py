"""What the API says about a job: its state, settings, progress and the URLs of its pictures.

URLs carry a version (``?v=``) that changes when the file does, so a browser never shows a
cached snapshot for a newer one. A job one of whose files is damaged is shown with the state
``damaged`` and a message naming the file (:mod:`painterly.web.records`); nothing read from a job's
files can make the view fail.
"""

from __future__ import annotations

from typing import Any

from painterly.web.records import JobRecord, inspect
from painterly.web.store import FINISHED, JobStore, read_json


def job_view(store: JobStore, job_id: str, *, position: int | None = None, curve: bool = True) -> dict[str, Any] | None:
    """The job as JSON, or None when it does not exist (any more)."""
    folder = store.folder(job_id)
    record = inspect(store, job_id)
    if folder is None or record is None:
        return None
    state = record.state
    progress = read_json(folder / "progress.json")
    progress = progress if isinstance(progress, dict) else None
    if progress is not None and not curve:
        progress = {key: value for key, value in progress.items() if key != "curve"}
    base = f"/api/jobs/{job_id}"
    styles = record.meta.styles if record.meta is not None else 1
    urls: dict[str, Any] = {
        "self": base,
        "events": f"{base}/events",
        "content": f"{base}/inputs/content",
        "styles": [f"{base}/inputs/style-{index}" for index in range(1, styles + 1)],
    }
    if record.meta is not None and record.meta.init_file:
        urls["init"] = f"{base}/inputs/init"
    if progress is not None and (folder / "preview.png").is_file():
        version = progress.get("preview", 0)
        urls["preview"] = f"{base}/preview?v={version if isinstance(version, int) else 0}"
    if state.get("state") == FINISHED and (folder / "result.png").is_file():
        urls["result"] = f"{base}/result?v={int((state.get('updated') or 0) * 1000)}"
        urls["download"] = f"{base}/result?download=1"
    saved = read_json(folder / "settings.json")
    return {
        "id": job_id,
        "state": record.shown_state,
        "message": record.damage or state.get("message"),
        "created": record.meta.created if record.meta is not None else 0.0,
        "started": state.get("started"),
        "updated": state.get("updated"),
        "position": position,
        "resumable": record.resumable,
        "names": record.meta.names if record.meta is not None else {},
        "settings": saved if isinstance(saved, dict) and record.settings is not None else {},
        "progress": progress,
        "urls": urls,
    }


def refusal(record: JobRecord, job_id: str, allowed: str) -> str:
    """Why a job cannot be cancelled or resumed, in one line: its damage, or its state."""
    if record.damage:
        return f"job {job_id} is damaged: {record.damage}"
    state = record.state.get("state")
    return f"job {job_id} is {state}; {allowed}"
