"""agent_health.py on the real 2.42 captures, fake pods, and a fake target in both modes."""

from __future__ import annotations

import json

import pytest

from conftest import CAPTURES  # pylint: disable=import-error

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import agent_health as ah
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import exposition
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import TargetUnreachable
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.units import rfc3339

NOW = 1795503190.0   # a few seconds after the capture was taken
ENDPOINTS = {
    "/-/healthy": (200, "ep_-_healthy.txt"),
    "/-/ready": (200, "ep_-_ready.txt"),
    "/metrics": (200, "agent_metrics.txt"),
    "/api/v1/status/buildinfo": (200, "ep_api_v1_status_buildinfo.txt"),
    "/api/v1/status/flags": (200, "ep_api_v1_status_flags.txt"),
    "/api/v1/targets": (200, "ep_api_v1_targets.txt"),
}


def make_pod(name="prom-agent-lab-1-0", phase="Running", ready=True, restarts=0, created=NOW - 7200, last=None,
             waiting=None, limits=None, reloader_ready=True, uid="uid-1"):
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {"startedAt": rfc3339(created)}}
    return {
        "metadata": {"name": name, "uid": uid, "creationTimestamp": rfc3339(created), "namespace": "monitoring"},
        "spec": {"nodeName": "node-1", "containers": [
            {"name": "prometheus", "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                                                 "limits": limits if limits is not None else {"memory": "512Mi"}}},
            {"name": "config-reloader", "resources": {}}]},
        "status": {
            "phase": phase, "startTime": rfc3339(created),
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [
                {"name": "prometheus", "ready": ready, "restartCount": restarts, "state": state,
                 "lastState": {"terminated": last} if last else {}},
                {"name": "config-reloader", "ready": reloader_ready, "restartCount": 0, "state": {"running": {}}}],
        },
    }


class FakeTarget:
    """A Target answering from the captures (or failing as told)."""

    kind = "kubernetes"
    namespace = "monitoring"
    container = "prometheus"
    label_selector = "app.kubernetes.io/name=prometheus-agent"

    def __init__(self, pods=None, overrides=None, fail_http=None, fail_pods=None, kind="kubernetes", pod_metrics=None):
        self._pods = [make_pod()] if pods is None else pods
        self.overrides = overrides or {}
        self.fail_http = fail_http
        self.fail_pods = fail_pods
        self.kind = kind
        self._pod_metrics = pod_metrics

    def describe(self):
        return "cluster fake pod monitoring/prom-agent-lab-1-0" if self.kind == "kubernetes" else "agent http://fake:9090"

    def pods(self):
        if self.fail_pods:
            raise self.fail_pods
        return self._pods

    @property
    def pod_name(self):
        return self._pods[0]["metadata"]["name"]

    def http_get(self, path, timeout=None):
        if self.fail_http:
            raise self.fail_http
        if path in self.overrides:
            status, body = self.overrides[path]
            return status, body.encode() if isinstance(body, str) else body
        status, name = ENDPOINTS[path]
        return status, (CAPTURES / name).read_bytes()

    def pod_metrics(self, pod_name=None):
        self.pod_metrics_of = pod_name
        return self._pod_metrics


def by_id(result):
    return {c["id"]: c for c in result["checks"]}


def test_healthy_capture_kubernetes():
    res = ah.gather(FakeTarget(pod_metrics={"containers": [{"name": "prometheus", "usage": {"cpu": "12345678n",
                                                                                            "memory": "50Mi"}}]}), now=NOW)
    json.dumps(res, allow_nan=False)
    assert res["status"] == "ok", res["checks"]
    assert [c["id"] for c in res["checks"]] == list(ah.CHECK_IDS)
    agent = res["agent"]
    assert agent["healthy"] and agent["ready"]
    assert agent["version"] == "2.42.0+ds" and agent["mode"] == "agent"
    assert agent["uptime_seconds"] == int(NOW - 1795503108.72)
    assert agent["memory_bytes"] == 53788672 and agent["memory_limit_bytes"] == 512 * 1024 * 1024
    assert agent["cpu_cores"] == pytest.approx(0.0123, abs=1e-4)
    assert agent["config_reload_ok"] is True
    pod = res["pods"][0]
    assert pod["name"] == "prom-agent-lab-1-0" and pod["phase"] == "Running" and pod["ready"] and pod["restarts"] == 0
    assert pod["age_seconds"] == 7200 and pod["requests"] == {"cpu": "100m", "memory": "256Mi"} and pod["limits"] == {"memory": "512Mi"}
    assert res["targets"]["total"] == 2 and res["targets"]["down"] == 0 and set(res["targets"]["jobs"]) == {"agent", "node"}
    assert res["ingest"]["samples_appended_total"] == 10772 and res["ingest"]["active_series"] == 772
    assert res["ingest"]["samples_appended_per_second"] is None
    assert res["snapshot"]["samples_appended_total"] == 10772


def test_ingest_rate_and_cpu_with_baseline():
    first = ah.gather(FakeTarget(), now=NOW)
    base = json.loads(json.dumps(first["snapshot"]))
    base["samples_appended_total"] = 10772 - 3000
    base["cpu_seconds_total"] = 0.79 - 0.3
    base["time"] = NOW - 30
    res = ah.gather(FakeTarget(), now=NOW, baseline=base)
    assert res["ingest"]["samples_appended_per_second"] == 100 and res["ingest"]["window_seconds"] == 30
    assert res["agent"]["cpu_cores"] == pytest.approx(0.01)
    assert by_id(res)["INGEST"]["status"] == "ok"
    # no sample appended in the window while targets exist: critical
    base["samples_appended_total"] = 10772
    assert by_id(ah.gather(FakeTarget(), now=NOW, baseline=base))["INGEST"]["status"] == "critical"


def test_direct_mode_has_no_pod_checks():
    res = ah.gather(FakeTarget(kind="direct"), now=NOW)
    assert [c["id"] for c in res["checks"]] == ["HEALTH", "MEMORY", "INGEST", "CONFIG", "TARGETS"]
    assert res["status"] == "ok" and res["pods"] == [] and res["agent"]["memory_limit_bytes"] is None


def test_direct_mode_unreachable_raises_for_unknown():
    with pytest.raises(TargetUnreachable):
        ah.gather(FakeTarget(kind="direct", fail_http=TargetUnreachable("agent http://x refused the connection")), now=NOW)
    res = ah.unknown_result("agent http://x refused the connection", kube=False)
    assert res["status"] == "unknown" and all(c["status"] == "unknown" for c in res["checks"])


def test_cluster_unreachable_raises():
    with pytest.raises(TargetUnreachable):
        ah.gather(FakeTarget(fail_pods=TargetUnreachable("cluster x: API server answered 500")), now=NOW)


def test_pod_there_agent_not_answering_is_critical_health():
    pod = make_pod(ready=False, restarts=5, waiting="CrashLoopBackOff",
                   last={"reason": "Error", "exitCode": 1, "finishedAt": rfc3339(NOW - 20)})
    res = ah.gather(FakeTarget(pods=[pod], fail_http=TargetUnreachable("the agent does not answer on port 9090")), now=NOW)
    checks = by_id(res)
    assert checks["POD"]["status"] == "critical" and "CrashLoopBackOff" in checks["POD"]["message"]
    assert checks["HEALTH"]["status"] == "critical"
    assert checks["RESTARTS"]["status"] == "critical" and checks["RESTARTS"]["value"] == 5
    assert checks["INGEST"]["status"] == "unknown" and checks["CONFIG"]["status"] == "unknown"
    assert res["status"] == "critical" and res["agent"] is None and "does not answer" in res["agent_error"]


def test_no_pod_is_critical():
    res = ah.gather(FakeTarget(pods=[]), now=NOW)
    assert by_id(res)["POD"]["status"] == "critical" and by_id(res)["HEALTH"]["status"] == "critical"


def test_not_ready_is_warning():
    res = ah.gather(FakeTarget(overrides={"/-/ready": (503, "Service Unavailable")}, pods=[make_pod(ready=False)]), now=NOW)
    assert by_id(res)["HEALTH"]["status"] == "warning" and by_id(res)["POD"]["status"] == "warning"


def test_restarts_window_rules():
    old = NOW - 10 * 86400
    # an old pod whose restarts are all older than a day: 0
    pod = ah.pod_facts(make_pod(created=old, restarts=7, last={"reason": "Error", "finishedAt": rfc3339(NOW - 3 * 86400)}),
                       now=NOW)
    assert ah.restarts_in_day(pod, NOW)[0] == 0
    # the last one within a day: restartCount
    pod = ah.pod_facts(make_pod(created=old, restarts=2, last={"reason": "Error", "finishedAt": rfc3339(NOW - 600)}), now=NOW)
    assert ah.restarts_in_day(pod, NOW)[0] == 2
    # with a baseline of the same pod uid: the difference
    assert ah.restarts_in_day(pod, NOW, {"uid-1": {"restarts": 1}})[0] == 1
    th = ah._checks.merge_thresholds({})
    assert ah.check_restarts([pod], th, NOW)["status"] == "warning"


def test_memory_rules():
    th = ah._checks.merge_thresholds({})
    pod = ah.pod_facts(make_pod(), now=NOW)
    agent = {"memory_bytes": 300 * 1024 * 1024, "memory_limit_bytes": 512 * 1024 * 1024}
    assert ah.check_memory(agent, [pod], th, NOW)["status"] == "ok"
    agent["memory_bytes"] = 450 * 1024 * 1024
    assert ah.check_memory(agent, [pod], th, NOW)["status"] == "warning"
    agent["memory_bytes"] = 470 * 1024 * 1024          # > 90% of 512Mi
    assert ah.check_memory(agent, [pod], th, NOW)["status"] == "critical"
    oom = ah.pod_facts(make_pod(restarts=1, last={"reason": "OOMKilled", "exitCode": 137, "finishedAt": rfc3339(NOW - 60)}),
                       now=NOW)
    res = ah.check_memory({"memory_bytes": 10, "memory_limit_bytes": None}, [oom], th, NOW)
    assert res["status"] == "critical" and "OOMKilled" in res["message"]
    assert ah.check_memory(None, [pod], th, NOW)["status"] == "unknown"


def test_config_reload_failed_is_critical():
    page = (CAPTURES / "agent_metrics.txt").read_text().replace("prometheus_config_last_reload_successful 1",
                                                                "prometheus_config_last_reload_successful 0")
    res = ah.gather(FakeTarget(overrides={"/metrics": (200, page)}), now=NOW)
    assert by_id(res)["CONFIG"]["status"] == "critical" and "do NOT restart" in by_id(res)["CONFIG"]["message"]
    res = ah.gather(FakeTarget(pods=[make_pod(reloader_ready=False)]), now=NOW)
    assert by_id(res)["CONFIG"]["status"] == "warning"


def test_targets_down_and_whole_job_down():
    doc = json.loads((CAPTURES / "ep_api_v1_targets.txt").read_text())
    doc["data"]["activeTargets"][1]["health"] = "down"
    doc["data"]["activeTargets"][1]["lastError"] = "Get \"http://127.0.0.1:19092/metrics\": connection refused"
    res = ah.gather(FakeTarget(overrides={"/api/v1/targets": (200, json.dumps(doc))}), now=NOW)
    chk = by_id(res)["TARGETS"]
    assert chk["status"] == "critical" and "node" in chk["message"] and "connection refused" in chk["message"]
    assert res["targets"]["down_targets"][0]["job"] == "node"


def test_ingest_without_baseline_from_targets():
    targets = ah.targets_facts(json.loads((CAPTURES / "ep_api_v1_targets.txt").read_text()), now=ah.epoch("2026-11-24T06:53:20Z"))
    ingest = {"samples_appended_total": 10, "samples_appended_per_second": None, "active_series": 5, "window_seconds": None}
    th = ah._checks.merge_thresholds({})
    assert ah.check_ingest(ingest, targets, th)["status"] == "ok"
    stale = ah.targets_facts(json.loads((CAPTURES / "ep_api_v1_targets.txt").read_text()), now=ah.epoch("2026-11-24T07:53:20Z"))
    assert ah.check_ingest(ingest, stale, th)["status"] == "critical"


def test_server_mode_and_3x_flags():
    assert ah.mode_of({"enable-feature": "agent"}) == "agent"
    assert ah.mode_of({"enable-feature": "exemplar-storage,agent"}) == "agent"
    assert ah.mode_of({"agent": "true", "enable-feature": ""}) == "agent"
    assert ah.mode_of({"enable-feature": ""}) == "server"
    assert ah.mode_of(None) is None


def test_garbage_metrics_page_is_noted_not_fatal():
    res = ah.gather(FakeTarget(overrides={"/metrics": (200, "<html>oops</html>")}), now=NOW)
    assert any("not a Prometheus metrics page" in n or "not in the Prometheus text format" in n for n in res["notes"])
    assert by_id(res)["MEMORY"]["status"] == "unknown" and by_id(res)["CONFIG"]["status"] == "unknown"
    json.dumps(res, allow_nan=False)


def test_quantities():
    assert ah.quantity("512Mi") == 512 * 1024 * 1024 and ah.quantity("250m") == 0.25
    assert ah.quantity("12345n") == pytest.approx(12345e-9) and ah.quantity("2") == 2 and ah.quantity("1G") == 1e9
    assert ah.quantity("junk") is None and ah.quantity(None) is None


def test_baseline_parsing():
    snap = {"time": NOW, "pods": {}}
    assert ah.as_baseline({"snapshot": snap}) == snap
    assert ah.as_baseline(json.dumps(snap)) == snap
    with pytest.raises(ValueError):
        ah.as_baseline({"foo": 1})


def test_exposition_capture_values_used():
    fams = exposition.parse((CAPTURES / "agent_metrics.txt").read_bytes())
    assert ah.limit_hits(fams) is not None


def test_ingest_rate_over_a_day_does_not_hide_a_stall_now():
    """A day's average rate is positive though scraping stopped an hour ago: the targets say so."""
    th = ah._checks.merge_thresholds({})
    day = {"samples_appended_per_second": 140.0, "window_seconds": 86000.0, "active_series": 700}
    ok = ah.check_ingest(day, {"total": 2, "up": 2, "freshest_scrape_intervals_ago": 1}, th)
    assert ok["status"] == "ok" and "over the last 23.9 h" in ok["message"], ok
    stuck = ah.check_ingest(day, {"total": 2, "up": 2, "freshest_scrape_intervals_ago": 240}, th)
    assert stuck["status"] == "critical" and "scraping is stuck" in stuck["message"] and "23.9 h" in stuck["message"], stuck
    down = ah.check_ingest(day, {"total": 2, "up": 0}, th)
    assert down["status"] == "critical" and "none of the 2 targets is up" in down["message"], down
