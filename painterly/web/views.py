"""What the API says about a job: its state, settings, progress and the URLs of its pictures.

URLs carry a version (``?v=``) that changes when the file does, so a browser never shows a
cached snapshot for a newer one.
"""

from __future__ import annotations

from typing import Any

from painterly.web.store import FINISHED, RESUMABLE, JobStore, read_json


def job_view(store: JobStore, job_id: str, *, position: int | None = None, curve: bool = True) -> dict[str, Any] | None:
    """The job as JSON, or None when it does not exist (any more)."""
    folder = store.folder(job_id)
    if folder is None:
        return None
    meta = read_json(folder / "job.json") or {}
    state = store.state(job_id)
    progress = read_json(folder / "progress.json")
    if isinstance(progress, dict) and not curve:
        progress = {key: value for key, value in progress.items() if key != "curve"}
    base = f"/api/jobs/{job_id}"
    urls: dict[str, Any] = {
        "self": base,
        "events": f"{base}/events",
        "content": f"{base}/inputs/content",
        "styles": [f"{base}/inputs/style-{index}" for index in range(1, int(meta.get("styles", 1)) + 1)],
    }
    if meta.get("init_file"):
        urls["init"] = f"{base}/inputs/init"
    if isinstance(progress, dict) and (folder / "preview.png").is_file():
        urls["preview"] = f"{base}/preview?v={progress.get('preview', 0)}"
    finished = state.get("state") == FINISHED and (folder / "result.png").is_file()
    if finished:
        urls["result"] = f"{base}/result?v={int(float(state.get('updated', 0)) * 1000)}"
        urls["download"] = f"{base}/result?download=1"
    return {
        "id": job_id,
        "state": state.get("state"),
        "message": state.get("message"),
        "created": float(meta.get("created", 0)),
        "started": state.get("started"),
        "updated": state.get("updated"),
        "position": position,
        "resumable": state.get("state") in RESUMABLE,
        "names": meta.get("names", {}),
        "settings": read_json(folder / "settings.json") or {},
        "progress": progress if isinstance(progress, dict) else None,
        "urls": urls,
    }
