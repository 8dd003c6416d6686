"""Remote write of every pod (issue 15): remote_write_stats without ``pod`` on a one-cluster lab of 2
shards x 2 replicas reads the /metrics of each of the four agents (each sends its own share to the
receiver): four pods' queues with their own rates, totals that add up, every RW check ok saying
"(4 pods)", a snapshot per pod taken back as the next run's baseline; one crash-looping pod is named
in the RW checks, the three others not, and still read."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from ansible_runner_helpers import run_module  # pylint: disable=import-error
from lab_fixtures import api_audit, scraping_lab, wait_for  # pylint: disable=import-error

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NS = "monitoring"
CLUSTER = "lab-1"
PODS = ["prom-agent-lab-1-0", "prom-agent-lab-1-1", "prom-agent-lab-1-shard-1-0", "prom-agent-lab-1-shard-1-1"]
# seconds between two readings, so that every pod sent in it: a queue sends at each 5 s tick of its batch
# deadline what the 5 s scrapes appended, and a scrape late under load leaves a tick with nothing to
# send, so two sends can be 10 s apart (6 s here saw a pod deliver nothing, in a CI run)
WAIT = 11
RW_IDS = ("RW-SUCCESS", "RW-RETRY", "RW-LAG", "RW-PENDING", "RW-SHARDS", "RW-LATENCY", "RW-DROPPED")


@pytest.fixture(scope="module", name="shards_lab")
def fixture_shards_lab():
    """One cluster, 2 shards x 2 replicas, every pod scraping; stopped afterwards."""
    yield from scraping_lab("fleetops-every-pod-rw-", shards=2, replicas=2)


def remote_write_stats(lab, **options):
    args = {"kubeconfig": str(lab.workdir / "kubeconfig"), "context": CLUSTER, "namespace": NS}
    args.update(options)
    run = run_module("remote_write_stats", args,
                     env={"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops", "ANSIBLE_PYTHON_INTERPRETER": sys.executable})
    assert run.rc == 0, run.output[-3000:]
    result = json.loads(run.stdout[run.stdout.index("{"):])
    return result, {c["id"]: c for c in result["checks"]}


def test_every_pod_sends_its_share_and_the_totals_add_up(shards_lab):
    result, checks = remote_write_stats(shards_lab, interval=WAIT)
    assert sorted(q["pod"] for q in result["queues"]) == PODS, result["queues"]
    assert result["pod_count"] == 4 and sorted(p["name"] for p in result["pods"]) == PODS
    assert {p["name"]: p["shard"] for p in result["pods"]} == dict(zip(PODS, ["0", "0", "1", "1"]))
    assert all(q["samples_per_second"] > 0 for q in result["queues"]), result["queues"]
    totals = result["totals"]
    assert totals["queues"] == 4
    assert totals["samples_per_second"] == pytest.approx(sum(q["samples_per_second"] for q in result["queues"]), abs=1e-5)
    assert totals["bytes_per_second"] == pytest.approx(sum(q["bytes_per_second"] for q in result["queues"]), abs=1e-5)
    assert totals["pending_samples"] == sum(q["pending_samples"] for q in result["queues"])
    for cid in RW_IDS:
        assert checks[cid]["status"] == "ok", checks[cid]
        assert checks[cid]["message"].endswith("(4 pods)"), checks[cid]
    assert result["status"] == "ok"
    # the snapshot holds each pod's own reading; given back, each pod's rates are over its own window
    assert sorted(result["snapshot"]["pods"]) == PODS
    time.sleep(WAIT)
    again, checks = remote_write_stats(shards_lab, baseline=result["snapshot"])
    assert again["window_seconds"] > 0 and sorted(q["pod"] for q in again["queues"]) == PODS
    assert all(q["samples_per_second"] > 0 and not q.get("notes") for q in again["queues"]), again["queues"]
    assert checks["RW-SUCCESS"]["status"] == "ok", checks["RW-SUCCESS"]
    # one pod asked for: that pod alone, as before
    one, _checks = remote_write_stats(shards_lab, pod=PODS[1], interval=WAIT)
    assert "pods" not in one and "totals" not in one and len(one["queues"]) == 1 and "pod" not in one["queues"][0]
    assert PODS[1] in one["agent"] and one["queues"][0]["samples_per_second"] > 0


def test_one_crash_looping_pod_named_the_others_read(shards_lab):
    victim = PODS[2]
    shards_lab.fault("crashloop", CLUSTER, pod=victim)
    try:
        def crash_looping():
            out = subprocess.run(["kubectl", "--kubeconfig", str(shards_lab.workdir / "kubeconfig"), "--context", CLUSTER,
                                  "get", "pod", "-n", NS, victim], capture_output=True, text=True, timeout=60, check=False).stdout
            return "CrashLoopBackOff" in out
        wait_for(crash_looping, 60, what="the victim in CrashLoopBackOff")
        result, checks = remote_write_stats(shards_lab, interval=WAIT)
    finally:
        shards_lab.heal("crashloop", CLUSTER, pod=victim)
    for cid in RW_IDS:
        message = checks[cid]["message"]
        assert checks[cid]["status"] == "unknown", checks[cid]
        assert message.startswith("1 of 4 pods: %s: the pod's /metrics could not be read" % victim), checks[cid]
        assert not [name for name in PODS if name != victim and name in message], checks[cid]
    per_pod = {p["name"]: p for p in result["pods"]}
    assert per_pod[victim]["status"] == "unknown" and per_pod[victim]["reason"]
    assert [per_pod[n]["status"] for n in PODS if n != victim] == ["ok", "ok", "ok"]
    assert sorted(q["pod"] for q in result["queues"]) == [n for n in PODS if n != victim]
    assert all(q["samples_per_second"] > 0 for q in result["queues"]), result["queues"]
    wait_for(lambda: shards_lab.status()["pods"][CLUSTER][victim]["ready"], 60, what="the victim ready again")


def run_audit(lab, **options):
    args = {"kubeconfig": str(lab.workdir / "kubeconfig"), "context": CLUSTER, "namespace": NS,
            "gather": ["remote_write_stats", "agent_status"]}
    args.update(options)
    run = run_module("agent_audit", args,
                     env={"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops", "ANSIBLE_PYTHON_INTERPRETER": sys.executable})
    assert run.rc == 0, run.output[-3000:]
    return json.loads(run.stdout[run.stdout.index("{"):])


def test_agent_audit_reads_every_pod_and_takes_its_snapshot_back(shards_lab):
    first = run_audit(shards_lab)
    rw_part = first["parts"]["remote_write_stats"]
    assert rw_part["pod_count"] == 4 and sorted(q["pod"] for q in rw_part["queues"]) == PODS
    assert sorted(first["snapshot"]["remote_write_stats"]["pods"]) == PODS
    assert first["parts"]["agent_status"]["agent"]["pod"] in PODS     # agent_status read its page as before
    time.sleep(WAIT)
    second = run_audit(shards_lab, baseline=first["snapshot"])
    rw_part = second["parts"]["remote_write_stats"]
    checks = {c["id"]: c for c in rw_part["checks"]}
    assert rw_part["window_seconds"] >= WAIT and "baseline_notes" not in second
    assert checks["RW-SUCCESS"]["status"] == "ok" and checks["RW-SUCCESS"]["message"].endswith("(4 pods)"), checks
    assert all(q["samples_per_second"] > 0 for q in rw_part["queues"]), rw_part["queues"]
    assert rw_part["totals"]["samples_per_second"] == pytest.approx(
        sum(q["samples_per_second"] for q in rw_part["queues"]), abs=1e-5)


def test_agent_audit_lists_the_pods_once(shards_lab):
    """Its four parts each need the agent's pods (remote write and the WAL of every pod, the status's
    pod checks): one LIST of the selector serves them all (issue 13), as the lab API's audit log shows."""
    since = time.time()
    result = run_audit(shards_lab, gather=["remote_write_stats", "agent_status", "wal_inspect", "agent_logs"])
    assert sorted(p["name"] for p in result["parts"]["wal_inspect"]["pods"]) == PODS, result["parts"]["wal_inspect"]
    assert result["parts"]["remote_write_stats"]["pod_count"] == 4
    path = "/clusters/%s/api/v1/namespaces/%s/pods" % (CLUSTER, NS)
    listings = [e for e in api_audit(shards_lab, CLUSTER, since) if e["method"] == "GET" and e["path"] == path]
    assert len(listings) == 1, listings
