"""Several paintings: blend weights, blended Gram targets, per-position normalisation, style scale."""

from __future__ import annotations

import pytest
import torch

from painterly import PainterlyError, stylize
from painterly.image import load_image, resize
from painterly.losses import gram_matrix
from painterly.objective import Objective
from painterly.styles import gram_per_position, style_blend_weights, style_sources
from painterly.terms import ContentTerm, GramStyleTerm, TermWeights, evaluate_terms


def test_blend_weights_are_normalised_and_checked() -> None:
    assert style_blend_weights(None, 2, masked=False) == [0.5, 0.5]
    assert style_blend_weights([0.7, 0.3], 2, masked=False) == pytest.approx([0.7, 0.3])
    assert style_blend_weights([2, 6], 2, masked=False) == pytest.approx([0.25, 0.75])
    assert style_blend_weights(None, 3, masked=True) == [1.0, 1.0, 1.0]
    assert style_blend_weights([1, 3], 2, masked=True) == pytest.approx([0.5, 1.5])  # mean 1
    for bad, words in [([1.0], "1 style weight"), ([1.0, -0.5], "non-negative"), ([0, 0], "all 0"),
                       ([1.0, float("nan")], "finite")]:  # fmt: skip
        with pytest.raises(PainterlyError, match=words):
            style_blend_weights(bad, 2, masked=False)


def test_style_sources() -> None:
    assert style_sources("a.jpg") == ["a.jpg"]
    assert style_sources(("a.jpg", "b.jpg")) == ["a.jpg", "b.jpg"]
    with pytest.raises(PainterlyError, match="no style image"):
        style_sources([])


def test_gram_per_position_ignores_how_much_painting_there_is() -> None:
    torch.manual_seed(0)
    tile = torch.randn(1, 4, 5, 5)
    tiled = tile.repeat(1, 1, 2, 3)  # the same texture, six times as many positions
    assert torch.allclose(gram_per_position(tiled), gram_per_position(tile), atol=1e-5)
    assert torch.allclose(gram_matrix(tiled), 6 * gram_matrix(tile), rtol=1e-5)


def test_blended_targets_are_the_weighted_sum_scaled_to_the_output() -> None:
    grams = [{"l": torch.randn(3, 3)}, {"l": torch.randn(3, 3)}]
    photo_features = {"l": torch.zeros(1, 3, 4, 5)}  # 20 positions
    targets, regions = GramStyleTerm.targets_of(grams, [0.7, 0.3], photo_features, None, ["l"])
    assert regions == ()
    assert torch.allclose(targets["l"], 20 * (0.7 * grams[0]["l"] + 0.3 * grams[1]["l"]))


def test_multi_style_objective_equals_the_weighted_gram_blend(tiny_network, small_images) -> None:
    content, style = small_images
    network, content_names, style_names = tiny_network()
    photo = load_image(content)
    painting_a = load_image(style)
    painting_b = torch.flip(painting_a, dims=[1]).roll(7, dims=-1)[..., :30, :]  # other colours, other size
    weights = {name: 1 / 3 for name in style_names}
    terms = TermWeights(tuple(content_names), weights, content_weight=1.0, style_weight=1e3, blend=(0.7, 0.3))
    objective = Objective(network, terms, photo, [painting_a, painting_b], (36, 48))
    with torch.no_grad():
        photo_features = network(photo)
        a_grams = network(resize(painting_a, (48, 48)))  # the 40x40 painting at the output's long side
        b_grams = network(resize(painting_b, (36, 48)))  # 30x40 -> 36x48, aspect kept
        by_hand = [
            ContentTerm({name: photo_features[name] for name in content_names}, weight=1.0),
            GramStyleTerm(weights, {
                name: (0.7 * gram_per_position(a_grams[name]) + 0.3 * gram_per_position(b_grams[name]))
                * photo_features[name].shape[-1] * photo_features[name].shape[-2]
                for name in style_names
            }, weight=1e3),
        ]  # fmt: skip
        image = torch.rand(1, 3, 36, 48, generator=torch.Generator().manual_seed(3))
        got, want = objective(image), evaluate_terms(by_hand, network(image), image)
    assert got.style.item() == pytest.approx(want.style.item(), rel=1e-4)
    assert got.total.item() == pytest.approx(want.total.item(), rel=1e-4)


def test_one_style_listed_twice_is_the_single_style_run(tiny_weights, small_images) -> None:
    content, style = small_images
    options = {"weights": str(tiny_weights), "size": 32, "iterations": 5, "precision": "fp32", "device": "cpu"}
    single = stylize(content, style, **options)
    twice = stylize(content, [style, style], style_weights=[0.2, 0.8], **options)
    assert torch.allclose(single.image, twice.image, atol=1e-4)
    assert twice.settings["style_weights"] == [0.2, 0.8]


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_two_styles_with_every_optimizer_and_multi_scale(tiny_weights, small_images, tmp_path, optimizer) -> None:
    content, style = small_images
    other = tmp_path / "other.png"
    from PIL import Image

    Image.open(style).rotate(90).save(other)
    result = stylize(
        content, [style, other], style_weights=[0.7, 0.3], optimizer=optimizer, scales=2, size=144,
        iterations=6, weights=str(tiny_weights), weights_preprocessing="caffe", precision="fp32", device="cpu",
    )  # fmt: skip
    assert result.image.shape == (1, 3, 108, 144) and torch.isfinite(result.image).all()


def test_style_scale_sets_the_paintings_size(tiny_weights, small_images, monkeypatch) -> None:
    """The painting is rendered at style_scale x the output's long side, its aspect ratio kept."""
    import painterly.terms.style as api  # where the paintings are scaled

    content, style = small_images
    seen: list[tuple[int, int]] = []
    original = api.resize

    def spy(image, size):
        seen.append(tuple(size))
        return original(image, size)

    monkeypatch.setattr(api, "resize", spy)
    options = {"weights": str(tiny_weights), "size": 32, "iterations": 2, "precision": "fp32", "device": "cpu"}
    stylize(content, style, style_scale=2.0, **options)
    assert (64, 64) in seen  # the 40x40 painting at twice the output's 32 px long side
    seen.clear()
    stylize(content, style, style_scale=0.5, **options)
    assert (16, 16) in seen
