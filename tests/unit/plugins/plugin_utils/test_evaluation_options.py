"""Unit tests of plugin_utils/evaluation.audit_options: what fleet_evaluate is given from a daily
agent_audit result, the one mapping agent_audit's ``evaluate`` and fleet_gather's judgement share."""

from __future__ import annotations

from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import evaluation


AUDIT = {
    "status": "warning",
    "snapshot": {"time": 1700000000.0, "counters": {"samples": 10}},
    "parts": {
        "remote_write_stats": {"status": "unknown", "window_seconds": 0.0},
        "agent_status": {"status": "ok", "pods": [{"name": "prom-agent-0"}]},
        "wal_inspect": {"status": "warning", "size_bytes": 10},
        # agent_logs not gathered
    },
}


def test_the_audit_parts_are_the_results_and_its_first_reading_the_baseline():
    options = evaluation.audit_options(AUDIT)
    assert options["results"] == {"remote_write_stats": AUDIT["parts"]["remote_write_stats"],
                                  "agent_status": AUDIT["parts"]["agent_status"],
                                  "wal_inspect": AUDIT["parts"]["wal_inspect"], "agent_logs": {}}
    assert options["baseline"] == AUDIT["parts"]["remote_write_stats"]
    assert options["snapshot"] == AUDIT["snapshot"]


def test_a_second_reading_replaces_the_remote_write_part_and_the_first_stays_the_baseline():
    second = {"status": "ok", "window_seconds": 12.0}
    options = evaluation.audit_options(AUDIT, second)
    assert options["results"]["remote_write_stats"] is second
    assert options["baseline"] == AUDIT["parts"]["remote_write_stats"]


def test_no_audit_gives_empty_parts_to_be_judged_unknown():
    for missing in (None, {}, {"parts": None}):
        options = evaluation.audit_options(missing)
        assert options == {"results": {"remote_write_stats": {}, "agent_status": {}, "wal_inspect": {}, "agent_logs": {}},
                           "baseline": {}, "snapshot": None}, missing
