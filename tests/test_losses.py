"""The paper's losses against hand computations on tiny tensors."""

import pytest
import torch

from painterly.losses import StyleObjective, content_loss, gram_matrix, layer_style_loss


def test_gram_matrix_is_f_f_transpose_by_hand() -> None:
    # Two filters over three positions: F = [[1, 2, 3], [0, 1, -1]].
    features = torch.tensor([[[[1.0, 2.0, 3.0]], [[0.0, 1.0, -1.0]]]])  # (1, 2, 1, 3)
    expected = torch.tensor([[1 + 4 + 9, 0 + 2 - 3], [0 + 2 - 3, 0 + 1 + 1]], dtype=torch.float32)
    assert torch.equal(gram_matrix(features), expected)


def test_layer_style_loss_matches_formula_by_hand() -> None:
    features = torch.tensor([[[[1.0, 2.0, 3.0]], [[0.0, 1.0, -1.0]]]])  # N = 2, M = 3
    target = torch.tensor([[10.0, 0.0], [0.0, 1.0]])
    # G = [[14, -1], [-1, 2]]; (G - A)^2 = 16 + 1 + 1 + 1 = 19; E = 19 / (4 * 2^2 * 3^2) = 19 / 144
    assert layer_style_loss(features, target).item() == pytest.approx(19 / 144)


def test_layer_style_loss_is_zero_at_target() -> None:
    features = torch.randn(1, 4, 5, 6)
    assert layer_style_loss(features, gram_matrix(features)).item() == pytest.approx(0.0, abs=1e-9)


def test_content_loss_is_half_sum_of_squares() -> None:
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    target = torch.tensor([[[[0.0, 2.0]], [[1.0, 1.0]]]])
    # differences 1, 0, 2, 3 -> squares 1 + 0 + 4 + 9 = 14 -> 7
    assert content_loss(features, target).item() == pytest.approx(7.0)


def test_losses_accumulate_in_float32_from_bf16_features() -> None:
    features = torch.randn(1, 3, 4, 4)
    assert gram_matrix(features.bfloat16()).dtype == torch.float32
    assert content_loss(features.bfloat16(), features).dtype == torch.float32


def test_objective_combines_alpha_beta_and_layer_weights() -> None:
    torch.manual_seed(0)
    a = torch.randn(1, 2, 3, 3)
    b = torch.randn(1, 4, 2, 2)
    photo = torch.randn(1, 2, 3, 3)
    painting_a = torch.randn(1, 2, 3, 3)
    painting_b = torch.randn(1, 4, 2, 2)
    objective = StyleObjective(
        content_targets={"relu1_1": photo},
        style_targets={"relu1_1": gram_matrix(painting_a), "relu2_1": gram_matrix(painting_b)},
        style_layer_weights={"relu1_1": 0.25, "relu2_1": 0.75},
        content_weight=0.1,
        style_weight=1e3,
    )
    terms = objective({"relu1_1": a, "relu2_1": b})
    style = 0.25 * layer_style_loss(a, gram_matrix(painting_a)) + 0.75 * layer_style_loss(b, gram_matrix(painting_b))
    assert terms.content.item() == pytest.approx(content_loss(a, photo).item())
    assert terms.style.item() == pytest.approx(style.item())
    assert terms.total.item() == pytest.approx(0.1 * terms.content.item() + 1e3 * terms.style.item(), rel=1e-6)
