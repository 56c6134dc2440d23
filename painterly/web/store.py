"""Job folders: where every job's inputs, settings, state, snapshots and result live.

One folder per job, ``<jobs-dir>/<id>``, with an unguessable id (``secrets.token_urlsafe(16)``).
The folder's layout - every file name in it - is written once, in :class:`JobFiles`; the server,
the worker and the views ask it for paths, so a renamed file cannot leave a reader behind.
Every path is built here from an id that matched :data:`JOB_ID`, so nothing a client sends can
name a file outside the jobs folder. Every file is written atomically (temporary file, then
rename), so a reader - the page, a restarted server - never sees half of one. A job is staged in
``.staging/<id>`` and renamed into place whole, so a half-created job is never listed.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from painterly.atomic import write_text_atomically
from painterly.errors import PainterlyError

#: What ``secrets.token_urlsafe(16)`` produces: 22 characters of the URL-safe base64 alphabet.
JOB_ID = re.compile(r"[A-Za-z0-9_-]{22}")
#: An input's name in URLs and in the folder: the photo, the paintings, an uploaded init image.
INPUT_NAME = re.compile(r"content|style-[1-9][0-9]?|init")

QUEUED, RUNNING, FINISHED, FAILED, CANCELLED, INTERRUPTED = (
    "queued", "running", "finished", "failed", "cancelled", "interrupted"
)  # fmt: skip
#: The files of a job folder (see :class:`JobFiles`); nothing else in the package spells them.
JOB_FILE, SETTINGS_FILE, STATE_FILE = "job.json", "settings.json", "state.json"
PROGRESS_FILE, HISTORY_FILE = "progress.json", "history.json"
PREVIEW_FILE, RESULT_FILE, START_FILE = "preview.png", "result.png", "start.png"
#: The inputs' names (in URLs and, with :data:`INPUT_SUFFIX`, in the folder): photo, paintings, init.
CONTENT_INPUT, INIT_INPUT, INPUT_SUFFIX = "content", "init", ".png"

#: States in which nothing more happens to a job until a person acts.
TERMINAL = frozenset({FINISHED, FAILED, CANCELLED, INTERRUPTED})
#: States from which a job can be resumed (run again from its last snapshot).
RESUMABLE = frozenset({FAILED, CANCELLED, INTERRUPTED})
#: Every state a state.json may hold.
STATES = frozenset({QUEUED, RUNNING, FINISHED, FAILED, CANCELLED, INTERRUPTED})


def style_input(index: int) -> str:
    """The name of the ``index``-th painting (from 1), as :data:`INPUT_NAME` accepts it."""
    return f"style-{index}"


@dataclass(frozen=True)
class JobFiles:
    """The layout of one job folder: the path of each file a job has (whether or not it exists yet).

    A staged folder and a committed one have the same layout, so the request that creates a job
    and the worker that runs it build their paths the same way."""

    folder: Path

    @property
    def meta(self) -> Path:
        """``job.json``: when the job was made, how many paintings, the uploads' names."""
        return self.folder / JOB_FILE

    @property
    def settings(self) -> Path:
        return self.folder / SETTINGS_FILE

    @property
    def state(self) -> Path:
        return self.folder / STATE_FILE

    @property
    def progress(self) -> Path:
        """Written by the worker with each snapshot: evaluation, losses, ETA, the loss curve."""
        return self.folder / PROGRESS_FILE

    @property
    def history(self) -> Path:
        return self.folder / HISTORY_FILE

    @property
    def preview(self) -> Path:
        """The latest snapshot of the picture as it forms."""
        return self.folder / PREVIEW_FILE

    @property
    def result(self) -> Path:
        return self.folder / RESULT_FILE

    @property
    def start(self) -> Path:
        """The image a resumed job starts from (made from its last snapshot)."""
        return self.folder / START_FILE

    @property
    def content(self) -> Path:
        return self.input(CONTENT_INPUT)

    @property
    def init(self) -> Path:
        """An uploaded start image (a result to continue from)."""
        return self.input(INIT_INPUT)

    def style(self, index: int) -> Path:
        return self.input(style_input(index))

    def styles(self, count: int) -> list[Path]:
        return [self.style(index) for index in range(1, count + 1)]

    def input(self, name: str) -> Path:
        """An input by its URL name; callers check the name against :data:`INPUT_NAME` first."""
        return self.folder / f"{name}{INPUT_SUFFIX}"


def new_job_id() -> str:
    return secrets.token_urlsafe(16)


def read_json(path: Path) -> Any:
    """A JSON file's content, or None when it is missing or unreadable (a folder being deleted)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json(path: Path, value: Any) -> None:
    write_text_atomically(path, json.dumps(value, indent=1))


class JobStore:
    """The jobs folder: creating, finding, listing and removing job folders, and their state files."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        ignore = self.root / ".gitignore"  # ./studio-jobs inside a checkout is never committed
        if not ignore.exists():
            with contextlib.suppress(OSError, PainterlyError):
                write_text_atomically(ignore, "*\n")
        self.lock = threading.Lock()  # the server's own state writes (request threads, dispatcher)

    # --- paths ------------------------------------------------------------------------------

    def folder(self, job_id: str) -> Path | None:
        """The folder of an existing job, or None: for an id of the wrong form, nothing is looked up.

        A folder whose job.json is damaged or missing is still a job (shown as damaged, and it can
        be deleted); a link is never one, so no id leads out of the jobs folder."""
        if not JOB_ID.fullmatch(job_id):
            return None
        folder = self.root / job_id
        return folder if _is_job_folder(folder) else None

    def files(self, job_id: str) -> JobFiles | None:
        """The layout of an existing job's folder, or None (see :meth:`folder`)."""
        folder = self.folder(job_id)
        return JobFiles(folder) if folder is not None else None

    def staging(self) -> tuple[str, Path]:
        """A fresh id and its staging folder, to fill before :meth:`commit`."""
        job_id = new_job_id()
        folder = self.root / ".staging" / job_id
        folder.mkdir(parents=True)
        return job_id, folder

    def commit(self, job_id: str, staged: Path, meta: dict[str, Any]) -> Path:
        """Write the job's description and state, then move the staged folder into place whole."""
        files = JobFiles(staged)
        write_json(files.meta, meta)
        write_json(files.state, {"state": QUEUED, "message": None, "updated": time.time()})
        final = self.root / job_id
        os.replace(staged, final)
        return final

    def discard(self, staged: Path) -> None:
        shutil.rmtree(staged, ignore_errors=True)

    def clean_staging(self) -> None:
        """Jobs whose creation a stopped server left half done, and deleted jobs not yet removed."""
        for name in (".staging", ".trash"):
            shutil.rmtree(self.root / name, ignore_errors=True)

    def ids(self) -> list[str]:
        """Every job's id, newest first (a job whose job.json is damaged by its folder's time)."""
        found = []
        for entry in self.root.iterdir():
            if JOB_ID.fullmatch(entry.name) and _is_job_folder(entry):
                found.append((_created(entry), entry.name))
        return [job_id for _, job_id in sorted(found, reverse=True)]

    def remove(self, job_id: str) -> bool:
        """Move the folder out of sight at once, then delete it; False when it was already gone.

        Two clients may delete one job at the same moment: the move is atomic, so exactly one of
        them moves the folder and the other finds it gone (never a half-deleted job, never a 500)."""
        folder = self.folder(job_id)
        if folder is None:
            return False
        trash = self.root / ".trash"
        trash.mkdir(exist_ok=True)
        target = trash / f"{job_id}-{secrets.token_hex(4)}"
        try:
            os.replace(folder, target)
        except FileNotFoundError:
            return False
        shutil.rmtree(target, ignore_errors=True)
        return True

    # --- state ------------------------------------------------------------------------------

    def state(self, job_id: str) -> dict[str, Any]:
        """The job's state file; ``state`` is None for a deleted job or a damaged state file (see
        :mod:`painterly.web.records` for what is shown then), never a value of another kind."""
        files = self.files(job_id)
        found = read_json(files.state) if files is not None else None
        if not isinstance(found, dict) or not isinstance(found.get("state"), str) or found["state"] not in STATES:
            return {"state": None}
        return found

    def set_state(self, job_id: str, state: str, message: str | None = None, **extra: Any) -> None:
        """Write the state of a job that still exists (a deleted job stays deleted)."""
        files = self.files(job_id)
        if files is None:
            return
        with self.lock, contextlib.suppress(OSError, PainterlyError):  # deleted meanwhile
            previous = read_json(files.state)
            previous = previous if isinstance(previous, dict) else {}  # a damaged one is replaced
            record = {**previous, **extra, "state": state, "message": message, "updated": time.time()}
            write_json(files.state, record)


def _is_job_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _created(folder: Path) -> float:
    """When the job was made: job.json's time, else (damaged) the folder's, so sorting never fails."""
    meta = read_json(JobFiles(folder).meta)
    created = meta.get("created") if isinstance(meta, dict) else None
    if isinstance(created, (int, float)) and not isinstance(created, bool) and math.isfinite(created):
        return float(created)
    try:
        return folder.stat().st_mtime
    except OSError:
        return 0.0
