"""Running grids with the tiny network: resume logic, parallel jobs, and one grid end to end."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import painterly.cli as cli
import painterly.experiments.runner as runner
from painterly.experiments.grid import Run, plan_runs
from painterly.experiments.progress import GridProgress
from painterly.experiments.runner import run_grid
from painterly.experiments.spec import load_spec, make_pairs
from painterly.experiments.store import RESULT_FILE, code_fingerprint, is_finished, read_run

TINY_GRID = """
title = "Tiny grid"
study = "nothing in particular"
[options]
size = 32
iterations = {iterations}
precision = "fp32"
device = "cpu"
weights = "{weights}"
[axes.optimizer]
"L-BFGS" = {{ optimizer = "lbfgs" }}
"Adam" = {{ optimizer = "adam", learning_rate = 0.05 }}
"""


def tiny_spec(folder: Path, weights: Path, iterations: int = 5) -> Path:
    path = folder / "tiny.toml"
    path.write_text(TINY_GRID.format(iterations=iterations, weights=weights), encoding="utf-8")
    return path


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
