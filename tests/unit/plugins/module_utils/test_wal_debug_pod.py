"""wal/debug_pod: the choice of the volume that holds the WAL, the debug pod's manifest, and the
create/wait/read/delete around a reading (a fake API that records the requests)."""

from __future__ import annotations

import random

import pytest

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal import debug_pod


def agent_pod(volumes=None, mounts=None, state=None):
    return {
        "metadata": {"name": "prom-agent-lab-1-0", "namespace": "monitoring", "labels": {"app.kubernetes.io/name": "prometheus-agent"}},
        "spec": {
            "nodeName": "node-a",
            "securityContext": {"runAsUser": 1000, "fsGroup": 2000},
            "containers": [
                {"name": "prometheus", "volumeMounts": mounts if mounts is not None else [
                    {"name": "config-out", "mountPath": "/etc/prometheus/config_out", "readOnly": True},
                    {"name": "db", "mountPath": "/prometheus"}]},
                {"name": "config-reloader", "volumeMounts": [{"name": "config-out", "mountPath": "/etc/prometheus/config_out"}]}],
            "volumes": volumes if volumes is not None else [
                {"name": "config-out", "emptyDir": {}},
                {"name": "db", "persistentVolumeClaim": {"claimName": "db-prom-agent-lab-1-0"}}],
        },
        "status": {"containerStatuses": [
            {"name": "prometheus", "state": state or {"terminated": {"reason": "Error", "exitCode": 2}}},
            {"name": "config-reloader", "state": {"running": {}}}]},
    }


def test_wal_volume_is_the_longest_mount_holding_the_path():
    pod = agent_pod(mounts=[{"name": "root", "mountPath": "/"}, {"name": "db", "mountPath": "/prometheus/"},
                            {"name": "other", "mountPath": "/prometheus-other"}],
                    volumes=[{"name": "root", "persistentVolumeClaim": {"claimName": "root-claim"}},
                             {"name": "db", "persistentVolumeClaim": {"claimName": "db-claim"}},
                             {"name": "other", "persistentVolumeClaim": {"claimName": "other-claim"}}])
    assert debug_pod.wal_volume(pod, "prometheus", "/prometheus/wal") == {
        "volume": "db", "claim": "db-claim", "mount_path": "/prometheus/", "sub_path": None}
    assert debug_pod.wal_volume(pod, "prometheus", "/prometheus-other/wal")["claim"] == "other-claim"
    assert debug_pod.wal_volume(pod, "prometheus", "/var/wal")["claim"] == "root-claim"


def test_wal_volume_keeps_the_sub_path():
    pod = agent_pod(mounts=[{"name": "db", "mountPath": "/prometheus", "subPath": "prometheus-db"}])
    assert debug_pod.wal_volume(pod, "prometheus", "/prometheus/wal")["sub_path"] == "prometheus-db"


@pytest.mark.parametrize("volumes,mounts,path,words", [
    ([{"name": "db", "emptyDir": {}}], None, "/prometheus/wal", "db (emptyDir), not a PersistentVolumeClaim"),
    (None, None, "/data/wal", "no volume of container prometheus is mounted where the WAL is (/data/wal)"),
    ([], None, "/prometheus/wal", "volume db of the mount at /prometheus is not in the pod spec"),
])
def test_wal_volume_refuses_what_another_pod_cannot_mount(volumes, mounts, path, words):
    with pytest.raises(debug_pod.NoVolume, match=words.replace("(", r"\(").replace(")", r"\)")):
        debug_pod.wal_volume(agent_pod(volumes=volumes, mounts=mounts), "prometheus", path)


def test_no_such_container():
    with pytest.raises(debug_pod.NoVolume, match="no container thanos"):
        debug_pod.wal_volume(agent_pod(), "thanos", "/prometheus/wal")


def test_container_running_and_state():
    assert debug_pod.container_running(agent_pod(), "prometheus") is False
    assert debug_pod.container_running(agent_pod(), "config-reloader") is True
    assert debug_pod.container_running(agent_pod(), "nope") is None
    assert debug_pod.container_state(agent_pod(), "prometheus") == "terminated (Error, exit 2)"
    waiting = agent_pod(state={"waiting": {"reason": "CrashLoopBackOff"}})
    assert debug_pod.container_state(waiting, "prometheus") == "waiting (CrashLoopBackOff)"


def test_pod_name_fits_63_characters():
    assert debug_pod.pod_name("prom-agent-lab-1-0", "ab1c2") == "prom-agent-lab-1-0-wal-inspect-ab1c2"
    long_name = debug_pod.pod_name("p" * 80, rand=random.Random(1))
    assert len(long_name) == 63 and long_name.startswith("p" * 45 + "-wal-inspect-")


def test_manifest_mounts_the_claim_read_only_on_the_node():
    pod = agent_pod()
    body = debug_pod.manifest(pod, debug_pod.wal_volume(pod, "prometheus", "/prometheus/wal"), "x-wal-inspect-abcde",
                              image="busybox:1.36", active_deadline_seconds=120)
    spec = body["spec"]
    assert body["metadata"]["namespace"] == "monitoring"
    assert body["metadata"]["labels"]["fleetops.io/created-by"] == "wal_inspect"
    assert body["metadata"]["labels"]["fleetops.io/wal-of"] == "prom-agent-lab-1-0"
    # not the agent's labels: the agent's selector must not match the debug pod
    assert "app.kubernetes.io/name" not in body["metadata"]["labels"] or \
        body["metadata"]["labels"]["app.kubernetes.io/name"] != "prometheus-agent"
    assert spec["nodeName"] == "node-a" and spec["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] == 120 and spec["automountServiceAccountToken"] is False
    assert spec["securityContext"] == {"runAsUser": 1000, "fsGroup": 2000}
    assert spec["volumes"] == [{"name": "wal", "persistentVolumeClaim": {"claimName": "db-prom-agent-lab-1-0", "readOnly": True}}]
    (container,) = spec["containers"]
    assert container["name"] == debug_pod.CONTAINER and container["image"] == "busybox:1.36"
    assert container["volumeMounts"] == [{"name": "wal", "mountPath": "/prometheus", "readOnly": True}]


class FakeApi:
    """A KubeTarget's request_json/get_json/for_pod over a dict of pods; records each request."""

    def __init__(self, create_error=None, runs_after=0, delete_error=None):
        self.namespace = "monitoring"
        self.container = "prometheus"
        self.pod_name = "prom-agent-lab-1-0"
        self.deadline = None
        self.timeout = 30
        self.pods = {}
        self.requests = []
        self.create_error = create_error
        self.delete_error = delete_error
        self.runs_after = runs_after

    def request_json(self, method, path, body=None, query=None, what=None, missing_ok=False, content_type=None):
        self.requests.append((method, path))
        if method == "POST":
            if self.create_error:
                raise self.create_error
            self.pods[body["metadata"]["name"]] = dict(body, status={"phase": "Pending"})
            return body
        if method == "DELETE":
            if self.delete_error:
                raise self.delete_error
            self.pods.pop(path.rsplit("/", 1)[1], None)
            return None
        raise AssertionError(method)

    def get_json(self, path, query=None, what=None, missing_ok=False):
        self.requests.append(("GET", path))
        pod = self.pods.get(path.rsplit("/", 1)[1])
        if pod is not None:
            self.runs_after -= 1
            if self.runs_after < 0:
                pod["status"] = {"phase": "Running", "containerStatuses": [{"name": debug_pod.CONTAINER, "state": {"running": {}}}]}
        return pod

    def for_pod(self, name):
        other = FakeApi()
        other.pod_name = name
        return other


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def through(api, read, seconds=10.0):
    pod = agent_pod()
    clock = Clock()
    return debug_pod.read_through(api, pod, debug_pod.wal_volume(pod, "prometheus", "/prometheus/wal"), read,
                                  seconds=seconds, clock=clock, sleep=clock.sleep, name="dbg")


def test_read_through_reads_in_the_debug_container_and_deletes():
    api = FakeApi(runs_after=2)
    seen = []
    value, facts = through(api, lambda t: seen.append((t.pod_name, t.container)) or "the WAL")
    assert value == "the WAL" and seen == [("dbg", debug_pod.CONTAINER)]
    assert facts["created"] and facts["deleted"] and facts["name"] == "monitoring/dbg" and facts["node"] == "node-a"
    assert api.pods == {} and api.requests[-1] == ("DELETE", "/api/v1/namespaces/monitoring/pods/dbg")


def test_read_through_deletes_when_the_reading_fails():
    api = FakeApi()

    def broken(_target):
        raise RuntimeError("the stream broke")
    with pytest.raises(RuntimeError) as caught:
        through(api, broken)
    assert caught.value.facts["deleted"] is True and api.pods == {}


def test_a_pod_that_does_not_start_in_time_is_deleted():
    api = FakeApi(runs_after=10 ** 6)
    with pytest.raises(debug_pod.DebugPodFailed, match="did not start in time"):
        through(api, lambda t: None, seconds=3)
    assert api.pods == {} and ("DELETE", "/api/v1/namespaces/monitoring/pods/dbg") in api.requests


def test_a_refused_create_deletes_nothing():
    api = FakeApi(create_error=FleetopsError('pods is forbidden: User "auditor" cannot create resource "pods"'))
    with pytest.raises(debug_pod.DebugPodFailed, match="was refused: pods is forbidden") as caught:
        through(api, lambda t: None)
    assert caught.value.facts["created"] is False
    assert [m for m, _p in api.requests] == ["POST"]


def test_a_failed_delete_is_said():
    api = FakeApi(delete_error=FleetopsError("connection refused"))
    _value, facts = through(api, lambda t: "ok")
    assert facts["deleted"] is False and "activeDeadlineSeconds" in facts["delete_error"]
