"""The unmodified ``kubernetes`` Python client against the simulated API."""

from __future__ import annotations

import json
import os
import time

import pytest
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

pytestmark = pytest.mark.lab
NS = "monitoring"


def _info(kube, cluster):
    return kube.state["clusters"][cluster]


def test_list_and_read_pods(kube, cluster, client):
    core = k8s.CoreV1Api(client)
    info = _info(kube, cluster)
    pods = core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/name=prometheus-agent,operator.prometheus.io/shard=0").items
    assert [p.metadata.name for p in pods] == [info["pod"]]
    assert core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/name in (nothing)").items == []
    assert [p.metadata.name for p in core.list_namespaced_pod(NS, field_selector="metadata.name=%s" % info["pod"]).items] == [info["pod"]]
    assert core.list_namespaced_pod(NS, field_selector="status.phase=Failed").items == []
    pod = core.read_namespaced_pod(info["pod"], NS)
    assert pod.metadata.owner_references[0].kind == "StatefulSet"
    prom = pod.status.container_statuses[0]
    assert prom.name == "prometheus" and prom.state.running is not None and prom.ready
    assert pod.spec.volumes[1].persistent_volume_claim.claim_name == "prom-agent-%s-db-prom-agent-%s-0" % (cluster, cluster)
    assert len(core.list_pod_for_all_namespaces().items) >= 1
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("nope-0", NS)
    assert err.value.status == 404
    assert json.loads(err.value.body)["reason"] == "NotFound"


def test_logs(kube, cluster, client):
    core = k8s.CoreV1Api(client)
    info = _info(kube, cluster)
    text = core.read_namespaced_pod_log(info["pod"], NS, container="prometheus", tail_lines=3, timestamps=True)
    lines = text.splitlines()
    assert 0 < len(lines) <= 3 and lines[0].split(" ")[0].endswith("Z")
    assert core.read_namespaced_pod_log(info["pod"], NS, since_seconds=3600)
    assert core.read_namespaced_pod_log(info["pod"], NS, container="config-reloader")


def test_exec_stream_v4_and_v5(kube, cluster, client):
    core = k8s.CoreV1Api(client)
    info = _info(kube, cluster)
    for proto in ("v4.channel.k8s.io", "v5.channel.k8s.io"):
        resp = stream(core.connect_get_namespaced_pod_exec, info["pod"], NS, command=["sh", "-c", "ls /prometheus/wal; echo err >&2; exit 2"],
                      container="prometheus", stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False,
                      _headers={"sec-websocket-protocol": proto})
        resp.run_forever(timeout=60)
        assert resp.returncode == 2, proto
        assert resp.read_stdout().split() == sorted(os.listdir(info["wal_dir"]))
        assert "err" in resp.read_stderr()
    out = stream(core.connect_get_namespaced_pod_exec, info["pod"], NS, command=["du", "-sb", "/prometheus/wal"], stderr=True, stdin=False,
                 stdout=True, tty=False)
    assert out.split()[1] == "/prometheus/wal"


def test_exec_binary_cat_equals_file(kube, cluster, client):
    core = k8s.CoreV1Api(client)
    info = _info(kube, cluster)
    segments = sorted(f for f in os.listdir(info["wal_dir"]) if f.isdigit())
    path = os.path.join(info["wal_dir"], segments[0])
    with open(path, "rb") as handle:
        expected = handle.read()
    resp = stream(core.connect_get_namespaced_pod_exec, info["pod"], NS, command=["cat", "/prometheus/wal/" + segments[0]], stderr=True,
                  stdin=False, stdout=True, tty=False, _preload_content=False, binary=True)
    chunks = []
    while resp.is_open():
        resp.update(timeout=5)
        if resp.peek_stdout():
            chunks.append(resp.read_stdout())
    data = b"".join(chunks)
    assert resp.returncode == 0
    if len(segments) > 1:
        assert data == expected
    else:
        assert data[:len(expected)] == expected


def test_statefulset_and_pvc(kube, cluster, client):
    apps = k8s.AppsV1Api(client)
    core = k8s.CoreV1Api(client)
    info = _info(kube, cluster)
    sts = apps.read_namespaced_stateful_set(info["statefulset"], NS)
    assert sts.spec.update_strategy.type == "RollingUpdate"
    assert sts.status.replicas == 1 and sts.status.observed_generation == sts.metadata.generation
    assert [s.metadata.name for s in apps.list_namespaced_stateful_set(NS).items] == [info["statefulset"]]
    if kube.state.get("receiver"):
        recv = apps.read_namespaced_stateful_set("thanos-receive", "thanos")
        assert recv.status.replicas == 1 and recv.status.ready_replicas == 1
        assert core.read_namespaced_pod("thanos-receive-0", "thanos").status.phase == "Running"
    pvc = core.read_namespaced_persistent_volume_claim("prom-agent-%s-db-prom-agent-%s-0" % (cluster, cluster), NS)
    assert pvc.status.phase == "Bound" and pvc.status.capacity["storage"]
    node = core.read_node("lab-node-1")
    assert [c.status for c in node.status.conditions if c.type == "Ready"] == ["True"]


def test_node_summary_and_pod_metrics(kube, cluster, client):
    info = _info(kube, cluster)
    core = k8s.CoreV1Api(client)
    data = json.loads(core.connect_get_node_proxy_with_path("lab-node-1", "stats/summary", _preload_content=False).data)
    text = core.connect_get_namespaced_pod_proxy_with_path(info["pod"] + ":9090", NS, "metrics")
    assert "prometheus_remote_storage_" in text or "prometheus_agent_" in text
    pod = [p for p in data["pods"] if p["podRef"]["name"] == info["pod"]][0]
    assert pod["volume"][0]["capacityBytes"] > pod["volume"][0]["usedBytes"] > 0
    custom = k8s.CustomObjectsApi(client)
    metrics = custom.get_namespaced_custom_object("metrics.k8s.io", "v1beta1", NS, "pods", info["pod"])
    prom = [c for c in metrics["containers"] if c["name"] == "prometheus"][0]
    assert prom["usage"]["memory"].endswith("Ki") and int(prom["usage"]["memory"][:-2]) > 1000
    assert custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", NS, "pods")["items"]


def test_prometheus_agent_patch_reconfigures(kube, cluster, client):
    custom = k8s.CustomObjectsApi(client)
    info = _info(kube, cluster)
    name = info["agent_cr"]
    agent = custom.get_namespaced_custom_object("monitoring.coreos.com", "v1alpha1", NS, "prometheusagents", name)
    assert agent["kind"] == "PrometheusAgent"
    assert [a["metadata"]["name"] for a in custom.list_namespaced_custom_object("monitoring.coreos.com", "v1alpha1", NS, "prometheusagents")["items"]] == [name]
    remote = agent["spec"]["remoteWrite"]
    wanted = 2000 + int(agent["metadata"]["generation"])
    remote[0]["queueConfig"] = dict(remote[0].get("queueConfig") or {}, maxSamplesPerSend=wanted)
    patched = custom.patch_namespaced_custom_object("monitoring.coreos.com", "v1alpha1", NS, "prometheusagents", name,
                                                    {"spec": {"remoteWrite": remote}})
    assert patched["metadata"]["generation"] == agent["metadata"]["generation"] + 1
    config_path = info.get("config_path")
    deadline = time.time() + 30
    text = ""
    while config_path and time.time() < deadline:
        with open(config_path, encoding="utf-8") as handle:
            text = handle.read()
        if '"max_samples_per_send": %d' % wanted in text:
            break
        time.sleep(0.5)
    if config_path:
        assert '"max_samples_per_send": %d' % wanted in text
    deadline = time.time() + 30
    while time.time() < deadline:
        cur = custom.get_namespaced_custom_object("monitoring.coreos.com", "v1alpha1", NS, "prometheusagents", name)
        rec = [c for c in cur["status"]["conditions"] if c["type"] == "Reconciled"][0]
        if rec["status"] == "True" and rec["observedGeneration"] == patched["metadata"]["generation"]:
            break
        time.sleep(0.5)
    assert rec["status"] == "True"


def test_prometheus_rule_crud(client):
    custom = k8s.CustomObjectsApi(client)
    body = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "fleetops-test", "labels": {"a": "b"}},
            "spec": {"groups": [{"name": "g", "rules": [{"alert": "X", "expr": "up == 0"}]}]}}
    created = custom.create_namespaced_custom_object("monitoring.coreos.com", "v1", NS, "prometheusrules", body)
    assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
    try:
        with pytest.raises(ApiException) as err:
            custom.create_namespaced_custom_object("monitoring.coreos.com", "v1", NS, "prometheusrules", body)
        assert err.value.status == 409
        custom.patch_namespaced_custom_object("monitoring.coreos.com", "v1", NS, "prometheusrules", "fleetops-test", {"metadata": {"labels": {"c": "d"}}})
        got = custom.get_namespaced_custom_object("monitoring.coreos.com", "v1", NS, "prometheusrules", "fleetops-test")
        assert got["metadata"]["labels"] == {"a": "b", "c": "d"}
        items = custom.list_namespaced_custom_object("monitoring.coreos.com", "v1", NS, "prometheusrules", label_selector="c=d")["items"]
        assert [i["metadata"]["name"] for i in items] == ["fleetops-test"]
    finally:
        custom.delete_namespaced_custom_object("monitoring.coreos.com", "v1", NS, "prometheusrules", "fleetops-test")
    with pytest.raises(ApiException) as err:
        custom.get_namespaced_custom_object("monitoring.coreos.com", "v1", NS, "prometheusrules", "fleetops-test")
    assert err.value.status == 404


def test_lease_lock_conflicts(client):
    coord = k8s.CoordinationV1Api(client)
    lease = k8s.V1Lease(metadata=k8s.V1ObjectMeta(name="fleetops-remediation"), spec=k8s.V1LeaseSpec(holder_identity="a", lease_duration_seconds=60))
    created = coord.create_namespaced_lease(NS, lease)
    try:
        with pytest.raises(ApiException) as err:
            coord.create_namespaced_lease(NS, lease)
        assert err.value.status == 409
        created.spec.holder_identity = "b"
        updated = coord.replace_namespaced_lease("fleetops-remediation", NS, created)
        assert updated.spec.holder_identity == "b"
        assert updated.metadata.resource_version != created.metadata.resource_version
        created.spec.holder_identity = "c"  # stale resourceVersion
        with pytest.raises(ApiException) as err:
            coord.replace_namespaced_lease("fleetops-remediation", NS, created)
        assert err.value.status == 409
        assert json.loads(err.value.body)["reason"] == "Conflict"
    finally:
        coord.delete_namespaced_lease("fleetops-remediation", NS)
    with pytest.raises(ApiException) as err:
        coord.read_namespaced_lease("fleetops-remediation", NS)
    assert err.value.status == 404


def test_wrong_token_401(kube, cluster, tmp_path):
    from kubernetes import config  # pylint: disable=import-outside-toplevel
    with open(kube.kubeconfig, encoding="utf-8") as handle:
        text = handle.read().replace(kube.state["clusters"][cluster]["token"], "wrong-token")
    bad = tmp_path / "kubeconfig"
    bad.write_text(text, encoding="utf-8")
    core = k8s.CoreV1Api(config.new_client_from_config(config_file=str(bad), context=cluster))
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod(NS)
    assert err.value.status == 401
    body = json.loads(err.value.body)
    assert body["kind"] == "Status" and body["reason"] == "Unauthorized" and body["code"] == 401


@pytest.mark.slow
def test_delete_pod_and_watch(kube, cluster, client):
    core = k8s.CoreV1Api(client)
    info = _info(kube, cluster)
    old = core.read_namespaced_pod(info["pod"], NS)
    pods = core.list_namespaced_pod(NS, field_selector="metadata.name=%s" % info["pod"])
    deleted = core.delete_namespaced_pod(info["pod"], NS, grace_period_seconds=5)
    assert deleted.metadata.deletion_timestamp is not None
    seen = []
    new_uid = None
    for event in watch.Watch().stream(core.list_namespaced_pod, NS, field_selector="metadata.name=%s" % info["pod"],
                                      resource_version=pods.metadata.resource_version, timeout_seconds=60):
        seen.append((event["type"], event["object"].metadata.uid))
        if event["type"] == "ADDED" and event["object"].metadata.uid != old.metadata.uid:
            new_uid = event["object"].metadata.uid
            break
    assert ("DELETED", old.metadata.uid) in seen
    assert new_uid and new_uid != old.metadata.uid
    deadline = time.time() + 60
    while time.time() < deadline and not core.read_namespaced_pod(info["pod"], NS).status.container_statuses[0].ready:
        time.sleep(1)
    assert core.read_namespaced_pod(info["pod"], NS).status.container_statuses[0].ready


@pytest.mark.slow
def test_rollout_restart_patch(kube, cluster, client):
    apps = k8s.AppsV1Api(client)
    info = _info(kube, cluster)
    before_pid = kube.state["clusters"][cluster]["pid"]
    body = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ")}}}}}
    patched = apps.patch_namespaced_stateful_set(info["statefulset"], NS, body)
    assert patched.metadata.generation > 1
    deadline = time.time() + 150
    while time.time() < deadline:
        sts = apps.read_namespaced_stateful_set(info["statefulset"], NS)
        st = sts.status
        if st.observed_generation == sts.metadata.generation and st.ready_replicas == 1 and st.current_revision == st.update_revision:
            break
        time.sleep(1)
    assert st.current_revision == st.update_revision and st.ready_replicas == 1
    deadline = time.time() + 10
    while time.time() < deadline and kube.state["clusters"][cluster]["pid"] in (before_pid, None):
        time.sleep(0.5)
    assert kube.state["clusters"][cluster]["pid"] not in (before_pid, None)
