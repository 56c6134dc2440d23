"""`stylize()`: the one entry point of the library, a short function over named steps.

1. :func:`prepare_inputs` loads the photo, the paintings and the masks and applies the colour
   controls that act before the optimisation;
2. :func:`build_network` loads the weights and binds them to the run's device and precision;
3. :func:`plan_run` chooses the scales and the memory path (activations recomputed where the run
   would not fit otherwise), and refuses a run that would not fit in memory;
4. :func:`run_scales` optimises coarse to fine, one :class:`~painterly.objective.Objective` per
   scale, recording every evaluation;
5. the result is finished (masks, colours) and returned with its history.

Steps 3-5 are :func:`stylize_with`, which front ends that make many pictures call on one network.

The options, their defaults, types and bounds are :mod:`painterly.options`; the signature below
repeats them for readers and type checkers (a test keeps the two equal).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from painterly import options
from painterly.color import ColorControl
from painterly.errors import PainterlyError
from painterly.image import ImageSource, fit_long_side, image_size, load_image, resize
from painterly.initialization import initial_image, upsample_result
from painterly.jitter import Jitter
from painterly.margin import Canvas, scaled_margin
from painterly.masks import RegionMasks, load_region_masks
from painterly.memory import RunShape, choose_recompute
from painterly.methods import METHODS
from painterly.models.weights import ProgressCallback
from painterly.network import Network, load_weights
from painterly.objective import Objective, check_terms_finite
from painterly.optimize import Levers, optimize_image
from painterly.result import Finisher, HistoryRecord, Iterate, Recorder, StylizeResult
from painterly.runtime import resolve_runtime
from painterly.schedule import Scale, plan_scales
from painterly.settings import Settings
from painterly.styles import load_styles, style_blend_weights, style_sources
from painterly.terms import LossValues, Stage, Term, TermWeights

__all__ = ["ExtraLoss", "HistoryRecord", "Inputs", "Iterate", "StylizeResult", "build_network", "plan_run",
           "plan_run_network", "prepare_inputs", "run_scales", "stylize", "stylize_with"]  # fmt: skip


def stylize(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    *,
    size: int = 512,
    style_scale: float = 1.0,
    style_weights: Sequence[float] | None = None,
    style_masks: Sequence[ImageSource] | None = None,
    content_mask: ImageSource | None = None,
    preserve_color: Literal["none", "luminance", "histogram"] = "none",
    color_transfer: Literal["pca", "cholesky", "symmetric"] = "pca",
    original_colors: bool = False,
    tv_weight: float = 0.0,
    model: str = "auto",
    weights: str | None = None,
    weights_preprocessing: Literal["auto", "caffe", "torchvision"] = "auto",
    pooling: Literal["avg", "max"] = "avg",
    padding: Literal["zeros", "reflect", "replicate"] = "zeros",
    margin: int = 8,
    method: Literal["gatys", "strotss", "nnst"] = "gatys",
    content_layers: Sequence[str] = options.PAPER_CONTENT_LAYERS,
    style_layers: Sequence[str] = options.PAPER_STYLE_LAYERS,
    style_layer_weights: Sequence[float] | None = None,
    style_loss: Literal["gram", "w2"] = "gram",
    content_weight: float = 1.0,
    style_weight: float = 1e4,
    content_preservation: float = 0.75,
    optimizer: Literal["lbfgs", "adam"] = "adam",
    bounds: Literal["inside", "after"] = "inside",
    learning_rate: float | None = None,
    jitter: int = 0,
    jitter_every: int = 25,
    average: float | None = None,
    pyramid: int = 0,
    iterations: int = 500,
    init: str = "content",
    seed: int = 0,
    scales: int | None = None,
    precision: Literal["auto", "fp32", "bf16"] = "auto",
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto",
    compile: Literal["off", "default", "reduce-overhead"] = "off",
    memory: Literal["auto", "normal", "low"] = "auto",
    tolerance: float | None = None,
    callback: Callable[[Iterate], None] | None = None,
    weights_progress: ProgressCallback | None = None,
) -> StylizeResult:
    """Repaint `content` in the style of `style` (Gatys et al., or ``method`` "strotss" or "nnst":
    :mod:`painterly.methods`) and return the image and its history.

    `content` and `style` are paths, PIL images or (3, H, W) / (1, 3, H, W) tensors in 0..1;
    `style` may also be a list of them (several paintings, see `style_weights`). Masks are paths
    (or images/tensors, in the API) with the photo's aspect ratio. The total loss is
    alpha * L_content + beta * L_style + tv_weight * TV(x) (:mod:`painterly.objective`); the
    callback's `total_loss` includes the TV term. Every option is described in
    :data:`painterly.options.OPTIONS`. `callback` receives an :class:`Iterate` after every
    evaluation; `weights_progress` receives download progress of the network weights. Nothing is
    printed.
    """
    arguments = locals()
    settings = options.validate({name: arguments[name] for name in options.NAMES})
    inputs = prepare_inputs(content, style, settings, masks=(style_masks, content_mask))
    network, reason = build_network(settings, progress=weights_progress)
    return stylize_with(network, inputs, settings, callback=callback, reason=reason)


#: Per scale, a front end's own term of the objective (:class:`~painterly.terms.Term`), from the
#: scale's canvas (the picture's size and margin): the temporal loss of a video frame, for instance.
ExtraLoss = Callable[[Canvas], Term]


def stylize_with(
    network: Network,
    inputs: Inputs,
    settings: Settings,
    *,
    callback: Callable[[Iterate], None] | None = None,
    reason: str | None = None,
    start: torch.Tensor | None = None,
    extra_loss: ExtraLoss | None = None,
) -> StylizeResult:
    """One picture on a network that is already built: what :func:`stylize` does after loading.

    Front ends that make many pictures (batch, studio, video) load the network once and call this
    for each. ``settings`` are validated options (:func:`painterly.options.validate`); ``start``
    (RGB 0..1, any size) replaces ``init`` as the first scale's start image; ``extra_loss`` adds a
    term to the objective at every scale (e.g. the temporal loss of a video frame).
    """
    weights = TermWeights.from_settings(network, settings, inputs.blend)
    plan, network = plan_run_network(inputs, network, weights, settings)  # this run's view of the network
    paper = settings.network.method == "gatys"  # the later methods' steps are their own (painterly.methods)
    record = {  # the options as used: what "auto" and the defaults chose
        **settings.as_dict(),
        "scales": [[scale.height, scale.width, scale.evaluations] for scale in plan],
        "learning_rate": settings.schedule.step if paper else None,
        "average": settings.schedule.decay if paper else None,
        "model": network.weights.source,
        "precision": network.runtime.precision,
        "memory": "low" if network.recompute else "normal",
    }
    total = settings.schedule.iterations
    shown = reason or network.description
    if network.recompute:  # the first progress line says so: the run is slower than usual
        shown += "; activations recomputed in the backward pass to save memory (--memory low)"
    recorder = Recorder(plan, total, inputs.finish, callback, network=shown)
    best, final_values, stop_reason = run_scales(
        inputs, network, weights, plan, settings, recorder, start=start, extra_loss=extra_loss
    )
    return StylizeResult(
        image=inputs.finish(best.detach()).float().cpu().clamp(0, 1),
        history=recorder.history,
        settings=record,
        model=network.description,
        model_reason=reason,
        runtime=network.runtime.describe(),
        stop_reason=stop_reason,
        seconds=recorder.seconds,
        final_losses=final_values.as_floats(),
        input_paths=dict(inputs.paths),
    )


@dataclass(frozen=True)
class Inputs:
    """The images of a run as the network sees them, and how a handed-out image is finished."""

    photo: torch.Tensor  # (1, 3, H, W) RGB 0..1 (grey in luminance mode)
    paintings: tuple[torch.Tensor, ...]
    masks: RegionMasks
    blend: tuple[float, ...]  # per painting: blend weights, or region strengths with masks
    finish: Finisher  # the kept region composited, then the colours restored
    paths: dict[str, Path] = field(default_factory=dict)  # the files read, by role: never written over


def prepare_inputs(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    settings: Settings,
    *,
    masks: tuple[Sequence[ImageSource] | None, ImageSource | None] = (None, None),
) -> Inputs:
    """Load and check the images of validated ``settings``; colour controls that act before the
    optimisation are applied (luminance mode: grey images; histogram mode: recoloured paintings).

    ``masks`` are the style masks and the content mask as given (paths or, in the API, images);
    by default they are read from ``settings``.
    """
    chosen = settings.inputs
    style_masks, content_mask = masks
    style_masks = chosen.style_masks if style_masks is None else style_masks
    content_mask = chosen.content_mask if content_mask is None else content_mask
    photo = load_image(content, role="content image")
    paintings = load_styles(style)
    region_masks = load_region_masks(style_masks, content_mask, len(paintings), image_size(photo))
    blend = style_blend_weights(chosen.style_weights, len(paintings), masked=style_masks is not None)
    colors = ColorControl(chosen.preserve_color, chosen.color_transfer, chosen.original_colors)
    composite = region_masks.compositor(photo)
    restore = colors.finisher(photo)

    def finish(image: torch.Tensor) -> torch.Tensor:
        return restore(composite(image))

    seen_photo, seen_paintings = colors.prepare(photo, paintings)
    if settings.schedule.init not in options.INIT_WORDS:
        load_image(settings.schedule.init, role="init image")  # fail before the network loads, not after
    paths = input_paths(content, style, style_masks, content_mask, settings.schedule.init)
    return Inputs(seen_photo, tuple(seen_paintings), region_masks, tuple(blend), finish, paths)


def input_paths(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    style_masks: Sequence[ImageSource] | None,
    content_mask: ImageSource | None,
    init: str,
) -> dict[str, Path]:
    """The files among a run's inputs, by role, for :meth:`StylizeResult.save` to refuse writing over."""
    named: list[tuple[str, Any]] = [("content image", content)]
    paintings = style_sources(style)
    named += [(f"style image {i}" if len(paintings) > 1 else "style image", s) for i, s in enumerate(paintings, 1)]
    named += [(f"style mask {index}", mask) for index, mask in enumerate(style_masks or (), start=1)]
    named += [("content mask", content_mask), ("init image", None if init in options.INIT_WORDS else init)]
    return {role: Path(source).expanduser() for role, source in named if isinstance(source, str | os.PathLike)}


def build_network(settings: Settings, *, progress: ProgressCallback | None = None) -> tuple[Network, str | None]:
    """The network of validated ``settings`` on its device, with every layer the objective reads, and
    why ``model="auto"`` chose it."""
    chosen = settings.network
    runtime = resolve_runtime(chosen.device, chosen.precision)
    weights, reason = load_weights(chosen.model, chosen.weights, chosen.weights_preprocessing, progress=progress)
    return Network(weights, chosen.layers, runtime, pooling=chosen.pooling, padding=chosen.padding), reason


def plan_run(inputs: Inputs, network: Network, weights: TermWeights, settings: Settings) -> list[Scale]:
    """The coarse-to-fine scales of the run; refuses, before allocating anything large, a run that
    would not fit in memory or whose photo is too narrow for the network at this size.

    ``network`` is not changed (the studio's preflight and video check on a network that runs
    use too); :func:`plan_run_network` also gives the run the network it runs on."""
    return _plan_run(inputs, network, weights, settings)[0]


def plan_run_network(
    inputs: Inputs, network: Network, weights: TermWeights, settings: Settings
) -> tuple[list[Scale], Network]:
    """:func:`plan_run`'s scales, and ``network`` as this run uses it: activations recomputed or not
    by the ``memory`` option (:func:`painterly.memory.choose_recompute`: with "auto", only when the
    run would not fit otherwise), on a view of its own (:meth:`Network.with_recompute`), so a network
    shared by several pictures runs each one the way it fits and is never changed by one of them."""
    plan, recompute = _plan_run(inputs, network, weights, settings)
    return plan, network.with_recompute(recompute)


def _plan_run(
    inputs: Inputs, network: Network, weights: TermWeights, settings: Settings
) -> tuple[list[Scale], bool]:
    """The scales, and whether the run recomputes activations to fit; refuses what does not fit."""
    photo_height, photo_width = image_size(inputs.photo)
    height, width = fit_long_side(photo_height, photo_width, settings.inputs.size)
    if min(height, width) < options.MIN_SIDE:
        raise PainterlyError(_too_narrow(photo_height, photo_width, settings.inputs.size))
    method = METHODS.get(settings.network.method)
    if method is None:
        plan = plan_scales(height, width, settings.schedule.iterations, settings.schedule.scales)
    else:
        if len(inputs.paintings) > 1:
            raise PainterlyError(
                f"--method {method.name} takes one painting, not {len(inputs.paintings)}; "
                "give one, or use --method gatys to blend several"
            )
        phases = method.plan(height, width, settings.schedule.iterations, settings.schedule.scales)
        plan = [phase.scale for phase in phases]
    shape = RunShape(
        network.arch, list(weights.layers if method is None else method.layers), network.runtime.precision,
        settings.schedule.optimizer if method is None else "adam", final_evaluations=plan[-1].evaluations,
        content_layers=list(weights.content_layers) if method is None else [],
        channels_last=network.runtime.channels_last, pooling=settings.network.pooling,
        device_type=network.runtime.device.type, style_scale=settings.inputs.style_scale,
        margin=settings.objective.margin,  # the final scale's, on every side
        method=settings.network.method, painting_pixels=_painting_pixels(inputs),
    )  # fmt: skip
    return plan, choose_recompute(shape, height, width, settings.runtime.memory)


def _painting_pixels(inputs: Inputs) -> float:
    """The first painting's pixels over its long side squared (its share of a square); 1 before the
    paintings are loaded (a square: the most a painting can cover)."""
    if not inputs.paintings:
        return 1.0
    height, width = image_size(inputs.paintings[0])
    return height * width / max(height, width) ** 2


def scale_canvases(plan: list[Scale], margin: int) -> list[Canvas]:
    """The canvas of each scale: its size and ``margin`` scaled like it (:mod:`painterly.margin`)."""
    final = plan[-1].long_side
    return [Canvas(scale.height, scale.width, scaled_margin(margin, scale.long_side, final)) for scale in plan]


def scale_levers(
    settings: Settings, canvas: Canvas, final_long_side: int, views: torch.Generator, device: torch.device
) -> Levers:
    """The path levers of one scale (:class:`~painterly.optimize.Levers`): the jitter's reach scaled
    like the margin (at least 1 px), its views drawn from ``views``."""
    reach = scaled_margin(settings.schedule.jitter, max(canvas.inner), final_long_side)
    reach = min(reach, min(canvas.size) - 1)
    jitter = Jitter.make(reach, canvas.size, views, device) if reach >= 1 else None
    return Levers(
        jitter=jitter,
        generator=views,
        restart_every=settings.schedule.jitter_every,
        average=settings.schedule.decay,
        pyramid=settings.schedule.pyramid,
    )


def _too_narrow(height: int, width: int, size: int) -> str:
    short, long = min(height, width), max(height, width)
    shown = f"the photo is {width}x{height} px: at --size {size} its short side would be "
    shown += f"{round(short * size / long)} px, and the network needs at least {options.MIN_SIDE}"
    needed = math.ceil(options.MIN_SIDE * long / short)
    if needed <= options.MAX_SIZE:
        return f"{shown}; use --size {needed} or more, or crop it to a less extreme aspect ratio"
    return f"{shown} even at the largest size; crop it to a less extreme aspect ratio"


def run_scales(
    inputs: Inputs,
    network: Network,
    weights: TermWeights,
    plan: list[Scale],
    settings: Settings,
    recorder: Recorder,
    *,
    start: torch.Tensor | None = None,
    extra_loss: ExtraLoss | None = None,
) -> tuple[torch.Tensor, LossValues, str | None]:
    """Optimise at each scale, coarse to fine: the best pixels, their losses and why it stopped early.

    The first scale starts from ``start`` resized, if given, else from the ``init`` option; each
    later scale from the coarser result (:func:`~painterly.initialization.upsample_result`). With a
    margin each scale optimises a canvas around the picture, started mirrored at the picture's
    edges, and hands on the picture without it.
    """
    generator = torch.Generator().manual_seed(settings.schedule.seed)
    views = torch.Generator().manual_seed(settings.schedule.seed)  # the jitter's own, so the init is unchanged
    current: torch.Tensor | None = None
    final_values: LossValues | None = None
    stop_reasons: list[str] = []
    canvases = scale_canvases(plan, settings.objective.margin)
    method = METHODS.get(settings.network.method)
    height, width = plan[-1].height, plan[-1].width
    phases = method.plan(height, width, settings.schedule.iterations, settings.schedule.scales) if method else []
    device = network.runtime.device
    for index, (scale, canvas) in enumerate(zip(plan, canvases, strict=True), start=1):
        size = canvas.inner
        own = [extra_loss(canvas)] if extra_loss is not None else []
        if method is not None:
            previous = None if current is None else current.cpu()
            if previous is None and start is not None:
                first = resize(start.detach().float().cpu(), size)
            else:
                first = method.start(index, len(plan), inputs.photo, inputs.paintings[0], previous, size)
            photo = canvas.pad(resize(inputs.photo, size)).to(device)
            stage = Stage(index, len(plan), canvas.pad(first).to(device), photo, generator)
            phase = phases[index - 1]
            levers = Levers(pyramid=phase.pyramid, last=True)
            optimizer, step = phase.optimizer, phase.learning_rate
        else:
            stage = None
            levers = scale_levers(settings, canvas, plan[-1].long_side, views, device)
            optimizer, step = settings.schedule.optimizer, settings.schedule.step
            if current is not None:
                first = upsample_result(current.cpu(), inputs.photo, size)
            elif start is not None:
                first = resize(start.detach().float().cpu(), size)
            else:
                first = initial_image(settings.schedule.init, inputs.photo, inputs.paintings[0], *size, generator)
        objective = Objective(
            network, weights, inputs.photo, inputs.paintings, size, inputs.masks,
            terms=own, margin=canvas.margin, jitter=levers.jitter, stage=stage,
        )  # fmt: skip
        evaluate = objective if settings.runtime.compile == "off" else objective.compiled(settings.runtime.compile)
        recorder.start_scale(index, crop=canvas.crop)
        outcome = optimize_image(
            canvas.pad(first).to(device),
            evaluate,
            optimizer=optimizer,
            learning_rate=step,
            evaluations=scale.evaluations,
            tolerance=settings.schedule.tolerance,
            bounds=settings.schedule.bounds,
            on_evaluation=recorder,
            levers=levers,
        )
        check_terms_finite(outcome.best_terms, settings)
        current, final_values = canvas.crop(outcome.best_image), outcome.best_terms
        if outcome.stop_reason:
            stop_reasons.append(f"scale {index}: {outcome.stop_reason}" if len(plan) > 1 else outcome.stop_reason)
            if "NaN" in outcome.stop_reason:
                break
    assert current is not None and final_values is not None
    if method is not None:
        current = method.finish(resize(inputs.photo, image_size(current)), inputs.paintings[0], current)
    return current, final_values, "; ".join(stop_reasons) or None
