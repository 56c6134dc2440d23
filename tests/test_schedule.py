import pytest

from painterly.errors import PainterlyError
from painterly.schedule import automatic_scale_count, plan_scales, split_evaluations


def test_automatic_scales_double_from_128() -> None:
    assert automatic_scale_count(128) == 1
    assert automatic_scale_count(256) == 2
    assert automatic_scale_count(512) == 3
    assert automatic_scale_count(1024) == 4


def test_budget_is_spent_exactly_and_mostly_at_coarse_scales() -> None:
    for total, count in [(500, 3), (100, 4), (7, 3), (3, 3)]:
        counts = split_evaluations(total, count)
        assert sum(counts) == total and min(counts) >= 1
        assert counts == sorted(counts, reverse=True)


def test_plan_keeps_aspect_ratio_and_ends_at_requested_size() -> None:
    plan = plan_scales(384, 512, 500, None)
    assert [(s.height, s.width) for s in plan] == [(96, 128), (192, 256), (384, 512)]
    assert sum(s.evaluations for s in plan) == 500


def test_single_scale() -> None:
    assert [(s.height, s.width, s.evaluations) for s in plan_scales(300, 200, 50, 1)] == [(300, 200, 50)]


def test_too_few_iterations_for_the_scales() -> None:
    with pytest.raises(PainterlyError, match="cannot be shared"):
        plan_scales(512, 512, 2, 3)
