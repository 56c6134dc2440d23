"""What a stylisation hands out: an :class:`Iterate` per evaluation, the history, the result.

:class:`Recorder` turns the optimiser's per-scale evaluations into the run's history and the
callback's iterates.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import PIL.Image
import torch

from painterly.image import check_output_path, save_image, to_pil
from painterly.optimize import Evaluation
from painterly.schedule import Scale

Finisher = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Iterate:
    """What the callback receives after every evaluation of the objective.

    ``best`` and ``image`` are copies: a callback may change them without touching the run.
    """

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
    pixels: torch.Tensor = field(repr=False)  # the run's own lowest-loss pixels: read through `best`
    finish: Finisher = field(repr=False, compare=False)
    network: str = ""  # the network in use, and why "auto" chose it
    terms: dict[str, float] = field(default_factory=dict)  # each term's unweighted value, by name

    @property
    def best(self) -> torch.Tensor:
        """A copy of the lowest-loss optimised pixels so far, before masks and colour controls (with a
        margin, :mod:`painterly.margin`, the picture's without it)."""
        return self.pixels.detach().clone()

    @property
    def image(self) -> torch.Tensor:
        """A copy of the lowest-loss image so far at this scale, finished, (1, 3, H, W) in 0..1.

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
    #: Each term's unweighted value by its name (:mod:`painterly.terms`): "content", "style", "tv", ...
    terms: dict[str, float] = field(default_factory=dict)


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
    #: The files the run read, by role ("content image", "style image 2", ...): :meth:`save` refuses
    #: to write over them, as the CLI does. Empty for images given as tensors or PIL images.
    input_paths: dict[str, Path] = field(default_factory=dict, repr=False)

    def to_pil(self) -> PIL.Image.Image:
        return to_pil(self.image)

    def metadata(self) -> dict[str, str]:
        """Text fields written into a PNG (settings, network and final losses)."""
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
        """Write PNG or JPEG (by extension), atomically, with the settings as metadata.

        Refuses (PainterlyError naming it) a path that is one of the run's input files, also through
        a link: ``result.save(photo)`` would otherwise replace the photo for good."""
        check_output_path(path, inputs=self.input_paths)
        return save_image(self.image, path, metadata=self.metadata())

    def history_as_dicts(self) -> list[dict[str, Any]]:
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


class Recorder:
    """Keeps the history of a run over its scales and hands each evaluation to the callback.

    The optimiser counts evaluations per scale; the recorder numbers them over the whole run and
    stamps them with the seconds since the run started optimising.
    """

    def __init__(
        self,
        plan: list[Scale],
        total_evaluations: int,
        finish: Finisher,
        callback: Callable[[Iterate], None] | None = None,
        network: str = "",
    ) -> None:
        self.plan = plan
        self.schedule = tuple((scale.height, scale.width, scale.evaluations) for scale in plan)
        self.total_evaluations = total_evaluations
        self.finish = finish
        self.callback = callback
        self.network = network
        self.history: list[HistoryRecord] = []
        self.started = time.perf_counter()
        self.scale_index = 0
        self.offset = 0  # evaluations of the scales before the current one
        self.crop: Callable[[torch.Tensor], torch.Tensor] = _as_it_is  # the picture inside the scale's canvas

    def start_scale(self, index: int, crop: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        """The scale ``index`` (1-based) starts; the evaluations so far are its offset. ``crop`` takes
        the picture out of the scale's optimised canvas (:meth:`painterly.margin.Canvas.crop`)."""
        self.scale_index = index
        self.offset = len(self.history)
        self.crop = crop or _as_it_is

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def __call__(self, evaluation: Evaluation, best: torch.Tensor) -> None:
        scale = self.plan[self.scale_index - 1]
        record = HistoryRecord(
            evaluation=self.offset + evaluation.index,
            scale=self.scale_index,
            height=scale.height,
            width=scale.width,
            content_loss=evaluation.content_loss,
            style_loss=evaluation.style_loss,
            total_loss=evaluation.total_loss,
            seconds=self.seconds,
            terms=dict(evaluation.terms),
        )
        self.history.append(record)
        if self.callback is not None:
            self.callback(
                Iterate(
                    evaluation=record.evaluation,
                    total_evaluations=self.total_evaluations,
                    scale=record.scale,
                    scales=len(self.plan),
                    height=record.height,
                    width=record.width,
                    content_loss=record.content_loss,
                    style_loss=record.style_loss,
                    total_loss=record.total_loss,
                    seconds=record.seconds,
                    schedule=self.schedule,
                    pixels=self.crop(best),
                    finish=self.finish,
                    network=self.network,
                    terms=dict(record.terms),
                )
            )


def _as_it_is(pixels: torch.Tensor) -> torch.Tensor:
    return pixels
