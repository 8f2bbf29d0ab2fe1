"""The web page in a real headless Chromium (Debian's ``chromium`` driven by Playwright), debug engine.

Every request to a host other than this machine is blocked and recorded: the page must render and work
without the internet. The screenshot of the finished page is saved under pytest's temporary folder
(``<basetemp>/web-artifacts/``; the path is printed) or in ``$MOODSCORE_TEST_ARTIFACTS`` when that is set.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

pytest.importorskip("gradio")
pretty_midi = pytest.importorskip("pretty_midi")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")

import media_fixtures as mf  # noqa: E402  (tests/ is on sys.path under pytest)

from moodscore.models import Engine  # noqa: E402
from moodscore.models.engine import default_example_clip  # noqa: E402
from moodscore.web.jobs import WebSettings  # noqa: E402
from moodscore.web.ui import build_app, launch_options  # noqa: E402

SETTINGS = WebSettings(max_jobs=1, max_queue=4, max_upload_mb=50, max_seconds=60)
# as root in a container: no sandbox; and no background calls home (they would be refused, many at a time)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
LOCAL = {"127.0.0.1", "localhost", "::1"}


def _artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("MOODSCORE_TEST_ARTIFACTS") or tmp_path_factory.getbasetemp() / "web-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# MOODSCORE_TEST_REAL_ENGINE=1: the same test with the shipped weights (to time the page with the real models)
REAL_ENGINE = os.environ.get("MOODSCORE_TEST_REAL_ENGINE") == "1"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium (or Chrome) if installed, else Playwright's own browser if it was downloaded."""
    exe = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    with sync_api.sync_playwright() as pw:
        try:
            b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        except Exception as exc:  # no browser at all on this machine
            pytest.skip(f"no Chromium to drive (apt-get install chromium, or playwright install chromium): {exc}")
        yield b
        b.close()


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    demo = build_app(Engine(debug=not REAL_ENGINE), SETTINGS)
    _, local_url, _ = demo.launch(
        server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True, **launch_options(SETTINGS)
    )
    try:
        yield local_url
    finally:
        demo.close()
        demo.moodscore_jobs.close()


@pytest.fixture
def page(browser: Any, url: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    outside: list[str] = []

    def only_local(route: Any) -> None:
        if urlparse(route.request.url).hostname in LOCAL:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(url)
    pg.wait_for_selector("#score-button")
    yield pg
    context.close()
    assert outside == [], f"the page asked for outside resources: {outside}"


def _upload(page: Any, selector: str, path: Path) -> None:
    with page.expect_response(lambda r: "/upload" in r.url and r.request.method == "POST") as response:
        page.set_input_files(f"{selector} input[type=file]", str(path))
    assert response.value.ok


def test_score_the_example_clip_in_the_browser(page: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    _upload(page, "#clip", default_example_clip())
    page.wait_for_selector("#clip video")
    started = time.perf_counter()
    page.click("#score-button")
    page.wait_for_function("() => { const i = document.querySelector('#plot img'); return i && i.naturalWidth > 0 }")
    page.wait_for_selector("#files a[download='score.mid']")
    elapsed = time.perf_counter() - started

    # the plot is shown (a real decoded picture), the audio element can play its source
    assert page.eval_on_selector("#plot img", "i => i.complete && i.naturalWidth") >= 800
    page.wait_for_function(
        "() => { const a = document.querySelector('#music audio');"
        " return a && a.currentSrc && a.readyState >= 1 && a.duration > 10 }"
    )
    assert page.eval_on_selector("#music audio", "a => a.error") is None
    assert page.eval_on_selector("#music audio", "a => a.play().then(() => !a.paused)") is True
    assert page.eval_on_selector("#scored-video video", "v => v.currentSrc").endswith("example_scored.mp4")
    assert "ms-chip" in page.inner_html("#score-summary")

    # the MIDI download is a MIDI file with notes
    href = page.get_attribute("#files a[download='score.mid']", "href")
    body = page.context.request.get(href).body()
    midi = pretty_midi.PrettyMIDI(io.BytesIO(body))
    assert sum(len(i.notes) for i in midi.instruments) > 0
    names = page.eval_on_selector_all("#files a[download]", "as => as.map(a => a.getAttribute('download'))")
    assert set(names) == {"score.mid", "music.wav", "music.mp3", "example_scored.mp4", "timeline.json", "score.json"}

    # write one segment again: the picker lists the music's segments and fills in their bars; the page then shows
    # the new music (and says which bars changed) without analysing again
    page.click("#rescore-segment input")
    page.get_by_role("option").first.click()
    bars = page.locator("#rescore-bars textarea, #rescore-bars input").first
    sync_api.expect(bars).to_have_value(re.compile(r"^\d+-\d+$"))
    page.click("#rescore-button")
    page.wait_for_selector("#score-summary .ms-rescored")
    assert "written again from seed 1" in page.inner_text("#score-summary")
    page.wait_for_selector("#files a[download='score.mid']")

    out = _artifacts(tmp_path_factory)
    shot = out / "web_score_example.png"
    page.screenshot(path=str(shot), full_page=True)
    timing = {"button_to_result_s": round(elapsed, 2), "real_engine": REAL_ENGINE}
    (out / "web_timing.json").write_text(json.dumps(timing) + "\n")
    engine = "shipped weights" if REAL_ENGINE else "debug engine"
    print(f"\nbutton to result: {elapsed:.1f} s ({engine}); screenshot: {shot}")


def test_bad_upload_shows_the_message_and_the_page_stays_usable(
    page: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    bad = mf.text_as_mp4(tmp_path_factory.mktemp("bad-upload"))
    _upload(page, "#clip", bad)
    page.click("#score-button")
    message = page.get_by_text("not a readable media file")
    message.wait_for(state="visible")
    assert "Traceback" not in page.content()
    page.screenshot(path=str(_artifacts(tmp_path_factory) / "web_bad_upload.png"), full_page=True)

    # still usable: compose without a video from the Q3 example, two variations
    page.get_by_role("tab", name="Compose").click()
    pad = page.locator("#va-pad img")  # a click on the plane's upper-left quarter picks (-0.5, 0.5)
    page.wait_for_function("() => { const i = document.querySelector('#va-pad img'); return i && i.naturalWidth > 0 }")
    box = pad.bounding_box()
    assert box is not None and abs(box["width"] - box["height"]) < 2, box
    pad.click(position={"x": box["width"] * 0.25, "y": box["height"] * 0.25})
    sync_api.expect(page.get_by_label("valence / arousal point")).to_be_checked()
    sync_api.expect(page.get_by_role("spinbutton", name="Valence (unpleasant - pleasant)")).to_have_value("-0.5")
    sync_api.expect(page.get_by_role("spinbutton", name="Arousal (calm - excited)")).to_have_value("0.5")
    page.click("#compose-examples [data-testid='dataset-cell-2-1']")  # the Q3 row
    sync_api.expect(page.get_by_label("Q3: sad / low")).to_be_checked()
    sync_api.expect(page.get_by_role("spinbutton", name="Seed").last).to_have_value("3")
    for name, value in (("Variations", "2"), ("Bars", "2")):  # two short pieces
        box = page.get_by_role("spinbutton", name=name)
        box.fill(value)
        box.press("Tab")
        sync_api.expect(box).to_have_value(value)
    page.click("#compose-button")
    page.wait_for_function(
        "() => ['#variation-1 audio', '#variation-2 audio'].every(s => {"
        " const a = document.querySelector(s); return a && a.readyState >= 1 && a.duration > 1 })"
    )
    assert page.inner_html("#compose-summary").count("Q3") == 2
    srcs = page.eval_on_selector_all("audio", "as => as.map(a => a.currentSrc)")
    assert any(s.endswith("Q3_seed3.wav") for s in srcs) and any(s.endswith("Q3_seed4.wav") for s in srcs), srcs
    assert page.locator("#compose-files a[download$='.mid']").count() == 2
    page.screenshot(path=str(_artifacts(tmp_path_factory) / "web_compose.png"), full_page=True)
