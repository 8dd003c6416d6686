"""Every pod of an agent audited (issue 15): agent_status through the real ``ansible`` on a
one-cluster lab of 2 shards x 2 replicas (four agent processes behind prometheus-operator's
names), its result judged by the fleet's check evaluator. Healthy: POD, HEALTH, MEMORY and CONFIG
ok, saying 4 pods; one pod crash-looping: that pod named in POD and HEALTH, the three others not;
one pod near its memory limit and another whose config reload failed: each named in MEMORY and
CONFIG, the others not."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ansible_runner_helpers import run_module  # pylint: disable=import-error
from lab_fixtures import scraping_lab, wait_for  # pylint: disable=import-error

from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import fleet_checks

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NS = "monitoring"
CLUSTER = "lab-1"
PODS = ["prom-agent-lab-1-0", "prom-agent-lab-1-1", "prom-agent-lab-1-shard-1-0", "prom-agent-lab-1-shard-1-1"]


@pytest.fixture(scope="module", name="shards_lab")
def fixture_shards_lab():
    """One cluster, 2 shards x 2 replicas, every pod scraping; stopped afterwards."""
    yield from scraping_lab("fleetops-every-pod-", shards=2, replicas=2)


def agent_status(lab):
    """agent_status of the cluster by the default selector (every pod of the agent), and the evaluator's checks."""
    run = run_module("agent_status", {"kubeconfig": str(lab.workdir / "kubeconfig"), "context": CLUSTER, "namespace": NS},
                     env={"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops", "ANSIBLE_PYTHON_INTERPRETER": sys.executable})
    assert run.rc == 0, run.output[-3000:]
    result = json.loads(run.stdout[run.stdout.index("{"):])
    fleet = fleet_checks.evaluate("daily", {"agent_status": result})
    return result, {c["id"]: c for c in fleet["checks"]}, fleet


def test_four_healthy_pods_ok_saying_four_pods(shards_lab):
    result, checks, fleet = agent_status(shards_lab)
    assert sorted(p["name"] for p in result["pods"]) == PODS
    assert {p["name"]: p["shard"] for p in result["pods"]} == dict(zip(PODS, ["0", "0", "1", "1"]))
    assert all(p["health"] == {"healthy": True, "ready": True, "error": None} for p in result["pods"]), result["pods"]
    for cid in ("POD", "HEALTH", "MEMORY", "CONFIG"):
        assert checks[cid]["status"] == "ok", checks[cid]
        assert "4 pods" in checks[cid]["message"], checks[cid]
    assert fleet["facts"]["pod_count"] == 4 and len(fleet["facts"]["pod_table"]) == 4
    # each pod's own process: its resident memory from its own /metrics
    assert all(p["memory_bytes"] > 10 * 2 ** 20 and p["config_reload_ok"] is True for p in result["pods"]), result["pods"]
    assert len({p["memory_bytes"] for p in result["pods"]}) > 1, result["pods"]


def test_one_pod_near_its_limit_and_one_bad_config_each_named_the_others_not(shards_lab):
    hungry, broken = PODS[2], PODS[1]
    shards_lab.fault("high-memory", CLUSTER, pod=hungry)
    shards_lab.fault("bad-config", CLUSTER, pod=broken)
    try:
        result, checks, _fleet = agent_status(shards_lab)
        memory, config = checks["MEMORY"], checks["CONFIG"]
        assert memory["status"] == "critical" and memory["message"].startswith("1 of 4 pods: %s: resident memory" % hungry), memory
        assert "of the limit" in memory["message"] and not [n for n in PODS if n != hungry and n in memory["message"]], memory
        assert config["status"] == "critical", config
        assert config["message"].startswith("1 of 4 pods: %s: the last configuration reload failed" % broken), config
        assert not [n for n in PODS if n != broken and n in config["message"]], config
        by_name = {p["name"]: p for p in result["pods"]}
        assert by_name[broken]["config_reload_ok"] is False and by_name[hungry]["config_reload_ok"] is True
    finally:
        shards_lab.heal("bad-config", CLUSTER, pod=broken)
        shards_lab.heal("high-memory", CLUSTER, pod=hungry)
    _result, checks, _fleet = agent_status(shards_lab)
    assert checks["MEMORY"]["status"] == "ok" and checks["CONFIG"]["status"] == "ok", (checks["MEMORY"], checks["CONFIG"])


def test_one_crash_looping_pod_named_the_others_not(shards_lab):
    victim = PODS[3]
    shards_lab.fault("crashloop", CLUSTER, pod=victim)
    try:
        def crash_looping():
            out = subprocess.run(["kubectl", "--kubeconfig", str(shards_lab.workdir / "kubeconfig"), "--context", CLUSTER,
                                  "get", "pod", "-n", NS, victim], capture_output=True, text=True, timeout=60, check=False).stdout
            return "CrashLoopBackOff" in out
        wait_for(crash_looping, 60, what="the victim in CrashLoopBackOff")
        result, checks, fleet = agent_status(shards_lab)
        assert checks["POD"]["status"] == "critical", checks["POD"]
        assert checks["HEALTH"]["status"] in ("warning", "critical"), checks["HEALTH"]
        for cid in ("POD", "HEALTH"):
            message = checks[cid]["message"]
            assert message.startswith("1 of 4 pods: " + victim), checks[cid]
            assert not [name for name in PODS[:3] if name in message], checks[cid]
        assert fleet["status"] == "critical"
        rows = {r["name"]: r for r in fleet["facts"]["pod_table"]}
        assert rows[victim]["healthy"] is False and [rows[n]["healthy"] for n in PODS[:3]] == [True, True, True]
        assert result["agent"]["pod"] != victim and checks["INGEST"]["status"] != "unknown"
        # the three others' memory and config judged; the victim's said unread, not blamed
        for cid in ("MEMORY", "CONFIG"):
            assert checks[cid]["status"] == "ok" and ("not read on %s (" % victim) in checks[cid]["message"], checks[cid]
    finally:
        shards_lab.heal("crashloop", CLUSTER, pod=victim)
    wait_for(lambda: shards_lab.status()["pods"][CLUSTER][victim]["ready"], 60, what="the victim ready again")
