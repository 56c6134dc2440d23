"""The flicker measure (painterly.video.flicker) on a synthetic clip whose true motion is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("cv2")

from painterly.video.flicker import clip_flicker, frame_flicker
from painterly.video.flow import optical_flow, reliable, to_tensor
from tests.helpers import translating_frames


def test_flicker_ignores_motion_and_counts_repainting() -> None:
    frames = translating_frames(2, dx=2, dy=0)
    backward = optical_flow(frames[1], frames[0])
    mask = reliable(optical_flow(frames[0], frames[1]), backward)
    still = frame_flicker(to_tensor(frames[0]), to_tensor(frames[1]), backward, mask)
    assert still < 1.5  # the same picture, moved: no flicker
    repainted = to_tensor(frames[1]) + 0.1 * torch.randn(1, 3, 64, 80, generator=torch.Generator().manual_seed(0))
    assert frame_flicker(to_tensor(frames[0]), repainted.clamp(0, 1), backward, mask) > 10 * max(still, 0.5)
    assert np.isnan(frame_flicker(to_tensor(frames[0]), to_tensor(frames[1]), backward, np.zeros_like(mask)))
    assert clip_flicker([1.0, float("nan"), 3.0]) == 2.0
