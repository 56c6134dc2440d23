"""A term that is a function of the picture alone, without its margin (the objective's ``extra``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from painterly.margin import Canvas


@dataclass(frozen=True)
class PictureTerm:
    """L_t = loss(picture): ``loss`` sees the canvas without its margin (:meth:`Canvas.crop`).

    Wraps the callables that front ends passed as ``extra`` before terms had classes; ``loss``
    returns its value already weighted, so ``weight`` is 1 unless given.
    """

    loss: Callable[[torch.Tensor], torch.Tensor]
    canvas: Canvas
    weight: float = 1.0
    name: str = "extra"

    def __call__(self, features: Mapping[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        return self.loss(self.canvas.crop(image))
