"""Terminal progress for the CLI: a bar with losses, evaluations/s and an ETA, or plain lines.

The ETA weighs each evaluation by its pixel count, because coarse scales are much cheaper
than the final one.
"""

from __future__ import annotations

import time
from typing import TextIO

from tqdm import tqdm

from painterly.api import Iterate
from painterly.models.weights import ProgressCallback

PLAIN_REPORTS = 10  # lines printed over a run when the output is not a terminal


class StylizeProgress:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.interactive = stream.isatty()
        self.bar: tqdm | None = None
        self.plan: list[tuple[int, int]] = []  # (evaluations, pixels) per scale, once known
        self.started = time.perf_counter()
        self.last_reported = 0

    def update(self, iterate: Iterate) -> None:
        if self.interactive:
            self._update_bar(iterate)
        else:
            self._update_plain(iterate)

    def _update_bar(self, iterate: Iterate) -> None:
        if self.bar is None:
            self.bar = tqdm(
                total=iterate.total_evaluations,
                file=self.stream,
                unit="eval",
                dynamic_ncols=True,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}] {postfix}",
            )
        self.bar.set_description(f"scale {iterate.scale}/{iterate.scales} {iterate.width}x{iterate.height}")
        self.bar.set_postfix_str(
            f"content {iterate.content_loss:.3g} style {iterate.style_loss:.3g} total {iterate.total_loss:.3g}",
            refresh=False,
        )
        self.bar.update(iterate.evaluation - self.bar.n)

    def _update_plain(self, iterate: Iterate) -> None:
        step = max(1, iterate.total_evaluations // PLAIN_REPORTS)
        if iterate.evaluation - self.last_reported < step and iterate.evaluation != iterate.total_evaluations:
            return
        self.last_reported = iterate.evaluation
        rate = iterate.evaluation / max(iterate.seconds, 1e-9)
        print(
            f"evaluation {iterate.evaluation}/{iterate.total_evaluations} "
            f"(scale {iterate.scale}/{iterate.scales}, {iterate.width}x{iterate.height}) "
            f"content {iterate.content_loss:.4g} style {iterate.style_loss:.4g} "
            f"total {iterate.total_loss:.4g}, {rate:.2f} eval/s, {iterate.seconds:.0f} s",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def weights_progress_bar(stream: TextIO) -> ProgressCallback:
    """A download bar for network weights, shown on a terminal only."""
    bars: dict[str, tqdm] = {}

    def report(done: int, total: int | None, description: str) -> None:
        if not stream.isatty():
            if description not in bars:
                bars[description] = None  # type: ignore[assignment]
                print(f"{description} ...", file=stream, flush=True)
            return
        bar = bars.get(description)
        if bar is None:
            bar = bars[description] = tqdm(
                total=total, file=stream, unit="B", unit_scale=True, desc=description, leave=False
            )
        bar.update(done - bar.n)
        if total is not None and done >= total:
            bar.close()

    return report
