"""`painterly serve`'s options, checked without starting a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from painterly.cli import main
from painterly.errors import PainterlyError
from painterly.web.command import access_token


def test_the_loopback_needs_no_token_and_other_hosts_get_one() -> None:
    assert access_token("127.0.0.1", None) is None
    assert access_token("localhost", None) is None
    assert access_token("::1", None) is None
    made = access_token("0.0.0.0", None)
    assert made and len(made) >= 32 and made != access_token("0.0.0.0", None)
    assert access_token("192.0.2.1", "given") == "given"
    assert access_token("127.0.0.1", "given") == "given"
    with pytest.raises(PainterlyError, match="--token is empty"):
        access_token("0.0.0.0", " ")


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["--workers", "0"], "--workers must be at least 1"),
        (["--max-queue", "0"], "--max-queue must be at least 1"),
        (["--max-upload-mb", "0"], "--max-upload-mb must be a number above 0"),
        (["--weights", "/nonexistent/tiny.safetensors"], "does not exist"),
    ],
)
def test_bad_serve_options_are_one_line_errors(
    arguments: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", *arguments]) == 2
    assert words in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["--max-upload-mb", "nan"], "--max-upload-mb must be a number above 0; got nan"),
        (["--max-upload-mb", "inf"], "--max-upload-mb must be a number above 0; got inf"),
        (["--max-upload-mb=-inf"], "--max-upload-mb must be a number above 0; got -inf"),
        (["--max-upload-pixels", "0"], "--max-upload-pixels must be 1 to 89478485"),
        (["--max-upload-pixels", "nan"], "--max-upload-pixels must be 1 to 89478485"),
        (["--max-upload-pixels", "1e12"], "--max-upload-pixels must be 1 to 89478485"),
        (["--jobs-dir", "/proc/self"], "--jobs-dir /proc/self: cannot write there"),
    ],
)
def test_unusable_serve_options_are_one_line_errors_before_the_server_starts(
    arguments: list[str], words: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    started: list[bool] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: started.append(True))
    assert main(["serve", *arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("painterly: error: ") and error.count("\n") == 1 and words in error, error
    assert not started


def test_the_pixel_limit_takes_megapixel_words(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import uvicorn

    from painterly.web import app as studio

    seen: list[int] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: None)
    monkeypatch.setattr(studio, "create_app", lambda config: seen.append(config.max_upload_pixels))
    assert main(["serve", "--jobs-dir", str(tmp_path / "jobs"), "--max-upload-pixels", "24e6"]) == 0
    assert main(["serve", "--jobs-dir", str(tmp_path / "jobs")]) == 0
    assert seen == [24_000_000, 64_000_000]
