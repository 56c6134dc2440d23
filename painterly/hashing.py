"""SHA-256 of files: how painterly tells that an input, a download or a cached result is the same."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable
from typing import BinaryIO

from painterly.errors import PainterlyError

CHUNK_BYTES = 1 << 20


def sha256_of_files(paths: Iterable[str | os.PathLike]) -> str:
    """The SHA-256 of the files' bytes one after another (of one file: its usual hash).

    An unreadable file is a one-line :class:`PainterlyError` naming it, and so is anything but a
    regular file (:func:`open_regular_file`): hashing a FIFO would otherwise block for ever.
    """
    digest = hashlib.sha256()
    for path in paths:
        try:
            with open_regular_file(path) as stream:
                for block in iter(lambda: stream.read(CHUNK_BYTES), b""):
                    digest.update(block)
        except OSError as error:
            raise PainterlyError(f"cannot read {os.fspath(path)}: {error.strerror or error}") from None
    return digest.hexdigest()


def open_regular_file(path: str | os.PathLike) -> BinaryIO:
    """Open ``path`` for reading in binary, refusing anything but a regular file.

    Opening a FIFO (named pipe) for reading blocks until a writer comes, and reading a device
    such as /dev/zero never ends: either would hang a command for ever. So the file is opened
    without blocking and checked on the open descriptor (no window for a swap between a check
    and the open); a FIFO, device, socket or folder is a one-line :class:`PainterlyError`.
    OSErrors (missing, no permission) propagate for the caller to word.
    """
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise PainterlyError(
                f"{os.fspath(path)} is not a regular file (it is {file_kind(mode)}); give a file instead"
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words, for error messages (the one table painterly words them by)."""
    return next((words for test, words in _KINDS if test(mode)), "an unusual kind of file")


def sha256_of_file(path: str | os.PathLike) -> str:
    """The SHA-256 of one file's bytes (an unreadable file is a one-line :class:`PainterlyError`)."""
    return sha256_of_files([path])
