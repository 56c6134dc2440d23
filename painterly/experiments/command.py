"""``painterly experiment SPEC``: run a grid of stylisations and write figures and a report.

Exit statuses are :mod:`painterly.runs.exits`': 1 when a run failed (the others are kept), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from painterly import options
from painterly.errors import PainterlyError
from painterly.experiments.grid import plan_runs
from painterly.experiments.progress import GridProgress
from painterly.experiments.results import collect_results
from painterly.experiments.runner import run_grid, unique_runs
from painterly.experiments.spec import builtin_names, check_options, load_spec, make_pairs, parse_pair_text, slugify
from painterly.experiments.store import is_finished
from painterly.extras import require
from painterly.runs.exits import EXIT_FAILED, EXIT_OK, report_interrupted

DEFAULT_OUT = "experiment-results"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="painterly experiment",
        description=(
            "Run a grid of stylisations described by a spec and write each image, its loss history (CSV, "
            "JSON), figures (PNG, SVG) and report.md/report.html. Finished runs are skipped when the "
            "command is repeated, so an interrupted grid resumes. Stylisation options given here replace "
            "the spec's shared options."
        ),
    )
    parser.add_argument("spec", metavar="SPEC", help=f"a built-in spec ({', '.join(builtin_names())}) or a .toml file")
    parser.add_argument("--pairs", nargs="+", metavar="CONTENT:STYLE", help="image pairs (replace the spec's pairs)")
    parser.add_argument(
        "--out", default=DEFAULT_OUT, metavar="DIR",
        help=f"output folder: runs/ (shared by experiments) and one folder per experiment (default: {DEFAULT_OUT})",
    )  # fmt: skip
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="runs in parallel processes (default: 1)")
    parser.add_argument(
        "--executor", choices=("local", "ray"), default="local",
        help="local: here or in --jobs processes; ray: one Ray task per run (pip install 'painterly[ray]')",
    )  # fmt: skip
    parser.add_argument(
        "--ray-address", metavar="ADDRESS", help="an existing Ray cluster (auto, ray://HEAD:10001); default: local"
    )
    parser.add_argument(
        "--spike-factor", type=float, metavar="X",
        help="a spike is a loss above X times its running minimum (default: the spec's, else 2)",
    )  # fmt: skip
    parser.add_argument(
        "--reach-within", type=float, metavar="F",
        help="'evaluations to reach' counts to within F of the best final loss (default: the spec's, else 0.05)",
    )  # fmt: skip
    parser.add_argument(
        "--rerun-stale", action="store_true",
        help="recompute finished runs that were computed by other painterly code (the report flags them)",
    )  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="list the runs and whether they are finished; run none")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    # Only options given on the command line override the spec's (whose defaults are not stylize's).
    group = parser.add_argument_group("stylisation options (override the spec's shared options)")
    options.add_arguments(group, with_defaults=False)
    return parser


def experiment_command(arguments: Sequence[str]) -> int:
    """Entry point of ``painterly experiment``; returns the exit status."""
    namespace = build_parser().parse_args(arguments)
    spec = load_spec(namespace.spec)
    overrides = check_options(options.from_namespace(namespace), "command line", Path.cwd())
    if namespace.pairs:
        pairs = make_pairs([parse_pair_text(text, Path.cwd(), "--pairs") for text in namespace.pairs])
    else:
        pairs = spec.pairs
    spike_factor = spec.spike_factor if namespace.spike_factor is None else namespace.spike_factor
    if not spike_factor > 1:
        raise PainterlyError(f"--spike-factor must be above 1; got {spike_factor:g}")
    reach_within = spec.reach_within if namespace.reach_within is None else namespace.reach_within
    if not 0 < reach_within < 1:
        raise PainterlyError(f"--reach-within must be between 0 and 1 (0.05 is 5 %); got {reach_within:g}")
    if namespace.jobs < 1:
        raise PainterlyError(f"--jobs must be at least 1; got {namespace.jobs}")
    if namespace.ray_address and namespace.executor != "ray":
        raise PainterlyError("--ray-address needs --executor ray")
    if not namespace.dry_run:  # the extras it will need, before the first run is computed
        require("plots", "matplotlib", "painterly experiment's figures")
        if namespace.executor == "ray":
            require("ray", "ray", "painterly experiment --executor ray")
    out = Path(namespace.out)
    if out.exists() and not out.is_dir():
        raise PainterlyError(f"--out {out} is a file; give a folder")

    runs, networks = plan_runs(spec, pairs, out, overrides)
    if not namespace.dry_run:  # once the spec is known good; a one-line error naming the folder
        from painterly.experiments.grid import RUNS_FOLDER
        from painterly.experiments.store import create_folder

        create_folder(out, "the --out folder")
        create_folder(out / RUNS_FOLDER, "the runs folder")  # an --out folder that is read-only fails here
    say = (lambda text: None) if namespace.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    for network in networks.values():
        say(f"network: {network.reason or network.description}")
    if namespace.dry_run:
        for run in runs:
            state = "finished" if is_finished(run.directory, run.key) else "to run"
            print(f"{run.name}: {state}  {run.directory}")
        distinct = len(unique_runs(runs))
        print(f"{len(runs)} run(s) in the grid, {distinct} distinct")
        return EXIT_OK

    progress = GridProgress(sys.stderr, quiet=namespace.quiet)
    try:
        outcome = run_grid(
            runs, jobs=namespace.jobs, events=progress, rerun_stale=namespace.rerun_stale,
            executor=namespace.executor, ray_address=namespace.ray_address,
        )  # fmt: skip
        progress.close()
        if outcome.failed:
            for run, error in outcome.failed:
                print(f"painterly: error: run {run.name} failed: {error}", file=sys.stderr)
            print("painterly: the other runs are kept; run the same command again to retry", file=sys.stderr)
            return EXIT_FAILED
        results = collect_results(spec, runs, spike_factor=spike_factor, reach_within=reach_within)
        folder = out / slugify(spec.name)
        from painterly.experiments.figures import make_figures  # matplotlib: the plots extra
        from painterly.experiments.report import write_report

        figures = make_figures(results, folder)
        markdown, page = write_report(results, figures, folder)
    except KeyboardInterrupt:  # Ctrl-C: the worker processes print nothing (see runner), neither does this
        progress.close()
        finished = sum(is_finished(run.directory, run.key) for run in unique_runs(runs))
        return report_interrupted(f"{finished} of {len(unique_runs(runs))} run(s) finished")
    finally:
        progress.close()
    say(
        f"{len(outcome.finished)} run(s) computed, {len(outcome.skipped)} finished earlier; "
        f"report: {markdown} and {page}"
    )
    return EXIT_OK
