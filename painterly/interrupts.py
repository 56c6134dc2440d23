"""Ctrl-C and SIGTERM for the command-line front ends: stop the work, but finish the file being saved.

- :func:`handling_interrupts` installs :func:`first_interrupt` for SIGINT and SIGTERM: the first
  one raises KeyboardInterrupt (SIGTERM is treated as Ctrl-C), and every later one is ignored, so
  that the picture saved while the work unwinds is written whole (a second Ctrl-C within 50 ms of
  the first used to interrupt that save and lose the picture).
- :func:`deferred_interrupts` notes the signals that arrive while a file is written and lets the
  caller act on them afterwards.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


def first_interrupt(signum: int, frame: object) -> None:
    """Stop the work (KeyboardInterrupt), and ignore the signals that follow."""
    for other in INTERRUPTS:
        signal.signal(other, signal.SIG_IGN)
    raise KeyboardInterrupt


def interrupted() -> bool:
    """True once :func:`first_interrupt` has run (the signals are ignored since)."""
    return signal.getsignal(signal.SIGINT) is signal.SIG_IGN


@contextlib.contextmanager
def handling_interrupts(*, restore: bool = True) -> Iterator[None]:
    """Inside, SIGINT and SIGTERM go to :func:`first_interrupt`. On leaving, the previous handlers
    come back, unless an interruption happened and ``restore`` is False (a process about to exit:
    a late Ctrl-C must not interrupt the interpreter's shutdown)."""
    previous = {signum: signal.signal(signum, first_interrupt) for signum in INTERRUPTS}
    try:
        yield
    finally:
        if restore or not interrupted():
            for signum, handler in previous.items():
                signal.signal(signum, handler)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[list[int]]:
    """Inside, SIGINT and SIGTERM are noted instead of raised, so a file being saved is finished;
    the list yielded holds the signals that arrived (see :func:`raise_deferred`)."""
    arrived: list[int] = []

    def note(signum: int, frame: object) -> None:
        arrived.append(signum)

    previous = {signum: signal.signal(signum, note) for signum in INTERRUPTS}
    try:
        yield arrived
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def raise_deferred(arrived: list[int]) -> None:
    """Act on the signals noted by :func:`deferred_interrupts` as if they had arrived now."""
    if arrived:
        first_interrupt(arrived[0], None)
