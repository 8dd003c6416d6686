"""A small fake of one cluster for the remediation unit tests.

``FakeCluster`` answers what the remediation flows ask a ``KubeTarget``: ``request_json`` (pods, the
StatefulSet, the PrometheusAgent, Leases; 404 and 409 as the API server's errors of
core/errors.py with ``details['status']``), ``http_get`` (the agent's /-/healthy, /-/ready,
/api/v1/targets and a /metrics page whose remote-write counters follow the clock), ``logs``.
``FakeTime`` is the clock: ``sleep`` moves it on, so a flow with waits runs in no time.
A rolled or deleted pod comes back at once with a new uid (Ready unless ``crashing``): a
StatefulSet's under its name, a DaemonSet's (``daemonset_pods``) under a new name on its node.
"""

from __future__ import annotations

import copy
import itertools
import re
from urllib.parse import unquote

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import TargetAuthError, TargetUnreachable

T0 = 1795503000.0
NS = "monitoring"
POD = "prom-agent-lab-1-0"
STS = "prom-agent-lab-1"
CR = "lab-1"
RECEIVER_URL = "http://receiver.invalid/api/v1/write"
LBL = 'remote_name="recv",url="%s"' % RECEIVER_URL

# the module's defaults (agent_restart's argument spec), the catalog's limits left unset
RESTART_PARAMS = {
    'namespace': NS, 'pod': POD, 'label_selector': None, 'container': 'prometheus', 'timeout': 10.0, 'validate_certs': True,
    'mode': 'graceful', 'target': 'agent', 'reason': 'manual', 'statefulset': None, 'force': False,
    'max_lag_seconds': None, 'max_pending_samples': None, 'rw_interval': 5, 'wait_timeout': 300, 'verify': True,
    'verify_timeout': 180, 'forced_fallback': False, 'stuck_after_seconds': None, 'skip_if_healthy': False,
    'cooldown_seconds': None, 'lease': True, 'lease_duration': 900, 'lease_holder': 'unit@test/1', 'lease_wait': 0,
    'wal_path': '/prometheus/wal', 'allow_data_loss': False, 'receiver_namespace': 'thanos',
    'receiver_selector': 'app.kubernetes.io/name=thanos-receive', 'receiver_urls': [],
}

# the module's defaults (agent_tune's argument spec)
TUNE_PARAMS = {
    'namespace': NS, 'pod': POD, 'label_selector': None, 'container': 'prometheus', 'timeout': 10.0, 'validate_certs': True,
    'kind': 'PrometheusAgent', 'name': None, 'remote_write': None, 'drop_metrics': None, 'drop_state': 'present',
    'queue': None, 'only_increase': False, 'max_shards_cap': 200, 'resources': None, 'resources_step': None,
    'resources_step_from': None, 'step_percent': 25, 'memory_cap': '2Gi', 'cpu_cap': '2', 'force': False,
    'max_lag_seconds': None, 'rw_interval': 5, 'wait': True, 'wait_timeout': 300,
    'cooldown_seconds': None, 'lease_duration': 900, 'lease_holder': 'unit@test/1', 'lease_wait': 0,
    'drop_job': None, 'scrape_interval': None, 'scrape_timeout': None, 'wal_compression': None, 'override_guardrails': [],
}


class FakeTime:
    def __init__(self, start=T0):
        self.now = start
        self.slept = 0.0

    def time(self):
        return self.now

    def sleep(self, seconds):
        seconds = max(float(seconds), 0.5)
        self.now += seconds
        self.slept += seconds


def api_error(status, message):
    cls = TargetAuthError if status in (401, 403) else TargetUnreachable
    error = cls("cluster fake: API server https://fake (%s): %s" % (status, message))
    error.details["status"] = status
    return error


def merge(base, patch):
    """A JSON merge patch (RFC 7386)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


def pod(name=POD, uid="uid-1", ready=True, deletion=None, labels=None, limits=None, sts=STS, kind="StatefulSet", node="node-a",
        grace=None):
    default_labels = {"app.kubernetes.io/name": "prometheus-agent", "operator.prometheus.io/name": CR}
    meta = {"name": name, "namespace": NS, "uid": uid, "labels": dict(labels or default_labels),
            "ownerReferences": [{"kind": kind, "name": sts}], "creationTimestamp": "2026-11-24T07:00:00Z"}
    if deletion:
        meta["deletionTimestamp"] = deletion
    spec = {"nodeName": node, "containers": [{"name": "prometheus", "resources": {"limits": dict(limits or {"memory": "512Mi"})}}]}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"metadata": meta, "spec": spec,
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [{"name": "prometheus", "restartCount": 0, "state": {"running": {}}}]}}


class FakeCluster:
    """One namespace with an agent pod, its StatefulSet and PrometheusAgent, and the agent itself."""

    kind = "kubernetes"

    def __init__(self, clock=None):
        self.clock = clock or FakeTime()
        self.uids = itertools.count(2)
        self.rv = itertools.count(101)
        self.pods = {POD: pod()}
        self.statefulsets = {STS: {"metadata": {"name": STS, "namespace": NS}, "spec": {"template": {"metadata": {}}}}}
        self.resources = {CR: {"metadata": {"name": CR, "namespace": NS, "resourceVersion": "100"},
                               "spec": {"remoteWrite": [{"url": RECEIVER_URL}],
                                        "resources": {"limits": {"memory": "512Mi"}, "requests": {"memory": "256Mi"}}}}}
        self.daemonsets = {}
        self.leases = {}
        self.requests = []
        self.crashing = False          # a new pod never gets Ready
        self.forbidden = set()         # (method, kind) answered 403
        self.start = self.clock.time() - 3600
        self.receiver_down_since = None
        self.nothing_sent = False      # the agent never sent a sample since it started
        self.healthy = True
        self.log_text = ""
        self.pod_name = POD
        self.container = "prometheus"
        self.namespace = NS

    # ------------------------------------------------------------------ the Kubernetes API

    def new_pod(self, name, old):
        owner = old["metadata"]["ownerReferences"][0]
        uid = "uid-%d" % next(self.uids)
        if owner["kind"] == "DaemonSet":  # a DaemonSet's new pod has a new name
            del self.pods[name]
            name = "%s-%s" % (owner["name"], uid.replace("-", ""))
        fresh = pod(name, uid=uid, ready=not self.crashing, labels=old["metadata"].get("labels"),
                    limits=(self.resources.get(CR, {}).get("spec", {}).get("resources") or {}).get("limits"),
                    sts=owner["name"], kind=owner["kind"], node=old["spec"].get("nodeName"),
                    grace=old["spec"].get("terminationGracePeriodSeconds"))
        self.pods[name] = fresh
        self.start = self.clock.time()

    def request_json(self, method, path, body=None, query=None, what=None, missing_ok=False, content_type=None):
        self.requests.append((method, path, copy.deepcopy(body), content_type))
        match = re.match(r"^/apis?/(?:(?P<group>[^/]+)/)?(?P<version>v[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)"
                         r"(?:/(?P<name>[^/]+))?$", path)
        assert match, path
        plural, name = match.group("plural"), unquote(match.group("name") or "")
        if (method, plural) in self.forbidden:
            raise api_error(403, "forbidden: %s %s" % (method, plural))
        store = {"pods": self.pods, "statefulsets": self.statefulsets, "daemonsets": self.daemonsets,
                 "prometheusagents": self.resources, "leases": self.leases}[plural]
        if method == "GET" and not name:
            selector = dict(query or []).get("labelSelector")
            wanted = dict(item.split("=", 1) for item in selector.split(",")) if selector else {}
            items = [obj for obj in store.values()
                     if all(obj["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())]
            return {"items": copy.deepcopy(items)}
        if method == "POST":
            key = body["metadata"]["name"]
            if key in store:
                raise api_error(409, "%s %s already exists" % (plural, key))
            obj = copy.deepcopy(body)
            obj["metadata"]["resourceVersion"] = str(next(self.rv))
            store[key] = obj
            return copy.deepcopy(obj)
        if name not in store:
            if missing_ok:
                return None
            raise api_error(404, "%s %s not found" % (plural, name))
        current = store[name]
        if method == "GET":
            return copy.deepcopy(current)
        if method == "DELETE":
            wanted = (body or {}).get("preconditions") or {}
            if wanted.get("resourceVersion") and wanted["resourceVersion"] != current["metadata"].get("resourceVersion"):
                raise api_error(409, "the object was modified")
            if wanted.get("uid") and wanted["uid"] != current["metadata"].get("uid"):
                raise api_error(409, "Precondition failed: UID in precondition: %s" % wanted["uid"])
            if plural == "pods":
                self.new_pod(name, current)
            else:
                del store[name]
            return {"kind": "Status", "status": "Success"}
        if method == "PUT":
            if body["metadata"].get("resourceVersion") != current["metadata"].get("resourceVersion"):
                raise api_error(409, "the object has been modified")
            obj = copy.deepcopy(body)
            obj["metadata"]["resourceVersion"] = str(next(self.rv))
            store[name] = obj
            return copy.deepcopy(obj)
        assert method == "PATCH", method
        wanted_rv = (body.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and wanted_rv != current["metadata"].get("resourceVersion"):
            raise api_error(409, "the object has been modified")
        obj = merge(current, body)
        obj["metadata"]["resourceVersion"] = str(next(self.rv))
        store[name] = obj
        if plural == "statefulsets" or (obj["spec"].get("resources") != current["spec"].get("resources")):
            for pod_name in [n for n, p in self.pods.items() if p["metadata"]["name"].startswith(STS)]:
                self.new_pod(pod_name, self.pods[pod_name])
        return copy.deepcopy(obj)

    # ------------------------------------------------------------------ the agent

    def receiver_down(self):
        self.receiver_down_since = self.clock.time()

    def metrics(self):
        now = self.clock.time()
        up_until = self.receiver_down_since if self.receiver_down_since is not None else now
        sending = max(0.0, up_until - self.start)
        retried = 100.0 * (now - self.receiver_down_since) if self.receiver_down_since is not None else 0.0
        samples = 100.0 * sending + retried
        lines = [
            "# TYPE prometheus_remote_storage_samples_total counter",
            "prometheus_remote_storage_samples_total{%s} %s" % (LBL, 0 if self.nothing_sent else samples),
            "prometheus_remote_storage_samples_failed_total{%s} 0" % LBL,
            "prometheus_remote_storage_samples_retried_total{%s} %s" % (LBL, retried),
            "prometheus_remote_storage_bytes_total{%s} %s" % (LBL, 0 if self.nothing_sent else 2000.0 * sending),
            "prometheus_remote_storage_samples_pending{%s} %s" % (LBL, 3499 if self.receiver_down_since is not None else 10),
            "prometheus_remote_storage_shards_desired{%s} 0.5" % LBL,
            "prometheus_remote_storage_shards_max{%s} 50" % LBL,
            "prometheus_remote_storage_highest_timestamp_in_seconds %s" % now,
            "process_start_time_seconds %s" % self.start,
        ]
        if not self.nothing_sent:
            lines.append("prometheus_remote_storage_queue_highest_sent_timestamp_seconds{%s} %s" % (LBL, up_until - 1))
        return ("\n".join(lines) + "\n").encode()

    def for_pod(self, name):
        """The agent's HTTP API now answers for pod ``name`` (one agent behind every pod of the fake)."""
        self.pod_name = name
        return self

    def replicas(self, *names, grace=600):
        """The StatefulSet runs these pods (``spec.replicas`` of them), each with ``grace`` seconds of grace."""
        self.statefulsets[STS]["spec"]["replicas"] = len(names)
        self.pods = {name: pod(name, uid="uid-%s" % name, grace=grace) for name in names}

    def daemonset_pods(self, *nodes, name=STS, grace=600):
        """A DaemonSet ``name`` of one pod per node instead of the StatefulSet; the pods' names, in node order."""
        self.statefulsets = {}
        self.daemonsets[name] = {"metadata": {"name": name, "namespace": NS}, "spec": {"template": {"metadata": {}}},
                                 "status": {"desiredNumberScheduled": len(nodes)}}
        self.pods = {}
        for index, node in enumerate(nodes):
            pod_name = "%s-ds%d" % (name, index)
            self.pods[pod_name] = pod(pod_name, uid="uid-%s" % pod_name, sts=name, kind="DaemonSet", node=node, grace=grace)
        return sorted(self.pods)

    def http_get(self, path, timeout=None):
        ready = self.pods.get(self.pod_name, {}).get("status", {}).get("conditions", [{}])[0].get("status") == "True"
        if path == "/-/healthy":
            return (200 if self.healthy and ready else 503), b"Prometheus Agent is Healthy.\n"
        if path == "/-/ready":
            return (200 if self.healthy and ready else 503), b"Prometheus Agent is Ready.\n"
        if path.startswith("/api/v1/targets"):
            return 200, (b'{"status":"success","data":{"activeTargets":[{"labels":{"job":"node"},"health":"up"},'
                         b'{"labels":{"job":"self"},"health":"up"}],"droppedTargets":[]}}')
        if path == "/metrics":
            return 200, self.metrics()
        return 404, b"not found"

    def logs(self, since_seconds=None, since_time=None, tail_lines=None, timestamps=True):
        return self.log_text

    def describe(self):
        return "cluster fake pod %s/%s" % (NS, POD)
