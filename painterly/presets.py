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
        "jitter": 0,
        "average": 0.0,
        "init": "noise",
        "scales": 1,
        "precision": "fp32",
        "pooling": "avg",
        "padding": "zeros",
        "margin": 0,
        "tolerance": None,
    },
    # painterly 0.1's default path: L-BFGS on the pixels, its best iterate (the paper's optimiser at
    # painterly's balance, scales and margin). A regular grid of dots forms in flat skies and water
    # (docs/quality.md); kept to reproduce earlier pictures.
    "classic": {
        "optimizer": "lbfgs",
        "jitter": 0,
        "average": 0.0,
    },
    # Bolder brushwork: the painting's large strokes and swirls over the photo's flat areas, at a
    # hundred times the default style weight (alpha/beta = 1e-6). Measured in docs/quality.md: it
    # also replaced the regular ripple painterly 0.1's L-BFGS path painted in flat skies with strokes.
    # It keeps that path (measured so), so its pictures do not change with the default optimiser.
    "bold": {
        "style_weight": 1e6,
        "optimizer": "lbfgs",
        "average": 0.0,
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
    # The later methods (painterly.methods) with about their reference code's budget at 512 px:
    # 1000 evaluations, 250 for each of STROTSS's 4 scales, 200 for each of NNST's 4 and its final
    # pass (--method alone shares painterly's 500).
    "strotss": {"method": "strotss", "iterations": 1000},
    "nnst": {"method": "nnst", "iterations": 1000},
    # The same study's Adam runs: lr 0.01, about 1000 evaluations.
    "study-adam": {
        "content_weight": 0.1,
        "style_weight": 1e6,
        "optimizer": "adam",
        "learning_rate": 0.01,
        "average": 0.0,
        "iterations": 1000,
        "scales": 1,
        "precision": "fp32",
        "tolerance": None,
    },
}
