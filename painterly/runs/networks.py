"""Which network a run needs, and the cache that keeps built networks for the runs that share one.

A network (:class:`painterly.network.Network`) is expensive: weights read, maybe downloaded or
converted, then moved to a device. Front ends that make many pictures build it once and reuse it
while the options that decide it stay the same. Those options are one group of the typed settings,
:class:`painterly.settings.NetworkSettings` (weights, layers, pooling, padding, device, precision):

- :data:`WEIGHTS_OPTIONS`, a part of them, decide the weights loaded (:func:`weights_key`): the
  experiment grid resolves each weights source once, and Ray ships each once;
- the whole group decides the built network, what :func:`painterly.api.build_network` reads
  (:func:`network_key`): the studio's preflight and worker, batch, video and every Ray worker
  reuse a network for equal keys.

Every other option changes the run on a network, not the network. A new option must take a group
in :mod:`painterly.settings` (a test fails until it has one), and that group's docstring says where
an option that changes the network goes, so the key never misses one.
"""

from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from painterly.settings import NetworkSettings, Settings

if TYPE_CHECKING:
    from painterly.models.weights import LoadedWeights, ProgressCallback
    from painterly.network import Network

#: The options that choose the weights: a source name or a file, and the file's input convention.
WEIGHTS_OPTIONS = ("model", "weights", "weights_preprocessing")
#: The options a network is built from: its weights, the layers it returns, how it pools and pads,
#: and where and in which precision it runs (the fields of NetworkSettings).
NETWORK_OPTIONS = tuple(field.name for field in dataclasses.fields(NetworkSettings))


def _key(values: Mapping[str, Any]) -> str:
    return json.dumps(dict(values), sort_keys=True, default=str)


def network_key(settings: Settings) -> str:
    """What a built network depends on, as text: runs whose keys are equal can share one network."""
    return _key(dataclasses.asdict(settings.network))


def weights_key(settings: Mapping[str, Any]) -> str:
    """Which weights ``settings`` (options by name, some may be missing) load, as text: equal keys
    load the same weights."""
    defaults = {"model": "auto", "weights": None, "weights_preprocessing": "auto"}
    return _key({name: settings.get(name, defaults[name]) for name in WEIGHTS_OPTIONS})


def network_from_weights(weights: LoadedWeights, settings: Settings) -> Network:
    """The network of validated ``settings`` built from weights already loaded (a Ray worker's,
    shipped by the driver), on the device and precision the settings name."""
    from painterly.network import Network
    from painterly.runtime import resolve_runtime

    chosen = settings.network
    runtime = resolve_runtime(chosen.device, chosen.precision)
    return Network(weights, chosen.layers, runtime, pooling=chosen.pooling, padding=chosen.padding)


Built = tuple["Network", str | None]  # the network, and why "auto" chose its weights


class NetworkCache:
    """Built networks by key, the ``size`` most recently used ones (None: all), with their reasons.

    A network that does not fit is dropped *before* the next one is built, so two large networks
    are never held at once; a build that fails (a layer the network lacks, a device this machine
    has not) leaves no entry behind, and the next request builds again instead of failing on a
    stale key.
    """

    def __init__(self, size: int | None = 1) -> None:
        if size is not None and size < 1:
            raise ValueError("a network cache holds at least one network")
        self.size = size
        self.entries: OrderedDict[str, Built] = OrderedDict()

    def get(self, settings: Settings, *, progress: ProgressCallback | None = None) -> Built:
        """The network of validated ``settings`` and why "auto" chose it, built on first use
        (:func:`painterly.api.build_network`; ``progress`` receives the weights' download)."""
        from painterly import api

        return self.get_or_build(network_key(settings), lambda: api.build_network(settings, progress=progress))

    def get_or_build(self, key: str, build: Callable[[], Built]) -> Built:
        """The entry of ``key``, or ``build()``'s, kept under it."""
        if key in self.entries:
            self.entries.move_to_end(key)
            return self.entries[key]
        while self.size is not None and len(self.entries) >= self.size:
            self.entries.popitem(last=False)  # free the oldest before loading the next
        built = build()
        self.entries[key] = built
        return built

    @property
    def last(self) -> Network | None:
        """The network used most recently, if any."""
        return next(reversed(self.entries.values()))[0] if self.entries else None

    def clear(self) -> None:
        self.entries.clear()
