"""The methods painterly paints with: the paper's, and two later ones on the same engine.

``--method`` chooses the objective *and* its optimisation path, since each method was designed
and published with its own:

- ``gatys`` (the default): Gatys, Ecker and Bethge's Gram-matrix style loss and feature content
  loss (:mod:`painterly.terms`), on painterly's path (:mod:`painterly.optimize`, the ``optimizer``,
  ``scales`` and lever options);
- ``strotss`` (:mod:`painterly.methods.strotss`): relaxed optimal transport between hypercolumns
  for style, self-similarity for content; RMSprop on a Laplacian pyramid, long sides 64 px, 128 px,
  ... up to ``size``;
- ``nnst`` (:mod:`painterly.methods.nnst`): each position's features replaced by the painting's
  nearest, the picture optimised towards them with Adam on a Laplacian pyramid over the same
  ladder of sizes, then a final pass at full size and the reference's colour step.

A :class:`Method` is its schedule (the scales and each scale's optimiser, step and pyramid), how
each scale starts, the terms it builds at each scale (with the scale's :class:`~painterly.terms.Stage`:
which scale, the image it starts from, the photo) and how the result is finished. The loop is
painterly's (:func:`painterly.api.run_scales`): every evaluation is counted against
``iterations``, reported to the progress and ETA, recorded in the history; the result is the last
iterate, scored once more. Options that belong to the paper's objective or path are refused with
another method (:func:`painterly.options.validate`), and the methods' own defaults are in
:data:`METHODS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from painterly.errors import PainterlyError
from painterly.image import resize
from painterly.methods import nnst, strotss
from painterly.schedule import Scale
from painterly.terms.base import Term, TermContext

#: The coarsest scale's long side of both later methods (their reference code starts there).
COARSEST = 64


def _photo(photo: torch.Tensor, painting: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return resize(photo, size)


def _upsampled(previous: torch.Tensor, photo: torch.Tensor, size: tuple[int, int], last: bool) -> torch.Tensor:
    return torch.nn.functional.interpolate(previous, size=size, mode="bilinear").clamp(0, 1)


def _unchanged(photo: torch.Tensor, painting: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return image


@dataclass(frozen=True)
class Phase:
    """One optimisation of a method's schedule: its size and budget, optimiser, step and pyramid."""

    scale: Scale
    optimizer: str  # "adam" or "rmsprop"
    learning_rate: float
    pyramid: int  # levels of the Laplacian pyramid the optimiser steps on


@dataclass(frozen=True)
class Method:
    """A method other than the paper's: its layers, schedule, starts, terms and finish."""

    name: str
    layers: tuple[str, ...]
    optimizer: str
    learning_rate: float
    last_learning_rate: float  # the step at the last phase
    pyramid: int
    final_pass: bool  # one more phase at full size after the ladder of scales
    build_terms: Callable[[TermContext], list[Term]]
    first_image: Callable[[torch.Tensor, torch.Tensor, tuple[int, int]], torch.Tensor]  # photo, painting, size
    #: previous, photo, size, whether the phase is the last
    next_image: Callable[[torch.Tensor, torch.Tensor, tuple[int, int], bool], torch.Tensor]
    #: The result of the last phase as handed out (NNST's colour step): photo, painting, image.
    finish: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] = _unchanged

    def phase_count(self, long_side: int, scales: int | None) -> int:
        """How many optimisations the schedule has: ``scales`` (default: one per doubling from
        ``COARSEST``), plus the final pass where the method has one."""
        count = scales if scales is not None else 1 + max(0, math.floor(math.log2(long_side / COARSEST)))
        return count + (1 if self.final_pass else 0)

    def plan(self, height: int, width: int, iterations: int, scales: int | None) -> list[Phase]:
        """The ladder of sizes, coarse to fine (long sides ``COARSEST`` x 2^k, the last the picture's
        own), each with an equal share of ``iterations`` (the remainder to the first), plus the
        final pass where the method has one."""
        phases = self.phase_count(max(height, width), scales)
        count = phases - (1 if self.final_pass else 0)
        if phases > iterations:
            raise PainterlyError(
                f"--method {self.name} needs at least one evaluation for each of its {phases} scales; "
                f"use --iterations {phases} or more"
            )
        budgets = [iterations // phases] * phases
        budgets[0] += iterations - sum(budgets)
        shown = []
        for index in range(count):
            ratio = 2.0 ** (index - count + 1)
            h, w = max(1, round(height * ratio)), max(1, round(width * ratio))
            shown.append((h, w) if index < count - 1 else (height, width))
        if self.final_pass:
            shown.append((height, width))
        last = len(shown) - 1
        return [
            Phase(
                Scale(h, w, budget),
                self.optimizer,
                self.last_learning_rate if index == last and last > 0 else self.learning_rate,
                self.pyramid,
            )
            for index, ((h, w), budget) in enumerate(zip(shown, budgets, strict=True))
        ]

    def start(
        self, index: int, count: int, photo: torch.Tensor, painting: torch.Tensor, previous: torch.Tensor | None,
        size: tuple[int, int],
    ) -> torch.Tensor:  # fmt: skip
        """The image phase ``index`` (1-based) of ``count`` starts from, at ``size``."""
        if previous is None:
            return self.first_image(photo, painting, size)
        return self.next_image(previous, photo, size, index == count)


#: The later methods by name (``gatys`` is the paper's objective and painterly's own path).
METHODS: dict[str, Method] = {
    "strotss": Method(
        "strotss", strotss.LAYERS, "rmsprop", 2e-3, 1e-3, 5, False, strotss.build_terms, strotss.first_image,
        strotss.next_image,
    ),
    "nnst": Method(
        "nnst", nnst.LAYERS, "adam", 2e-3, 2e-3, 8, True, nnst.build_terms, _photo, _upsampled, nnst.match_colours
    ),
}

__all__ = ["COARSEST", "METHODS", "Method", "Phase"]
