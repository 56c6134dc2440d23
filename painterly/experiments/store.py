"""The files of one run, and how a finished run is recognised.

A run folder holds ``image.png`` (with its settings as PNG metadata), ``history.csv`` and
``history.json`` (every evaluation: content, style and total loss, wall time), snapshots of the
best image so far at evaluations 10, 20, 50, 100, ... in ``snapshots/``, and ``result.json``.
Each file is written atomically and ``result.json`` last: a run is finished when its
``result.json`` names the run's settings hash and every file the report reads is whole (see
:func:`load_run`); anything else, a damaged file included, is rerun from scratch.

``result.json`` also records a fingerprint of the code that computed the run (see
:func:`code_fingerprint`), so that a report can say when its runs came from different code.

Several ``painterly experiment`` commands may share one output folder: the process computing a
run holds its lock (:func:`run_lock`), so that no other one deletes or recomputes it meanwhile.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Any

from PIL import Image

from painterly.atomic import write_text_atomically
from painterly.errors import PainterlyError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locking between processes
    fcntl = None  # type: ignore[assignment]

RESULT_FILE = "result.json"
IMAGE_FILE = "image.png"
HISTORY_CSV = "history.csv"
HISTORY_JSON = "history.json"
SNAPSHOT_FOLDER = "snapshots"
LOCK_FOLDER = ".locks"  # beside the run folders: a run's folder is deleted when it is recomputed
HISTORY_FIELDS = ("evaluation", "scale", "height", "width", "content_loss", "style_loss", "total_loss", "seconds")
# What result.json must hold for the report: name -> type (a number is any real but a bool).
SUMMARY_FIELDS: dict[str, Any] = {
    "key": str, "final_losses": dict, "seconds": Real, "wall_seconds": Real, "runtime": str, "model": str,
    "threads": int, "evaluations": int, "width": int, "height": int, "snapshots": list,
}  # fmt: skip


def snapshot_evaluations(budget: int) -> list[int]:
    """The 1-2-5 series 10, 20, 50, 100, ... below ``budget`` (the final image is saved anyway)."""
    marks: list[int] = []
    decade = 10
    while decade < budget:
        marks.extend(mark for mark in (decade, 2 * decade, 5 * decade) if mark < budget)
        decade *= 10
    return marks


def snapshot_path(directory: Path, evaluation: int) -> Path:
    return directory / SNAPSHOT_FOLDER / f"eval_{evaluation:06d}.png"


@dataclass(frozen=True)
class RunRecord:
    """A finished run as read back from its folder."""

    directory: Path
    summary: dict[str, Any]  # the content of result.json
    history: list[dict[str, Any]]

    @property
    def image(self) -> Path:
        return self.directory / IMAGE_FILE

    def snapshots(self) -> dict[int, Path]:
        found = {}
        for evaluation in self.summary.get("snapshots", []):
            path = snapshot_path(self.directory, evaluation)
            if path.is_file():
                found[evaluation] = path
        return found


# Modules that do not change what a run computes (the user interface and this package).
NOT_NUMERICS = ("experiments", "cli.py", "progress.py", "samples.py", "__main__.py")


@functools.cache
def code_fingerprint() -> str:
    """sha256 (16 hex digits) of painterly's source files that decide a run's numbers."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] in NOT_NUMERICS:
            continue
        digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def is_finished(directory: Path, key: str, *, code: str | None = None) -> bool:
    """True when the folder holds a whole finished run of ``key`` (see :func:`load_run`).

    With ``code``, a run computed by other code (another fingerprint) does not count as finished.
    """
    return load_run(directory, key, code=code) is not None


def load_run(directory: Path, key: str | None = None, *, code: str | None = None) -> RunRecord | None:
    """The finished run in ``directory``, or None when it is missing, unfinished, damaged or another's.

    Every file the report reads is checked (JSON fields and types, PNG checksums), because a
    damaged file found only while writing the report would stop every later command on this
    folder; a damaged run is better recomputed. ``key`` and ``code`` as in :func:`is_finished`.
    """
    summary = _read_json(directory / RESULT_FILE)
    history = _read_json(directory / HISTORY_JSON)
    if not _is_summary(summary) or (key is not None and summary["key"] != key):
        return None
    if code is not None and summary.get("code") != code:
        return None
    if not isinstance(history, dict) or history.get("key") != summary["key"]:
        return None
    records = history.get("history")
    if not _is_history(records) or records is None or len(records) != summary["evaluations"]:
        return None
    record = RunRecord(directory, summary, records)
    images = [record.image, *(snapshot_path(directory, evaluation) for evaluation in summary["snapshots"])]
    if not (directory / HISTORY_CSV).is_file() or not all(_is_whole_image(path) for path in images):
        return None
    return record


def read_run(directory: Path) -> RunRecord:
    """The finished run in ``directory``; PainterlyError when there is none (or it is damaged)."""
    record = load_run(directory)
    if record is None:
        raise PainterlyError(
            f"{directory} holds no finished run (missing or damaged files); run the experiment again to recompute it"
        )
    return record


@contextlib.contextmanager
def run_lock(directory: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold the lock of the run in ``directory`` (exclusive, between processes); yields whether it is held.

    The lock file lives in ``runs/.locks``, not in the run folder, which is deleted when the run
    starts over. The operating system releases the lock when its process dies, so a killed
    command never leaves a run locked. With ``wait=False``, yields False at once when another
    process holds it. Without ``fcntl`` (Windows), nothing is locked and it yields True.
    """
    if fcntl is None:  # pragma: no cover
        yield True
        return
    path = lock_path(directory)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise PainterlyError(f"cannot create the lock file {path}: {error.strerror or error}") from None
    try:
        yield _lock(descriptor, wait)
    finally:
        os.close(descriptor)  # releases the lock


def _lock(descriptor: int, wait: bool) -> bool:
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def lock_path(directory: Path) -> Path:
    """The lock file of the run in ``directory``: ``runs/.locks/<run folder>.lock``."""
    return directory.parent / LOCK_FOLDER / f"{directory.name}.lock"


def is_locked(directory: Path) -> bool:
    """True when another process holds the run's lock now (it is computing the run)."""
    with run_lock(directory, wait=False) as held:
        return not held


def write_history(directory: Path, document: dict[str, Any]) -> None:
    """``history.json`` (the whole document) and ``history.csv`` (its per-evaluation records)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for record in document["history"]:
        writer.writerow({name: record[name] for name in HISTORY_FIELDS})
    write_text_atomically(directory / HISTORY_CSV, buffer.getvalue())
    write_text_atomically(directory / HISTORY_JSON, json.dumps(document, indent=1))


def write_result(directory: Path, summary: dict[str, Any]) -> None:
    """The last file of a run: once it exists, the run counts as finished."""
    write_text_atomically(directory / RESULT_FILE, json.dumps(summary, indent=1, sort_keys=True))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_summary(summary: Any) -> bool:
    if not isinstance(summary, dict):
        return False
    for name, kind in SUMMARY_FIELDS.items():
        value = summary.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            return False
    losses = summary["final_losses"]
    return all(_is_number(losses.get(name)) for name in ("content", "style", "total")) and all(
        isinstance(evaluation, int) for evaluation in summary["snapshots"]
    )


def _is_history(records: Any) -> bool:
    return isinstance(records, list) and all(
        isinstance(record, dict) and all(_is_number(record.get(name)) for name in HISTORY_FIELDS) for record in records
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _is_whole_image(path: Path) -> bool:
    """True when ``path`` is an image whose every chunk is present and checksums right (not decoded)."""
    try:
        with Image.open(path) as image:
            image.verify()
    except Exception:  # PIL raises OSError, SyntaxError, ValueError, EOFError... for a broken file
        return False
    return True


def create_folder(path: Path, role: str) -> None:
    """Create ``path`` (and its parents); a one-line PainterlyError naming it and the cause if that fails."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        where = f" ({error.filename})" if error.filename and str(error.filename) != str(path) else ""
        raise PainterlyError(f"cannot create {role} {path}: {error.strerror or error}{where}") from None
