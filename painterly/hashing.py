"""SHA-256 of files: how painterly tells that an input, a download or a cached result is the same."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

from painterly.errors import PainterlyError

CHUNK_BYTES = 1 << 20


def sha256_of_files(paths: Iterable[str | os.PathLike]) -> str:
    """The SHA-256 of the files' bytes one after another (of one file: its usual hash).

    An unreadable file is a one-line :class:`PainterlyError` naming it.
    """
    digest = hashlib.sha256()
    for path in paths:
        try:
            with open(path, "rb") as stream:
                for block in iter(lambda: stream.read(CHUNK_BYTES), b""):
                    digest.update(block)
        except OSError as error:
            raise PainterlyError(f"cannot read {os.fspath(path)}: {error.strerror or error}") from None
    return digest.hexdigest()


def sha256_of_file(path: str | os.PathLike) -> str:
    """The SHA-256 of one file's bytes (an unreadable file is a one-line :class:`PainterlyError`)."""
    return sha256_of_files([path])
