"""A restart of one pod of a sharded, replicated agent (issue 15): agent_restart through the real
``ansible`` on a one-cluster lab of 2 shards x 2 replicas (four agent processes behind
prometheus-operator's names). The restart acts (as an approved remediation does) on
prom-agent-lab-1-shard-1-1 only: its StatefulSet runs two pods, so the pod is deleted with its own
grace period (no rollout restart of the shard), its new pod (the same name, a new uid) is Ready and
verified, and the uid of each of the three other pods is unchanged. Without ``pod``, the pod a
restart is for is the least healthy of the selector: the crash-looping one, in check mode."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ansible_runner_helpers import run_module  # pylint: disable=import-error
from lab_fixtures import scraping_lab, wait_for  # pylint: disable=import-error

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NS = "monitoring"
CLUSTER = "lab-1"
PODS = ["prom-agent-lab-1-0", "prom-agent-lab-1-1", "prom-agent-lab-1-shard-1-0", "prom-agent-lab-1-shard-1-1"]
VICTIM = "prom-agent-lab-1-shard-1-1"


@pytest.fixture(scope="module", name="shards_lab")
def fixture_shards_lab():
    """One cluster, 2 shards x 2 replicas, every pod scraping; stopped afterwards."""
    yield from scraping_lab("fleetops-every-pod-restart-", shards=2, replicas=2)


def kubectl_json(lab, *args):
    out = subprocess.run(["kubectl", "--kubeconfig", str(lab.workdir / "kubeconfig"), "--context", CLUSTER, "-n", NS, *args,
                          "-o", "json"], capture_output=True, text=True, timeout=60, check=True).stdout
    return json.loads(out)


def uids(lab):
    """{pod name: uid} of the agent pods the API serves."""
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in kubectl_json(lab, "get", "pods")["items"]
            if p["metadata"]["name"].startswith("prom-agent-")}


def test_restart_of_one_pod_leaves_the_three_others_alone(shards_lab):
    before = uids(shards_lab)
    assert sorted(before) == PODS
    shard_sts = kubectl_json(shards_lab, "get", "statefulset", "prom-agent-lab-1-shard-1")
    revision = shard_sts["metadata"].get("generation")
    run = run_module("agent_restart", {"kubeconfig": str(shards_lab.workdir / "kubeconfig"), "context": CLUSTER, "namespace": NS,
                                       "pod": VICTIM, "reason": "unhealthy", "rw_interval": 2, "wait_timeout": 120,
                                       "verify_timeout": 90, "cooldown_seconds": 0},
                     env={"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops", "ANSIBLE_PYTHON_INTERPRETER": sys.executable})
    assert run.rc == 0, run.output[-3000:]
    result = json.loads(run.stdout[run.stdout.index("{"):])
    assert result["changed"] is True and result["action"] == "graceful", result
    assert result["controller"] == {"kind": "StatefulSet", "name": "prom-agent-lab-1-shard-1", "pods": 2,
                                    "restart": "pod deletion"}, result["controller"]
    assert result["before"]["name"] == VICTIM and result["before"]["uid"] == before[VICTIM]
    assert result["after"]["name"] == VICTIM and result["after"]["uid"] != before[VICTIM] and result["after"]["ready"]
    assert all(result["verification"][key]["ok"] for key in ("health", "targets", "remote_write")), result["verification"]
    assert result["lease"]["recorded"]["change"] == "pod %s/%s deleted (grace 600s)" % (NS, VICTIM), result["lease"]

    after = uids(shards_lab)
    assert sorted(after) == PODS
    assert {name: after[name] for name in PODS if name != VICTIM} == {name: before[name] for name in PODS if name != VICTIM}
    assert after[VICTIM] == result["after"]["uid"] != before[VICTIM]
    victim = kubectl_json(shards_lab, "get", "pod", VICTIM)
    assert [c["status"] for c in victim["status"]["conditions"] if c["type"] == "Ready"] == ["True"]
    # the shard's StatefulSet was not rolled: its template is as it was
    assert kubectl_json(shards_lab, "get", "statefulset", "prom-agent-lab-1-shard-1")["metadata"].get("generation") == revision


def test_without_pod_the_crash_looping_pod_is_the_one_planned(shards_lab):
    victim = PODS[1]
    shards_lab.fault("crashloop", CLUSTER, pod=victim)
    try:
        wait_for(lambda: "CrashLoopBackOff" in subprocess.run(
            ["kubectl", "--kubeconfig", str(shards_lab.workdir / "kubeconfig"), "--context", CLUSTER, "get", "pod", "-n", NS, victim],
            capture_output=True, text=True, timeout=60, check=False).stdout, 60, what="the victim in CrashLoopBackOff")
        before = uids(shards_lab)
        run = run_module("agent_restart", {"kubeconfig": str(shards_lab.workdir / "kubeconfig"), "context": CLUSTER, "namespace": NS,
                                           "reason": "crashloop", "rw_interval": 2, "cooldown_seconds": 0},
                         check=True, env={"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops", "ANSIBLE_PYTHON_INTERPRETER": sys.executable})
        assert run.rc == 0, run.output[-3000:]
        result = json.loads(run.stdout[run.stdout.index("{"):])
        assert result["before"]["name"] == victim and result["before"]["ready"] is False, result["before"]
        assert result["msg"] == "would graceful restart %s (StatefulSet prom-agent-lab-1, this pod alone)" % victim, result
        assert any(step.startswith("the selector matches 4 pods: restarting %s, the least healthy" % victim) for step in result["steps"])
        assert uids(shards_lab) == before
    finally:
        shards_lab.heal("crashloop", CLUSTER, pod=victim)
    wait_for(lambda: shards_lab.status()["pods"][CLUSTER][victim]["ready"], 60, what="the victim ready again")
