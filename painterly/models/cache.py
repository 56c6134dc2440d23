"""Where fetched weights are kept: ``cache_dir()/weights/<source>.safetensors``.

Each source is downloaded and converted once; later runs read only the safetensors file, whose
metadata records the sha256 of its tensors so that a damaged file is noticed and fetched again
(see :func:`painterly.models.weights.load_source`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import time
from pathlib import Path

from painterly.errors import PainterlyError
from painterly.models.sources import get_source

HOME_ENV = "PAINTERLY_HOME"
STALE_TEMP_AGE_S = 24 * 3600  # temporary files this old belong to runs that died


def cache_dir() -> Path:
    """``$PAINTERLY_HOME`` if set, else the platform's user cache folder + ``/painterly``."""
    home = os.environ.get(HOME_ENV, "").strip()
    if home:
        return Path(home).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA", "").strip() or str(Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = str(Path.home() / "Library" / "Caches")
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        # The XDG spec says to ignore relative paths.
        base = xdg if xdg and os.path.isabs(xdg) else str(Path.home() / ".cache")
    return Path(base) / "painterly"


def weights_dir() -> Path:
    return cache_dir() / "weights"


def cached_path(source_name: str) -> Path:
    """Where the converted weights of ``source_name`` live (whether or not they exist yet)."""
    return weights_dir() / f"{source_name}.safetensors"


def prepare_weights_dir() -> Path:
    """Create the weights folder (a clear error if impossible) and remove stale temporary files."""
    directory = weights_dir()
    in_the_way = _file_in_the_way(directory)
    if in_the_way is not None:
        raise PainterlyError(
            f"cannot create the weights cache {directory}: {in_the_way} is a file, not a folder; "
            f"move or delete it, or set {HOME_ENV} to another folder"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PainterlyError(
            f"cannot create the weights cache {directory} ({error.strerror or error}); "
            f"set {HOME_ENV} to a writable folder"
        ) from None
    now = time.time()
    for leftover in directory.glob(".*.part"):
        with contextlib.suppress(OSError):
            if now - leftover.stat().st_mtime > STALE_TEMP_AGE_S:
                leftover.unlink()
    return directory


def _file_in_the_way(directory: Path) -> Path | None:
    """The first existing path from ``directory`` up that is not a folder (mkdir would fail on it)."""
    for path in (directory, *directory.parents):
        if path.exists():
            return None if path.is_dir() else path
    return None


def write_failure(path: Path, error: OSError) -> str:
    """Why writing ``path`` in the cache failed and what to do, for a one-line message.

    Only a full disk is blamed on space: a folder or a file in the way, or a permission
    problem, is named as such.
    """
    reason = error.strerror or str(error)
    if path.is_dir():
        return f"cannot write {path}: it is a folder, not a file; delete or move it (see `painterly models`)"
    in_the_way = _file_in_the_way(path.parent)
    if in_the_way is not None:
        return f"cannot write {path}: {in_the_way} is a file, not a folder; move or delete it, or set {HOME_ENV}"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"cannot write {path} ({reason}); free some space or set {HOME_ENV} to a folder with room"
    return f"cannot write {path} ({reason}); set {HOME_ENV} to a writable folder"


def is_cached(name: str) -> bool:
    """Whether source ``name`` (a key of SOURCES) has been fetched and converted already."""
    return cached_path(get_source(name).name).is_file()
