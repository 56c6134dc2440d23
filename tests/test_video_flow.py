"""Optical flow, warping, the reliability mask, the temporal loss and the flicker measure, checked
against a synthetic clip whose true motion is known (a texture translating by whole pixels)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("cv2")

from painterly.margin import Canvas
from painterly.video.flicker import clip_flicker, frame_flicker
from painterly.video.flow import optical_flow, reliable, to_array, to_tensor, warp
from painterly.video.temporal import temporal_loss, temporal_term


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth random colour texture (bilinear upsampling of coarse noise): good for any flow method."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, height // 6 + 2, width // 6 + 2, generator=generator)
    fine = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)
    return (fine.clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def translating_frames(count: int, dx: int, dy: int, height: int = 64, width: int = 80) -> list[np.ndarray]:
    """Frame i shows the texture moved by (i dx, i dy) pixels: content moves right by dx, down by dy."""
    margin = 4 * (abs(dx) + abs(dy)) * count + 8
    big = texture(height + 2 * margin, width + 2 * margin)
    return [big[margin - i * dy : margin - i * dy + height, margin - i * dx : margin - i * dx + width].copy()
            for i in range(count)]  # fmt: skip


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


def test_temporal_loss_is_the_papers_masked_mean_square() -> None:
    x = torch.rand(1, 3, 8, 10)
    w = torch.rand(1, 3, 8, 10)
    c = (torch.rand(1, 1, 8, 10) > 0.5).float()
    expected = (c * (x - w) ** 2).sum() / (3 * 8 * 10)
    assert torch.isclose(temporal_loss(x, w, c), expected)
    assert temporal_loss(x, w, torch.zeros_like(c)) == 0
    term = temporal_term(w, c, 10.0)(Canvas(4, 5, 0))  # another scale: w and c resized
    assert term.name == "temporal" and term.weight == 10.0
    value = term({}, torch.rand(1, 3, 4, 5, requires_grad=True))
    assert value.ndim == 0 and value > 0
    image = w.clone().requires_grad_(True)
    temporal_term(w, torch.ones_like(c), 10.0)(Canvas(8, 10, 0))({}, image).backward()
    assert image.grad is not None and image.grad.abs().max() < 1e-6  # minimum at the warped frame


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
