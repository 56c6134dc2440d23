"""The pictures of a batch: every photo times every painting, each with an output name that says both.

Arguments are files or folders (a folder contributes its image files, sorted by name, not its
subfolders). The output of photo ``tubingen.jpg`` in the style of ``starry_night.jpg`` is
``tubingen__starry_night.png``; two inputs with the same stem (from different folders) get
``-2``, ``-3``... so no output overwrites another.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from painterly.errors import PainterlyError

#: Extensions a folder is searched for (a file named explicitly may have any extension).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
SEPARATOR = "__"


@dataclass(frozen=True)
class Job:
    """One picture to make: ``content`` in the style of ``style``, written to ``output``."""

    content: Path
    style: Path
    output: Path

    @property
    def name(self) -> str:
        return self.output.name


def expand(arguments: Sequence[str | os.PathLike], role: str) -> list[Path]:
    """The image files named by ``arguments`` (files, or folders of images), in the order given.

    A missing path or a folder without images is a one-line error (before anything runs).
    """
    found: list[Path] = []
    for argument in arguments:
        path = Path(argument).expanduser()
        if path.is_dir():
            try:
                entries = sorted(path.iterdir())
            except OSError as error:
                raise PainterlyError(f"cannot list the {role} folder {path}: {error.strerror or error}") from None
            images = [entry for entry in entries if entry.suffix.lower() in IMAGE_EXTENSIONS and _is_file(entry)]
            if not images:
                raise PainterlyError(
                    f"the {role} folder {path} holds no image files ({', '.join(IMAGE_EXTENSIONS[:4])}...); "
                    "give image files or another folder"
                )
            found.extend(images)
        elif path.exists():
            found.append(path)
        else:
            raise PainterlyError(f"{role} {path} does not exist; give an image file or a folder of images")
    unique = list(dict.fromkeys(found))  # the same file named twice is made once
    return unique


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def plan_jobs(contents: Sequence[Path], styles: Sequence[Path], out: Path, suffix: str = ".png") -> list[Job]:
    """Every photo times every painting, photo-major, with unique output names in ``out``."""
    content_names = _unique_stems(contents)
    style_names = _unique_stems(styles)
    jobs = []
    for content, content_name in zip(contents, content_names, strict=True):
        for style, style_name in zip(styles, style_names, strict=True):
            jobs.append(Job(content, style, out / f"{content_name}{SEPARATOR}{style_name}{suffix}"))
    return jobs


def _unique_stems(paths: Sequence[Path]) -> list[str]:
    names: list[str] = []
    seen: dict[str, int] = {}
    for path in paths:
        stem = _clean(path.stem)
        count = seen.get(stem.lower(), 0) + 1
        seen[stem.lower()] = count
        names.append(stem if count == 1 else f"{stem}-{count}")
    return names


def _clean(stem: str) -> str:
    """A file-name-safe stem: separators and control characters become ``_``; ``__`` stays unambiguous."""
    text = re.sub(r"[\x00-\x1f/\\:*?\"<>|]", "_", stem).strip() or "image"
    return re.sub(r"_{2,}", "_", text)
