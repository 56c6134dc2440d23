"""The batch manifest: one row per picture (inputs, their hashes, settings, final losses, seconds, status).

Written as manifest.json (the record the resume logic reads) and manifest.csv (for people and
spreadsheets), both atomically after every picture, so a crash or Ctrl-C never loses the record
of a finished picture. A picture is finished when its output exists and its row says ``done``
with the same settings key and input hashes as now; anything else is computed again.

A damaged manifest is never a crash and never lost: a row with a wrong type, an unknown or a
missing key is reported and its picture made again; a manifest that cannot be read at all is
kept aside as ``manifest.json.bad-N`` (so is a partly damaged one, before its good rows are
written back), with one warning line. Files in the folder that no manifest row records are the
user's (or of unknown origin): the batch does not overwrite them (:meth:`Manifest.owns`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import stat
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import painterly
from painterly.atomic import atomic_path, write_text_atomically
from painterly.batch.plan import Job
from painterly.errors import PainterlyError
from painterly.hashing import file_kind, open_regular_file
from painterly.settings import Settings

JSON_FILE = "manifest.json"
CSV_FILE = "manifest.csv"
DONE = "done"
FAILED = "failed"
CSV_COLUMNS = (
    "output", "status", "content", "style", "content_sha256", "style_sha256", "settings_key",
    "content_loss", "style_loss", "total_loss", "seconds", "error", "finished_at",
)  # fmt: skip


def settings_key(settings: Settings) -> str:
    """A hash of the validated settings: equal keys mean the same picture from the same inputs."""
    record = {"settings": settings.as_dict(), "painterly": painterly.__version__}
    text = json.dumps(record, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class Entry:
    """One row of the manifest."""

    output: str  # the file name inside the batch folder
    status: str  # done or failed
    content: str
    style: str
    content_sha256: str = ""
    style_sha256: str = ""
    settings_key: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    final_losses: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""
    finished_at: str = ""

    def csv_row(self) -> dict[str, Any]:
        return {
            **{name: getattr(self, name) for name in CSV_COLUMNS if hasattr(self, name)},
            "content_loss": self.final_losses.get("content", ""),
            "style_loss": self.final_losses.get("style", ""),
            "total_loss": self.final_losses.get("total", ""),
            "seconds": f"{self.seconds:.4g}",  # four digits: a tiny run takes milliseconds
        }


class Manifest:
    """The rows of a batch folder, by output name, read at the start and written after every change.

    ``owned`` holds the output names a manifest row records (this run's rows too): the files
    painterly wrote. A file in the folder with an output's name that no row records is the
    user's, and the batch never overwrites it (see :meth:`owns`).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.entries: dict[str, Entry] = {}
        self.owned: set[str] = set()
        self.unreadable: str | None = None  # why manifest.json as a whole could not be read
        self.damage: list[str] = []  # what was wrong in a readable one (rows, keys)
        self.original: bytes | None = None

    @property
    def path(self) -> Path:
        return self.folder / JSON_FILE

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        """The manifest in ``folder``, with what was wrong in it; never raises for a damaged file.

        A missing manifest is empty. One that cannot be read as a whole sets ``unreadable``; a
        readable one keeps its good rows, and each damaged row (a wrong type, an unknown or
        missing key) is noted in ``damage`` and left out, so its picture is made again. Only a
        manifest.json that is not a regular file (a folder, a FIFO) is an error: reading it could
        hang, and the user must move it.
        """
        manifest = cls(folder)
        try:
            mode = manifest.path.stat().st_mode
        except FileNotFoundError:
            return manifest
        except OSError as error:
            manifest.unreadable = error.strerror or str(error)
            return manifest
        if not stat.S_ISREG(mode):
            raise PainterlyError(
                f"{manifest.path} is {file_kind(mode)}, not a batch manifest; move it out of {folder} and run again"
            )
        try:
            with open_regular_file(manifest.path) as stream:
                manifest.original = stream.read()
        except (OSError, PainterlyError) as error:
            manifest.unreadable = getattr(error, "strerror", None) or str(error)
            return manifest
        manifest._parse(manifest.original)
        return manifest

    def _parse(self, data: bytes) -> None:
        try:
            document = json.loads(data.decode("utf-8"))
        except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            self.unreadable = "not JSON" if isinstance(error, RecursionError) else f"not JSON: {_first_line(error)}"
            return
        if not isinstance(document, dict) or not isinstance(document.get("pictures"), list):
            self.unreadable = 'not an object with a list of "pictures"'
            return
        self.damage.extend(f"unknown key {key!r}" for key in sorted(set(document) - TOP_KEYS))
        if not isinstance(document.get("painterly", ""), str):
            self.damage.append('"painterly" is not a version')
        for number, row in enumerate(document["pictures"], start=1):
            entry, problem = parse_row(row)
            if entry is not None:
                self.entries[entry.output] = entry
                self.owned.add(entry.output)
                continue
            self.damage.append(f"row {number}: {problem}")
            name = row.get("output") if isinstance(row, dict) else None
            if isinstance(name, str) and _is_plain_name(name):  # still painterly's picture: made again
                self.owned.add(name)

    def keep_damaged(self) -> str | None:
        """Keep a damaged manifest.json aside as manifest.json.bad-N and write a whole one; returns a
        one-line warning (None when nothing was wrong).

        The user's file is never lost: an unreadable one is renamed (its bytes may be all that is
        left of the record), a partly damaged one copied before its good rows are written back.
        Writing the whole manifest at once means the next run finds nothing to warn about.
        """
        if self.unreadable is None and not self.damage:
            return None
        kept = self._keep_aside()
        if self.unreadable is not None:
            self.entries, self.owned = {}, set()
            self.write()
            return (
                f"{self.path} cannot be read ({self.unreadable}); it is kept as {kept.name}, and the pictures "
                f"already in {self.folder} are not overwritten (move them away to make them again)"
            )
        self.write()
        shown = "; ".join(self.damage[:3]) + ("; ..." if len(self.damage) > 3 else "")
        return (
            f"{self.path} is damaged ({shown}); the pictures of its damaged rows are made again, "
            f"and the file as it was is kept as {kept.name}"
        )

    def _keep_aside(self) -> Path:
        number = 1
        while os.path.lexists(self.folder / f"{JSON_FILE}.bad-{number}"):
            number += 1
        kept = self.folder / f"{JSON_FILE}.bad-{number}"
        try:
            if self.original is None:
                os.rename(self.path, kept)
            else:
                with atomic_path(kept) as temporary:
                    temporary.write_bytes(self.original)
        except OSError as error:
            raise PainterlyError(
                f"{self.path} is damaged and could not be kept aside as {kept.name}: {error.strerror or error}; "
                "move it out of the batch folder and run again"
            ) from None
        return kept

    def owns(self, name: str) -> bool:
        """Whether a manifest row records the output ``name`` (so painterly wrote that file)."""
        return name in self.owned

    def is_finished(self, job: Job, key: str, hashes: tuple[str, str]) -> bool:
        """Whether ``job``'s output exists and was made from these inputs with these settings."""
        entry = self.entries.get(job.name)
        return (
            entry is not None
            and entry.status == DONE
            and entry.settings_key == key
            and (entry.content_sha256, entry.style_sha256) == hashes
            and job.output.is_file()
        )

    def record(self, entry: Entry) -> None:
        """Add or replace ``entry`` and write both files."""
        self.entries[entry.output] = entry
        self.owned.add(entry.output)
        self.write()

    def write(self) -> None:
        rows = [asdict(entry) for entry in self.entries.values()]
        write_text_atomically(
            self.folder / JSON_FILE,
            json.dumps({"painterly": painterly.__version__, "pictures": rows}, indent=1, sort_keys=True),
        )
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for entry in self.entries.values():
            writer.writerow(entry.csv_row())
        write_text_atomically(self.folder / CSV_FILE, buffer.getvalue())


TOP_KEYS = {"painterly", "pictures"}
TEXT_FIELDS = (
    "output", "status", "content", "style", "content_sha256", "style_sha256", "settings_key", "error", "finished_at",
)  # fmt: skip
REQUIRED_FIELDS = ("output", "status", "content", "style")


def parse_row(row: Any) -> tuple[Entry | None, str]:
    """A manifest row as an :class:`Entry`, or None and what is wrong with it (one phrase).

    Every field is checked for its type, because a row is used later (its losses and seconds
    formatted into manifest.csv when the next row is written): a wrong type found then would be
    a crash in the middle of a batch, not a damaged row.
    """
    if not isinstance(row, dict):
        return None, "not an object"
    unknown = sorted(set(row) - {item.name for item in fields(Entry)})
    if unknown:
        return None, f"unknown key {unknown[0]!r}"
    missing = [name for name in REQUIRED_FIELDS if name not in row]
    if missing:
        return None, f"no {missing[0]!r}"
    wrong = next((name for name in TEXT_FIELDS if name in row and not isinstance(row[name], str)), None)
    if wrong is not None:
        return None, f"{wrong!r} is not text"
    if not _is_plain_name(row["output"]):
        return None, "'output' is not a file name"
    if row["status"] not in (DONE, FAILED):
        return None, f"'status' is not {DONE} or {FAILED}"
    if not isinstance(row.get("settings", {}), dict):
        return None, "'settings' is not an object"
    losses = row.get("final_losses", {})
    if not isinstance(losses, dict) or not all(_number(value) is not None for value in losses.values()):
        return None, "'final_losses' is not an object of numbers"
    seconds = _number(row.get("seconds", 0.0))
    if seconds is None:
        return None, "'seconds' is not a number"
    numbers = {name: _number(value) for name, value in losses.items()}
    return Entry(**{**row, "final_losses": numbers, "seconds": seconds}), ""


def _number(value: Any) -> float | None:
    """``value`` as a float when it is a JSON number (not a bool, not too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def _is_plain_name(name: str) -> bool:
    """A file name inside the batch folder: not empty, no folder separators, not . or .."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name and "\x00" not in name


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__
