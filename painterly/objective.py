"""The objective the optimiser minimises at one image size, as one object with named terms.

``L_total = alpha * L_content + beta * L_style + tv_weight * TV(x)``

- ``L_content``: the paper's 1/2 sum (F - P)^2 against the photo's activations at this size,
  averaged over the content layers;
- ``L_style``: sum_l w_l E_l against the paintings' Gram matrices per position (blended, or one
  painting per masked region; see :mod:`painterly.styles`), each painting scaled to
  ``style_scale`` times this size's long side, never stretched;
- ``TV(x)``: :func:`painterly.losses.total_variation` of the image the network sees.

Where a content mask is white the network sees the photo instead of the optimised pixels (they
get no gradient there). An ``extra`` term (a function of that image, already weighted) is added
to the total: the temporal loss of a video frame, for instance. An :class:`Objective` returns
:class:`~painterly.losses.LossTerms` whose ``total`` is exactly what the optimiser sees.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch

from painterly.errors import PainterlyError
from painterly.image import fit_long_side, image_size, resize
from painterly.losses import LossTerms, StyleObjective, total_variation
from painterly.margin import Canvas, crop_margin
from painterly.masks import RegionMasks
from painterly.network import Network, resolve_layers
from painterly.options import MIN_SIDE
from painterly.styles import painting_statistic, style_targets


@dataclass(frozen=True)
class Terms:
    """What the objective weighs, with layers by canonical name (``relu4_2``)."""

    content_layers: tuple[str, ...]
    style_layer_weights: Mapping[str, float]  # w_l
    content_weight: float  # alpha
    style_weight: float  # beta
    tv_weight: float = 0.0
    style_scale: float = 1.0  # the painting's long side over the output's
    blend: tuple[float, ...] = (1.0,)  # per painting: blend weights, or region strengths with masks
    style_loss: Literal["gram", "w2"] = "gram"  # the paper's Gram loss, or Wasserstein-2 (painterly.losses)

    @classmethod
    def from_settings(cls, network: Network, settings: Mapping[str, Any], blend: Sequence[float]) -> Terms:
        """The terms of validated options (:func:`painterly.options.validate`) on ``network``'s layers.

        Style layer weights default to equal weights summing to 1 (the paper's w_l = 1/5).
        """
        content = [network.resolve(name) for name in settings["content_layers"]]
        style = resolve_layers(network.arch, settings["style_layers"], role="style")
        given = settings["style_layer_weights"]
        weights = [1.0 / len(style)] * len(style) if given is None else [float(w) for w in given]
        return cls(
            content_layers=tuple(content),
            style_layer_weights=dict(zip(style, weights, strict=True)),
            content_weight=float(settings["content_weight"]),
            style_weight=float(settings["style_weight"]),
            tv_weight=float(settings["tv_weight"]),
            style_scale=float(settings["style_scale"]),
            blend=tuple(blend),
            style_loss=settings.get("style_loss", "gram"),  # settings recorded before the option: gram
        )

    @property
    def layers(self) -> tuple[str, ...]:
        """Every layer the objective reads, content first."""
        return (*self.content_layers, *self.style_layer_weights)


def painting_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """A painting's size for a style long side of ``long_side``, never narrower than the network can see.

    Four 2x2 poolings come before conv5_1, so a side under 16 px has no activations there: a very
    wide painting (or a tiny ``style_scale``) is enlarged until its short side is 16 px.
    """
    scaled = fit_long_side(height, width, long_side)
    short = min(scaled)
    if short >= MIN_SIDE:
        return scaled
    factor = MIN_SIDE / min(height, width)
    return max(MIN_SIDE, math.ceil(height * factor)), max(MIN_SIDE, math.ceil(width * factor))


class Objective:
    """The loss at one size ``(height, width)``: targets from the photo at this size and the paintings
    scaled alike. Call it on the image (1, 3, H, W), RGB 0..1, on the network's device.

    With a ``margin`` the image is a canvas of ``(height + 2 margin, width + 2 margin)``: the photo
    and the masks are mirrored (replicated) into the margin, the paintings are scaled to the
    picture's size, the style loss and the ``extra`` term see the picture without its margin, and
    the content loss the whole canvas (:mod:`painterly.margin`)."""

    def __init__(
        self,
        network: Network,
        terms: Terms,
        photo: torch.Tensor,
        paintings: Sequence[torch.Tensor],
        size: tuple[int, int],
        masks: RegionMasks | None = None,
        *,
        extra: Callable[[torch.Tensor], torch.Tensor] | None = None,
        margin: int = 0,
    ) -> None:
        masks = masks or RegionMasks()
        self.extra = extra
        self.canvas = Canvas(*size, margin)
        device = network.runtime.device
        self.network = network
        self.terms = terms
        style_names = list(terms.style_layer_weights)
        photo = self.canvas.pad(resize(photo, size))  # at the canvas's size
        masks = masks.framed(size, margin)
        with torch.no_grad():
            photo_features = network(photo.to(device))
            style_long_side = max(MIN_SIDE // 2, round(terms.style_scale * max(size)))
            painting_grams = []
            for painting in paintings:
                shape = painting_size(*image_size(painting), style_long_side)
                features = network(resize(painting, shape).to(device))
                painting_grams.append(
                    {name: painting_statistic(features[name], terms.style_loss) for name in style_names}
                )
                del features
            # With a margin the style loss sees the picture only: without masks each style layer's
            # activations are cropped (cheaper than a masked Gram matrix), with masks the regions end
            # at the picture and each region's loss is the picture's own, not diluted by the margin.
            cropped = margin > 0 and not masks.active
            style_margins = (
                {name: self.canvas.feature_margin(photo_features[name]) for name in style_names} if cropped else {}
            )
            cropped_features = {name: crop_margin(photo_features[name], n) for name, n in style_margins.items()}
            seen_by_style = {**photo_features, **cropped_features}  # each style layer's shape
            targets, regions = style_targets(
                painting_grams, terms.blend, seen_by_style, self._style_regions(masks), style_names
            )
            if margin > 0 and not cropped:
                regions = tuple(replace(region, weight=region.weight / self.canvas.share) for region in regions)
            self.losses = StyleObjective(
                content_targets={name: photo_features[name].float() for name in terms.content_layers},
                style_targets=targets,
                style_layer_weights=dict(terms.style_layer_weights),
                content_weight=terms.content_weight,
                style_weight=terms.style_weight,
                style_regions=regions,
                style_margins=style_margins,
            )
        self.composite = masks.compositor(photo)

    def _style_regions(self, masks: RegionMasks) -> list[torch.Tensor] | None:
        """The style regions at the canvas's size; with a margin and masks, inside the picture only."""
        regions = masks.style_regions(self.canvas.size)
        if self.canvas.margin == 0 or regions is None:
            return regions
        inside = self.canvas.inside()
        return [region * inside for region in regions]

    def __call__(self, image: torch.Tensor) -> LossTerms:
        seen = self.composite(image)
        terms = self.losses(self.network(seen))
        if self.terms.tv_weight:
            tv = total_variation(seen)
            terms = LossTerms(terms.content, terms.style, terms.total + self.terms.tv_weight * tv, tv=tv)
        if self.extra is not None:
            extra = self.extra(self.canvas.crop(seen))
            terms = LossTerms(terms.content, terms.style, terms.total + extra, tv=terms.tv)
        return terms

    def compiled(self, mode: str) -> Callable[[torch.Tensor], LossTerms]:
        """This objective through torch.compile: the network, the losses and their backward in one graph.

        Compiling the network alone leaves the losses' small kernels outside the graph, each one a
        launch from the host, and at 512 px on a GPU those launches are most of an evaluation's time
        (about twice as slow as everything compiled with "reduce-overhead": docs/benchmarks/README.md,
        "Measurements behind choices in the code"). Each scale compiles once (its own shapes).
        """

        def losses(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
            terms = self(image)
            tv = terms.tv if terms.tv is not None else torch.zeros((), device=terms.total.device)
            return terms.content, terms.style, terms.total, tv

        compiled = torch.compile(losses, mode=mode, dynamic=False)

        def run(image: torch.Tensor) -> LossTerms:
            content, style, total, tv = compiled(image)
            # With CUDA graphs ("reduce-overhead") the outputs live in the graph's memory, which its next
            # replay overwrites: keep copies (the copies still carry the gradient back to `image`).
            return LossTerms(content.clone(), style.clone(), total.clone(), tv=tv.clone())

        return run


def check_terms_finite(terms: LossTerms | None, settings: Mapping[str, Any]) -> None:
    """Refuse an objective that is not finite at its very first evaluation, naming the weight that overflowed."""
    if terms is not None:
        return
    biggest = max(("content-weight", "style-weight", "tv-weight"), key=lambda label: _as_float(settings, label))
    raise PainterlyError(
        f"the loss is not finite from the first evaluation (overflow); --{biggest} "
        f"{_as_float(settings, biggest):g} is too large: lower it"
    )


def _as_float(settings: Mapping[str, Any], label: str) -> float:
    value = settings.get(label.replace("-", "_"), 0.0)
    return float(value) if isinstance(value, int | float) else 0.0
