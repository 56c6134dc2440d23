"""The light core: each front end whose extra is missing says which one to install, in one line, exit 2.

A missing package is simulated with ``sys.modules[name] = None``, which makes ``import name`` fail
with ModuleNotFoundError as if it were not installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from painterly import samples
from painterly.cli import main
from painterly.errors import PainterlyError
from painterly.extras import EXTRAS, MissingExtra, install_hint, require
from tests.helpers import tiny_spec

if sys.version_info >= (3, 11):
    import tomllib
else:  # a core dependency on 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def missing(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error, error
    return error.strip()


def test_require_returns_the_module_or_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    assert require("plots", "json") is sys.modules["json"]  # any importable module
    missing(monkeypatch, "fastapi")
    with pytest.raises(MissingExtra) as raised:
        require("studio", "fastapi")
    assert str(raised.value) == "painterly serve needs the studio extra: pip install 'painterly[studio]'"
    assert isinstance(raised.value, PainterlyError) and raised.value.extra == "studio"
    with pytest.raises(ValueError, match="unknown extra"):
        require("studoi", "json")


def test_a_package_that_fails_to_import_is_named_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    def broken(name: str) -> None:
        raise ImportError("libGL.so.1: cannot open shared object file\nmore detail")

    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(MissingExtra) as raised:
        require("video", "cv2")
    assert str(raised.value) == (
        "painterly video needs the video extra: pip install 'painterly[video]' "
        "(importing cv2 failed: libGL.so.1: cannot open shared object file)"
    )


def test_every_extra_is_in_pyproject_and_the_core_has_none_of_them() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    assert set(EXTRAS) | {"all", "dev"} == set(extras)
    assert extras["all"] == [f"painterly[{','.join(EXTRAS)}]"]
    assert "painterly[all]" in extras["dev"] and any(line.startswith("httpx") for line in extras["dev"])
    core = " ".join(project["dependencies"])
    for name in ("fastapi", "uvicorn", "multipart", "httpx", "matplotlib", "av", "opencv", "ray"):
        assert name not in core.replace("safetensors", ""), name
    assert project["license"] == "MIT"
    assert install_hint("ray") == "pip install 'painterly[ray]'"


def test_serve_without_the_studio_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import fastapi  # noqa: F401  (loaded first: starlette falls back to the old multipart module otherwise)

    for name in ("fastapi", "python_multipart", "uvicorn"):
        with monkeypatch.context() as patch:
            missing(patch, name)
            assert main(["serve", "--jobs-dir", str(tmp_path / "jobs")]) == 2
        line = one_error_line(capsys)
        assert line == "painterly: error: painterly serve needs the studio extra: pip install 'painterly[studio]'"
    assert not (tmp_path / "jobs").exists()  # checked before anything is made


@pytest.mark.parametrize("module", ["av", "cv2"])
def test_video_without_the_video_extra(
    module: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing(monkeypatch, module)
    output = tmp_path / "out.mp4"
    assert main(["video", str(tmp_path / "in.mp4"), str(tmp_path / "style.png"), "-o", str(output)]) == 2
    line = one_error_line(capsys)
    assert line == "painterly: error: painterly video needs the video extra: pip install 'painterly[video]'"
    assert not output.exists() and not (tmp_path / "out.mp4.work").exists()


def test_batch_with_ray_without_the_ray_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    small_images: tuple[Path, Path], tiny_weights: Path,
) -> None:  # fmt: skip
    missing(monkeypatch, "ray")
    content, style = small_images
    arguments = ["batch", str(content), "--style", str(style), "-o", str(tmp_path / "out"), "--executor", "ray",
                 "--weights", str(tiny_weights), "--size", "32", "--device", "cpu", "--quiet"]  # fmt: skip
    assert main(arguments) == 2
    line = one_error_line(capsys)
    assert line == "painterly: error: --executor ray needs the ray extra: pip install 'painterly[ray]'"


def test_experiment_with_ray_without_the_ray_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_weights: Path,
    small_images: tuple[Path, Path],
) -> None:  # fmt: skip
    missing(monkeypatch, "ray")
    spec = tiny_spec(tmp_path, tiny_weights)
    pair = f"{small_images[0]}:{small_images[1]}"
    assert main(["experiment", str(spec), "--pairs", pair, "--out", str(tmp_path / "out"), "--executor", "ray"]) == 2
    line = one_error_line(capsys)
    assert line == (
        "painterly: error: painterly experiment --executor ray needs the ray extra: pip install 'painterly[ray]'"
    )
    assert not (tmp_path / "out").exists()  # nothing computed


def test_experiment_figures_without_the_plots_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_weights: Path,
    small_images: tuple[Path, Path],
) -> None:  # fmt: skip
    missing(monkeypatch, "matplotlib")
    spec = tiny_spec(tmp_path, tiny_weights)
    pair = f"{small_images[0]}:{small_images[1]}"
    assert main(["experiment", str(spec), "--pairs", pair, "--out", str(tmp_path / "out")]) == 2
    line = one_error_line(capsys)
    assert line == (
        "painterly: error: painterly experiment's figures needs the plots extra: pip install 'painterly[plots]'"
    )
    assert not (tmp_path / "out").exists()  # refused before the grid, not after it
    # A dry run computes and draws nothing, so it needs no extra.
    assert main(["experiment", str(spec), "--pairs", pair, "--out", str(tmp_path / "out"), "--dry-run"]) == 0


def test_the_demo_samples_without_the_plots_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing(monkeypatch, "matplotlib", "matplotlib.cbook")
    assert samples.main([str(tmp_path)]) == 2
    line = one_error_line(capsys)
    assert line == (
        "painterly: error: the demo's sample photo (matplotlib's grace_hopper.jpg) needs the plots extra: "
        "pip install 'painterly[plots]'"
    )


BLOCKED = ("fastapi", "starlette", "uvicorn", "python_multipart", "multipart", "httpx", "matplotlib", "av", "cv2",
           "ray", "pydantic")  # fmt: skip

CORE_ONLY = f"""
import sys
for name in {BLOCKED!r}:
    sys.modules[name] = None
import painterly, painterly.api, painterly.cli
import painterly.web.command, painterly.video.command, painterly.batch.command, painterly.experiments.command
from painterly.cli import main
assert main(["serve", "--jobs-dir", sys.argv[1]]) == 2
"""


def test_the_core_and_every_front_ends_command_import_without_any_extra(tmp_path: Path) -> None:
    """A core install: the library and each command module load, so a front end can name its extra."""
    done = subprocess.run([sys.executable, "-c", CORE_ONLY, str(tmp_path / "jobs")], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == (
        "painterly: error: painterly serve needs the studio extra: pip install 'painterly[studio]'"
    )
