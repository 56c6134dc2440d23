"""Where the pictures of a batch are computed: an :class:`Executor` turns tasks into outcomes.

The driver (:mod:`painterly.batch.command`) decides what to compute, and writes every file and
the manifest itself as outcomes arrive; an executor only computes. So resume, atomic writes and
the manifest behave the same whichever executor ran the pictures.

- :class:`LocalExecutor` computes in this process, one picture after the other, on a network
  loaded once for the whole batch.
- :class:`RayExecutor` sends one Ray task per picture (declared ``num_cpus``/``num_gpus``,
  ``max_retries`` for lost workers); the network's weights go to the object store once
  (``ray.put`` of the state dict) and each worker process builds its network once from them.
  The input images travel as bytes through the object store too (each file once), so the
  cluster needs no shared file system. Results (the picture as a CPU tensor, its losses and
  history) come back to the driver.

A picture that fails, with any error, is an outcome with a one-line ``error``; the others go on.
KeyboardInterrupt stops the executor (a Ray executor cancels its tasks) and propagates.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from painterly.batch.plan import Job
from painterly.errors import PainterlyError, describe_error
from painterly.extras import require

if TYPE_CHECKING:
    from painterly.models.weights import LoadedWeights
    from painterly.network import Network
    from painterly.result import Iterate, StylizeResult

IterateCallback = Callable[["Task", "Iterate"], None]


@dataclass(frozen=True)
class Task:
    """One picture to compute with validated ``settings`` (:func:`painterly.options.validate`)."""

    job: Job
    settings: dict[str, Any]


@dataclass
class Outcome:
    """A computed picture (``result``) or why it failed (``error``, one line)."""

    task: Task
    result: StylizeResult | None = None
    error: str | None = None


class Executor(Protocol):
    """Computes tasks and yields their outcomes as they finish (in any order)."""

    def run(self, tasks: Sequence[Task]) -> Iterator[Outcome]: ...

    def close(self) -> None: ...


def make_picture(
    network: Network, task: Task, *, reason: str | None = None, callback: Callable[[Iterate], None] | None = None
) -> StylizeResult:
    """Stylise one task on a network that is already built (what every executor runs per picture)."""
    from painterly.api import prepare_inputs, stylize_with

    inputs = prepare_inputs(str(task.job.content), str(task.job.style), task.settings)
    return stylize_with(network, inputs, task.settings, callback=callback, reason=reason)


class LocalExecutor:
    """This process, one picture after the other, on one network (``build_network`` once per batch)."""

    def __init__(self, network: Network, reason: str | None = None, on_iterate: IterateCallback | None = None) -> None:
        self.network = network
        self.reason = reason
        self.on_iterate = on_iterate

    def run(self, tasks: Sequence[Task]) -> Iterator[Outcome]:
        for task in tasks:
            callback = None if self.on_iterate is None else functools.partial(self.on_iterate, task)
            try:
                result = make_picture(self.network, task, reason=self.reason, callback=callback)
            except Exception as error:  # one picture's failure; KeyboardInterrupt is no Exception
                yield Outcome(task, error=describe_error(error))
                continue
            yield Outcome(task, result=result)

    def close(self) -> None:
        """Nothing to release."""


# --- Ray ------------------------------------------------------------------------------------------

def import_ray() -> Any:
    """The ``ray`` module, or a one-line error naming the extra to install (:mod:`painterly.extras`)."""
    return require("ray", "ray")


def connect_ray(address: str | None) -> Any:
    """Start or join Ray (``address``: an existing cluster, e.g. ``ray://head:10001`` or ``auto``)."""
    ray = import_ray()
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            raise PainterlyError(f"could not start or join {where}: {describe_error(error)}") from None
    return ray


# One network per worker process and weights object: built on the first task, reused by the next.
_worker_networks: dict[str, Network] = {}


def worker_network(weights: LoadedWeights, settings: dict[str, Any], weights_id: str) -> Network:
    """The network of ``settings`` in this (worker) process, built once per weights and layers."""
    from painterly.network import Network
    from painterly.runtime import resolve_runtime

    layers = [*settings["content_layers"], *settings["style_layers"]]
    network_options = (settings["device"], settings["precision"], settings["pooling"], settings["padding"])
    key = repr((weights_id, layers, *network_options))
    if key not in _worker_networks:
        runtime = resolve_runtime(settings["device"], settings["precision"])
        _worker_networks[key] = Network(
            weights, layers, runtime, pooling=settings["pooling"], padding=settings["padding"]
        )
    return _worker_networks[key]


@contextlib.contextmanager
def shipped_files(files: Sequence[tuple[Path, bytes]]) -> Iterator[list[Path]]:
    """On a worker, the driver's input files written under a temporary folder (same names), so a
    cluster needs no shared file system; a PainterlyError names the driver's paths, not these."""
    with tempfile.TemporaryDirectory(prefix="painterly-") as folder:
        local = []
        for index, (original, data) in enumerate(files):
            path = Path(folder) / str(index) / original.name
            path.parent.mkdir()
            path.write_bytes(data)
            local.append(path)
        try:
            yield local
        except PainterlyError as error:
            message = str(error)
            for path, (original, _) in zip(local, files, strict=True):
                message = message.replace(str(path), str(original))
            raise PainterlyError(message) from None


def ray_picture(
    state_dict: dict[str, Any],
    weights: LoadedWeights,
    weights_id: str,
    task: Task,
    content: bytes,
    style: bytes,
    threads: int,
) -> StylizeResult:
    """The body of one Ray task: ``state_dict`` and the images' bytes arrive from the object store
    (each put once by the driver)."""
    import torch

    torch.set_num_threads(max(1, threads))
    loaded = dataclasses.replace(weights, state_dict=state_dict)
    network = worker_network(loaded, task.settings, weights_id)
    with shipped_files([(task.job.content, content), (task.job.style, style)]) as (content_path, style_path):
        here = Task(dataclasses.replace(task.job, content=content_path, style=style_path), task.settings)
        return make_picture(network, here)


class RayExecutor:
    """One Ray task per picture; the driver receives the results and writes the files."""

    def __init__(
        self,
        weights: LoadedWeights,
        *,
        address: str | None = None,
        num_cpus: float = 1,
        num_gpus: float = 0,
        max_retries: int = 3,
    ) -> None:
        self.ray = connect_ray(address)
        self.weights = weights
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.max_retries = max_retries
        self.weights_ref = self.ray.put(weights.state_dict)  # shipped once; every task reads this object
        self.weights_id = f"{weights.source}:{os.getpid()}:{id(weights)}"

    def run(self, tasks: Sequence[Task]) -> Iterator[Outcome]:
        ray = self.ray
        remote = ray.remote(ray_picture).options(
            num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=self.max_retries
        )
        small = dataclasses.replace(self.weights, state_dict={})  # the tensors travel in weights_ref
        threads = max(1, int(self.num_cpus))
        files: dict[Path, Any] = {}
        pending = {}
        try:
            for task in tasks:
                content, style = (self._put(path, files) for path in (task.job.content, task.job.style))
                if isinstance(content, str) or isinstance(style, str):  # unreadable here: fails like locally
                    yield Outcome(task, error=content if isinstance(content, str) else str(style))
                    continue
                reference = remote.remote(self.weights_ref, small, self.weights_id, task, content, style, threads)
                pending[reference] = task
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for reference in done:
                    task = pending.pop(reference)
                    try:
                        yield Outcome(task, result=ray.get(reference))
                    except Exception as error:  # the task's exception, or a lost worker after its retries
                        cause = getattr(error, "cause", None)
                        yield Outcome(task, error=describe_error(cause if cause is not None else error))
        finally:
            for reference in pending:  # Ctrl-C, or the caller stopped early
                ray.cancel(reference, force=True)

    def _put(self, path: Path, files: dict[Path, Any]) -> Any:
        """The object holding ``path``'s bytes (put once per file), or why it cannot be read."""
        if path not in files:
            try:
                files[path] = self.ray.put(path.read_bytes())
            except OSError as error:
                files[path] = f"cannot read {path}: {error.strerror or error}"
        return files[path]

    def close(self) -> None:
        """Leave Ray running for the caller (tests and notebooks share one instance)."""
