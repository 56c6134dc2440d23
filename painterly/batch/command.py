"""``painterly batch CONTENT... --style STYLE... -o OUTDIR``: every photo in the style of every painting.

The network is loaded once for the whole batch. After every picture the image and the manifest
(:mod:`painterly.batch.manifest`) are written atomically, so a crash or Ctrl-C keeps everything
finished, and running the same command again skips it (unless its inputs or settings changed).
One batch at a time writes a folder (:mod:`painterly.batch.lock`); the folder cannot be a photo
or painting folder of the same command; a file there with an output's name that no manifest
row records is the user's and is never overwritten (that picture fails, with what to do).
A picture that fails (an unreadable photo, say) is reported on one line and the others go on;
the exit status is then 1. Ctrl-C exits with 130 (:mod:`painterly.runs.exits`). The pictures are
computed by an executor (:mod:`painterly.batch.executor`) over the backends of :mod:`painterly.runs`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from painterly import options
from painterly.batch.lock import batch_lock
from painterly.batch.manifest import DONE, FAILED, Entry, Manifest, settings_key
from painterly.batch.plan import Job, expand, plan_jobs
from painterly.batch.progress import BatchProgress
from painterly.errors import PainterlyError
from painterly.hashing import sha256_of_file
from painterly.presets import PRESETS
from painterly.runs.exits import EXIT_FAILED, EXIT_OK, report_interrupted
from painterly.settings import Settings

GRID_FILE = "grid.jpg"
EXECUTORS = ("local", "ray")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="painterly batch",
        description=(
            "Stylise every photo in the style of every painting, on one network. Outputs are named "
            "PHOTO__PAINTING.png; manifest.csv/manifest.json record inputs, settings, losses and times; "
            "grid.jpg shows them all. Run the same command again to resume: finished pictures are skipped."
        ),
    )
    parser.add_argument("content", nargs="+", metavar="CONTENT", help="photos: image files or folders of them")
    parser.add_argument(
        "--style", nargs="+", required=True, metavar="STYLE", help="paintings: image files or folders of them"
    )
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder (created if needed)")
    parser.add_argument("--format", choices=("png", "jpg"), default="png", help="output image format (default: png)")
    parser.add_argument(
        "--executor", choices=EXECUTORS, default="local",
        help="local: this process; ray: one Ray task per picture (pip install 'painterly[ray]')",
    )  # fmt: skip
    parser.add_argument(
        "--ray-address", metavar="ADDRESS",
        help="an existing Ray cluster (auto, or ray://HEAD:10001); default: start a local one",
    )  # fmt: skip
    parser.add_argument(
        "--ray-cpus", type=float, default=1.0, metavar="N", help="CPUs each Ray task declares (default: 1)"
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), help="start from a named set of options")
    parser.add_argument("--no-grid", action="store_true", help="do not write grid.jpg")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    options.add_arguments(parser)
    return parser


def parse_arguments(arguments: Sequence[str]) -> tuple[argparse.Namespace, dict[str, Any]]:
    return options.parse_command_line(build_parser(), arguments)


def batch_command(arguments: Sequence[str]) -> int:
    """Entry point of ``painterly batch``; returns the exit status."""
    namespace, chosen = parse_arguments(arguments)
    if chosen.get("style_masks") or chosen.get("content_mask"):
        raise PainterlyError("--style-masks and --content-mask belong to one photo; use `painterly` for such a picture")
    if namespace.ray_address and namespace.executor != "ray":
        raise PainterlyError("--ray-address needs --executor ray")
    if not namespace.ray_cpus > 0:
        raise PainterlyError(f"--ray-cpus must be above 0; got {namespace.ray_cpus:g}")
    settings = options.validate(chosen)
    contents = expand(namespace.content, "photo")
    styles = expand(namespace.style, "painting")
    out = Path(namespace.output).expanduser()
    check_not_an_input_folder(out, {"photo": namespace.content, "painting": namespace.style})
    out = prepare_folder(out)
    jobs = plan_jobs(contents, styles, out, suffix=f".{namespace.format}")
    check_outputs(jobs, [*contents, *styles])
    with batch_lock(out):
        return _run(namespace, settings, contents, styles, out, jobs)


def _run(
    namespace: argparse.Namespace, settings: Settings, contents: list[Path], styles: list[Path], out: Path,
    jobs: list[Job],
) -> int:  # fmt: skip
    """The batch itself, under the folder's lock: what is finished, what to compute, then compute it."""
    progress = BatchProgress(sys.stderr, quiet=namespace.quiet)
    manifest = Manifest.load(out)
    warning = manifest.keep_damaged()
    if warning is not None:
        progress.say(f"painterly: warning: {warning}")
    key = settings_key(settings)
    hashes: dict[Path, str | PainterlyError] = {}
    todo, failed = _triage(jobs, manifest, key, settings, hashes, progress)
    skipped = len(jobs) - len(todo) - failed
    if not namespace.quiet:
        progress.say(f"batch: {len(jobs)} picture(s), {skipped} finished earlier, {len(todo)} to compute -> {out}")

    finished = 0
    try:
        if todo:
            executor = _executor(namespace, settings, progress)
            from painterly.interrupts import deferred_interrupts, raise_deferred

            progress.start(len(todo))
            try:
                for outcome in executor.run([_task(job, settings) for job in todo]):
                    job = outcome.task.job
                    with deferred_interrupts() as arrived:
                        if outcome.result is not None:
                            ok, line = _save(outcome.result, job, manifest, key, hashes)
                        else:
                            ok, line = False, f"{job.name}: {outcome.error}"
                            _record_failure(manifest, job, key, settings.as_dict(), outcome.error or "failed", hashes)
                    finished += ok
                    failed += not ok
                    progress.picture(job.name, line if ok else f"painterly: error: {line}", failed=not ok)
                    raise_deferred(arrived)
            finally:
                progress.close()
                executor.close()
        if not namespace.no_grid:
            from painterly.batch.grid import write_grid

            try:
                write_grid([job for job in jobs if manifest.owns(job.name)], contents, styles, out / GRID_FILE)
            except OSError as error:
                progress.say(f"painterly: warning: could not write {out / GRID_FILE}: {error.strerror or error}")
    except KeyboardInterrupt:
        progress.close()
        return report_interrupted(f"{skipped + finished} of {len(jobs)} picture(s) finished and kept in {out}")
    if not namespace.quiet:
        progress.say(
            f"batch: {finished} computed, {skipped} finished earlier, {failed} failed; "
            f"manifest: {out / 'manifest.csv'}"
        )
    if failed:
        progress.say(
            "painterly: the other pictures are kept; fix the inputs (or move the files) named above "
            "and run the command again"
        )
        return EXIT_FAILED
    return EXIT_OK


def _triage(
    jobs: Sequence[Job], manifest: Manifest, key: str, settings: Settings, hashes: dict[Path, Any],
    progress: BatchProgress,
) -> tuple[list[Job], int]:  # fmt: skip
    """The jobs to compute, and how many failed already: a picture whose file painterly did not
    write (kept, never overwritten), or whose inputs cannot be read (recorded in the manifest)."""
    todo, failed = [], 0
    for job in jobs:
        if not _may_write(job, manifest):
            progress.say(
                f"painterly: error: {job.name}: {job.output} exists and is not recorded in {manifest.path}; "
                "painterly does not overwrite it: move or delete it to make this picture"
            )
            failed += 1
            continue
        pair = [_hash(path, hashes) for path in (job.content, job.style)]
        problem = next((value for value in pair if isinstance(value, PainterlyError)), None)
        if problem is not None:  # unreadable input: reported, recorded, the others go on
            _record_failure(manifest, job, key, settings.as_dict(), str(problem), hashes)
            progress.say(f"painterly: error: {job.name}: {problem}")
            failed += 1
        elif not manifest.is_finished(job, key, (str(pair[0]), str(pair[1]))):
            todo.append(job)
    return todo, failed


def prepare_folder(out: Path) -> Path:
    """Create the output folder (and its parents); a file there, or no write access, is an error."""
    if out.exists() and not out.is_dir():
        raise PainterlyError(f"-o {out} is a file; give a folder for the batch's pictures")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PainterlyError(f"cannot create the output folder {out}: {error.strerror or error}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise PainterlyError(f"the output folder {out} is not writable; choose another -o folder")
    return out


def check_not_an_input_folder(out: Path, folders: dict[str, Sequence[str]]) -> None:
    """Refuse an output folder that is a photo or painting folder given on the command line.

    A folder argument stands for the images in it, so the pictures written there would be
    taken as more photos (or paintings) by the next run of the same command, which then finds
    its outputs among its inputs and can never resume. A subfolder is fine: folders are not
    searched below their own level.
    """
    target = out.resolve()
    for role, arguments in folders.items():
        for argument in arguments:
            folder = Path(argument).expanduser()
            if folder.is_dir() and folder.resolve() == target:
                raise PainterlyError(
                    f"-o {out} is the {role} folder {folder}: the pictures written there would be taken as "
                    f"{role}s by the next run; choose another -o folder, such as {folder / 'painted'}"
                )


def check_outputs(jobs: Sequence[Job], inputs: Sequence[Path]) -> None:
    """Refuse a batch whose output would overwrite one of its inputs."""
    resolved = {path.resolve(): path for path in inputs}
    for job in jobs:
        clash = resolved.get(job.output.resolve())
        if clash is not None:
            raise PainterlyError(
                f"the output {job.output} would overwrite the input {clash}; choose another -o folder"
            )


def _may_write(job: Job, manifest: Manifest) -> bool:
    """Whether the batch may write ``job``'s output: nothing is there, or a manifest row records it."""
    return manifest.owns(job.name) or not os.path.lexists(job.output)


def _hash(path: Path, hashes: dict[Path, str | PainterlyError]) -> str | PainterlyError:
    if path not in hashes:
        try:
            hashes[path] = sha256_of_file(path)
        except PainterlyError as error:
            hashes[path] = error
    return hashes[path]


def _task(job: Job, settings: Settings) -> Any:
    from painterly.batch.executor import Task

    return Task(job, settings)


def _executor(namespace: argparse.Namespace, settings: Settings, progress: BatchProgress) -> Any:
    """The executor of ``--executor``, with the network (or its weights) loaded once."""
    from painterly.batch import executor

    if namespace.executor == "ray":
        from painterly.network import load_weights
        from painterly.runs.ray import import_ray

        import_ray()  # a missing Ray is an error before the weights load
        chosen = settings.network
        weights, _ = load_weights(chosen.model, chosen.weights, chosen.weights_preprocessing)
        gpus = 1.0 if chosen.device == "cuda" else 0.0
        return executor.RayExecutor(
            weights, address=namespace.ray_address, num_cpus=namespace.ray_cpus, num_gpus=gpus
        )
    from painterly.progress import weights_progress_bar
    from painterly.runs.networks import NetworkCache

    downloads = None if namespace.quiet else weights_progress_bar(sys.stderr)
    network, reason = NetworkCache().get(settings, progress=downloads)
    if not namespace.quiet:
        progress.say(f"network: {reason or network.description}")

    def on_iterate(task: Any, iterate: Any) -> None:
        progress.evaluation(task.job.name, iterate.evaluation, iterate.total_evaluations)

    return executor.LocalExecutor(network, reason, on_iterate=on_iterate)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _save(result: Any, job: Job, manifest: Manifest, key: str, hashes: dict[Path, Any]) -> tuple[bool, str]:
    """Write the picture, then its manifest row; a write error fails this picture only."""
    try:
        result.save(job.output)
    except PainterlyError as error:
        message = str(error)
        _record_failure(manifest, job, key, result.settings, message, hashes)
        return False, f"{job.name}: {message}"
    manifest.record(
        Entry(
            output=job.name, status=DONE, content=str(job.content), style=str(job.style),
            content_sha256=str(hashes[job.content]), style_sha256=str(hashes[job.style]), settings_key=key,
            settings=result.settings, final_losses=result.final_losses, seconds=result.seconds, finished_at=_now(),
        )
    )  # fmt: skip
    losses = result.final_losses
    return True, (
        f"wrote {job.output} in {result.seconds:.1f} s; content {losses.get('content', float('nan')):.4g}, "
        f"style {losses.get('style', float('nan')):.4g}"
    )


def _record_failure(
    manifest: Manifest, job: Job, key: str, settings: dict[str, Any], error: str, hashes: dict[Path, Any]
) -> None:
    manifest.record(
        Entry(
            output=job.name, status=FAILED, content=str(job.content), style=str(job.style),
            content_sha256=_text(hashes.get(job.content)), style_sha256=_text(hashes.get(job.style)),
            settings_key=key, settings=settings, error=error, finished_at=_now(),
        )
    )  # fmt: skip


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
