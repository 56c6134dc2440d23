"""Where fetched weights are kept: ``cache_dir()/weights/<source>.safetensors``.

Each source is downloaded and converted once; later runs read only the safetensors file.
"""

from __future__ import annotations

import contextlib
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


def is_cached(name: str) -> bool:
    """Whether source ``name`` (a key of SOURCES) has been fetched and converted already."""
    return cached_path(get_source(name).name).is_file()
