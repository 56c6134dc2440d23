"""The studio page end to end in a real headless Chromium (Debian's), driven by Playwright.

Skipped only when Chromium or Playwright is not installed (`make test` and .ci/run install both).
Screenshots go to $STUDIO_SCREENSHOTS when set (to look at), else to the test's temporary folder.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.studio_harness import StudioServer, png_bytes

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip

playwright_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def server(tiny_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StudioServer]:
    with StudioServer(tmp_path_factory.mktemp("browser") / "jobs", weights=tiny_weights) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as playwright:
        opened = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield opened
        opened.close()


def _images(folder: Path) -> tuple[Path, Path]:
    photo, painting = folder / "photo.png", folder / "painting.png"
    photo.write_bytes(png_bytes(96, 72))
    painting.write_bytes(png_bytes(80, 80, stripes=True))
    return photo, painting


def _fill(page: object, name: str, value: str) -> None:
    field = page.locator(f'[data-option="{name}"]')  # type: ignore[attr-defined]
    if not field.is_visible():
        page.locator("#advanced summary").click()  # type: ignore[attr-defined]
    field.fill(value)


def test_paint_watch_cancel_download(server: StudioServer, browser: object, tmp_path: Path) -> None:
    shots = Path(os.environ.get("STUDIO_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    photo, painting = _images(tmp_path)
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)  # type: ignore[attr-defined]
    page.goto(server.base + "/")
    page.set_input_files("#content-file", str(photo))
    page.set_input_files("#style-files", str(painting))
    assert page.locator("#style-thumbs img").count() == 1
    _fill(page, "size", "64")
    _fill(page, "iterations", "400")
    page.click("#start")
    sources: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        source = page.get_attribute("#preview", "src") or ""
        if source and (not sources or sources[-1] != source):
            sources.append(source)
        if page.locator("#state").inner_text().startswith("finished"):
            break
        time.sleep(0.05)
    assert page.locator("#state").inner_text() == "finished"
    assert len(set(sources)) >= 3, f"the preview changed {len(set(sources)) - 1} times: {sources}"
    assert "evaluation 400/400" in page.locator("#stat-evaluation").inner_text()
    page.screenshot(path=str(shots / "studio-desktop.png"), full_page=True)
    with page.expect_download() as download_info:
        page.click("#download")
    saved = tmp_path / "downloaded.png"
    download_info.value.save_as(saved)
    with Image.open(saved) as image:
        assert image.format == "PNG" and image.size == (64, 48)

    _fill(page, "iterations", "100000")
    page.click("#start")
    page.wait_for_function("document.querySelector('#state').textContent.startsWith('running')", timeout=60_000)
    page.wait_for_function("document.querySelector('#stat-evaluation').textContent !== ''", timeout=60_000)
    page.click("#cancel")
    page.wait_for_function("document.querySelector('#state').textContent.startsWith('cancelled')", timeout=30_000)
    assert page.locator("#resume").is_visible()
    assert page.locator(".job").count() == 2
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator(".job").first.locator("text=Open").click()
    page.wait_for_timeout(500)
    page.screenshot(path=str(shots / "studio-phone.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 392, f"the page is {width} px wide at phone width"
    page.close()


def test_continue_from_a_result(server: StudioServer, browser: object, tmp_path: Path) -> None:
    photo, painting = _images(tmp_path)
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page.goto(server.base + "/")
    page.set_input_files("#content-file", str(photo))
    page.set_input_files("#style-files", [str(painting), str(photo)])
    _fill(page, "size", "32")
    _fill(page, "iterations", "10")
    page.click("#start")
    page.wait_for_function("document.querySelector('#state').textContent.startsWith('finished')", timeout=60_000)
    first = page.locator(".job.selected").get_attribute("data-id")
    page.click("#continue")
    page.wait_for_function(f"document.querySelector('.job.selected')?.dataset.id !== '{first}'", timeout=60_000)
    page.wait_for_function("document.querySelector('#state').textContent.startsWith('finished')", timeout=60_000)
    with server.client() as client:
        newest = client.get("/api/jobs").json()["jobs"][0]
        assert newest["id"] != first and newest["settings"]["init"] == "init.png" and "init" in newest["urls"]
        assert len(newest["urls"]["styles"]) == 2 and newest["settings"]["size"] == 32
        picture = client.get(newest["urls"]["result"])
        assert Image.open(io.BytesIO(picture.content)).size == (32, 24)
    page.close()
