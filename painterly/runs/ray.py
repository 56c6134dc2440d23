"""The Ray backend: one Ray task per item, on a local instance or a cluster.

Driver side (:class:`RayBackend`): the weights' tensors go to the object store once per weights
(:meth:`RayBackend.ship_weights`), every input file once (:meth:`RayBackend.ship_file`), so the
cluster needs no shared file system; each task declares its CPUs and GPUs and is retried when its
worker is lost. Results come back in the order they finish; the driver writes every file.

Worker side: :func:`worker_network` builds a network once per worker process and weights, and
:func:`shipped_files` writes the shipped input files where the stylisation reads them, naming the
driver's paths in any error.

Leaving :meth:`RayBackend.session` (Ctrl-C, or a caller that stops early) cancels the tasks still
pending. Ray is an optional extra: :func:`import_ray` names it when it is missing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from painterly.errors import PainterlyError, describe_error
from painterly.extras import require
from painterly.runs.networks import NetworkCache, network_from_weights, network_key
from painterly.runs.outcome import Outcome

if TYPE_CHECKING:
    from painterly.models.weights import LoadedWeights
    from painterly.network import Network
    from painterly.settings import Settings

T = TypeVar("T")


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


# --- driver side ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShippedWeights:
    """Weights in the object store: ``state_dict`` the reference to their tensors (a task passes it
    as a top-level argument, so Ray hands the worker the tensors), ``small`` the rest, and ``id``
    naming them in the workers' network caches."""

    state_dict: Any
    small: LoadedWeights
    id: str


class RaySession(Generic[T]):
    """The tasks submitted for one pass over the items; :meth:`outcomes` waits for them."""

    def __init__(self, ray: Any) -> None:
        self.ray = ray
        self.pending: dict[Any, T] = {}
        self.remotes: dict[Callable[..., Any], Any] = {}

    def submit(
        self, item: T, function: Callable[..., Any], *arguments: Any, num_cpus: float = 1, num_gpus: float = 0,
        max_retries: int = 3,
    ) -> None:  # fmt: skip
        """One Ray task ``function(*arguments)`` for ``item`` (retried ``max_retries`` times if its worker is lost)."""
        if function not in self.remotes:
            self.remotes[function] = self.ray.remote(function)
        task = self.remotes[function].options(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries)
        self.pending[task.remote(*arguments)] = item

    def outcomes(self) -> Iterator[Outcome[T]]:
        """Each submitted item's outcome as its task finishes; a task's error (its own exception, or a
        worker lost after its retries) is the outcome's one line, the others go on."""
        while self.pending:
            done, _ = self.ray.wait(list(self.pending), num_returns=1)
            for reference in done:
                item = self.pending.pop(reference)
                try:
                    value = self.ray.get(reference)
                except Exception as error:
                    cause = getattr(error, "cause", None)  # a RayTaskError wraps the task's exception
                    yield Outcome(item, error=describe_error(cause if isinstance(cause, BaseException) else error))
                    continue
                yield Outcome(item, value=value)

    def cancel(self) -> None:
        """Cancel the tasks still pending (their items stay unfinished)."""
        for reference in self.pending:
            self.ray.cancel(reference, force=True)
        self.pending.clear()


class RayBackend:
    """A connection to Ray and what was put in its object store (each weights and file once)."""

    def __init__(self, address: str | None = None) -> None:
        self.ray = connect_ray(address)
        self.weights: dict[str, ShippedWeights] = {}
        self.files: dict[Path, Any] = {}  # the object holding a file's bytes, or the OSError reading it

    def ship_weights(self, weights: LoadedWeights, name: str) -> ShippedWeights:
        """``weights`` in the object store, put once per ``name`` (and per driver process)."""
        if name not in self.weights:
            small = dataclasses.replace(weights, state_dict={})  # the tensors travel in the reference
            self.weights[name] = ShippedWeights(self.ray.put(weights.state_dict), small, f"{name}:{os.getpid()}")
        return self.weights[name]

    def ship_file(self, path: Path) -> Any:
        """The object holding ``path``'s bytes, put once per file; an OSError when it cannot be read
        (raised again for every later request of the same file)."""
        if path not in self.files:
            try:
                self.files[path] = self.ray.put(Path(path).read_bytes())
            except OSError as error:
                self.files[path] = error
        shipped = self.files[path]
        if isinstance(shipped, OSError):
            raise shipped
        return shipped

    @contextlib.contextmanager
    def session(self) -> Iterator[RaySession[Any]]:
        """Submit tasks and collect their outcomes inside; leaving it cancels what is still pending."""
        session: RaySession[Any] = RaySession(self.ray)
        try:
            yield session
        finally:
            session.cancel()


# --- worker side ---------------------------------------------------------------------------------

# One network per worker process, weights and network options: built on the first task, reused by the next.
_worker_networks = NetworkCache(size=None)


def worker_network(weights: LoadedWeights, settings: Settings, weights_id: str) -> Network:
    """The network of ``settings`` in this (worker) process, built once per weights and network options."""
    key = f"{weights_id}\n{network_key(settings)}"
    network, _ = _worker_networks.get_or_build(key, lambda: (network_from_weights(weights, settings), None))
    return network


def worker_setup(state_dict: dict[str, Any], weights: LoadedWeights, weights_id: str, settings: Settings,
                 threads: int) -> Network:  # fmt: skip
    """What a Ray task does first: use ``threads`` threads, and get the network of ``settings`` from
    the weights that arrived in the object store (``state_dict``, the tensors of ``weights``)."""
    import torch

    torch.set_num_threads(max(1, threads))
    return worker_network(dataclasses.replace(weights, state_dict=state_dict), settings, weights_id)


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
