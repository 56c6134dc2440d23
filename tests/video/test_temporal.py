"""The temporal loss (painterly.video.temporal): the paper's masked mean square, and the TemporalTerm
scoring the picture inside its margin."""

from __future__ import annotations

import pytest
import torch

from painterly.margin import Canvas
from painterly.video.temporal import TemporalTerm, temporal_loss, temporal_term


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


def test_the_temporal_term_scores_the_picture_inside_its_margin() -> None:
    """L_temporal = (1/D) sum_k c_k (x_k - w_k)^2 over the picture's D = 3 H W values."""
    warped, mask = torch.rand(1, 3, 4, 5), (torch.rand(1, 1, 4, 5) > 0.5).float()
    term = TemporalTerm.at(warped, mask, Canvas(4, 5, 2), weight=3.0)
    canvas = torch.rand(1, 3, 8, 9)
    picture = canvas[..., 2:6, 2:7]
    expected = (mask * (picture - warped) ** 2).sum() / (3 * 4 * 5)
    assert term.name == "temporal" and term.weight == 3.0
    assert term({}, canvas).item() == pytest.approx(expected.item(), rel=1e-6)
