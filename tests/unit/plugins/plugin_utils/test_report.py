"""The fleet report builder: document shape (docs/report-schema.json), Prometheus text, secrets, scale."""

from __future__ import annotations

import calendar
import json
import os
import re
import time
from pathlib import Path

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import checks
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import report

REPO_ROOT = Path(__file__).resolve().parents[4]
SCHEMA = json.loads((REPO_ROOT / "docs" / "report-schema.json").read_text())
TEMPLATES = REPO_ROOT / "roles" / "fleet_report" / "templates"


def _result(status="ok", lag=1.0):
    return {
        "status": status,
        "checks": [
            {"id": "RW-LAG", "status": status, "value": lag, "threshold": {"warning": 60, "critical": 120}, "message": "lag %.0f s" % lag},
            {"id": "POD", "status": "ok", "value": "Running", "threshold": "Running and Ready", "message": "running"},
        ],
        "facts": {"lag_seconds": lag, "memory_bytes": 3e8, "wal_used_ratio": 0.2, "success_ratio": 1.0},
    }


def test_document_matches_schema_and_orders_checks():
    doc = report.build({"a": _result(), "b": _result("critical", 300.0), "c": None}, ["daily", "weekly"],
                       missing_reasons={"c": "the API did not answer"})
    jsonschema.validate(doc, SCHEMA)
    assert doc["cadence"] == "daily,weekly"
    assert doc["summary"]["clusters"] == 3
    assert (doc["summary"]["ok"], doc["summary"]["critical"], doc["summary"]["unknown"]) == (1, 1, 1)
    assert doc["summary"]["status"] == "critical"
    assert doc["clusters"]["c"]["status"] == "unknown"
    assert doc["clusters"]["c"]["reason"] == "the API did not answer"
    assert [c["id"] for c in doc["clusters"]["a"]["checks"]] == ["POD", "RW-LAG"]  # catalog order
    assert doc["summary"]["checks"]["RW-LAG"] == {"ok": 1, "warning": 0, "critical": 1, "unknown": 0}


def test_worst_status_order():
    # the report's worst-of is checks.worst's (report.worst was a pass-through)
    assert checks.worst(["ok", "unknown"]) == "unknown"
    assert checks.worst(["unknown", "warning"]) == "warning"
    assert checks.worst(["warning", "critical", "ok"]) == "critical"
    assert checks.worst([]) == "ok"


def test_planner_adds_remediation_unless_recorded():
    calls = []

    def planner(checks):
        calls.append(checks)
        return [{"action": "graceful_restart", "reason": "because", "blocked": False}]
    recorded = dict(_result("critical"), remediation=[{"action": "queue_tuning", "reason": "done"}])
    doc = report.build({"a": _result("critical"), "b": recorded}, "daily", planner=planner)
    assert doc["clusters"]["a"]["remediation"][0]["action"] == "graceful_restart"
    assert doc["clusters"]["b"]["remediation"][0]["action"] == "queue_tuning"
    assert len(calls) == 1


def test_secrets_are_scrubbed():
    result = _result()
    result["checks"][0]["message"] = "POST https://user:hunter2@recv.example/api/v1/write failed, Authorization: Bearer abcdefghijklmnop"
    result["facts"]["bearer_token"] = "abcdefghijklmnop"
    result["facts"]["api_key"] = "k"
    text = json.dumps(report.build({"a": result}, "daily"))
    assert "hunter2" not in text and "abcdefghijklmnop" not in text and '"api_key"' not in text
    assert "https://***@recv.example" in text


def test_prometheus_text():
    doc = report.build({'we"ird\\name': _result("warning", 70.0), "b": _result()}, "daily")
    text = report.render_prom(doc)
    # prometheus_client's exposition: labels sorted by name, values as floats, a cadence label on every series
    assert 'fleet_check_status{cadence="daily",check="RW-LAG",cluster="we\\"ird\\\\name"} 1.0' in text
    assert 'fleet_check_value{cadence="daily",check="RW-LAG",cluster="b"} 1.0' in text
    assert 'fleet_cluster_status{cadence="daily",cluster="b"} 0.0' in text
    assert 'fleet_clusters{cadence="daily",status="warning"} 1.0' in text
    stamp = re.search(r'^fleet_report_generated_timestamp_seconds\{cadence="daily"\} ([0-9.e+]+)$', text, re.M)
    assert stamp and float(stamp.group(1)) == calendar.timegm(time.strptime(doc["generated_at"], "%Y-%m-%dT%H:%M:%SZ"))
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert set(families) == {"fleet_check_status", "fleet_check_value", "fleet_cluster_status", "fleet_clusters",
                             "fleet_report_generated_timestamp_seconds"}
    for family in families.values():
        assert family.samples and all(sample.labels.get("cadence") == "daily" for sample in family.samples), family.name
    # every sample line is NAME{labels} VALUE, every family has HELP and TYPE
    for line in text.splitlines():
        if not line.startswith("#"):
            assert re.match(r'^[a-z_]+(\{.*\})? -?[0-9.e+]+$', line), line
    for family in ("fleet_check_status", "fleet_check_value", "fleet_cluster_status", "fleet_clusters"):
        assert "# TYPE %s gauge" % family in text


def test_five_hundred_clusters_quickly(tmp_path):
    results = {"cluster-%04d" % i: _result(("ok", "warning", "critical", "unknown")[i % 4], float(i)) for i in range(500)}
    started = time.monotonic()
    doc = report.build(results, "daily")
    paths = report.write_report(doc, str(tmp_path), str(TEMPLATES / "fleet-report.html.j2"), str(TEMPLATES / "fleet-report.md.j2"))
    elapsed = time.monotonic() - started
    assert elapsed < 5, elapsed
    jsonschema.validate(json.loads(Path(paths["json"]).read_text()), SCHEMA)
    html = Path(paths["html"]).read_text()
    assert html.count("<tr data-cluster=") == 500
    assert Path(paths["prom"]).read_text().count("fleet_cluster_status{") == 500


def test_history_keeps_points(tmp_path):
    path = str(tmp_path / "h" / "history.json")
    doc = report.build({"a": dict(_result(), facts={"wal_bytes": 10, "active_series": 5})}, "daily")
    report.update_history(path, doc)
    first = doc["generated_at"]
    doc["generated_at"] = first[:8] + "%02d" % (int(first[8:10]) % 27 + 1) + first[10:]
    history = report.update_history(path, doc)
    assert [p["wal_bytes"] for p in history["a"]] == [10, 10]
    # points older than keep_days go
    doc["generated_at"] = "2099-01-01T00:00:00Z"
    history = report.update_history(path, doc)
    assert len(history["a"]) == 1
    assert report.load_history(str(tmp_path / "missing.json")) == {}


@pytest.mark.parametrize("bad", ["</script><script>alert(1)</script>", "<b>x</b>"])
def test_html_escapes_messages(tmp_path, bad):
    result = _result("critical")
    result["checks"][0]["message"] = bad
    doc = report.build({"x" + bad: result}, "daily")
    paths = report.write_report(doc, str(tmp_path), str(TEMPLATES / "fleet-report.html.j2"), str(TEMPLATES / "fleet-report.md.j2"))
    html = Path(paths["html"]).read_text()
    assert bad not in html


GI = 1024 ** 3


@pytest.mark.parametrize("check, text", [
    ({"id": "WAL-SIZE", "value": 44291850240, "threshold": {"warning": 40 * GI, "critical": 45 * GI}},
     "41.2 GiB; warning above 40 GiB, critical above 45 GiB"),
    ({"id": "RW-SUCCESS", "value": 0.9912, "threshold": {"warning": 0.995, "critical": 0.99}},
     "99.12%; warning below 99.5%, critical below 99%"),
    ({"id": "RW-LAG", "value": 300.0, "threshold": {"warning": 60, "critical": 120, "segments_behind_warning": 2}},
     "5 min; warning above 60 s, segments behind: warning above 2, critical above 2 min"),
    ({"id": "RW-PENDING", "value": 3499, "threshold": {"critical": 5000, "critical_needs_lag": True, "warning": 1000}},
     "3,499; warning above 1,000, critical above 5,000, critical only with lag"),
    ({"id": "RW-LATENCY", "value": {"avg": 0.005, "p99": 0.0099}, "threshold": {"avg_warning": 0.5, "p99_critical": 2.5, "p99_warning": 1.0}},
     "avg 5 ms, p99 9.9 ms; avg: warning above 500 ms, p99: warning above 1 s, p99: critical above 2.5 s"),
    ({"id": "WAL-HEALTH", "value": 0.97, "threshold": {"volume_warning": 0.95, "volume_critical": 0.99}},
     "97%; volume: warning at or above 95%, volume: critical at or above 99%"),
    ({"id": "WAL-ROTATION", "value": 30000, "threshold": {"warning": 21600, "critical": 86400}},
     "8.3 h; warning above 6 h, critical above 24 h"),
    ({"id": "RW-LATENCY", "value": {"p99": 1.7, "avg": 0.3}, "threshold": {"p99_warning": 1.0, "avg_warning": 0.5}},
     "p99 1.7 s, avg 300 ms; p99: warning above 1 s, avg: warning above 500 ms"),
    ({"id": "MEMORY", "value": 4.5e8, "threshold": {"warning": 400 * 1024 ** 2, "critical": "over 0.9 of the limit or OOMKilled"}},
     "429.2 MiB; warning above 400 MiB, critical: over 0.9 of the limit or OOMKilled"),
    ({"id": "RESTARTS", "value": 4, "threshold": {"warning": 0, "critical": 3}}, "4; warning above 0, critical above 3"),
    ({"id": "RW-PENDING", "value": 12000, "threshold": {"warning": 1000}}, "12,000; warning above 1,000"),
    ({"id": "WAL-TREND", "value": 1, "threshold": {"critical_days": 1}}, "1 day; critical at or below 1 day"),
    ({"id": "VERSION", "value": "2.42.0", "threshold": {"target": "2.53.0"}}, "2.42.0; target 2.53.0"),
    ({"id": "POD", "value": "Running", "threshold": "Running and Ready"}, "Running; expected Running and Ready"),
    ({"id": "HEALTH", "value": None, "threshold": None}, ""),
])
def test_values_and_thresholds_read_as_text(check, text):
    # the units come from the catalog (core/checks.py THRESHOLDS): which side is bad too
    assert report.describe(check) == text


def test_every_catalog_threshold_has_a_readable_unit():
    for entry in checks.THRESHOLDS:
        text = report.describe({"id": entry.check, "value": entry.default, "threshold": {entry.key: entry.default}})
        assert "{" not in text and "None" not in text, (entry.key, text)


def _unreachable(reason="the agent did not answer: connection refused"):
    ids = ["POD", "RESTARTS", "HEALTH", "RW-SUCCESS", "RW-RETRY", "RW-LAG", "RW-PENDING", "RW-SHARDS", "RW-LATENCY",
           "WAL-SIZE", "WAL-HEALTH", "MEMORY", "INGEST", "CONFIG"]
    return {"checks": [{"id": cid, "status": "unknown", "value": None, "threshold": None, "message": reason} for cid in ids],
            "facts": {}}


def _sections(html):
    """The findings section and the table of every cluster of the page."""
    findings = html[html.index('<section id="findings">'):html.index("</section>", html.index('<section id="findings">'))]
    return findings, html[html.index('<table class="fleet" id="fleet-table">'):]


def test_html_findings_first_readable_folded_linked(tmp_path):
    wal = {"status": "warning", "facts": {"wal_used_ratio": 0.5},
           "checks": [{"id": "WAL-SIZE", "status": "warning", "value": 44291850240, "threshold": {"warning": 40 * GI, "critical": 45 * GI},
                       "message": "WAL is 41.2 GiB"}]}
    doc = report.build({"a": _result(), "b": _result("critical", 300.0), "dead": _unreachable(), "gone": None, "w": wal}, "daily",
                       missing_reasons={"gone": "the host was unreachable"})
    paths = report.write_report(doc, str(tmp_path), str(TEMPLATES / "fleet-report.html.j2"), str(TEMPLATES / "fleet-report.md.j2"),
                                checks_doc="https://docs.example/checks.md")
    html = Path(paths["html"]).read_text()
    findings, table = _sections(html)
    assert html.index('<section id="findings">') < html.index('id="fleet-table"')
    assert "41.2 GiB; warning above 40 GiB, critical above 45 GiB" in findings
    assert "5 min; warning above 60 s, critical above 2 min" in findings
    assert "(value " not in html and "threshold {" not in html and "&#34;warning&#34;" not in html
    # 14 identical unknown checks of an unreachable agent: one line (what the page shows, not the filter's text)
    shown = re.sub(r' data-search="[^"]*"', "", findings)
    assert shown.count("the agent did not answer: connection refused") == 1
    assert re.search(r"<li><span class=\"badge s-unknown\">(<a [^>]+>[A-Z-]+</a>, ){13}<a [^>]+>CONFIG</a> unknown</span> the agent did not", shown)
    assert shown.count("the host was unreachable") == 1
    # grouped by check (worst first) and by cluster
    by_check = findings[findings.index('id="findings-by-check"'):findings.index('id="findings-by-cluster"')]
    assert by_check.index('data-check="RW-LAG"') < by_check.index('data-check="WAL-SIZE"')
    by_cluster = findings[findings.index('id="findings-by-cluster"'):]
    assert re.findall(r'<li class="finding" data-cluster="([^"]+)"', by_cluster) == ["b", "w", "dead", "gone"]
    assert '<a href="https://docs.example/checks.md#check-rw-lag">RW-LAG</a>' in findings
    assert table.count("<tr data-cluster=") == 5
    # the hide-ok switch and the filter: hidden until the page's script shows them
    assert '<div id="controls" hidden>' in html and 'id="hide-ok"' in html and 'id="filter"' in html
    markdown = Path(paths["md"]).read_text()
    assert markdown.index("## Findings by check") < markdown.index("## Findings by cluster") < markdown.index("## Every check")
    assert "[RW-LAG](https://docs.example/checks.md#check-rw-lag)" in markdown
    assert markdown.count("the agent did not answer: connection refused") == 1
    assert "41.2 GiB; warning above 40 GiB, critical above 45 GiB" in markdown


def test_charts_are_svg_with_no_data_bars(tmp_path):
    doc = report.build({"a": _result(), "b": _result("critical", 300.0), "gone": None}, "daily")
    paths = report.write_report(doc, str(tmp_path), str(TEMPLATES / "fleet-report.html.j2"), str(TEMPLATES / "fleet-report.md.j2"))
    html = Path(paths["html"]).read_text()
    charts = html[html.index('<section class="charts"'):html.index("</section>", html.index('<section class="charts"'))]
    assert charts.count("<svg ") == len(report.CHARTS)
    assert len(re.findall(r'<rect class="bar"', charts)) == 2 * len(report.CHARTS)
    assert len(re.findall(r'<rect class="nodata"', charts)) == len(report.CHARTS)
    # coloured by the status of the chart's check: b's lag is critical
    lag = charts[charts.index('id="chart-lag_seconds"'):]
    assert re.search(r'data-cluster="b" data-status="critical">\s*<text[^>]*><title>b</title>b</text>\s*<rect class="bar"[^>]*fill="%s"'
                     % report.STATUS_COLOURS["critical"], lag)


def test_large_fleet_charts_draw_the_worst():
    results = {"c-%03d" % i: _result("ok", float(i)) for i in range(100)}
    results.update({"dead-%02d" % i: None for i in range(15)})
    doc = report.build(results, "daily")
    lag = next(c for c in report.charts(doc) if c["key"] == "lag_seconds")
    drawn = [b["name"] for b in lag["bars"]]
    assert drawn[:3] == ["c-099", "c-098", "c-097"]
    assert len(drawn) == report.CHART_BARS + report.CHART_NO_DATA and lag["more"] == 100 - report.CHART_BARS + 15 - report.CHART_NO_DATA
    assert all(b["value"] is None for b in lag["bars"][report.CHART_BARS:])


def test_every_check_has_an_anchor_in_the_checks_doc():
    text = (REPO_ROOT / "docs" / "checks.md").read_text(encoding="utf-8")
    missing = [cid for cid in report.CHECK_ORDER if '<a id="%s"></a>' % report.check_href(cid, "x").split("#")[1] not in text]
    assert not missing


def test_textfile_dir_one_file_per_cadence(tmp_path):
    textfile = tmp_path / "textfile"
    for cadence in ("daily", "weekly"):
        doc = report.build({"a": _result(), "b": _result("warning", 70.0)}, cadence)
        paths = report.write_report(doc, str(tmp_path / cadence), str(TEMPLATES / "fleet-report.html.j2"),
                                    str(TEMPLATES / "fleet-report.md.j2"), textfile_dir=str(textfile))
        assert paths["prom"] == str(textfile / ("fleet-report-%s.prom" % cadence))
        assert not list((tmp_path / cadence).glob("*.prom"))
    # the collector's directory holds only the text files (no HTML, JSON, nor a temporary file)
    assert sorted(os.listdir(textfile)) == ["fleet-report-daily.prom", "fleet-report-weekly.prom"]
    assert oct(os.stat(textfile / "fleet-report-daily.prom").st_mode & 0o777) == "0o644"
    series = []
    for path in sorted(textfile.iterdir()):
        for family in text_string_to_metric_families(path.read_text()):
            series += [(s.name, tuple(sorted(s.labels.items()))) for s in family.samples]
    # the two files together: no series twice (node_exporter refuses a duplicate)
    assert len(series) == len(set(series)) and len(series) > 10
    assert report.prom_file_name("daily,weekly") == "fleet-report-daily-weekly.prom"


def test_textfile_write_is_whole_or_nothing(tmp_path):
    path = tmp_path / "fleet-report-daily.prom"
    good = report.build({"a": _result()}, "daily")
    report.write_prom(good, str(path))
    before = path.read_text()
    bad = report.build({"a": _result()}, "daily")
    bad["clusters"]["a"]["checks"][0]["status"] = "no-such-status"
    with pytest.raises(KeyError):
        report.write_prom(bad, str(path))
    assert path.read_text() == before
    assert os.listdir(tmp_path) == ["fleet-report-daily.prom"]


def test_history_keeps_the_newest_snapshot_per_cluster(tmp_path):
    """The counters of the last daily audit: in the newest point only; a cluster that had none this
    time keeps its earlier one; a corrupt file is an empty history, rewritten whole."""
    path = str(tmp_path / "history.json")
    results = {"a": dict(_result(), facts={"wal_bytes": 10}), "b": dict(_result(), facts={"wal_bytes": 20})}
    doc = report.build(results, "daily", generated_at=None)
    report.update_history(path, doc, snapshots={"a": {"remote_write_stats": {"time": 1.0, "queues": {}}}, "b": None})
    assert report.latest_snapshots(report.load_history(path)) == {"a": {"remote_write_stats": {"time": 1.0, "queues": {}}}}
    later = dict(doc, generated_at=doc["generated_at"][:17] + "59Z")
    # a password in a queue URL never reaches the file
    second = {"remote_write_stats": {"time": 2.0, "queues": {"q": {"url": "https://u:hunter2@receiver/api/v1/receive"}}}}
    history = report.update_history(path, later, snapshots={"a": second, "b": {"agent_status": {"time": 3.0}}})
    assert [("snapshot" in p) for p in history["a"]] == [False, True]
    snaps = report.latest_snapshots(report.load_history(path))
    assert snaps["a"]["remote_write_stats"]["time"] == 2.0 and snaps["b"] == {"agent_status": {"time": 3.0}}
    assert "hunter2" not in Path(path).read_text()
    # a run where b could not be read: b's earlier snapshot stays where the next window starts
    report.update_history(path, later, snapshots={"a": second})
    assert report.latest_snapshots(report.load_history(path))["b"] == {"agent_status": {"time": 3.0}}
    Path(path).write_text("{not json")
    assert report.latest_snapshots(report.load_history(path)) == {}
    report.update_history(path, doc, snapshots={"a": second})
    assert list(report.latest_snapshots(report.load_history(path))) == ["a"]


def test_since_last_audit_new_resolved_still_open(tmp_path):
    """Against the last report of the same cadence: RW-LAG went bad on a (new), POD came back on b
    (resolved), RW-LAG stayed bad on b (still open, critical now); c has no earlier report."""
    path = str(tmp_path / "history.json")
    pod_bad = {"id": "POD", "status": "critical", "value": "CrashLoopBackOff", "threshold": "Running", "message": "crash looping"}
    before = report.build({"a": _result(), "b": dict(_result("warning", 90.0), checks=_result("warning", 90.0)["checks"][:1] + [pod_bad])},
                          "daily", generated_at=None)
    report.update_history(path, before)
    weekly = report.build({"a": _result("critical", 500.0)}, "weekly", generated_at=None)
    report.update_history(path, dict(weekly, generated_at=weekly["generated_at"][:17] + "58Z"))
    now = report.build({"a": _result("warning", 90.0), "b": _result("critical", 500.0), "c": _result("warning", 80.0)}, "daily",
                       generated_at=None)
    since = report.since_last_audit(now, report.load_history(path))
    assert since["new"] == [{"cluster": "a", "id": "RW-LAG", "status": "warning"}]
    assert since["still_open"] == [{"cluster": "b", "id": "RW-LAG", "status": "critical", "was": "warning"}]
    assert since["resolved"] == [{"cluster": "b", "id": "POD", "status": "ok", "was": "critical"}]
    assert since["first_audit"] == ["c"] and since["previous"] == before["generated_at"]
    now["since_last_audit"] = since
    jsonschema.validate(now, SCHEMA)
    paths = report.write_report(now, str(tmp_path / "out"), str(TEMPLATES / "fleet-report.html.j2"), str(TEMPLATES / "fleet-report.md.j2"))
    html = Path(paths["html"]).read_text()
    assert "Since the last audit (%s): 1 new, 1 resolved, 1 still open" % before["generated_at"] in html
    assert html.index('id="since-last-audit"') < html.index('id="findings"')
    assert "b RW-LAG critical (was warning)" in Path(paths["md"]).read_text()


def test_agents_of_one_cluster_reported_each_by_name_with_the_cluster_and_agent_labels():
    """Two agent hosts of one context (the kubeconfig inventory's agents) and a one-agent host."""
    doc = report.build({"prod-eu-1/main": _result(), "prod-eu-1/infra": _result("critical", 300.0), "stg-1": _result()},
                       "daily", agents={"prod-eu-1/main": {"cluster": "prod-eu-1", "agent": "main"},
                                        "prod-eu-1/infra": {"cluster": "prod-eu-1", "agent": "infra"}})
    assert sorted(doc["clusters"]) == ["prod-eu-1/infra", "prod-eu-1/main", "stg-1"]
    assert doc["clusters"]["prod-eu-1/infra"]["agent"] == "infra"
    assert doc["clusters"]["prod-eu-1/infra"]["cluster"] == "prod-eu-1"
    assert "agent" not in doc["clusters"]["stg-1"]
    assert doc["summary"]["critical_clusters"] == ["prod-eu-1/infra"]
    text = report.render_prom(doc)
    assert 'fleet_check_status{agent="infra",cadence="daily",check="RW-LAG",cluster="prod-eu-1"} 2.0' in text
    assert 'fleet_check_status{agent="main",cadence="daily",check="RW-LAG",cluster="prod-eu-1"} 0.0' in text
    assert 'fleet_cluster_status{agent="",cadence="daily",cluster="stg-1"} 0.0' in text
    assert "prod-eu-1/main" not in text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert len(families["fleet_cluster_status"].samples) == 3
    # a slice report merged again keeps them (its entries are the results)
    again = report.build(dict(doc["clusters"]), "daily")
    assert again["clusters"]["prod-eu-1/main"]["agent"] == "main"
    assert again["clusters"]["prod-eu-1/main"]["cluster"] == "prod-eu-1"
    assert 'fleet_cluster_status{agent="main",cadence="daily",cluster="prod-eu-1"} 0.0' in report.render_prom(again)


def test_agent_hosts_in_the_json_html_and_markdown_by_name(tmp_path):
    doc = report.build({"prod-eu-1/main": _result(), "prod-eu-1/infra": _result("warning", 70.0)}, "daily",
                       agents={"prod-eu-1/main": {"cluster": "prod-eu-1", "agent": "main"},
                               "prod-eu-1/infra": {"cluster": "prod-eu-1", "agent": "infra"}})
    paths = report.write_report(doc, str(tmp_path), str(TEMPLATES / "fleet-report.html.j2"), str(TEMPLATES / "fleet-report.md.j2"))
    written = json.loads(Path(paths["json"]).read_text())
    jsonschema.validate(written, SCHEMA)
    assert written["clusters"]["prod-eu-1/infra"]["agent"] == "infra"
    html = Path(paths["html"]).read_text()
    assert '<tr data-cluster="prod-eu-1/main"' in html and '<tr data-cluster="prod-eu-1/infra"' in html
    markdown = Path(paths["md"]).read_text()
    assert "prod-eu-1/infra" in markdown     # the Markdown lists the clusters that are not ok


def test_an_agent_of_several_pods_gets_a_row_per_pod_in_its_findings(tmp_path):
    bad = _result("critical", 300.0)
    bad["facts"].update(pod_count=2, pod_table=[
        {"name": "prom-agent-a-0", "shard": "0", "phase": "Running", "ready": True, "restarts": 0, "healthy": True, "health_error": None,
         "memory_bytes": 250 * 2 ** 20, "config_reload_ok": True, "rw_status": "ok", "samples_per_second": 120.5},
        {"name": "prom-agent-a-shard-1-0", "shard": "1", "phase": "Running", "ready": False, "restarts": 7, "healthy": False,
         "health_error": "does not answer", "memory_bytes": None, "config_reload_ok": None, "rw_status": "critical",
         "samples_per_second": None}])
    doc = report.build({"a": bad, "b": _result()}, "daily")
    jsonschema.validate(doc, SCHEMA)
    paths = report.write_report(doc, str(tmp_path), str(TEMPLATES / "fleet-report.html.j2"), str(TEMPLATES / "fleet-report.md.j2"))
    html = Path(paths["html"]).read_text()
    by_cluster = html[html.index('id="findings-by-cluster"'):]
    assert "<summary>2 pods</summary>" in by_cluster
    rows = re.findall(r'<tr data-pod="([^"]+)">(.*?)</tr>', by_cluster)
    assert [name for name, _row in rows] == ["prom-agent-a-0", "prom-agent-a-shard-1-0"]
    assert "250 MiB" in rows[0][1] and "120.5" in rows[0][1] and '<span class="badge s-ok">ok</span>' in rows[0][1]
    assert "(does not answer)" in rows[1][1] and '<span class="badge s-critical">critical</span>' in rows[1][1] and ">?<" in rows[1][1]
    markdown = Path(paths["md"]).read_text()
    assert "| prom-agent-a-0 | 0 | Running | yes | 0 | yes | 250 MiB | ok | ok | 120.5 |" in markdown, markdown
    assert "| prom-agent-a-shard-1-0 | 1 | Running | no | 7 | no | ? | ? | critical |  |" in markdown, markdown
