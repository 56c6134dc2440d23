"""Where the pictures of a batch are computed: an :class:`Executor` turns tasks into outcomes.

The driver (:mod:`painterly.batch.command`) decides what to compute, and writes every file and
the manifest itself as outcomes arrive; an executor only computes. So resume, atomic writes and
the manifest behave the same whichever executor ran the pictures. The executors are the batch's
words for the backends of :mod:`painterly.runs`:

- :class:`LocalExecutor` computes in this process (:mod:`painterly.runs.local`), one picture after
  the other, on a network loaded once for the whole batch.
- :class:`RayExecutor` sends one Ray task per picture (:mod:`painterly.runs.ray`: declared
  ``num_cpus``/``num_gpus``, ``max_retries`` for lost workers); the network's weights go to the
  object store once and each worker process builds its network once from them. The input images
  travel as bytes through the object store too (each file once), so the cluster needs no shared
  file system. Results (the picture as a CPU tensor, its losses and history) come back to the driver.

A picture that fails, with any error, is an outcome with a one-line ``error``; the others go on.
KeyboardInterrupt stops the executor (a Ray executor cancels its tasks) and propagates.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from painterly.batch.plan import Job
from painterly.runs.local import run_here
from painterly.settings import Settings

if TYPE_CHECKING:
    from painterly.models.weights import LoadedWeights
    from painterly.network import Network
    from painterly.result import Iterate, StylizeResult

IterateCallback = Callable[["Task", "Iterate"], None]


@dataclass(frozen=True)
class Task:
    """One picture to compute with validated ``settings`` (:func:`painterly.options.validate`)."""

    job: Job
    settings: Settings


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
    """This process, one picture after the other, on one network (built once per batch)."""

    def __init__(self, network: Network, reason: str | None = None, on_iterate: IterateCallback | None = None) -> None:
        self.network = network
        self.reason = reason
        self.on_iterate = on_iterate

    def _picture(self, task: Task) -> StylizeResult:
        callback = None if self.on_iterate is None else functools.partial(self.on_iterate, task)
        return make_picture(self.network, task, reason=self.reason, callback=callback)

    def run(self, tasks: Sequence[Task]) -> Iterator[Outcome]:
        for done in run_here(self._picture, tasks):
            yield Outcome(done.item, result=done.value, error=done.error)

    def close(self) -> None:
        """Nothing to release."""


# --- Ray ------------------------------------------------------------------------------------------


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
    from painterly.runs.ray import shipped_files, worker_setup

    network = worker_setup(state_dict, weights, weights_id, task.settings, threads)
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
        from painterly.runs.ray import RayBackend

        self.backend = RayBackend(address)
        self.ray = self.backend.ray
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.max_retries = max_retries
        self.weights = self.backend.ship_weights(weights, f"{weights.source}:{id(weights)}")
        self.weights_ref = self.weights.state_dict  # shipped once; every task reads this object

    def run(self, tasks: Sequence[Task]) -> Iterator[Outcome]:
        threads = max(1, int(self.num_cpus))
        shipped = self.weights
        with self.backend.session() as session:  # leaving it (Ctrl-C, or the caller stopped) cancels the rest
            for task in tasks:
                images = [self._ship(path) for path in (task.job.content, task.job.style)]
                unreadable = next((image for image in images if isinstance(image, str)), None)
                if unreadable is not None:  # unreadable here: fails like locally
                    yield Outcome(task, error=unreadable)
                    continue
                session.submit(
                    task, ray_picture, shipped.state_dict, shipped.small, shipped.id, task, *images, threads,
                    num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=self.max_retries,
                )  # fmt: skip
            for done in session.outcomes():
                yield Outcome(done.item, result=done.value, error=done.error)

    def _ship(self, path: Path) -> Any:
        """The object holding ``path``'s bytes (put once per file), or why it cannot be read."""
        try:
            return self.backend.ship_file(path)
        except OSError as error:
            return f"cannot read {path}: {error.strerror or error}"

    def close(self) -> None:
        """Leave Ray running for the caller (tests and notebooks share one instance)."""
