"""Table output for ``kubectl get``, metrics.k8s.io objects, CRI logs and kubelet metrics."""

from __future__ import annotations

import time

from .util import rfc3339, to_epoch


def _age(created):
    seconds = max(0, int(time.time() - (to_epoch(created) or time.time())))
    if seconds < 120:
        return "%ds" % seconds
    if seconds < 600:
        return "%dm%ds" % (seconds // 60, seconds % 60) if seconds % 60 else "%dm" % (seconds // 60)
    if seconds < 3 * 3600:
        return "%dm" % (seconds // 60)
    if seconds < 8 * 3600:
        return "%dh%dm" % (seconds // 3600, (seconds % 3600) // 60)
    if seconds < 2 * 86400:
        return "%dh" % (seconds // 3600)
    return "%dd" % (seconds // 86400)


def pod_status_reason(pod):
    """The STATUS column of ``kubectl get pods``."""
    reason = pod["status"].get("phase", "Unknown")
    for cst in pod["status"].get("containerStatuses", []):
        state = cst.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            reason = state["terminated"].get("reason") or "Error"
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def _pod_cells(pod):
    statuses = pod["status"].get("containerStatuses", [])
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in statuses)
    restart_text = str(restarts)
    lasts = [to_epoch(c["lastState"]["terminated"]["finishedAt"]) for c in statuses if (c.get("lastState") or {}).get("terminated")]
    if restarts and lasts:
        restart_text = "%d (%s ago)" % (restarts, _age(rfc3339(max(lasts))))
    return [pod["metadata"]["name"], "%d/%d" % (ready, len(pod["spec"]["containers"])), pod_status_reason(pod), restart_text,
            _age(pod["metadata"]["creationTimestamp"]), pod["status"].get("podIP", "<none>"), pod["spec"].get("nodeName", "<none>"), "<none>", "<none>"]


def _col(name, kind="string", priority=0, fmt=""):
    return {"name": name, "type": kind, "format": fmt, "description": name, "priority": priority}


COLUMNS = {
    "pods": [_col("Name", fmt="name"), _col("Ready"), _col("Status"), _col("Restarts"), _col("Age"), _col("IP", priority=1), _col("Node", priority=1),
             _col("Nominated Node", priority=1), _col("Readiness Gates", priority=1)],
    "statefulsets": [_col("Name", fmt="name"), _col("Ready"), _col("Age"), _col("Containers", priority=1), _col("Images", priority=1)],
    "daemonsets": [_col("Name", fmt="name"), _col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"),
                   _col("Up-to-date", "integer"), _col("Available", "integer"), _col("Node Selector"), _col("Age"),
                   _col("Containers", priority=1), _col("Images", priority=1), _col("Selector", priority=1)],
    "prometheusagents": [_col("Name", fmt="name"), _col("Version"), _col("Desired", "integer"), _col("Ready", "integer"),
                         _col("Reconciled"), _col("Available"), _col("Age")],
    "persistentvolumeclaims": [_col("Name", fmt="name"), _col("Status"), _col("Volume"), _col("Capacity"), _col("Access Modes"),
                               _col("StorageClass"), _col("VolumeAttributesClass"), _col("Age"), _col("VolumeMode", priority=1)],
    "nodes": [_col("Name", fmt="name"), _col("Status"), _col("Roles"), _col("Age"), _col("Version")],
    "namespaces": [_col("Name", fmt="name"), _col("Status"), _col("Age")],
    "leases": [_col("Name", fmt="name"), _col("Holder"), _col("Age")],
    "events": [_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Subobject", priority=1), _col("Source", priority=1),
               _col("Message"), _col("First Seen", priority=1), _col("Count", priority=1), _col("Name", priority=1, fmt="name")],
}


def _event_cells(obj):
    """The row of ``kubectl get events`` (either API's Event)."""
    ref = obj.get("involvedObject") or obj.get("regarding") or {}
    series = obj.get("series") or {}
    count = int(obj.get("count") or series.get("count") or obj.get("deprecatedCount") or 1)
    first = obj.get("firstTimestamp") or obj.get("deprecatedFirstTimestamp") or obj.get("eventTime") or obj["metadata"].get("creationTimestamp")
    last = obj.get("lastTimestamp") or series.get("lastObservedTime") or obj.get("deprecatedLastTimestamp") or first
    last_seen = _age(last) if count <= 1 else "%s (x%d over %s)" % (_age(last), count, _age(first))
    source = obj.get("source") or obj.get("deprecatedSource") or {}
    source_text = ", ".join(v for v in (source.get("component") or obj.get("reportingController"), source.get("host")) if v)
    return [last_seen, obj.get("type", ""), obj.get("reason", ""), "%s/%s" % ((ref.get("kind") or "").lower(), ref.get("name", "")),
            ref.get("fieldPath", ""), source_text, obj.get("message", obj.get("note", "")), _age(first), str(count), obj["metadata"]["name"]]


def _cells(resource, obj):
    meta = obj["metadata"]
    age = _age(meta.get("creationTimestamp"))
    if resource == "pods":
        return _pod_cells(obj)
    if resource == "events":
        return _event_cells(obj)
    if resource == "statefulsets":
        containers = obj["spec"]["template"]["spec"]["containers"]
        return [meta["name"], "%d/%d" % (obj["status"].get("readyReplicas", 0), obj["spec"].get("replicas", 1)), age,
                ",".join(c["name"] for c in containers), ",".join(c["image"] for c in containers)]
    if resource == "daemonsets":
        containers = obj["spec"]["template"]["spec"]["containers"]
        st = obj.get("status") or {}
        selector = obj["spec"]["template"]["spec"].get("nodeSelector") or {}
        return [meta["name"], st.get("desiredNumberScheduled", 0), st.get("currentNumberScheduled", 0), st.get("numberReady", 0),
                st.get("updatedNumberScheduled", 0), st.get("numberAvailable", 0), ",".join("%s=%s" % kv for kv in sorted(selector.items())) or "<none>",
                age, ",".join(c["name"] for c in containers), ",".join(c["image"] for c in containers),
                ",".join("%s=%s" % kv for kv in sorted(obj["spec"]["selector"].get("matchLabels", {}).items()))]
    if resource == "prometheusagents":
        st = obj.get("status") or {}
        conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
        spec = obj.get("spec") or {}
        desired = st.get("replicas", (spec.get("replicas") or 1) * (spec.get("shards") or 1))
        return [meta["name"], spec.get("version", ""), desired, st.get("availableReplicas", 0), conds.get("Reconciled", ""),
                conds.get("Available", ""), age]
    if resource == "persistentvolumeclaims":
        return [meta["name"], obj["status"].get("phase", ""), obj["spec"].get("volumeName", ""), obj["status"].get("capacity", {}).get("storage", ""),
                "RWO", obj["spec"].get("storageClassName", ""), "<unset>", age, obj["spec"].get("volumeMode", "")]
    if resource == "nodes":
        return [meta["name"], "Ready", "worker", age, obj["status"]["nodeInfo"]["kubeletVersion"]]
    if resource == "namespaces":
        return [meta["name"], obj.get("status", {}).get("phase", "Active"), age]
    if resource == "leases":
        return [meta["name"], (obj.get("spec") or {}).get("holderIdentity", ""), age]
    return [meta["name"], age]


def table(res, items, include="Metadata"):
    """A ``meta.k8s.io/v1`` Table of ``items``."""
    columns = COLUMNS.get(res.name, [_col("Name", fmt="name"), _col("Age")])
    rows = []
    for obj in items:
        row = {"cells": _cells(res.name, obj)}
        if include == "Object":
            full = dict(obj)
            full.setdefault("apiVersion", res.api_version)
            full.setdefault("kind", res.kind)
            row["object"] = full
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": ""}, "columnDefinitions": columns, "rows": rows}


# ------------------------------------------------------------------ metrics.k8s.io

def metrics_objects(model, res, namespace):
    """PodMetrics (or NodeMetrics) computed from the processes."""
    now = time.time()
    if res.name == "nodes":
        out = []
        for node in getattr(model, "node_names", None) or ["lab-node-1"]:
            cpu = mem = 0.0
            for work in model.workloads():
                if work.proc is not None and work.node == node:
                    cores, rss, _w, _t = model.pod_usage(work)
                    cpu += cores
                    mem += rss
            out.append({"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                        "metadata": {"name": node, "creationTimestamp": rfc3339(now), "labels": {"kubernetes.io/hostname": node}},
                        "timestamp": rfc3339(now - 5), "window": "20s", "usage": {"cpu": "%dn" % int(cpu * 1e9), "memory": "%dKi" % int(mem // 1024)}})
        return out
    out = []
    for work in model.workloads():
        if namespace is not None and work.names["namespace"] != namespace:
            continue
        pod = model.store.get("pods", work.names["namespace"], work.names["pod"])
        if pod is None or work.proc is None or getattr(work.proc, "state", "running") != "running":
            continue
        cores, rss, window, stamp = model.pod_usage(work)
        containers = [{"name": pod["spec"]["containers"][0]["name"], "usage": {"cpu": "%dn" % int(cores * 1e9), "memory": "%dKi" % int(rss // 1024)}}]
        if len(pod["spec"]["containers"]) > 1:
            containers.append({"name": pod["spec"]["containers"][1]["name"], "usage": {"cpu": "%dn" % 152000, "memory": "%dKi" % 11264}})
        out.append({"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                    "metadata": {"name": pod["metadata"]["name"], "namespace": pod["metadata"]["namespace"], "creationTimestamp": rfc3339(now),
                                 "labels": pod["metadata"].get("labels", {})},
                    "timestamp": rfc3339(stamp), "window": "%ds" % max(1, int(round(window))), "containers": containers})
    return out


# ------------------------------------------------------------------ logs

def parse_cri(data):
    """CRI log lines ``<RFC3339Nano> <stream> <tag> <line>`` -> [(epoch, stamp bytes, line bytes)]."""
    out = []
    for raw in data.splitlines():
        parts = raw.split(b" ", 3)
        if len(parts) < 4:
            if parts and parts[0]:
                out.append((0.0, b"", raw))
            continue
        try:
            epoch = to_epoch(parts[0].decode())
        except ValueError:
            epoch = 0.0
        out.append((epoch, parts[0], parts[3]))
    return out


def read_cri_log(path):
    """The parsed lines of a CRI log file ([] when it does not exist)."""
    if not path:
        return []
    try:
        with open(str(path), "rb") as handle:
            return parse_cri(handle.read())
    except OSError:
        return []


def reloader_log(pod):
    """What the config-reloader container logs at start."""
    start = to_epoch(pod["status"].get("startTime")) or time.time()
    stamp = rfc3339(start).replace("Z", ".000000000Z").encode()
    lines = [b'level=info ts=%s caller=main.go:114 msg="Starting prometheus-config-reloader" version="(version=0.63.0)"' % stamp[:-4],
             b'level=info ts=%s caller=main.go:115 build_context="(go=go1.19.5, platform=linux/amd64, user=Action-Run-ID-4116848478)"' % stamp[:-4],
             b'level=info ts=%s caller=reloader.go:374 msg="Reload triggered" cfg_in=/etc/prometheus/config/prometheus.yaml.gz '
             b'cfg_out=/etc/prometheus/config_out/prometheus.env.yaml watched_dirs=' % stamp[:-4]]
    return [(start, stamp, line) for line in lines]


def kubelet_metrics(model, node=None):
    """kubelet_volume_stats_* for the PVCs of the pods on ``node`` (every node when None): what the kubelet's /metrics exposes."""
    from .model import volume_stats  # pylint: disable=import-outside-toplevel
    out = []
    names = ("available_bytes", "capacity_bytes", "used_bytes", "inodes", "inodes_free", "inodes_used")
    keys = ("availableBytes", "capacityBytes", "usedBytes", "inodes", "inodesFree", "inodesUsed")
    rows = []
    for work in model.workloads():
        if work.proc is None or not work.names.get("pvc") or (node is not None and work.node != node):
            continue
        stats = volume_stats(work)
        if stats is not None:
            rows.append((work.names["namespace"], work.names["pvc"], stats))
    for name, key in zip(names, keys):
        out.append("# HELP kubelet_volume_stats_%s [ALPHA] Volume stats %s" % (name, name.replace("_", " ")))
        out.append("# TYPE kubelet_volume_stats_%s gauge" % name)
        for namespace, pvc, stats in rows:
            out.append('kubelet_volume_stats_%s{namespace="%s",persistentvolumeclaim="%s"} %d' % (name, namespace, pvc, stats[key]))
    return "\n".join(out) + "\n"
