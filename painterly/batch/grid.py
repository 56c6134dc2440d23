"""A contact sheet of a batch: the paintings across the top, the photos down the side, the results
in between, so a whole batch can be judged at a glance (``grid.jpg`` in the batch folder)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from painterly.atomic import atomic_path
from painterly.batch.plan import Job
from painterly.errors import PainterlyError
from painterly.hashing import open_regular_file

CELL = 160  # px, each thumbnail's long side
GAP = 4


def _thumbnail(path: Path) -> Image.Image | None:
    try:  # a regular file only: an input swapped for a FIFO must not block the batch here
        with open_regular_file(path) as stream, Image.open(stream) as image:
            image = image.convert("RGB")
            image.thumbnail((CELL, CELL))
            return image
    except (OSError, ValueError, Image.DecompressionBombError, PainterlyError):
        return None


def write_grid(jobs: Sequence[Job], contents: Sequence[Path], styles: Sequence[Path], path: Path) -> Path | None:
    """Write the contact sheet of ``jobs`` to ``path`` (JPEG, atomically); None when nothing was made."""
    made = {(job.content, job.style): job.output for job in jobs if job.output.is_file()}
    if not made:
        return None
    step = CELL + GAP
    sheet = Image.new("RGB", (step * (len(styles) + 1) + GAP, step * (len(contents) + 1) + GAP), "white")

    def paste(source: Path, row: int, column: int) -> None:
        thumb = _thumbnail(source)
        if thumb is not None:
            x = GAP + column * step + (CELL - thumb.width) // 2
            y = GAP + row * step + (CELL - thumb.height) // 2
            sheet.paste(thumb, (x, y))

    for column, style in enumerate(styles, start=1):
        paste(style, 0, column)
    for row, content in enumerate(contents, start=1):
        paste(content, row, 0)
        for column, style in enumerate(styles, start=1):
            output = made.get((content, style))
            if output is not None:
                paste(output, row, column)
    with atomic_path(path) as temporary:
        sheet.save(temporary, format="JPEG", quality=88)
    return path
