"""The content term (painterly.terms.content) against its formula on tiny tensors."""

from __future__ import annotations

import pytest
import torch

from painterly.terms import ContentTerm


def _random(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


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
