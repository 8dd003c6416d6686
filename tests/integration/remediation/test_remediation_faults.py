"""End-to-end remediation on the lab, one test per fault.

Each test: inject the fault, audit (the finding is there), remediate in check mode (nothing
changes: the agent's pid and the PrometheusAgent resourceVersion stay), remediate for real,
audit again (the finding is gone), and nothing lost (the receiver still has every sample the
agent had scraped before the fault; for a receiver outage, also the samples of the outage).
A test that injects a fault heals it in ``finally``. (The module-level and racing-change tests
are in test_remediation_modules.py: two files, so that two pytest-xdist workers share them.)
"""

from __future__ import annotations

import time

import pytest

from remediation_helpers import (  # pylint: disable=import-error
    module, agent_pid, pod_of, receiver_count, wait_until, audit, remediate, status_of, bad, unchanged_in_check_mode,
    baseline, nothing_lost, pod_ready, memory_near_the_limit)

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_receiver_down_restart_is_refused(lab, inventory, cluster, tmp_path):
    """prometheus#13539: never restart while the receiver is down; the outage's samples arrive after."""
    base = baseline(lab, cluster)
    pid = agent_pid(lab, cluster)
    t_fault = time.time()
    lab.fault("receiver-down", None)
    try:
        time.sleep(15)
        # the module refuses, in check mode and for real, even with a restart asked for explicitly
        for check in (True, False):
            res, failed = module("agent_restart", lab, cluster, inventory, check=check, reason="unhealthy", rw_interval=3)
            assert failed and res.get("refused"), res
            assert any("receiver" in r or "lag" in r for r in res["refusal_reasons"]), res["refusal_reasons"]
            assert res["changed"] is False
        assert agent_pid(lab, cluster) == pid
        # the role plans nothing that restarts the agent (or blocks it) and restarts nothing
        run, entry = remediate(lab, inventory, cluster, tmp_path, "rx-down", approved=True, extra={"remediate_recheck": False})
        assert entry is not None, run.output[-4000:]
        assert set(bad(entry)) & {"RW-RETRY", "RW-LAG", "RW-PENDING", "RW-SUCCESS"}, entry["checks"]
        for record in entry["remediation"]:
            assert record["changed"] is False, record
        assert agent_pid(lab, cluster) == pid
    finally:
        lab.heal("receiver-down", None)
    t_heal = time.time()
    # the WAL held the outage: after the backlog drains the receiver has those samples too
    rate = base[2] / base[1]
    wait_until(lambda: receiver_count(lab, cluster, t_fault + 2, t_heal - 2) >= 0.8 * rate * (t_heal - t_fault - 4), 300,
               step=5, what="the outage's samples at the receiver")
    nothing_lost(lab, cluster, base)


def test_agent_kill(lab, inventory, cluster, tmp_path):
    """The kubelet restarts a killed agent; remediation verifies and restarts nothing needlessly."""
    base = baseline(lab, cluster)
    lab.fault("agent-kill", cluster)
    try:
        entry = audit(lab, inventory, cluster, tmp_path, "kill-1")
        assert set(bad(entry)) & {"RESTARTS", "HEALTH", "POD"}, entry["checks"]
        wait_until(lambda: pod_ready(lab, cluster), 120, what="the kubelet restarting the agent")
        unchanged_in_check_mode(lab, inventory, cluster, tmp_path, "kill")
        run, entry = remediate(lab, inventory, cluster, tmp_path, "kill-go", approved=True)
        assert run.rc == 0, run.output[-4000:]
        assert all(r["outcome"] in ("done", "planned") for r in entry["remediation"]), entry["remediation"]
        after = audit(lab, inventory, cluster, tmp_path, "kill-2")
        assert status_of(after, "HEALTH") == "ok" and status_of(after, "POD") == "ok", after["checks"]
        assert "critical" not in bad(after).values(), after["checks"]
    finally:
        lab.heal("agent-kill", cluster)
    nothing_lost(lab, cluster, base)


def test_wal_corrupt(lab, inventory, cluster, tmp_path):
    """WAL corruption: restart first (Prometheus repairs at start-up), verify, delete nothing."""
    base = baseline(lab, cluster)
    lab.fault("wal-corrupt", cluster)
    try:
        wait_until(lambda: pod_ready(lab, cluster), 120, what="the agent after the WAL corruption")
        entry = audit(lab, inventory, cluster, tmp_path, "wal-1")
        assert status_of(entry, "WAL-HEALTH") == "critical" or status_of(entry, "LOGS") == "critical", entry["checks"]
        plan = unchanged_in_check_mode(lab, inventory, cluster, tmp_path, "wal")
        assert [r["action"] for r in plan["remediation"]] == ["wal_recovery"], plan["remediation"]
        uid = pod_of(lab, cluster).metadata.uid
        run, entry = remediate(lab, inventory, cluster, tmp_path, "wal-go", approved=True, extra={"remediate_recheck": True})
        assert run.rc == 0, run.output[-4000:]
        record = entry["remediation"][0]
        assert record["action"] == "wal_recovery" and record["outcome"] == "done", record
        assert record["detail"]["wal"]["deleted"] == [] and not record["detail"]["wal"]["data_loss"]
        assert record["detail"]["wal"]["corruptions_after"] == []
        assert pod_of(lab, cluster).metadata.uid != uid
        # the role checked again after acting: the report holds the state after remediation
        assert status_of(entry, "WAL-HEALTH") in ("ok", "warning"), entry["checks"]
        assert "critical" not in bad(entry).values(), entry["checks"]
    finally:
        lab.heal("wal-corrupt", cluster)
    nothing_lost(lab, cluster, base)


def test_high_memory_resources_step(lab, inventory, cluster, tmp_path):
    """Memory near the limit: +25% memory through the PrometheusAgent, pod rolled, finding gone.

    The lab's high-memory fault lowers the agent's cgroup limit to usage/0.9; the PrometheusAgent is
    set to that same limit, as it would be on a real cluster whose limit is too low for the agent.
    """
    base = baseline(lab, cluster)
    with memory_near_the_limit(lab, cluster) as limit:
        entry = audit(lab, inventory, cluster, tmp_path, "mem-1")
        assert status_of(entry, "MEMORY") == "critical", entry["checks"]
        plan = unchanged_in_check_mode(lab, inventory, cluster, tmp_path, "mem")
        assert "resources_increase" in [r["action"] for r in plan["remediation"]], plan["remediation"]
        run, entry = remediate(lab, inventory, cluster, tmp_path, "mem-go", approved=True)
        assert run.rc == 0, run.output[-4000:]
        record = [r for r in entry["remediation"] if r["action"] == "resources_increase"][0]
        assert record["outcome"] == "done" and record["changed"], record
        assert record["detail"]["changes"][0].startswith("resources.limits.memory %s -> " % limit), record["detail"]
        wait_until(lambda: pod_ready(lab, cluster), 120, what="the agent after the resources step")
        after = audit(lab, inventory, cluster, tmp_path, "mem-2")
        assert status_of(after, "MEMORY") != "critical", after["checks"]
    nothing_lost(lab, cluster, base)


def test_crashloop(lab, inventory, cluster, tmp_path):
    """A crash-looping agent: a graceful restart is tried, and reported failed when the new pod crashes too."""
    base = baseline(lab, cluster)
    lab.fault("crashloop", cluster)
    healed = False
    try:
        wait_until(lambda: not pod_ready(lab, cluster), 60, what="the agent to crash")
        time.sleep(10)
        entry = audit(lab, inventory, cluster, tmp_path, "crash-1")
        assert status_of(entry, "POD") == "critical" or status_of(entry, "HEALTH") == "critical", entry["checks"]
        plan = unchanged_in_check_mode(lab, inventory, cluster, tmp_path, "crash")
        assert "graceful_restart" in [r["action"] for r in plan["remediation"]], plan["remediation"]
        run, entry = remediate(lab, inventory, cluster, tmp_path, "crash-go", approved=True,
                               extra={"remediate_wait_timeout": 30, "remediate_recheck": False})
        # in the lab the crash comes from a bad flag that survives a new pod: the restart is
        # done and reported as failed (the host fails, the play records it)
        record = [r for r in entry["remediation"] if r["action"] == "graceful_restart"][0] if entry else None
        assert record is not None, run.output[-4000:]
        assert record["outcome"] in ("failed", "done"), record
        lab.heal("crashloop", cluster)
        healed = True
        wait_until(lambda: pod_ready(lab, cluster), 120, what="the agent after healing")
        after = audit(lab, inventory, cluster, tmp_path, "crash-2")
        assert status_of(after, "HEALTH") == "ok", after["checks"]
    finally:
        if not healed:
            lab.heal("crashloop", cluster)
    nothing_lost(lab, cluster, base)


def test_stuck_terminating_forced(lab, inventory, cluster, tmp_path):
    """A pod stuck Terminating: a forced delete (grace 0) brings a new pod."""
    base = baseline(lab, cluster)
    uid = pod_of(lab, cluster).metadata.uid
    lab.fault("stuck-terminating", cluster)
    try:
        wait_until(lambda: pod_of(lab, cluster).metadata.deletion_timestamp is not None, 60, what="the pod Terminating")
        entry = audit(lab, inventory, cluster, tmp_path, "stuck-1")
        assert status_of(entry, "POD") in ("warning", "critical"), entry["checks"]
        plan = unchanged_in_check_mode(lab, inventory, cluster, tmp_path, "stuck")
        assert "forced_restart" in [r["action"] for r in plan["remediation"]], plan["remediation"]
        # stuck means past the grace period (deletionTimestamp is the deadline the API set):
        # the audits above may be quicker than the fault's 30 s grace
        deadline = pod_of(lab, cluster).metadata.deletion_timestamp.timestamp()
        wait_until(lambda: time.time() > deadline + 1, 60, what="the pod past its grace period")
        run, entry = remediate(lab, inventory, cluster, tmp_path, "stuck-go", approved=True,
                               extra={"remediate_stuck_after_seconds": 0})
        record = [r for r in entry["remediation"] if r["action"] == "forced_restart"][0]
        assert record["outcome"] == "done", repr(record)
        assert pod_of(lab, cluster).metadata.uid != uid
        after = audit(lab, inventory, cluster, tmp_path, "stuck-2")
        assert status_of(after, "POD") == "ok", after["checks"]
    finally:
        lab.heal("stuck-terminating", cluster)
    nothing_lost(lab, cluster, base)
