"""One batch at a time per output folder: ``OUTDIR/.painterly-batch.lock``.

Two batches writing one folder would each keep their own copy of the manifest and write it
after every picture, so each would drop the other's rows (pictures on disk that no manifest
records, made twice). The lock is an exclusive ``flock`` on the lock file, taken without
waiting: a second batch stops at once with one line naming the lock and the process holding it.
The operating system releases the lock when its process ends, however it ends, so a lock file
left by a killed batch (a stale lock) is simply taken over by the next one; the file itself is
left in place (deleting it would let two processes lock two different files of the same name).
Without ``fcntl`` (Windows), or on a file system that cannot lock, nothing is locked.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from painterly.errors import PainterlyError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locking between processes
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".painterly-batch.lock"


@contextlib.contextmanager
def batch_lock(folder: Path) -> Iterator[Path]:
    """Hold ``folder``'s batch lock for the block; a lock held by a live process is a PainterlyError."""
    path = folder / LOCK_FILE
    if fcntl is None:  # pragma: no cover
        yield path
        return
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise PainterlyError(f"cannot create the lock file {path}: {error.strerror or error}") from None
    try:
        _take(descriptor, path, folder)
        yield path
    finally:
        os.close(descriptor)  # releases the lock


def _take(descriptor: int, path: Path, folder: Path) -> None:
    """Lock without waiting and write this process's id in the file (for the other batch's message)."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(descriptor)
        raise PainterlyError(
            f"another painterly batch{holder} is writing to {folder} (it holds the lock {path}); "
            "wait for it to finish, or choose another -o folder"
        ) from None
    except OSError:  # a file system without locks: run unlocked rather than never
        return
    with contextlib.suppress(OSError):
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)


def _holder(descriptor: int) -> str:
    """`` (process N)`` from the lock file, or nothing when it holds no process id yet."""
    try:
        text = os.pread(descriptor, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (process {int(text)})" if text.isdigit() else ""
