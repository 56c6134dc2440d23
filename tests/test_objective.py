"""The objective (painterly.objective): the weighted sum of its terms reported by name (history, PNG
metadata), a new term added as one class, and a front end's own term beside the extra function."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass

import pytest
import torch

import painterly.terms as terms_module
from painterly import options, stylize
from painterly.image import read_png_metadata
from painterly.objective import Objective
from painterly.settings import ObjectiveSettings
from painterly.terms import (
    ContentTerm,
    GramStyleTerm,
    LossValues,
    TermContext,
    TermWeights,
    TVTerm,
    evaluate_terms,
)


def _random(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


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
    """Registered in TERMS, weighted by an option ``grey_weight`` (a field of the objective's
    settings, as a new option would add): built, summed and reported by name."""
    network, _, _ = tiny_network()
    monkeypatch.setattr(terms_module, "TERMS", (*terms_module.TERMS, GreyTerm.build))

    @dataclasses.dataclass(frozen=True)
    class WithGrey(ObjectiveSettings):
        grey_weight: float = 0.0

    base = options.validate({"content_layers": ["relu4_2"], "style_layers": ["relu1_1", "relu2_1", "relu3_1"],
                             "style_weight": 10.0})  # fmt: skip
    objective_settings = WithGrey(**dataclasses.asdict(base.objective), grey_weight=100.0)
    settings = dataclasses.replace(base, objective=objective_settings)
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
