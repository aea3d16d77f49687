"""End to end in a real browser, as planners, critics and presenters use it: Debian's headless Chromium
driven by Playwright against `streamlit run dashboard/app.py` on a free port.

A planner changes the end date and a lever beside the fan chart and sees the chances change, and a copied
link reproduces the numbers; a critic uploads a scenario with a bad `extends:` and is told; a presenter
edits a lever, downloads the deck and the report (both name the edited value; every picture lies inside
its 16:9 slide) and steps through presentation mode. Screenshots of every page and of presentation mode
at 1920×1080 go to a temporary folder, or to the checked-in results/screenshots/ when PHB_SCREENSHOTS=results
is set (so a test run leaves the checkout as it found it). Needs /usr/bin/chromium (Playwright's own browser download is
not used).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "results" / "screenshots" if os.environ.get("PHB_SCREENSHOTS") == "results" else \
    Path(os.environ.get("TMPDIR", "/tmp")) / "phb-screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
FAST = "runs=4&scale=100&ccg_scale=50"
# every page the app registers (read from its PAGES list, so a page added there is screenshotted too)
PAGES = re.findall(r'url_path="([a-z_]+)"', (ROOT / "dashboard" / "app.py").read_text(encoding="utf-8"))

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    # one log per test worker: under pytest-xdist each worker that runs a test of this module starts its own server
    name = f"dashboard-browser-test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.log"
    log = open(ROOT / "results" / name, "w") if (ROOT / "results").exists() else subprocess.DEVNULL
    # the server dumps every thread's stack into its log on SIGUSR1 (sent at teardown): a download that never
    # came leaves behind where the server was waiting
    start = ("import faulthandler, runpy, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
             "sys.argv = ['streamlit'] + sys.argv[1:]; runpy.run_module('streamlit', run_name='__main__')")
    proc = subprocess.Popen(
        [sys.executable, "-c", start, "run", str(ROOT / "dashboard" / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "BROWSER_PATH": CHROMIUM,
                                                    "PHB_DASHBOARD_STORE": str(tmp_path_factory.mktemp("store"))})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("the dashboard did not start within 60 s")
        yield base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGUSR1)
            time.sleep(1)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


BUSY = """() => { const app = document.querySelector('[data-testid="stApp"]');
    return !app || app.getAttribute('data-test-script-state') === 'running'
        || !!document.querySelector('[data-testid="stStatusWidget"], [data-testid="stSpinner"], '
                                    + '[data-testid="stProgress"], [data-testid="stSkeleton"]'); }"""
CHARTS = {"uptake": 5, "ccg": 3, "compare": 4, "backtest": 1, "services": 3}
SCREEN = {"width": 1920, "height": 1080}


def wait_idle(page, charts: int = 0, timeout_s: float = 240) -> None:
    """Wait until Streamlit has finished running the script (idle twice in a row, 0.5 s apart) and
    `charts` Plotly charts are drawn."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_s * 1000)
    deadline, idle = time.time() + timeout_s, 0
    while time.time() < deadline:
        busy = page.evaluate(BUSY)
        drawn = page.locator(".js-plotly-plot").count()
        idle = idle + 1 if not busy and drawn >= charts else 0
        if idle >= 3:
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"the page did not settle within {timeout_s} s")


def fan_median(page) -> list[float]:
    """The 'Median' trace of the first chart, read from plotly.js in the page."""
    page.wait_for_selector(".js-plotly-plot", timeout=180_000)
    page.wait_for_function("() => { const g = document.querySelector('.js-plotly-plot'); "
                           "return g && g.data && g.data.some(t => t.name === 'Median'); }", timeout=180_000)
    return page.evaluate("""() => { const g = document.querySelector('.js-plotly-plot');
        const y = g.data.find(t => t.name === 'Median').y;
        if (y && y.bdata) {  // plotly 7 figure JSON: base64 typed arrays
            const bin = Uint8Array.from(atob(y.bdata), c => c.charCodeAt(0));
            const T = {f8: Float64Array, f4: Float32Array, i4: Int32Array, i8: BigInt64Array, u4: Uint32Array,
                       i2: Int16Array, u2: Uint16Array, i1: Int8Array, u1: Uint8Array}[y.dtype];
            return Array.from(new T(bin.buffer)).map(Number);
        }
        return Array.from(y).map(Number); }""")


def metrics(page) -> dict[str, str]:
    """The headline numbers (st.metric) on the page: label -> value."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('[data-testid="stMetric"]')]
        .map(m => [m.querySelector('[data-testid="stMetricLabel"]').innerText.trim(),
                   m.querySelector('[data-testid="stMetricValue"]').innerText.trim()]))""")


def chance_curves(page) -> list:
    return page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
        .filter(g => g.data && g.data.some(t => String(t.name).startsWith('50,000')))
        .map(g => g.data.map(t => t.y && t.y.bdata ? t.y.bdata : Array.from(t.y || [])))""")


def shoot(page, name: str) -> None:
    """A 1920×1080 screenshot under SHOTS, reduced to 256 colours (a tenth of the bytes;
    charts and text stay sharp) so the checked-in PNGs stay small."""
    from PIL import Image

    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def set_field(locator, value: str) -> None:
    locator.click()
    locator.fill(value)
    locator.press("Enter")


def set_year(scope, label: str, year: int) -> None:
    """Streamlit's date input is a row of spin buttons (year, month, day): type the year, then click
    elsewhere (the value is sent when the input loses focus)."""
    box = scope.get_by_role("spinbutton", name=f"year, {label}")
    box.click()
    box.press_sequentially(str(year))
    box.page.locator("h1").first.click()


def test_planner_end_date_and_lever_beside_the_fan(server, browser):
    ctx = browser.new_context(viewport=SCREEN)
    page = ctx.new_page()
    page.goto(f"{server}/uptake?{FAST}")
    wait_idle(page, CHARTS["uptake"])
    first = metrics(page)
    assert first["1 million by March 2030"] == "after the end date"
    main = page.locator('[data-testid="stMain"]')
    set_year(main, "End date", 2030)
    wait_idle(page, CHARTS["uptake"])
    assert "until=2030-03-31" in page.url
    dated = metrics(page)
    assert dated["1 million by March 2030"].endswith("%"), dated
    curves, fan = chance_curves(page), fan_median(page)
    set_field(main.get_by_label("Strength of the national push on CCGs (0–1)", exact=True), "0.95")
    wait_idle(page, CHARTS["uptake"])
    assert "national_push_strength=0.95" in page.url
    assert curves, "no chart of the chances of reaching each target"
    assert chance_curves(page) != curves, "the chances did not change after the lever changed"
    assert fan_median(page) != fan
    assert "3 changes" not in page.locator('[data-testid="stSidebar"]').inner_text()
    assert "2 changes from the preset" in page.locator('[data-testid="stSidebar"]').inner_text()

    # the share link in a fresh browser context reproduces the numbers
    share, after = page.url, fan_median(page)
    ctx2 = browser.new_context(viewport=SCREEN)
    page2 = ctx2.new_page()
    page2.goto(share)
    wait_idle(page2, CHARTS["uptake"])
    assert fan_median(page2) == after
    ctx2.close()
    ctx.close()


def test_critic_bad_extends_and_bad_link(server, browser, tmp_path):
    ctx = browser.new_context(viewport=SCREEN)
    page = ctx.new_page()
    page.goto(f"{server}/scenario?{FAST}")
    wait_idle(page)
    assert page.get_by_text("Page not found").count() == 0
    assert page.get_by_role("heading", name="Scenario").count() >= 1
    bad = tmp_path / "mine.yaml"
    bad.write_text("extends: baseline_typo\nname: my_push\nparameters:\n  national_push_strength: 0.8\n")
    page.locator('input[type="file"]').first.set_input_files(str(bad))
    wait_idle(page)
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="extends")
    assert alert.count() == 1 and "baseline_typo" in alert.inner_text()
    assert page.locator('[data-testid="stException"]').count() == 0

    # a tampered link: one clear message on the first page, not on every page after
    page.goto(f"{server}/?{FAST}&national_push_strength=lots")
    wait_idle(page)
    assert page.locator('[data-testid="stAlert"]').filter(has_text="national_push_strength").count() == 1
    page.get_by_role("link", name="Assumptions").first.click()
    wait_idle(page)
    assert page.locator('[data-testid="stAlert"]').filter(has_text="national_push_strength").count() == 0
    ctx.close()


def assert_pictures_inside(deck) -> None:
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    w, h = deck.slide_width, deck.slide_height
    assert abs(w / h - 16 / 9) < 0.01
    pictures = 0
    for n, slide in enumerate(deck.slides, 1):
        for sh in slide.shapes:
            pictures += sh.shape_type == MSO_SHAPE_TYPE.PICTURE
            assert sh.left >= 0 and sh.top >= 0 and sh.left + sh.width <= w and sh.top + sh.height <= h, (n, sh.name)
    assert pictures >= 4


@pytest.mark.xdist_group("heavy_browser")  # never beside the 10-session load test: both need the 2 cores
def test_presenter_exports_and_presentation_mode(server, browser, tmp_path):
    from pptx import Presentation

    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport=SCREEN, accept_downloads=True)
    page = ctx.new_page()
    # to March 2018: under half the months, so the deck (every page's runs, made on demand) is quick on 2 cores
    page.goto(f"{server}/scenario?{FAST}&until=2018-03-31")
    wait_idle(page)
    page.get_by_text("National policy (", exact=False).first.click()
    set_year(page.locator('[data-testid="stMain"]'), "National push and funding begins (date)", 2017)
    wait_idle(page)
    assert "national_push_date=2017-04-01" in page.url

    page.get_by_text("Export this scenario").click()
    with page.expect_download(timeout=300_000) as dl:
        page.get_by_role("button", name="PowerPoint deck").click()
    deck_path = tmp_path / "deck.pptx"
    dl.value.save_as(deck_path)
    deck = Presentation(str(deck_path))
    assert_pictures_inside(deck)
    words = "\n".join(sh.text_frame.text for s in deck.slides for sh in s.shapes if sh.has_text_frame)
    assert "2017-04-01" in words and "preset 2016-04-01" in words and "strong pressure from April 2016" not in words
    assert "Runs: 4" in words and "What varied" in words

    with page.expect_download(timeout=300_000) as dl:
        page.get_by_role("button", name="HTML report").click()
    html = (dl.value.path()).read_text(encoding="utf-8")
    # the edited value in the changes list and in the scenario file (YAML quotes dates: escaped in HTML)
    assert "2017-04-01" in html and "preset 2016-04-01" in html and "Runs: 4" in html
    assert re.search(r"national_push_date: (&#x27;)?2017-04-01", html), "the scenario file lacks the edit"
    assert "<script src=\"http" not in html

    # screenshots of every page at 1920×1080 (the edited scenario, so Compare shows it against the baseline)
    query = page.url.split("?", 1)[1]
    for name in PAGES:
        page.goto(f"{server}/{'' if name == 'start' else name}?{query}")
        wait_idle(page, CHARTS.get(name, 0), timeout_s=400)
        assert page.locator('[data-testid="stException"]').count() == 0, name
        shoot(page, name)

    # presentation mode: one chart inside the 1080-pixel screen, next and previous, no Deploy, no form
    page.goto(f"{server}/?{query}&present=1")
    wait_idle(page, 1, timeout_s=400)
    assert page.locator('[data-testid="stSidebar"]').is_hidden()
    assert page.locator('[data-testid="stAppDeployButton"]').count() == 0 or \
        page.locator('[data-testid="stAppDeployButton"]').is_hidden()
    assert page.locator('input[type="file"]').count() == 0
    titles = []
    for k in range(3):
        box = page.locator(".js-plotly-plot").first.bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= SCREEN["height"], box
        titles.append(page.evaluate("() => document.querySelector('.js-plotly-plot').layout.title.text"))
        shoot(page, f"presentation-{k + 1}")
        page.get_by_role("button", name="Next ▶").click()
        wait_idle(page, 1, timeout_s=400)
    assert len(set(titles)) == 3
    page.get_by_role("button", name="◀ Previous").click()
    wait_idle(page, 1, timeout_s=400)
    assert page.evaluate("() => document.querySelector('.js-plotly-plot').layout.title.text") == titles[2]
    ctx.close()
