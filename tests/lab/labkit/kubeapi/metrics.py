"""Resource metrics and the kubelet: ``metrics.k8s.io`` PodMetrics/NodeMetrics (read-only, computed
from the processes) and ``nodes/<node>/proxy/...`` (``stats/summary``, ``metrics``, ``pods``)."""

from __future__ import annotations

import copy

from . import tables
from .kinds import Forbidden
from .util import ApiError

NOT_ALLOWED = "the server does not allow this method on the requested resource"


class Metrics(Forbidden):
    """PodMetrics and NodeMetrics: get and list only."""

    def objects(self, h, model, res, namespace):
        return tables.metrics_objects(model, res, namespace)

    def find(self, h, model, res, namespace, name):
        for obj in tables.metrics_objects(model, res, namespace):
            if obj["metadata"]["name"] == name:
                return obj
        raise ApiError(404, 'podmetrics.metrics.k8s.io "%s" not found' % name, "NotFound",
                       {"name": name, "group": "metrics.k8s.io", "kind": res.name})

    def watch(self, h, model, res, namespace, name):
        raise ApiError(405, "watch is not supported on metrics", "MethodNotAllowed")

    def patch(self, h, model, res, namespace, name):
        raise ApiError(405, NOT_ALLOWED, "MethodNotAllowed")

    def update(self, h, model, res, namespace, name):
        raise ApiError(405, NOT_ALLOWED, "MethodNotAllowed")


def node_proxy(h, model, name, rest):
    """nodes/NAME/proxy/stats/summary and /metrics (kubelet)."""
    node = model.store.get("nodes", "", name)
    if node is None:
        raise ApiError(404, 'nodes "%s" not found' % name, "NotFound", {"name": name, "kind": "nodes"})
    path = "/".join(rest)
    if path in ("stats/summary", "stats/summary/"):
        h.send_json(200, model.node_summary(name))
    elif path == "metrics":
        h.send_bytes(200, tables.kubelet_metrics(model, name).encode(), "text/plain; version=0.0.4; charset=utf-8")
    elif path in ("healthz", "pods"):
        if path == "healthz":
            h.send_bytes(200, b"ok", "text/plain")
        else:
            pods = [p for p in model.store.list("pods") if (p.get("spec") or {}).get("nodeName") == name]
            h.send_json(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": copy.deepcopy(pods)})
    else:
        raise ApiError(404, "the server could not find the requested resource", "NotFound")


KINDS = {("metrics.k8s.io", "pods"): Metrics(), ("metrics.k8s.io", "nodes"): Metrics()}
