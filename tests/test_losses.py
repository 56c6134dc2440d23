"""The paper's losses (painterly.losses) against hand computations on tiny tensors, and the
Wasserstein-2 style loss (``--style-loss w2``): exact values on small tensors, its targets (blended
paintings, masked regions) and a run end to end on the tiny network."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

import painterly.cli as cli
from painterly import PainterlyError, options, stylize
from painterly.image import read_png_metadata
from painterly.losses import (
    FeatureMoments,
    StyleRegion,
    W2Target,
    content_loss,
    feature_mean_covariance,
    gram_matrix,
    layer_style_loss,
    layer_w2_loss,
    region_w2_loss,
    trace_sqrtm_psd,
    wasserstein2_squared,
)
from painterly.terms import ContentTerm, GramStyleTerm, W2StyleTerm, evaluate_terms


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


def _features(filters: int, height: int, width: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.relu(torch.randn(1, filters, height, width, generator=generator) + 0.3)


def _target(mean: list[float], variances: list[float]) -> W2Target:
    """The Gaussian N(mean, diag(variances)) as a target, through its raw moments."""
    mu = torch.tensor(mean, dtype=torch.float64)
    second = torch.diag(torch.tensor(variances, dtype=torch.float64)) + torch.outer(mu, mu)
    return W2Target.from_moments(FeatureMoments(mean=mu, second=second))


def _sqrtm(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


# --- the distance --------------------------------------------------------------------------------
def test_identical_distributions_are_at_distance_zero() -> None:
    features = _features(6, 5, 7, seed=1)
    target = W2Target.from_moments(FeatureMoments.of(features))
    scale = float(feature_mean_covariance(features)[1].trace())
    assert abs(float(layer_w2_loss(features, target))) <= 1e-5 * scale


def test_diagonal_covariances_have_the_closed_form() -> None:
    """W2^2 = |mu - mu_t|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2 for commuting (diagonal) covariances."""
    target = _target([1.0, 1.0, 0.0], [4.0, 1.0, 16.0])
    mean, covariance = torch.tensor([0.0, 1.0, 2.0]), torch.diag(torch.tensor([1.0, 4.0, 9.0]))
    # (1 + 0 + 4) + ((1 - 2)^2 + (2 - 1)^2 + (3 - 4)^2) = 5 + 3
    assert float(wasserstein2_squared(mean, covariance, target)) == pytest.approx(8.0, abs=1e-5)


def test_one_filter_matches_the_gaussian_formula_of_the_samples() -> None:
    """N = 1: W2^2 = (m - m_t)^2 + (s - s_t)^2 with the samples' means and standard deviations."""
    iterate = torch.tensor([1.0, 2.0, 3.0, 6.0]).view(1, 1, 2, 2)  # mean 3, variance 3.5
    painting = torch.tensor([0.0, 4.0]).view(1, 1, 1, 2)  # mean 2, variance 4
    target = W2Target.from_moments(FeatureMoments.of(painting))
    expected = (3.0 - 2.0) ** 2 + (3.5**0.5 - 2.0) ** 2
    assert float(layer_w2_loss(iterate, target)) == pytest.approx(expected, rel=1e-5)


def test_full_covariances_match_a_float64_reference() -> None:
    features, painting = _features(5, 6, 6, seed=2), _features(5, 4, 9, seed=3)
    target = W2Target.from_moments(FeatureMoments.of(painting))
    moments = FeatureMoments.of(painting)
    c_t = moments.covariance()
    mean, covariance = feature_mean_covariance(features)
    c = covariance.double()
    root_t = _sqrtm(c_t)
    expected = (mean.double() - moments.mean).pow(2).sum() + c.trace() + c_t.trace()
    expected = expected - 2 * _sqrtm(root_t @ c @ root_t).trace()
    assert float(layer_w2_loss(features, target)) == pytest.approx(float(expected) / 5, rel=1e-4)


def test_the_loss_ignores_the_order_of_positions() -> None:
    features, painting = _features(4, 6, 5, seed=4), _features(4, 5, 5, seed=5)
    target = W2Target.from_moments(FeatureMoments.of(painting))
    order = torch.randperm(30, generator=torch.Generator().manual_seed(0))
    shuffled = features.reshape(1, 4, 30)[:, :, order].reshape(1, 4, 5, 6)
    assert torch.allclose(layer_w2_loss(shuffled, target), layer_w2_loss(features, target), rtol=1e-5)


@pytest.mark.parametrize("kind", ["constant", "fewer positions than filters"])
def test_the_gradient_is_finite_where_the_covariance_is_singular(kind: str) -> None:
    painting = _features(8, 6, 6, seed=6)
    target = W2Target.from_moments(FeatureMoments.of(painting))
    shape = (1, 8, 4, 4) if kind == "constant" else (1, 8, 1, 3)
    start = torch.full(shape, 0.7) if kind == "constant" else _features(8, 1, 3, seed=7)
    iterate = start.clone().requires_grad_()
    loss = layer_w2_loss(iterate, target)
    loss.backward()
    assert torch.isfinite(loss)
    assert iterate.grad is not None and torch.isfinite(iterate.grad).all()
    assert iterate.grad.abs().sum() > 0


def test_the_trace_of_the_square_root_and_its_gradient() -> None:
    """tr(A^{1/2}) and d tr(A^{1/2}) / dA = A^{-1/2} / 2 for a well-conditioned A."""
    generator = torch.Generator().manual_seed(8)
    factor = torch.randn(4, 4, generator=generator, dtype=torch.float64)
    matrix = (factor @ factor.T + torch.eye(4, dtype=torch.float64)).requires_grad_()
    value = trace_sqrtm_psd(matrix)
    value.backward()
    assert float(value.detach()) == pytest.approx(float(_sqrtm(matrix.detach()).trace()), rel=1e-10)
    inverse_root = torch.linalg.inv(_sqrtm(matrix.detach()))
    assert matrix.grad is not None and torch.allclose(matrix.grad, inverse_root / 2, atol=1e-8)


def test_a_gram_target_still_takes_the_papers_loss() -> None:
    features, painting = _features(4, 5, 5, seed=9), _features(4, 6, 6, seed=10)
    target = gram_matrix(painting)
    assert torch.equal(GramStyleTerm.layer_loss(features, target), layer_style_loss(features, target))


# --- targets: blends and regions ------------------------------------------------------------------
def test_blended_targets_are_the_statistics_of_the_pooled_samples() -> None:
    """Blend weights proportional to the positions: the moments of the concatenated features."""
    first, second = _features(5, 4, 5, seed=11), _features(5, 3, 4, seed=12)  # 20 and 12 positions
    pooled = torch.cat([first.reshape(1, 5, 1, 20), second.reshape(1, 5, 1, 12)], dim=3)
    statistics = [{"l": W2StyleTerm.statistic(first)}, {"l": W2StyleTerm.statistic(second)}]
    photo = {"l": torch.zeros(1, 5, 4, 4)}
    targets, regions = W2StyleTerm.targets_of(statistics, [20 / 32, 12 / 32], photo, None, ["l"])
    blended, expected = targets["l"], W2Target.from_moments(FeatureMoments.of(pooled))
    assert regions == () and isinstance(blended, W2Target)
    assert torch.allclose(blended.mean, expected.mean, atol=1e-6)
    assert torch.allclose(blended.covariance_trace, expected.covariance_trace, rtol=1e-6)
    covariance = blended.root_factor @ blended.root_factor.T
    assert torch.allclose(covariance, expected.root_factor @ expected.root_factor.T, atol=1e-5)
    iterate = _features(5, 4, 4, seed=13)
    assert torch.allclose(layer_w2_loss(iterate, blended), layer_w2_loss(iterate, expected), rtol=1e-5)


def test_a_region_of_ones_is_the_unmasked_loss() -> None:
    features, painting = _features(6, 5, 6, seed=14), _features(6, 6, 6, seed=15)
    target = W2Target.from_moments(FeatureMoments.of(painting))
    ones = torch.ones(1, 1, 5, 6)
    assert torch.allclose(region_w2_loss(features, ones, target), layer_w2_loss(features, target), rtol=1e-5)
    region = StyleRegion(masks={"l": ones}, targets={"l": target}, weight=1.0)
    masked = W2StyleTerm({"l": 1.0}, regions=(region,))
    plain = W2StyleTerm({"l": 1.0}, {"l": target})
    assert torch.allclose(masked({"l": features}, features), plain({"l": features}, features), rtol=1e-5)


def test_a_half_mask_weighs_the_region_by_its_share() -> None:
    """E^r = a_r / M * W2^2(statistics inside the mask) / N, as region_style_loss weighs the Gram loss."""
    features, painting = _features(6, 4, 8, seed=16), _features(6, 6, 6, seed=17)
    target = W2Target.from_moments(FeatureMoments.of(painting))
    left = torch.zeros(1, 1, 4, 8)
    left[..., :4] = 1.0
    inside = features[..., :4].contiguous()
    expected = 0.5 * layer_w2_loss(inside, target)
    assert torch.allclose(region_w2_loss(features, left, target), expected, rtol=1e-5)


def test_region_targets_are_each_paintings_gaussian() -> None:
    painting = _features(4, 5, 5, seed=18)
    photo = {"l": torch.zeros(1, 4, 4, 4)}
    mask = torch.ones(1, 1, 16, 16)
    _, regions = W2StyleTerm.targets_of([{"l": W2StyleTerm.statistic(painting)}], [1.0], photo, [mask], ["l"])
    (region,) = regions
    target = region.targets["l"]
    assert isinstance(target, W2Target)
    assert torch.allclose(target.mean, feature_mean_covariance(painting)[0], atol=1e-6)


# --- the option, the CLI and a run --------------------------------------------------------------------
def test_gram_stays_the_default_and_other_words_are_refused() -> None:
    assert options.validate({}).objective.style_loss == "gram"
    assert options.validate({"style_loss": "w2"}).objective.style_loss == "w2"
    with pytest.raises(PainterlyError, match="unknown style-loss 'foo'; use gram or w2"):
        options.validate({"style_loss": "foo"})


def _tiny_run(weights: Path, images: tuple[Path, Path], **extra: object) -> list[float]:
    content, style = images
    result = stylize(content, style, weights=str(weights), size=32, iterations=12, scales=1, precision="fp32",
                     device="cpu", style_loss="w2", style_weight=1e6, optimizer="lbfgs", **extra)  # fmt: skip
    assert result.settings["style_loss"] == "w2"
    return [record.style_loss for record in result.history]


def test_a_tiny_run_lowers_the_w2_style_loss(tiny_weights: Path, small_images: tuple[Path, Path]) -> None:
    style_losses = _tiny_run(tiny_weights, small_images)
    assert all(math.isfinite(loss) for loss in style_losses)
    assert min(style_losses) < 0.5 * style_losses[0]


def test_a_tiny_masked_run_with_two_paintings(
    tiny_weights: Path, small_images: tuple[Path, Path], tmp_path: Path
) -> None:
    from PIL import Image

    content, style = small_images
    left, right = Image.new("L", (48, 36), 0), Image.new("L", (48, 36), 0)
    left.paste(255, (0, 0, 24, 36))
    right.paste(255, (24, 0, 48, 36))
    left.save(tmp_path / "left.png")
    right.save(tmp_path / "right.png")
    result = stylize(content, [style, content], weights=str(tiny_weights), size=32, iterations=8, scales=1,
                     precision="fp32", device="cpu", style_loss="w2", style_weight=1e6,
                     style_masks=[str(tmp_path / "left.png"), str(tmp_path / "right.png")])  # fmt: skip
    losses = [record.style_loss for record in result.history]
    assert all(math.isfinite(loss) for loss in losses) and min(losses) < losses[0]


def test_the_command_line_takes_w2(tiny_weights: Path, small_images: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    content, style = small_images
    output = tmp_path / "out.png"
    arguments = [str(content), str(style), "-o", str(output), "--weights", str(tiny_weights), "--size", "32",
                 "--iterations", "4", "--precision", "fp32", "--quiet", "--style-loss", "w2"]  # fmt: skip
    assert cli.main(arguments) == 0, capsys.readouterr().err
    assert json.loads(read_png_metadata(output)["painterly:settings"])["style_loss"] == "w2"


def test_the_command_line_refuses_an_unknown_style_loss(
    small_images: tuple[Path, Path], tmp_path: Path, capsys
) -> None:
    content, style = small_images
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(content), str(style), "-o", str(tmp_path / "o.png"), "--style-loss", "foo"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and "--style-loss" in errors[0] and "'foo'" in errors[0], err
    assert "Traceback" not in err and not (tmp_path / "o.png").exists()
