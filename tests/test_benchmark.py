"""benchmarks/benchmark.py: its table and JSON, on synthetic results and on one tiny real run."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "benchmark.py"


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("painterly_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_run(kind: str, size: int, seconds: float, memory: int, content: float, style: float) -> dict:
    return {
        "kind": kind,
        "size": size,
        "precision": "bf16" if kind == "painterly" else "fp32",
        "seconds_per_evaluation": seconds,
        "seconds_end_to_end": seconds * 500,
        "peak_memory_bytes": memory,
        "estimated_peak_bytes": memory,
        "final_losses": {"content": content, "style": style, "total": content + 1e4 * style},
    }


def test_table_ratios_and_precision_check_from_synthetic_results() -> None:
    benchmark = load_benchmark()
    ours = fake_run("painterly", 512, 0.2, 500_000_000, 90.0, 2e-3)
    reference = fake_run("reference", 512, 1.6, 1_000_000_000, 100.0, 4e-3)
    ratios = benchmark.ratios(ours, reference)
    assert ratios["seconds_end_to_end"] == pytest.approx(0.125)
    assert ratios["peak_memory"] == pytest.approx(0.5)
    assert ratios["style_loss"] == pytest.approx(0.5)
    fp32 = fake_run("painterly", 512, 0.4, 600_000_000, 100.0, 2e-3)
    bf16 = fake_run("painterly", 512, 0.2, 500_000_000, 101.0, 2e-3)
    bf16["final_losses_bf16_network"] = {"content": 101.0, "style": 2.002e-3, "total": 101.0 + 20.02}
    check = benchmark.precision_check(bf16, fp32)
    assert check["percent_difference"]["content"] == pytest.approx(1.0)
    assert check["same_image_percent_difference"]["style"] == pytest.approx(0.1)
    assert check["within_tolerance"] is True
    report = {
        "sizes": [
            {"size": 512, "painterly": ours, "reference": reference, "ratios": ratios},
            {"size": 1024, "painterly": {"kind": "painterly", "size": 1024, "error": "out of memory"},
             "reference_skipped": "above --skip-reference-above 512"},
        ],
        "precision_check": check,
    }  # fmt: skip
    table = benchmark.format_table(report)
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["size", "run", "precision"]
    assert any(line.startswith("512") and "ratio p/r" in line and "0.125" in line for line in lines)
    assert any("failed: out of memory" in line for line in lines)
    assert any("skipped: above --skip-reference-above 512" in line for line in lines)
    assert "within 2 %: yes" in lines[-2]
    assert "scored by the network in bf16" in lines[-1] and "style +0.10 %" in lines[-1]
    json.dumps(report)  # what is written is plain JSON


@pytest.mark.slow
def test_a_tiny_run_writes_the_table_and_json(
    tiny_weights: Path, small_images: tuple[Path, Path], tmp_path: Path
) -> None:
    content, style = small_images
    out = tmp_path / "results" / "benchmark.json"
    command = [
        sys.executable, str(SCRIPT), "--device", "cpu", "--weights", str(tiny_weights), "--pair", str(content),
        str(style), "--sizes", "32", "--iterations", "5", "--out", str(out),
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["complete"] is True
    entry = report["sizes"][0]
    for kind in ("painterly", "reference"):
        run = entry[kind]
        assert "error" not in run, run
        assert run["evaluations"] == 5
        assert run["seconds_end_to_end"] > 0 and run["peak_memory_bytes"] > 0
        assert set(run["final_losses"]) == {"content", "style", "total"}
    assert entry["reference"]["precision"] == "fp32"
    assert set(entry["ratios"]) >= {"seconds_per_evaluation", "seconds_end_to_end", "peak_memory", "style_loss"}
    check = report["precision_check"]
    assert check["size"] == 32 and set(check["percent_difference"]) == {"content", "style", "total"}
    assert "ratio p/r" in completed.stdout and "bf16 vs fp32 at 32 px" in completed.stdout

    # The same measurement again, reusing the (slow) reference run of the first one.
    again = tmp_path / "results" / "again.json"
    reuse = [*command[:-1], str(again), "--reference-from", str(out), "--precision-check-size", "0"]
    completed = subprocess.run(reuse, capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    reused = json.loads(again.read_text())["sizes"][0]
    assert reused["reference"] == {**entry["reference"], "reused_from": str(out)}
    assert reused["ratios"]["content_loss"] == pytest.approx(
        reused["painterly"]["final_losses"]["content"] / entry["reference"]["final_losses"]["content"]
    )
    assert f"reference runs reused from {out}" in completed.stdout

    # ... but not for another budget: its reference would measure something else.
    other = [*reuse[: reuse.index("5")], "6", *reuse[reuse.index("5") + 1 :]]
    completed = subprocess.run(other, capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 2
    assert "was made with a different 'iterations' setting; run the reference again" in completed.stderr


def test_missing_default_pair_skips_with_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    benchmark = load_benchmark()
    monkeypatch.setattr(benchmark, "DEFAULT_PAIR", (tmp_path / "none.jpg", tmp_path / "neither.jpg"))
    assert benchmark.main(["--device", "cpu", "--out", str(tmp_path / "b.json")]) == 0
    assert not (tmp_path / "b.json").exists()
