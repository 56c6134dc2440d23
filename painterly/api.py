"""`stylize()`: the one entry point of the library; the CLI derives its options from this signature."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import PIL.Image
import torch

from painterly.color import COLOR_TRANSFER_CHOICES, PRESERVE_COLOR_CHOICES, ColorControl
from painterly.errors import PainterlyError
from painterly.image import ImageSource, fit_long_side, image_size, load_image, resize, save_image, to_pil
from painterly.initialization import INIT_CHOICES, initial_image, upsample_result
from painterly.losses import LossTerms, StyleObjective, total_variation
from painterly.masks import RegionMasks, load_region_masks
from painterly.memory import RunShape, check_fits
from painterly.models.vgg import VGGFeatures
from painterly.models.weights import LoadedWeights, ProgressCallback, choose_auto, load_source, load_weights_file
from painterly.optimize import OPTIMIZERS, Evaluation, optimize_image
from painterly.runtime import Runtime, resolve_runtime
from painterly.schedule import Scale, plan_scales
from painterly.styles import gram_per_position, load_styles, style_blend_weights, style_targets

PAPER_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
PAPER_CONTENT_LAYERS = ("conv4_2",)
DEFAULT_LEARNING_RATES = {"lbfgs": 1.0, "adam": 0.02}
MIN_SIZE = 16
MAX_SIZE = 16384


@dataclass(frozen=True)
class Option:
    """CLI metadata for one keyword of `stylize` (help text; the type and default come from the signature)."""

    help: str
    metavar: str | None = None


@dataclass(frozen=True)
class Iterate:
    """What the callback receives after every evaluation of the objective."""

    evaluation: int  # 1-based over the whole run, all scales
    total_evaluations: int  # the planned budget (a convergence stop may end sooner)
    scale: int  # 1-based
    scales: int
    height: int
    width: int
    content_loss: float
    style_loss: float
    total_loss: float
    seconds: float  # since stylize() started optimising
    schedule: tuple[tuple[int, int, int], ...]  # (height, width, evaluations) of every scale, coarse to fine
    best: torch.Tensor = field(repr=False)  # the optimised pixels, before masks and colour controls
    finish: Callable[[torch.Tensor], torch.Tensor] = field(repr=False, compare=False)

    @property
    def image(self) -> torch.Tensor:
        """The lowest-loss image so far at this scale, finished, (1, 3, H, W) in 0..1 (do not modify).

        Finished only when asked for: colour controls cost a pass over the image, and most
        callbacks look at the losses alone.
        """
        return self.finish(self.best)


@dataclass(frozen=True)
class HistoryRecord:
    evaluation: int
    scale: int
    height: int
    width: int
    content_loss: float
    style_loss: float
    total_loss: float
    seconds: float


@dataclass
class StylizeResult:
    image: torch.Tensor  # (1, 3, H, W) float32 RGB in 0..1, on the CPU
    history: list[HistoryRecord]
    settings: dict[str, Any]  # every option as used, JSON-serialisable
    model: str  # description of the network and weights
    model_reason: str | None  # why `model="auto"` chose it
    runtime: str
    stop_reason: str | None  # None when the full budget was spent normally
    seconds: float
    final_losses: dict[str, float] = field(default_factory=dict)

    def to_pil(self) -> PIL.Image.Image:
        return to_pil(self.image)

    def metadata(self) -> dict[str, str]:
        """Text fields written into a PNG (settings, network and final losses)."""
        import json

        return {
            "Software": "painterly",
            "painterly:settings": json.dumps(self.settings, sort_keys=True),
            "painterly:model": self.model,
            "painterly:runtime": self.runtime,
            "painterly:final_losses": json.dumps(self.final_losses, sort_keys=True),
            "painterly:evaluations": str(len(self.history)),
            "painterly:seconds": f"{self.seconds:.2f}",
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write PNG or JPEG (by extension), atomically, with the settings as metadata."""
        return save_image(self.image, path, metadata=self.metadata())

    def history_as_dicts(self) -> list[dict[str, float | int]]:
        return [dataclasses.asdict(record) for record in self.history]

    def summary(self) -> dict[str, Any]:
        """Settings, network, final losses and the whole history, JSON-friendly (`--log`, experiment runs)."""
        return {
            "settings": self.settings,
            "model": self.model,
            "runtime": self.runtime,
            "final_losses": self.final_losses,
            "stop_reason": self.stop_reason,
            "seconds": self.seconds,
            "history": self.history_as_dicts(),
        }


def stylize(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    *,
    size: Annotated[int, Option("long side of the output in pixels; the photo's aspect ratio is kept", "PX")] = 512,
    style_scale: Annotated[
        float,
        Option(
            "brush-stroke size: the painting's long side as a multiple of the output's (never stretched); "
            "2 = strokes twice as large, 0.5 = half",
            "X",
        ),
    ] = 1.0,
    style_weights: Annotated[
        Sequence[float] | None,
        Option("one weight per style image: how their Gram matrices are blended, or with --style-masks "
               "the strength of each region; default: equal", "W"),
    ] = None,
    style_masks: Annotated[
        Sequence[str] | None,
        Option("one mask image per style image, with the photo's aspect ratio: white = this style here", "MASK"),
    ] = None,
    content_mask: Annotated[
        str | None, Option("mask image, the photo's aspect ratio: white = keep the photo untouched here", "MASK")
    ] = None,
    preserve_color: Annotated[
        Literal["none", "luminance", "histogram"],
        Option("keep the photo's colours: luminance = stylise the luminance only and keep the photo's "
               "chroma; histogram = recolour the painting to the photo's colour statistics first"),
    ] = "none",
    color_transfer: Annotated[
        Literal["pca", "cholesky", "symmetric"], Option("the linear colour transfer of --preserve-color histogram")
    ] = "pca",
    original_colors: Annotated[
        bool, Option("give the finished picture the photo's chroma (YIQ), keeping the stylised luminance")
    ] = False,
    tv_weight: Annotated[
        float, Option("weight of total variation smoothing (sum of squared neighbour differences, 0..1 RGB)", "W")
    ] = 0.0,
    model: Annotated[str, Option("network weights: auto, vgg19, vgg19-caffe or vgg16-hed", "NAME")] = "auto",
    weights: Annotated[str | None, Option("a local .safetensors or .pth VGG file (overrides --model)", "FILE")] = None,
    weights_preprocessing: Annotated[
        Literal["auto", "caffe", "torchvision"], Option("input convention of --weights")
    ] = "auto",
    pooling: Annotated[Literal["avg", "max"], Option("pooling layers (the paper: avg)")] = "avg",
    content_layers: Annotated[Sequence[str], Option("layers matched to the photo", "LAYER")] = PAPER_CONTENT_LAYERS,
    style_layers: Annotated[Sequence[str], Option("layers whose Gram matrices match the painting", "LAYER")] = (
        PAPER_STYLE_LAYERS
    ),
    style_layer_weights: Annotated[
        Sequence[float] | None, Option("w_l per style layer (default: equal, summing to 1)", "W")
    ] = None,
    content_weight: Annotated[float, Option("alpha, the weight of the content loss", "ALPHA")] = 1.0,
    style_weight: Annotated[float, Option("beta, the weight of the style loss", "BETA")] = 1e4,
    optimizer: Annotated[Literal["lbfgs", "adam"], Option("optimiser of the pixels")] = "lbfgs",
    learning_rate: Annotated[
        float | None, Option("step size on 0..1 RGB pixels (default: lbfgs 1.0, adam 0.02)", "LR")
    ] = None,
    iterations: Annotated[int, Option("objective evaluations (forward + backward), all scales together", "N")] = 500,
    init: Annotated[str, Option("start image: content, noise, style or an image file", "INIT")] = "content",
    seed: Annotated[int, Option("random seed (noise init); a CPU run is reproducible bit for bit", "N")] = 0,
    scales: Annotated[
        int | None, Option("number of coarse-to-fine scales from ~128 px (default: automatic; 1 = single)", "N")
    ] = None,
    precision: Annotated[
        Literal["auto", "fp32", "bf16"], Option("network precision (auto: bf16 where the hardware has it)")
    ] = "auto",
    device: Annotated[Literal["auto", "cpu", "cuda", "mps"], Option("where to run")] = "auto",
    compile: Annotated[
        Literal["off", "default", "reduce-overhead"],
        Option("torch.compile the network and losses (GPU; each scale compiles once: pays off for long runs)"),
    ] = "off",
    tolerance: Annotated[
        float | None,
        Option("end a scale early when the loss improves less than this (relative) in 20 evaluations; default: off"),
    ] = None,
    callback: Callable[[Iterate], None] | None = None,
    weights_progress: ProgressCallback | None = None,
) -> StylizeResult:
    """Repaint `content` in the style of `style` (Gatys et al.) and return the image and its history.

    `content` and `style` are paths, PIL images or (3, H, W) / (1, 3, H, W) tensors in 0..1;
    `style` may also be a list of them (several paintings, see `style_weights`). Masks are paths
    (or images/tensors, in the API) with the photo's aspect ratio. The total loss is
    alpha * L_content + beta * L_style + tv_weight * TV(x), with TV as in
    :func:`painterly.losses.total_variation`; the callback's `total_loss` includes the TV term.
    `callback` receives an :class:`Iterate` after every evaluation; `weights_progress` receives
    download progress of the network weights. Nothing is printed.
    """
    settings = validate_options(locals())
    content_image = load_image(content, role="content image")
    style_images = load_styles(style)
    region_masks = load_region_masks(style_masks, content_mask, len(style_images), image_size(content_image))
    blend = style_blend_weights(style_weights, len(style_images), masked=style_masks is not None)
    colors = ColorControl(preserve_color, color_transfer, original_colors)
    finish = _finisher(colors, region_masks, content_image)
    # From here on the photo and paintings are as the network sees them (grey in luminance mode).
    content_image, style_images = colors.prepare(content_image, style_images)
    style_image = style_images[0]
    if init not in INIT_CHOICES:
        load_image(init, role="init image")  # fail before the network loads, not after
    runtime = resolve_runtime(device, precision)
    loaded, reason = _load_network(model, weights, weights_preprocessing, weights_progress)
    arch = loaded.arch
    content_names = [arch.resolve_layer(name) for name in content_layers]
    style_names = [arch.resolve_layer(name) for name in style_layers]
    layer_weights = _style_layer_weights(style_names, style_layer_weights)
    encoder = VGGFeatures(arch, loaded.state_dict, [*content_names, *style_names], pooling=pooling)
    encoder = encoder.to(runtime.device)
    if runtime.channels_last:
        encoder = encoder.to(memory_format=torch.channels_last)

    height, width = fit_long_side(*image_size(content_image), size)
    plan = plan_scales(height, width, iterations, scales)
    # Refuse before allocating anything large, rather than dying of out-of-memory half way.
    memory = RunShape(
        arch, [*content_names, *style_names], runtime.precision, optimizer, final_evaluations=plan[-1].evaluations,
        content_layers=content_names, channels_last=runtime.channels_last, pooling=pooling,
        device_type=runtime.device.type, style_scale=style_scale,
    )  # fmt: skip
    check_fits(memory, height, width)
    schedule = tuple((scale.height, scale.width, scale.evaluations) for scale in plan)
    settings["scales"] = [list(entry) for entry in schedule]
    lr = learning_rate if learning_rate is not None else DEFAULT_LEARNING_RATES[optimizer]
    settings["learning_rate"] = lr
    settings["model"] = loaded.source
    settings["precision"] = runtime.precision

    def network(image: torch.Tensor) -> dict[str, torch.Tensor]:
        pixels = loaded.preprocessing(image)
        if runtime.channels_last:
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        with runtime.autocast():
            return encoder(pixels)

    generator = torch.Generator().manual_seed(seed)
    history: list[HistoryRecord] = []
    started = time.perf_counter()
    current: torch.Tensor | None = None
    stop_reasons: list[str] = []
    final_terms = None
    evaluations_before = 0
    for index, scale in enumerate(plan, start=1):
        objective_at_scale = _objective_for_scale(
            network, content_image, style_images, scale, style_scale, content_names, style_names,
            layer_weights, content_weight, style_weight, runtime, blend=blend, masks=region_masks,
            tv_weight=tv_weight,
        )  # fmt: skip
        if compile != "off":
            objective_at_scale = _compiled(objective_at_scale, compile)
        if current is None:
            start_image = initial_image(init, content_image, style_image, scale.height, scale.width, generator)
        else:
            start_image = upsample_result(current.cpu(), content_image, (scale.height, scale.width))

        def on_evaluation(evaluation: Evaluation, best: torch.Tensor, scale_index: int = index, at: Scale = scale,
                          offset: int = evaluations_before) -> None:  # fmt: skip
            record = HistoryRecord(
                evaluation=offset + evaluation.index,
                scale=scale_index,
                height=at.height,
                width=at.width,
                content_loss=evaluation.content_loss,
                style_loss=evaluation.style_loss,
                total_loss=evaluation.total_loss,
                seconds=time.perf_counter() - started,
            )
            history.append(record)
            if callback is not None:
                callback(Iterate(
                    evaluation=record.evaluation, total_evaluations=iterations, scale=scale_index,
                    scales=len(plan), height=at.height, width=at.width, content_loss=record.content_loss,
                    style_loss=record.style_loss, total_loss=record.total_loss, seconds=record.seconds,
                    schedule=schedule, best=best, finish=finish,
                ))  # fmt: skip

        outcome = optimize_image(
            start_image.to(runtime.device),
            objective_at_scale,
            optimizer=optimizer,
            learning_rate=lr,
            evaluations=scale.evaluations,
            tolerance=tolerance,
            on_evaluation=on_evaluation,
        )
        if outcome.best_terms is None:
            raise PainterlyError(
                "the loss is not finite from the first evaluation (overflow); lower --style-weight or "
                "--content-weight"
            )
        evaluations_before += outcome.evaluations
        current = outcome.best_image
        final_terms = outcome.best_terms
        if outcome.stop_reason:
            stop_reasons.append(f"scale {index}: {outcome.stop_reason}" if len(plan) > 1 else outcome.stop_reason)
        if outcome.stop_reason and "NaN" in outcome.stop_reason:
            break
    assert current is not None
    image = finish(current.detach()).float().cpu().clamp(0, 1)
    final_losses = {}
    if final_terms is not None:
        final_losses = {
            "content": float(final_terms.content),
            "style": float(final_terms.style),
            "total": float(final_terms.total),
        }
    return StylizeResult(
        image=image,
        history=history,
        settings=settings,
        model=loaded.description,
        model_reason=reason,
        runtime=runtime.describe(),
        stop_reason="; ".join(stop_reasons) or None,
        seconds=time.perf_counter() - started,
        final_losses=final_losses,
    )


def _objective_for_scale(
    network: Callable[..., dict[str, torch.Tensor]],
    content_image: torch.Tensor,
    style_images: Sequence[torch.Tensor],
    scale: Scale,
    style_scale: float,
    content_names: list[str],
    style_names: list[str],
    layer_weights: dict[str, float],
    content_weight: float,
    style_weight: float,
    runtime: Runtime,
    *,
    blend: Sequence[float] = (1.0,),
    masks: RegionMasks | None = None,
    tv_weight: float = 0.0,
) -> Callable[[torch.Tensor], LossTerms]:
    """The loss at one size: targets from the photo at this size and the paintings scaled alike.

    Style targets are Gram matrices per position (see :mod:`painterly.styles`), blended over the
    paintings or, with masks, one per region. Where the content mask is white the network sees
    the photo instead of the optimised pixels (they get no gradient there).
    """
    masks = masks or RegionMasks()
    size = (scale.height, scale.width)
    with torch.no_grad():
        photo = resize(content_image, size).to(runtime.device)
        photo_features = network(photo)
        style_long_side = max(MIN_SIZE // 2, round(style_scale * scale.long_side))
        painting_grams = []
        for style_image in style_images:
            painting_size = fit_long_side(*image_size(style_image), style_long_side)
            painting_features = network(resize(style_image, painting_size).to(runtime.device))
            painting_grams.append({name: gram_per_position(painting_features[name]) for name in style_names})
            del painting_features
        targets, regions = style_targets(painting_grams, blend, photo_features, masks.style_regions(size), style_names)
        objective = StyleObjective(
            content_targets={name: photo_features[name].float() for name in content_names},
            style_targets=targets,
            style_layer_weights=layer_weights,
            content_weight=content_weight,
            style_weight=style_weight,
            style_regions=regions,
        )
    composite = masks.compositor(content_image)

    def evaluate(image: torch.Tensor) -> LossTerms:
        seen = composite(image)
        terms = objective(network(seen))
        if tv_weight:
            terms = LossTerms(terms.content, terms.style, terms.total + tv_weight * total_variation(seen))
        return terms

    return evaluate


def _compiled(evaluate: Callable[[torch.Tensor], LossTerms], mode: str) -> Callable[[torch.Tensor], LossTerms]:
    """`evaluate` through torch.compile: the network, the losses and their backward in one graph.

    Compiling the network alone leaves the losses' small kernels outside the graph: on an H100 at
    512 px that measured 7.2 ms per evaluation, against 3.3 ms with everything compiled
    ("reduce-overhead"). Each scale compiles once (its own shapes).
    """

    def losses(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        terms = evaluate(image)
        return terms.content, terms.style, terms.total

    compiled = torch.compile(losses, mode=mode, dynamic=False)

    def run(image: torch.Tensor) -> LossTerms:
        content, style, total = compiled(image)
        # With CUDA graphs ("reduce-overhead") the outputs live in the graph's memory, which its next
        # replay overwrites: keep copies (the copies still carry the gradient back to `image`).
        return LossTerms(content.clone(), style.clone(), total.clone())

    return run


def _finisher(colors: ColorControl, masks: RegionMasks, photo: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """What every handed-out image goes through: the kept region composited, then the colours restored."""
    composite = masks.compositor(photo)
    restore = colors.finisher(photo)

    def finish(image: torch.Tensor) -> torch.Tensor:
        return restore(composite(image))

    return finish


def _load_network(
    model: str, weights: str | None, weights_preprocessing: str, progress: ProgressCallback | None
) -> tuple[LoadedWeights, str | None]:
    if weights is not None:
        chosen = None if weights_preprocessing == "auto" else weights_preprocessing
        return load_weights_file(weights, preprocessing=chosen), None
    if model == "auto":
        return choose_auto(progress=progress)
    return load_source(model, progress=progress), None


def _style_layer_weights(style_names: list[str], given: Sequence[float] | None) -> dict[str, float]:
    if len(set(style_names)) != len(style_names):
        raise PainterlyError("a style layer is listed twice (conv and relu names are the same tensor)")
    if given is None:
        return {name: 1.0 / len(style_names) for name in style_names}
    if len(given) != len(style_names):
        raise PainterlyError(
            f"{len(given)} style layer weights for {len(style_names)} style layers; give one per layer"
        )
    return dict(zip(style_names, (float(w) for w in given), strict=True))


def _describe_sources(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return [_describe_sources(item) for item in value]
    if isinstance(value, str | os.PathLike):
        return os.fspath(value)
    return f"<{type(value).__name__}>"


def validate_options(arguments: dict[str, Any]) -> dict[str, Any]:
    """Check every plain option and return them as a JSON-friendly dict."""
    settings = {
        key: (list(value) if isinstance(value, tuple | list) else value)
        for key, value in arguments.items()
        if key not in ("content", "style", "callback", "weights_progress")
    }
    for key in ("style_masks", "content_mask"):  # JSON-friendly: paths as text, in-memory images named
        settings[key] = _describe_sources(settings[key])

    def positive_int(name: str, low: int = 1, high: int | None = None) -> None:
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
            bound = f" and at most {high}" if high else ""
            raise PainterlyError(f"{name.replace('_', '-')} must be an integer of at least {low}{bound}; got {value!r}")

    def positive_float(name: str, allow_zero: bool = False) -> None:
        value = settings[name]
        ok = isinstance(value, int | float) and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
        if not ok:
            need = "zero or positive" if allow_zero else "positive"
            raise PainterlyError(f"{name.replace('_', '-')} must be a finite {need} number; got {value!r}")

    positive_int("size", MIN_SIZE, MAX_SIZE)
    positive_int("iterations")
    positive_float("style_scale")
    positive_float("content_weight", allow_zero=True)
    positive_float("style_weight", allow_zero=True)
    positive_float("tv_weight", allow_zero=True)
    if settings["preserve_color"] not in PRESERVE_COLOR_CHOICES:
        raise PainterlyError(f"unknown preserve-color {settings['preserve_color']!r}; use none, luminance or histogram")
    if settings["color_transfer"] not in COLOR_TRANSFER_CHOICES:
        raise PainterlyError(f"unknown color-transfer {settings['color_transfer']!r}; use pca, cholesky or symmetric")
    if not isinstance(settings["original_colors"], bool):
        raise PainterlyError(f"original-colors must be True or False; got {settings['original_colors']!r}")
    if settings["content_weight"] == 0 and settings["style_weight"] == 0:
        raise PainterlyError("content-weight and style-weight are both 0; nothing would be optimised")
    if settings["learning_rate"] is not None:
        positive_float("learning_rate")
    if settings["tolerance"] is not None:
        positive_float("tolerance")
    if settings["scales"] is not None:
        positive_int("scales", 1, 10)
    if settings["compile"] not in ("off", "default", "reduce-overhead"):
        raise PainterlyError(f"unknown compile mode {settings['compile']!r}; use off, default or reduce-overhead")
    if settings["optimizer"] not in OPTIMIZERS:
        raise PainterlyError(f"unknown optimizer {settings['optimizer']!r}; use lbfgs or adam")
    if settings["pooling"] not in ("avg", "max"):
        raise PainterlyError(f"unknown pooling {settings['pooling']!r}; use avg or max")
    if settings["weights_preprocessing"] not in ("auto", "caffe", "torchvision"):
        raise PainterlyError("weights-preprocessing must be auto, caffe or torchvision")
    if not settings["content_layers"] and settings["content_weight"] > 0:
        raise PainterlyError("no content layers given; name at least one (e.g. conv4_2)")
    if not settings["style_layers"]:
        raise PainterlyError("no style layers given; name at least one (e.g. conv1_1)")
    if settings["style_layer_weights"] is not None:
        for weight in settings["style_layer_weights"]:
            if not (isinstance(weight, int | float) and math.isfinite(weight) and weight >= 0):
                raise PainterlyError(f"style layer weights must be finite and non-negative; got {weight!r}")
    if isinstance(settings["seed"], bool) or not isinstance(settings["seed"], int) or settings["seed"] < 0:
        raise PainterlyError(f"seed must be a non-negative integer; got {settings['seed']!r}")
    return settings
