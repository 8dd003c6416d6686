"""The daily playbook against the lab: healthy clusters are all ok, and each fault shows up as the
right check with the right status for that cluster only (one fault per cluster, healed after)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from ansible_runner_helpers import play_recap, run_playbook
from lab_fixtures import agent_metric, reset_pod, wait_for

pytestmark = [pytest.mark.lab, pytest.mark.slow]

# these tests read the report files, not the result_dump callback: the summary published with
# set_stats is read from the output (ANSIBLE_SHOW_CUSTOM_STATS)
# without the test-only result_dump callback (its documentation does not parse on ansible-core 2.19)
PLAIN = {"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops", "ANSIBLE_SHOW_CUSTOM_STATS": "1"}

DAILY = ["POD", "RESTARTS", "HEALTH", "RW-SUCCESS", "RW-RETRY", "RW-LAG", "RW-PENDING", "RW-SHARDS", "RW-LATENCY", "RW-DROPPED",
         "WAL-SIZE", "WAL-HEALTH", "MEMORY", "INGEST", "CONFIG"]


def _real(lab):
    return sorted(n for n, c in lab.state["clusters"].items() if not c.get("synthetic"))


def daily(roles_inventory, tmp_path, limit=None, extra=None, env=None):
    """Run the daily playbook (``env`` over PLAIN); returns (run, report document)."""
    out = tmp_path / "report"
    # generous module timeouts: the test machine is shared and often loaded
    extra_vars = {"fleet_report_dir": str(out), "fleet_history_file": "", "fleet_module_timeout": 90}
    extra_vars.update(extra or {})
    run = run_playbook("fleetops.prometheus_agent.daily", roles_inventory, extra_vars=extra_vars, limit=limit, cwd=str(tmp_path),
                       env=dict(PLAIN, **(env or {})))
    report = out / "fleet-report.json"
    assert report.exists(), run.output[-5000:]
    return run, json.loads(report.read_text())


def _checks(doc, cluster):
    return {c["id"]: c for c in doc["clusters"][cluster]["checks"]}


def test_healthy_clusters_are_all_ok(roles_lab, roles_inventory, tmp_path):
    run, doc = daily(roles_inventory, tmp_path)
    assert run.rc == 0, run.output[-5000:]
    for cluster in _real(roles_lab):
        checks = _checks(doc, cluster)
        assert sorted(checks) == sorted(DAILY), cluster
        bad = {cid: (c["status"], c["message"]) for cid, c in checks.items() if c["status"] != "ok"}
        assert not bad, "%s: %s" % (cluster, bad)
    assert doc["summary"]["ok"] == len(_real(roles_lab))
    for name in ("fleet-report.md", "fleet-report.html", "fleet-report.prom"):
        assert (tmp_path / "report" / name).stat().st_size > 0
    assert "CUSTOM STATS" in run.stdout and '"fleet_report"' in run.stdout, "no set_stats summary"


def test_receiver_down_makes_remote_write_critical(roles_lab, roles_inventory, tmp_path):
    # the lab has one receiver for every cluster: its outage is every cluster's
    cluster = _real(roles_lab)[1]
    roles_lab.fault("receiver-down", cluster)
    try:
        time.sleep(20)  # retries start at once; let some back-off rounds pass
        run, doc = daily(roles_inventory, tmp_path)
        assert run.rc == 0, run.output[-5000:]
        for name in _real(roles_lab):
            checks = _checks(doc, name)
            assert "critical" in (checks["RW-RETRY"]["status"], checks["RW-LAG"]["status"]), (name, checks)
            assert doc["clusters"][name]["status"] == "critical"
            # the receiver is down, the agents are fine
            assert checks["HEALTH"]["status"] == "ok" and checks["POD"]["status"] == "ok", (name, checks)
        prom = (tmp_path / "report" / "fleet-report.prom").read_text()
        assert 'fleet_cluster_status{cadence="daily",cluster="%s"} 2.0' % cluster in prom
        assert 'fleet_check_status{cadence="daily",check="RW-RETRY",cluster="%s"}' % cluster in prom
    finally:
        roles_lab.heal("receiver-down", cluster)


def test_agent_kill_shows_in_restarts_or_pod(roles_lab, roles_inventory, tmp_path):
    cluster = _real(roles_lab)[-1]
    roles_lab.fault("agent-kill", cluster)
    try:
        time.sleep(3)
        run, doc = daily(roles_inventory, tmp_path, limit=cluster)
        checks = _checks(doc, cluster)
        assert checks["RESTARTS"]["status"] != "ok" or checks["POD"]["status"] != "ok", checks
    finally:
        roles_lab.heal("agent-kill", cluster)
        roles_lab.wait_ready(cluster, 120)


def test_wal_corrupt_makes_wal_health_critical(roles_lab, roles_inventory, tmp_path):
    cluster = _real(roles_lab)[0]
    roles_lab.fault("wal-corrupt", cluster)
    try:
        run, doc = daily(roles_inventory, tmp_path, limit=cluster, extra={"fleet_wal_verify": "full"})
        checks = _checks(doc, cluster)
        assert checks["WAL-HEALTH"]["status"] == "critical", checks["WAL-HEALTH"]
    finally:
        roles_lab.heal("wal-corrupt", cluster)


def test_unreachable_cluster_is_unknown_and_the_rest_go_on(roles_lab, roles_inventory, tmp_path):
    inventory = Path(tmp_path) / "inventory.yml"
    text = Path(roles_inventory).read_text()
    inventory.write_text(text.replace("    fleet:\n      vars:\n", "    fleet:\n      vars:\n", 1) +
                         "    broken:\n      hosts:\n        broken-1:\n          kube_context: no-such-context\n"
                         "          ansible_connection: local\n"
                         "          ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n"
                         "          kubeconfig: /nonexistent/kubeconfig\n")
    run, doc = daily(str(inventory), tmp_path, extra={"fleet_hosts": "fleet:broken"})
    assert run.rc == 0, run.output[-5000:]
    assert doc["clusters"]["broken-1"]["status"] == "unknown"
    assert doc["clusters"]["broken-1"].get("reason") or doc["clusters"]["broken-1"]["checks"]
    assert doc["clusters"][_real(roles_lab)[0]]["checks"], "the healthy clusters were not checked"


def test_fail_on_critical_fails_the_critical_cluster_after_the_report(roles_lab, roles_inventory, tmp_path):
    """The hosts that fail are the critical clusters, not the first host of the play (issue 16 S5).
    The other tests of this lab leave traces (a WAL corruption stays in the agent's logs for a day,
    a kill in RESTARTS): whatever each cluster's status, exactly the critical ones fail."""
    cluster = _real(roles_lab)[1]
    roles_lab.fault("bad-config", cluster)
    try:
        time.sleep(5)
        run, doc = daily(roles_inventory, tmp_path, extra={"fleet_fail_on": "critical"})
        statuses = {name: doc["clusters"][name]["status"] for name in _real(roles_lab)}
        assert statuses[cluster] == "critical", doc["clusters"][cluster]
        assert [s for s in statuses.values() if s != "critical"], "no cluster left that is not critical: %s" % statuses
        assert run.rc != 0
        critical = sorted(name for name, status in statuses.items() if status == "critical")
        assert "fleet_fail_on=critical: %d critical (%s)" % (len(critical), ", ".join(critical)) in run.output, run.output[-3000:]
        recap = play_recap(run.stdout)
        for name, status in statuses.items():
            assert recap[name]["failed"] == (1 if status == "critical" else 0), (name, status, recap)
    finally:
        roles_lab.heal("bad-config", cluster)


def test_disk_full_makes_wal_health_critical(roles_lab, roles_inventory, tmp_path):
    # the known miss: volume 100% used, every WAL write failing, and the report said WAL-HEALTH ok
    cluster = _real(roles_lab)[1]
    roles_lab.wait_ready(cluster, 60)
    url = roles_lab.state["clusters"][cluster]["agent_url"]
    failed_before = agent_metric(url, "prometheus_tsdb_wal_writes_failed_total")
    try:
        details = roles_lab.fault("disk-full", cluster)
        assert details["volume"]["available_bytes"] == 0, details
        wait_for(lambda: agent_metric(url, "prometheus_tsdb_wal_writes_failed_total") > failed_before, 60,
                 "prometheus_tsdb_wal_writes_failed_total to rise")
        run, doc = daily(roles_inventory, tmp_path, limit=cluster)
        assert run.rc == 0, run.output[-5000:]
        wal = _checks(doc, cluster)["WAL-HEALTH"]
        assert wal["status"] == "critical", wal
        assert re.search(r"volume is .*full", wal["message"]), wal["message"]
        assert "WAL write(s) failed" in wal["message"] and "grow the PVC" in wal["message"], wal["message"]
        assert doc["clusters"][cluster]["status"] == "critical"
    finally:
        roles_lab.heal("disk-full", cluster)
        # the failed-writes counter lives as long as the process and the log keeps the lines for a day;
        # the first new pod repairs the WAL torn by the full disk (and logs the repair), the second starts clean
        for _attempt in range(2):
            reset_pod(roles_lab, cluster)


def test_direct_agent_is_checked_without_a_log_path(roles_lab, roles_inventory, tmp_path):
    """A host with agent_url and no agent_log_path: agent_logs says LOGS unknown instead of failing,
    so the gathering goes on and the remote-write checks are measured."""
    cluster = _real(roles_lab)[-1]
    info = roles_lab.state["clusters"][cluster]
    inventory = Path(tmp_path) / "inventory.yml"
    inventory.write_text(Path(roles_inventory).read_text() +
                         "    direct:\n      hosts:\n        direct-1:\n"
                         "          ansible_connection: local\n"
                         "          ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n"
                         "          agent_url: %s\n          agent_wal_path: %s\n" % (info["agent_url"], info["wal_dir"]))
    run, doc = daily(str(inventory), tmp_path, limit="direct-1", extra={"fleet_hosts": "direct"})
    assert run.rc == 0, run.output[-5000:]
    assert "log_path is required" not in run.output
    result = doc["clusters"]["direct-1"]
    checks = _checks(doc, "direct-1")
    assert not result.get("errors"), result.get("errors")
    for cid in ("RW-SUCCESS", "RW-RETRY", "RW-LAG", "RW-PENDING", "RW-SHARDS", "RW-LATENCY", "WAL-HEALTH", "HEALTH", "CONFIG"):
        assert checks[cid]["status"] == "ok", (cid, checks[cid])
    # no pod: POD and RESTARTS do not apply (left out, not unknown)
    assert "POD" not in checks and "RESTARTS" not in checks, checks
