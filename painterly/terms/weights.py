"""The weights of the objective's terms and the layers they read (options -> :class:`TermWeights`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from painterly.network import Network, resolve_layers

if TYPE_CHECKING:
    from painterly.settings import Settings

#: The weights with a field of their own; any other option ``<name>_weight`` is the weight of the
#: term named ``<name>`` (:meth:`TermWeights.weight`).
_OWN_FIELDS = {"content": "content_weight", "style": "style_weight", "tv": "tv_weight"}


@dataclass(frozen=True)
class TermWeights:
    """What the objective weighs, with layers by canonical name (``relu4_2``).

    alpha (``content_weight``), beta (``style_weight``) and the TV weight have fields (the paper's
    names); a term added later finds its weight by name in ``others`` (:meth:`weight`).
    """

    content_layers: tuple[str, ...]
    style_layer_weights: Mapping[str, float]  # w_l
    content_weight: float  # alpha
    style_weight: float  # beta
    tv_weight: float = 0.0
    style_scale: float = 1.0  # the painting's long side over the output's
    blend: tuple[float, ...] = (1.0,)  # per painting: blend weights, or region strengths with masks
    style_loss: Literal["gram", "w2"] = "gram"  # the paper's Gram loss, or Wasserstein-2 (painterly.losses)
    others: Mapping[str, float] = field(default_factory=dict)  # lambda_t of other terms, by term name
    method: Literal["gatys", "strotss", "nnst"] = "gatys"  # whose terms are built (painterly.methods)
    content_preservation: float = 0.75  # NNST's share of the photo in the query of its neighbours

    @classmethod
    def from_settings(cls, network: Network, settings: Settings, blend: Sequence[float]) -> TermWeights:
        """The weights of validated options (:func:`painterly.options.validate`) on ``network``'s layers.

        Style layer weights default to equal weights summing to 1 (the paper's w_l = 1/5). Every
        other numeric option ``<name>_weight`` goes into ``others`` under ``<name>``.
        """
        objective = settings.objective
        content = [network.resolve(name) for name in settings.network.content_layers]
        style = resolve_layers(network.arch, settings.network.style_layers, role="style")
        given = objective.style_layer_weights
        weights = [1.0 / len(style)] * len(style) if given is None else [float(w) for w in given]
        others = {
            key.removesuffix("_weight"): float(value)
            for key, value in settings.as_dict().items()
            if key.endswith("_weight") and key not in _OWN_FIELDS.values()
            and isinstance(value, int | float) and not isinstance(value, bool)
        }  # fmt: skip
        return cls(
            content_layers=tuple(content),
            style_layer_weights=dict(zip(style, weights, strict=True)),
            content_weight=objective.content_weight,
            style_weight=objective.style_weight,
            tv_weight=objective.tv_weight,
            style_scale=settings.inputs.style_scale,
            blend=tuple(blend),
            style_loss=objective.style_loss,
            others=others,
            method=settings.network.method,
            content_preservation=objective.content_preservation,
        )

    def weight(self, name: str) -> float:
        """lambda_t of the term named ``name``: alpha, beta, the TV weight, or ``others[name]`` (0 if unset)."""
        if name in _OWN_FIELDS:
            return float(getattr(self, _OWN_FIELDS[name]))
        return float(self.others.get(name, 0.0))

    @property
    def layers(self) -> tuple[str, ...]:
        """Every layer the objective reads, content first."""
        return (*self.content_layers, *self.style_layer_weights)
