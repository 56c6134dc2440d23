"""Figures of an experiment (matplotlib, no pyplot and no global backend; PNG and SVG).

- ``losses``: total loss (log scale) against evaluation, one panel per pair, one line per
  setting; spikes marked, and the "within 5 % of the best final loss" line where the panel's
  settings share one objective.
- ``loss_terms``: the content and the style loss the same way (rows: content, style).
- ``images``: the study's layout, rows = setting and columns = pair, under a row of the inputs.
- ``snapshots_<pair>``: the best image so far at evaluations 10, 20, 50, ... and the final one,
  rows = setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image

from painterly.atomic import atomic_path
from painterly.errors import PainterlyError
from painterly.experiments.metrics import objective_key
from painterly.experiments.results import ExperimentResults

PANEL_INCHES = 3.2
IMAGE_INCHES = 1.9
DPI = 100
THUMBNAIL_PX = 320


@dataclass(frozen=True)
class FigureFile:
    name: str  # "losses"
    png: Path
    svg: Path
    caption: str


def make_figures(results: ExperimentResults, folder: Path) -> list[FigureFile]:
    """Write every figure of the experiment into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    figures = [
        _save(loss_figure(results), folder, "losses", _loss_caption(results)),
        _save(
            loss_terms_figure(results),
            folder,
            "loss_terms",
            "Content and style loss against evaluation (both log scales).",
        ),
        _save(
            image_grid_figure(results),
            folder,
            "images",
            "Final images: rows are settings, columns are pairs; the top row shows each pair's photo with "
            "its painting inset.",
        ),
    ]
    for pair in results.pairs:
        figure = snapshot_figure(results, pair.slug)
        if figure is not None:
            figures.append(
                _save(
                    figure,
                    folder,
                    f"snapshots_{pair.slug}",
                    f"{pair.label}: the lowest-loss image so far after the given number of evaluations.",
                )
            )
    return figures


def loss_figure(results: ExperimentResults) -> Figure:
    """Total loss against evaluation, one panel per pair."""
    columns = min(3, len(results.pairs))
    rows = -(-len(results.pairs) // columns)
    figure = Figure(figsize=(PANEL_INCHES * columns + 0.4, PANEL_INCHES * 0.8 * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    threshold_drawn = False
    for index, pair in enumerate(results.pairs):
        ax = axes[index // columns][index % columns]
        groups = {objective_key(results.cell(pair, setting).run.options) for setting in results.settings}
        for number, setting in enumerate(results.settings):
            cell = results.cell(pair, setting)
            colour = f"C{number % 10}"
            evaluations = [record["evaluation"] for record in cell.record.history]
            losses = [record["total_loss"] for record in cell.record.history]
            ax.plot(evaluations, losses, color=colour, linewidth=1.0, label=setting.label)
            spikes = cell.metrics["spike_evaluations"]
            if spikes:
                ax.plot(
                    spikes,
                    [losses[evaluations.index(e)] for e in spikes],
                    linestyle="none",
                    marker="v",
                    markersize=5,
                    color=colour,
                    markeredgecolor="black",
                    markeredgewidth=0.5,
                )
        if len(groups) == 1:
            target = results.cell(pair, results.settings[0]).metrics["reach_target"]
            ax.axhline(target, color="0.4", linestyle="--", linewidth=0.8)
            threshold_drawn = True
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(pair.label, fontsize=10)
        ax.set_xlabel("evaluation (forward + backward)")
        ax.set_ylabel("total loss")
        ax.grid(True, which="major", alpha=0.3)
    for index in range(len(results.pairs), rows * columns):
        axes[index // columns][index % columns].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    handles.append(Line2D([], [], linestyle="none", marker="v", color="0.6", markeredgecolor="black"))
    labels.append(f"spike (> {results.spike_factor:g}x running minimum)")
    if threshold_drawn:
        handles.append(Line2D([], [], color="0.4", linestyle="--", linewidth=0.8))
        labels.append(f"within {results.reach_within:.0%} of the best final loss")
    figure.legend(handles, labels, loc="outside lower center", ncol=_legend_columns(columns), fontsize=8, frameon=False)
    return figure


def loss_terms_figure(results: ExperimentResults) -> Figure:
    columns = len(results.pairs)
    figure = Figure(figsize=(PANEL_INCHES * columns + 0.4, PANEL_INCHES * 1.4 + 0.6), layout="constrained")
    axes = figure.subplots(2, columns, squeeze=False, sharex="col")
    for column, pair in enumerate(results.pairs):
        for row, term in enumerate(("content", "style")):
            ax = axes[row][column]
            for number, setting in enumerate(results.settings):
                history = results.cell(pair, setting).record.history
                ax.plot(
                    [record["evaluation"] for record in history],
                    [record[f"{term}_loss"] for record in history],
                    color=f"C{number % 10}",
                    linewidth=1.0,
                    label=setting.label,
                )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(True, which="major", alpha=0.3)
            if row == 0:
                ax.set_title(pair.label, fontsize=10)
            else:
                ax.set_xlabel("evaluation")
            if column == 0:
                ax.set_ylabel(f"{term} loss")
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=_legend_columns(columns), fontsize=8, frameon=False)
    return figure


def image_grid_figure(results: ExperimentResults) -> Figure:
    """Rows = settings (under a row of inputs), columns = pairs."""
    rows = len(results.settings) + 1
    columns = len(results.pairs)
    figure = Figure(figsize=(IMAGE_INCHES * columns + 1.0, IMAGE_INCHES * 0.85 * rows + 0.4), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for column, pair in enumerate(results.pairs):
        first = results.cell(pair, results.settings[0])
        size = (first.record.summary["width"], first.record.summary["height"])
        _show(axes[0][column], _inputs_thumbnail(pair.content, pair.style, size))
        axes[0][column].set_title(pair.label, fontsize=9)
        for row, setting in enumerate(results.settings, start=1):
            cell = results.cell(pair, setting)
            ax = axes[row][column]
            _show(ax, _thumbnail(cell.record.image))
            ax.set_xlabel(f"total {cell.final['total']:.3g}", fontsize=7, labelpad=2)
    axes[0][0].set_ylabel("inputs", fontsize=9)
    for row, setting in enumerate(results.settings, start=1):
        axes[row][0].set_ylabel(_wrap(setting.label), fontsize=9)
    return figure


def snapshot_figure(results: ExperimentResults, pair_slug: str) -> Figure | None:
    """Rows = settings, columns = snapshot evaluations (those every run has) and the final image."""
    pair = next(pair for pair in results.pairs if pair.slug == pair_slug)
    cells = [results.cell(pair, setting) for setting in results.settings]
    common = set.intersection(*(set(cell.record.snapshots()) for cell in cells))
    marks = sorted(common)
    if not marks:
        return None
    columns = len(marks) + 1
    rows = len(cells)
    figure = Figure(figsize=(IMAGE_INCHES * 0.8 * columns + 1.0, IMAGE_INCHES * 0.7 * rows + 0.5), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for row, cell in enumerate(cells):
        snapshots = cell.record.snapshots()
        for column, mark in enumerate(marks):
            _show(axes[row][column], _thumbnail(snapshots[mark]))
            if row == 0:
                axes[0][column].set_title(f"{mark}", fontsize=9)
        _show(axes[row][-1], _thumbnail(cell.record.image))
        if row == 0:
            axes[0][-1].set_title(f"final ({cell.record.summary['evaluations']})", fontsize=9)
        axes[row][0].set_ylabel(_wrap(cell.run.setting.label), fontsize=9)
    figure.suptitle(f"{pair.label}: best image after N evaluations", fontsize=10)
    return figure


# ---------------------------------------------------------------------------------------------


def _loss_caption(results: ExperimentResults) -> str:
    return (
        "Total loss against objective evaluations (both log scales), one panel per pair. Triangles mark spikes "
        f"(the loss above {results.spike_factor:g}x its running minimum); the dashed line, where shown, is "
        f"{results.reach_within:.0%} above the best final loss."
    )


def _legend_columns(panels: int) -> int:
    """Legend entries side by side: about two per panel width."""
    return max(1, 2 * panels)


def _show(ax: Axes, image: np.ndarray) -> None:
    ax.imshow(image, interpolation="lanczos")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _thumbnail(path: Path) -> np.ndarray:
    with Image.open(path) as opened:
        image = opened.convert("RGB")
        image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.LANCZOS)
        return np.asarray(image)


def _inputs_thumbnail(content: Path, style: Path, size: tuple[int, int]) -> np.ndarray:
    """The photo at the output's shape with the painting inset in the lower right corner."""
    width, height = size
    scale = min(1.0, THUMBNAIL_PX / max(width, height))
    width, height = max(1, round(width * scale)), max(1, round(height * scale))
    with Image.open(content) as photo, Image.open(style) as painting:
        canvas = photo.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
        inset = painting.convert("RGB")
        inset.thumbnail((max(1, width * 2 // 5), max(1, height * 2 // 5)), Image.Resampling.LANCZOS)
        border = Image.new("RGB", (inset.width + 4, inset.height + 4), "white")
        border.paste(inset, (2, 2))
        canvas.paste(border, (width - border.width, height - border.height))
    return np.asarray(canvas)


def _wrap(label: str, width: int = 16) -> str:
    words, lines, line = label.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "\n".join(lines)


def _save(figure: Figure, folder: Path, name: str, caption: str) -> FigureFile:
    paths = []
    for suffix in ("png", "svg"):
        target = folder / f"{name}.{suffix}"
        try:
            with atomic_path(target) as temporary:
                figure.savefig(temporary, format=suffix, dpi=DPI, metadata=_metadata(suffix))
        except OSError as error:
            raise PainterlyError(f"could not write {target}: {error.strerror or error}") from None
        paths.append(target)
    return FigureFile(name, paths[0], paths[1], caption)


def _metadata(suffix: str) -> dict[str, str | None]:
    # No creation dates, so that figures of unchanged results are byte-identical.
    if suffix == "svg":
        return {"Date": None, "Creator": "painterly"}
    return {"Software": "painterly"}
