"""Ten people at once (issue 13): real concurrent browser sessions (Debian's headless Chromium through
Playwright) against a real `streamlit run` on localhost, started from the checkout so the checked-in
.streamlit/config.toml applies. Sessions share ensembles through the store's lock, a hostile link fails
alone (capped, its text shown as text), and every other session draws its charts. Peak memory of the
server and its workers is recorded in results/load-test.json."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SESSIONS = int(os.environ.get("PHB_LOAD_SESSIONS", "10"))
EVIL = "http://evil.example/"

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for q in procs:
        try:
            total += q.memory_info().rss
        except psutil.Error:
            pass
    return total


def _idle(page, charts: int, timeout_s: float = 300) -> None:
    busy = """() => { const app = document.querySelector('[data-testid="stApp"]');
        return !app || app.getAttribute('data-test-script-state') === 'running'
            || !!document.querySelector('[data-testid="stStatusWidget"], [data-testid="stProgress"]'); }"""
    deadline, idle = time.time() + timeout_s, 0
    while time.time() < deadline:
        ok = not page.evaluate(busy) and page.locator(".js-plotly-plot").count() >= charts
        idle = idle + 1 if ok else 0
        if idle >= 3:
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"{page.url}: did not settle within {timeout_s} s")


def test_ten_sessions_at_once(tmp_path):
    import psutil

    sync_api = pytest.importorskip("playwright.sync_api")
    port = _free_port()
    env = {**os.environ, "PHB_DASHBOARD_STORE": str(tmp_path / "store"), "PYTHONPATH": str(ROOT)}
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port",
                             str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    peak, stop = [0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("the dashboard did not start")
        listening = {c.laddr.ip for c in psutil.Process(proc.pid).net_connections("inet")
                     if c.status == psutil.CONN_LISTEN}
        assert listening <= {"127.0.0.1", "::1"}, f"listens on {listening}: config.toml not honoured"
        sampler.start()
        fast = "runs=14&scale=200&until=2019-03-31"  # 14 runs: more than SERIAL_UP_TO, so the shared pool
        good = [f"uptake?{fast}&seed={1 + i % 2}" for i in range(SESSIONS - 2)]
        hostile = [f"uptake?{fast}&seed=%C2%B2&view=[x]({EVIL})&take_up_chc=%3Cb%3Ehi%3C/b%3E",
                   f"uptake?{fast}&seed=" + "9" * 3000]
        t0 = time.time()
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            pages = []
            for path in good + hostile:
                page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
                page.goto(f"{base}/{path}", wait_until="commit")
                pages.append(page)
            for page in pages:
                _idle(page, charts=5)
                print("settled", page.url[-40:], round(time.time() - t0, 1), flush=True)
            for page in pages:
                assert page.locator('[data-testid="stException"]').count() == 0, page.url
                assert "Traceback" not in page.content()
            for page in pages[-2:]:
                errors = " ".join(page.locator('[data-testid="stAlert"]').all_inner_texts())
                assert "seed" in errors, errors
                assert page.locator(f'a[href^="{EVIL}"]').count() == 0  # link text never became a link
                assert page.locator('[data-testid="stAlert"] b').count() == 0  # nor HTML
            browser.close()
        wall = time.time() - t0
    finally:
        stop.set()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    out = ROOT / "results"
    if out.is_dir():
        (out / "load-test.json").write_text(json.dumps(
            {"sessions": SESSIONS, "served_without_error": SESSIONS, "wall_seconds": round(wall, 1),
             "peak_rss_mib": round(peak[0] / 2**20, 1)}, indent=2))
    assert peak[0] > 0
