"""agent_health with several agent pods (shards x replicas): every pod's health and /metrics read
through its own pod proxy, POD, HEALTH, MEMORY and CONFIG judged per pod and rolled up (worst of,
the bad pods named, the healthy ones not), and a one-pod agent judged exactly as before."""

from __future__ import annotations

import threading

from test_agent_health import CAPTURES, NOW, FakeTarget, by_id, make_pod  # pylint: disable=import-error

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import agent_health as ah
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import exposition
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import remote_write as rw
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import TargetUnreachable

NAMES = ["prom-agent-lab-1-0", "prom-agent-lab-1-1", "prom-agent-lab-1-shard-1-0", "prom-agent-lab-1-shard-1-1"]


def shard_pods(bad=None):
    """The four pods of 2 shards x 2 replicas; ``bad``: {pod index: make_pod keywords}."""
    bad = bad or {}
    pods = []
    for index, name in enumerate(NAMES):
        pod = make_pod(name=name, uid="uid-%d" % index, **bad.get(index, {}))
        pod["metadata"]["labels"] = {ah.SHARD_LABEL: "1" if "shard-1" in name else "0"}
        pods.append(pod)
    return pods


class ShardsTarget(FakeTarget):
    """The fake target of the first pod; ``for_pod`` pins another, whose answers ``answers`` sets
    ({pod name: {path: status} or an exception}). Counts every health read and the threads."""

    def __init__(self, pods, answers=None, pinned=None, log=None):
        super().__init__(pods=pods)
        self.answers = answers or {}
        self.pinned = pinned
        self.log = log if log is not None else []

    @property
    def pod_name(self):
        return self.pinned or self._pods[0]["metadata"]["name"]

    def for_pod(self, name):
        return ShardsTarget(self._pods, self.answers, name, self.log)

    def http_get(self, path, timeout=None):
        name = self.pod_name
        if path in ("/-/healthy", "/-/ready", "/metrics"):
            self.log.append((name, path, threading.current_thread().name))
        answer = self.answers.get(name) or {}
        if isinstance(answer, Exception):
            raise answer
        if path in answer:
            found = answer[path]
            return found if isinstance(found, tuple) else (found, b"no")
        return super().http_get(path, timeout)


def test_four_healthy_pods_ok_saying_four_pods_each_read_once():
    target = ShardsTarget(shard_pods())
    res = ah.gather(target, now=NOW)
    checks = by_id(res)
    assert checks["POD"]["status"] == "ok" and checks["POD"]["message"].startswith("4 pods Running and Ready (")
    assert checks["HEALTH"]["status"] == "ok" and "4 pods" in checks["HEALTH"]["message"]
    assert checks["HEALTH"]["value"] == {"healthy": True, "ready": True, "pods": 4, "pods_ok": 4}
    assert [(p["name"], p["shard"]) for p in res["pods"]] == list(zip(NAMES, ["0", "0", "1", "1"]))
    assert all(p["health"] == {"healthy": True, "ready": True, "error": None} for p in res["pods"])
    # the first pod's health is the agent's reading; the three others through their own proxy, once each
    reads = sorted((name, path) for name, path, _t in target.log)
    assert reads == sorted([(n, p) for n in NAMES for p in ("/-/healthy", "/-/ready", "/metrics")])
    assert {t for name, _p, t in target.log if name != NAMES[0]} != {threading.current_thread().name}


def test_one_crash_looping_pod_named_the_others_not():
    victim = NAMES[3]
    crash = dict(phase="Running", ready=False, restarts=7, waiting="CrashLoopBackOff", last={"reason": "Error", "exitCode": 1})
    pods = shard_pods({3: crash})
    answers = {victim: TargetUnreachable("cluster lab-1: the agent in pod monitoring/%s does not answer on port 9090" % victim)}
    res = ah.gather(ShardsTarget(pods, answers), now=NOW)
    checks = by_id(res)
    pod, health = checks["POD"], checks["HEALTH"]
    assert pod["status"] == "critical" and pod["message"].startswith("1 of 4 pods: %s is in CrashLoopBackOff (7 restarts" % victim)
    assert health["status"] == "critical" and health["message"].startswith("1 of 4 pods: %s does not answer (" % victim)
    for healthy in NAMES[:3]:
        assert healthy not in pod["message"] and healthy not in health["message"]
    assert health["value"] == {"healthy": False, "ready": False, "pods": 4, "pods_ok": 3}
    assert res["agent"]["pod"] == NAMES[0] and by_id(res)["INGEST"]["status"] != "unknown"


def test_worst_of_a_not_ready_and_an_unhealthy_pod():
    answers = {NAMES[1]: {"/-/ready": 503}, NAMES[2]: {"/-/healthy": 500, "/-/ready": 503}}
    health = by_id(ah.gather(ShardsTarget(shard_pods(), answers), now=NOW))["HEALTH"]
    assert health["status"] == "critical"
    assert health["message"].startswith("2 of 4 pods: %s: /-/ready is not 200" % NAMES[1])
    assert "%s: /-/healthy does not answer 200" % NAMES[2] in health["message"]
    assert NAMES[0] not in health["message"] and NAMES[3] not in health["message"]
    only_ready = by_id(ah.gather(ShardsTarget(shard_pods(), {NAMES[1]: {"/-/ready": 503}}), now=NOW))["HEALTH"]
    assert only_ready["status"] == "warning" and only_ready["message"].startswith("1 of 4 pods: " + NAMES[1])


def test_one_pod_agent_checks_exactly_as_before():
    one = ah.gather(ShardsTarget([make_pod()]), now=NOW)
    checks = by_id(one)
    assert checks["POD"]["message"] == "1 agent pod(s) Running and Ready (prom-agent-lab-1-0)"
    assert checks["HEALTH"]["value"] == {"healthy": True, "ready": True}
    assert checks["HEALTH"]["message"].startswith("healthy and ready (Prometheus ")
    assert one["pods"][0]["shard"] is None and one["pods"][0]["health"]["healthy"] is True
    down = ah.gather(ShardsTarget([make_pod()], {"prom-agent-lab-1-0": TargetUnreachable("refused")}), now=NOW)
    assert by_id(down)["HEALTH"]["message"] == "the agent does not answer: refused"
    crash = ah.gather(ShardsTarget([make_pod(ready=False, restarts=3, waiting="CrashLoopBackOff")]), now=NOW)
    assert by_id(crash)["POD"]["message"].startswith("prom-agent-lab-1-0 is in CrashLoopBackOff (3 restarts")


def test_read_pods_health_bounded_pool_and_errors_per_pod():
    pods = [{"name": "p%d" % i} for i in range(9)]
    seen = []
    lock = threading.Lock()
    running = [0, 0]

    class Pinned:
        def __init__(self, name):
            self.name = name

        def http_get(self, path, timeout=None):
            with lock:
                running[0] += 1
                running[1] = max(running[1], running[0])
                seen.append(self.name)
            try:
                threading.Event().wait(0.02)
                if self.name == "p5":
                    raise TargetUnreachable("pod p5 is gone")
                return 200, b""
            finally:
                with lock:
                    running[0] -= 1

    class Target:
        @staticmethod
        def for_pod(name):
            return Pinned(name)

    ah.read_pods_health(Target(), pods, known={"p0": {"healthy": True, "ready": False, "error": None}}, workers=3)
    assert "p0" not in seen and sorted(set(seen)) == ["p%d" % i for i in range(1, 9)]
    assert 1 < running[1] <= 3
    assert pods[0]["health"] == {"healthy": True, "ready": False, "error": None}
    assert pods[5]["health"] == {"healthy": False, "ready": False, "error": "pod p5 is gone"}
    assert all(p["health"]["error"] is None for i, p in enumerate(pods) if i != 5)


def test_fleet_checks_carry_the_roll_up_and_a_row_per_pod():
    from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import fleet_checks  # pylint: disable=import-outside-toplevel
    victim = NAMES[2]
    answers = {victim: TargetUnreachable("the agent in pod monitoring/%s does not answer on port 9090" % victim)}
    result = ah.gather(ShardsTarget(shard_pods({2: dict(ready=False, waiting="CrashLoopBackOff", restarts=4)}), answers), now=NOW)
    fleet = fleet_checks.evaluate("daily", {"agent_status": result}, context={"now": NOW})
    checks = {c["id"]: c for c in fleet["checks"]}
    assert checks["POD"]["status"] == "critical" and checks["HEALTH"]["status"] == "critical" and fleet["status"] == "critical"
    for cid in ("POD", "HEALTH"):
        assert checks[cid]["message"].startswith("1 of 4 pods: " + victim)
        assert not [n for n in NAMES if n != victim and n in checks[cid]["message"]]
    assert fleet["facts"]["pod_count"] == 4
    rows = {r["name"]: r for r in fleet["facts"]["pod_table"]}
    assert rows[victim]["healthy"] is False and "does not answer" in rows[victim]["health_error"]
    assert [rows[n]["healthy"] for n in NAMES if n != victim] == [True, True, True] and rows[NAMES[3]]["shard"] == "1"
    one = fleet_checks.evaluate("daily", {"agent_status": ah.gather(ShardsTarget([make_pod()]), now=NOW)}, context={"now": NOW})
    assert "pod_count" not in one["facts"] and "pod_table" not in one["facts"] and one["facts"]["pod"] == "prom-agent-lab-1-0"
    healthy = fleet_checks.evaluate("daily", {"agent_status": ah.gather(ShardsTarget(shard_pods()), now=NOW)}, context={"now": NOW})
    assert all("4 pods" in c["message"] for c in healthy["checks"] if c["id"] in ("POD", "HEALTH"))


CAPTURED_METRICS = (CAPTURES / "agent_metrics.txt").read_text()


def metrics_with(rss=None, reload_ok=None):
    """The captured /metrics page with another resident memory or reload result (200, body)."""
    text = CAPTURED_METRICS
    if rss is not None:
        text = text.replace("process_resident_memory_bytes 5.3788672e+07", "process_resident_memory_bytes %d" % rss)
    if reload_ok is not None:
        text = text.replace("prometheus_config_last_reload_successful 1", "prometheus_config_last_reload_successful %d" % reload_ok)
    return 200, text.encode()


def test_memory_and_config_of_every_pod_ok_saying_how_many():
    res = ah.gather(ShardsTarget(shard_pods()), now=NOW)
    checks = by_id(res)
    assert checks["MEMORY"]["status"] == "ok" and checks["MEMORY"]["message"].endswith(", 4 pods"), checks["MEMORY"]
    assert checks["MEMORY"]["value"] == 53788672
    assert checks["CONFIG"]["status"] == "ok" and checks["CONFIG"]["message"].endswith("on 4 pods"), checks["CONFIG"]
    assert [p["memory_bytes"] for p in res["pods"]] == [53788672] * 4 and all(p["config_reload_ok"] for p in res["pods"])


def test_one_pod_near_its_limit_and_one_failed_reload_named_the_others_not():
    hungry, broken = NAMES[2], NAMES[1]
    answers = {hungry: {"/metrics": metrics_with(rss=480 * 2 ** 20)}, broken: {"/metrics": metrics_with(reload_ok=0)}}
    res = ah.gather(ShardsTarget(shard_pods(), answers), now=NOW)
    memory, config = by_id(res)["MEMORY"], by_id(res)["CONFIG"]
    # the pods' limit is 512Mi: 480 MiB is 94% of it, over the critical ratio
    assert memory["status"] == "critical" and memory["message"].startswith("1 of 4 pods: %s: resident memory 480Mi is 94%% of the limit 512Mi" % hungry), memory
    assert memory["value"] == 480 * 2 ** 20 and not any(n in memory["message"] for n in NAMES if n != hungry), memory
    assert config["status"] == "critical" and config["message"].startswith("1 of 4 pods: %s: the last configuration reload failed"
                                                                           % broken), config
    assert not any(n in config["message"] for n in NAMES if n != broken), config


def test_an_oom_kill_of_one_pod_and_an_unreadable_page_of_another():
    oom = dict(last={"reason": "OOMKilled", "exitCode": 137, "finishedAt": "2026-11-23T12:00:00Z"}, restarts=1)
    pods = shard_pods({3: oom})
    res = ah.gather(ShardsTarget(pods, {NAMES[1]: {"/metrics": (200, b"<html>not a metrics page</html>")}}), now=NOW)
    memory = by_id(res)["MEMORY"]
    assert memory["status"] == "critical" and ("1 of 4 pods: %s was OOMKilled" % NAMES[3]) in memory["message"], memory
    assert ("not read on %s (" % NAMES[1]) in memory["message"], memory
    assert "memory_bytes" not in res["pods"][1] and "not a metrics page" in res["pods"][1]["metrics_error"], res["pods"][1]
    # a page that cannot be read of every other pod: the pod read (the agent's own) still judges
    unread = {n: {"/metrics": (503, b"")} for n in NAMES[1:]}
    config = by_id(ah.gather(ShardsTarget(shard_pods(), unread), now=NOW))["CONFIG"]
    assert config["status"] == "ok" and config["message"].startswith("the last configuration reload succeeded on 1 pods; not read on")


def test_an_audit_reads_each_pods_metrics_once_for_status_and_remote_write():
    target = ShardsTarget(shard_pods())
    page = exposition.PageOnce(lambda: exposition.MetricsPage(target))
    pages = exposition.PodPages(target, own=page)
    ah.gather(target, now=NOW, page=page, pod_pages=pages)
    readings = rw.read_pods(target, NAMES, pages=pages)
    assert all(reading is not None and error is None for reading, error in readings.values()), readings
    metrics_reads = sorted(name for name, path, _t in target.log if path == "/metrics")
    assert metrics_reads == sorted(NAMES), metrics_reads
