"""``report.md`` and a self-contained ``report.html`` (figures embedded) for one experiment.

Both are rendered from one list of blocks, so they always say the same thing.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import PIL.Image

from painterly.atomic import write_text_atomically
from painterly.experiments.figures import FigureFile
from painterly.experiments.metrics import objective_key
from painterly.experiments.results import Cell, ExperimentResults
from painterly.options import defaults as default_options

# Options shown under "shared options" even when they have their default value.
ALWAYS_SHOWN = (
    "content_weight", "style_weight", "optimizer", "learning_rate", "init", "content_layers", "style_layers",
    "pooling", "scales", "iterations",
)  # fmt: skip
# Options described elsewhere in the report (conditions).
DESCRIBED_ELSEWHERE = ("size", "seed", "model", "weights", "device", "precision")
# How an option that is None reads (otherwise "automatic").
NONE_TEXT = {"tolerance": "off", "weights": "none", "content_mask": "none", "style_masks": "none"}
COLUMNS = (
    "pair", "setting", "content loss", "style loss", "total loss", "evaluations", "time (s)",
    "evaluations to reach", "to match the worst", "spikes", "colourfulness",
)  # fmt: skip


@dataclass(frozen=True)
class Block:
    kind: str  # "h1", "h2", "p", "list", "table", "figure"
    content: Any


def write_report(results: ExperimentResults, figures: Sequence[FigureFile], folder: Path) -> tuple[Path, Path]:
    """Write report.md, report.html and summary.json into ``folder``; return the two report paths."""
    blocks = report_blocks(results, figures, folder)
    markdown = write_text_atomically(folder / "report.md", render_markdown(blocks, folder))
    page = write_text_atomically(folder / "report.html", render_html(blocks, results.spec.title))
    write_text_atomically(folder / "summary.json", json.dumps(summary_document(results, folder), indent=1))
    return markdown, page


def report_blocks(results: ExperimentResults, figures: Sequence[FigureFile], folder: Path) -> list[Block]:
    spec = results.spec
    blocks = [Block("h1", spec.title)]
    if spec.description:
        blocks.append(Block("p", spec.description))
    if spec.study:
        blocks.append(Block("p", f"The reference study found: {spec.study}"))
    blocks.append(Block("h2", "Conditions"))
    blocks.append(Block("list", conditions(results)))
    if len({cell.record.summary.get("code") for cell in results.cells.values()}) > 1:
        blocks.append(
            Block(
                "p",
                "Warning: these runs were computed by different versions of painterly's code, so differences "
                "between them may come from the code. Run the command again with --rerun-stale to recompute "
                "the runs the current code did not compute.",
            )
        )
    settings_rows = [[setting.label, _options_text(setting.options)] for setting in results.settings]
    blocks.append(Block("p", "Settings (what each one changes):"))
    blocks.append(Block("table", (["setting", "options"], settings_rows)))
    blocks.append(Block("h2", "Results"))
    blocks.append(Block("table", (list(COLUMNS), [result_row(results.cell(p, s)) for p in results.pairs
                                                  for s in results.settings])))  # fmt: skip
    blocks.append(
        Block(
            "p",
            f"Losses are the final (lowest) values of the paper's raw losses; time is the optimisation's wall time; "
            f"'evaluations to reach' is the first evaluation whose total loss is within {results.reach_within:.0%} "
            "of the lowest final total loss among the runs of the same pair that minimise the same objective "
            "('never' if not within the budget); 'to match the worst' is the first evaluation whose total loss is "
            "at or below the highest final total loss of those runs (how soon a setting got to where the slowest "
            "one ended; '-' where no other run minimises the same objective); a spike is an evaluation whose "
            "total loss jumps above "
            f"{results.spike_factor:g}x the lowest loss before it (consecutive ones count once); colourfulness is "
            "Hasler and Süsstrunk's measure of the final image (0 = grey).",
        )
    )
    blocks.append(Block("list", [finding(results, pair) for pair in results.pairs]))
    notes = [
        f"{cell.run.name}: {cell.record.summary['stop_reason']}"
        for cell in results.cells.values()
        if cell.record.summary.get("stop_reason")
    ]
    if notes:
        blocks.append(Block("p", "Notes from the optimiser:"))
        blocks.append(Block("list", notes))
    blocks.append(Block("h2", "Figures"))
    blocks.extend(Block("figure", figure) for figure in figures)
    blocks.append(Block("h2", "Files"))
    files = []
    for pair in results.pairs:
        for setting in results.settings:
            cell = results.cell(pair, setting)
            files.append(f"{cell.run.name}: {os.path.relpath(cell.record.directory, folder)}/")
    blocks.append(Block("p", "Each run folder holds image.png, history.csv, history.json, result.json and snapshots/."))
    blocks.append(Block("list", files))
    return blocks


def conditions(results: ExperimentResults) -> list[str]:
    """What every run had in common (or how it varied): the fair-comparison statement."""
    cells = list(results.cells.values())
    items = []
    for pair in results.pairs:
        items.append(
            f"Pair {pair.label}: content {pair.content} ({input_size(pair.content)}), "
            f"style {pair.style} ({input_size(pair.style)})"
        )
    items.append(_same_or_varied(cells, "network", lambda cell: cell.record.summary["model"]))
    items.append(_same_or_varied(cells, "seed", lambda cell: str(cell.run.options["seed"])))
    items.append(
        _same_or_varied(
            cells,
            "evaluation budget",
            lambda cell: (
                f"{cell.run.options['iterations']} objective evaluations (forward + backward; "
                "L-BFGS line-search trials count)"
            ),
        )
    )
    items.append(
        _same_or_varied(
            cells,
            "output size",
            lambda cell: f"{cell.run.options['size']} px long side",
        )
        + " ("
        + "; ".join(
            f"{pair.label} {cell.record.summary['width']}x{cell.record.summary['height']}"
            for pair in results.pairs
            for cell in [results.cell(pair, results.settings[0])]
        )
        + ")"
    )
    items.append(
        _same_or_varied(
            cells,
            "code",
            lambda cell: (
                f"painterly {cell.record.summary.get('painterly', '?')}, source fingerprint "
                f"{cell.record.summary.get('code', 'unknown')}"
            ),
        )
    )
    items.append(
        _same_or_varied(
            cells,
            "device and precision",
            lambda cell: f"{cell.record.summary['runtime']}, {cell.record.summary['threads']} thread(s) per run",
        )
    )
    defaults = default_options()
    varied = {key for setting in results.settings for key in setting.options}
    shared = []
    for option in defaults:
        if option in DESCRIBED_ELSEWHERE or option in varied:
            continue
        values = {repr(cell.run.options.get(option)) for cell in cells}
        if len(values) != 1:
            continue
        value = cells[0].run.options.get(option)
        if option in ALWAYS_SHOWN or value != defaults[option]:
            shared.append(f"{option} = {NONE_TEXT.get(option, 'automatic') if value is None else _value_text(value)}")
    items.append("Options shared by every run: " + ", ".join(shared))
    items.append(
        f"Spike factor {results.spike_factor:g}; 'evaluations to reach' uses {results.reach_within:.0%} "
        "of the best final loss."
    )
    return items


def result_row(cell: Cell) -> list[str]:
    final = cell.final
    reach = cell.metrics["evaluations_to_reach"]
    spikes = cell.metrics["spikes"]
    spike_text = str(spikes)
    if spikes:
        shown = ", ".join(str(e) for e in cell.metrics["spike_evaluations"][:5])
        spike_text += f" (at {shown}{', ...' if spikes > 5 else ''})"
    return [
        cell.run.pair.label,
        cell.run.setting.label,
        f"{final['content']:.4g}",
        f"{final['style']:.4g}",
        f"{final['total']:.4g}",
        str(cell.record.summary["evaluations"]),
        f"{cell.record.summary['seconds']:.1f}",
        _count_text(reach),
        _count_text(cell.metrics["evaluations_to_match_worst"])
        if "evaluations_to_match_worst" in cell.metrics
        else "-",
        spike_text,
        f"{cell.metrics['colourfulness']:.1f}",
    ]


def finding(results: ExperimentResults, pair: Any) -> str:
    """One measured sentence per pair: the lowest final loss and who got within reach first."""
    cells = [results.cell(pair, setting) for setting in results.settings]
    lowest = min(cells, key=lambda cell: cell.final["total"])
    text = f"{pair.label}: lowest final total loss {lowest.final['total']:.4g} with {lowest.run.setting.label}"
    reached = [cell for cell in cells if cell.metrics["evaluations_to_reach"] is not None]
    if reached:
        parts = [
            f"{cell.run.setting.label} after {cell.metrics['evaluations_to_reach']}"
            for cell in sorted(reached, key=lambda cell: cell.metrics["evaluations_to_reach"])
        ]
        text += f"; within {results.reach_within:.0%}: " + ", ".join(parts)
    never = [cell.run.setting.label for cell in cells if cell.metrics["evaluations_to_reach"] is None]
    if never:
        text += f"; never within {results.reach_within:.0%}: " + ", ".join(never)
    highest = max(cells, key=lambda cell: cell.final["total"])
    groups = {objective_key(cell.run.options) for cell in cells}
    if len(cells) > 1 and all(cell.metrics.get("evaluations_to_match_worst") for cell in cells) and len(groups) == 1:
        parts = [
            f"{cell.run.setting.label} after {cell.metrics['evaluations_to_match_worst']}"
            for cell in cells
            if cell is not highest
        ]
        text += f"; down to where {highest.run.setting.label} ended ({highest.final['total']:.4g}): " + ", ".join(parts)
    spiky = [f"{cell.run.setting.label} {cell.metrics['spikes']}" for cell in cells if cell.metrics["spikes"]]
    text += "; spikes: " + (", ".join(spiky) if spiky else "none") + "."
    return text


def summary_document(results: ExperimentResults, folder: Path) -> dict[str, Any]:
    """Everything in the report's tables, machine-readable."""
    return {
        "experiment": results.spec.name,
        "title": results.spec.title,
        "spike_factor": results.spike_factor,
        "reach_within": results.reach_within,
        "runs": [
            {
                "pair": cell.run.pair.label,
                "setting": cell.run.setting.label,
                "content": str(cell.run.pair.content),
                "style": str(cell.run.pair.style),
                "folder": os.path.relpath(cell.record.directory, folder),
                "options": cell.run.options,
                "final_losses": cell.final,
                "evaluations": cell.record.summary["evaluations"],
                "seconds": cell.record.summary["seconds"],
                "wall_seconds": cell.record.summary["wall_seconds"],
                "runtime": cell.record.summary["runtime"],
                "model": cell.record.summary["model"],
                **cell.metrics,
            }
            for cell in results.cells.values()
        ],
    }


# ---------------------------------------------------------------------------------------------
# Rendering


def render_markdown(blocks: Sequence[Block], folder: Path) -> str:
    lines: list[str] = []
    for block in blocks:
        if block.kind == "h1":
            lines += [f"# {block.content}", ""]
        elif block.kind == "h2":
            lines += [f"## {block.content}", ""]
        elif block.kind == "p":
            lines += [block.content, ""]
        elif block.kind == "list":
            lines += [f"- {item}" for item in block.content] + [""]
        elif block.kind == "table":
            header, rows = block.content
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "|".join("---" for _ in header) + "|")
            lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
            lines.append("")
        elif block.kind == "figure":
            figure: FigureFile = block.content
            png = os.path.relpath(figure.png, folder)
            svg = os.path.relpath(figure.svg, folder)
            lines += [f"![{figure.name}]({png})", "", f"{figure.caption} ([SVG]({svg}))", ""]
    return "\n".join(lines)


def render_html(blocks: Sequence[Block], title: str) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
        "line-height:1.45;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:0.9em}"
        "th,td{border:1px solid #ccc;padding:0.3em 0.6em;text-align:left}th{background:#f3f3f3}"
        "td:nth-child(n+3){font-variant-numeric:tabular-nums}figure{margin:1.5em 0}"
        "img{max-width:100%;height:auto}figcaption{font-size:0.9em;color:#555}</style>",
        "</head><body>",
    ]
    for block in blocks:
        if block.kind in ("h1", "h2", "p"):
            parts.append(f"<{block.kind}>{html.escape(block.content)}</{block.kind}>")
        elif block.kind == "list":
            parts.append("<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in block.content) + "</ul>")
        elif block.kind == "table":
            header, rows = block.content
            head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
            body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif block.kind == "figure":
            figure: FigureFile = block.content
            data = base64.b64encode(figure.png.read_bytes()).decode("ascii")
            parts.append(
                f'<figure><img alt="{html.escape(figure.name)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(figure.caption)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _count_text(value: int | None) -> str:
    return "never" if value is None else str(value)


def _same_or_varied(cells: Sequence[Cell], what: str, describe: Any) -> str:
    values = list(dict.fromkeys(describe(cell) for cell in cells))
    if len(values) == 1:
        return f"{what.capitalize()}: {values[0]} (all runs)"
    return f"{what.capitalize()} varies: " + "; ".join(values)


def _options_text(options: dict[str, Any]) -> str:
    return ", ".join(f"{key} = {_value_text(value)}" for key, value in options.items()) or "(the shared options)"


def _value_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value_text(item) for item in value) + "]"
    if value is None:
        return "automatic"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def input_size(path: Path) -> str:
    """'WxH' of an image file, read from its header."""
    try:
        with PIL.Image.open(path) as image:
            return f"{image.width}x{image.height}"
    except OSError:
        return "unreadable"
