"""The jitter (painterly.jitter): shifted views of the canvas, and the objective that sees them."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from painterly.errors import PainterlyError
from painterly.jitter import MAX_VIEWS, Jitter
from painterly.objective import Objective
from painterly.options import validate
from painterly.terms import TermWeights


def _jitter(reach: int = 2, size: tuple[int, int] = (12, 10), seed: int = 0, views: int = MAX_VIEWS) -> Jitter:
    return Jitter.make(reach, size, torch.Generator().manual_seed(seed), torch.device("cpu"), views)


def test_view_zero_is_the_canvas_itself_and_view_k_its_reflected_shift() -> None:
    image = torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(1))
    jitter = _jitter()
    assert torch.equal(jitter.view(image, torch.tensor(0)), image)
    padded = F.pad(image, (2, 2, 2, 2), mode="reflect")
    for index, (dy, dx) in enumerate(jitter.offsets):
        expected = padded[..., 2 + dy : 2 + dy + 12, 2 + dx : 2 + dx + 10]
        assert torch.equal(jitter.view(image, torch.tensor(index)), expected)


def test_the_views_are_distinct_within_reach_and_drawn_from_the_seed() -> None:
    jitter = _jitter(reach=3)
    assert jitter.offsets[0] == (0, 0)
    assert len(jitter.offsets) == MAX_VIEWS == len(set(jitter.offsets))
    assert all(max(abs(dy), abs(dx)) <= 3 for dy, dx in jitter.offsets)
    assert _jitter(reach=3).offsets == jitter.offsets
    assert _jitter(reach=3, seed=1).offsets != jitter.offsets
    assert _jitter(reach=1, views=100).count == 9  # every offset of a 3 x 3 neighbourhood, once


def test_advance_and_reset_change_the_one_index_tensor_in_place() -> None:
    jitter = _jitter()
    index = jitter.index
    generator = torch.Generator().manual_seed(3)
    seen = set()
    for _ in range(50):
        jitter.advance(generator)
        seen.add(int(jitter.index))
    assert jitter.index is index
    assert seen == set(range(jitter.count))
    jitter.reset()
    assert int(index) == 0


def test_a_canvas_smaller_than_the_reach_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        _jitter(reach=4, size=(4, 20))


def test_each_view_compares_with_the_photo_in_the_same_view(tiny_network) -> None:
    """The photo as the picture has no content loss in any view; against view 0's target it would."""
    network, content, style = tiny_network()
    weights = TermWeights(tuple(content), {layer: 1 / 3 for layer in style}, 1.0, 1.0, tv_weight=1.0)
    photo = torch.rand(1, 3, 40, 32, generator=torch.Generator().manual_seed(4))
    painting = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(5))
    jitter = Jitter.make(3, (40, 32), torch.Generator().manual_seed(0), torch.device("cpu"))
    objective = Objective(network, weights, photo, [painting], (40, 32), jitter=jitter)
    plain = Objective(network, weights, photo, [painting], (40, 32))
    tv = float(plain(photo).by_name["tv"])
    moved = []
    for index in range(jitter.count):
        jitter.index.fill_(index)
        values = objective(photo)
        assert float(values.content) == 0.0
        assert float(values.by_name["tv"]) == tv  # terms on pixels see the canvas, not the view
        content_term = objective.term("content")
        target = content_term.targets[content[0]][0:1]  # view 0's
        moved.append(float(((network(jitter.view(photo))[content[0]] - target) ** 2).sum()))
    assert max(moved) > 0  # the views do move the network's input


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"jitter": -1}, "jitter must be an integer of at least 0 and at most 32; got -1"),
        ({"jitter": 33}, "jitter must be an integer of at least 0 and at most 32; got 33"),
        ({"jitter_every": 0}, "jitter-every must be an integer of at least 1; got 0"),
        ({"average": 1.0}, "average must be a finite number at least 0 and at most 0.9999; got 1.0"),
        ({"pyramid": 9, "optimizer": "adam"}, "pyramid must be an integer of at least 0 and at most 8; got 9"),
    ],
)
def test_the_lever_options_refuse_bad_values_in_one_line(values: dict, message: str) -> None:
    with pytest.raises(PainterlyError, match=re.escape(message)) as raised:
        validate(values)
    assert "\n" not in str(raised.value)


def test_jitter_option_is_checked() -> None:
    assert validate({"jitter": 4, "average": 0.95, "pyramid": 3, "optimizer": "adam"}).schedule.jitter == 4
    with pytest.raises(PainterlyError, match="--pyramid 3 needs --optimizer adam"):
        validate({"pyramid": 3, "optimizer": "lbfgs"})


def test_the_default_path_is_adam_with_its_average_and_classic_is_lbfgs_without() -> None:
    from painterly.presets import PRESETS

    default = validate({}).schedule
    assert (default.optimizer, default.decay, default.step) == ("adam", 0.95, 0.02)
    assert validate({"optimizer": "lbfgs"}).schedule.decay == 0.0
    assert validate({"optimizer": "lbfgs", "average": 0.5}).schedule.decay == 0.5
    assert validate({"average": 0}).schedule.decay == 0.0  # an explicit 0 is the best iterate, not the default
    for name in ("classic", "bold", "paper"):
        chosen = validate(PRESETS[name]).schedule
        assert (chosen.optimizer, chosen.decay) == ("lbfgs", 0.0), name
