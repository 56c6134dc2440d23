"""Optical flow, warping and the reliability mask (painterly.video.flow), checked against a synthetic clip
whose true motion is known (a texture translating by whole pixels)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("cv2")

from painterly.video.flow import optical_flow, reliable, to_array, to_tensor, warp
from tests.helpers import translating_frames

INTERIOR = (slice(12, -12), slice(12, -12))


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_flow_recovers_a_known_translation(method: str) -> None:
    first, second = translating_frames(2, dx=3, dy=-2)
    forward = optical_flow(first, second, method)
    backward = optical_flow(second, first, method)
    assert forward.shape == (64, 80, 2) and forward.dtype == np.float32
    assert np.median(np.abs(forward[INTERIOR] - [3, -2])) < 0.25
    assert np.median(np.abs(backward[INTERIOR] - [-3, 2])) < 0.25


def test_warp_along_the_true_flow_is_exact_for_whole_pixels() -> None:
    previous, current = translating_frames(2, dx=2, dy=1)
    backward = np.zeros((*current.shape[:2], 2), np.float32)
    backward[..., 0], backward[..., 1] = -2, -1  # each pixel of the current frame was 2 left, 1 up
    moved = to_array(warp(to_tensor(previous), backward))
    assert np.array_equal(moved[1:, 2:], current[1:, 2:])


def test_warp_along_the_estimated_flow_predicts_the_next_frame() -> None:
    previous, current = translating_frames(2, dx=3, dy=1)
    moved = warp(to_tensor(previous), optical_flow(current, previous))
    error = (moved - to_tensor(current)).abs()[0, :, 12:-12, 12:-12].mean() * 255
    assert error < 2.0


def test_the_mask_trusts_a_translation_except_where_it_enters_the_frame() -> None:
    backward = np.zeros((64, 80, 2), np.float32)
    backward[..., 0] = -4
    forward = -backward
    mask = reliable(forward, backward)
    assert mask[:, 4:].all()  # seen in the previous frame
    assert not mask[:, :4].any()  # came in from outside it


def test_the_mask_marks_disagreeing_flows_and_motion_boundaries() -> None:
    backward = np.zeros((32, 32, 2), np.float32)
    backward[..., 0] = -3
    assert not reliable(backward.copy(), backward)[:, 8:].any()  # forward = backward: inconsistent
    edge = np.zeros((32, 32, 2), np.float32)
    edge[:, 16:, 0] = -5  # the right half moves, the left half stands still
    mask = reliable(-edge, edge)
    assert not mask[:, 15:17].any()  # the motion boundary
    assert mask[:, 2:12].all() and mask[:, 22:30].all()  # (16..21 fetch the still half: disoccluded)
