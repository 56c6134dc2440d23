"""painterly.runs.progress and painterly.runs.eta: the plumbing of every front end's progress."""

from __future__ import annotations

import io

import pytest

import painterly.progress
from painterly.runs import eta
from painterly.runs.progress import Every, PlainReports, TerminalProgress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_go_above_an_open_bar_and_plainly_without_one() -> None:
    stream = Terminal()
    progress = TerminalProgress(stream)
    assert progress.interactive
    progress.write("before")
    bar = progress.open_bar(total=3, unit="picture", desc="batch")
    bar.update(1)
    progress.write("during")
    progress.close()
    progress.close()  # twice: nothing more
    progress.write("after")
    text = stream.getvalue()
    assert text.startswith("before\n") and "during\n" in text and text.endswith("after\n") and "batch" in text
    assert not progress.open_bars


def test_no_bar_when_quiet_or_not_a_terminal() -> None:
    assert not TerminalProgress(Terminal(), quiet=True).interactive
    assert not TerminalProgress(io.StringIO()).interactive


def test_plain_reports_come_every_tenth_of_a_run() -> None:
    reports = PlainReports()
    due = [evaluation for evaluation in range(1, 26) if reports.due(evaluation, 25, final=True)]
    assert due == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 25]
    per_run = PlainReports()
    per_run.start("a")
    assert [n for n in range(1, 21) if per_run.due(n, 20, key="a")] == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]
    assert per_run.due(2, 20, key="b")  # each run counts its own


def test_every_lets_one_through_per_interval_and_the_forced_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("painterly.runs.progress.time.monotonic", lambda: now[0])
    every = Every(0.25)
    assert every.due() and not every.due()
    assert every.due(force=True)
    now[0] += 0.3
    assert every.due() and not every.due()


def test_the_eta_helpers_and_the_clis_names_are_one() -> None:
    assert painterly.progress.EtaEstimate is eta.EtaEstimate and painterly.progress.clock is eta.clock
    assert eta.clock(75) == "01:15" and eta.items_left_seconds(2.5, 4) == 10.0 and eta.items_left_seconds(2.5, -1) == 0
    assert eta.mean_seconds([]) is None and eta.mean_seconds([1.0, 3.0]) == 2.0


def test_the_weights_download_is_a_bar_on_a_terminal_and_one_line_elsewhere() -> None:
    plain = io.StringIO()
    report = painterly.progress.weights_progress_bar(plain)
    for done in (0, 50, 100):
        report(done, 100, "vgg16.pth")
    assert plain.getvalue() == "vgg16.pth ...\n"
    terminal = Terminal()
    report = painterly.progress.weights_progress_bar(terminal)
    for done in (0, 50, 100):
        report(done, 100, "vgg16.pth")
    assert "vgg16.pth" in terminal.getvalue() and "vgg16.pth ...\n" not in terminal.getvalue()
