"""painterly.runs.pool: a real tiny stylisation in two spawned worker processes, their progress
events forwarded to the parent, and a failing item reported in one line while the other finishes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from painterly.runs.outcome import Outcome
from painterly.runs.pool import available_cores, run_in_pool, send_event, threads_per_worker


@dataclass(frozen=True)
class Step:
    key: str
    evaluation: int


def stylise(item: tuple[str, str, str], threads: int, weights: str) -> dict[str, Any]:
    """A worker's job (importable by name): a 32 px, 3-evaluation run of the tiny network."""
    import torch

    from painterly.api import stylize

    name, content, style = item
    result = stylize(
        content, style, weights=weights, size=32, iterations=3, precision="fp32", device="cpu",
        callback=lambda iterate: send_event(Step(name, iterate.evaluation)),
    )  # fmt: skip
    return {"total": result.final_losses["total"], "threads": torch.get_num_threads(), "wanted": threads}


def test_two_workers_compute_real_pictures_and_report_a_failure(
    tiny_weights: Path, small_images: tuple[Path, Path], tmp_path: Path
) -> None:
    content, style = (str(path) for path in small_images)
    items = [("good", content, style), ("missing", str(tmp_path / "nowhere.png"), style)]
    events: list[Step] = []
    outcomes: list[Outcome[tuple[str, str, str]]] = []
    run_in_pool(
        stylise, items, jobs=2, key=lambda item: item[0], on_event=events.append, on_outcome=outcomes.append,
        arguments=(str(tiny_weights),),
    )  # fmt: skip
    by_name = {outcome.item[0]: outcome for outcome in outcomes}
    good, missing = by_name["good"], by_name["missing"]
    assert good.error is None and good.value["total"] > 0
    assert good.value["threads"] == good.value["wanted"] == threads_per_worker(2)
    assert missing.failed and "nowhere.png" in (missing.error or "") and "\n" not in (missing.error or "")
    assert [event.evaluation for event in events if event.key == "good"] == [1, 2, 3]


def test_threads_are_shared_out() -> None:
    assert threads_per_worker(1) == available_cores()
    assert threads_per_worker(10_000) == 1
