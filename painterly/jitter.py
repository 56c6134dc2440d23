"""Jitter: the network sees the canvas shifted by a small random offset, a new one as the run goes.

Why: VGG pools by 2 four times, so a pixel's place in the 2, 4, 8 and 16 px cells of the pooling
grid decides how its gradient reaches it. With one fixed view the style loss's gradient carries
that grid (Odena, Dumoulin and Olah 2016, "Deconvolution and checkerboard artifacts": strided
layers put checkerboard patterns into gradients), and the optimiser paints it into flat skies
and water as a regular grid of dots of period 2-4 px. Shifting the view by a sub-stride offset
moves the pooling grid over the picture; a pattern tied to one grid position is not a
minimum of the loss seen from the others, so averaging over views removes it, while strokes,
which are not tied to the grid, stay (Mordvintsev et al. 2018, "Differentiable Image
Parameterizations": transformation robustness).

A view of the canvas x (1, C, H, W) at offset (dy, dx), |dy|, |dx| <= J (the ``reach``), is

    view(x)[i, j] = pad_J(x)[i + J + dy, j + J + dx]

with ``pad_J`` a reflection by J px on every side: the same size as the canvas, its content moved
by (-dy, -dx), the pixels pushed out on one side mirrored back in on the other. The content
target moves with it: the content term compares the view's activations with the photo's under
the same view (``F(view(x))`` against ``F(view(p))``), computed once per view when the objective
is built, so the content loss of every view asks for the photo at the same place. The Gram
matrices of the paintings do not depend on position and are not recomputed. Terms on pixels (total
variation, the video's temporal term) see the canvas itself, not the view.

The views are a fixed set: view 0 is the identity, and ``views - 1`` others are drawn without
repetition from the (2J + 1)^2 offsets by the run's seeded generator, so a run is reproducible.
The current view is a 0-dim index tensor on the network's device, changed in place
(:meth:`Jitter.advance`) and read by index (:meth:`Jitter.view`), so a compiled objective is
compiled once, not once per view.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: How many views a scale uses at most: their content targets are kept (one conv4_2 map each,
#: about 7 MB at 512 px in float32) and computed once per scale (a forward pass each).
MAX_VIEWS = 8


@dataclass(frozen=True)
class Jitter:
    """The views of one scale's canvas: ``offsets[k]`` = (dy, dx) of view k, view 0 = (0, 0).

    ``index`` is the current view (a 0-dim int64 tensor, changed in place); ``rows[k]`` and
    ``cols[k]`` are view k's indices into the canvas padded by ``reach``.
    """

    reach: int
    offsets: tuple[tuple[int, int], ...]
    index: torch.Tensor
    rows: torch.Tensor
    cols: torch.Tensor

    @classmethod
    def make(
        cls,
        reach: int,
        size: tuple[int, int],
        generator: torch.Generator,
        device: torch.device,
        views: int = MAX_VIEWS,
    ) -> Jitter:
        """Views of a canvas of ``size`` = (H, W) within ``reach`` px (at least 1), drawn from ``generator``."""
        if reach < 1:
            raise ValueError(f"a jitter needs a reach of at least 1 px (got {reach})")
        height, width = size
        if min(height, width) <= reach:  # reflection needs a side longer than the reach
            raise ValueError(f"a {width}x{height} canvas is too small for a jitter of {reach} px")
        side = 2 * reach + 1
        others = [(dy - reach, dx - reach) for dy in range(side) for dx in range(side) if (dy, dx) != (reach, reach)]
        order = torch.randperm(len(others), generator=generator).tolist()
        offsets = ((0, 0), *(others[i] for i in order[: max(0, views - 1)]))
        rows = torch.stack([torch.arange(height) + reach + dy for dy, _ in offsets])
        cols = torch.stack([torch.arange(width) + reach + dx for _, dx in offsets])
        index = torch.zeros((), dtype=torch.int64, device=device)
        return cls(reach, offsets, index, rows.to(device), cols.to(device))

    @property
    def count(self) -> int:
        return len(self.offsets)

    def view(self, image: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """``image`` (1, C, H, W) as view ``index`` (default: the current one) sees it."""
        index = self.index if index is None else index
        padded = F.pad(image, (self.reach,) * 4, mode="reflect")
        rows = self.rows.index_select(0, index.reshape(1)).reshape(-1)
        cols = self.cols.index_select(0, index.reshape(1)).reshape(-1)
        return padded.index_select(2, rows).index_select(3, cols)

    def advance(self, generator: torch.Generator) -> None:
        """Move to a view drawn at random (uniformly over all views, the identity included)."""
        self.index.fill_(int(torch.randint(self.count, (1,), generator=generator)))

    def reset(self) -> None:
        """Back to the identity view (the picture as it is, for scoring it)."""
        self.index.fill_(0)
