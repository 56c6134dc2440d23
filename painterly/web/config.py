"""What ``painterly serve`` starts the studio with (the command line's choices, checked there)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from painterly.web.uploads import DEFAULT_MAX_UPLOAD_PIXELS


@dataclass
class StudioConfig:
    """What ``painterly serve`` was started with."""

    jobs_dir: Path
    token: str | None = None
    workers: int = 1
    devices: list[int | None] = field(default_factory=lambda: [None])
    max_upload_bytes: int = 50_000_000
    max_upload_pixels: int = DEFAULT_MAX_UPLOAD_PIXELS
    max_queue: int = 100
    weights: str | None = None
