"""The objective's terms (painterly.terms): each against its formula on tiny tensors, the weighted sum
reported by name, and a new term added as one class."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pytest
import torch

import painterly.terms as terms_module
from painterly import stylize
from painterly.image import read_png_metadata
from painterly.losses import FeatureMoments, StyleRegion, W2Target
from painterly.margin import Canvas
from painterly.objective import Objective
from painterly.terms import (
    STYLE_TERMS,
    ContentTerm,
    GramStyleTerm,
    LossValues,
    TermContext,
    TermWeights,
    TVTerm,
    W2StyleTerm,
    evaluate_terms,
)
from painterly.video.temporal import TemporalTerm


def _random(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _gram(features: torch.Tensor) -> torch.Tensor:
    matrix = features.double().reshape(features.shape[1], -1)
    return matrix @ matrix.T


def test_the_content_term_is_half_the_squared_error_averaged_over_layers() -> None:
    f1, p1 = _random(1, 2, 3, 3, seed=0), _random(1, 2, 3, 3, seed=1)
    f2, p2 = _random(1, 4, 2, 2, seed=2), _random(1, 4, 2, 2, seed=3)
    term = ContentTerm({"a": p1, "b": p2}, weight=0.5)
    expected = (0.5 * (f1 - p1).pow(2).sum() + 0.5 * (f2 - p2).pow(2).sum()) / 2
    value = term({"a": f1, "b": f2}, torch.zeros(1, 3, 4, 4))
    assert value.dtype == torch.float32 and value.ndim == 0
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    assert term.name == "content" and term.weight == 0.5
    assert ContentTerm({})({}, torch.zeros(1, 3, 4, 4)).item() == 0.0  # no content layers: 0


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


def test_the_tv_term_by_hand() -> None:
    image = torch.zeros(1, 3, 2, 3)
    image[0, 0] = torch.tensor([[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]])
    # vertical: (2-0)^2 + (2-1)^2 + (2-3)^2 = 6; horizontal: 1 + 4 + 0 + 0 = 5
    assert TVTerm(weight=1e-3)({}, image).item() == pytest.approx(11.0)


def test_the_temporal_term_scores_the_picture_inside_its_margin() -> None:
    """L_temporal = (1/D) sum_k c_k (x_k - w_k)^2 over the picture's D = 3 H W values."""
    warped, mask = torch.rand(1, 3, 4, 5), (torch.rand(1, 1, 4, 5) > 0.5).float()
    term = TemporalTerm.at(warped, mask, Canvas(4, 5, 2), weight=3.0)
    canvas = torch.rand(1, 3, 8, 9)
    picture = canvas[..., 2:6, 2:7]
    expected = (mask * (picture - warped) ** 2).sum() / (3 * 4 * 5)
    assert term.name == "temporal" and term.weight == 3.0
    assert term({}, canvas).item() == pytest.approx(expected.item(), rel=1e-6)


def test_the_objective_sums_the_weighted_terms_and_reports_each_by_name() -> None:
    features = {"a": _random(1, 2, 3, 3, seed=15)}
    image = torch.rand(1, 3, 3, 3)
    content = ContentTerm({"a": _random(1, 2, 3, 3, seed=16)}, weight=2.0)
    style = GramStyleTerm({"a": 1.0}, {"a": torch.eye(2)}, weight=10.0)
    tv = TVTerm(weight=0.5)
    values = evaluate_terms([content, style, tv], features, image)
    assert list(values.by_name) == ["content", "style", "tv"]
    expected = 2.0 * values.by_name["content"] + 10.0 * values.by_name["style"] + 0.5 * values.by_name["tv"]
    assert torch.equal(values.total, expected)
    assert values.content is values.by_name["content"] and values.style is values.by_name["style"]
    assert values.tv is values.by_name["tv"]
    floats = values.as_floats()
    assert list(floats) == ["content", "style", "tv", "total"] and floats["total"] == pytest.approx(float(expected))
    with pytest.raises(ValueError, match="two terms named 'tv'"):
        evaluate_terms([tv, TVTerm(weight=1.0)], features, image)


@dataclass(frozen=True)
class GreyTerm:
    """A term for the test only: L = mean over pixels of (x - mean_c x)^2, the image's colourfulness."""

    weight: float
    name: str = "grey"

    @classmethod
    def build(cls, context: TermContext) -> GreyTerm | None:
        weight = context.weights.weight("grey")
        return cls(weight) if weight else None

    def __call__(self, features: Mapping[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        return (image - image.mean(dim=1, keepdim=True)).pow(2).mean()


def test_a_new_term_is_one_class_plus_its_weight(tiny_network, monkeypatch) -> None:
    """Registered in TERMS, weighted by an option ``grey_weight``: built, summed and reported by name."""
    network, _, _ = tiny_network()
    monkeypatch.setattr(terms_module, "TERMS", (*terms_module.TERMS, GreyTerm.build))
    settings = {"content_layers": ["relu4_2"], "style_layers": ["relu1_1", "relu2_1", "relu3_1"],
                "style_layer_weights": None, "content_weight": 1.0, "style_weight": 10.0, "tv_weight": 0.0,
                "style_scale": 1.0, "grey_weight": 100.0}  # fmt: skip
    weights = TermWeights.from_settings(network, settings, blend=(1.0,))
    assert weights.others == {"grey": 100.0} and weights.weight("grey") == 100.0 and weights.weight("tv") == 0.0
    photo, painting = torch.rand(1, 3, 20, 20), torch.rand(1, 3, 20, 20)
    objective = Objective(network, weights, photo, [painting], (16, 16))
    assert [term.name for term in objective.terms] == ["content", "style", "grey"]  # no TV at weight 0
    image = torch.rand(1, 3, 16, 16)
    values = objective(image)
    grey = (image - image.mean(dim=1, keepdim=True)).pow(2).mean()
    assert values.by_name["grey"].item() == pytest.approx(grey.item(), rel=1e-6)
    assert values.total.item() == pytest.approx(
        (values.content + 10.0 * values.style + 100.0 * values.by_name["grey"]).item(), rel=1e-6
    )


def test_a_front_ends_own_term_and_the_extra_function(tiny_network) -> None:
    network, content, style = tiny_network()
    weights = TermWeights(tuple(content), {name: 1.0 / len(style) for name in style}, 1.0, 1.0)
    photo, painting = torch.rand(1, 3, 20, 20), torch.rand(1, 3, 20, 20)
    own = TVTerm(weight=2.0, name="smooth")
    objective = Objective(network, weights, photo, [painting], (16, 16), terms=[own], extra=lambda x: x.sum() * 0)
    assert [term.name for term in objective.terms] == ["content", "style", "smooth", "extra"]
    values = objective(torch.rand(1, 3, 16, 16))
    assert isinstance(values, LossValues) and set(values.by_name) == {"content", "style", "smooth", "extra"}


def test_history_and_png_metadata_report_each_term(tiny_weights, small_images, tmp_path) -> None:
    content, style = small_images
    options = {"weights": str(tiny_weights), "size": 32, "iterations": 3, "precision": "fp32", "device": "cpu"}
    result = stylize(content, style, tv_weight=1e-2, **options)
    assert all(set(record.terms) == {"content", "style", "tv"} for record in result.history)
    last = result.history[-1]
    assert last.terms["content"] == last.content_loss and last.terms["style"] == last.style_loss
    assert set(result.final_losses) == {"content", "style", "tv", "total"}
    assert result.history_as_dicts()[0]["terms"].keys() == {"content", "style", "tv"}
    saved = result.save(tmp_path / "out.png")
    losses = json.loads(read_png_metadata(saved)["painterly:final_losses"])
    assert losses["tv"] == pytest.approx(result.final_losses["tv"])
