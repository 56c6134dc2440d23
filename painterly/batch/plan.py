"""The pictures of a batch: every photo times every painting, each with an output name that says both.

Arguments are files or folders (a folder contributes its image files, sorted by name, not its
subfolders). A named file must be a regular file: a FIFO or device would block the batch. The
output of photo ``tubingen.jpg`` in the style of ``starry_night.jpg`` is
``tubingen__starry_night.png``; two inputs with the same stem (from different folders) get
``-2``, ``-3``... (never another input's own name) so no output overwrites another.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from painterly.errors import PainterlyError
from painterly.models.files import special_file_kind

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
            found.append(_regular_file(path, role))
        else:
            raise PainterlyError(f"{role} {path} does not exist; give an image file or a folder of images")
    unique = list(dict.fromkeys(found))  # the same file named twice is made once
    return unique


def _regular_file(path: Path, role: str) -> Path:
    """``path`` when it is a regular file (or a link to one); a FIFO, device or socket is refused
    before anything reads it, because reading one would block for ever (or never end)."""
    kind = special_file_kind(path)
    if kind is not None:
        raise PainterlyError(f"{role} {path} is not a regular file ({kind}); give an image file or a folder of images")
    return path


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
    """A distinct name per input: its cleaned stem, or for a repeated stem the stem with ``-2``, ``-3``...

    The suffix skips every name another input has as its own stem, so photos ``d1/x.png``,
    ``d2/x.png`` and ``d3/x-2.png`` become ``x``, ``x-3`` and ``x-2``: a renamed input never takes
    another's name (which would make two pictures write one file, each rerun overwriting the
    other). Names depend only on the inputs and their order, so a rerun of the same command gets
    the same names. Compared without case: some file systems do not tell ``X.png`` from ``x.png``.
    """
    stems = [_clean(path.stem) for path in paths]
    taken = {stem.lower() for stem in stems}
    first: set[str] = set()
    names: list[str] = []
    for stem in stems:
        if stem.lower() not in first:
            first.add(stem.lower())
            names.append(stem)
            continue
        count = 2
        while f"{stem}-{count}".lower() in taken:
            count += 1
        taken.add(f"{stem}-{count}".lower())
        names.append(f"{stem}-{count}")
    return names


def _clean(stem: str) -> str:
    """A file-name-safe stem: separators and control characters become ``_``; ``__`` stays unambiguous.

    Runs of ``_`` become one, and a leading or trailing ``_`` is dropped, so ``PHOTO__PAINTING``
    splits one way only (``a_`` with ``b`` and ``a`` with ``_b`` would both give ``a___b``).
    """
    text = re.sub(r"[\x00-\x1f/\\:*?\"<>|]", "_", stem).strip()
    return re.sub(r"_{2,}", "_", text).strip("_").strip() or "image"
