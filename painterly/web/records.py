"""Reading a job's files as they are on disk, where anything may have been damaged.

A job folder's ``job.json``, ``settings.json`` and ``state.json`` are written by the server
(atomically), but a disk, a person or another program can leave them unreadable or with values of
the wrong kind. Everything that reads them for a decision goes through here, so that one damaged
job is shown as *damaged*, with the file named and what to do, and never raises in a listing, at
start-up or in the dispatcher (which would take every other job down with it).

What each damage allows:

* ``job.json`` or ``settings.json``: the job cannot run again (its paintings or its options are
  unknown, and running with the defaults would be a different job); it can only be deleted.
* ``state.json``: the inputs and settings are intact, so the job can be resumed (or deleted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from painterly.errors import PainterlyError
from painterly.settings import Settings
from painterly.web.store import JOB_FILE, RESUMABLE, SETTINGS_FILE, STATE_FILE, STATES, JobFiles, JobStore, read_json

#: The state shown for a job one of whose files is damaged (never written to disk).
DAMAGED = "damaged"
#: The most paintings a job may have (the form's limit).
MAX_STYLES = 8
RESUBMIT = "delete the job and submit it again"


class Damage(Exception):
    """A job file that cannot be used; the message names the file and what to do."""


@dataclass(frozen=True)
class JobMeta:
    """``job.json``, checked: when the job was made and queued, its paintings and uploads."""

    created: float
    queued: float
    styles: int
    init_file: bool
    names: dict[str, Any] = field(default_factory=dict)


@dataclass
class JobRecord:
    """Everything known about one job folder; ``damage`` says what is wrong, if anything."""

    meta: JobMeta | None
    state: dict[str, Any]
    settings: dict[str, Any] | None
    damage: str | None = None

    @property
    def shown_state(self) -> str | None:
        return DAMAGED if self.damage else self.state.get("state")

    @property
    def resumable(self) -> bool:
        """Whether a person may run the job again: its inputs and settings are intact."""
        if self.meta is None or self.settings is None:
            return False
        return self.state.get("state") in RESUMABLE or self.state.get("state") is None


def _number(value: Any) -> float | None:
    """A finite number from JSON, or None (text, NaN, booleans and nothing are not times)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def read_meta(folder: Path) -> JobMeta:
    """The checked ``job.json``; raises Damage naming what is wrong with it."""
    found = read_json(JobFiles(folder).meta)
    if not isinstance(found, dict):
        raise Damage(f"its description ({JOB_FILE}) is {'not a JSON object' if found is not None else 'unreadable'}; "
                     f"{RESUBMIT}")  # fmt: skip
    created = _number(found.get("created"))
    if created is None:
        raise Damage(f"its description ({JOB_FILE}) has no valid creation time; {RESUBMIT}")
    styles = found.get("styles", 1)
    if isinstance(styles, bool) or not isinstance(styles, int) or not 1 <= styles <= MAX_STYLES:
        raise Damage(f"its description ({JOB_FILE}) has no valid number of paintings; {RESUBMIT}")
    init_file = found.get("init_file", False)
    if not isinstance(init_file, bool):
        raise Damage(f"its description ({JOB_FILE}) does not say whether it has an init image; {RESUBMIT}")
    names = found.get("names")
    queued = _number(found.get("queued"))
    return JobMeta(created, created if queued is None else queued, styles, init_file,
                   names if isinstance(names, dict) else {})  # fmt: skip


def read_state(folder: Path) -> dict[str, Any]:
    """The checked ``state.json`` (times as numbers or None, the message as text or None)."""
    found = read_json(JobFiles(folder).state)
    if not isinstance(found, dict) or not isinstance(found.get("state"), str) or found["state"] not in STATES:
        raise Damage(f"its state ({STATE_FILE}) is missing or damaged; resume it to run it again, or delete it")
    message = found.get("message")
    return {
        **found,
        "message": " ".join(message.split()) if isinstance(message, str) else None,
        "updated": _number(found.get("updated")),
        "started": _number(found.get("started")),
    }


def read_settings(folder: Path, meta: JobMeta | None) -> Settings:
    """``settings.json`` checked as a run would use it: every option valid (missing ones, from an
    older version, take their defaults). Never the defaults for a whole unreadable file."""
    from painterly import options

    files = JobFiles(folder)
    found = read_json(files.settings)
    if not isinstance(found, dict):
        problem = "not a JSON object" if found is not None else "unreadable"
        raise Damage(f"its settings ({SETTINGS_FILE}) are {problem}; {RESUBMIT}")
    values = {**options.defaults(), **found}
    if meta is not None and meta.init_file:
        values["init"] = str(files.init)
    try:
        return options.validate(values)
    except PainterlyError as error:
        text = str(error).replace(str(folder) + "/", "")
        raise Damage(f"its settings ({SETTINGS_FILE}) are damaged ({text}); {RESUBMIT}") from None
    except Exception as error:  # a value of a type no option expects
        raise Damage(f"its settings ({SETTINGS_FILE}) are damaged ({type(error).__name__}); {RESUBMIT}") from None


def inspect(store: JobStore, job_id: str) -> JobRecord | None:
    """The job's record, or None when there is no such job (any more)."""
    folder = store.folder(job_id)
    if folder is None:
        return None
    damage = []
    meta = settings = None
    state: dict[str, Any] = {"state": None, "message": None, "updated": None, "started": None}
    try:
        meta = read_meta(folder)
    except Damage as error:
        damage.append(str(error))
    try:
        settings = read_settings(folder, meta).as_dict()
    except Damage as error:
        damage.append(str(error))
    try:
        state = read_state(folder)
    except Damage as error:
        damage.append(str(error))
    return JobRecord(meta, state, settings, damage[0] if damage else None)
