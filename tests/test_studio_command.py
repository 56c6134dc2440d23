"""`painterly serve`'s options, checked without starting a server."""

from __future__ import annotations

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
        (["--max-upload-mb", "0"], "--max-upload-mb must be above 0"),
        (["--weights", "/nonexistent/tiny.safetensors"], "does not exist"),
    ],
)
def test_bad_serve_options_are_one_line_errors(
    arguments: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", *arguments]) == 2
    assert words in capsys.readouterr().err
