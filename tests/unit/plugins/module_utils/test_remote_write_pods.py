"""remote_write_stats of an agent of several pods (shards x replicas): every pod read, each pod's
rates against its own baseline reading, the RW-* checks rolled up over the pods (the bad pod named,
the others not; "(4 pods)" when all are ok), totals that add up, one pod's restart only its own."""

from __future__ import annotations

import copy
import json
from collections import Counter

import pytest

from test_remote_write import T0, by_id, page_242, reading  # pylint: disable=import-error

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils import runners
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import TargetUnreachable
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import remote_write as rw
from ansible_collections.fleetops.prometheus_agent.plugins.modules import remote_write_stats

SHARD = "operator.prometheus.io/shard"
PODS = [("prom-agent-lab-1-0", "0"), ("prom-agent-lab-1-1", "0"), ("prom-agent-lab-1-shard-1-0", "1"),
        ("prom-agent-lab-1-shard-1-1", "1")]
NAMES = [name for name, _shard in PODS]
TH = rw.thresholds()


def pods_result(current, baseline=None):
    """The result of every pod of PODS: ``current`` {name: reading}."""
    readings = dict((name, (current[name], None)) for name in NAMES)
    return rw.pods_stats_result({}, PODS, readings, TH, baseline)


def healthy(now, rates=(10, 20, 30, 40), start=T0 - 3600):
    """Every pod's reading at ``now``: pod i delivered ``rates[i]`` samples/s since T0."""
    return dict((name, reading(page_242(samples=10000 + rate * (now - T0), bytes_=200000 + 20 * rate * (now - T0),
                                        sent_ts=now, newest=now, start=start), now))
                for name, rate in zip(NAMES, rates))


def base_snapshot():
    return rw.pods_reading(healthy(T0))


def test_four_healthy_pods_are_ok_saying_4_pods_and_the_totals_add_up():
    result = pods_result(healthy(T0 + 60), base_snapshot())
    checks = by_id(result["checks"])
    assert list(checks) == list(rw.RW_CHECK_IDS)
    for cid, chk in checks.items():
        assert chk["status"] == "ok", chk
        assert chk["message"].endswith("(4 pods)"), chk
    assert result["status"] == "ok" and result["pod_count"] == 4 and result["window_seconds"] == 60.0
    assert [q["pod"] for q in result["queues"]] == NAMES
    assert [q["samples_per_second"] for q in result["queues"]] == [10.0, 20.0, 30.0, 40.0]
    totals = result["totals"]
    assert totals["samples_per_second"] == 100.0 == sum(q["samples_per_second"] for q in result["queues"])
    assert totals["bytes_per_second"] == sum(q["bytes_per_second"] for q in result["queues"]) == 2000.0
    assert totals["pending_samples"] == 400 and totals["queues"] == 4 and totals["success_ratio"] == 1.0
    assert [(p["name"], p["shard"], p["status"], p["samples_per_second"]) for p in result["pods"]] == [
        (name, shard, "ok", rate) for (name, shard), rate in zip(PODS, (10.0, 20.0, 30.0, 40.0))]
    # the snapshot is one reading per pod, JSON-safe, and taken back as a baseline
    snap = json.loads(json.dumps(result["snapshot"]))
    assert sorted(snap["pods"]) == sorted(NAMES) and snap["time"] == T0 + 60
    assert rw.as_reading(json.loads(json.dumps(result))) == snap     # a whole result is taken too
    one = json.loads(json.dumps(rw.stats_result({}, reading(page_242(), T0), TH)))
    assert rw.as_reading(one) == one["snapshot"]
    again = pods_result(healthy(T0 + 120), rw.as_reading(snap))
    assert again["window_seconds"] == 60.0 and again["totals"]["samples_per_second"] == 100.0


def test_one_failing_pod_is_named_and_no_other():
    current = healthy(T0 + 60)
    bad = NAMES[2]
    # a receiver that refuses this pod's requests: retries rise, no byte sent
    current[bad] = reading(page_242(samples=10600, retried=600, bytes_=200000, sent_ts=T0, newest=T0 + 60), T0 + 60)
    result = pods_result(current, base_snapshot())
    checks = by_id(result["checks"])
    for cid in ("RW-SUCCESS", "RW-RETRY"):
        assert checks[cid]["status"] == "critical", checks[cid]
        assert checks[cid]["message"].startswith("1 of 4 pods: %s: " % bad), checks[cid]
        for other in NAMES:
            if other != bad:
                assert other + ":" not in checks[cid]["message"]
    assert checks["RW-SUCCESS"]["value"] == 0.0
    assert checks["RW-SHARDS"]["status"] == "ok" and checks["RW-SHARDS"]["message"].endswith("(4 pods)")
    assert [p["status"] for p in result["pods"]] == ["ok", "ok", "critical", "ok"]
    assert result["status"] == "critical"
    assert result["totals"]["samples_per_second"] == 10.0 + 20.0 + 40.0


def test_the_baseline_is_per_pod():
    base = base_snapshot()
    del base["pods"][NAMES[3]]                      # a pod new since the baseline
    result = pods_result(healthy(T0 + 60), base)
    checks = by_id(result["checks"])
    assert checks["RW-SUCCESS"]["status"] == "unknown"
    assert checks["RW-SUCCESS"]["message"].startswith("1 of 4 pods: %s: the pod was not in the baseline" % NAMES[3])
    assert [q["samples_per_second"] for q in result["queues"]] == [10.0, 20.0, 30.0, None]
    # an old baseline of one pod is accepted: no rates until the next reading, saying why
    old = rw.as_reading(reading(page_242(), T0))
    checks = by_id(pods_result(healthy(T0 + 60), old)["checks"])
    assert checks["RW-SUCCESS"]["status"] == "unknown" and "baseline is of one pod" in checks["RW-SUCCESS"]["message"]
    assert checks["RW-LAG"]["status"] == "ok"
    with pytest.raises(ValueError, match="pod x"):
        rw.as_reading({"time": T0, "pods": {"x": {"queues": {}}}})


def test_a_restart_of_one_pod_resets_that_pod_only():
    current = healthy(T0 + 60)
    restarted = NAMES[1]
    # restarted 30 s ago: its counters start from 0 (lower than the baseline's)
    current[restarted] = reading(page_242(samples=300, bytes_=6000, sent_ts=T0 + 60, newest=T0 + 60, start=T0 + 30), T0 + 60)
    result = pods_result(current, base_snapshot())
    by_pod = dict((q["pod"], q) for q in result["queues"])
    assert rw.RESTART_NOTE in by_pod[restarted]["notes"]
    assert by_pod[restarted]["samples_per_second"] == 5.0          # 300 samples since its start, over the window
    for name in NAMES:
        if name != restarted:
            assert rw.RESTART_NOTE not in (by_pod[name].get("notes") or [])
    assert [by_pod[n]["samples_per_second"] for n in (NAMES[0], NAMES[2], NAMES[3])] == [10.0, 30.0, 40.0]
    assert result["status"] == "ok"


# ----------------------------------------------------------------------------- through the runner

class PodsAgent:
    """An agent of the four PODS through Kubernetes, each pod's /metrics from ``pages`` (None: the
    pod does not answer)."""

    kind = "kubernetes"
    namespace = "monitoring"
    cluster = "fake"
    label_selector = "operator.prometheus.io/name=lab-1"

    def __init__(self, pages):
        self.pages = pages
        self.pinned = None
        self.reads = Counter()

    @property
    def pod_name(self):
        return self.pinned or NAMES[0]

    def describe(self):
        return "cluster fake pod monitoring/%s" % self.pod_name

    def pods(self):
        return [{"metadata": {"name": name, "labels": {SHARD: shard}}} for name, shard in PODS]

    def for_pod(self, name):
        other = copy.copy(self)
        other.pinned = name
        return other

    def http_get(self, path, timeout=None):
        assert path == "/metrics"
        self.reads[self.pod_name] += 1
        text = self.pages[self.pod_name]
        if text is None:
            raise TargetUnreachable("cluster fake: pod %s does not answer" % self.pod_name)
        return 200, text.encode()


def params(**options):
    found = {k: v.get("default") for k, v in remote_write_stats.argument_spec().items()}
    found.update(options)
    return found


def test_runner_reads_every_pod_and_names_the_unreachable_one():
    pages = dict((name, page_242()) for name in NAMES)
    pages[NAMES[3]] = None
    agent = PodsAgent(pages)
    result = runners.run_remote_write_stats(params(), agent)
    assert agent.reads == Counter(dict((name, 1) for name in NAMES))
    assert result["agent"] == "cluster fake pods monitoring/(operator.prometheus.io/name=lab-1): 4 pods"
    assert [q["pod"] for q in result["queues"]] == NAMES[:3] and result["pod_count"] == 4
    lag = by_id(result["checks"])["RW-LAG"]
    assert lag["status"] == "unknown" and lag["message"].startswith("1 of 4 pods: %s: " % NAMES[3])
    assert "does not answer" in lag["message"]
    assert sorted(result["snapshot"]["pods"]) == sorted(NAMES[:3])
    assert result["pods"][3]["reason"] == "cluster fake: pod %s does not answer" % NAMES[3]


def test_runner_shares_the_audit_page_and_keeps_one_pod_as_it_was():
    agent = PodsAgent(dict((name, page_242()) for name in NAMES))
    page = runners.exposition.PageOnce(lambda: runners.exposition.MetricsPage(agent))
    result = runners.run_remote_write_stats(params(), agent, page=page)
    page()      # agent_status's turn: the same page, not read again
    assert agent.reads == Counter(dict((name, 1) for name in NAMES))
    assert result["pod_count"] == 4
    # pod given: that pod alone, the result of one pod (no pods, no totals)
    agent = PodsAgent(dict((name, page_242()) for name in NAMES))
    one = runners.run_remote_write_stats(params(pod=NAMES[0]), agent)
    assert "pods" not in one and "totals" not in one and "pod" not in one["queues"][0]
    # a baseline of several pods given to a one-pod reading: that pod's own reading is used
    base = rw.pods_reading(healthy(T0))
    assert rw.one_pod_baseline(base, NAMES[1]) is base["pods"][NAMES[1]]
    assert rw.one_pod_baseline(base, "gone") is None


def test_a_rollup_of_many_bad_pods_stays_a_sentence():
    from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.checks import make, rollup_pods
    entries = [{"name": "agent-%d" % i, "checks": [make("RW-LAG", "critical", i, None, "lag %d s" % i)]} for i in range(20)]
    lag = rollup_pods(entries)[0]
    assert lag["message"].startswith("20 of 20 pods: agent-0: lag 0 s; agent-1: lag 1 s; ")
    assert "agent-4: lag 4 s; and 15 more: agent-5, agent-6" in lag["message"]
    assert lag["message"].endswith("agent-14 (and 5 more)") and lag["value"] == 0
