"""``python -m benchmarks.profile`` on the tiny network on the CPU: the loop's four parts become
profiler ranges for the profiled run only, and the summary counts them per evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import painterly.lbfgs
import painterly.optimize
from benchmarks import profile


def test_the_ranges_are_marked_only_inside_the_block() -> None:
    before = [getattr(owner, attribute) for owner, attribute, _ in profile.MARKED]
    with profile.marked_ranges():
        inside = [getattr(owner, attribute) for owner, attribute, _ in profile.MARKED]
        assert all(a is not b for a, b in zip(before, inside, strict=True))
    assert [getattr(owner, attribute) for owner, attribute, _ in profile.MARKED] == before
    assert painterly.optimize._evaluate is before[0]
    assert painterly.lbfgs._direction is before[3]


def test_a_profiled_cpu_run_counts_every_evaluation(
    tiny_weights: Path, small_images: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "profile.json"
    content, style = small_images
    code = profile.main([
        "--device", "cpu", "--weights", str(tiny_weights), "--pair", str(content), str(style),
        "--size", "48", "--iterations", "12", "--warmup", "3", "--out", str(out), "--set", "scales=1",
        "--set", "optimizer=lbfgs",  # the line-search counts below are L-BFGS's
    ])  # fmt: skip
    assert code == 0
    summary = json.loads(out.read_text())
    assert summary["evaluations"] == 12 and summary["unprofiled_evaluations"] == 12
    ranges = summary["ranges"]
    # 12 evaluations: the first outside the line search, the rest inside one search each or more.
    assert ranges["evaluation"]["calls"] == 12 + 1  # and once per scale to find the budget spent
    assert ranges["record"]["calls"] == 12
    assert 1 <= ranges["line_search"]["calls"] <= 11
    # Host times are read from the host events (the device annotations of a CUDA build read 0).
    assert ranges["evaluation"]["cpu_ms_per_evaluation"] > 0
    assert ranges["evaluation"]["cpu_ms_per_evaluation"] >= ranges["record"]["cpu_ms_per_evaluation"]
    assert summary["kernels_per_evaluation"] == 0  # no CUDA on this machine's CPU run
    assert summary["host_waits_per_evaluation"] > 0  # float(loss) at least once per evaluation
