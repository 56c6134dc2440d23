"""`painterly experiment`'s entry point (painterly.experiments.command) called directly: a dry run lists
the runs and computes none; a bad --spike-factor is one PainterlyError."""

from __future__ import annotations

from pathlib import Path

import pytest

from painterly.errors import PainterlyError
from painterly.experiments import command
from tests.helpers import tiny_spec


def test_a_dry_run_lists_the_runs_and_writes_nothing(tiny_weights: Path, small_images, tmp_path, capsys) -> None:
    content, style = small_images
    out = tmp_path / "results"
    spec = tiny_spec(tmp_path, tiny_weights)
    arguments = [str(spec), "--pairs", f"{content}:{style}", "--out", str(out), "--dry-run"]
    assert command.experiment_command(arguments) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "L-BFGS" in text and "Adam" in text, text
    assert not out.exists()


def test_a_spike_factor_of_one_is_refused(tiny_weights: Path, small_images, tmp_path: Path) -> None:
    content, style = small_images
    spec = tiny_spec(tmp_path, tiny_weights)
    with pytest.raises(PainterlyError, match="--spike-factor must be above 1"):
        command.experiment_command([str(spec), "--pairs", f"{content}:{style}", "--spike-factor", "1"])
