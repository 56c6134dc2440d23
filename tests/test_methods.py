"""The later methods (painterly.methods): each loss against its formula on tiny tensors, the
schedules, the options each refuses, each method end to end on the tiny network and on the real
one (skipped without ../shared)."""

from __future__ import annotations

import math

import pytest
import torch

from painterly import PainterlyError, stylize
from painterly.memory import RunShape, estimate_memory
from painterly.methods import METHODS, nnst, strotss
from painterly.methods.features import (
    cosine_distances,
    euclidean_distances,
    nearest_distances,
    nearest_neighbours,
    random_positions,
    sample_hypercolumns,
)
from painterly.models.vgg import VGG16
from painterly.options import validate
from tests.helpers import tiny_options

# float32 sums of a few dozen products of numbers below 10: rounding far below this.
TIGHT = 1e-5


def test_cosine_and_euclidean_distances_against_their_formulas() -> None:
    x = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([[0.0, 2.0], [3.0, 0.0], [-1.0, -1.0]])
    cosine = cosine_distances(x, y)
    expected = torch.tensor([[1.0, 0.0, 1 + 1 / math.sqrt(2)], [1 - 1 / math.sqrt(2), 1 - 1 / math.sqrt(2), 2.0]])
    assert torch.allclose(cosine, expected, atol=TIGHT)
    assert torch.allclose(euclidean_distances(x, y), torch.cdist(x, y), atol=TIGHT)
    # centred: each set's mean row is removed first
    centred = cosine_distances(x, y, center=True)
    assert torch.allclose(centred, cosine_distances(x - x.mean(0), y - y.mean(0)), atol=TIGHT)


def test_relaxed_emd_is_the_larger_of_the_two_nearest_neighbour_means() -> None:
    costs = torch.tensor([[0.0, 4.0, 2.0], [3.0, 1.0, 5.0]])
    # rows: min 0 and 1 -> mean 0.5; columns: min 0, 1, 2 -> mean 1.0
    assert strotss.relaxed_emd(costs).item() == pytest.approx(1.0)
    assert strotss.relaxed_emd(costs.T).item() == pytest.approx(1.0)
    assert strotss.relaxed_emd(torch.tensor([[0.0, 9.0], [9.0, 0.0]])).item() == 0.0


def test_moment_loss_against_its_formula() -> None:
    x = torch.tensor([[1.0, 2.0], [3.0, 0.0], [2.0, 4.0]])
    mean, covariance = torch.tensor([0.0, 1.0]), torch.eye(2)
    mu = x.mean(0)
    sigma = (x - mu).T @ (x - mu) / 3
    expected = (mu - mean).abs().mean() + (sigma - covariance).abs().mean()
    assert strotss.moment_loss(x, mean, covariance).item() == pytest.approx(expected.item(), abs=TIGHT)
    assert strotss.moment_loss(x, mu, sigma).item() == pytest.approx(0.0, abs=TIGHT)


def test_self_similarity_loss_against_its_formula_and_blind_to_feature_scale() -> None:
    generator = torch.Generator().manual_seed(0)
    x, photo = torch.rand(5, 4, generator=generator), torch.rand(5, 4, generator=generator)
    dx = 1 - torch.nn.functional.cosine_similarity(x[:, None], x[None], dim=2)
    dp = 1 - torch.nn.functional.cosine_similarity(photo[:, None], photo[None], dim=2)
    expected = (dx / dx.sum(0) - dp / dp.sum(0)).abs().sum() / 5
    assert strotss.self_similarity_loss(x, photo).item() == pytest.approx(expected.item(), abs=TIGHT)
    assert strotss.self_similarity_loss(3.0 * photo, photo).item() == pytest.approx(0.0, abs=TIGHT)


def test_palette_loss_is_zero_for_the_same_colours_and_grows_with_a_shift() -> None:
    colours = torch.tensor([[0.2, 0.4, 0.6], [0.9, 0.1, 0.1], [0.5, 0.5, 0.5]])
    # the Euclidean cost of identical rows is sqrt(1e-8), floored for a finite gradient
    assert strotss.palette_loss(colours, colours).item() == pytest.approx(0.0, abs=1e-3)
    shifted = strotss.palette_loss(colours + 0.2, colours).item()
    assert shifted > strotss.palette_loss(colours + 0.1, colours).item() > 0.05


def test_cosine_remd_has_the_value_and_gradient_of_the_whole_matrix() -> None:
    generator = torch.Generator().manual_seed(3)
    style = torch.randn(50, 6, generator=generator)
    for rows in (37, 80):  # each direction's mean the larger in turn
        picture = torch.randn(rows, 6, generator=generator, requires_grad=True)
        whole = strotss.relaxed_emd(cosine_distances(picture, style))
        (expected,) = torch.autograd.grad(whole, picture)
        found = strotss.cosine_remd(picture, style)
        (gradient,) = torch.autograd.grad(found, picture)
        assert found.item() == pytest.approx(whole.item(), abs=TIGHT)
        assert torch.allclose(gradient, expected, atol=TIGHT) and gradient.abs().max() > 1e-3


def test_nearest_neighbours_in_chunks_equal_the_whole_matrix() -> None:
    generator = torch.Generator().manual_seed(1)
    query, reference = torch.randn(37, 6, generator=generator), torch.randn(50, 6, generator=generator)
    whole = cosine_distances(query, reference, center=True).argmin(dim=1)
    assert torch.equal(nearest_neighbours(query, reference), whole)
    assert torch.equal(nearest_neighbours(query, reference, chunk_bytes=4 * 50 * 3), whole)  # 3 rows a chunk


def test_nearest_distances_have_the_value_and_gradient_of_the_whole_matrix_minimum() -> None:
    generator = torch.Generator().manual_seed(2)
    reference = torch.randn(50, 6, generator=generator)
    query = torch.randn(37, 6, generator=generator, requires_grad=True)
    whole = cosine_distances(reference, query, center=True).min(dim=0).values
    (expected,) = torch.autograd.grad(whole.square().sum(), query)
    found = nearest_distances(query, reference)
    (gradient,) = torch.autograd.grad(found.square().sum(), query)
    # float32 sums of 6 products of unit vectors' entries: rounding near 1e-7
    assert torch.allclose(found, whole, atol=TIGHT) and torch.allclose(gradient, expected, atol=TIGHT)
    # the query's centring is in the graph: without it the gradient differs
    detached = 1.0 - (
        torch.nn.functional.normalize(query - query.mean(0).detach(), dim=1)
        * torch.nn.functional.normalize(reference - reference.mean(0), dim=1)[nearest_neighbours(query, reference)]
    ).sum(1)
    (without,) = torch.autograd.grad(detached.square().sum(), query)
    assert not torch.allclose(without, expected, atol=1e-3)


def test_hypercolumns_read_each_layer_at_the_scaled_position() -> None:
    full = torch.arange(2 * 5 * 9, dtype=torch.float32).view(1, 2, 5, 9)
    half = torch.arange(3 * 9, dtype=torch.float32).view(1, 1, 3, 9)[..., :5]  # 3 x 5: a 2x coarser map
    positions = torch.tensor([[0.0, 0.0], [4.0, 8.0], [2.0, 3.0]])
    columns = sample_hypercolumns([full, half], positions, (5, 9))
    assert columns.shape == (3, 3)
    assert torch.equal(columns[:, :2], full[0, :, [0, 4, 2], [0, 8, 3]].T)
    # pixel (2, 3) of the 5 x 9 image is (1, 1.5) on the 3 x 5 map: between its columns 1 and 2
    assert columns[2, 2].item() == pytest.approx((half[0, 0, 1, 1] + half[0, 0, 1, 2]).item() / 2, abs=TIGHT)
    assert columns[1, 2].item() == half[0, 0, 2, 4].item()


def test_random_positions_are_distinct_and_on_the_grid() -> None:
    drawn = random_positions(20, 30, 50, torch.Generator().manual_seed(3), stride=3)
    assert len(drawn) == 50 and len({tuple(p) for p in drawn.tolist()}) == 50
    rows, columns = drawn[:, 0].long(), drawn[:, 1].long()
    assert len(set((rows % 3).tolist())) == 1 and len(set((columns % 3).tolist())) == 1
    assert len(random_positions(4, 4, 100, torch.Generator().manual_seed(3))) == 16


def test_nnst_hypercolumns_divide_each_layer_by_its_channels() -> None:
    features = {layer: torch.full((1, 4 * (i + 1), 8, 8), float(i + 1)) for i, layer in enumerate(nnst.LAYERS)}
    maps = nnst.dense_hypercolumns(features, (32, 28))
    assert maps.shape == (1, sum(4 * (i + 1) for i in range(10)), 8, 7)
    assert torch.allclose(maps[0, :4], torch.full((4, 8, 7), 1 / 4))
    assert torch.allclose(maps[0, -40:], torch.full((40, 8, 7), 10 / 40))


def test_colour_moments_are_matched_and_oklab_round_trips() -> None:
    generator = torch.Generator().manual_seed(2)
    source, target = torch.rand(1, 2, 16, 16, generator=generator), torch.rand(1, 2, 12, 12, generator=generator)
    target = target * torch.tensor([0.3, 1.0]).view(1, 2, 1, 1) + 0.1 * target.flip(1)
    matched = nnst.match_moments(source, target)
    for part in (0, 1):  # mean and covariance: the target's (its 1e-4 regulariser is the tolerance)
        got, want = nnst._moments(matched)[part], nnst._moments(target)[part]
        assert torch.allclose(got, want, atol=1e-3)
    image = torch.rand(1, 3, 8, 8, generator=generator) * 0.9 + 0.05
    assert torch.allclose(nnst.from_oklab(nnst.to_oklab(image)), image, atol=1e-4)


def test_the_ladder_of_scales_and_its_budget() -> None:
    phases = METHODS["strotss"].plan(384, 512, 500, None)
    assert [(p.scale.height, p.scale.width) for p in phases] == [(48, 64), (96, 128), (192, 256), (384, 512)]
    assert sum(p.scale.evaluations for p in phases) == 500
    assert [p.learning_rate for p in phases] == [2e-3, 2e-3, 2e-3, 1e-3]
    assert {p.optimizer for p in phases} == {"rmsprop"} and {p.pyramid for p in phases} == {5}
    nnst_phases = METHODS["nnst"].plan(384, 512, 500, None)
    assert len(nnst_phases) == 5 and (nnst_phases[-1].scale.height, nnst_phases[-1].scale.width) == (384, 512)
    assert [p.scale.evaluations for p in nnst_phases] == [100] * 5
    assert len(METHODS["nnst"].plan(384, 512, 10, 2)) == 3
    with pytest.raises(PainterlyError, match="--method nnst needs at least one evaluation for each of its 5 scales"):
        METHODS["nnst"].plan(384, 512, 4, None)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"method": "strotss", "style_weight": 10.0}, "--style-weight does not apply to --method strotss"),
        ({"method": "nnst", "optimizer": "lbfgs"}, "--optimizer does not apply to --method nnst"),
        ({"method": "nnst", "style_layers": ["conv1_1"]}, "--style-layers does not apply to --method nnst"),
        ({"method": "strotss", "content_preservation": 0.5}, "--content-preservation does not apply to --method"),
        ({"content_preservation": 0.5}, "--content-preservation does not apply to --method gatys"),
        ({"method": "strotss", "content_weight": 0.0}, "STROTSS without its content term"),
        ({"method": "picasso"}, "method"),
    ],
)
def test_options_that_do_not_apply_are_refused(given, message) -> None:
    with pytest.raises(PainterlyError, match=message):
        validate(given)


def test_method_options_that_apply_are_kept() -> None:
    settings = validate({"method": "nnst", "content_preservation": 0.5, "size": 256, "margin": 0})
    assert settings.network.method == "nnst" and settings.objective.content_preservation == 0.5
    assert settings.network.layers == list(nnst.LAYERS)
    assert validate({"method": "strotss", "content_weight": 2.0}).network.layers == list(strotss.LAYERS)


@pytest.mark.parametrize("method", ["strotss", "nnst"])
def test_each_method_end_to_end_on_the_tiny_network(tiny_weights, small_images, method) -> None:
    content, style = small_images
    seen = []
    result = stylize(content, style, method=method, callback=seen.append,
                     **tiny_options(tiny_weights, size=48, iterations=12))  # fmt: skip
    assert result.image.shape == (1, 3, 36, 48)
    assert len(seen) == 12 and len(result.history) == 12
    assert all(math.isfinite(record.total_loss) for record in result.history)
    assert result.settings["method"] == method and sum(s[2] for s in result.settings["scales"]) == 12
    assert set(result.final_losses) >= {"content", "style", "total"}
    assert not torch.equal(result.image, stylize(content, style, **tiny_options(tiny_weights, size=48)).image)


def test_nnst_reads_its_content_preservation(tiny_weights, small_images) -> None:
    """p = 1 matches the photo's features at every scale, p = 0 the picture's own: other targets."""
    content, style = small_images
    run = tiny_options(tiny_weights, size=64, iterations=12, scales=2)  # the second scale reads p
    kept = stylize(content, style, method="nnst", content_preservation=1.0, **run).image
    free = stylize(content, style, method="nnst", content_preservation=0.0, **run).image
    assert not torch.equal(kept, free)


def test_strotss_weighs_content_by_the_scale(tiny_weights, small_images) -> None:
    """(w L_content + L_style) / (w + 2), w = 16 x content_weight halved per scale: the total of the
    last evaluation is that of its two terms."""
    content, style = small_images
    result = stylize(content, style, method="strotss", **tiny_options(tiny_weights, size=48, iterations=6, scales=2))
    w = strotss.content_weight_at(1.0, 2)
    losses = result.final_losses
    expected = (w * losses["content"] + losses["style"]) / (w + 2)
    assert losses["total"] == pytest.approx(expected, rel=1e-5)


def test_a_method_takes_one_painting(tiny_weights, small_images) -> None:
    content, style = small_images
    with pytest.raises(PainterlyError, match="--method strotss takes one painting, not 2"):
        stylize(content, [style, style], method="strotss", **tiny_options(tiny_weights, size=48, iterations=8))


def test_memory_estimates_count_the_methods_own_tensors() -> None:
    shape = {"precision": "fp32", "optimizer": "adam", "pooling": "avg", "device_type": "cpu"}
    gatys = estimate_memory(RunShape(VGG16, list(nnst.LAYERS), **shape), 512, 512)
    neighbours = estimate_memory(RunShape(VGG16, list(nnst.LAYERS), method="nnst", **shape), 512, 512)
    transport = estimate_memory(RunShape(VGG16, list(strotss.LAYERS), method="strotss", **shape), 512, 512)
    assert gatys.method == 0 and neighbours.method > 0 and transport.method > 0
    # NNST at 1024 px: the painting's hypercolumns in four rotations (2688 numbers at 256 x 256
    # positions each: 2.8 GB) and more, yet within the 24 GB of the project's CPU
    large = estimate_memory(RunShape(VGG16, list(nnst.LAYERS), method="nnst", **shape), 1024, 1024)
    assert large.method > 4 * 2688 * 4 * 256 * 256 and large.total < 20 * 2**30


@pytest.mark.parametrize("method", ["strotss", "nnst"])
def test_each_method_on_the_real_network(shared_images, method) -> None:
    """On vgg16-hed at 96 px: the picture moves from the photo towards the painting's colours."""
    from painterly.image import load_image, resize

    photo = shared_images / "tubingen.jpg"
    painting = shared_images / "starry_night.jpg"
    result = stylize(photo, painting, method=method, size=96, iterations=30, model="vgg16-hed", device="cpu")
    assert all(math.isfinite(record.total_loss) for record in result.history)
    image = result.image
    seen_photo = resize(load_image(photo), tuple(image.shape[-2:]))
    seen_painting = load_image(painting)
    distance_to_painting = (image.mean(dim=(2, 3)) - seen_painting.mean(dim=(2, 3))).abs().sum()
    photo_to_painting = (seen_photo.mean(dim=(2, 3)) - seen_painting.mean(dim=(2, 3))).abs().sum()
    assert distance_to_painting < photo_to_painting
