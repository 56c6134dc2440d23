"""Terminal progress for the CLI: a bar with losses, evaluations/s and an ETA, or plain lines.

The ETA (:mod:`painterly.runs.eta`) weighs each evaluation by its pixel count; the bar and the
plain lines are :class:`painterly.runs.progress.TerminalProgress`'s, shared with the other front
ends. :func:`weights_progress_bar` shows a download of network weights.
"""

from __future__ import annotations

from typing import TextIO

from tqdm import tqdm

from painterly.models.weights import ProgressCallback
from painterly.result import Iterate
from painterly.runs.eta import EtaEstimate, clock, remaining_seconds
from painterly.runs.progress import PLAIN_REPORTS, PlainReports, TerminalProgress

__all__ = ["PLAIN_REPORTS", "EtaEstimate", "StylizeProgress", "clock", "remaining_seconds", "weights_progress_bar"]


class StylizeProgress(TerminalProgress):
    """A tqdm bar on a terminal, else a line every tenth of the run."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.bar: tqdm | None = None
        self.reports = PlainReports()
        self.eta = EtaEstimate()

    def update(self, iterate: Iterate) -> None:
        if iterate.evaluation == 1 and iterate.network:  # the network, before the run's first line
            self.write(f"network: {iterate.network}")
        eta = self.eta.update(iterate)
        if self.interactive:
            self._update_bar(iterate, eta)
        else:
            self._update_plain(iterate, eta)

    def _update_bar(self, iterate: Iterate, eta: float) -> None:
        if self.bar is None:
            self.bar = self.open_bar(
                total=iterate.total_evaluations,
                unit="eval",
                bar_format="{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}, {rate_fmt}{postfix}]",
            )
        self.bar.set_description_str(f"scale {iterate.scale}/{iterate.scales} {iterate.width}x{iterate.height}")
        self.bar.set_postfix_str(
            f"ETA {clock(eta)}, content {iterate.content_loss:.3g}, style {iterate.style_loss:.3g}",
            refresh=False,
        )
        self.bar.update(iterate.evaluation - self.bar.n)

    def _update_plain(self, iterate: Iterate, eta: float) -> None:
        if not self.reports.due(iterate.evaluation, iterate.total_evaluations, final=True):
            return
        self.write(
            f"evaluation {iterate.evaluation}/{iterate.total_evaluations} "
            f"(scale {iterate.scale}/{iterate.scales}, {iterate.width}x{iterate.height}) "
            f"content {iterate.content_loss:.4g} style {iterate.style_loss:.4g} "
            f"total {iterate.total_loss:.4g}, {iterate.seconds:.0f} s, ETA {clock(eta)}"
        )

    def close(self) -> None:
        super().close()
        self.bar = None


def weights_progress_bar(stream: TextIO) -> ProgressCallback:
    """A download bar for network weights, shown on a terminal only (else one line per download)."""
    progress = TerminalProgress(stream)
    bars: dict[str, tqdm | None] = {}  # None: announced by a plain line

    def report(done: int, total: int | None, description: str) -> None:
        if not progress.interactive:
            if description not in bars:
                bars[description] = None
                progress.write(f"{description} ...")
            return
        bar = bars.get(description)
        if bar is None:
            bar = bars[description] = progress.open_bar(
                total=total, unit="B", unit_scale=True, desc=description, leave=False
            )
        bar.update(done - bar.n)
        if total is not None and done >= total:
            progress.close_bar(bar)

    return report
