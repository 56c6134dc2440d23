"""The refactored code paints the same pixels as the code it replaced, bit for bit.

`tests/data/behaviour_record.json` was written by the code before the architecture change
(commit 71a4382) with `PAINTERLY_RECORD=1 pytest tests/test_behaviour_record.py`: for each option
set below, a 64 px, 20-evaluation CPU fp32 run on the tiny test network, the SHA-256 of the
returned float32 pixels and the final losses. A change that alters the numbers on purpose (a
new default) rewrites the record the same way and says why in its commit.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from painterly import stylize

RECORD = Path(__file__).parent / "data" / "behaviour_record.json"


def _picture(width: int, height: int, kind: str) -> Image.Image:
    x = torch.linspace(0, 1, width).view(1, -1).expand(height, width)
    y = torch.linspace(0, 1, height).view(-1, 1).expand(height, width)
    if kind == "photo":
        channels = (x, y, 1 - x * y)
    elif kind == "stripes":
        channels = (
            (torch.sin(x * 40) > 0).float(),
            (torch.sin(y * 30) > 0).float() * 0.8,
            0.5 + 0.5 * torch.sin((x + y) * 20),
        )
    else:  # "dots"
        channels = (0.5 + 0.5 * torch.sin(x * 25) * torch.sin(y * 25), 0.3 + 0.2 * x, (torch.cos(y * 50) > 0.3).float())
    array = (torch.stack(channels, dim=-1) * 255).round().to(torch.uint8).numpy()
    return Image.fromarray(array, "RGB")


def _mask(width: int, height: int, left: bool) -> Image.Image:
    array = np.zeros((height, width), dtype=np.uint8)
    if left:
        array[:, : width // 2] = 255
    else:
        array[:, width // 2 :] = 255
    return Image.fromarray(array, "L")


def _cases(folder: Path) -> dict[str, tuple[list[Path], dict[str, Any]]]:
    photo, stripes, dots = folder / "photo.png", folder / "stripes.png", folder / "dots.png"
    _picture(80, 60, "photo").save(photo)
    _picture(50, 70, "stripes").save(stripes)
    _picture(64, 64, "dots").save(dots)
    left, right, keep = folder / "left.png", folder / "right.png", folder / "keep.png"
    _mask(80, 60, True).save(left)
    _mask(80, 60, False).save(right)
    keep_array = np.zeros((60, 80), dtype=np.uint8)
    keep_array[20:40, 30:50] = 255
    Image.fromarray(keep_array, "L").save(keep)
    return {
        "defaults": ([photo, stripes], {}),
        "noise-two-scales-tv": ([photo, stripes], {"init": "noise", "seed": 3, "scales": 2, "tv_weight": 0.5}),
        "adam-luminance-original-colors": (
            [photo, dots],
            {
                "optimizer": "adam",
                "learning_rate": 0.05,
                "style_scale": 0.8,
                "preserve_color": "luminance",
                "original_colors": True,
            },
        ),
        "masks-two-styles": (
            [photo, stripes, dots],
            {"style_masks": [str(left), str(right)], "content_mask": str(keep), "style_weights": [1.0, 2.0]},
        ),
        "blend-histogram-max-pooling-layers": (
            [photo, stripes, dots],
            {
                "style_weights": [0.3, 0.7],
                "preserve_color": "histogram",
                "color_transfer": "cholesky",
                "pooling": "max",
                "content_layers": ["conv3_1", "conv4_2"],
                "style_layer_weights": [0.4, 0.3, 0.2, 0.1],
                "style_layers": ["conv1_1", "conv2_1", "conv3_1", "conv4_1"],
                "content_weight": 2.0,
                "style_weight": 300.0,
            },
        ),
        "style-init-lr": ([photo, dots], {"init": "style", "learning_rate": 0.5, "scales": 2}),
    }


def _run(images: list[Path], options: dict[str, Any], weights: Path) -> dict[str, Any]:
    base = {"size": 64, "iterations": 20, "seed": 0, "precision": "fp32", "device": "cpu", "weights": str(weights),
            "bounds": "after", "padding": "zeros", "margin": 0}  # options added since, as the record ran  # fmt: skip
    styles = images[1] if len(images) == 2 else images[1:]
    result = stylize(images[0], styles, **{**base, **options})
    pixels = result.image.detach().to(torch.float32).contiguous().numpy().tobytes()
    return {
        "sha256": hashlib.sha256(pixels).hexdigest(),
        "shape": list(result.image.shape),
        "final_losses": result.final_losses,
    }


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    if os.environ.get("PAINTERLY_RECORD") == "1":
        return {}
    return json.loads(RECORD.read_text(encoding="utf-8"))


def test_same_pixels_as_the_recorded_code(tiny_weights: Path, tmp_path: Path, recorded: dict[str, Any]) -> None:
    measured = {name: _run(images, options, tiny_weights) for name, (images, options) in _cases(tmp_path).items()}
    if os.environ.get("PAINTERLY_RECORD") == "1":
        RECORD.write_text(json.dumps(measured, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        pytest.skip("record written")
    assert measured.keys() == recorded.keys()
    for name, values in measured.items():
        assert values == recorded[name], name
