"""The exit status of a run and the hosts blamed for it (plugins/plugin_utils/run_verdict.py)."""

from __future__ import annotations

import pytest

from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import run_verdict


FLEET = {"a-ok": "ok", "b-crit": "critical", "c-warn": "warning", "d-unknown": "unknown"}


def test_never_fails_on_findings():
    assert run_verdict.decide(FLEET, "never") == {"fail": False, "hosts": [], "reasons": []}


def test_critical_blames_the_critical_cluster_only():
    verdict = run_verdict.decide(FLEET, "critical")
    assert verdict["fail"] and verdict["hosts"] == ["b-crit"]
    assert verdict["reasons"] == ["fleet_fail_on=critical: 1 critical (b-crit)"]


def test_warning_includes_critical():
    assert run_verdict.decide(FLEET, "warning")["hosts"] == ["b-crit", "c-warn"]


def test_unknown_fails_on_unknown_warning_critical():
    verdict = run_verdict.decide(FLEET, "unknown")
    assert verdict["hosts"] == ["b-crit", "c-warn", "d-unknown"]
    assert "1 critical, 1 warning, 1 unknown" in verdict["reasons"][0]


def test_every_cluster_unknown_fails_even_with_never():
    fleet = {"p-%d" % i: "unknown" for i in range(30)}
    verdict = run_verdict.decide(fleet, "never")
    assert verdict["fail"] and len(verdict["hosts"]) == 30
    assert len(verdict["reasons"]) == 1
    assert verdict["reasons"][0].startswith("30 of 30 clusters unknown (every cluster): no check could be judged")
    assert "and 10 more" in verdict["reasons"][0]


def test_ratio_of_unknown():
    fleet = {"a": "unknown", "b": "unknown", "c": "ok", "d": "ok"}
    assert not run_verdict.decide(fleet, "never")["fail"]  # default 1.0: only all unknown
    verdict = run_verdict.decide(fleet, "never", unknown_ratio=0.25)
    assert verdict["hosts"] == ["a", "b"] and "more than 25% of the clusters" in verdict["reasons"][0]
    assert not run_verdict.decide(fleet, "never", unknown_ratio=0.5)["fail"]  # 50% is not more than 50%


def test_ratio_above_one_turns_the_rule_off():
    assert not run_verdict.decide({"a": "unknown"}, "never", unknown_ratio=2)["fail"]


def test_empty_fleet_and_bad_choice():
    assert not run_verdict.decide({}, "critical")["fail"]
    with pytest.raises(ValueError, match="fail_on must be one of"):
        run_verdict.decide(FLEET, "sometimes")


def test_a_cluster_with_one_unknown_check_is_judged():
    """One unknown check among judged ones (an INGEST without a rate) does not fail the run."""
    clusters = {"lab-3": {"status": "unknown", "checks": [{"id": "POD", "status": "ok"}, {"id": "INGEST", "status": "unknown"}]}}
    assert run_verdict.unjudged(clusters) == []
    assert not run_verdict.decide({"lab-3": "unknown"}, "never", 1.0, run_verdict.unjudged(clusters))["fail"]
    # fail_on=unknown still counts it
    assert run_verdict.decide({"lab-3": "unknown"}, "unknown", 1.0, run_verdict.unjudged(clusters))["hosts"] == ["lab-3"]


def test_unjudged_clusters():
    clusters = {"a": {"status": "unknown", "checks": [{"id": "POD", "status": "unknown"}]},
                "b": {"status": "unknown", "reason": "the host failed", "checks": []},
                "c": {"status": "ok", "checks": [{"id": "POD", "status": "ok"}]}}
    assert run_verdict.unjudged(clusters) == ["a", "b"]
