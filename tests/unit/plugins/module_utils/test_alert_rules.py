"""The RULES check and the shipped alert rules."""

from __future__ import annotations

from pathlib import Path

import yaml

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import alert_rules as ar

REPO_ROOT = Path(__file__).resolve().parents[4]
SHIPPED = yaml.safe_load((REPO_ROOT / "roles" / "weekly_check" / "files" / "prometheus-agent-rules.yml").read_text())["groups"]
CAPTURE = (REPO_ROOT / "tests" / "fixtures" / "captures" / "prometheus-2.42-agent" / "agent_metrics.txt").read_text()

RUNBOOK_RULES = [{"name": "prometheus-agent", "rules": [
    {"alert": "RemoteWriteFailing",
     "expr": "rate(prometheus_remote_storage_failed_samples_total[5m]) / rate(prometheus_remote_storage_sent_samples_total[5m]) > 0.01"},
    {"alert": "RemoteWriteQueueHigh", "expr": "prometheus_remote_storage_queue_length > 5000"},
    {"alert": "WALCorruption", "expr": "increase(prometheus_tsdb_wal_corruptions_total[1h]) > 0"},
]}]


def _obj(groups, sha=None, name="prometheus-agent-alerts"):
    meta = {"name": name, "namespace": "monitoring"}
    if sha:
        meta["annotations"] = {ar.SHA_ANNOTATION: sha}
    return {"metadata": meta, "spec": {"groups": groups}}


def test_metric_names():
    expr = ('sum by (cluster, url) (rate(prometheus_remote_storage_samples_failed_total{job=~"a.*",x="rate(y)"}[5m] offset 1h))'
            ' / on (cluster) group_left max(up) > 0.01 and histogram_quantile(0.99, foo_bucket)')
    assert ar.metric_names(expr) == {"prometheus_remote_storage_samples_failed_total", "up", "foo_bucket"}


def test_shipped_rules_only_read_what_a_2_42_agent_exports():
    exported = ar.exported_names(CAPTURE)
    assert ar.unusable_names(SHIPPED, exported) == {}
    for rule in ar.alerts_of(SHIPPED).values():
        assert "prometheus_tsdb_head_" not in rule["expr"]


def test_runbook_rules_are_flagged():
    unusable = ar.unusable_names(RUNBOOK_RULES, ar.exported_names(CAPTURE))
    assert set(unusable) == {"RemoteWriteFailing", "RemoteWriteQueueHigh", "WALCorruption"}


def test_current_missing_stale_invalid():
    sha = ar.canonical_sha(SHIPPED)
    exported = ar.exported_names(CAPTURE)
    assert ar.evaluate([_obj(SHIPPED, sha)], SHIPPED, exported)["status"] == "ok"
    missing = ar.evaluate([_obj([{"name": "other", "rules": [{"alert": "X", "expr": "up == 0"}]}])], SHIPPED, exported)
    assert (missing["status"], missing["value"]) == ("warning", "missing")
    stale = ar.evaluate([_obj(RUNBOOK_RULES)], SHIPPED, exported)
    assert (stale["status"], stale["value"]) == ("warning", "stale")
    assert "prometheus_remote_storage_queue_length" in stale["message"]
    older = ar.evaluate([_obj(SHIPPED, "0" * 64)], SHIPPED, exported)
    assert older["value"] == "stale" and "older version" in older["message"]
    invalid = ar.evaluate([_obj(SHIPPED, sha)], SHIPPED, exported, promtool_errors={"monitoring/x": "bad"})
    assert (invalid["status"], invalid["value"]) == ("critical", "invalid")


def test_sha_ignores_formatting():
    again = yaml.safe_load(yaml.safe_dump({"groups": SHIPPED}, width=40))["groups"]
    assert ar.canonical_sha(again) == ar.canonical_sha(SHIPPED)


def test_exported_names_are_read_by_the_one_parser():
    exported = ar.exported_names(CAPTURE)
    # families (# TYPE), plain samples and a histogram's own sample names
    assert {"prometheus_http_request_duration_seconds", "prometheus_http_request_duration_seconds_bucket",
            "prometheus_http_request_duration_seconds_count", "prometheus_build_info"} <= exported
    assert ar.exported_names("<html><body>a login page</body></html>") is None
    assert ar.exported_names("") == set()


def test_or_fallbacks_between_old_and_new_names():
    exported = ar.exported_names(CAPTURE)
    rules = [{"name": "g", "rules": [
        # 2.42 has the new name: the old one is only a fallback
        {"alert": "Fallback", "expr": "sum by (url) (rate(prometheus_remote_storage_samples_failed_total[5m])"
                                      " or rate(prometheus_remote_storage_failed_samples_total[5m])) > 0"},
        # 3.7+'s per-queue name with the unlabelled 2.x one as fallback, at the top level
        {"alert": "TopLevel", "expr": "(max(prometheus_remote_storage_queue_highest_timestamp_seconds) or"
                                      " max(prometheus_remote_storage_highest_timestamp_in_seconds)) > 1"},
        # neither alternative exists: both are named
        {"alert": "Neither", "expr": "rate(prometheus_remote_storage_pending_samples[5m]) or rate(prometheus_nope_total[5m])"},
        # an `or` elsewhere does not excuse a name outside it
        {"alert": "Outside", "expr": "(up or time()) * on () group_left prometheus_remote_storage_queue_length"},
    ]}]
    assert ar.unusable_names(rules, exported) == {
        "Neither": ["prometheus_nope_total", "prometheus_remote_storage_pending_samples"],
        "Outside": ["prometheus_remote_storage_queue_length"],
    }
