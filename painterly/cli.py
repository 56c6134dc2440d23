"""Command line: `painterly CONTENT STYLE -o OUT [options]`, `painterly models`.

The stylisation options are generated from the option schema (:mod:`painterly.options`), so the
library and the CLI cannot drift apart.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from painterly import options
from painterly.errors import PainterlyError
from painterly.interrupts import deferred_interrupts, handling_interrupts, raise_deferred
from painterly.presets import PRESETS
from painterly.runs.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USER_ERROR

if TYPE_CHECKING:
    from painterly.result import Iterate, StylizeResult


def main(argv: Sequence[str] | None = None, *, restore_signals: bool = True) -> int:
    """The ``painterly`` command; returns the exit status.

    This module imports nothing heavy at the top, so that a Ctrl-C while PyTorch loads is an
    interruption like any other (exit 130, no traceback). SIGTERM is treated as Ctrl-C, and once
    one of them has arrived the others are ignored, so that the picture being saved is finished
    (:mod:`painterly.interrupts`). ``restore_signals=False`` leaves them ignored after an
    interruption (the console script, which then exits).
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    with handling_interrupts(restore=restore_signals):
        try:
            return _command(arguments)
        except PainterlyError as error:
            print(f"painterly: error: {error}", file=sys.stderr)
            return EXIT_USER_ERROR
        except KeyboardInterrupt:
            print("painterly: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception as error:
            if not _is_out_of_memory(error):
                raise
            print(
                "painterly: error: out of memory; use a smaller --size, --precision bf16 or --device cpu",
                file=sys.stderr,
            )
            return EXIT_FAILED


def _command(arguments: list[str]) -> int:
    if arguments and arguments[0] == "models":
        return _models_command(arguments[1:])
    if arguments and arguments[0] == "experiment":
        from painterly.experiments.command import experiment_command

        return experiment_command(arguments[1:])
    if arguments and arguments[0] == "serve":
        from painterly.web.command import serve_command

        return serve_command(arguments[1:])
    if arguments and arguments[0] == "batch":
        from painterly.batch.command import batch_command

        return batch_command(arguments[1:])
    if arguments and arguments[0] == "video":
        from painterly.video.command import video_command

        return video_command(arguments[1:])
    return _stylize_command(arguments)


def entry() -> None:
    """The ``painterly`` console script."""
    sys.exit(main(restore_signals=False))


def _is_out_of_memory(error: BaseException) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(error, torch.OutOfMemoryError)


# --- stylize -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="painterly",
        description=(
            "Repaint a photo in the style of a painting (Gatys, Ecker and Bethge). "
            "Other commands: `painterly models` lists the network weights; `painterly experiment SPEC` "
            "runs a grid of stylisations and writes figures and a report."
        ),
    )
    parser.add_argument("content", help="the photo (content image)")
    parser.add_argument(
        "style",
        nargs="+",
        help="the painting (style image); several are blended (--style-weights) or placed (--style-masks)",
    )
    parser.add_argument("-o", "--output", required=True, help="output image, .png or .jpg")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="start from a named set of options")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument("--save-every", type=int, metavar="N", help="also save the image every N evaluations")
    parser.add_argument("--log", metavar="FILE.json", help="write the per-evaluation loss history as JSON")
    options.add_arguments(parser)
    return parser


def parse_stylize_arguments(arguments: Sequence[str]) -> tuple[argparse.Namespace, dict[str, Any]]:
    """Parse the command line; the preset's values become defaults that explicit options override."""
    return options.parse_command_line(build_parser(), arguments)


def _stylize_command(arguments: Sequence[str]) -> int:
    namespace, chosen = parse_stylize_arguments(arguments)
    from painterly.image import check_output_path

    inputs = _input_files(namespace, chosen)
    output = check_output_path(namespace.output, inputs=inputs)
    log_path = _check_log_path(namespace.log, inputs=[*inputs.values(), output])
    if namespace.save_every is not None:
        _check_snapshots(output, namespace.save_every, inputs)

    from painterly.api import stylize
    from painterly.image import save_image
    from painterly.progress import StylizeProgress, weights_progress_bar

    progress = None if namespace.quiet else StylizeProgress(sys.stderr)
    latest: dict[str, Iterate] = {}

    def on_iterate(iterate: Iterate) -> None:
        latest["iterate"] = iterate
        if progress is not None:
            progress.update(iterate)
        if namespace.save_every and iterate.evaluation % namespace.save_every == 0:
            with deferred_interrupts() as arrived:
                save_image(iterate.image, snapshot_path(output, iterate.evaluation))
            raise_deferred(arrived)

    try:
        result = stylize(
            namespace.content,
            namespace.style[0] if len(namespace.style) == 1 else namespace.style,
            callback=on_iterate,
            weights_progress=None if namespace.quiet else weights_progress_bar(sys.stderr),
            **chosen,
        )
    except KeyboardInterrupt:  # later signals are ignored now (painterly.interrupts)
        if progress is not None:
            progress.close()  # before printing where the image went
        return _save_interrupted(latest.get("iterate"), output)
    finally:
        if progress is not None:
            progress.close()

    with deferred_interrupts():
        result.save(output)
        if log_path is not None:
            _write_log(log_path, result, output)
    if not namespace.quiet:
        _print_summary(result, output)
    return 0  # a signal during the final save is moot: the picture is finished


def _input_files(namespace: argparse.Namespace, chosen: dict[str, Any]) -> dict[str, str]:
    """Every file the run reads, by role (for the checks that nothing is written over one)."""
    files = {"content image": namespace.content}
    for index, style in enumerate(namespace.style, start=1):
        files[f"style image {index}" if len(namespace.style) > 1 else "style image"] = style
    for index, mask in enumerate(chosen.get("style_masks") or (), start=1):
        files[f"style mask {index}"] = mask
    if chosen.get("content_mask"):
        files["content mask"] = chosen["content_mask"]
    if chosen.get("init") not in (None, *options.INIT_WORDS):
        files["init image"] = chosen["init"]
    if chosen.get("weights"):
        files["weights file"] = chosen["weights"]
    return files


def snapshot_path(output: Path, evaluation: int) -> Path:
    """Where ``--save-every`` writes the image of ``evaluation``: ``out_00050.png`` beside ``out.png``."""
    return output.with_name(f"{output.stem}_{evaluation:05d}{output.suffix}")


def _check_snapshots(output: Path, every: int, inputs: dict[str, str]) -> None:
    """Refuse ``--save-every`` when a snapshot it could write has the name of an input (or is one)."""
    if every < 1:
        raise PainterlyError(f"--save-every must be at least 1; got {every}")
    pattern = re.compile(rf"{re.escape(output.stem)}_\d{{5,}}{re.escape(output.suffix)}")
    folder = output.parent.resolve()
    for role, name in inputs.items():
        path = Path(name).expanduser()
        candidates = {(path.absolute().parent, path.name)}
        with contextlib.suppress(OSError, RuntimeError):
            candidates.add((path.resolve().parent, path.resolve().name))
        for parent, filename in candidates:
            if pattern.fullmatch(filename) and parent.resolve() == folder:
                raise PainterlyError(
                    f"--save-every writes snapshots named {output.stem}_NNNNN{output.suffix} beside {output}, "
                    f"and the {role} {name} has such a name; choose another -o name or rename the input"
                )


def _check_log_path(log: str | None, *, inputs: Sequence[str | Path]) -> Path | None:
    if log is None:
        return None
    path = Path(log)
    if path.suffix.lower() != ".json":
        raise PainterlyError(f"--log {log}: the history is written as JSON; give a path ending in .json")
    if not path.parent.exists() or not path.parent.is_dir():
        raise PainterlyError(f"--log {log}: folder {path.parent} does not exist; create it first")
    if path.is_dir():
        raise PainterlyError(f"--log {log} is a folder; give a file name ending in .json")
    for other in inputs:
        if Path(other).resolve() == path.resolve():
            raise PainterlyError(f"--log {log} is the same path as {other}; choose another name")
    return path


def _write_log(path: Path, result: StylizeResult, output: Path) -> None:
    """Write the history; if that fails, say that the image itself was written and is fine."""
    from painterly.atomic import write_text_atomically

    try:
        write_text_atomically(path, json.dumps(result.summary(), indent=1))
    except PainterlyError as error:
        raise PainterlyError(f"{error}; the image {output} was written and is fine") from None


def _save_interrupted(iterate: Iterate | None, output: Path) -> int:
    """Save the lowest-loss image so far at the final size."""
    from painterly.image import resize, save_image

    if iterate is None:
        print("painterly: interrupted before the first evaluation; nothing saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    image = iterate.image.detach().float().cpu()
    final_height, final_width, _ = iterate.schedule[-1]
    if (iterate.height, iterate.width) != (final_height, final_width):
        image = resize(image, (final_height, final_width))  # interrupted at a coarse scale
    save_image(image, output, metadata={"Software": "painterly", "painterly:interrupted": str(iterate.evaluation)})
    print(
        f"painterly: interrupted at evaluation {iterate.evaluation}/{iterate.total_evaluations} "
        f"(scale {iterate.scale}/{iterate.scales}, {iterate.width}x{iterate.height}); saved {output} "
        f"at {final_width}x{final_height}",
        file=sys.stderr,
    )
    return EXIT_INTERRUPTED


def _print_summary(result: StylizeResult, output: Path) -> None:
    lines = []  # the network was named when the run started (see StylizeProgress)
    if result.stop_reason:
        lines.append(f"note: {result.stop_reason}")
    losses = result.final_losses
    height, width = result.image.shape[-2:]
    lines.append(
        f"wrote {output} ({width}x{height}) in {result.seconds:.1f} s, {len(result.history)} evaluations on "
        f"{result.runtime}; content {losses.get('content', float('nan')):.4g}, "
        f"style {losses.get('style', float('nan')):.4g}"
    )
    print("\n".join(lines), file=sys.stderr)


# --- models --------------------------------------------------------------------------------


def _models_command(arguments: Sequence[str]) -> int:
    from painterly.models.weights import cache_dir, list_sources

    parser = argparse.ArgumentParser(prog="painterly models", description="List the network weight sources.")
    parser.parse_args(arguments)
    rows = list_sources()
    header = ("name", "network", "cached", "size", "licence", "description")
    table = [header]
    for row in rows:
        size = row.get("size_on_disk") or row.get("approx_download_bytes")
        size_text = f"{size / 1e6:.0f} MB" if size else "?"
        if not row.get("cached"):
            size_text = f"~{size_text} download"
        table.append(
            (row["name"], row["arch"], "yes" if row["cached"] else "no", size_text, row["licence"], row["description"])
        )
    widths = [max(len(str(line[column])) for line in table) for column in range(len(header) - 1)]
    for line in table:
        cells = [str(cell).ljust(width) for cell, width in zip(line[:-1], widths, strict=True)]
        print("  ".join([*cells, str(line[-1])]))
    print(f"\ncache: {cache_dir()}  (set PAINTERLY_HOME to move it)")
    return 0

if __name__ == "__main__":
    entry()
