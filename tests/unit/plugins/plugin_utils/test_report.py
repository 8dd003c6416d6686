"""The fleet report builder: document shape (docs/report-schema.json), Prometheus text, secrets, scale."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import jsonschema
import pytest

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
    assert 'fleet_check_status{cluster="we\\"ird\\\\name",check="RW-LAG"} 1' in text
    assert 'fleet_check_value{cluster="b",check="RW-LAG"} 1' in text
    assert 'fleet_cluster_status{cluster="b"} 0' in text
    assert re.search(r"^fleet_report_generated_timestamp_seconds \d+$", text, re.M)
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
