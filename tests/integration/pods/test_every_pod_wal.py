"""WAL-HEALTH of every pod (issue 15): wal_inspect without ``pod`` on a one-cluster lab of 2 shards x
2 replicas reads the WAL of each of the four pods through exec; the lab's ``wal-corrupt-live`` fault
(bytes flipped in a record of a closed segment of one pod's WAL while its agent runs) makes WAL-HEALTH critical
naming that pod, and not the three others, whose own results stay ok."""

from __future__ import annotations

import json
import sys

import pytest

from ansible_runner_helpers import run_module  # pylint: disable=import-error
from lab_fixtures import scraping_lab  # pylint: disable=import-error

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NS = "monitoring"
CLUSTER = "lab-1"
PODS = ["prom-agent-lab-1-0", "prom-agent-lab-1-1", "prom-agent-lab-1-shard-1-0", "prom-agent-lab-1-shard-1-1"]


@pytest.fixture(scope="module", name="shards_lab")
def fixture_shards_lab():
    """One cluster, 2 shards x 2 replicas, every pod scraping; stopped afterwards."""
    yield from scraping_lab("fleetops-every-pod-wal-", shards=2, replicas=2)


def wal_inspect(lab):
    # The run's deadline covers every pod's execs (a listing, then a read of each file), one pod after
    # the other; on a loaded 2-core machine four pods took more than the default 10 s, and the last
    # pod came back unknown. These tests are about what each pod's WAL says, not the deadline
    # (reliability/test_deadline is): give them room.
    run = run_module("wal_inspect", {"kubeconfig": str(lab.workdir / "kubeconfig"), "context": CLUSTER, "namespace": NS,
                                     "location": "pod", "verify": "full", "timeout": 60},
                     env={"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops", "ANSIBLE_PYTHON_INTERPRETER": sys.executable})
    assert run.rc == 0, run.output[-3000:]
    result = json.loads(run.stdout[run.stdout.index("{"):])
    return result, {c["id"]: c for c in result["checks"]}


def test_every_pod_wal_read_ok(shards_lab):
    result, checks = wal_inspect(shards_lab)
    assert sorted(p["name"] for p in result["pods"]) == PODS
    assert {p["name"]: p["shard"] for p in result["pods"]} == dict(zip(PODS, ["0", "0", "1", "1"]))
    assert checks["WAL-HEALTH"]["status"] == "ok", checks["WAL-HEALTH"]
    assert "(4 pods)" in checks["WAL-HEALTH"]["message"]
    assert all(p["wal"]["verified_bytes"] > 0 for p in result["pods"]), result["pods"]


def test_one_corrupt_wal_named_the_others_not(shards_lab):
    victim = PODS[2]
    details = shards_lab.fault("wal-corrupt-live", CLUSTER, pod=victim)
    details = details.get("details", details)
    try:
        result, checks = wal_inspect(shards_lab)
    finally:
        shards_lab.heal("wal-corrupt-live", CLUSTER, pod=victim)
    health = checks["WAL-HEALTH"]
    assert health["status"] == "critical", health
    assert details["segment_name"] in health["message"], (details, health)
    assert health["message"].startswith("1 of 4 pods: " + victim), health
    assert not [name for name in PODS if name != victim and name in health["message"]], health
    per_pod = {p["name"]: p for p in result["pods"]}
    assert per_pod[victim]["status"] == "critical"
    assert [per_pod[n]["status"] for n in PODS if n != victim] == ["ok", "ok", "ok"]
    assert result["pod"] == victim
