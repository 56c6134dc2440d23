"""The total-variation term (painterly.terms.tv) by hand."""

from __future__ import annotations

import pytest
import torch

from painterly.terms import TVTerm


def test_the_tv_term_by_hand() -> None:
    image = torch.zeros(1, 3, 2, 3)
    image[0, 0] = torch.tensor([[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]])
    # vertical: (2-0)^2 + (2-1)^2 + (2-3)^2 = 6; horizontal: 1 + 4 + 0 + 0 = 5
    assert TVTerm(weight=1e-3)({}, image).item() == pytest.approx(11.0)
