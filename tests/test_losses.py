"""The paper's losses against hand computations on tiny tensors."""

import pytest
import torch

from painterly.losses import content_loss, gram_matrix, layer_style_loss
from painterly.terms import ContentTerm, GramStyleTerm, evaluate_terms


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


@pytest.mark.parametrize("channels_last", [False, True])
def test_the_gram_matrix_of_bf16_activations_is_exact_and_its_gradient_is_bf16(channels_last: bool) -> None:
    """bf16 entries multiply exactly and sum in float32; the gradient's product runs in bf16.

    "Exact" is the bound float32 summation really has. A bf16 entry has an 8-bit significand, so a
    product of two has at most 16 bits and is exact in float32 (24 bits). Each G_ij is then a sum of n
    = H*W = 768 exact products in float32, in whatever order (blocking, FMA chains, threads) the CPU's
    kernel takes (MKL's bf16 GEMM here: 1.1e-6 relative on AMX, 2.2e-7 with
    MKL_ENABLE_INSTRUCTIONS=AVX2; 1e-6 was once the test's bound). For any order, |G^_ij - G_ij| <=
    gamma_{n-1} * sum_k |f_ik f_jk| with gamma_m = m u / (1 - m u) and u = 2^-24 (Higham, Accuracy and
    Stability of Numerical Algorithms, 2nd ed., sec. 4.2): gamma_767 = 4.6e-5. That still tells G apart
    from the cheaper ways of forming it: G rounded to bf16 is 71x beyond the bound here, bf16-rounded
    products summed in float32 6.6x.
    """
    generator = torch.Generator().manual_seed(5)
    features = torch.rand(1, 16, 24, 32, generator=generator).bfloat16()
    if channels_last:
        features = features.contiguous(memory_format=torch.channels_last)
    features.requires_grad_(True)
    matrix = features.detach().double().reshape(16, -1)
    exact = matrix @ matrix.T  # float64: its rounding (< 767 * 2^-53 = 9e-14 relative) is negligible here
    magnitudes = matrix.abs() @ matrix.abs().T
    terms, unit = matrix.shape[1], 2.0**-24
    gamma = (terms - 1) * unit / (1 - (terms - 1) * unit)
    gram = gram_matrix(features)
    assert gram.dtype == torch.float32
    assert ((gram.double() - exact).abs() / magnitudes).max().item() <= gamma
    weights = torch.randn(16, 16, generator=generator, dtype=torch.float64)
    (gram * weights.float()).sum().backward()
    assert features.grad is not None and features.grad.dtype == torch.bfloat16
    assert features.grad.is_contiguous(memory_format=torch.channels_last) is channels_last
    expected = ((weights + weights.T) @ matrix).reshape(features.shape)
    error = ((features.grad.double() - expected).norm() / expected.norm()).item()
    assert 0 < error < 2.0**-8  # dG and the product rounded to bf16: half an ulp each (2^-9) at most


def test_objective_combines_alpha_beta_and_layer_weights() -> None:
    torch.manual_seed(0)
    a = torch.randn(1, 2, 3, 3)
    b = torch.randn(1, 4, 2, 2)
    photo = torch.randn(1, 2, 3, 3)
    painting_a = torch.randn(1, 2, 3, 3)
    painting_b = torch.randn(1, 4, 2, 2)
    objective = [
        ContentTerm({"relu1_1": photo}, weight=0.1),
        GramStyleTerm(
            {"relu1_1": 0.25, "relu2_1": 0.75},
            {"relu1_1": gram_matrix(painting_a), "relu2_1": gram_matrix(painting_b)},
            weight=1e3,
        ),
    ]
    terms = evaluate_terms(objective, {"relu1_1": a, "relu2_1": b}, torch.zeros(1, 3, 6, 6))
    style = 0.25 * layer_style_loss(a, gram_matrix(painting_a)) + 0.75 * layer_style_loss(b, gram_matrix(painting_b))
    assert terms.content.item() == pytest.approx(content_loss(a, photo).item())
    assert terms.style.item() == pytest.approx(style.item())
    assert terms.total.item() == pytest.approx(0.1 * terms.content.item() + 1e3 * terms.style.item(), rel=1e-6)


def test_total_variation_by_hand() -> None:
    from painterly.losses import total_variation

    image = torch.zeros(1, 3, 2, 3)
    image[0, 0] = torch.tensor([[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]])
    # vertical: (2-0)^2 + (2-1)^2 + (2-3)^2 = 6; horizontal: 1 + 4 + 0 + 0 = 5; channels 1, 2 are flat
    assert total_variation(image).item() == pytest.approx(11.0)
    assert total_variation(torch.full((1, 3, 4, 4), 0.3)).item() == 0.0


def test_masked_gram_by_hand_and_with_a_full_mask() -> None:
    from painterly.losses import masked_gram_matrix, region_style_loss

    features = torch.tensor([[[[1.0, 2.0, 3.0]], [[0.0, 1.0, -1.0]]]])  # N = 2, M = 3
    mask = torch.tensor([[[[1.0, 0.0, 1.0]]]])
    # positions 0 and 2: f0 f0^T + f2 f2^T = [[1 + 9, 0 - 3], [0 - 3, 0 + 1]], divided by the area 2
    expected = torch.tensor([[10.0, -3.0], [-3.0, 1.0]]) / 2
    assert torch.allclose(masked_gram_matrix(features, mask), expected)
    ones = torch.ones(1, 1, 1, 3)
    assert torch.allclose(masked_gram_matrix(features, ones), gram_matrix(features) / 3)
    target = torch.tensor([[10.0, 0.0], [0.0, 1.0]])
    # with a mask of ones the region loss is the paper's E_l against the target scaled to M positions
    assert region_style_loss(features, ones, target / 3).item() == pytest.approx(
        layer_style_loss(features, target).item(), rel=1e-6
    )
    # half the area: share 2/3 times 1/(4 N^2) times the squared difference per position
    difference = expected - target / 3
    by_hand = (2 / 3) * difference.pow(2).sum().item() / 16
    assert region_style_loss(features, mask, target / 3).item() == pytest.approx(by_hand, rel=1e-6)


def test_objective_adds_region_terms_with_layer_and_region_weights() -> None:
    from painterly.losses import StyleRegion, region_style_loss

    torch.manual_seed(1)
    a, b = torch.randn(1, 2, 3, 3), torch.randn(1, 4, 2, 2)
    mask_a, mask_b = torch.rand(1, 1, 3, 3), torch.rand(1, 1, 2, 2)
    target_a, target_b = torch.randn(2, 2), torch.randn(4, 4)
    region = StyleRegion(masks={"l1": mask_a, "l2": mask_b}, targets={"l1": target_a, "l2": target_b}, weight=2.0)
    objective = [
        ContentTerm({}, weight=1.0),
        GramStyleTerm({"l1": 0.25, "l2": 0.75}, regions=(region,), weight=10.0),
    ]
    terms = evaluate_terms(objective, {"l1": a, "l2": b}, torch.zeros(1, 3, 6, 6))
    expected = 2.0 * (0.25 * region_style_loss(a, mask_a, target_a) + 0.75 * region_style_loss(b, mask_b, target_b))
    assert terms.style.item() == pytest.approx(expected.item(), rel=1e-6)
    assert terms.total.item() == pytest.approx(10.0 * expected.item(), rel=1e-6)


@pytest.mark.parametrize("channels_last", [False, True])
def test_the_gram_matrix_and_its_gradient_are_those_of_f_times_f_transposed(channels_last: bool) -> None:
    generator = torch.Generator().manual_seed(3)
    features = torch.randn(1, 6, 5, 7, generator=generator)
    if channels_last:
        features = features.contiguous(memory_format=torch.channels_last)
    features.requires_grad_(True)
    weights = torch.randn(6, 6, generator=generator)  # not symmetric: both halves of dG count
    gram = gram_matrix(features)
    (gram * weights).sum().backward()
    reference = features.detach().clone().requires_grad_(True)
    matrix = reference.reshape(6, -1)
    expected = matrix @ matrix.T
    (expected * weights).sum().backward()
    assert torch.allclose(gram, expected, rtol=1e-5, atol=1e-5)
    assert features.grad is not None and reference.grad is not None
    assert torch.allclose(features.grad, reference.grad, rtol=1e-5, atol=1e-5)
    # the gradient comes back in the activations' own layout (a mismatch made every evaluation slower)
    assert features.grad.is_contiguous(memory_format=torch.channels_last) is channels_last
