"""Layer naming of both networks (painterly.models.vgg), the feature extractor's truncation and pooling,
and its stages grouped by block for recomputation (issue 12)."""

from __future__ import annotations

import pytest
import torch

from painterly.errors import PainterlyError
from painterly.models.vgg import VGG16, VGG19, VGGFeatures, architecture_from_state_dict


def random_state_dict(arch) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {key: torch.randn(shape, generator=generator) * 0.1 for key, shape in arch.parameter_shapes().items()}


def test_vgg19_names_in_order() -> None:
    names = VGG19.layer_names()
    assert names[:5] == ["relu1_1", "relu1_2", "pool1", "relu2_1", "relu2_2"]
    assert "relu3_4" in names and "relu5_4" in names and names[-1] == "pool5"
    assert len([n for n in names if n.startswith("relu")]) == 16


def test_vgg16_names_in_order() -> None:
    names = VGG16.layer_names()
    assert len([n for n in names if n.startswith("relu")]) == 13
    assert "relu3_3" in names and "relu3_4" not in names
    assert VGG16.conv_names()[3] == "conv2_2"  # the PyTorch tutorial's "conv_4"


def test_conv_name_means_the_rectified_output() -> None:
    assert VGG19.resolve_layer("conv4_2") == "relu4_2"
    assert VGG19.resolve_layer("relu4_2") == "relu4_2"
    assert VGG19.resolve_layer(" Conv1_1 ") == "relu1_1"
    assert VGG19.resolve_layer("pool3") == "pool3"


def test_unknown_layer_lists_valid_ones_and_closest_match() -> None:
    with pytest.raises(PainterlyError) as error:
        VGG16.resolve_layer("conv3_4")
    message = str(error.value)
    assert "Did you mean conv3_3?" in message and "conv1_1" in message and "\n" not in message


def test_parameter_shapes_of_vgg19() -> None:
    shapes = VGG19.parameter_shapes()
    assert shapes["conv1_1.weight"] == (64, 3, 3, 3)
    assert shapes["conv3_1.weight"] == (256, 128, 3, 3)
    assert shapes["conv5_4.bias"] == (512,)
    assert len(shapes) == 32


def test_architecture_is_inferred_from_weights() -> None:
    assert architecture_from_state_dict(random_state_dict(VGG16)) is VGG16
    assert architecture_from_state_dict(random_state_dict(VGG19)) is VGG19


def test_features_are_truncated_after_the_deepest_layer() -> None:
    encoder = VGGFeatures(VGG16, random_state_dict(VGG16), ["conv2_1", "conv1_1"])
    assert list(encoder.stages) == ["relu1_1", "relu1_2", "pool1", "relu2_1"]
    outputs = encoder(torch.rand(1, 3, 32, 32))
    assert set(outputs) == {"relu1_1", "relu2_1"}
    assert outputs["relu2_1"].shape == (1, 128, 16, 16)
    assert (outputs["relu1_1"] >= 0).all()
    assert not any(p.requires_grad for p in encoder.parameters())


def test_conv_weights_are_loaded_by_name() -> None:
    weights = random_state_dict(VGG16)
    encoder = VGGFeatures(VGG16, weights, ["conv1_1"])
    image = torch.rand(1, 3, 8, 8)
    convolved = torch.nn.functional.conv2d(image, weights["conv1_1.weight"], weights["conv1_1.bias"], padding=1)
    expected = torch.relu(convolved)
    assert torch.allclose(encoder(image)["relu1_1"], expected, atol=1e-6)


@pytest.mark.parametrize(("pooling", "kind"), [("avg", torch.nn.AvgPool2d), ("max", torch.nn.MaxPool2d)])
def test_pooling_choice(pooling: str, kind: type) -> None:
    encoder = VGGFeatures(VGG16, random_state_dict(VGG16), ["pool1"], pooling=pooling)
    assert isinstance(encoder.stages["pool1"], kind)


def test_wrong_shape_weights_are_refused() -> None:
    weights = random_state_dict(VGG16)
    weights["conv2_1.weight"] = torch.zeros(128, 32, 3, 3)
    with pytest.raises(PainterlyError, match=r"conv2_1\.weight has shape"):
        VGGFeatures(VGG16, weights, ["conv2_1"])


def test_stages_are_grouped_by_block_with_their_pooling() -> None:
    from painterly.models.vgg import group_by_block

    assert group_by_block(VGG16.layer_names()[:6]) == [["relu1_1", "relu1_2", "pool1"], ["relu2_1", "relu2_2", "pool2"]]
