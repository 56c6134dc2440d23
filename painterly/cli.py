"""Command line: `painterly CONTENT STYLE -o OUT [options]`, `painterly models`.

The stylisation options are generated from the signature of :func:`painterly.stylize`, so the
library and the CLI cannot drift apart.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from painterly import api
from painterly.api import Iterate, Option, StylizeResult, stylize
from painterly.atomic import write_text_atomically
from painterly.errors import PainterlyError
from painterly.image import check_output_path, resize, save_image
from painterly.presets import PRESETS
from painterly.progress import StylizeProgress, weights_progress_bar

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        if arguments and arguments[0] == "models":
            return _models_command(arguments[1:])
        if arguments and arguments[0] == "experiment":
            from painterly.experiments.command import experiment_command

            return experiment_command(arguments[1:])
        return _stylize_command(arguments)
    except PainterlyError as error:
        print(f"painterly: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except torch.OutOfMemoryError:
        print(
            "painterly: error: out of memory; use a smaller --size, --precision bf16 or --device cpu",
            file=sys.stderr,
        )
        return 1


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
    _add_stylize_options(parser)
    return parser


def _add_stylize_options(parser: argparse.ArgumentParser) -> None:
    hints = typing.get_type_hints(api.stylize, include_extras=True)
    for name, parameter in inspect.signature(api.stylize).parameters.items():
        hint = hints.get(name)
        if typing.get_origin(hint) is not typing.Annotated:
            continue
        base, *extras = typing.get_args(hint)
        option = next(extra for extra in extras if isinstance(extra, Option))
        flag = "--" + name.replace("_", "-")
        kwargs: dict[str, Any] = {"dest": name, "default": parameter.default}
        base = _without_none(base)
        if base is bool:  # an on/off switch: --original-colors
            parser.add_argument(flag, dest=name, action="store_true", default=parameter.default, help=option.help)
            continue
        default_text = _default_text(parameter.default)
        if typing.get_origin(base) is typing.Literal:
            kwargs["choices"] = list(typing.get_args(base))
        elif typing.get_origin(base) in (Sequence, list, tuple):
            (item,) = typing.get_args(base)[:1]
            kwargs["nargs"] = "+"
            kwargs["type"] = _list_item_parser(item)
        else:
            kwargs["type"] = _scalar_parser(base)
        if option.metavar:
            kwargs["metavar"] = option.metavar
        # Help texts that explain their own default (e.g. "default: lbfgs 1.0, adam 0.02") keep it.
        kwargs["help"] = option.help if "default" in option.help else f"{option.help} (default: {default_text})"
        parser.add_argument(flag, **kwargs)


def _without_none(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(options) == 1:
            return options[0]
    return hint


def _default_text(value: Any) -> str:
    if isinstance(value, tuple | list):
        return " ".join(str(item) for item in value)
    if value is None:
        return "none"
    return str(value)


def _scalar_parser(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}") from None

    parse.__name__ = kind.__name__
    return parse


def _list_item_parser(kind: type) -> Any:
    """Items may also be given comma-separated: `--style-layers conv1_1,conv2_1`."""
    scalar = _scalar_parser(kind)

    def parse(text: str) -> Any:
        if kind is str and Path(text).exists():
            return text  # a file whose name holds a comma is not split
        parts = [part for part in text.split(",") if part.strip()]
        if len(parts) == 1:
            return scalar(parts[0].strip())
        return [scalar(part.strip()) for part in parts]

    parse.__name__ = kind.__name__
    return parse


def _flatten(values: Any) -> Any:
    if not isinstance(values, list):
        return values
    flat: list[Any] = []
    for value in values:
        flat.extend(value if isinstance(value, list) else [value])
    return tuple(flat)


def parse_stylize_arguments(arguments: Sequence[str]) -> tuple[argparse.Namespace, dict[str, Any]]:
    """Parse the command line; the preset's values become defaults that explicit options override."""
    parser = build_parser()
    preset_probe = argparse.ArgumentParser(add_help=False)
    preset_probe.add_argument("--preset", choices=sorted(PRESETS))
    known, _ = preset_probe.parse_known_args(arguments)
    if known.preset:
        parser.set_defaults(**PRESETS[known.preset])
    namespace = parser.parse_args(arguments)
    options = {
        name: _flatten(getattr(namespace, name))
        for name in inspect.signature(api.stylize).parameters
        if hasattr(namespace, name) and name not in ("content", "style")
    }
    return namespace, options


def _stylize_command(arguments: Sequence[str]) -> int:
    namespace, options = parse_stylize_arguments(arguments)
    inputs = [namespace.content, *namespace.style, *(options.get("style_masks") or ())]
    if options.get("content_mask"):
        inputs.append(options["content_mask"])
    if options.get("init") not in (None, "content", "noise", "style"):
        inputs.append(options["init"])
    if options.get("weights"):
        inputs.append(options["weights"])
    output = check_output_path(namespace.output, inputs=inputs)
    log_path = _check_log_path(namespace.log, inputs=[*inputs, output])
    if namespace.save_every is not None and namespace.save_every < 1:
        raise PainterlyError(f"--save-every must be at least 1; got {namespace.save_every}")

    progress = None if namespace.quiet else StylizeProgress(sys.stderr)
    latest: dict[str, Iterate] = {}

    def on_iterate(iterate: Iterate) -> None:
        latest["iterate"] = iterate
        if progress is not None:
            progress.update(iterate)
        if namespace.save_every and iterate.evaluation % namespace.save_every == 0:
            snapshot = output.with_name(f"{output.stem}_{iterate.evaluation:05d}{output.suffix}")
            save_image(iterate.image, snapshot)

    try:
        result = stylize(
            namespace.content,
            namespace.style[0] if len(namespace.style) == 1 else namespace.style,
            callback=on_iterate,
            weights_progress=None if namespace.quiet else weights_progress_bar(sys.stderr),
            **options,
        )
    except KeyboardInterrupt:
        if progress is not None:
            progress.close()  # before printing where the image went
        return _save_interrupted(latest.get("iterate"), output, namespace.quiet)
    finally:
        if progress is not None:
            progress.close()

    result.save(output)
    if log_path is not None:
        write_text_atomically(log_path, json.dumps(result.summary(), indent=1))
    if not namespace.quiet:
        _print_summary(result, output)
    return 0


def _check_log_path(log: str | None, *, inputs: Sequence[str | Path]) -> Path | None:
    if log is None:
        return None
    path = Path(log)
    if path.suffix.lower() != ".json":
        raise PainterlyError(f"--log {log}: the history is written as JSON; give a path ending in .json")
    if not path.parent.exists() or not path.parent.is_dir():
        raise PainterlyError(f"--log {log}: folder {path.parent} does not exist; create it first")
    for other in inputs:
        if Path(other).resolve() == path.resolve():
            raise PainterlyError(f"--log {log} is the same path as {other}; choose another name")
    return path


def _save_interrupted(iterate: Iterate | None, output: Path, quiet: bool) -> int:
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
    lines = []
    if result.model_reason:
        lines.append(f"network: {result.model_reason}")
    else:
        lines.append(f"network: {result.model}")
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
    raise SystemExit(main())
