"""Running grids (painterly.experiments.runner) with the tiny network: resume logic, parallel jobs, one
grid end to end; and its hardening (issues 9 and 13): typed events, damaged run folders, failures that
are not PainterlyErrors, an output folder that cannot be made, Ctrl-C with worker processes, two
commands sharing one output folder, and what a run's time measures."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import painterly.cli as cli
import painterly.experiments.runner as runner
import painterly.experiments.store as store
from painterly.experiments.grid import Run, plan_runs
from painterly.experiments.progress import GridProgress
from painterly.experiments.runner import run_grid
from painterly.experiments.spec import load_spec, make_pairs
from painterly.experiments.store import RESULT_FILE, code_fingerprint, is_finished, read_run
from tests.helpers import tiny_spec


def plan(folder: Path, weights: Path, images: tuple[Path, Path]) -> list[Run]:
    runs, _ = plan_runs(load_spec(tiny_spec(folder, weights)), make_pairs([images]), folder / "out")
    return runs


def counting_stylize(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the runs the runner stylizes (in this process); its warm-ups (no callback) do not count."""
    calls: list[str] = []
    real = runner.stylize

    def stylize(*arguments, **options):
        if options.get("callback") is not None:
            calls.append(options["optimizer"])
        return real(*arguments, **options)

    monkeypatch.setattr(runner, "stylize", stylize)
    return calls


def test_a_finished_run_is_skipped_and_a_partial_one_reruns(tiny_weights, small_images, tmp_path, monkeypatch) -> None:
    calls = counting_stylize(monkeypatch)
    runs = plan(tmp_path, tiny_weights, small_images)
    first = run_grid(runs)
    assert calls == ["lbfgs", "adam"] and len(first.finished) == 2 and not first.failed
    assert all(is_finished(run.directory, run.key) for run in runs)

    again = run_grid(runs)
    assert calls == ["lbfgs", "adam"] and len(again.skipped) == 2 and not again.finished

    lbfgs, adam = runs
    (lbfgs.directory / RESULT_FILE).unlink()  # as if killed before its result was written
    summary = json.loads((adam.directory / RESULT_FILE).read_text())
    summary["key"] = "0" * 64  # a result that belongs to other settings
    (adam.directory / RESULT_FILE).write_text(json.dumps(summary))
    third = run_grid(runs)
    assert calls == ["lbfgs", "adam", "lbfgs", "adam"] and len(third.finished) == 2
    assert read_run(lbfgs.directory).summary["key"] == lbfgs.key

    summary = json.loads((adam.directory / RESULT_FILE).read_text())
    assert summary["code"] == code_fingerprint()
    summary["code"] = "older code"
    (adam.directory / RESULT_FILE).write_text(json.dumps(summary))
    assert len(run_grid(runs).skipped) == 2  # reused by default ...
    assert len(run_grid(runs, rerun_stale=True).finished) == 1  # ... recomputed on request
    assert calls[-1] == "adam" and len(calls) == 5


def test_an_interrupted_grid_resumes(tiny_weights, small_images, tmp_path, monkeypatch) -> None:
    runs = plan(tmp_path, tiny_weights, small_images)
    real = runner.stylize

    def interrupted_adam(*arguments, **options):
        if options["optimizer"] == "adam":
            raise KeyboardInterrupt
        return real(*arguments, **options)

    monkeypatch.setattr(runner, "stylize", interrupted_adam)
    with pytest.raises(KeyboardInterrupt):
        run_grid(runs)
    assert is_finished(runs[0].directory, runs[0].key) and not is_finished(runs[1].directory, runs[1].key)
    monkeypatch.setattr(runner, "stylize", real)
    calls = counting_stylize(monkeypatch)
    outcome = run_grid(runs)
    assert calls == ["adam"] and [run.key for run in outcome.skipped] == [runs[0].key]


def test_parallel_jobs_write_the_same_files(tiny_weights, small_images, tmp_path) -> None:
    runs = plan(tmp_path, tiny_weights, small_images)
    events: list[runner.Event] = []
    outcome = run_grid(runs, jobs=2, events=events.append)
    assert not outcome.failed and len(outcome.finished) == 2
    kinds = {type(event) for event in events}
    assert kinds >= {runner.GridStarted, runner.RunStarted, runner.RunProgress, runner.RunFinished}
    for run in runs:
        record = read_run(run.directory)
        assert record.summary["threads"] >= 1 and len(record.history) == 5


def test_tiny_grid_end_to_end(tiny_weights, small_images, tmp_path, capsys, monkeypatch) -> None:
    content, style = small_images
    spec = tiny_spec(tmp_path, tiny_weights, iterations=12)
    out = tmp_path / "results"
    arguments = ["experiment", str(spec), "--pairs", f"{content}:{style}", "--out", str(out), "--spike-factor", "1.5"]
    assert cli.main(arguments) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "grid: 2 run(s), 0 finished earlier, 2 to run" in err and "report:" in err

    folder = out / "tiny"
    for name in ("losses", "loss_terms", "images", "snapshots_photo__painting"):
        assert (folder / f"{name}.png").stat().st_size > 1000
        assert (folder / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    markdown = (folder / "report.md").read_text()
    page = (folder / "report.html").read_text()
    assert "# Tiny grid" in markdown and "The reference study found: nothing in particular" in markdown
    assert "| photo × painting | L-BFGS |" in markdown and "| photo × painting | Adam |" in markdown
    assert "Seed: 0 (all runs)" in markdown and "Evaluation budget: 12 objective evaluations" in markdown
    assert "above 1.5x the lowest loss" in markdown and "![losses](losses.png)" in markdown
    assert f"source fingerprint {code_fingerprint()} (all runs)" in markdown and "colourfulness" in markdown
    assert page.count("data:image/png;base64,") == 4 and "<table>" in page
    summary = json.loads((folder / "summary.json").read_text())
    assert [run["setting"] for run in summary["runs"]] == ["L-BFGS", "Adam"]
    for run in summary["runs"]:
        directory = folder / run["folder"]
        csv_lines = (directory / "history.csv").read_text().splitlines()
        assert csv_lines[0] == "evaluation,scale,height,width,content_loss,style_loss,total_loss,seconds"
        assert len(csv_lines) == 13
        history = json.loads((directory / "history.json").read_text())
        assert len(history["history"]) == 12 and history["final_losses"] == run["final_losses"]
        assert (directory / "image.png").is_file() and (directory / "snapshots" / "eval_000010.png").is_file()
    lowest = min(summary["runs"], key=lambda run: run["final_losses"]["total"])
    assert lowest["evaluations_to_reach"] is not None

    calls = counting_stylize(monkeypatch)
    assert cli.main(arguments) == 0
    assert calls == [] and "2 finished earlier" in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_grid_progress_shows_the_grid_and_each_run(terminal: bool) -> None:
    stream = _Terminal() if terminal else io.StringIO()
    progress = GridProgress(stream)
    summary = {"seconds": 1.0, "final_losses": {"total": 12.5}}
    for event in [
        runner.GridStarted(total=4, skipped=1),
        runner.RunSkipped(key="a", name="p · one"),
        runner.RunStarted(key="b", name="p · two", total=20),
        runner.RunStarted(key="c", name="p · three", total=20),
        runner.RunWaiting(key="d", name="p · four"),
        *(runner.RunProgress(key="b", evaluation=n, total=20, loss=1.0, seconds=n) for n in range(1, 21)),
        runner.RunFinished(key="b", name="p · two", summary=summary),
        runner.RunFailed(key="c", name="p · three", error="out of memory"),
        runner.RunFinishedElsewhere(key="d", name="p · four"),
    ]:
        progress(event)
    progress.close()
    text = stream.getvalue()
    assert "done p · two in 1.0 s, total loss 12.5" in text and "FAILED p · three: out of memory" in text
    assert "waiting for p · four: another painterly process is computing it" in text
    assert "skip p · four (finished by another painterly process)" in text
    if not terminal:
        assert "grid: 4 run(s), 1 finished earlier, 3 to run" in text and "evaluation 20/20" in text


REPOSITORY = Path(__file__).resolve().parents[2]


# A grid for the subprocess tests: two quick runs and two long ones.
SLOW_GRID = """
title = "Slow grid"
[options]
size = 48
precision = "fp32"
device = "cpu"
weights = "{weights}"
[axes.optimizer]
"L-BFGS" = {{ optimizer = "lbfgs" }}
"Adam" = {{ optimizer = "adam", learning_rate = 0.05 }}
[axes]
iterations = {iterations}
"""


def slow_spec(folder: Path, weights: Path, iterations: list[int]) -> Path:
    path = folder / "slow.toml"
    path.write_text(SLOW_GRID.format(weights=weights, iterations=iterations), encoding="utf-8")
    return path


def experiment_arguments(spec: Path, images: tuple[Path, Path], out: Path, *extra: str) -> list[str]:
    content, style = images
    return ["experiment", str(spec), "--pairs", f"{content}:{style}", "--out", str(out), *extra]


def start_command(arguments: list[str]) -> subprocess.Popen[str]:
    """``python -m painterly.cli ARGUMENTS`` in its own process group (so that it can be sent Ctrl-C)."""
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "painterly.cli", *arguments], cwd=REPOSITORY, env=environment,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


class LineCollector:
    """Reads a stream in a thread so that a test can wait for a line to appear."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line)

    def wait_for(self, text: str, count: int = 1, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while sum(text in line for line in self.lines) < count:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise AssertionError(f"no {count} line(s) with {text!r} in:\n{self.text()}")
            time.sleep(0.05)

    def text(self) -> str:
        self.thread.join(timeout=5)
        return "".join(self.lines)


# --- A: typed events ---------------------------------------------------------------------------
def test_events_are_frozen_dataclasses_that_pickle() -> None:
    summary = {"seconds": 1.0, "final_losses": {"total": 2.0}}
    events = [
        runner.GridStarted(total=2, skipped=1),
        runner.RunSkipped(key="a", name="p · one"),
        runner.RunWaiting(key="a", name="p · one"),
        runner.RunStarted(key="a", name="p · one", total=10),
        runner.RunProgress(key="a", evaluation=3, total=10, loss=1.5, seconds=0.2),
        runner.RunFinished(key="a", name="p · one", summary=summary),
        runner.RunFinishedElsewhere(key="a", name="p · one"),
        runner.RunFailed(key="a", name="p · one", error="RuntimeError: boom"),
    ]
    for event in events:
        assert dataclasses.is_dataclass(event)
        assert pickle.loads(pickle.dumps(event)) == event  # worker processes send them through a queue
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.key = "b"  # type: ignore[misc]  # GridStarted has no key: frozen all the same


def test_a_grid_sends_typed_events(tiny_weights, small_images, tmp_path) -> None:
    events: list = []
    run_grid_outcome = runner.run_grid(plan(tmp_path, tiny_weights, small_images), events=events.append)
    assert len(run_grid_outcome.finished) == 2
    kinds = [type(event).__name__ for event in events]
    assert kinds[0] == "GridStarted" and kinds.count("RunStarted") == 2 and kinds.count("RunFinished") == 2
    assert kinds.count("RunProgress") == 10 and all(not isinstance(event, dict) for event in events)


# --- B: damaged run folders --------------------------------------------------------------------
def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _strip_result(path: Path) -> None:
    summary = json.loads(path.read_text())
    path.write_text(json.dumps({"key": summary["key"], "code": summary["code"]}))  # parses, but is not a result


DAMAGES = {
    "history.json truncated": ("history.json", _truncate),
    "result.json truncated": ("result.json", _truncate),
    "result.json without its fields": ("result.json", _strip_result),
    "image.png truncated": ("image.png", _truncate),
    "snapshot truncated": ("snapshots/eval_000010.png", _truncate),
}


@pytest.mark.parametrize("rerun_stale", [False, True], ids=["plain", "rerun-stale"])
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_run_is_recomputed(damage, rerun_stale, tiny_weights, small_images, tmp_path, capsys, monkeypatch):
    spec = tiny_spec(tmp_path, tiny_weights, iterations=12)
    out = tmp_path / "results"
    arguments = experiment_arguments(spec, small_images, out, *(["--rerun-stale"] if rerun_stale else []))
    assert cli.main(arguments) == 0, capsys.readouterr().err
    lbfgs_folder = next(path for path in (out / "runs").iterdir() if not path.name.startswith("."))
    name, spoil = DAMAGES[damage]
    key = json.loads((lbfgs_folder / "result.json").read_text())["key"]
    spoil(lbfgs_folder / name)
    assert not store.is_finished(lbfgs_folder, key)

    calls = counting_stylize(monkeypatch)
    capsys.readouterr()
    assert cli.main(arguments) == 0, capsys.readouterr().err
    assert len(calls) == 1 and store.is_finished(lbfgs_folder, key)
    assert "Traceback" not in capsys.readouterr().err


# --- C: an error that is not a PainterlyError --------------------------------------------------
def test_an_unexpected_error_fails_one_run_and_the_grid_goes_on(
    tiny_weights, small_images, tmp_path, capsys, monkeypatch
) -> None:
    real = runner.stylize

    def broken_adam(*arguments, **options):
        if options["optimizer"] == "adam":
            raise RuntimeError("boom")
        return real(*arguments, **options)

    monkeypatch.setattr(runner, "stylize", broken_adam)
    runs = plan(tmp_path, tiny_weights, small_images)
    outcome = runner.run_grid(runs, jobs=1)
    assert [run.key for run in outcome.finished] == [runs[0].key]
    assert [(run.key, error) for run, error in outcome.failed] == [(runs[1].key, "RuntimeError: boom")]

    spec = tiny_spec(tmp_path, tiny_weights)
    assert cli.main(experiment_arguments(spec, small_images, tmp_path / "cli", "--jobs", "1")) == 1
    lines = capsys.readouterr().err.splitlines()
    assert "painterly: error: run photo × painting · Adam failed: RuntimeError: boom" in lines
    assert not any("Traceback" in line for line in lines)


# --- D: an output folder that cannot be made ---------------------------------------------------
def test_an_out_folder_under_a_file_is_one_line(tiny_weights, small_images, tmp_path, capsys) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = blocker / "results"
    assert cli.main(experiment_arguments(tiny_spec(tmp_path, tiny_weights), small_images, out)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("painterly: error: ")
    assert str(out) in err and "Not a directory" in err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions and not root")
def test_an_out_folder_in_a_read_only_folder_is_one_line(tiny_weights, small_images, tmp_path, capsys) -> None:
    locked = tmp_path / "read-only"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        out = locked / "results"
        assert cli.main(experiment_arguments(tiny_spec(tmp_path, tiny_weights), small_images, out)) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(out) in err and "Permission denied" in err
    finally:
        locked.chmod(0o755)


# --- E: Ctrl-C with worker processes -----------------------------------------------------------
@pytest.mark.parametrize("target", ["process group", "parent alone"])
def test_ctrl_c_with_two_jobs_is_quiet_and_keeps_finished_runs(target, tiny_weights, small_images, tmp_path) -> None:
    spec = slow_spec(tmp_path, tiny_weights, [3, 100000])
    out = tmp_path / "results"
    process = start_command(experiment_arguments(spec, small_images, out, "--jobs", "2"))
    err = LineCollector(process.stderr)
    try:
        err.wait_for(" done ")  # a quick run finished: a long one is running now
        err.wait_for(" start ", count=3)
        time.sleep(0.5)
        if target == "process group":
            os.killpg(process.pid, signal.SIGINT)
        else:
            os.kill(process.pid, signal.SIGINT)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    text = err.text()
    assert process.returncode == 130, text
    assert "Traceback" not in text and "Error" not in text, text
    finished = [path for path in (out / "runs").iterdir() if (path / "result.json").is_file()]
    assert finished
    assert f"interrupted; {len(finished)} of 4 run(s) finished. Run the same command again to resume." in text


# --- F: two commands sharing one output folder -------------------------------------------------
def test_a_run_locked_by_another_process_is_waited_for(tiny_weights, small_images, tmp_path, monkeypatch) -> None:
    calls = counting_stylize(monkeypatch)
    lbfgs, adam = runs = plan(tmp_path, tiny_weights, small_images)
    events: list = []
    outcomes: list = []
    with store.run_lock(lbfgs.directory):  # as another process computing it
        grid = threading.Thread(target=lambda: outcomes.append(runner.run_grid(runs, events=events.append)))
        grid.start()
        deadline = time.monotonic() + 60
        while not any(isinstance(event, runner.RunWaiting) for event in events):
            assert time.monotonic() < deadline and grid.is_alive(), events
            time.sleep(0.05)
        runner.execute_run(lbfgs)  # "the other process" finishes its run
    grid.join(timeout=60)
    (outcome,) = outcomes
    assert [run.key for run in outcome.finished] == [adam.key]  # the free run went first
    assert [run.key for run in outcome.skipped] == [lbfgs.key] and sorted(calls) == ["adam", "lbfgs"]
    assert runner.RunFinishedElsewhere(key=lbfgs.key, name=lbfgs.name) in events


def test_two_commands_share_one_out_folder(tiny_weights, small_images, tmp_path) -> None:
    spec = slow_spec(tmp_path, tiny_weights, [60])
    arguments = experiment_arguments(spec, small_images, tmp_path / "results")
    first, second = start_command(arguments), start_command(arguments)
    texts = []
    for process in (first, second):
        _, err = process.communicate(timeout=300)
        texts.append(err)
        assert process.returncode == 0, err
    both = "".join(texts)
    assert "Traceback" not in both
    assert both.count("] done ") == 2, both  # each run computed once, by one of the two
    assert both.count("finished by another painterly process") + both.count("finished earlier)") == 2, both


# --- G: what a run's time measures -------------------------------------------------------------
def test_each_process_warms_up_once_before_its_first_run(tiny_weights, small_images, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(runner, "_warmed", set())
    seen: list[tuple[str, int]] = []
    real = runner.stylize

    def recording(*arguments, **options):
        seen.append(("run" if options.get("callback") else "warm-up", options["iterations"]))
        return real(*arguments, **options)

    monkeypatch.setattr(runner, "stylize", recording)
    runs: list[Run] = plan(tmp_path, tiny_weights, small_images)
    runner.run_grid(runs)
    assert seen == [("warm-up", 1), ("run", 5), ("run", 5)]  # both runs share a network and image sizes
    assert "warm-up" in (runner.execute_run.__doc__ or "")


def test_a_grid_with_the_method_as_its_axis(tiny_weights, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    spec = tmp_path / "methods.toml"
    spec.write_text(
        f'title = "Methods"\n[options]\nsize = 32\niterations = 6\nprecision = "fp32"\ndevice = "cpu"\n'
        f'weights = "{tiny_weights}"\n[axes.method]\n'
        + "".join(f'"{name}" = {{ method = "{name}" }}\n' for name in ("gatys", "strotss", "nnst")),
        encoding="utf-8",
    )
    out = tmp_path / "results"
    arguments = ["experiment", str(spec), "--pairs", f"{content}:{style}", "--out", str(out)]
    assert cli.main(arguments) == 0, capsys.readouterr().err
    summary = json.loads((out / "methods" / "summary.json").read_text())
    assert [run["setting"] for run in summary["runs"]] == ["gatys", "strotss", "nnst"]
    for run in summary["runs"]:
        history = json.loads((out / "methods" / run["folder"] / "history.json").read_text())
        assert history["settings"]["method"] == run["setting"] and len(history["history"]) == 6
