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
        self.events = []

    def request(self, method, **params):
        """The raw answer to one call: {"result": ...} or {"error": ...}; events seen meanwhile are kept."""
        self.next_id += 1
        self.conn.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.conn.recv(timeout=60))
            if msg.get("id") == self.next_id:
                return msg
            if "method" in msg:
                self.events.append(msg["method"])

    def call(self, method, **params):
        msg = self.request(method, **params)
        assert "error" not in msg, msg
        return msg.get("result", {})

    def wait_event(self, name, timeout=60):
        """Wait for a protocol event (its domain enabled), also one that came in during an earlier call."""
        deadline = time.time() + timeout
        while name not in self.events:
            remaining = deadline - time.time()
            assert remaining > 0, "no %s event within %d s" % (name, timeout)
            msg = json.loads(self.conn.recv(timeout=remaining))
            if "method" in msg:
                self.events.append(msg["method"])

    def js(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"].get("value")

    def click(self, x, y):
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def close(self):
        self.conn.close()


def _start_chromium(html, width=1400, height=1000):
    profile = tempfile.mkdtemp(prefix="chr-")
    argv = [_chromium()] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile, "--remote-debugging-port=0",
                                             "--window-size=%d,%d" % (width, height), "file://" + html]
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


# ----------------------------------------------------------------------------- findings, filter, charts at fleet scale

DAILY_IDS = ("POD", "RESTARTS", "HEALTH", "RW-SUCCESS", "RW-RETRY", "RW-LAG", "RW-PENDING", "RW-SHARDS", "RW-LATENCY", "RW-DROPPED",
             "WAL-SIZE", "WAL-HEALTH", "MEMORY", "INGEST", "CONFIG")
GI = 1024 ** 3
AGENT_DOWN = "the agent did not answer on 127.0.0.1:9090: connection refused"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _synthetic_cluster(i):
    """One cluster of the 500-cluster run: every 25th unreachable, every 50th (offset 7) with its agent
    down (every check unknown, one message), every 10th (offset 3) critical RW-LAG, (offset 5) warning WAL-SIZE."""
    if i % 25 == 0:
        return None
    if i % 50 == 7:
        return {"checks": [{"id": cid, "status": "unknown", "value": None, "threshold": None, "message": AGENT_DOWN}
                           for cid in DAILY_IDS], "facts": {}}
    lag = 300.0 + i if i % 10 == 3 else 5.0 + i % 7
    wal = 41.2 * GI if i % 10 == 5 else (2 + i % 5) * GI
    checks = []
    for cid in report.CHECK_ORDER:  # every check of every cadence: the widest table
        checks.append({"id": cid, "status": "ok", "value": 1, "threshold": None, "message": "%s is fine" % cid})
    by_id = {c["id"]: c for c in checks}
    by_id["RW-LAG"].update(value=lag, threshold={"warning": 60.0, "critical": 120.0, "segments_behind_warning": 2},
                           status="critical" if lag > 120 else "ok", message="remote write is %.0f s behind" % lag)
    by_id["WAL-SIZE"].update(value=wal, threshold={"warning": 40 * GI, "critical": 45 * GI},
                             status="warning" if wal > 40 * GI else "ok", message="WAL is %.1f GiB" % (wal / GI))
    return {"checks": checks,
            "facts": {"lag_seconds": lag, "wal_used_ratio": wal / (50 * GI), "memory_bytes": 2e8 + 1e6 * (i % 90),
                      "success_ratio": 1.0 - 0.0001 * (i % 30)}}


LONG_NAME = "gke_payments-prod_europe-west1_payments-platform-observability-cluster-with-a-very-long-name-7"


def _synthetic_results():
    """500 clusters; the last one has a long name (a GKE context name): the table still fits 1280 px."""
    results = {"prod-eu-%03d" % i: _synthetic_cluster(i) for i in range(499)}
    results[LONG_NAME] = _synthetic_cluster(499)
    return results


def _write(doc, prefix):
    directory = tempfile.mkdtemp(prefix=prefix)
    paths = report.write_report(doc, directory, str(TEMPLATES / "fleet-report.html.j2"), str(TEMPLATES / "fleet-report.md.j2"),
                                checks_doc=(REPO_ROOT / "docs" / "checks.md").as_uri())
    return directory, paths["html"]


@pytest.fixture(scope="module", name="big_report")
def fixture_big_report():
    doc = report.build(_synthetic_results(), "daily",
                       missing_reasons={"prod-eu-%03d" % i: "the cluster API did not answer" for i in range(0, 500, 25)})
    directory, html = _write(doc, "fleetops-report-500-")
    yield doc, html
    shutil.rmtree(directory, ignore_errors=True)


def _open(html, width=1280, height=1000):
    proc, profile, ws_url = _start_chromium(html, width, height)
    devtools = DevTools(ws_url)
    for _attempt in range(200):
        if devtools.js("document.body && document.body.dataset.ready") == "1":
            break
        time.sleep(0.1)
    assert devtools.js("document.body.dataset.ready") == "1"
    return proc, profile, devtools


def _close(proc, profile, devtools):
    devtools.close()
    proc.kill()
    proc.wait(timeout=30)
    shutil.rmtree(profile, ignore_errors=True)


def _visible_rows(devtools):
    return devtools.js("Array.from(document.querySelectorAll('#fleet-table tbody tr'))"
                       ".filter(r => getComputedStyle(r).display !== 'none').map(r => r.dataset.cluster)")


def _center(devtools, selector):
    return devtools.js("(() => { const e = document.querySelector(%s); e.scrollIntoView({block: 'center'});"
                       " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()" % json.dumps(selector))


def _screenshot(devtools, name):
    devtools.js("window.scrollTo(0, 0)")
    shot = devtools.call("Page.captureScreenshot", format="png")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    png = OUTPUT / name
    png.write_bytes(base64.b64decode(shot["data"]))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_500_clusters_findings_filter_hide_ok_no_data(big_report):
    doc, html = big_report
    not_ok = sorted(n for n, c in doc["clusters"].items() if c["status"] != "ok")
    no_data = sorted(n for n, c in doc["clusters"].items() if not c["facts"])
    # 20 unreachable, 10 agents down, 50 critical, 40 warning (every 50th from 25 is unreachable instead)
    assert len(no_data) == 30 and len(not_ok) == 20 + 10 + 50 + 40
    proc, profile, devtools = _open(html)
    try:
        # findings first: the findings section comes before the table, in the DOM and on the screen
        assert devtools.js("!!(document.getElementById('findings').compareDocumentPosition("
                           "document.getElementById('fleet-table')) & Node.DOCUMENT_POSITION_FOLLOWING)")
        assert devtools.js("document.getElementById('findings').getBoundingClientRect().top"
                           " < document.getElementById('fleet-table').getBoundingClientRect().top")
        # the table of every cluster fits 1280 px: no horizontal scrolling
        assert devtools.js("document.getElementById('fleet-table').getBoundingClientRect().right") <= 1280
        assert devtools.js("document.documentElement.scrollWidth") <= 1280
        # an agent down is one line of its cluster, not 14
        line_count = devtools.js("Array.from(document.querySelectorAll('#findings-by-cluster li li'))"
                                 ".filter(li => li.textContent.includes(%s)).length" % json.dumps(AGENT_DOWN))
        assert line_count == 10
        # no-data bars: the clusters without figures are drawn as such (up to the chart's limit), not left out
        for key, _title, _unit, _checks in report.CHARTS:
            bars = devtools.js("document.querySelectorAll('#chart-%s rect.nodata').length" % key)
            assert bars == min(len(no_data), report.CHART_NO_DATA), key
            assert devtools.js("document.querySelectorAll('#chart-%s rect.bar').length" % key) == report.CHART_BARS
        _screenshot(devtools, "fleet-report-500.png")
        assert len(_visible_rows(devtools)) == 500
        # "hide ok": a real click on the switch
        x, y = _center(devtools, "#hide-ok")
        devtools.click(x, y)
        assert devtools.js("document.getElementById('hide-ok').checked") is True
        assert sorted(_visible_rows(devtools)) == not_ok
        # the filter: typed text (real key input)
        x, y = _center(devtools, "#filter")
        devtools.click(x, y)
        devtools.call("Input.insertText", text="PROD-EU-04")
        assert sorted(_visible_rows(devtools)) == [n for n in not_ok if n.startswith("prod-eu-04")]
        shown = devtools.js("Array.from(document.querySelectorAll('#findings-by-cluster > li.finding'))"
                            ".filter(li => getComputedStyle(li).display !== 'none').map(li => li.dataset.cluster)")
        assert sorted(shown) == [n for n in not_ok if n.startswith("prod-eu-04")]
        # switch off: every row back whose text matches
        devtools.click(*_center(devtools, "#hide-ok"))
        assert sorted(_visible_rows(devtools)) == ["prod-eu-%03d" % i for i in range(40, 50)]
        assert devtools.js("document.getElementById('filter-count').textContent") == "10 of 500 clusters shown"
        # a message word finds its clusters too
        devtools.js("(() => { const f = document.getElementById('filter'); f.value = ''; f.dispatchEvent(new Event('input')); })()")
        devtools.click(*_center(devtools, "#filter"))
        devtools.call("Input.insertText", text="connection refused")
        assert sorted(_visible_rows(devtools)) == sorted(n for n, c in doc["clusters"].items()
                                                         if any(ch["message"] == AGENT_DOWN for ch in c["checks"]))
    finally:
        _close(proc, profile, devtools)


def _dump_dom(url):
    argv = [_chromium()] + CHROMIUM_FLAGS + ["--user-data-dir=" + tempfile.mkdtemp(prefix="chr-"), "--window-size=1280,1000",
                                             "--virtual-time-budget=5000", "--dump-dom", url]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert "</html>" in proc.stdout, proc.stderr[-2000:]
    return proc.stdout


def test_dump_dom_with_query_filter_and_hide_ok(big_report):
    doc, html = big_report
    dom = _dump_dom("file://%s?filter=prod-eu-013&hideok=1" % html)
    assert 'data-ready="1"' in dom
    rows = re.findall(r'<tr data-cluster="([^"]+)"[^>]*?( class="hidden-by-filter")?>', dom)
    assert len(rows) == 500
    assert [name for name, hidden in rows if not hidden] == ["prod-eu-013"]
    assert doc["clusters"]["prod-eu-013"]["status"] == "critical"
    assert re.search(r'<input type="checkbox" id="hide-ok"[^>]*>', dom) and 'id="controls" hidden' not in dom


def _outer_html(devtools):
    """The document's HTML, or "" when the document was replaced between the two calls (a navigation
    still committing: its node ids are gone, and the caller reads again)."""
    root = devtools.call("DOM.getDocument", depth=-1)["root"]
    msg = devtools.request("DOM.getOuterHTML", nodeId=root["nodeId"])
    return msg.get("result", {}).get("outerHTML", "")


def test_page_without_javascript(big_report):
    """The page with its script disabled (DevTools' Emulation.setScriptExecutionDisabled; --dump-dom
    needs scripts itself): findings, table and charts are all there."""
    _doc, html = big_report
    proc, profile, devtools = _open(html)
    try:
        devtools.call("Emulation.setScriptExecutionDisabled", value=True)
        devtools.call("Page.enable")
        devtools.events.clear()
        devtools.call("Page.navigate", url="file://%s?nojs=1" % html)
        devtools.wait_event("Page.loadEventFired")
        dom = ""
        for _attempt in range(200):
            dom = _outer_html(devtools)
            # the whole document is there (the page's own script names data-ready: only the attribute tells)
            if "</html>" in dom and 'id="fleet-table"' in dom:
                break
            time.sleep(0.1)
        OUTPUT.mkdir(parents=True, exist_ok=True)
        shot = devtools.call("Page.captureScreenshot", format="png")
        (OUTPUT / "fleet-report-500-nojs.png").write_bytes(base64.b64decode(shot["data"]))
    finally:
        _close(proc, profile, devtools)
    assert 'data-ready="1"' not in dom  # the script did not run
    # the charts are SVG in the page itself, the controls that need the script stay hidden
    assert len(re.findall(r'<rect class="bar"', dom)) == len(report.CHARTS) * report.CHART_BARS
    assert len(re.findall(r'<rect class="nodata"', dom)) == len(report.CHARTS) * report.CHART_NO_DATA
    assert '<div id="controls" hidden="">' in dom
    assert dom.index('id="findings"') < dom.index('id="fleet-table"')


# ----------------------------------------------------------------------------- the demo's report (real lab output)

def _demo_doc():
    """The report of `make demo` (a real 3-cluster lab run: lab-2's remote write failing, lab-3's agent
    stopped on a corrupt WAL; tests/integration/report/fixtures/demo-daily-report.json), rebuilt with one
    more cluster whose host was unreachable."""
    recorded = json.loads((FIXTURES / "demo-daily-report.json").read_text(encoding="utf-8"))
    results = dict(recorded["clusters"])
    results["lab-4"] = None
    return report.build(results, recorded["cadence"], missing_reasons={"lab-4": "the host was unreachable before its checks finished"})


def test_demo_report_in_chromium():
    doc = _demo_doc()
    directory, html = _write(doc, "fleetops-report-demo-")
    proc, profile, devtools = _open(html)
    try:
        assert devtools.js("!!(document.getElementById('findings').compareDocumentPosition("
                           "document.getElementById('fleet-table')) & Node.DOCUMENT_POSITION_FOLLOWING)")
        assert devtools.js("document.documentElement.scrollWidth") <= 1280
        findings = devtools.js("document.getElementById('findings-by-cluster').innerText")
        # readable values and thresholds, never a raw dict
        assert "warning below 99.5%, critical below 99%" in findings and "{" not in findings
        # lab-3's agent is down: its eight checks that could not ask it are one line
        lab3 = devtools.js("Array.from(document.querySelectorAll('#findings-by-cluster > li[data-cluster=\"lab-3\"] li'))"
                           ".map(li => li.innerText)")
        folded = [line for line in lab3 if "does not answer on port 9090" in line and "unknown" in line]
        assert len(folded) == 1 and folded[0].startswith("RW-SUCCESS, RW-RETRY, RW-LAG"), lab3
        assert len(lab3) <= 7, lab3
        # each check id links to its row of the collection's docs/checks.md
        href = devtools.js("document.querySelector('#findings-by-cluster a').href")
        assert href.startswith((REPO_ROOT / "docs" / "checks.md").as_uri() + "#check-")
        assert ('<a id="%s"></a>' % href.split("#")[1]) in (REPO_ROOT / "docs" / "checks.md").read_text(encoding="utf-8")
        # lab-4 (unreachable) is a "no data" bar in every chart, and the lab-2 lag bar is red (RW-LAG is not ok there)
        for key, _title, _unit, _checks in report.CHARTS:
            assert devtools.js("Array.from(document.querySelectorAll('#chart-%s g.chart-row')).filter(g => g.querySelector('rect.nodata'))"
                               ".map(g => g.dataset.cluster).includes('lab-4')" % key), key
        _screenshot(devtools, "fleet-report-demo.png")
        devtools.click(*_center(devtools, "#filter"))
        devtools.call("Input.insertText", text="lab-2")
        assert _visible_rows(devtools) == ["lab-2"]
    finally:
        _close(proc, profile, devtools)
        shutil.rmtree(directory, ignore_errors=True)
