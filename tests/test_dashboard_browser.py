"""End to end in a real browser: Debian's headless Chromium driven by Playwright.

Starts `streamlit run dashboard/app.py` on a free port, changes a lever and sees the fan chart change,
opens the share link in a fresh browser context and gets the same numbers, downloads the HTML report,
and saves a screenshot of every page under results/screenshots/. Needs /usr/bin/chromium (the Debian
package; Playwright's own browser download is not used).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "results" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
FAST = "runs=6&scale=50&ccg_scale=20"
PAGES = ["scenario", "uptake", "services", "ccg", "compare", "assumptions", "backtest"]

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
    log = open(ROOT / "results" / "dashboard-browser-test.log", "w") if (ROOT / "results").exists() else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"), "--server.headless", "true",
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
CHARTS = {"uptake": 5, "ccg": 2, "compare": 2, "backtest": 1}


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


def test_end_to_end(server, browser, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = ctx.new_page()

    # the uptake fan chart as the baseline draws it
    page.goto(f"{server}/uptake?{FAST}")
    wait_idle(page, CHARTS["uptake"])
    before = fan_median(page)
    assert len(before) > 12 and before[-1] > 0

    # change a lever on the Scenario page (label from the register), then go back to Uptake
    page.get_by_role("link", name="Scenario").first.click()
    wait_idle(page)
    page.get_by_text("National policy (", exact=False).first.click()
    box = page.get_by_label("Strength of the national push on CCGs (0–1)", exact=True)
    box.fill("0.95")
    box.press("Enter")
    wait_idle(page)
    assert "national_push_strength=0.95" in page.url
    assert page.get_by_role("heading", name="What differs from the baseline").count() == 1
    page.get_by_role("link", name="Uptake").first.click()
    wait_idle(page, CHARTS["uptake"])
    after = fan_median(page)
    assert after != before, "the fan chart did not change after the lever changed"
    share = page.url
    assert "/uptake" in share and "national_push_strength=0.95" in share

    # the share link in a fresh browser context reproduces the numbers
    ctx2 = browser.new_context(viewport={"width": 1400, "height": 1000})
    page2 = ctx2.new_page()
    page2.goto(share)
    wait_idle(page2, CHARTS["uptake"])
    assert fan_median(page2) == after
    page2.screenshot(path=str(SHOTS / "shared-link-uptake.png"), full_page=True)
    ctx2.close()

    # download the self-contained HTML report from the sidebar
    page.get_by_text("Export this scenario").click()
    with page.expect_download(timeout=180_000) as dl:
        page.get_by_role("button", name="HTML report").click()
    report = tmp_path / "report.html"
    dl.value.save_as(report)
    html = report.read_text(encoding="utf-8")
    assert "national_push_strength: 0.95" in html and "Plotly" in html and "<script src=\"http" not in html

    # a tampered link: a clear message, no traceback
    page.goto(f"{server}/uptake?{FAST}&national_push_strength=lots")
    wait_idle(page)
    assert page.get_by_text("national_push_strength").count() >= 1
    assert page.locator('[data-testid="stException"]').count() == 0

    # screenshots of every page, and presentation mode
    for name in PAGES:
        page.goto(f"{server}/{name}?{FAST}")
        wait_idle(page, CHARTS.get(name, 0))
        assert page.locator('[data-testid="stException"]').count() == 0, name
        page.set_viewport_size({"width": 1400, "height": 2400})  # Streamlit scrolls inside the page
        page.screenshot(path=str(SHOTS / f"{name}.png"))
        page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{server}/uptake?{FAST}&present=1")
    wait_idle(page, 2)
    assert page.locator('[data-testid="stSidebar"]').is_hidden()
    page.screenshot(path=str(SHOTS / "uptake-presentation.png"))
    ctx.close()
