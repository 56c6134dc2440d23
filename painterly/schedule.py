"""Coarse-to-fine schedules: which image sizes to optimise at, and how many evaluations each."""

from __future__ import annotations

import math
from dataclasses import dataclass

from painterly.errors import PainterlyError

# The coarsest scale's long side; each later scale is about twice as large.
COARSEST_LONG_SIDE = 128
# The coarsest scale's short side at least: four 2x2 poolings come before conv5_1 (options.MIN_SIDE).
COARSEST_SHORT_SIDE = 16


@dataclass(frozen=True)
class Scale:
    height: int
    width: int
    evaluations: int

    @property
    def long_side(self) -> int:
        return max(self.height, self.width)


def automatic_scale_count(long_side: int) -> int:
    """One scale per doubling from ~128 px: 512 px -> 3 scales (128, 256, 512)."""
    if long_side <= COARSEST_LONG_SIDE * 1.5:
        return 1
    return 1 + round(math.log2(long_side / COARSEST_LONG_SIDE))


def split_evaluations(total: int, count: int) -> list[int]:
    """Share a budget over `count` scales, coarsest first, each scale getting ~2/3 of the previous one's.

    Most evaluations go to the cheap coarse scales; every scale gets at least one.
    """
    if count > total:
        raise PainterlyError(f"{total} iterations cannot be shared over {count} scales; use more iterations")
    shares = [(2 / 3) ** index for index in range(count)]
    raw = [total * share / sum(shares) for share in shares]
    counts = [max(1, math.floor(value)) for value in raw]
    counts[0] += total - sum(counts)
    return counts


def plan_scales(height: int, width: int, evaluations: int, scales: int | None) -> list[Scale]:
    """Sizes from coarse to the final (height, width), aspect ratio kept, with their budgets.

    The coarsest scale's long side is 128 px, or more for a narrow picture, so that its short side
    is at least 16 px (a 10:1 panorama at 512 px starts at 160x16, not 128x13, where the network's
    deepest layers would have no pixels).
    """
    long_side = max(height, width)
    count = automatic_scale_count(long_side) if scales is None else scales
    if count < 1:
        raise PainterlyError(f"--scales must be at least 1 (got {count})")
    if count == 1:
        return [Scale(height, width, evaluations)]
    narrow_start = math.ceil(COARSEST_SHORT_SIDE * long_side / min(height, width))
    start = min(max(COARSEST_LONG_SIDE, narrow_start), long_side)
    factor = (long_side / start) ** (1 / (count - 1))
    budgets = split_evaluations(evaluations, count)
    planned = []
    for index, budget in enumerate(budgets):
        ratio = factor ** (index - count + 1)  # 1.0 at the last scale
        planned.append(Scale(max(1, round(height * ratio)), max(1, round(width * ratio)), budget))
    planned[-1] = Scale(height, width, budgets[-1])
    return planned
