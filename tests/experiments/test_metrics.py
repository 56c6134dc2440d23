"""Spike counting and 'evaluations to reach' on synthetic loss curves."""

from __future__ import annotations

import pytest

from painterly.experiments.metrics import (
    colourfulness,
    evaluations_to_reach,
    final_scale_start,
    find_spikes,
    objective_key,
    run_metrics,
)
from painterly.experiments.store import snapshot_evaluations


def test_a_falling_curve_has_no_spikes() -> None:
    assert find_spikes([100, 50, 40, 41, 30, 29.5, 59, 20], factor=2.0) == []  # 59 is not above 2 x 29.5


def test_spikes_start_where_the_loss_jumps_above_factor_times_the_running_minimum() -> None:
    losses = [10, 5, 4, 12, 11, 3, 9, 2, 2, 4.0001]
    # 12 > 2 x 4 starts a spike, 11 continues it; 9 > 2 x 3 starts another; 4.0001 > 2 x 2 a third.
    assert find_spikes(losses, factor=2.0) == [3, 6, 9]
    assert find_spikes(losses, factor=3.0) == []  # 12 is exactly 3 x 4: not above
    assert find_spikes(losses, factor=1.5) == [3, 6, 9]


def test_a_long_excursion_counts_once_and_the_first_evaluation_never_counts() -> None:
    assert find_spikes([1e9, 1, 5, 6, 7, 8, 0.5, 0.9]) == [2]


def test_a_new_scale_restarts_the_running_minimum() -> None:
    losses = [10, 1, 50, 40, 30, 100]
    scales = [1, 1, 2, 2, 2, 2]
    assert find_spikes(losses, 2.0, scales) == [5]  # 100 > 2 x 30 at scale 2; 50 starts a scale
    assert find_spikes(losses, 2.0) == [2]


def test_spike_factor_must_be_above_one() -> None:
    with pytest.raises(ValueError):
        find_spikes([1, 2], factor=1.0)


def test_evaluations_to_reach() -> None:
    losses = [100, 50, 20, 10.4, 10.6, 10]
    assert evaluations_to_reach(losses, 10 * 1.05) == 4  # the 4th evaluation is within 5 % of 10
    assert evaluations_to_reach(losses, 10) == 6
    assert evaluations_to_reach(losses, 9.9) is None
    assert evaluations_to_reach(losses, 1000, start=2) == 3
    assert evaluations_to_reach([], 1) is None


def test_final_scale_start() -> None:
    assert final_scale_start([1, 1, 1]) == 0
    assert final_scale_start([1, 1, 2, 2, 3]) == 4
    assert final_scale_start([]) == 0


def test_run_metrics_on_a_history() -> None:
    history = [
        {"evaluation": index + 1, "scale": 1, "total_loss": loss}
        for index, loss in enumerate([100.0, 40.0, 90.0, 30.0, 21.0, 20.0])
    ]
    metrics = run_metrics(history, reference=20.0, spike_factor=2.0, within=0.05)
    assert metrics == {
        "spikes": 1,
        "spike_evaluations": [3],
        "reach_target": pytest.approx(21.0),
        "evaluations_to_reach": 5,
    }


def test_objective_key_ignores_how_the_loss_is_minimised() -> None:
    lbfgs = {"optimizer": "lbfgs", "learning_rate": 0.8, "style_layers": ["conv1_1"], "init": "content"}
    adam = {"optimizer": "adam", "learning_rate": 0.01, "style_layers": ["conv1_1"], "init": "noise"}
    shallow = {**lbfgs, "style_layers": ["conv1_2"]}
    assert objective_key(lbfgs) == objective_key(adam) != objective_key(shallow)


def test_colourfulness_is_zero_for_grey_and_grows_with_saturation(tmp_path) -> None:
    from PIL import Image

    grey, pale, vivid = tmp_path / "grey.png", tmp_path / "pale.png", tmp_path / "vivid.png"
    Image.new("RGB", (8, 8), (120, 120, 120)).save(grey)
    Image.new("RGB", (8, 8), (140, 120, 110)).save(pale)
    Image.new("RGB", (8, 8), (250, 20, 10)).save(vivid)
    assert colourfulness(grey) == 0.0
    assert 0 < colourfulness(pale) < colourfulness(vivid)


def test_snapshot_evaluations_follow_a_1_2_5_series_below_the_budget() -> None:
    assert snapshot_evaluations(1000) == [10, 20, 50, 100, 200, 500]
    assert snapshot_evaluations(25) == [10, 20]
    assert snapshot_evaluations(5) == []
