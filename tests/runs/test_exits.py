"""painterly.runs.exits: one exit-status policy for every command, defined once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import painterly
from painterly.errors import PainterlyError
from painterly.runs import exits


def test_the_policy_maps_each_ending_to_one_status() -> None:
    assert exits.exit_code(KeyboardInterrupt()) == exits.EXIT_INTERRUPTED == 130
    assert exits.exit_code(PainterlyError("no such file")) == exits.EXIT_USER_ERROR == 2
    assert exits.exit_code(RuntimeError("a bug")) is None  # shown whole, not hidden behind a status
    assert exits.finished_status(0) == exits.EXIT_OK == 0 and exits.finished_status(3) == exits.EXIT_FAILED == 1


def test_an_interruption_says_what_is_kept_and_how_to_resume(capsys: pytest.CaptureFixture[str]) -> None:
    assert exits.report_interrupted("2 of 3 picture(s) finished") == 130
    assert capsys.readouterr().err == (
        "painterly: interrupted; 2 of 3 picture(s) finished. Run the same command again to resume.\n"
    )


def test_the_statuses_are_defined_in_one_place_only() -> None:
    package = Path(painterly.__file__).parent
    defined = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if re.search(r"^EXIT_\w+\s*=", path.read_text(encoding="utf-8"), re.MULTILINE)
    )
    assert defined == ["runs/exits.py"]


def test_the_front_ends_use_the_policy() -> None:
    import painterly.batch.command as batch
    import painterly.cli as cli
    import painterly.experiments.command as experiment
    import painterly.video.command as video

    assert cli.EXIT_INTERRUPTED is exits.EXIT_INTERRUPTED and cli.EXIT_USER_ERROR is exits.EXIT_USER_ERROR
    for module in (batch, experiment, video):
        assert module.report_interrupted is exits.report_interrupted
