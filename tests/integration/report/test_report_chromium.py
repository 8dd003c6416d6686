"""The HTML fleet report in real headless Chromium: it renders, its charts are drawn, a click
on a header sorts the table, and a screenshot is kept as tests/output/fleet-report.png."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import report

REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = REPO_ROOT / "roles" / "fleet_report" / "templates"
OUTPUT = REPO_ROOT / "tests" / "output"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]

STATUS_OF = {"lab-1": "ok", "lab-2": "critical", "lab-3": "warning", "lab-4": "unknown", "lab-5": "ok"}


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("chromium is not installed: run `make test` (it apt-installs Debian's chromium)")
    return None


def _results():
    results = {}
    for i, (name, status) in enumerate(sorted(STATUS_OF.items())):
        if status == "unknown":
            results[name] = None
            continue
        checks = [
            {"id": "POD", "status": "ok", "value": "Running", "threshold": "Running and Ready", "message": "the pod is Running and Ready"},
            {"id": "RW-LAG", "status": status, "value": 10.0 * (i + 1), "threshold": {"warning": 60, "critical": 120},
             "message": "remote write is %.0f s behind" % (10.0 * (i + 1))},
            {"id": "WAL-SIZE", "status": "ok", "value": 1048576 * (i + 1), "threshold": {"warning": 42949672960}, "message": "WAL <script>x</script>"},
        ]
        results[name] = {
            "status": status, "checks": checks,
            "facts": {"wal_used_ratio": 0.1 * (i + 1), "lag_seconds": 10.0 * (i + 1), "memory_bytes": 2e8 + 1e7 * i,
                      "success_ratio": 1.0 - 0.001 * i, "wal_bytes": 1048576 * (i + 1)},
        }
    return results


@pytest.fixture(scope="module", name="html_report")
def fixture_html_report():
    directory = tempfile.mkdtemp(prefix="fleetops-report-")
    doc = report.build(_results(), "daily", missing_reasons={"lab-4": "the cluster API did not answer"})
    paths = report.write_report(doc, directory, str(TEMPLATES / "fleet-report.html.j2"), str(TEMPLATES / "fleet-report.md.j2"))
    yield paths["html"]
    shutil.rmtree(directory, ignore_errors=True)


def test_report_is_self_contained(html_report):
    text = Path(html_report).read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), "the page fetches something from the network"
    assert "<script>x</script>" not in text, "a message was not escaped"


def test_dump_dom_renders_table_and_charts(html_report):
    argv = [_chromium()] + CHROMIUM_FLAGS + ["--user-data-dir=" + tempfile.mkdtemp(prefix="chr-"),
                                             "--virtual-time-budget=3000", "--dump-dom", "file://" + html_report]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    dom = proc.stdout
    assert 'data-ready="1"' in dom, proc.stderr[-2000:]
    assert dom.count('<tr data-cluster=') == len(STATUS_OF)
    # four charts, drawn by the page's own script: one bar per cluster with figures
    assert len(re.findall(r'<rect[^>]*class="bar"', dom)) == 4 * (len(STATUS_OF) - 1)


class DevTools:
    """A minimal Chrome DevTools protocol client over one page's websocket."""

    def __init__(self, ws_url):
        from websockets.sync.client import connect  # pylint: disable=import-outside-toplevel
        self.conn = connect(ws_url, max_size=64 * 1024 * 1024, open_timeout=30).__enter__()  # pylint: disable=unnecessary-dunder-call
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.conn.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.conn.recv(timeout=60))
            if msg.get("id") == self.next_id:
                assert "error" not in msg, msg
                return msg.get("result", {})

    def js(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"].get("value")

    def click(self, x, y):
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def close(self):
        self.conn.close()


def _start_chromium(html):
    profile = tempfile.mkdtemp(prefix="chr-")
    argv = [_chromium()] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile, "--remote-debugging-port=0",
                                             "--window-size=1400,1000", "file://" + html]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    port = None
    while time.time() < deadline and port is None:
        line = proc.stderr.readline()
        match = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line or "")
        if match:
            port = int(match.group(1))
        elif not line and proc.poll() is not None:
            break
    if port is None:
        proc.kill()
        pytest.fail("chromium did not open its DevTools port")
    for _attempt in range(100):
        with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=10) as resp:
            pages = [t for t in json.load(resp) if t.get("type") == "page"]
        if pages:
            return proc, profile, pages[0]["webSocketDebuggerUrl"]
        time.sleep(0.1)
    proc.kill()
    pytest.fail("chromium has no page")
    return None


def _order(devtools):
    return devtools.js("Array.from(document.querySelectorAll('#fleet-table tbody tr')).map(r => r.dataset.cluster)")


def test_click_sorts_table_and_screenshot(html_report):
    proc, profile, ws_url = _start_chromium(html_report)
    devtools = None
    try:
        devtools = DevTools(ws_url)
        for _attempt in range(100):
            if devtools.js("document.body && document.body.dataset.ready") == "1":
                break
            time.sleep(0.1)
        # the page lists the worst clusters first
        assert _order(devtools)[0] == "lab-2"

        def header_center(text):
            return devtools.js(
                "(() => { const th = Array.from(document.querySelectorAll('#fleet-table th')).find(h => h.textContent.trim() === '%s');"
                " th.scrollIntoView(); const r = th.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()" % text)

        # a real mouse click on "Cluster": sorted by name, ascending
        x, y = header_center("Cluster")
        devtools.click(x, y)
        assert _order(devtools) == sorted(STATUS_OF)
        # click on "RW-LAG": worst first (critical, warning, then ok; no RW-LAG for the unknown cluster last)
        x, y = header_center("RW-LAG")
        devtools.click(x, y)
        order = _order(devtools)
        assert order[:2] == ["lab-2", "lab-3"] and order[-1] == "lab-4", order
        # again: ascending
        devtools.click(x, y)
        assert _order(devtools)[0] == "lab-4"

        shot = devtools.call("Page.captureScreenshot", format="png")
        OUTPUT.mkdir(parents=True, exist_ok=True)
        png = OUTPUT / "fleet-report.png"
        png.write_bytes(base64.b64decode(shot["data"]))
        assert png.stat().st_size > 5000
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        if devtools:
            devtools.close()
        proc.kill()
        proc.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


def test_screenshot_flag(html_report):
    """Chromium's own --screenshot of the page (the simplest way to look at it)."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    target = OUTPUT / "fleet-report-screenshot.png"
    if target.exists():
        target.unlink()
    argv = [_chromium()] + CHROMIUM_FLAGS + ["--user-data-dir=" + tempfile.mkdtemp(prefix="chr-"), "--window-size=1400,900",
                                             "--virtual-time-budget=3000", "--screenshot=" + str(target), "file://" + html_report]
    subprocess.run(argv, capture_output=True, timeout=120, check=False, cwd=str(OUTPUT))
    assert target.exists() and target.stat().st_size > 5000
    assert os.path.getsize(target) > 0
