"""What an execution backend hands back for each item: its value, or why it failed, in one line.

Every backend (:mod:`~painterly.runs.local`, :mod:`~painterly.runs.pool`, :mod:`~painterly.runs.ray`)
catches an item's error, whatever it is, and reports it here, so that one failing picture or run
never stops the others; only KeyboardInterrupt (no Exception) stops a backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from painterly.errors import describe_error

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """``item`` computed: ``value`` (what the work returned), or ``error``, one line."""

    item: T
    value: Any = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


def failure(item: T, error: BaseException) -> Outcome[T]:
    """The outcome of ``item`` whose work raised ``error``."""
    return Outcome(item, error=describe_error(error))
