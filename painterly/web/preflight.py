"""The checks a job passes before it is queued: everything the run would refuse at its start.

The photo, paintings and settings go through the same steps as a run - :func:`prepare_inputs`,
the network's layer names, :func:`plan_run` with its memory estimate - on a network the server
loads once per network settings (:class:`painterly.runs.networks.NetworkCache`, which names the
options that decide a network), so a size that does not fit or a photo too narrow for the network
is refused with the command line's message before anything waits in the queue.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from painterly.runs.networks import NetworkCache
from painterly.settings import Settings


class Preflight:
    """Runs the start-of-run checks on one cached network; one request at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.networks = NetworkCache()  # one network: the last settings' (a failed build leaves none)

    def check(self, settings: Settings, content: Path, styles: list[Path]) -> None:
        """Raise the run's PainterlyError if these inputs and settings would be refused."""
        from painterly.api import plan_run, prepare_inputs
        from painterly.terms import TermWeights

        with self.lock:
            style: Any = str(styles[0]) if len(styles) == 1 else [str(path) for path in styles]
            inputs = prepare_inputs(str(content), style, settings)
            network = self._network(settings)
            terms = TermWeights.from_settings(network, settings, inputs.blend)
            plan_run(inputs, network, terms, settings)

    def _network(self, settings: Settings) -> Any:
        """The cached network of these settings, built when they differ from the last ones."""
        network, _ = self.networks.get(settings)
        return network
