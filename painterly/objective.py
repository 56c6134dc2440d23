"""The objective the optimiser minimises at one image size: a list of weighted terms, one network pass.

``L_total = sum_t lambda_t * L_t``, by default ``alpha * L_content + beta * L_style (+ tv_weight * TV(x))``:

- ``L_content``: the paper's 1/2 sum (F - P)^2 against the photo's activations at this size,
  averaged over the content layers (:class:`~painterly.terms.ContentTerm`);
- ``L_style``: sum_l w_l E_l against the paintings' Gram matrices per position, or their Gaussians
  with ``--style-loss w2`` (blended, or one painting per masked region; see :mod:`painterly.styles`
  and :mod:`painterly.terms.style`), each painting scaled to ``style_scale`` times this size's long
  side, never stretched;
- ``TV(x)``: :func:`painterly.losses.total_variation` of the image the network sees.

The terms are :mod:`painterly.terms` (how to add one: there). Where a content mask is white the
network sees the photo instead of the optimised pixels (they get no gradient there). Front ends add
their own terms (``terms=``: the temporal loss of a video frame) or, as before, an ``extra`` function
of the picture (already weighted). An :class:`Objective` returns
:class:`~painterly.terms.LossValues` whose ``total`` is exactly what the optimiser sees and whose
``by_name`` holds each term's value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from painterly.errors import PainterlyError
from painterly.image import resize
from painterly.jitter import Jitter
from painterly.margin import Canvas
from painterly.masks import RegionMasks
from painterly.network import Network
from painterly.settings import Settings
from painterly.terms import (
    LossValues,
    PictureTerm,
    Stage,
    StyleTerm,
    Term,
    TermContext,
    TermWeights,
    build_terms,
    evaluate_terms,
)


class Objective:
    """The loss at one size ``(height, width)``: targets from the photo at this size and the paintings
    scaled alike. Call it on the image (1, 3, H, W), RGB 0..1, on the network's device.

    ``weights`` build the registered terms (:data:`painterly.terms.TERMS`); ``terms`` are added after
    them (a front end's own), and ``extra`` (a function of the picture, already weighted) after those
    as the term "extra". With a ``margin`` the image is a canvas of ``(height + 2 margin, width + 2
    margin)``: the photo and the masks are mirrored (replicated) into the margin, the paintings are
    scaled to the picture's size, the style loss and ``extra`` see the picture without its margin,
    and the content loss the whole canvas (:mod:`painterly.margin`). With a ``jitter`` the network
    sees the canvas in the jitter's current view, the content targets in the same view
    (:mod:`painterly.jitter`); terms on pixels see the canvas itself. ``stage``: where in a later
    method's schedule this objective is (:mod:`painterly.methods`), for the terms it builds."""

    def __init__(
        self,
        network: Network,
        weights: TermWeights,
        photo: torch.Tensor,
        paintings: Sequence[torch.Tensor],
        size: tuple[int, int],
        masks: RegionMasks | None = None,
        *,
        terms: Sequence[Term] = (),
        extra: Callable[[torch.Tensor], torch.Tensor] | None = None,
        margin: int = 0,
        jitter: Jitter | None = None,
        stage: Stage | None = None,
    ) -> None:
        masks = masks or RegionMasks()
        self.canvas = Canvas(*size, margin)
        self.network = network
        self.weights = weights
        self.jitter = jitter
        photo = self.canvas.pad(resize(photo, size))  # at the canvas's size
        framed = masks.framed(size, margin)
        with torch.no_grad():
            seen_photo = photo.to(network.runtime.device)
            photo_features = network(seen_photo)
            views = _view_features(network, weights.content_layers, seen_photo, jitter)
            context = TermContext(
                network, weights, photo_features, paintings, self.canvas, framed, jitter, views, stage
            )
            built = build_terms(context)
            del context, photo_features, views
        own = [*terms, *([PictureTerm(extra, self.canvas)] if extra is not None else [])]
        self.terms: tuple[Term, ...] = (*built, *own)
        self.composite = framed.compositor(photo)

    def term(self, name: str) -> Term:
        """The term named ``name`` (KeyError if the objective has none)."""
        for term in self.terms:
            if term.name == name:
                return term
        raise KeyError(f"no term named {name!r}; the terms are {[term.name for term in self.terms]}")

    @property
    def style(self) -> StyleTerm:
        """The style term (its targets, regions and margins)."""
        term = self.term("style")
        assert isinstance(term, StyleTerm)
        return term

    def __call__(self, image: torch.Tensor) -> LossValues:
        seen = self.composite(image)
        viewed = seen if self.jitter is None else self.jitter.view(seen)
        return evaluate_terms(self.terms, self.network(viewed), seen)

    def compiled(self, mode: str) -> Callable[[torch.Tensor], LossValues]:
        """This objective through torch.compile: the network, the losses and their backward in one graph.

        Compiling the network alone leaves the losses' small kernels outside the graph, each one a
        launch from the host, and at 512 px on a GPU those launches are most of an evaluation's time
        (docs/benchmarks/README.md, "Measurements behind choices in the code"). Each scale compiles
        once (its own shapes).
        """
        names = [term.name for term in self.terms]

        def losses(image: torch.Tensor) -> tuple[torch.Tensor, ...]:
            values = self(image)
            return (values.content, values.style, values.total, *(values.by_name[name] for name in names))

        compiled = torch.compile(losses, mode=mode, dynamic=False)

        def run(image: torch.Tensor) -> LossValues:
            # With CUDA graphs ("reduce-overhead") the outputs live in the graph's memory, which its next
            # replay overwrites: keep copies (the copies still carry the gradient back to `image`).
            content, style, total, *values = (value.clone() for value in compiled(image))
            return LossValues(content, style, total, dict(zip(names, values, strict=True)))

        return run


def _view_features(
    network: Network, layers: Sequence[str], photo: torch.Tensor, jitter: Jitter | None
) -> list[dict[str, torch.Tensor]]:
    """The photo's activations at ``layers`` in each view of ``jitter`` but the identity (view 0)."""
    if jitter is None:
        return []
    views = []
    for index in range(1, jitter.count):
        features = network(jitter.view(photo, torch.tensor(index, device=photo.device)))
        views.append({layer: features[layer] for layer in layers})
    return views


def check_terms_finite(values: LossValues | None, settings: Settings) -> None:
    """Refuse an objective that is not finite at its very first evaluation, naming the weight that overflowed."""
    if values is not None:
        return
    record = settings.as_dict()
    labels = ["content-weight", "style-weight", "tv-weight"]
    others = (key.replace("_", "-") for key in record if key.endswith("_weight"))
    labels += [label for label in others if label not in labels]
    biggest = max(labels, key=lambda label: _as_float(record, label))
    raise PainterlyError(
        f"the loss is not finite from the first evaluation (overflow); --{biggest} "
        f"{_as_float(record, biggest):g} is too large: lower it"
    )


def _as_float(settings: Mapping[str, Any], label: str) -> float:
    value = settings.get(label.replace("-", "_"), 0.0)
    return float(value) if isinstance(value, int | float) else 0.0
