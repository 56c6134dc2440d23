"""The batch manifest: one row per picture (inputs, their hashes, settings, final losses, seconds, status).

Written as manifest.json (the record the resume logic reads) and manifest.csv (for people and
spreadsheets), both atomically after every picture, so a crash or Ctrl-C never loses the record
of a finished picture. A picture is finished when its output exists and its row says ``done``
with the same settings key and input hashes as now; anything else is computed again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import painterly
from painterly.atomic import write_text_atomically
from painterly.batch.plan import Job

JSON_FILE = "manifest.json"
CSV_FILE = "manifest.csv"
DONE = "done"
FAILED = "failed"
CSV_COLUMNS = (
    "output", "status", "content", "style", "content_sha256", "style_sha256", "settings_key",
    "content_loss", "style_loss", "total_loss", "seconds", "error", "finished_at",
)  # fmt: skip


def settings_key(settings: Mapping[str, Any]) -> str:
    """A hash of the validated settings: equal keys mean the same picture from the same inputs."""
    text = json.dumps({"settings": dict(settings), "painterly": painterly.__version__}, sort_keys=True, default=str)
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
    """The rows of a batch folder, by output name, read at the start and written after every change."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.entries: dict[str, Entry] = {}

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        """The manifest in ``folder``; a missing or damaged one counts as empty (its pictures are redone)."""
        manifest = cls(folder)
        try:
            rows = json.loads((folder / JSON_FILE).read_text(encoding="utf-8"))["pictures"]
            for row in rows:
                entry = Entry(**row)
                manifest.entries[entry.output] = entry
        except (OSError, ValueError, KeyError, TypeError):
            manifest.entries = {}
        return manifest

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
