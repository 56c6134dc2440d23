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


def test_a_preset_shows_its_values_in_the_form(server: StudioServer, browser: object) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page.goto(server.base + "/")
    page.wait_for_selector('#preset option[value="paper"]', state="attached")

    def value(name: str) -> str:
        return page.eval_on_selector(f'[data-option="{name}"]', "element => element.value")

    page.select_option("#preset", "paper")
    assert (value("style_weight"), value("init"), value("optimizer")) == ("1000", "noise", "lbfgs")
    page.select_option("#preset", "nnst")  # the form starts from the defaults again, then the preset's
    assert (value("method"), value("iterations"), value("style_weight"), value("init")) == (
        "nnst", "1000", "10000", "content"
    )
    page.select_option("#preset", "")
    assert (value("method"), value("iterations")) == ("gatys", "500")
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


COUNT_OBJECT_URLS = """
window.objectUrls = { made: 0, revoked: 0 };
const make = URL.createObjectURL.bind(URL), revoke = URL.revokeObjectURL.bind(URL);
URL.createObjectURL = (object) => { window.objectUrls.made += 1; return make(object); };
URL.revokeObjectURL = (url) => { window.objectUrls.revoked += 1; revoke(url); };
"""


def _object_urls_left(page: object) -> int:
    """Object URLs made and not revoked, less those an <img> on the page still shows."""
    counts = page.evaluate("window.objectUrls")  # type: ignore[attr-defined]
    shown = page.evaluate("document.querySelectorAll('img[src^=\"blob:\"]').length")  # type: ignore[attr-defined]
    return int(counts["made"] - counts["revoked"] - shown)


def test_cards_stay_put_pictures_revalidate_and_object_urls_are_revoked(
    server: StudioServer, browser: object, tmp_path: Path
) -> None:
    photo, painting = _images(tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    context.add_init_script(COUNT_OBJECT_URLS)
    page = context.new_page()
    page.goto(server.base + "/")
    page.set_input_files("#content-file", str(photo))
    page.set_input_files("#style-files", [str(painting), str(photo)])
    page.set_input_files("#content-file", str(painting))  # picked again: the first picks' URLs go
    page.set_input_files("#style-files", str(painting))
    assert page.evaluate("window.objectUrls.revoked") >= 4
    assert _object_urls_left(page) == 0
    _fill(page, "size", "32")
    _fill(page, "iterations", "10")
    page.click("#start")
    page.wait_for_function("document.querySelector('#state').textContent.startsWith('finished')", timeout=60_000)
    assert page.locator("#show-content").get_attribute("src").startswith("/api/jobs/")  # the job's, not the file's
    assert _object_urls_left(page) == 0

    page.wait_for_function("document.querySelector('.job.selected') !== null")
    page.evaluate("document.querySelectorAll('.job').forEach((card) => { card.kept = true; })")
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url) if "/api/" in request.url else None)
    page.wait_for_timeout(5600)  # a refresh of the list (every 5 s)
    assert "/api/jobs" in {url.removeprefix(server.base) for url in requests}, requests
    assert page.evaluate("[...document.querySelectorAll('.job')].every((card) => card.kept === true)")
    assert not [url for url in requests if "/inputs/" in url or "/result" in url], requests  # nothing re-fetched

    seen: list[object] = []
    other = context.new_page()  # the same browser cache: the pictures are revalidated, not sent again
    other.on("response", lambda response: seen.append(response))
    other.goto(server.base + "/")
    other.wait_for_function("document.querySelectorAll('.job img[src]').length >= 3")
    other.locator(".job").first.scroll_into_view_if_needed()  # the cards' pictures load lazily
    other.wait_for_load_state("networkidle")
    pictures = [response for response in seen if "/inputs/" in response.url or "/result" in response.url]  # type: ignore[attr-defined]
    asked = {response.url: response.request.all_headers().get("if-none-match")  # type: ignore[attr-defined]
             for response in pictures}  # fmt: skip
    assert asked and all(asked.values()), asked  # each picture revalidated with its ETag
    context.close()
