"""The files of one run, and how a finished run is recognised.

A run folder holds ``image.png`` (with its settings as PNG metadata), ``history.csv`` and
``history.json`` (every evaluation: content, style and total loss, wall time), snapshots of the
best image so far at evaluations 10, 20, 50, 100, ... in ``snapshots/``, and ``result.json``.
Each file is written atomically and ``result.json`` last: a run is finished when its
``result.json`` exists and names the run's settings hash; anything else is rerun from scratch.

``result.json`` also records a fingerprint of the code that computed the run (see
:func:`code_fingerprint`), so that a report can say when its runs came from different code.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from painterly.atomic import write_text_atomically

RESULT_FILE = "result.json"
IMAGE_FILE = "image.png"
HISTORY_CSV = "history.csv"
HISTORY_JSON = "history.json"
SNAPSHOT_FOLDER = "snapshots"
HISTORY_FIELDS = ("evaluation", "scale", "height", "width", "content_loss", "style_loss", "total_loss", "seconds")


def snapshot_evaluations(budget: int) -> list[int]:
    """The 1-2-5 series 10, 20, 50, 100, ... below ``budget`` (the final image is saved anyway)."""
    marks = []
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
    """True when the run's result file exists, parses and carries ``key``, and its files exist.

    With ``code``, a run computed by other code (another fingerprint) does not count as finished.
    """
    summary = _read_json(directory / RESULT_FILE)
    if not isinstance(summary, dict) or summary.get("key") != key:
        return False
    if code is not None and summary.get("code") != code:
        return False
    return all((directory / name).is_file() for name in (IMAGE_FILE, HISTORY_CSV, HISTORY_JSON))


def read_run(directory: Path) -> RunRecord:
    summary = _read_json(directory / RESULT_FILE)
    history = _read_json(directory / HISTORY_JSON)
    if not isinstance(summary, dict) or not isinstance(history, dict):
        raise FileNotFoundError(f"{directory} holds no finished run")
    return RunRecord(directory, summary, history["history"])


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
