"""The style terms (painterly.terms.style): Gram and W2 against their formulas on tiny tensors, the margin
cropped first, a region of ones, and the option that picks the class."""

from __future__ import annotations

import pytest
import torch

from painterly.losses import FeatureMoments, StyleRegion, W2Target
from painterly.terms import (
    STYLE_TERMS,
    GramStyleTerm,
    W2StyleTerm,
)


def _random(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _gram(features: torch.Tensor) -> torch.Tensor:
    matrix = features.double().reshape(features.shape[1], -1)
    return matrix @ matrix.T


def test_the_gram_term_is_the_papers_weighted_layer_sum() -> None:
    """L_style = sum_l w_l / (4 N_l^2 M_l^2) sum_ij (G_ij - A_ij)^2 with G = F F^T."""
    a, b = _random(1, 2, 3, 3, seed=4), _random(1, 4, 2, 2, seed=5)
    target_a, target_b = _gram(_random(1, 2, 3, 3, seed=6)), _gram(_random(1, 4, 2, 2, seed=7))
    term = GramStyleTerm({"a": 0.25, "b": 0.75}, {"a": target_a.float(), "b": target_b.float()}, weight=1e3)
    by_hand = 0.25 * (_gram(a) - target_a).pow(2).sum() / (4 * 2**2 * 9**2)
    by_hand += 0.75 * (_gram(b) - target_b).pow(2).sum() / (4 * 4**2 * 4**2)
    assert term({"a": a, "b": b}, torch.zeros(1, 3, 6, 6)).item() == pytest.approx(by_hand.item(), rel=1e-5)


def test_the_gram_term_crops_the_margin_before_the_loss() -> None:
    features, target = _random(1, 2, 5, 6, seed=8), _gram(_random(1, 2, 3, 4, seed=9))
    term = GramStyleTerm({"a": 1.0}, {"a": target.float()}, margins={"a": 1})
    inside = features[..., 1:-1, 1:-1]
    by_hand = (_gram(inside) - target).pow(2).sum() / (4 * 2**2 * 12**2)
    assert term({"a": features}, torch.zeros(1, 3, 5, 6)).item() == pytest.approx(by_hand.item(), rel=1e-5)


def test_a_region_of_ones_is_the_unmasked_gram_term() -> None:
    """Regions weigh E_l^r = a_r / M / (4 N^2) sum (G_m - T)^2 by weight_r w_l; a mask of ones is E_l."""
    features, painting = _random(1, 3, 4, 4, seed=10), _random(1, 3, 4, 4, seed=11)
    per_position = GramStyleTerm.statistic(painting)
    ones = torch.ones(1, 1, 4, 4)
    masked = GramStyleTerm({"a": 0.5}, regions=(StyleRegion({"a": ones}, {"a": per_position}, weight=2.0),))
    plain = GramStyleTerm({"a": 0.5}, {"a": GramStyleTerm.target(per_position, 16)})
    image = torch.zeros(1, 3, 4, 4)
    assert masked({"a": features}, image).item() == pytest.approx(2 * plain({"a": features}, image).item(), rel=1e-5)


def test_the_w2_term_of_one_filter_is_the_gaussians_distance() -> None:
    """For N = 1: W2^2 = (mu - mu_t)^2 + (sigma - sigma_t)^2, per filter (N = 1), times w_l."""
    features, painting = _random(1, 1, 4, 5, seed=12).exp(), _random(1, 1, 6, 6, seed=13).exp()
    target = W2StyleTerm.target(W2StyleTerm.statistic(painting), positions=20)
    assert isinstance(target, W2Target)
    term = W2StyleTerm({"a": 0.5}, {"a": target})
    x, t = features.double().flatten(), painting.double().flatten()
    by_hand = 0.5 * ((x.mean() - t.mean()) ** 2 + (x.std(unbiased=False) - t.std(unbiased=False)) ** 2)
    assert term({"a": features}, torch.zeros(1, 3, 4, 5)).item() == pytest.approx(by_hand.item(), rel=1e-4, abs=1e-6)


def test_the_style_loss_option_picks_the_class_and_its_statistics() -> None:
    assert {"gram": GramStyleTerm, "w2": W2StyleTerm} == STYLE_TERMS
    painting = _random(1, 3, 4, 4, seed=14)
    assert isinstance(W2StyleTerm.statistic(painting), FeatureMoments)
    assert torch.allclose(GramStyleTerm.statistic(painting), _gram(painting).float() / 16, atol=1e-5)
    blended = GramStyleTerm.blend([0.25, 0.75], [torch.ones(2, 2), 3 * torch.ones(2, 2)])
    assert torch.equal(blended, 2.5 * torch.ones(2, 2))
