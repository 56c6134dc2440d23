"""What every term of the objective is, what it is built from, and what one evaluation returns.

A term scores an image: ``term(features, image)`` is its unweighted loss L_t (a float32 scalar),
from the network's activations of the image (by canonical layer name) and the image itself, and
``term.weight`` is its lambda_t. The objective's total is

    L_total = sum_t lambda_t * L_t

summed in the order of the terms (content, style, TV, then the front end's own: the order the
total has always been summed in, so its float32 rounding is unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import torch

if TYPE_CHECKING:
    from painterly.jitter import Jitter
    from painterly.margin import Canvas
    from painterly.masks import RegionMasks
    from painterly.network import Network
    from painterly.terms.weights import TermWeights


class Term(Protocol):
    """One term of the objective: its ``name`` (unique in an objective; the key its value is reported
    under), its ``weight`` lambda_t and its unweighted loss L_t of an image.

    ``features`` are the network's activations of ``image``, the whole canvas the network sees (with
    a margin, :mod:`painterly.margin`, the picture and the margin around it). Targets are built once,
    when the term is made (a ``build`` classmethod from a :class:`TermContext`), never per call.
    """

    @property
    def name(self) -> str: ...

    @property
    def weight(self) -> float: ...

    def __call__(self, features: Mapping[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class Stage:
    """Where in a method's schedule an objective is built (:mod:`painterly.methods`): phase ``index``
    (1-based) of ``count``, the image the phase starts from and the photo, both on the canvas and
    the network's device, and the generator of the method's random draws."""

    index: int
    count: int
    start: torch.Tensor
    photo: torch.Tensor
    generator: torch.Generator


@dataclass(frozen=True)
class TermContext:
    """What the terms of an objective at one size build their targets from, computed once.

    ``photo_features``: the network's activations of the photo on the canvas (no gradient);
    ``paintings``: the style images as loaded (each term scales them itself); ``canvas``: the
    picture's size and margin; ``masks``: the region masks framed to the canvas. With a ``jitter``
    (:mod:`painterly.jitter`), ``view_features[k]`` are the photo's activations in view k at the
    content layers (view 0 is ``photo_features``). ``stage``: the phase of a later method's schedule
    (None for the paper's method, whose terms do not depend on it).
    """

    network: Network
    weights: TermWeights
    photo_features: Mapping[str, torch.Tensor]
    paintings: Sequence[torch.Tensor]
    canvas: Canvas
    masks: RegionMasks
    jitter: Jitter | None = None
    view_features: Sequence[Mapping[str, torch.Tensor]] = ()
    stage: Stage | None = None


@dataclass(frozen=True)
class LossValues:
    """One evaluation of the objective: ``total`` = sum_t lambda_t L_t is what the optimiser minimises.

    ``by_name`` holds each term's unweighted L_t under the term's name. ``content`` and ``style``
    are the paper's L_content and L_style (the terms named "content" and "style"; 0 where there is
    none), the numbers the history and progress have always shown.
    """

    content: torch.Tensor
    style: torch.Tensor
    total: torch.Tensor
    by_name: Mapping[str, torch.Tensor] = field(default_factory=dict)

    @property
    def tv(self) -> torch.Tensor | None:
        """The total variation term's TV(x), when the objective has one."""
        return self.by_name.get("tv")

    def detached(self) -> LossValues:
        """The same values without their graphs (kept by the optimiser for the best image)."""
        return LossValues(
            self.content.detach(),
            self.style.detach(),
            self.total.detach(),
            {name: value.detach() for name, value in self.by_name.items()},
        )

    def numbers(self) -> tuple[float, float, float, dict[str, float]]:
        """(content, style, total, each term by name) as floats, with one copy to the host."""
        names = list(self.by_name)
        parts = [self.content, self.style, self.total, *(self.by_name[name] for name in names)]
        floats = torch.cat([part.reshape(1) for part in parts]).tolist()
        return floats[0], floats[1], floats[2], dict(zip(names, floats[3:], strict=True))

    def as_floats(self) -> dict[str, float]:
        """Each term's L_t by name and the ``total``, JSON-friendly (a run's final losses)."""
        content, style, total, by_name = self.numbers()
        return {"content": content, "style": style, **by_name, "total": total}


def evaluate_terms(terms: Sequence[Term], features: Mapping[str, torch.Tensor], image: torch.Tensor) -> LossValues:
    """Every term's L_t of one image and the weighted sum L_total = sum_t lambda_t L_t, in order."""
    if not terms:
        raise ValueError("an objective needs at least one term")
    values = {}
    for term in terms:
        if term.name in values or term.name == "total":
            raise ValueError(f"two terms named {term.name!r}; each term needs its own name (not 'total')")
        values[term.name] = term(features, image)
    weighted = [term.weight * values[term.name] for term in terms]
    total = weighted[0]
    for part in weighted[1:]:
        total = total + part
    zero = torch.zeros((), device=total.device)
    return LossValues(values.get("content", zero), values.get("style", zero), total, values)
