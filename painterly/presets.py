"""Named sets of options: `stylize(c, s, **PRESETS["paper"])` or `painterly ... --preset paper`.

Explicit options win over the preset's values.
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    # Gatys et al. as published: alpha/beta = 1e-3, L-BFGS from white noise, one scale, fp32.
    "paper": {
        "content_weight": 1.0,
        "style_weight": 1e3,
        "optimizer": "lbfgs",
        "learning_rate": 1.0,
        "init": "noise",
        "scales": 1,
        "precision": "fp32",
        "pooling": "avg",
        "padding": "zeros",
        "margin": 0,
        "tolerance": None,
    },
    # Bolder brushwork: the painting's large strokes and swirls over the photo's flat areas, at a
    # hundred times the default style weight (alpha/beta = 1e-6). Measured in docs/quality.md: it
    # also replaces the regular ripple the default paints in flat skies with strokes.
    "bold": {
        "style_weight": 1e6,
    },
    # The reference study this product grew from: alpha 0.1, beta 1e6, L-BFGS at lr 0.8.
    "study": {
        "content_weight": 0.1,
        "style_weight": 1e6,
        "optimizer": "lbfgs",
        "learning_rate": 0.8,
        "scales": 1,
        "precision": "fp32",
        "tolerance": None,
    },
    # The same study's Adam runs: lr 0.01, about 1000 evaluations.
    "study-adam": {
        "content_weight": 0.1,
        "style_weight": 1e6,
        "optimizer": "adam",
        "learning_rate": 0.01,
        "iterations": 1000,
        "scales": 1,
        "precision": "fp32",
        "tolerance": None,
    },
}
