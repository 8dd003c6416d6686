"""API faults (api-error, api-slow, api-auth) and a pod stuck in Terminating, seen by kubectl and the client."""

from __future__ import annotations

import json
import time

import pytest
import urllib3
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.lab
NS = "monitoring"


def _other(kube, cluster):
    others = [c for c in kube.real_clusters if c != cluster]
    return others[0] if others else None


def test_api_error(kube, cluster):
    core = k8s.CoreV1Api(kube.api_client(cluster))
    kube.fault("api-error", cluster)
    try:
        with pytest.raises(ApiException) as err:
            core.list_namespaced_pod(NS)
        assert err.value.status == 500
        assert json.loads(err.value.body)["reason"] == "InternalError"
        proc = kube.kubectl(cluster, "get", "pods", "-n", NS, check=False)
        assert proc.returncode != 0 and "InternalError" in proc.stderr
        other = _other(kube, cluster)
        if other:
            assert k8s.CoreV1Api(kube.api_client(other)).list_namespaced_pod(NS).items
    finally:
        kube.heal("api-error", cluster)
    assert core.list_namespaced_pod(NS).items


def test_api_auth(kube, cluster):
    core = k8s.CoreV1Api(kube.api_client(cluster))
    kube.fault("api-auth", cluster)
    try:
        with pytest.raises(ApiException) as err:
            core.list_namespaced_pod(NS)
        assert err.value.status == 401
        proc = kube.kubectl(cluster, "get", "pods", "-n", NS, check=False)
        assert proc.returncode != 0 and ("Unauthorized" in proc.stderr or "must be logged in" in proc.stderr)
    finally:
        kube.heal("api-auth", cluster)
    assert core.list_namespaced_pod(NS).items


def test_api_slow(kube, cluster):
    api = kube.api_client(cluster)
    api.configuration.retries = False
    core = k8s.CoreV1Api(api)
    kube.fault("api-slow", cluster)
    try:
        start = time.time()
        with pytest.raises((urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.MaxRetryError)):
            core.list_namespaced_pod(NS, _request_timeout=3)
        assert time.time() - start < 20
        proc = kube.kubectl(cluster, "get", "pods", "-n", NS, "--request-timeout", "3s", check=False)
        assert proc.returncode != 0
    finally:
        kube.heal("api-slow", cluster)
    assert core.list_namespaced_pod(NS, _request_timeout=30).items


@pytest.mark.slow
def test_stuck_terminating_until_force_delete(kube, cluster):
    info = kube.state["clusters"][cluster]
    core = k8s.CoreV1Api(kube.api_client(cluster))
    old_uid = core.read_namespaced_pod(info["pod"], NS).metadata.uid
    kube.fault("stuck-terminating", cluster)
    try:
        deadline = time.time() + 30
        while time.time() < deadline and core.read_namespaced_pod(info["pod"], NS).metadata.deletion_timestamp is None:
            time.sleep(0.5)
        pod = core.read_namespaced_pod(info["pod"], NS)
        assert pod.metadata.deletion_timestamp is not None and pod.metadata.uid == old_uid
        out = kube.kubectl(cluster, "get", "pods", "-n", NS).stdout
        assert "Terminating" in out
        kube.kubectl(cluster, "delete", "pod", "-n", NS, info["pod"], "--wait=false")
        time.sleep(2)
        assert core.read_namespaced_pod(info["pod"], NS).metadata.uid == old_uid
        kube.kubectl(cluster, "delete", "pod", "-n", NS, info["pod"], "--grace-period=0", "--force", timeout=60)
        # kubectl returned on the old pod's DELETED; the StatefulSet creates the new one a moment later
        deadline = time.time() + 30
        while time.time() < deadline and _uid(core, info["pod"]) in (old_uid, None):
            time.sleep(0.5)
        assert _uid(core, info["pod"]) not in (old_uid, None)
    finally:
        kube.heal("stuck-terminating", cluster)
    deadline = time.time() + 60
    pod = None
    while time.time() < deadline:
        pod = _read_pod(core, info["pod"])
        if pod is not None and pod.metadata.deletion_timestamp is None and pod.status.container_statuses[0].ready:
            break
        time.sleep(1)
    assert pod is not None and pod.status.container_statuses[0].ready


def _read_pod(core, name):
    """The pod, None while there is none (between a deleted pod and its replacement)."""
    try:
        return core.read_namespaced_pod(name, NS)
    except ApiException as exc:
        if exc.status != 404:
            raise
        return None


def _uid(core, name):
    pod = _read_pod(core, name)
    return pod.metadata.uid if pod is not None else None


@pytest.mark.slow
def test_crashloop_shows_in_pod_status(kube, cluster):
    info = kube.state["clusters"][cluster]
    core = k8s.CoreV1Api(kube.api_client(cluster))
    kube.fault("crashloop", cluster)
    try:
        deadline = time.time() + 60
        status = None
        while time.time() < deadline:
            status = core.read_namespaced_pod(info["pod"], NS).status.container_statuses[0]
            if status.state.waiting is not None and status.state.waiting.reason == "CrashLoopBackOff":
                break
            time.sleep(1)
        assert status.state.waiting.reason == "CrashLoopBackOff"
        assert status.restart_count >= 1 and not status.ready
        assert status.last_state.terminated.reason == "Error" and status.last_state.terminated.exit_code != 0
        seen = ""
        for _attempt in range(20):  # the container runs for an instant between back-offs
            seen = kube.kubectl(cluster, "get", "pods", "-n", NS).stdout
            if "CrashLoopBackOff" in seen:
                break
            time.sleep(0.5)
        assert "CrashLoopBackOff" in seen
        last = kube.kubectl(cluster, "logs", "-n", NS, info["pod"]).stdout  # the last (failed) attempt's log
        assert "unknown long flag" in last
        assert kube.kubectl(cluster, "logs", "-n", NS, info["pod"], "--previous").stdout
    finally:
        kube.heal("crashloop", cluster)
    deadline = time.time() + 90
    while time.time() < deadline and not core.read_namespaced_pod(info["pod"], NS).status.container_statuses[0].ready:
        time.sleep(1)
    assert core.read_namespaced_pod(info["pod"], NS).status.container_statuses[0].ready
