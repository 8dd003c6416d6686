"""The weekly and monthly checks against the lab: every check of the cadence is reported; RULES tells
missing, stale (the runbook's rules) and current (the shipped rules) apart; BACKUP exports and
proves the configuration; VERSION and UPTIME read the fleet and the central query API."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone

import pytest
import yaml

from ansible_runner_helpers import run_playbook
from .test_daily_faults import DAILY

pytestmark = [pytest.mark.lab, pytest.mark.slow]

# without the test-only result_dump callback (its documentation does not parse on ansible-core 2.19)
PLAIN = {"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops"}  # the tests read the report files
WEEKLY = {"PVC", "WAL-TREND", "TARGETS", "MONITORS", "LOGS", "RULES", "SERIES", "OOO"}
MONTHLY = {"VERSION", "RIGHTSIZE", "WAL-ROTATION", "BACKUP", "UPTIME"}

RUNBOOK_RULE = {
    "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
    "metadata": {"name": "prometheus-agent-alerts", "namespace": "monitoring"},
    "spec": {"groups": [{"name": "prometheus-agent", "interval": "30s", "rules": [
        {"alert": "RemoteWriteQueueHigh", "expr": "prometheus_remote_storage_queue_length > 5000", "for": "15m"},
        {"alert": "WALCorruption", "expr": "increase(prometheus_tsdb_wal_corruptions_total[1h]) > 0"}]}]},
}


def _kubectl(roles_kubeconfig, context, *args, stdin=None):
    return subprocess.run(["kubectl", "--kubeconfig", roles_kubeconfig, "--context", context] + list(args),
                          input=stdin, capture_output=True, text=True, timeout=60, check=False)


def _audit(roles_inventory, tmp_path, cadence, cluster, extra=None):
    out = tmp_path / ("report-" + cadence)
    extra_vars = {"cadence": cadence, "fleet_report_dir": str(out), "fleet_history_file": str(tmp_path / "history.json"),
                  "fleet_backup_dir": str(tmp_path / "backups"), "fleet_module_timeout": 90}
    extra_vars.update(extra or {})
    run = run_playbook("fleetops.prometheus_agent.audit", roles_inventory, extra_vars=extra_vars, limit=cluster, cwd=str(tmp_path), env=PLAIN)
    assert (out / "fleet-report.json").exists(), run.output[-5000:]
    doc = json.loads((out / "fleet-report.json").read_text())
    return run, {c["id"]: c for c in doc["clusters"][cluster]["checks"]}, doc


def test_rules_missing_stale_current(roles_lab, roles_inventory, roles_kubeconfig, tmp_path):
    cluster = sorted(roles_lab.clusters)[0]
    _kubectl(roles_kubeconfig, cluster, "-n", "monitoring", "delete", "prometheusrule", "prometheus-agent-alerts", "--ignore-not-found")
    run, checks, _doc = _audit(roles_inventory, tmp_path, "weekly", cluster)
    assert run.rc == 0, run.output[-5000:]
    assert set(checks) == WEEKLY
    assert (checks["RULES"]["status"], checks["RULES"]["value"]) == ("warning", "missing"), checks["RULES"]
    assert checks["PVC"]["status"] == "ok" and checks["TARGETS"]["status"] == "ok", checks

    applied = _kubectl(roles_kubeconfig, cluster, "apply", "--validate=false", "-f", "-", stdin=yaml.safe_dump(RUNBOOK_RULE))
    assert applied.returncode == 0, applied.stderr
    _run, checks, _doc = _audit(roles_inventory, tmp_path, "weekly", cluster)
    assert (checks["RULES"]["status"], checks["RULES"]["value"]) == ("warning", "stale"), checks["RULES"]
    assert "prometheus_remote_storage_queue_length" in checks["RULES"]["message"]

    manifest = tmp_path / "rules.yaml"
    rendered = run_playbook("- hosts: localhost\n  gather_facts: false\n  tasks:\n    - ansible.builtin.include_role:\n"
                            "        name: fleetops.prometheus_agent.weekly_check\n        tasks_from: render_rules\n"
                            "      vars:\n        fleet_rules_manifest: %s\n" % manifest, env=PLAIN)
    assert rendered.rc == 0, rendered.output[-3000:]
    applied = _kubectl(roles_kubeconfig, cluster, "apply", "--validate=false", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    try:
        _run, checks, _doc = _audit(roles_inventory, tmp_path, "weekly", cluster)
        assert (checks["RULES"]["status"], checks["RULES"]["value"]) == ("ok", "current"), checks["RULES"]
    finally:
        _kubectl(roles_kubeconfig, cluster, "-n", "monitoring", "delete", "prometheusrule", "prometheus-agent-alerts", "--ignore-not-found")


def test_monthly_backup_version_uptime(roles_lab, roles_inventory, tmp_path):
    cluster = sorted(roles_lab.clusters)[0]
    run, checks, _doc = _audit(roles_inventory, tmp_path, "monthly", cluster)
    assert run.rc == 0, run.output[-5000:]
    assert set(checks) == MONTHLY
    assert checks["BACKUP"]["status"] == "ok", checks["BACKUP"]
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    exported = tmp_path / "backups" / day / cluster
    assert (exported / "config.yml").exists() and (exported / "flags.json").exists()
    assert "remote_write" in (exported / "config.yml").read_text()
    # the lab runs Debian's Prometheus 2.42: by the shipped release list it is long unsupported
    # (molecule's verify declares it supported with fleet_release_list_extra and reads ok)
    assert checks["VERSION"]["status"] == "critical", checks["VERSION"]
    assert "2.42 is not an LTS release and 3.14 is out, so it is no longer supported" in checks["VERSION"]["message"], checks["VERSION"]
    assert "3.13 LTS" in checks["VERSION"]["message"], checks["VERSION"]
    assert checks["UPTIME"]["status"] == "ok", checks["UPTIME"]
    assert checks["WAL-ROTATION"]["status"] in ("ok", "warning"), checks["WAL-ROTATION"]


def test_audit_all_cadences_and_history(roles_lab, roles_inventory, tmp_path):
    cluster = sorted(roles_lab.clusters)[0]
    _run, checks, doc = _audit(roles_inventory, tmp_path, "all", cluster)
    assert doc["cadence"] == "daily,monthly,weekly" or set(doc["cadence"].split(",")) == {"daily", "weekly", "monthly"}
    assert sorted(checks) == sorted(set(DAILY) | WEEKLY | MONTHLY), sorted(checks)
    history = json.loads((tmp_path / "history.json").read_text())
    assert history[cluster][-1]["wal_bytes"] > 0
