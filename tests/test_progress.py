"""The ETA: within 10 % of the real end from the second scale on (issue 9)."""

from __future__ import annotations

import pytest
import torch

from painterly.progress import EtaEstimate, clock
from painterly.result import Iterate

# The default 512 px schedule and its measured seconds per pixel-evaluation on the 2-core CPU
# (docs/benchmarks/cpu-512.json: 14.3, 34.2 and 95.5 s for the three scales).
SCHEDULE = ((96, 128, 238), (192, 256, 157), (384, 512, 105))
COST = (14.291 / (238 * 96 * 128), 34.155 / (157 * 192 * 256), 95.515 / (105 * 384 * 512))


def run(setup_evaluations: float = 2.0) -> list[tuple[float, float]]:
    """(seconds, seconds predicted at the end) after every evaluation of a simulated run whose
    scales each begin by building their targets (``setup_evaluations`` evaluations' worth)."""
    estimate = EtaEstimate()
    seconds, evaluation, found = 0.0, 0, []
    pixels = torch.zeros(1, 3, 1, 1)
    for scale, ((height, width, count), cost) in enumerate(zip(SCHEDULE, COST, strict=True), start=1):
        step = cost * height * width
        seconds += setup_evaluations * step
        for _ in range(count):
            seconds += step
            evaluation += 1
            iterate = Iterate(
                evaluation=evaluation, total_evaluations=500, scale=scale, scales=3, height=height, width=width,
                content_loss=0.0, style_loss=0.0, total_loss=0.0, seconds=seconds, schedule=SCHEDULE,
                pixels=pixels, finish=lambda image: image,
            )  # fmt: skip
            found.append((seconds, seconds + estimate.update(iterate)))
    return found


def test_the_eta_is_within_ten_percent_from_the_second_scale_on() -> None:
    found = run()
    end = found[-1][0]
    second_scale_starts = SCHEDULE[0][2]
    for seconds, predicted in found[second_scale_starts:]:
        assert predicted == pytest.approx(end, rel=0.10), (seconds, predicted, end)


def test_clock() -> None:
    assert clock(75) == "01:15" and clock(3725) == "1:02:05"
