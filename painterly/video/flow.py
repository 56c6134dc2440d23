"""Optical flow between frames, warping along it, and where it can be trusted.

Convention: ``flow(a, b)`` is defined on the pixels of ``a`` and points to where each one is in
``b``: a(y, x) ~ b(y + v, x + u) with (u, v) = flow[y, x]. So the *backward* flow of frame i,
``flow(frame_i, frame_i-1)``, tells every pixel of frame i where to fetch the previous frame,
and ``warp(previous, backward)`` is the previous frame moved onto frame i.

The reliability mask is Ruder, Dosovitskiy and Brox (2016), section 3.1. With w the forward flow
(frame i-1 to i), ŵ the backward flow (frame i to i-1) and w~(x) = w(x + ŵ(x)) the forward flow
fetched onto frame i, a pixel of frame i is unreliable (c = 0) where

- the two flows disagree (disocclusion): |w~ + ŵ|^2 > 0.01 (|w~|^2 + |ŵ|^2) + 0.5; a point that is
  seen in both frames goes there and back again, so w~ + ŵ ~ 0 up to an error that grows with the
  motion;
- it lies on a motion boundary: |∇û|^2 + |∇v̂|^2 > 0.01 |ŵ|^2 + 0.002, where flow estimates smear;

and, beyond the paper, where x + ŵ(x) falls outside the previous frame (nothing to fetch there).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from painterly.errors import PainterlyError
from painterly.extras import require

FlowMethod = Literal["dis", "farneback"]
FLOW_METHODS: tuple[str, ...] = ("dis", "farneback")

# The paper's thresholds (section 3.1).
DISOCCLUSION_RELATIVE = 0.01
DISOCCLUSION_ABSOLUTE = 0.5
BOUNDARY_RELATIVE = 0.01
BOUNDARY_ABSOLUTE = 0.002


def import_cv2() -> Any:
    """The ``cv2`` module (OpenCV), or a one-line error naming the video extra."""
    return require("video", "cv2")


def _grey(frame: np.ndarray) -> np.ndarray:
    cv2 = import_cv2()
    if frame.ndim == 2:
        return np.ascontiguousarray(frame, dtype=np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.uint8), cv2.COLOR_RGB2GRAY)


def optical_flow(first: np.ndarray, second: np.ndarray, method: str = "dis") -> np.ndarray:
    """Dense flow (H, W, 2) float32 from ``first`` to ``second`` (uint8 RGB or grey frames of one size).

    DIS (Kroeger et al. 2016, OpenCV's "medium" preset) is the default: fast and good on large
    motions; Farneback (2003) is the classic polynomial-expansion method.
    """
    cv2 = import_cv2()
    a, b = _grey(first), _grey(second)
    if a.shape != b.shape:
        raise ValueError(f"frames of different sizes: {a.shape} and {b.shape}")
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        flow = dis.calc(a, b, None)
    elif method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 3, 5, 1.2, 0)
    else:
        raise PainterlyError(f"unknown flow method {method!r}; use dis or farneback")
    return np.ascontiguousarray(flow, dtype=np.float32)


def _sampling_grid(flow: np.ndarray) -> torch.Tensor:
    """grid_sample's (1, H, W, 2) grid for fetching at x + u, y + v (align_corners=True convention)."""
    height, width = flow.shape[:2]
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                            indexing="ij")  # fmt: skip
    moved = torch.from_numpy(flow).float()
    gx = (xs + moved[..., 0]) * (2.0 / max(width - 1, 1)) - 1.0
    gy = (ys + moved[..., 1]) * (2.0 / max(height - 1, 1)) - 1.0
    return torch.stack([gx, gy], dim=-1).unsqueeze(0)


def warp(image: torch.Tensor, flow: np.ndarray) -> torch.Tensor:
    """``image`` (1, C, H, W) fetched along ``flow`` (H, W, 2): out(y, x) = image(y + v, x + u), bilinear;
    outside the frame the nearest border pixel is used (the mask says not to trust it)."""
    if tuple(image.shape[-2:]) != tuple(flow.shape[:2]):
        raise ValueError(f"image {tuple(image.shape[-2:])} and flow {tuple(flow.shape[:2])} differ in size")
    grid = _sampling_grid(flow).to(image.device)
    return F.grid_sample(image.float(), grid, mode="bilinear", padding_mode="border", align_corners=True)


def warp_flow(flow: np.ndarray, along: np.ndarray) -> np.ndarray:
    """``flow`` (defined on the other frame) fetched along ``along``: w~(x) = w(x + ŵ(x))."""
    moved = warp(torch.from_numpy(flow).permute(2, 0, 1).unsqueeze(0), along)
    return moved[0].permute(1, 2, 0).numpy()


def reliable(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """The mask c (H, W) float32 on frame i: 1 where the backward flow can be trusted, 0 at disocclusions,
    motion boundaries and pixels that come from outside the previous frame (see the module's doc)."""
    fetched = warp_flow(forward, backward)
    total = fetched + backward
    disoccluded = (total**2).sum(-1) > DISOCCLUSION_RELATIVE * ((fetched**2).sum(-1) + (backward**2).sum(-1)) + (
        DISOCCLUSION_ABSOLUTE
    )
    du_dy, du_dx = np.gradient(backward[..., 0])
    dv_dy, dv_dx = np.gradient(backward[..., 1])
    gradient = du_dx**2 + du_dy**2 + dv_dx**2 + dv_dy**2
    boundary = gradient > BOUNDARY_RELATIVE * (backward**2).sum(-1) + BOUNDARY_ABSOLUTE
    height, width = backward.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width]
    x, y = xs + backward[..., 0], ys + backward[..., 1]
    outside = (x < 0) | (x > width - 1) | (y < 0) | (y > height - 1)
    return (~(disoccluded | boundary | outside)).astype(np.float32)


def to_tensor(frame: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, H, W) float32 in 0..1."""
    return torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).unsqueeze(0).float().div(255.0)


def to_array(image: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) 0..1 -> (H, W, 3) uint8 RGB (rounded, as a saved frame)."""
    return image[0].detach().float().cpu().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
