"""The checks a job passes before it is queued: everything the run would refuse at its start.

The photo, paintings and settings go through the same steps as a run - :func:`prepare_inputs`,
the network's layer names, :func:`plan_run` with its memory estimate - on a network the server
loads once (per network settings), so a size that does not fit or a photo too narrow for the
network is refused with the command line's message before anything waits in the queue.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

#: Options that only change the run, not the network it runs on. Any other option (a new one too)
#: is part of the network's key, so a network is never reused where it could differ.
RUN_ONLY = frozenset({
    "size", "style_scale", "style_weights", "style_masks", "content_mask", "preserve_color", "color_transfer",
    "original_colors", "tv_weight", "style_layer_weights", "content_weight", "style_weight", "optimizer",
    "learning_rate", "iterations", "init", "seed", "scales", "tolerance", "compile", "memory",
})  # fmt: skip


def network_key(settings: dict[str, Any]) -> str:
    """What a loaded network depends on, as text: equal keys can share one network."""
    return json.dumps({name: value for name, value in settings.items() if name not in RUN_ONLY}, sort_keys=True)


class Preflight:
    """Runs the start-of-run checks on one cached network; one request at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: str | None = None
        self.network: Any = None

    def check(self, settings: dict[str, Any], content: Path, styles: list[Path]) -> None:
        """Raise the run's PainterlyError if these inputs and settings would be refused."""
        from painterly.api import plan_run, prepare_inputs
        from painterly.terms import TermWeights

        with self.lock:
            style: Any = str(styles[0]) if len(styles) == 1 else [str(path) for path in styles]
            inputs = prepare_inputs(str(content), style, settings)
            network = self._network(settings)
            terms = TermWeights.from_settings(network, settings, inputs.blend)
            plan_run(inputs, network, terms, settings)

    def _network(self, settings: dict[str, Any]) -> Any:
        """The cached network of these settings, built when they differ from the last ones.

        The cache is emptied (key and network together) before a build, so a build that fails - a
        layer the network lacks, a device the server has not - leaves no key without its network
        behind: the next request with the old settings builds it again instead of failing."""
        from painterly.api import build_network

        key = network_key(settings)
        if key != self.key or self.network is None:
            self.key, self.network = None, None  # free the old one before loading the next
            network, _ = build_network(settings)
            self.key, self.network = key, network
        return self.network
