"""The flicker measure: how much a stylised clip changes where the picture itself does not.

For each frame i after the first, the mean absolute difference between the stylised frame s_i and
the previous stylised frame warped onto it along the *input's* backward flow, over the pixels
where that flow is reliable (:func:`painterly.video.flow.reliable`), in 8-bit levels (0..255).
Motion is thus not counted as flicker, and occlusions are left out; what remains is what changes
without a cause in the input: strokes that are repainted from frame to frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from painterly.video.flow import warp


def frame_flicker(previous: torch.Tensor, current: torch.Tensor, backward: np.ndarray, mask: np.ndarray) -> float:
    """Mean |s_i - warp(s_i-1)| over the reliable pixels (and the channels), in levels 0..255;
    NaN when no pixel is reliable."""
    moved = warp(previous.float().cpu(), backward)
    difference = (current.float().cpu() - moved).abs().mean(dim=1)[0].numpy()
    weight = mask.astype(np.float64)
    if weight.sum() == 0:
        return float("nan")
    return float((difference * weight).sum() / weight.sum() * 255.0)


def clip_flicker(values: Sequence[float]) -> float:
    """The clip's flicker: the mean over its frames (those with reliable pixels)."""
    finite = [value for value in values if np.isfinite(value)]
    return float(np.mean(finite)) if finite else float("nan")
