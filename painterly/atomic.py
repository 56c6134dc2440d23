"""The one way painterly writes a file: readers never see a half-written one.

Every file (pictures, weights, histories, reports, figures, manifests) is written to a temporary
file in the destination's folder, flushed to disk, then renamed over the destination with
``os.replace``, which is atomic on POSIX and Windows. On any failure the temporary file is
removed and an existing destination is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from painterly.errors import PainterlyError


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; when the block ends without error it replaces
    ``destination``. The folder must exist. OSErrors propagate (callers word them for their users).
    """
    target = Path(destination)
    # Not tempfile.mkstemp: its files are private (0600); this one gets the umask's permissions.
    temporary = target.parent / f".{target.name}-{secrets.token_hex(6)}.part"
    temporary.open("xb").close()
    try:
        yield temporary
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable on POSIX; directories cannot be opened this way on Windows.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; an OSError becomes a one-line PainterlyError."""
    target = Path(path)
    try:
        with atomic_path(target) as temporary:
            temporary.write_text(text, encoding="utf-8")
    except OSError as error:
        raise PainterlyError(f"could not write {target}: {error.strerror or error}") from None
    return target
