"""The benchmark package (`python -m benchmarks`): its table and JSON, on synthetic results and on
one tiny real run; the reference objective; --set and --reference-from."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import cli, measure, reference, report
from benchmarks.measure import Machine, Measurement
from benchmarks.reference import LossValues
from benchmarks.report import BenchmarkSettings, Report, SizeEntry
from painterly import options
from painterly.image import fit_long_side, image_size, load_image, resize
from painterly.network import Network, load_weights
from painterly.objective import Objective
from painterly.runtime import Runtime
from painterly.terms import TermWeights

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "benchmarks"
MACHINE = Machine(
    cpu="test CPU", cpu_count=2, torch_threads=2, torch="2", python="3", device="cpu", bf16_native=True
)  # fmt: skip


def fake_run(kind: str, size: int, seconds: float, memory: int, content: float, style: float) -> Measurement:
    return Measurement(
        kind="painterly" if kind == "painterly" else "reference",
        size=size,
        device="cpu",
        precision="bf16" if kind == "painterly" else "fp32",
        seconds_per_evaluation=seconds,
        seconds_end_to_end=seconds * 500,
        peak_memory_bytes=memory,
        estimated_peak_bytes=memory,
        final_losses=LossValues(content, style, content + 1e4 * style),
    )


def settings_for(**changes: object) -> BenchmarkSettings:
    objective = reference.objective_summary(reference.objective_settings({}))
    values = {
        "iterations": 500, "sizes": (512,), "skip_reference_above": 512, "warmup": 0, "content": "photo.jpg",
        "style": "painting.jpg", "weights": "vgg16-hed", "overrides": {}, "objective": objective, **changes,
    }  # fmt: skip
    return BenchmarkSettings(**values)  # type: ignore[arg-type]


def test_table_ratios_and_precision_check_from_synthetic_results() -> None:
    ours = fake_run("painterly", 512, 0.2, 500_000_000, 90.0, 2e-3)
    theirs = fake_run("reference", 512, 1.6, 1_000_000_000, 100.0, 4e-3)
    ratios = report.ratios(ours, theirs)
    assert ratios.seconds_end_to_end == pytest.approx(0.125)
    assert ratios.peak_memory == pytest.approx(0.5)
    assert ratios.style_loss == pytest.approx(0.5)
    fp32 = fake_run("painterly", 512, 0.4, 600_000_000, 100.0, 2e-3)
    bf16 = dataclasses.replace(
        fake_run("painterly", 512, 0.2, 500_000_000, 101.0, 2e-3),
        final_losses_bf16_network=LossValues(101.0, 2.002e-3, 101.0 + 20.02),
    )
    check = report.precision_check(bf16, fp32)
    assert check.percent_difference is not None and check.percent_difference.content == pytest.approx(1.0)
    assert check.same_image_percent_difference is not None
    assert check.same_image_percent_difference.style == pytest.approx(0.1)
    assert check.within_tolerance is True
    failed = Measurement(kind="painterly", size=1024, device="cpu", error="out of memory")
    result = Report(
        MACHINE,
        settings_for(sizes=(512, 1024)),
        (
            SizeEntry(512, ours, reference=theirs, ratios=ratios),
            SizeEntry(1024, failed, reference_skipped="above --skip-reference-above 512"),
        ),
        precision_check=check,
        complete=True,
    )
    table = report.format_table(result)
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["size", "run", "precision"]
    assert any(line.startswith("512") and "ratio p/r" in line and "0.125" in line for line in lines)
    assert any("failed: out of memory" in line for line in lines)
    assert any("skipped: above --skip-reference-above 512" in line for line in lines)
    assert "within 2 %: yes" in lines[-2]
    assert "scored by the network in bf16" in lines[-1] and "style +0.10 %" in lines[-1]

    written = json.loads(json.dumps(result.to_json()))  # what is written is plain JSON
    assert set(written) == {"machine", "settings", "sizes", "precision_check", "complete"}
    assert written["sizes"][1]["painterly"] == {
        "kind": "painterly", "size": 1024, "device": "cpu", "error": "out of memory",
    }  # fmt: skip
    assert "reference" not in written["sizes"][1] and "ratios" not in written["sizes"][1]
    assert written["sizes"][0]["ratios"]["seconds_end_to_end"] == pytest.approx(0.125)
    assert written["precision_check"]["percent_difference"]["content"] == pytest.approx(1.0)
    assert set(written["precision_check"]["runs"]) == {"bf16", "fp32"}


@pytest.mark.parametrize("name", sorted(path.name for path in DOCS.glob("*.json")))
def test_measurements_read_and_write_the_published_json_unchanged(name: str) -> None:
    """The JSON keys stay those of docs/benchmarks/ (the README cites them)."""
    published = json.loads((DOCS / name).read_text(encoding="utf-8"))
    Machine.from_json(published["machine"])
    runs = [entry[kind] for entry in published["sizes"] for kind in ("painterly", "reference") if kind in entry]
    check = published.get("precision_check") or {}
    runs += list(check.get("runs", {}).values())
    assert runs
    for run in runs:
        assert Measurement.from_json(run).to_json() == run


def test_reference_from_accepts_the_same_measurement_and_refuses_others(tmp_path: Path) -> None:
    published = DOCS / "cpu-512-reference.json"
    earlier = json.loads(published.read_text(encoding="utf-8"))
    machine = Machine.from_json(earlier["machine"])
    written = earlier["settings"]
    settings = settings_for(
        iterations=written["iterations"], content=written["content"], style=written["style"],
        weights=written["weights"],
    )  # fmt: skip
    # Written before tv_weight was part of the objective: its references ran without it, as now by default.
    assert "tv_weight" not in written["objective"]
    reused = report.earlier_references(str(published), settings, machine)
    assert set(reused) == {512}
    assert reused[512].reused_from == str(published) and reused[512].final_losses is not None

    with pytest.raises(ValueError, match="different 'iterations' setting; run the reference again"):
        report.earlier_references(str(published), dataclasses.replace(settings, iterations=499), machine)
    tv = reference.objective_summary(reference.objective_settings({"tv_weight": 1.0}))
    with pytest.raises(ValueError, match="different 'objective' setting"):
        report.earlier_references(str(published), dataclasses.replace(settings, objective=tv), machine)
    with pytest.raises(ValueError, match="measured with a different 'cpu_count'"):
        report.earlier_references(str(published), settings, dataclasses.replace(machine, cpu_count=64))
    broken = tmp_path / "broken.json"
    broken.write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="cannot read the earlier benchmark"):
        report.earlier_references(str(broken), settings, machine)


def test_set_overrides_are_read_by_the_option_schema() -> None:
    overrides = cli.parse_overrides([
        "style_weight=1e3", "style-layers=conv1_1,conv2_1", "style_layer_weights=[0.25, 0.75]",
        'compile="reduce-overhead"', "tolerance=none", "scales=1", "pooling=max",
    ])  # fmt: skip
    assert overrides == {
        "style_weight": 1000.0, "style_layers": ["conv1_1", "conv2_1"], "style_layer_weights": [0.25, 0.75],
        "compile": "reduce-overhead", "tolerance": None, "scales": 1, "pooling": "max",
    }  # fmt: skip
    assert cli.parse_overrides(["compile=reduce-overhead"]) == {"compile": "reduce-overhead"}
    settings = reference.objective_settings(overrides)
    assert settings.objective.style_weight == 1000.0 and settings.network.pooling == "max"
    assert settings.schedule.step == options.DEFAULT_LEARNING_RATES["lbfgs"]
    assert reference.objective_summary(settings)["learning_rate"] == options.DEFAULT_LEARNING_RATES["lbfgs"]
    assert "compile" not in reference.objective_summary(settings)  # painterly's alone
    for item, message in [
        ("size=256", "the benchmark sets size itself"),
        ("model=vgg19", "the benchmark sets model itself"),
        ("style_wieght=1", "did you mean 'style_weight'"),
        ("style_weight=-1", "style-weight must be"),
        ("pooling=median", "unknown pooling"),
        ("style_weight", "needs NAME=VALUE"),
    ]:
        with pytest.raises(SystemExit, match=message):
            cli.parse_overrides([item])


def test_run_specs_travel_to_the_child_as_json() -> None:
    spec = measure.RunSpec(
        kind="reference", size=64, device="cpu", iterations=5, content="/a.png", style="/b.png", weights=None,
        model="vgg16-hed", precision="fp32", overrides={"style_layers": ["conv1_1"]},
    )  # fmt: skip
    assert measure.RunSpec.from_json(spec.to_json()) == spec


def test_reference_loop_evaluates_painterlys_objective(tiny_weights: Path, small_images: tuple[Path, Path]) -> None:
    """The reference's first evaluation is painterly's Objective at the start image, to the bit."""
    content, style = small_images
    settings = reference.objective_settings({}, 32)
    weights = reference.load_network_weights("vgg16-hed", str(tiny_weights), {})
    run = reference.reference_stylize(content, style, 32, weights, settings, 3, "cpu")
    assert len(run.losses) == len(run.seconds) == 3
    assert run.image.shape[-2:] == (24, 32) and run.image.min() >= 0 and run.image.max() <= 1
    assert min(loss.total for loss in run.losses) < run.losses[0].total

    photo, painting = load_image(content), load_image(style)
    size = fit_long_side(*image_size(photo), 32)
    loaded, _ = load_weights("vgg16-hed", str(tiny_weights), "auto")
    validated = options.validate({"size": 32})
    network = Network(loaded, validated.network.layers,
                      Runtime(torch.device("cpu"), "fp32", channels_last=False))  # fmt: skip
    objective = Objective(network, TermWeights.from_settings(network, validated, blend=(1.0,)), photo, [painting], size)
    with torch.no_grad():
        expected = LossValues.from_terms(objective(resize(photo, size)))
    assert run.losses[0] == expected


@pytest.mark.slow
def test_a_tiny_run_writes_the_table_and_json(
    tiny_weights: Path, small_images: tuple[Path, Path], tmp_path: Path
) -> None:
    content, style = small_images
    out = tmp_path / "results" / "benchmark.json"
    command = [
        sys.executable, "-m", "benchmarks", "--device", "cpu", "--weights", str(tiny_weights), "--pair",
        str(content), str(style), "--sizes", "32", "--iterations", "5", "--out", str(out),
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd=REPO)
    assert completed.returncode == 0, completed.stderr[-3000:]
    written = json.loads(out.read_text())
    assert written["complete"] is True
    entry = written["sizes"][0]
    for kind in ("painterly", "reference"):
        run = entry[kind]
        assert "error" not in run, run
        assert run["evaluations"] == 5
        assert run["seconds_end_to_end"] > 0 and run["peak_memory_bytes"] > 0
        assert set(run["final_losses"]) == {"content", "style", "total"}
    assert entry["reference"]["precision"] == "fp32"
    assert set(entry["ratios"]) >= {"seconds_per_evaluation", "seconds_end_to_end", "peak_memory", "style_loss"}
    check = written["precision_check"]
    assert check["size"] == 32 and set(check["percent_difference"]) == {"content", "style", "total"}
    assert "ratio p/r" in completed.stdout and "bf16 vs fp32 at 32 px" in completed.stdout

    # The same measurement again, reusing the (slow) reference run of the first one.
    again = tmp_path / "results" / "again.json"
    reuse = [*command[:-1], str(again), "--reference-from", str(out), "--precision-check-size", "0"]
    completed = subprocess.run(reuse, capture_output=True, text=True, timeout=600, check=False, cwd=REPO)
    assert completed.returncode == 0, completed.stderr[-3000:]
    reused = json.loads(again.read_text())["sizes"][0]
    assert reused["reference"] == {**entry["reference"], "reused_from": str(out)}
    assert reused["ratios"]["content_loss"] == pytest.approx(
        reused["painterly"]["final_losses"]["content"] / entry["reference"]["final_losses"]["content"]
    )
    assert f"reference runs reused from {out}" in completed.stdout

    # ... but not for another budget: its reference would measure something else.
    other = [*reuse[: reuse.index("5")], "6", *reuse[reuse.index("5") + 1 :]]
    completed = subprocess.run(other, capture_output=True, text=True, timeout=600, check=False, cwd=REPO)
    assert completed.returncode == 2
    assert "was made with a different 'iterations' setting; run the reference again" in completed.stderr


def test_missing_default_pair_skips_with_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "DEFAULT_PAIR", (tmp_path / "none.jpg", tmp_path / "neither.jpg"))
    assert cli.main(["--device", "cpu", "--out", str(tmp_path / "b.json")]) == 0
    assert not (tmp_path / "b.json").exists()


def test_an_invalid_set_is_refused_before_anything_runs(
    tiny_weights: Path, small_images: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content, style = small_images
    arguments = ["--device", "cpu", "--weights", str(tiny_weights), "--pair", str(content), str(style),
                 "--sizes", "32", "--out", str(tmp_path / "b.json")]  # fmt: skip
    assert cli.main([*arguments, "--set", "style_layer_weights=1,2,3"]) == 2
    assert "3 style layer weights for 5 style layers" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


def test_time_to_loss_is_the_first_time_at_or_below_the_target() -> None:
    from benchmarks.measure import Measurement, time_to_loss

    run = Measurement(kind="painterly", size=64, final_scale_losses=((1.0, 10.0), (2.5, 5.0), (3.0, 4.0)))
    assert time_to_loss(run, 5.0) == 2.5
    assert time_to_loss(run, 3.0) is None
    assert time_to_loss(Measurement(kind="reference", size=64), 1.0) is None
    again = Measurement.from_json(run.to_json())
    assert again.final_scale_losses == run.final_scale_losses


def test_a_later_method_is_measured_without_the_papers_reference(
    tiny_weights: Path, small_images: tuple[Path, Path], tmp_path: Path
) -> None:
    content, style = small_images
    out = tmp_path / "nnst.json"
    command = [
        sys.executable, "-m", "benchmarks", "--device", "cpu", "--weights", str(tiny_weights), "--pair",
        str(content), str(style), "--sizes", "32", "--iterations", "4", "--out", str(out), "--set", "method=nnst",
        "--precision-check-size", "0",
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd=REPO)
    assert completed.returncode == 0, completed.stderr[-3000:]
    entry = json.loads(out.read_text())["sizes"][0]
    assert entry["painterly"]["evaluations"] == 4 and entry["painterly"]["seconds_end_to_end"] > 0
    assert entry["reference_skipped"] == "the reference is the paper's method, not nnst" and "reference" not in entry
    assert "skipped: the reference is the paper's method, not nnst" in completed.stdout
