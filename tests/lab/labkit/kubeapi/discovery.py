"""The resources this API serves and the discovery documents that describe them."""

from __future__ import annotations

from .util import short_hash

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
READ_VERBS = ["get", "list", "watch"]


class Resource:
    """One resource of one group version."""

    # pylint: disable=too-few-public-methods,too-many-arguments,too-many-positional-arguments

    def __init__(self, group, version, name, kind, namespaced=True, verbs=None, short=None, categories=None, subresources=(), list_kind=None):
        self.group = group
        self.version = version
        self.name = name
        self.kind = kind
        self.namespaced = namespaced
        self.verbs = verbs or ALL_VERBS
        self.short = short or []
        self.categories = categories or []
        self.subresources = subresources
        self.list_kind = list_kind or kind + "List"
        self.builtin = group in ("", "apps", "coordination.k8s.io", "events.k8s.io")

    @property
    def api_version(self):
        """``v1`` or ``group/version``."""
        return self.version if not self.group else "%s/%s" % (self.group, self.version)

    def discovery(self):
        """The APIResource entries (the resource and its subresources)."""
        out = [{"name": self.name, "singularName": self.kind.lower(), "namespaced": self.namespaced, "kind": self.kind, "verbs": self.verbs,
                "storageVersionHash": short_hash((self.group, self.name), 11)}]
        if self.short:
            out[0]["shortNames"] = self.short
        if self.categories:
            out[0]["categories"] = self.categories
        for sub, kind, verbs in self.subresources:
            out.append({"name": "%s/%s" % (self.name, sub), "singularName": "", "namespaced": self.namespaced, "kind": kind, "verbs": verbs})
        return out


RESOURCES = [
    Resource("", "v1", "namespaces", "Namespace", namespaced=False, short=["ns"], subresources=[("status", "Namespace", ["get", "patch", "update"])]),
    Resource("", "v1", "nodes", "Node", namespaced=False, short=["no"],
             subresources=[("proxy", "NodeProxyOptions", ["create", "delete", "get", "patch", "update"]), ("status", "Node", ["get", "patch", "update"])]),
    Resource("", "v1", "pods", "Pod", short=["po"], categories=["all"], subresources=[
        ("exec", "PodExecOptions", ["create", "get"]), ("log", "Pod", ["get"]), ("proxy", "PodProxyOptions", ["create", "delete", "get", "patch", "update"]),
        ("status", "Pod", ["get", "patch", "update"]), ("eviction", "Eviction", ["create"])]),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short=["pvc"],
             subresources=[("status", "PersistentVolumeClaim", ["get", "patch", "update"])]),
    Resource("", "v1", "events", "Event", short=["ev"]),
    Resource("", "v1", "configmaps", "ConfigMap", short=["cm"]),
    Resource("", "v1", "services", "Service", short=["svc"], categories=["all"]),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", short=["sa"]),
    Resource("apps", "v1", "statefulsets", "StatefulSet", short=["sts"], categories=["all"],
             subresources=[("status", "StatefulSet", ["get", "patch", "update"]), ("scale", "Scale", ["get", "patch", "update"])]),
    Resource("apps", "v1", "daemonsets", "DaemonSet", short=["ds"], categories=["all"],
             subresources=[("status", "DaemonSet", ["get", "patch", "update"])]),
    Resource("apps", "v1", "controllerrevisions", "ControllerRevision"),
    Resource("coordination.k8s.io", "v1", "leases", "Lease"),
    Resource("events.k8s.io", "v1", "events", "Event", short=["ev"]),
    Resource("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", verbs=READ_VERBS),
    Resource("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", namespaced=False, verbs=READ_VERBS),
    Resource("monitoring.coreos.com", "v1alpha1", "prometheusagents", "PrometheusAgent", categories=["prometheus-operator"],
             subresources=[("status", "PrometheusAgent", ["get", "patch", "update"]), ("scale", "Scale", ["get", "patch", "update"])]),
    Resource("monitoring.coreos.com", "v1", "prometheusrules", "PrometheusRule", short=["promrule"], categories=["prometheus-operator"]),
    Resource("monitoring.coreos.com", "v1", "servicemonitors", "ServiceMonitor", short=["smon"], categories=["prometheus-operator"],
             subresources=[("status", "ServiceMonitor", ["get", "patch", "update"])]),
    Resource("monitoring.coreos.com", "v1", "podmonitors", "PodMonitor", short=["pmon"], categories=["prometheus-operator"],
             subresources=[("status", "PodMonitor", ["get", "patch", "update"])]),
    Resource("monitoring.coreos.com", "v1", "probes", "Probe", short=["prb"], categories=["prometheus-operator"],
             subresources=[("status", "Probe", ["get", "patch", "update"])]),
    Resource("monitoring.coreos.com", "v1alpha1", "scrapeconfigs", "ScrapeConfig", short=["scfg"], categories=["prometheus-operator"],
             subresources=[("status", "ScrapeConfig", ["get", "patch", "update"])]),
]

GROUP_VERSIONS = {
    "apps": ["v1"],
    "coordination.k8s.io": ["v1"],
    "events.k8s.io": ["v1"],
    "metrics.k8s.io": ["v1beta1"],
    "monitoring.coreos.com": ["v1", "v1alpha1"],
}

BY_PATH = {(r.group, r.version, r.name): r for r in RESOURCES}

VERSION = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.4", "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335", "gitTreeState": "clean",
    "buildDate": "2025-04-22T15:56:45Z", "goVersion": "go1.23.6", "compiler": "gc", "platform": "linux/amd64",
}


def api_versions(host):
    """``/api``."""
    return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}


def _group(name):
    versions = [{"groupVersion": "%s/%s" % (name, v), "version": v} for v in GROUP_VERSIONS[name]]
    return {"name": name, "versions": versions, "preferredVersion": versions[0]}


def api_group_list():
    """``/apis``."""
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(g) for g in GROUP_VERSIONS]}


def api_group(name):
    """``/apis/<group>`` (None when not served)."""
    if name not in GROUP_VERSIONS:
        return None
    doc = _group(name)
    doc.update({"kind": "APIGroup", "apiVersion": "v1"})
    return doc


def resource_list(group, version):
    """``/api/v1`` or ``/apis/<group>/<version>`` (None when not served)."""
    items = [r for r in RESOURCES if r.group == group and r.version == version]
    if not items:
        return None
    resources = []
    for res in items:
        resources.extend(res.discovery())
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": items[0].api_version, "resources": resources}
