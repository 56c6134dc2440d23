"""What the API says about a job: its state, settings, progress and the URLs of its pictures.

The pictures' URLs carry a version (``?v=``, the picture's ETag, :mod:`painterly.web.etags`) that
changes exactly when the file does: the page swaps a picture when its URL changes and otherwise
keeps it, and a browser never shows a cached snapshot for a newer one. A job one of whose files is
damaged is shown with the state ``damaged`` and a message naming the file
(:mod:`painterly.web.records`); nothing read from a job's files can make the view fail.
"""

from __future__ import annotations

from typing import Any

from painterly.web.etags import version
from painterly.web.records import JobRecord, inspect
from painterly.web.store import CONTENT_INPUT, FINISHED, INIT_INPUT, JobStore, read_json, style_input


def job_view(store: JobStore, job_id: str, *, position: int | None = None, curve: bool = True) -> dict[str, Any] | None:
    """The job as JSON, or None when it does not exist (any more)."""
    files = store.files(job_id)
    record = inspect(store, job_id)
    if files is None or record is None:
        return None
    state = record.state
    progress = read_json(files.progress)
    progress = progress if isinstance(progress, dict) else None
    if progress is not None and not curve:
        progress = {key: value for key, value in progress.items() if key != "curve"}
    base = f"/api/jobs/{job_id}"
    styles = record.meta.styles if record.meta is not None else 1
    urls: dict[str, Any] = {
        "self": base,
        "events": f"{base}/events",
        "content": f"{base}/inputs/{CONTENT_INPUT}",
        "styles": [f"{base}/inputs/{style_input(index)}" for index in range(1, styles + 1)],
    }
    if record.meta is not None and record.meta.init_file:
        urls["init"] = f"{base}/inputs/{INIT_INPUT}"
    preview = version(files.preview) if progress is not None else None
    if preview is not None:
        urls["preview"] = f"{base}/preview?v={preview}"
    result = version(files.result) if state.get("state") == FINISHED else None
    if result is not None:
        urls["result"] = f"{base}/result?v={result}"
        urls["download"] = f"{base}/result?download=1"
    saved = read_json(files.settings)
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
