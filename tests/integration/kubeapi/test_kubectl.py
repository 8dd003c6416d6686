"""kubectl v1.32 against the simulated API: what an SRE types, checked against the real processes."""

from __future__ import annotations

import json
import os
import time

import pytest

pytestmark = pytest.mark.lab


def _pod(kube, cluster):
    return kube.state["clusters"][cluster]


def test_get_pods_json(kube, cluster):
    info = _pod(kube, cluster)
    out = kube.kubectl(cluster, "get", "pods", "-n", "monitoring", "-o", "json").stdout
    doc = json.loads(out)
    assert doc["kind"] == "List" or doc["kind"] == "PodList"
    pods = {p["metadata"]["name"]: p for p in doc["items"]}
    pod = pods[info["pod"]]
    meta = pod["metadata"]
    for key in ("uid", "resourceVersion", "creationTimestamp", "labels", "ownerReferences"):
        assert meta.get(key), key
    assert meta["labels"]["app.kubernetes.io/name"] == "prometheus-agent"
    assert meta["labels"]["app.kubernetes.io/instance"] == cluster
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "prometheus-operator"
    assert meta["labels"]["operator.prometheus.io/name"] == cluster
    assert meta["labels"]["operator.prometheus.io/shard"] == "0"
    assert meta["ownerReferences"][0]["kind"] == "StatefulSet"
    assert meta["ownerReferences"][0]["name"] == info["statefulset"]
    status = pod["status"]
    assert status["phase"] == "Running"
    assert {c["type"] for c in status["conditions"]} >= {"PodScheduled", "Initialized", "ContainersReady", "Ready"}
    assert [c["name"] for c in status["containerStatuses"]] == ["prometheus", "config-reloader"]
    assert status["podIP"] and status["hostIP"] and status["startTime"]
    assert pod["spec"]["nodeName"] == "lab-node-1"
    claim = [v for v in pod["spec"]["volumes"] if "persistentVolumeClaim" in v][0]["persistentVolumeClaim"]["claimName"]
    assert claim == "prom-agent-%s-db-prom-agent-%s-0" % (cluster, cluster)
    assert pod["spec"]["containers"][0]["resources"]["limits"]["memory"]


def test_get_table_and_selectors(kube, cluster):
    info = _pod(kube, cluster)
    out = kube.kubectl(cluster, "get", "pods", "-n", "monitoring", "-l", "app.kubernetes.io/name=prometheus-agent").stdout
    assert "READY" in out and info["pod"] in out and "Running" in out
    out = kube.kubectl(cluster, "get", "pods", "-n", "monitoring", "--field-selector", "metadata.name=nope").stdout
    assert info["pod"] not in out
    out = kube.kubectl(cluster, "get", "sts,pvc,prometheusagents", "-n", "monitoring").stdout
    assert info["statefulset"] in out and "Bound" in out and cluster in out
    out = kube.kubectl(cluster, "get", "nodes").stdout
    assert "lab-node-1" in out and "Ready" in out


def test_logs(kube, cluster):
    info = _pod(kube, cluster)
    out = kube.kubectl(cluster, "logs", "-n", "monitoring", info["pod"], "--tail", "5", "--timestamps").stdout
    lines = out.splitlines()
    assert 0 < len(lines) <= 5
    assert lines[0][:4].isdigit() and "T" in lines[0].split(" ")[0]
    everything = kube.kubectl(cluster, "logs", "-n", "monitoring", info["pod"], "-c", "prometheus").stdout
    assert "Starting Prometheus" in everything or "msg=" in everything
    assert kube.kubectl(cluster, "logs", "-n", "monitoring", info["pod"], "--since", "1s").returncode == 0


def test_exec_ls_and_exit_code(kube, cluster):
    info = _pod(kube, cluster)
    out = kube.kubectl(cluster, "exec", "-n", "monitoring", info["pod"], "--", "ls", "/prometheus/wal").stdout.split()
    assert out == sorted(os.listdir(info["wal_dir"]))
    proc = kube.kubectl(cluster, "exec", "-n", "monitoring", info["pod"], "--", "sh", "-c", "echo oops >&2; exit 3", check=False)
    assert proc.returncode == 3
    assert "oops" in proc.stderr
    out = kube.kubectl(cluster, "exec", "-i", "-n", "monitoring", info["pod"], "--", "cat", stdin="hello stdin\n").stdout
    assert out == "hello stdin\n"


def test_exec_cat_segment_equals_file(kube, cluster):
    info = _pod(kube, cluster)
    segments = sorted(f for f in os.listdir(info["wal_dir"]) if f.isdigit())
    # a closed segment does not change while we read it; the newest one may grow
    name = segments[0]
    path = os.path.join(info["wal_dir"], name)
    with open(path, "rb") as handle:
        expected = handle.read()
    proc = kube.kubectl(cluster, "exec", "-n", "monitoring", info["pod"], "--", "cat", "/prometheus/wal/" + name, binary=True)
    if len(segments) > 1:
        assert proc.stdout == expected
    else:
        assert proc.stdout[:len(expected)] == expected


def test_top_pod(kube, cluster):
    info = _pod(kube, cluster)
    out = kube.kubectl(cluster, "top", "pod", "-n", "monitoring", info["pod"]).stdout
    assert info["pod"] in out and "Mi" in out


def test_node_summary_raw(kube, cluster):
    info = _pod(kube, cluster)
    out = kube.kubectl(cluster, "get", "--raw", "/api/v1/nodes/lab-node-1/proxy/stats/summary").stdout
    doc = json.loads(out)
    pod = [p for p in doc["pods"] if p["podRef"]["name"] == info["pod"]][0]
    vol = pod["volume"][0]
    st = os.statvfs(info["data_dir"])
    if os.path.ismount(info["data_dir"]):  # the lab's tmpfs: the PVC is exactly that filesystem
        assert vol["capacityBytes"] == st.f_blocks * st.f_frsize
    assert abs(vol["usedBytes"] - (st.f_blocks - st.f_bfree) * st.f_frsize) < 16 * 1024 * 1024
    assert vol["pvcRef"]["name"] == "prom-agent-%s-db-prom-agent-%s-0" % (cluster, cluster)


def test_pod_proxy_raw(kube, cluster):
    info = _pod(kube, cluster)
    out = kube.kubectl(cluster, "get", "--raw", "/api/v1/namespaces/monitoring/pods/%s:9090/proxy/-/healthy" % info["pod"]).stdout
    assert "Healthy" in out
    out = kube.kubectl(cluster, "get", "--raw", "/api/v1/namespaces/monitoring/pods/%s/proxy/metrics" % info["pod"]).stdout
    assert "prometheus_agent_" in out or "prometheus_remote_storage_" in out


def test_wrong_token_is_401(kube, cluster, tmp_path):
    text = open(kube.kubeconfig, encoding="utf-8").read().replace(kube.state["clusters"][cluster]["token"], "not-the-token")
    bad = tmp_path / "kubeconfig"
    bad.write_text(text, encoding="utf-8")
    proc = kube.kubectl(cluster, "--kubeconfig", str(bad), "get", "pods", "-n", "monitoring", check=False)
    assert proc.returncode != 0
    assert "Unauthorized" in proc.stderr or "must be logged in" in proc.stderr


@pytest.mark.slow
def test_rollout_restart_changes_pid(kube, cluster):
    info = _pod(kube, cluster)
    before = kube.state["clusters"][cluster]["pid"]
    uid = kube.kubectl(cluster, "get", "pod", "-n", "monitoring", info["pod"], "-o", "jsonpath={.metadata.uid}").stdout
    kube.kubectl(cluster, "rollout", "restart", "-n", "monitoring", "statefulset/" + info["statefulset"])
    out = kube.kubectl(cluster, "rollout", "status", "-n", "monitoring", "statefulset/" + info["statefulset"], "--timeout", "150s", timeout=180).stdout
    assert "complete" in out
    deadline = time.time() + 10
    while time.time() < deadline and kube.state["clusters"][cluster]["pid"] in (before, None):
        time.sleep(0.5)
    assert kube.state["clusters"][cluster]["pid"] not in (before, None)
    new_uid = kube.kubectl(cluster, "get", "pod", "-n", "monitoring", info["pod"], "-o", "jsonpath={.metadata.uid}").stdout
    assert new_uid != uid
    sts = json.loads(kube.kubectl(cluster, "get", "sts", "-n", "monitoring", info["statefulset"], "-o", "json").stdout)
    assert "kubectl.kubernetes.io/restartedAt" in sts["spec"]["template"]["metadata"]["annotations"]
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"]
    assert sts["status"]["observedGeneration"] == sts["metadata"]["generation"]


@pytest.mark.slow
def test_delete_pod_new_uid(kube, cluster):
    info = _pod(kube, cluster)
    uid = kube.kubectl(cluster, "get", "pod", "-n", "monitoring", info["pod"], "-o", "jsonpath={.metadata.uid}").stdout
    kube.kubectl(cluster, "delete", "pod", "-n", "monitoring", info["pod"], "--grace-period", "5", timeout=90)
    # kubectl returned on the old pod's DELETED; the StatefulSet creates the new one a moment later
    kube.kubectl(cluster, "wait", "--for", "create", "-n", "monitoring", "pod/" + info["pod"], "--timeout", "60s", timeout=90)
    new_uid = kube.kubectl(cluster, "get", "pod", "-n", "monitoring", info["pod"], "-o", "jsonpath={.metadata.uid}").stdout
    assert new_uid and new_uid != uid
    kube.kubectl(cluster, "wait", "--for", "condition=Ready", "-n", "monitoring", "pod/" + info["pod"], "--timeout", "60s", timeout=90)
