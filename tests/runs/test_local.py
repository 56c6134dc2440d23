"""painterly.runs.local: items computed here, a failure one line, Ctrl-C stops the loop."""

from __future__ import annotations

import pytest

from painterly.errors import PainterlyError
from painterly.runs.local import run_here


def work(item: int) -> int:
    if item == 2:
        raise PainterlyError("two is unreadable\nand more")
    if item == 3:
        raise ValueError("three")
    return item * 10


def test_each_item_is_a_value_or_one_line_and_the_others_go_on() -> None:
    outcomes = list(run_here(work, [1, 2, 3, 4]))
    assert [(o.item, o.value, o.error, o.failed) for o in outcomes] == [
        (1, 10, None, False), (2, None, "two is unreadable", True), (3, None, "ValueError: three", True),
        (4, 40, None, False),
    ]  # fmt: skip


def test_ctrl_c_stops_the_items() -> None:
    seen: list[int] = []

    def interrupted(item: int) -> int:
        seen.append(item)
        if item == 2:
            raise KeyboardInterrupt
        return item

    outcomes = run_here(interrupted, [1, 2, 3])
    assert next(outcomes).value == 1
    with pytest.raises(KeyboardInterrupt):
        next(outcomes)
    assert seen == [1, 2]
