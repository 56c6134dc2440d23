"""painterly: neural style transfer by optimisation (Gatys, Ecker and Bethge).

`from painterly import stylize`; the names below are imported on first use so that light
entry points (`python -m painterly.samples`) do not load PyTorch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_EXPORTS = {
    "stylize": "painterly.api",
    "StylizeResult": "painterly.api",
    "Iterate": "painterly.api",
    "HistoryRecord": "painterly.api",
    "PainterlyError": "painterly.errors",
    "PRESETS": "painterly.presets",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'painterly' has no attribute {name!r}")
