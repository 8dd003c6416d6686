"""A simulated cluster: the store, the workloads, the StatefulSet controller and the operator loop."""

from __future__ import annotations

import copy
import logging
import os
import threading
import time

from .cluster import NODE_NAME, STARTED, Workload, _attr, namespace_object, node_object, workload_names
from .events import EventRecorder
from . import monitors
from .store import Store
from .util import rfc3339, stable_uid

LOG = logging.getLogger("labkit.kubeapi")

# what a rollout does to the pod's process: "restart" (same pod, process restarted) or "delete_pod" (new pod, new uid)
ROLLOUT_ACTION = "delete_pod"
RECEIVER_NAMES = {
    "namespace": "thanos", "cr": None, "statefulset": "thanos-receive", "pod": "thanos-receive-0", "volume": "data",
    "pvc": "data-thanos-receive-0", "service_account": "thanos-receive", "governing_service": "thanos-receive-headless",
    "selector": {"app.kubernetes.io/name": "thanos-receive", "app.kubernetes.io/instance": "thanos-receive",
                 "app.kubernetes.io/component": "receive"},
    "agent_selector": "app.kubernetes.io/name=thanos-receive",
}
OPERATOR_FIELDS = ("remoteWrite", "resources", "scrapeInterval", "externalLabels", "logLevel", "replicas", "shards", "retention") + monitors.SPEC_FIELDS


class ClusterModel:
    """Everything one cluster's API serves."""

    # pylint: disable=too-many-instance-attributes

    def __init__(self, name, token, supervisor, runtime, synthetic=False, layout="operator"):
        self.name = name
        self.token = token
        self.supervisor = supervisor
        self.runtime = runtime
        self.synthetic = synthetic
        self.layout = layout
        self.faults = set()
        self.store = Store()
        # the kubelet's, scheduler's and controllers' events (none for synthetic clusters: nothing happens to their pods)
        self.events = None if synthetic else EventRecorder(self.store)
        self.lock = threading.RLock()
        self.last_refresh = 0.0
        self.cpu_samples = {}
        self.operator_busy = False
        # every agent pod of the cluster (a real cluster's are the supervisor's ``pods``), one workload each
        if synthetic:
            runtimes = list(_attr(runtime, "cluster_pods", None) or [runtime])
        else:
            runtimes = list((_attr(supervisor, "pods", None) or {}).get(name) or [runtime])
        self.agents = [Workload(self, "agent", workload_names(name, layout, rt), lambda rt=rt: rt) for rt in runtimes]
        self.agent = self.agents[0]
        self.names = dict(self.agent.names)
        self.cr_names = list(dict.fromkeys(w.names["cr"] for w in self.agents))
        self.applied_specs = {cr: copy.deepcopy(_attr(self._cr_runtime(cr), "spec", None) or {}) for cr in self.cr_names}
        receiver = getattr(supervisor, "receiver", None)
        self.receiver = Workload(self, "receiver", RECEIVER_NAMES, lambda: getattr(self.supervisor, "receiver", None)) if receiver is not None else None
        created = STARTED - 86400 * 30
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease", "monitoring", "thanos"):
            self.store.put("namespaces", namespace_object(ns, created))
        self.node_names = list(dict.fromkeys([NODE_NAME] + [w.node for w in self.agents]))
        if _attr(supervisor, "nodes", None) and (not synthetic or len(runtimes) > 1):
            self.node_names = list(dict.fromkeys(list(supervisor.nodes) + self.node_names))
        for node in self.node_names:
            self.store.put("nodes", node_object(name, created, self.agent.capacity_bytes(), node))
        for cr in self.cr_names:
            self.store.put("prometheusagents", self.agent_cr_object(cr))
        if not synthetic:
            for resource, obj in monitors.default_monitors(self):
                self.store.put(resource, obj)
        self.refresh(force=True)

    @property
    def applied_spec(self):
        """The spec the operator last applied to the (first) PrometheusAgent."""
        return self.applied_specs[self.names["cr"]]

    def agent_workloads(self, cr=None):
        """The workloads of the pods of PrometheusAgent ``cr`` (the first one when None)."""
        cr = cr or self.names["cr"]
        return [w for w in self.agents if w.names["cr"] == cr]

    def _cr_runtime(self, cr):
        return self.agent_workloads(cr)[0].proc

    # ------------------------------------------------------------ the PrometheusAgent

    def agent_spec(self, cr_name=None):
        """The spec of PrometheusAgent ``cr_name`` (the first when None) as stored (the operator's input)."""
        cr_name = cr_name or self.names["cr"]
        cr = self.store.get("prometheusagents", self.names["namespace"], cr_name)
        if cr is None:
            return copy.deepcopy(_attr(self._cr_runtime(cr_name), "spec", None) or {})
        return cr.get("spec") or {}

    def agent_cr_object(self, cr_name=None):
        """The initial PrometheusAgent resource ``cr_name`` (the first when None)."""
        names = dict(self.agent_workloads(cr_name)[0].names)
        spec = copy.deepcopy(_attr(self._cr_runtime(names["cr"]), "spec", None) or {})
        if spec.get("mode") != "DaemonSet":
            spec.setdefault("replicas", 1)
        spec.setdefault("serviceAccountName", names["service_account"])
        spec.setdefault("version", "v2.42.0")
        spec.setdefault("image", "quay.io/prometheus/prometheus:v2.42.0")
        spec.setdefault("podMetadata", {"labels": {"app.kubernetes.io/name": names["selector"]["app.kubernetes.io/name"]}})
        size = "%dMi" % (self.agent.capacity_bytes() // 1048576)
        spec.setdefault("storage", {"volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": size}}}}})
        self.applied_specs[names["cr"]] = copy.deepcopy(spec)
        first = names["cr"] == self.names["cr"]
        return {
            "apiVersion": "monitoring.coreos.com/v1alpha1", "kind": "PrometheusAgent",
            "metadata": {"name": names["cr"], "namespace": names["namespace"],
                         "uid": stable_uid(self.name, "cr") if first else stable_uid(self.name, "cr", names["cr"]), "generation": 1,
                         "creationTimestamp": rfc3339(STARTED - 86400 * 3),
                         "labels": {"app.kubernetes.io/name": "prometheus-agent", "app.kubernetes.io/part-of": "fleetops-lab"}},
            "spec": spec,
            "status": self._cr_status(1, True, cr_name=names["cr"]),
        }

    def _cr_status(self, generation, reconciled, previous=None, cr_name=None):
        works = self.agent_workloads(cr_name)
        ready_by_shard = {}
        for work in works:
            shard = work.names["selector"].get("operator.prometheus.io/shard", "0")
            ready_by_shard.setdefault(shard, []).append(bool(work.pod_ready()))
        pods = len(works)
        available = sum(sum(v) for v in ready_by_shard.values())
        ready = available > 0
        now = rfc3339()
        status = {
            "replicas": pods, "updatedReplicas": pods, "availableReplicas": available, "unavailableReplicas": pods - available, "paused": False,
            "conditions": [
                {"type": "Available", "status": "True" if ready else "False", "lastTransitionTime": now, "observedGeneration": generation,
                 "reason": "" if ready else "NoPodReady"},
                {"type": "Reconciled", "status": "True" if reconciled else "False", "lastTransitionTime": now, "observedGeneration": generation,
                 "reason": "" if reconciled else "Reconciling"},
            ],
            "shardStatuses": [{"shardID": shard, "replicas": len(v), "updatedReplicas": len(v), "availableReplicas": sum(v),
                               "unavailableReplicas": len(v) - sum(v)} for shard, v in sorted(ready_by_shard.items(), key=lambda kv: int(kv[0]))],
        }
        if ready and available < pods:
            status["conditions"][0].update({"status": "Degraded", "reason": "SomePodsNotReady"})
        before = {c["type"]: c for c in (previous or {}).get("conditions", [])}
        for cond in status["conditions"]:
            old = before.get(cond["type"])
            if old and old.get("status") == cond["status"]:
                cond["lastTransitionTime"] = old.get("lastTransitionTime", now)
        return status

    def _refresh_cr(self):
        """Keep the PrometheusAgents' status in step with their pods (not while the operator works on them)."""
        if self.operator_busy:
            return
        for cr_name in self.cr_names:
            cr = self.store.get("prometheusagents", self.names["namespace"], cr_name)
            if cr is None:
                continue
            generation = int(cr["metadata"].get("generation", 1))
            reconciled = all(c.get("status") == "True" for c in (cr.get("status") or {}).get("conditions", []) if c.get("type") == "Reconciled")
            cr["status"] = self._cr_status(generation, reconciled, cr.get("status"), cr_name=cr_name)
            self.store.put("prometheusagents", cr)

    def patch_agent_cr(self, new_obj):
        """Store a changed PrometheusAgent and run the operator on it. Returns the stored object."""
        old = self.store.get("prometheusagents", new_obj["metadata"].get("namespace", ""), new_obj["metadata"]["name"])
        if old is not None and old.get("spec") != new_obj.get("spec"):
            new_obj["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        stored = self.store.put("prometheusagents", new_obj)
        if stored["metadata"]["name"] in self.cr_names and old is not None and old.get("spec") != stored.get("spec"):
            self._operator(stored)
        return self.store.get("prometheusagents", stored["metadata"]["namespace"], stored["metadata"]["name"])

    def _operator(self, cr):
        """The operator loop for one change: re-render the agent (apply_spec) when the spec changed."""
        spec = copy.deepcopy(cr.get("spec") or {})
        cr_name = cr["metadata"]["name"]
        generation = int(cr["metadata"].get("generation", 1))
        applied = self.applied_specs.get(cr_name) or {}
        changed = [f for f in OPERATOR_FIELDS if spec.get(f) != applied.get(f)]
        cur = self.store.get("prometheusagents", cr["metadata"]["namespace"], cr_name)
        cur["status"] = self._cr_status(generation, not changed, cur.get("status"), cr_name=cr_name)
        self.store.put("prometheusagents", cur)
        if not changed:
            return
        resources_changed = spec.get("resources") != applied.get("resources")
        works = self.agent_workloads(cr_name)

        def work():
            with self.lock:
                self.operator_busy = True
            try:
                if resources_changed:
                    self._set_template_resources(cr_name)
                if len(works) == 1:
                    apply = getattr(works[0].proc, "apply_spec", None)
                    if apply is not None:
                        apply(spec)
                else:
                    # several pods: each takes the spec; a resources change is then rolled out by
                    # the StatefulSet (DaemonSet) controller, one pod at a time
                    for one in works:
                        apply = getattr(one.proc, "apply_spec", None)
                        if apply is not None:
                            apply(spec, restart=False)
                self.applied_specs[cr_name] = copy.deepcopy(spec)
                if any(spec.get(f) != applied.get(f) for f in monitors.SPEC_FIELDS):
                    monitors.resync(self)     # the monitors it selects now: their jobs, their status
                if resources_changed and len(works) == 1:
                    # lock order: store before workload, never the other way round
                    revision = works[0].update_revision()
                    with works[0].lock:
                        works[0].pod_revision = revision
            except Exception as exc:  # pylint: disable=broad-except
                LOG.exception("operator: apply_spec failed for %s: %s", self.name, exc)
            finally:
                with self.lock:
                    self.operator_busy = False
                latest = self.store.get("prometheusagents", cr["metadata"]["namespace"], cr_name)
                if latest is not None:
                    latest["status"] = self._cr_status(int(latest["metadata"].get("generation", 1)), True, latest.get("status"), cr_name=cr_name)
                    self.store.put("prometheusagents", latest)
                self.refresh(force=True)

        threading.Thread(target=work, name="operator-%s" % self.name, daemon=True).start()

    def _set_template_resources(self, cr_name=None):
        controllers = {}
        for one in self.agent_workloads(cr_name):
            controllers.setdefault((one.controller_resource, one.names["statefulset"]), one)
        with self.store.lock:
            for (resource, name), one in controllers.items():
                obj = self.store.get(resource, one.names["namespace"], name)
                if obj is None:
                    continue
                new = one.container_specs()[0]["resources"]
                for container in obj["spec"]["template"]["spec"]["containers"]:
                    if container["name"] == "prometheus" and container.get("resources") != new:
                        container["resources"] = new
                        obj["metadata"]["generation"] = int(obj["metadata"].get("generation", 1)) + 1
                self.store.put(resource, obj)

    # ------------------------------------------------------------ workloads

    def workloads(self):
        """The agent pods' workloads, and the receiver's."""
        return [w for w in self.agents + [self.receiver] if w is not None]

    def workload_for(self, namespace, name, kind="pod"):
        """The workload behind a pod or StatefulSet name (the first pod of the StatefulSet; None when not one of ours)."""
        for work in self.workloads():
            if work.names["namespace"] == namespace and work.names["pod" if kind == "pod" else "statefulset"] == name:
                return work
        return None

    def refresh(self, force=False):
        """Bring the stored objects up to date with the processes (at most every 0.2 s unless forced)."""
        now = time.monotonic()
        with self.lock:
            if not force and now - self.last_refresh < 0.2:
                return
            self.last_refresh = now
        for work in self.workloads():
            try:
                work.refresh()
                self._controller(work)
            except Exception as exc:  # pylint: disable=broad-except
                LOG.exception("refresh of %s/%s failed: %s", self.name, work.names["pod"], exc)
        self._sample_cpu()
        try:
            self._refresh_cr()
        except Exception as exc:  # pylint: disable=broad-except
            LOG.exception("status of the PrometheusAgent of %s: %s", self.name, exc)

    def _controller(self, work):
        """The StatefulSet (DaemonSet) controller: a template change replaces the pods one at a
        time (a StatefulSet from its highest ordinal down), the next only when the others are ready."""
        sts = self.store.get(work.controller_resource, work.names["namespace"], work.names["statefulset"])
        if sts is None:
            return
        update_rev = work.update_revision()
        others = [w for w in work.siblings() if w is not work]
        if others:
            if any(w.rolling for w in others) or not all(w.pod_ready() for w in others):
                return
            outdated = [w for w in work.siblings() if w.revision(update_rev) != update_rev]
            if outdated and max(outdated, key=lambda w: w.index) is not work:
                return
        with work.lock:
            if work.rolling or self.operator_busy or work.pod_revision == update_rev:
                return
            work.rolling = True
        grace = int(sts["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30))

        def roll():
            try:
                proc = work.proc
                action = getattr(proc, ROLLOUT_ACTION, None) or getattr(proc, "restart")
                work.mark_deleting(grace)
                self.refresh(force=True)
                try:
                    action(min(grace, 30))
                finally:
                    work.clear_deleting()
                    with work.lock:
                        work.pod_revision = update_rev
            except Exception as exc:  # pylint: disable=broad-except
                LOG.exception("rollout of %s failed: %s", work.names["statefulset"], exc)
            finally:
                with work.lock:
                    work.rolling = False
                self.refresh(force=True)

        threading.Thread(target=roll, name="rollout-%s" % work.names["pod"], daemon=True).start()

    def delete_pod(self, work, grace):
        """Delete the pod: the process stops, the pod is gone (DELETED), and a moment later the
        StatefulSet brings a new pod (new uid). Returns at once; the work runs in a thread."""
        proc = work.proc
        if _attr(proc, "terminating", False) and _attr(proc, "stuck_terminating", False):
            # stuck in Terminating (the supervisor's stuck-terminating fault): only a force delete ends it
            if grace == 0 and hasattr(proc, "finish_termination"):
                def finish():
                    try:
                        proc.finish_termination()
                    finally:
                        self.refresh(force=True)
                threading.Thread(target=finish, name="finish-%s" % work.names["pod"], daemon=True).start()
            self.refresh(force=True)
            return
        work.mark_deleting(grace)
        self.refresh(force=True)  # the Terminating state is an event of its own, however fast the process stops

        def run():
            try:
                deleter = getattr(proc, "delete_pod", None)
                if deleter is not None:
                    deleter(grace)
                else:
                    proc.restart(grace)
            except Exception as exc:  # pylint: disable=broad-except
                LOG.exception("delete of %s failed: %s", work.names["pod"], exc)
            finally:
                revision = work.update_revision()
                work.clear_deleting()
                with work.lock:
                    if revision is not None:
                        work.pod_revision = revision
                self.refresh(force=True)

        threading.Thread(target=run, name="delete-%s" % work.names["pod"], daemon=True).start()

    # ------------------------------------------------------------ metrics

    def _sample_cpu(self):
        now = time.time()
        for work in self.workloads():
            proc = work.proc
            if proc is None:
                continue
            try:
                cpu = float(proc.cpu_seconds())
            except Exception:  # pylint: disable=broad-except
                continue
            key = work.names["pod"]
            samples = self.cpu_samples.setdefault(key, [])
            if samples and now - samples[-1][0] < 5:
                continue
            samples.append((now, cpu, _attr(proc, "pod_uid", "")))
            del samples[:-4]

    def pod_usage(self, work):
        """(cpu cores, rss bytes, window seconds, timestamp) of a pod's main process."""
        proc = work.proc
        now = time.time()
        try:
            cpu_now = float(proc.cpu_seconds())
            rss = int(proc.rss_bytes())
        except Exception:  # pylint: disable=broad-except
            return 0.0, 0, 10.0, now
        samples = [s for s in self.cpu_samples.get(work.names["pod"], []) if s[2] == _attr(proc, "pod_uid", "") and now - s[0] >= 1.0]
        if samples:
            then, cpu_then, _uid = samples[-1]
            window = now - then
            cores = max(0.0, (cpu_now - cpu_then) / window)
        else:
            started = _attr(proc, "started_at", None)
            window = max(1.0, now - float(started)) if isinstance(started, (int, float)) else 10.0
            cores = cpu_now / window if window else 0.0
        return cores, rss, window, now

    def node_summary(self, node=NODE_NAME):
        """The kubelet's /stats/summary for ``node`` of this cluster (its pods only)."""
        if self.synthetic and hasattr(self.runtime, "ensure_wal"):
            self.runtime.ensure_wal()
        now = rfc3339()
        pods = []
        for work in self.workloads():
            if work.node != node:
                continue
            proc = work.proc
            pod = self.store.get("pods", work.names["namespace"], work.names["pod"])
            if proc is None or pod is None:
                continue
            cores, rss, _window, _ts = self.pod_usage(work)
            cpu = {"time": now, "usageNanoCores": int(cores * 1e9), "usageCoreNanoSeconds": int(float(_safe(proc.cpu_seconds, 0)) * 1e9)}
            mem = {"time": now, "workingSetBytes": rss, "rssBytes": rss, "usageBytes": rss}
            vol = volume_stats(work)
            containers = [{"name": c["name"], "startTime": pod["status"]["startTime"], "cpu": cpu, "memory": mem}
                          for c in pod["spec"]["containers"][:1]]
            entry = {"podRef": {"name": pod["metadata"]["name"], "namespace": pod["metadata"]["namespace"], "uid": pod["metadata"]["uid"]},
                     "startTime": pod["status"]["startTime"], "containers": containers, "cpu": cpu, "memory": mem, "volume": []}
            if vol is not None:
                vol.update({"time": now, "name": work.names["volume"]})
                if work.names.get("pvc"):
                    vol["pvcRef"] = {"name": work.names["pvc"], "namespace": work.names["namespace"]}
                entry["volume"].append(vol)
            pods.append(entry)
        return {"node": {"nodeName": node, "startTime": rfc3339(STARTED), "systemContainers": []}, "pods": pods}


def _safe(func, default):
    try:
        return func()
    except Exception:  # pylint: disable=broad-except
        return default


def _du(path):
    total = 0
    for root, dirs, files in os.walk(path):
        for fname in files + dirs:
            try:
                total += os.lstat(os.path.join(root, fname)).st_blocks * 512
            except OSError:
                pass
    return total


def volume_stats(work):
    """usedBytes/capacityBytes/availableBytes of the workload's data volume.

    The lab's agents have a tmpfs of their own: its statvfs. A directory on a shared disk (synthetic
    clusters): what the files use, against the declared capacity.
    """
    data_dir = _attr(work.proc, "data_dir", None)
    if not data_dir or not os.path.isdir(data_dir):
        return None
    st = os.statvfs(data_dir)
    capacity = st.f_blocks * st.f_frsize
    available = st.f_bavail * st.f_frsize
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    declared = _attr(work.proc, "volume_capacity_bytes", None)
    if not os.path.ismount(str(data_dir)) and declared:
        capacity = int(declared)
        used = _du(str(data_dir))
        available = max(0, capacity - used)
    return {"availableBytes": available, "capacityBytes": capacity, "usedBytes": used, "inodesFree": st.f_ffree, "inodes": st.f_files,
            "inodesUsed": st.f_files - st.f_ffree}
