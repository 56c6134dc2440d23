"""The in-process backend: items computed here, one after the other.

The simplest backend and the default of every front end: nothing to start, the network is the
caller's (loaded once), and a Ctrl-C reaches the work directly. An item's error, whatever it is,
becomes its :class:`~painterly.runs.outcome.Outcome`; KeyboardInterrupt is no Exception and stops
the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from painterly.runs.outcome import Outcome, failure

T = TypeVar("T")


def run_here(work: Callable[[T], Any], items: Iterable[T]) -> Iterator[Outcome[T]]:
    """``work(item)`` for each item in turn, yielding each outcome as soon as it is known."""
    for item in items:
        try:
            value = work(item)
        except Exception as error:  # one item's failure; KeyboardInterrupt is no Exception
            yield failure(item, error)
            continue
        yield Outcome(item, value=value)
