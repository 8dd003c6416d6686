"""An agent in DaemonSet mode audited and restarted (issue 15): a one-cluster lab of ``--mode
daemonset`` on 3 nodes (one agent process per node, its pod named by the DaemonSet, a random suffix).
agent_status and wal_inspect without ``pod`` read every pod: ok, saying 3 pods, each pod named in the
results; one pod crash-looping is named in POD and HEALTH (judged by the fleet's check evaluator),
the two others not; agent_restart of one pod deletes it alone, and the DaemonSet's new pod (a new name
on the same node) is Ready and verified while the two other pods keep their uid."""

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
NODES = 3
ENV = {"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops", "ANSIBLE_PYTHON_INTERPRETER": sys.executable}


@pytest.fixture(scope="module", name="ds_lab")
def fixture_ds_lab():
    """One cluster, the agent a DaemonSet on 3 nodes, every pod scraping; stopped afterwards."""
    yield from scraping_lab("fleetops-daemonset-", pods=NODES, mode="daemonset", nodes=NODES)


def kubectl_json(lab, *args):
    out = subprocess.run(["kubectl", "--kubeconfig", str(lab.workdir / "kubeconfig"), "--context", CLUSTER, "-n", NS, *args,
                          "-o", "json"], capture_output=True, text=True, timeout=60, check=True).stdout
    return json.loads(out)


def agent_pods(lab):
    """{pod name: pod} of the DaemonSet's pods the API serves."""
    return {p["metadata"]["name"]: p for p in kubectl_json(lab, "get", "pods")["items"]
            if [r["kind"] for r in p["metadata"].get("ownerReferences") or []] == ["DaemonSet"]}


def module(lab, name, **args):
    run = run_module(name, dict({"kubeconfig": str(lab.workdir / "kubeconfig"), "context": CLUSTER, "namespace": NS}, **args),
                     env=ENV)
    assert run.rc == 0, run.output[-3000:]
    return json.loads(run.stdout[run.stdout.index("{"):])


def agent_status(lab):
    result = module(lab, "agent_status")
    fleet = fleet_checks.evaluate("daily", {"agent_status": result})
    return result, {c["id"]: c for c in fleet["checks"]}, fleet


def test_every_daemonset_pod_audited_ok(ds_lab):
    pods = agent_pods(ds_lab)
    assert len(pods) == NODES and len({p["spec"]["nodeName"] for p in pods.values()}) == NODES
    result, checks, fleet = agent_status(ds_lab)
    assert sorted(p["name"] for p in result["pods"]) == sorted(pods)
    assert all(p["health"] == {"healthy": True, "ready": True, "error": None} for p in result["pods"]), result["pods"]
    for cid in ("POD", "HEALTH"):
        assert checks[cid]["status"] == "ok", checks[cid]
        assert "%d pods" % NODES in checks[cid]["message"], checks[cid]
    assert fleet["facts"]["pod_count"] == NODES and sorted(r["name"] for r in fleet["facts"]["pod_table"]) == sorted(pods)

    wal = module(ds_lab, "wal_inspect", location="pod", verify="full")
    assert sorted(p["name"] for p in wal["pods"]) == sorted(pods)
    wal_health = {c["id"]: c for c in wal["checks"]}["WAL-HEALTH"]
    assert wal_health["status"] == "ok" and "(%d pods)" % NODES in wal_health["message"], wal_health
    assert all(p["wal"]["verified_bytes"] > 0 for p in wal["pods"]), wal["pods"]


def test_one_crash_looping_daemonset_pod_named_the_others_not(ds_lab):
    names = sorted(agent_pods(ds_lab))
    victim = names[1]
    ds_lab.fault("crashloop", CLUSTER, pod=victim)
    try:
        def crash_looping():
            out = subprocess.run(["kubectl", "--kubeconfig", str(ds_lab.workdir / "kubeconfig"), "--context", CLUSTER,
                                  "get", "pod", "-n", NS, victim], capture_output=True, text=True, timeout=60, check=False).stdout
            return "CrashLoopBackOff" in out
        wait_for(crash_looping, 60, what="the victim in CrashLoopBackOff")
        _result, checks, fleet = agent_status(ds_lab)
        assert checks["POD"]["status"] == "critical", checks["POD"]
        assert checks["HEALTH"]["status"] in ("warning", "critical"), checks["HEALTH"]
        for cid in ("POD", "HEALTH"):
            message = checks[cid]["message"]
            assert message.startswith("1 of %d pods: %s" % (NODES, victim)), checks[cid]
            assert not [name for name in names if name != victim and name in message], checks[cid]
        rows = {r["name"]: r for r in fleet["facts"]["pod_table"]}
        assert rows[victim]["healthy"] is False and all(rows[n]["healthy"] for n in names if n != victim)
    finally:
        ds_lab.heal("crashloop", CLUSTER, pod=victim)
    wait_for(lambda: all(p["ready"] for p in ds_lab.status()["pods"][CLUSTER].values()), 90, what="every pod ready again")


def test_restart_of_one_daemonset_pod_leaves_the_others_alone(ds_lab):
    before = agent_pods(ds_lab)
    victim = sorted(before)[0]
    node = before[victim]["spec"]["nodeName"]
    result = module(ds_lab, "agent_restart", pod=victim, reason="unhealthy", rw_interval=2, wait_timeout=120, verify_timeout=90,
                    cooldown_seconds=0)
    assert result["changed"] is True and result["action"] == "graceful", result
    assert result["controller"]["kind"] == "DaemonSet" and result["controller"]["restart"] == "pod deletion", result["controller"]
    new = result["after"]["name"]
    assert new != victim and result["after"]["uid"] != before[victim]["metadata"]["uid"] and result["after"]["ready"]
    assert all(result["verification"][key]["ok"] for key in ("health", "targets", "remote_write")), result["verification"]
    after = agent_pods(ds_lab)
    assert victim not in after and after[new]["spec"]["nodeName"] == node
    assert {n: after[n]["metadata"]["uid"] for n in before if n != victim} == \
        {n: before[n]["metadata"]["uid"] for n in before if n != victim}
