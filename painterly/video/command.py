"""``painterly video IN.mp4 STYLE -o OUT.mp4``: a clip stylised frame by frame, consistent in time.

The method is short-term temporal consistency (Ruder, Dosovitskiy and Brox 2016):

1. the first frame is an ordinary stylisation (``--iterations``);
2. each later frame starts from the previous stylised frame warped onto it along the backward
   optical flow, and its objective gets the temporal loss (:mod:`painterly.video.temporal`) times
   ``--temporal-weight`` on the pixels where the flow is reliable (:mod:`painterly.video.flow`);
   starting so close to the answer, it needs fewer evaluations (``--frame-iterations``) at one
   scale, and takes L-BFGS unless the command chose a path (:func:`frame_settings`).
   ``--temporal-weight 0`` stylises every frame independently (the baseline that flickers).

Frames go to ``OUT.mp4.work/`` as they are made (:mod:`painterly.video.work`), so Ctrl-C or a
crash keeps them and the same command resumes; the clip is encoded once all are done, and
painterly's files in the work folder are then removed, and the folder with them when nothing else
is left in it (``--keep-frames`` keeps them). A folder holding files painterly did not write is
refused before any work: painterly never deletes them. ``--report`` prints the flicker measure
(:mod:`painterly.video.flicker`). The network comes from :mod:`painterly.runs.networks`, the exit
statuses (130 on Ctrl-C) from :mod:`painterly.runs.exits`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from painterly import options
from painterly.errors import PainterlyError
from painterly.presets import PRESETS
from painterly.runs.exits import EXIT_OK, report_interrupted
from painterly.settings import Settings

DEFAULT_TEMPORAL_WEIGHT = 100.0
FRAME_ITERATIONS_FRACTION = 0.3  # of --iterations, for the frames after the first
#: Options of the paper's optimisation path: when none of them is given, the frames after the first
#: are optimised with L-BFGS (see :func:`frame_settings`).
PATH_OPTIONS = ("optimizer", "learning_rate", "average", "jitter", "jitter_every", "pyramid", "bounds")


def build_parser(*, with_defaults: bool = True) -> argparse.ArgumentParser:
    """The command line; ``with_defaults=False`` leaves the options not given out of the namespace."""
    parser = argparse.ArgumentParser(
        prog="painterly video",
        description=(
            "Stylise a video frame by frame with optical-flow temporal consistency (Ruder et al. 2016). "
            "Frames are kept in OUT.work/ as they are made: run the same command again to resume."
        ),
    )
    parser.add_argument("input", metavar="IN", help="the video (MP4, MOV, MKV, WebM...)")
    parser.add_argument("style", nargs="+", metavar="STYLE", help="the painting(s)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.mp4", help="output video (.mp4, .mov or .mkv)")
    parser.add_argument(
        "--temporal-weight", type=float, default=DEFAULT_TEMPORAL_WEIGHT, metavar="W",
        help=f"weight of the temporal loss; 0 = independent frames (default: {DEFAULT_TEMPORAL_WEIGHT:g})",
    )  # fmt: skip
    parser.add_argument(
        "--frame-iterations", type=int, metavar="N",
        help=f"evaluations for each frame after the first (default: {FRAME_ITERATIONS_FRACTION:g} x --iterations; "
        "with --temporal-weight 0, --iterations)",
    )  # fmt: skip
    parser.add_argument("--flow", choices=("dis", "farneback"), default="dis", help="optical flow (default: dis)")
    parser.add_argument("--start", type=float, default=0.0, metavar="S", help="start at S seconds (default: 0)")
    parser.add_argument("--duration", type=float, metavar="S", help="stylise S seconds")
    parser.add_argument("--frames", type=int, metavar="N", help="stylise N frames")
    parser.add_argument("--report", action="store_true", help="print the flicker measure of the result")
    parser.add_argument("--keep-frames", action="store_true", help="keep OUT.work/ (the PNG frames) after encoding")
    parser.add_argument("--crf", type=int, default=18, metavar="Q", help="H.264 quality, 0-51, lower is better (18)")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="start from a named set of options")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    options.add_arguments(parser, with_defaults=with_defaults)
    return parser


def _check_numbers(namespace: argparse.Namespace) -> None:
    if not namespace.temporal_weight >= 0 or namespace.temporal_weight == float("inf"):
        raise PainterlyError(f"--temporal-weight must be a finite number, 0 or more; got {namespace.temporal_weight}")
    if namespace.frame_iterations is not None and namespace.frame_iterations < 1:
        raise PainterlyError(f"--frame-iterations must be at least 1; got {namespace.frame_iterations}")
    if not 0 <= namespace.start < 1e7:
        raise PainterlyError(f"--start must be 0 or more seconds; got {namespace.start:g}")
    if namespace.duration is not None and not 0 < namespace.duration < 1e7:
        raise PainterlyError(f"--duration must be above 0 seconds; got {namespace.duration:g}")
    if namespace.frames is not None and namespace.frames < 1:
        raise PainterlyError(f"--frames must be at least 1; got {namespace.frames}")
    if not 0 <= namespace.crf <= 51:
        raise PainterlyError(f"--crf must be between 0 and 51; got {namespace.crf}")


def frame_settings(
    chosen: dict[str, Any], namespace: argparse.Namespace, given: Collection[str]
) -> tuple[Settings, Settings]:
    """Validated settings of the first frame and of the later ones.

    A later frame starts from the previous picture warped onto it, already close to its answer.
    With the paper's method and no option of the optimisation path in ``given`` (the options the
    command line or its preset chose, :func:`painterly.options.given_options`), it is optimised with
    L-BFGS (its best iterate) rather than the default Adam with its moving average: L-BFGS's
    steps scale with the gradient, so it leaves alone what the warped start already gets right,
    while every Adam step moves every pixel by about the learning rate whatever its gradient, which
    repaints the strokes the temporal loss is there to keep. The first frame, started from the
    photo, keeps the default path (no dot grid in flat areas). Measured in README, "A video".
    """
    if chosen.get("style_masks") or chosen.get("content_mask"):
        raise PainterlyError("--style-masks and --content-mask are not supported for videos")
    first = options.validate(chosen)
    temporal = namespace.temporal_weight > 0
    iterations = namespace.frame_iterations
    if iterations is None:
        budget = first.schedule.iterations
        iterations = max(1, round(budget * FRAME_ITERATIONS_FRACTION)) if temporal else budget
    later = {**chosen, "iterations": iterations}
    if temporal:
        later["scales"] = 1  # the warped start is already at full size; coarse scales would blur it
        if first.network.method == "gatys" and not set(PATH_OPTIONS) & set(given):
            later["optimizer"] = "lbfgs"
    return first, options.validate(later)


def video_command(arguments: Sequence[str]) -> int:
    """Entry point of ``painterly video``; returns the exit status."""
    namespace, chosen = options.parse_command_line(build_parser(), arguments)
    _check_numbers(namespace)
    given = options.given_options(build_parser(with_defaults=False), arguments)
    first_settings, later_settings = frame_settings(chosen, namespace, given)

    from painterly.video import io
    from painterly.video.flow import import_cv2

    io.import_av()
    import_cv2()
    source = Path(namespace.input).expanduser()
    info = io.probe(source)
    output = io.check_output(namespace.output, source)
    styles = [Path(name).expanduser() for name in namespace.style]
    for style in styles:
        io.check_regular_file(style, "painting")
    size = io.working_size(info.height, info.width, first_settings.inputs.size)
    first_settings = first_settings.replace(size=max(size))
    later_settings = later_settings.replace(size=max(size))
    check_frames(first_settings, later_settings, size)  # before the paintings and the network load
    wanted = _frame_count(namespace, info)
    duration = namespace.duration
    if duration is None and namespace.frames is not None:
        duration = namespace.frames / float(info.fps)

    from painterly.styles import load_styles

    paintings = load_styles([str(style) for style in styles])
    from painterly.progress import weights_progress_bar
    from painterly.runs.networks import NetworkCache

    network, reason = NetworkCache().get(
        first_settings, progress=None if namespace.quiet else weights_progress_bar(sys.stderr)
    )
    for settings in (first_settings, later_settings):
        check_memory(network, settings, size, len(paintings))

    from painterly.hashing import sha256_of_files
    from painterly.video.work import WorkFolder, work_folder

    key_source = {
        "input": sha256_of_files([source]), "styles": sha256_of_files(styles),
        "first": first_settings.as_dict(), "later": later_settings.as_dict(),
        "temporal_weight": namespace.temporal_weight, "flow": namespace.flow, "start": namespace.start,
        "size": size, "network": network.description,
    }  # fmt: skip
    key = _key(key_source)
    work = WorkFolder.open(work_folder(output), key, size)
    from painterly.video.progress import VideoProgress

    progress = VideoProgress(sys.stderr, wanted, quiet=namespace.quiet)
    for message in work.notes:
        progress.say(f"note: {message}")
    progress.say(f"network: {reason or network.description}")
    progress.say(
        f"video: {source} at {size[1]}x{size[0]}, {float(info.fps):.3g} fps, "
        f"{wanted if wanted is not None else 'all'} frame(s); {len(work.frames)} done earlier, kept in {work.folder}"
    )
    started = time.perf_counter()
    try:
        count = stylise_frames(
            network, reason, paintings, io.read_frames(source, size, start=namespace.start, duration=duration,
                                                       frames=namespace.frames),
            work, first_settings, later_settings, namespace, progress,
        )  # fmt: skip
    except KeyboardInterrupt:
        progress.close()
        return report_interrupted(f"{len(work.frames)} frame(s) done are kept in {work.folder}")
    finally:
        progress.close()

    from painterly.interrupts import deferred_interrupts

    with deferred_interrupts():  # the clip is written whole, or not at all
        note = io.write_video(
            work.saved_frames(count), output, info.fps, audio_from=source if info.has_audio else None,
            start=namespace.start, duration=count / float(info.fps), crf=namespace.crf,
        )  # fmt: skip
    if note:
        progress.say(f"note: {note}")
    records = work.frames[:count]
    if not namespace.quiet:
        minutes = (time.perf_counter() - started) / 60
        print(f"wrote {output}: {count} frame(s) at {size[1]}x{size[0]}, {float(info.fps):.3g} fps"
              + (f", {len(progress.seconds) / minutes:.1f} frames/min" if progress.seconds and minutes > 0 else ""),
              file=sys.stderr)  # fmt: skip
    if namespace.report:
        print(report_text(records, namespace.temporal_weight))
    if not namespace.keep_frames:
        kept = work.remove()
        if kept:
            progress.say(f"note: {kept}")
    return EXIT_OK


def _key(values: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _frame_count(namespace: argparse.Namespace, info: Any) -> int | None:
    """How many frames will be made, as far as known before decoding (for the progress and ETA)."""
    counts = []
    if namespace.frames is not None:
        counts.append(namespace.frames)
    if namespace.duration is not None:
        counts.append(max(1, round(namespace.duration * float(info.fps))))
    if info.frames:
        counts.append(max(1, info.frames - round(namespace.start * float(info.fps))))
    elif info.duration:
        counts.append(max(1, round((info.duration - namespace.start) * float(info.fps))))
    return min(counts) if counts else None


def check_frames(first: Settings, later: Settings, size: tuple[int, int]) -> None:
    """Refuse, in the video's own words, frames too narrow for the network or too few evaluations for
    the scales; :func:`check_memory` then only has memory left to refuse ("too large")."""
    from painterly.options import MIN_SIDE
    from painterly.schedule import automatic_scale_count

    height, width = size
    if min(size) < MIN_SIDE:
        needed = math.ceil(MIN_SIDE * max(size) / min(size))
        raise PainterlyError(
            f"the clip's frames at --size {first.inputs.size} would be {width}x{height}, too narrow: the network needs "
            f"at least {MIN_SIDE} px on the short side; use --size {needed} or more"
        )
    from painterly.methods import METHODS

    method = METHODS.get(first.network.method)
    for settings, option in ((first.schedule, "--iterations"), (later.schedule, "--frame-iterations")):
        given = settings.scales
        count = automatic_scale_count(max(size)) if given is None else given
        if method is not None:
            count = method.phase_count(max(size), given)
        if settings.iterations < count:
            chosen = "--scales" if given is not None else f"chosen for {width}x{height} frames"
            raise PainterlyError(
                f"{option} {settings.iterations} is too few evaluations for {count} scales ({chosen}): each "
                f"scale needs at least one; give {option} {count} or more, or fewer --scales"
            )


def check_memory(network: Any, settings: Settings, size: tuple[int, int], paintings: int) -> None:
    """Refuse, before decoding anything, frames too large for this device's memory (one-line error).

    Narrow frames and too few evaluations are :func:`check_frames`'s: they are not "too large"."""
    import torch

    from painterly.api import Inputs, plan_run
    from painterly.masks import RegionMasks
    from painterly.terms import TermWeights

    shape = torch.zeros(1, 1, 1, 1).expand(1, 3, *size)  # only its size is read
    inputs = Inputs(shape, (), RegionMasks(), (1.0,) * paintings, lambda image: image)
    terms = TermWeights.from_settings(network, settings, [1.0] * paintings)
    try:
        plan_run(inputs, network, terms, settings)
    except PainterlyError as error:
        raise PainterlyError(f"the clip's frames at {size[1]}x{size[0]} are too large: {error}") from None


def stylise_frames(
    network: Any,
    reason: str | None,
    paintings: list[Any],
    frames: Iterator[Any],
    work: Any,
    first_settings: Settings,
    later_settings: Settings,
    namespace: argparse.Namespace,
    progress: Any,
) -> int:
    """Stylise the frames not yet in ``work``; returns how many frames the clip has (done ones included)."""
    from painterly.api import prepare_inputs, stylize_with
    from painterly.interrupts import deferred_interrupts, raise_deferred
    from painterly.video.flicker import frame_flicker
    from painterly.video.flow import optical_flow, reliable, to_array, to_tensor, warp
    from painterly.video.temporal import temporal_term

    temporal = namespace.temporal_weight > 0
    style = paintings[0] if len(paintings) == 1 else paintings
    done = len(work.frames)
    progress.skipped(done)
    previous_frame = previous_result = None
    count = 0
    for index, frame in enumerate(frames, start=1):
        count = index
        if index <= done:
            previous_frame = frame
            if index == done:
                previous_result = work.load_frame(index)
            continue
        begun = time.perf_counter()
        settings = first_settings if index == 1 else later_settings
        inputs = prepare_inputs(to_tensor(frame), style, settings)
        backward = mask = None
        if previous_frame is not None:  # also without the temporal loss: the flicker is measured
            backward = optical_flow(frame, previous_frame, namespace.flow)
            mask = reliable(optical_flow(previous_frame, frame, namespace.flow), backward)
        start = extra = None
        if temporal and previous_result is not None and backward is not None and mask is not None:
            import torch

            start = warp(previous_result, backward)
            weight = namespace.temporal_weight * reference_loss(work.frames)
            extra = temporal_term(start, torch.from_numpy(mask)[None, None], weight)

        def on_iterate(iterate: Any, index: int = index) -> None:
            progress.evaluation(index, iterate.evaluation, iterate.total_evaluations)

        result = stylize_with(
            network, inputs, settings, callback=on_iterate, reason=reason, start=start, extra_loss=extra
        )
        saved = to_tensor(to_array(result.image))  # as the PNG holds it: a resumed run continues identically
        flicker = None
        if backward is not None and mask is not None and previous_result is not None:
            flicker = frame_flicker(previous_result, saved, backward, mask)
        seconds = time.perf_counter() - begun
        record = {"losses": result.final_losses, "seconds": seconds, "flicker": flicker,
                  "reliable": None if mask is None else float(mask.mean())}  # fmt: skip
        with deferred_interrupts() as arrived:
            work.add(index, saved, record)
        losses = result.final_losses
        progress.frame(
            index, seconds,
            f"{len(result.history)} evaluations in {seconds:.1f} s, style {losses.get('style', float('nan')):.3g}"
            + (f", flicker {flicker:.2f}" if flicker is not None else ""),
        )  # fmt: skip
        raise_deferred(arrived)
        previous_frame, previous_result = frame, saved
    return count


def reference_loss(records: list[dict[str, Any]]) -> float:
    """The first frame's final objective: the unit of ``--temporal-weight``.

    The content and style losses' scale depends on the network (Caffe weights see 0..255 pixels,
    torchvision ones 0..1) and on the weights alpha and beta, while the temporal loss is a mean
    square on 0..1 pixels. Measured in units of the first frame's objective, one
    ``--temporal-weight`` suits every network: W = 100 makes a mean square deviation of 1 %
    (a pixel error of about 0.1) cost as much as the whole first frame's objective.
    """
    total = float(records[0]["losses"].get("total", 1.0)) if records else 1.0
    return total if total > 0 and total == total else 1.0


def report_text(records: list[dict[str, Any]], temporal_weight: float) -> str:
    """The ``--report`` lines: flicker and style loss over the frames."""
    from painterly.video.flicker import clip_flicker

    values = [record["flicker"] for record in records if record.get("flicker") is not None]
    styles = [record["losses"].get("style", float("nan")) for record in records]
    method = f"temporal weight {temporal_weight:g}" if temporal_weight > 0 else "independent frames"
    lines = [f"frames: {len(records)} ({method})"]
    if values:
        lines.append(
            f"flicker: {clip_flicker(values):.3f} (mean |s_i - warp(s_i-1)| on reliable pixels, 8-bit levels, "
            f"over {len(values)} frame pair(s))"
        )
    else:
        lines.append("flicker: not measured (one frame only)")
    if styles:
        lines.append(f"style loss: mean {sum(styles) / len(styles):.4g} over the frames")
    return "\n".join(lines)
