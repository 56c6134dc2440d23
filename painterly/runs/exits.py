"""The exit statuses of every command, and what a command says when Ctrl-C stopped it.

One table, so that ``painterly``, ``painterly batch``, ``painterly experiment`` and
``painterly video`` answer a script the same way: 0 all done, 1 some work failed (the rest is
kept), 2 the user's input was refused before any work, 130 interrupted (128 + SIGINT, what a shell
reports for a Ctrl-C). SIGTERM counts as Ctrl-C (:mod:`painterly.interrupts`).

This module imports nothing heavy: the command line reads it before PyTorch loads.
"""

from __future__ import annotations

import sys
from typing import TextIO

from painterly.errors import PainterlyError

EXIT_OK = 0
#: Some pictures, runs or frames failed; the others are kept (and an out-of-memory run).
EXIT_FAILED = 1
#: A one-line refusal of the user's input (:class:`~painterly.errors.PainterlyError`), before any work.
EXIT_USER_ERROR = 2
#: Ctrl-C or SIGTERM: 128 + SIGINT, as shells report it.
EXIT_INTERRUPTED = 130


def exit_code(error: BaseException) -> int | None:
    """The status a command exits with when ``error`` ends it; None when it is a bug to show whole.

    KeyboardInterrupt (Ctrl-C, or SIGTERM through :func:`painterly.interrupts.first_interrupt`) is
    :data:`EXIT_INTERRUPTED`; a PainterlyError, the user's input refused, :data:`EXIT_USER_ERROR`.
    """
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, PainterlyError):
        return EXIT_USER_ERROR
    return None


def finished_status(failed: int) -> int:
    """The status of a command that ran to its end: :data:`EXIT_FAILED` when any of its work failed."""
    return EXIT_FAILED if failed else EXIT_OK


def report_interrupted(kept: str, stream: TextIO | None = None) -> int:
    """Say what an interrupted command keeps and how to resume it; returns :data:`EXIT_INTERRUPTED`.

    ``kept`` completes "painterly: interrupted; ...", e.g. "3 of 4 picture(s) finished and kept in out".
    """
    print(f"painterly: interrupted; {kept}. Run the same command again to resume.", file=stream or sys.stderr)
    return EXIT_INTERRUPTED
