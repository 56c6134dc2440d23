"""The terms of the objective: each one a small class that builds its targets once and scores an image.

    L_total = sum_t lambda_t * L_t

- "content", :class:`ContentTerm` (weight alpha): the mean over content layers of 1/2 sum (F - P)^2;
- "style", :class:`GramStyleTerm` (weight beta): sum_l w_l E_l, E_l = sum (G - A)^2 / (4 N^2 M^2);
- "style", :class:`W2StyleTerm` (weight beta, ``--style-loss w2``): sum_l w_l W2^2_l / N_l;
- "tv", :class:`TVTerm` (``--tv-weight``): the sum of squared differences of neighbouring pixels;
- "temporal", :class:`~painterly.video.temporal.TemporalTerm` (video, ``--temporal-weight`` times the
  first frame's loss): (1/D) sum_k c_k (x_k - w_k)^2 against the warped previous frame;
- "extra", :class:`PictureTerm`: a function of the picture passed as the objective's ``extra``.

Style masks are regions of the style term (:class:`~painterly.losses.StyleRegion`), not a term of
their own: each region is one painting's L_style inside its mask, summed into the one L_style.

Every term has a ``name`` (its key in :attr:`LossValues.by_name`, the history's ``terms``, the
final losses in a PNG's metadata), a ``weight`` and ``__call__(features, image) -> L_t``
(:class:`Term`). An :class:`~painterly.objective.Objective` runs the network once per image and
sums the terms (:func:`evaluate_terms`).

Adding a term (one class plus one option):

1. Write the class (a frozen dataclass, in a module of its own here): ``name``, ``weight``,
   ``__call__(features, image)`` returning the unweighted float32 scalar, and a classmethod
   ``build(context: TermContext) -> Self | None`` that reads what it needs from the context once (the
   photo's activations, the paintings, the canvas, the masks) and returns None when its weight is 0.
   Its weight is ``context.weights.weight("<name>")``. Layers it reads beyond the content and style
   layers must be requested from the network too (:attr:`TermWeights.layers`).
2. Add ``<Class>.build`` to :data:`TERMS` below.
3. Add the option ``<name>_weight`` (float, default 0, ``low=0``) to ``OPTIONS`` in
   :mod:`painterly.options`, and its typed field ``<name>_weight: float`` to
   :class:`painterly.settings.ObjectiveSettings` (a test fails until the two agree):
   :meth:`TermWeights.from_settings` puts every ``<name>_weight`` into ``weights.others``, the
   CLI, the studio and the batch files pick the option up from the schema, and the term's value
   is reported under its name without more code.

A front end's own term for one run (the video's temporal term) is passed to the objective as a
term, not registered (:func:`painterly.api.stylize_with`'s ``extra_loss``).
"""

from __future__ import annotations

from collections.abc import Callable

from painterly.terms.base import LossValues, Stage, Term, TermContext, evaluate_terms
from painterly.terms.content import ContentTerm
from painterly.terms.picture import PictureTerm
from painterly.terms.style import STYLE_TERMS, GramStyleTerm, StyleTerm, W2StyleTerm, build_style_term
from painterly.terms.tv import TVTerm
from painterly.terms.weights import TermWeights

#: Builds one term from the context, or None where the term is off (weight 0).
TermBuilder = Callable[[TermContext], Term | None]

#: The terms every objective builds, in the order of the sum (content, style, TV: the order the total
#: has always been summed in, so its rounding is unchanged).
TERMS: tuple[TermBuilder, ...] = (ContentTerm.build, build_style_term, TVTerm.build)


def build_terms(context: TermContext) -> list[Term]:
    """Every registered term that is on, built from the context (call under ``torch.no_grad()``);
    a later method's own terms (:mod:`painterly.methods`) with ``--method`` strotss or nnst, and
    the TV term with any method."""
    if context.weights.method != "gatys":
        from painterly.methods import METHODS

        tv = TVTerm.build(context)
        return [*METHODS[context.weights.method].build_terms(context), *([tv] if tv is not None else [])]
    built = (builder(context) for builder in TERMS)
    return [term for term in built if term is not None]


__all__ = [
    "STYLE_TERMS",
    "TERMS",
    "ContentTerm",
    "GramStyleTerm",
    "LossValues",
    "PictureTerm",
    "Stage",
    "StyleTerm",
    "TVTerm",
    "Term",
    "TermBuilder",
    "TermContext",
    "TermWeights",
    "W2StyleTerm",
    "build_terms",
    "evaluate_terms",
]
