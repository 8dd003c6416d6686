"""One simulated cluster: its objects, built from the lab's processes (or synthetic ones)."""

from __future__ import annotations

import copy
import hashlib
import os
import threading
import time

from ..runtime import POD_RECREATE_DELAY
from .util import bytes_quantity, new_uid, rfc3339, short_hash, stable_uid

NODE_NAME = "lab-node-1"
AGENT_IMAGE = "quay.io/prometheus/prometheus:v2.42.0"
AGENT_IMAGE_ID = "quay.io/prometheus/prometheus@sha256:d2ab0a27783fd4ad96a8853e2847b99a0be0043687b8a5d1ebfc2dd3fa4f5e59"
RELOADER_IMAGE = "quay.io/prometheus-operator/prometheus-config-reloader:v0.63.0"
RELOADER_IMAGE_ID = "quay.io/prometheus-operator/prometheus-config-reloader@sha256:3fbe1c26bd4d52e3d8f1ad3f2ab7ab4bb0fc0b5a3b7fd1e4b13e4c5f7f8f5b2a"
RECEIVE_IMAGE = "quay.io/thanos/thanos:v0.31.0"
RECEIVE_IMAGE_ID = "quay.io/thanos/thanos@sha256:0e1bc3a4e6a4a0a52aa7d1b6f1c0e0c8f3f2e1a8d1c3b5e7f9a1c3e5b7d9f1a3"
STARTED = time.time()


def agent_names(cluster, layout):
    """Names and labels of the agent objects of ``cluster`` for the install ``layout``."""
    if layout == "runbook":
        cr = "prometheus-agent"
        sts = "prometheus-agent-prometheus-agent"
        app = "prometheus"
    else:
        cr = cluster
        sts = "prom-agent-%s" % cluster
        app = "prometheus-agent"
    selector = {
        "app.kubernetes.io/instance": cr,
        "app.kubernetes.io/managed-by": "prometheus-operator",
        "app.kubernetes.io/name": app,
        "operator.prometheus.io/name": cr,
        "operator.prometheus.io/shard": "0",
    }
    return {
        "namespace": "monitoring", "cr": cr, "statefulset": sts, "pod": sts + "-0", "volume": sts + "-db",
        "pvc": "%s-db-%s-0" % (sts, sts), "selector": selector, "service_account": "prometheus-agent",
        "agent_selector": "app.kubernetes.io/name=%s" % app, "governing_service": "prometheus-agent-operated",
    }


def workload_names(cluster, layout, runtime):
    """Names and labels of one agent pod's objects: ``agent_names`` for the lab's one pod per
    cluster (and synthetic agents), the pod's own (``labkit.runtime.PodPlacement``) for a pod of a
    sharded, replicated or DaemonSet agent. Adds ``controller_kind`` ('StatefulSet' or
    'DaemonSet'), ``node`` and ``index`` (the StatefulSet ordinal)."""
    names = agent_names(cluster, layout)
    names.update({"controller_kind": "StatefulSet", "node": NODE_NAME, "index": 0})
    placement = _attr(runtime, "placement", None)
    if placement is None or not _attr(runtime, "pod_name", None):
        return names
    names.update({
        "cr": placement.cr, "statefulset": placement.controller_name, "pod": runtime.pod_name, "volume": placement.volume_name,
        "pvc": runtime.pvc_name if placement.controller_kind == "StatefulSet" else None, "selector": dict(runtime.pod_labels),
        "agent_selector": "app.kubernetes.io/name=%s" % placement.app, "controller_kind": placement.controller_kind,
        "node": placement.node, "index": placement.replica,
    })
    return names


def _attr(obj, name, default=None):
    try:
        value = getattr(obj, name, default)
    except Exception:  # pylint: disable=broad-except
        return default
    if callable(value) and name.startswith("is_"):
        try:
            return value()
        except Exception:  # pylint: disable=broad-except
            return default
    return value


def container_id(uid, started):
    """A containerd-style container id, stable for one container start."""
    return "containerd://" + hashlib.sha256(("%s/%s" % (uid, started)).encode()).hexdigest()


def _terminated(term, uid):
    out = {
        "exitCode": int(term.get("exit_code", term.get("exitCode", 1)) or 0),
        "reason": term.get("reason") or "Error",
        "startedAt": rfc3339(term.get("started_at", term.get("startedAt")) or STARTED),
        "finishedAt": rfc3339(term.get("finished_at", term.get("finishedAt")) or time.time()),
    }
    out["containerID"] = container_id(uid, out["startedAt"])
    return out


def process_container_status(proc, name, image, image_id, ready):
    """The containerStatuses entry of a process (a ``labkit.runtime.ProcessRuntime`` or a synthetic one)."""
    uid = _attr(proc, "pod_uid", "")
    state_name = _attr(proc, "state", "running") or "running"
    last = _attr(proc, "last_termination", None) or None
    started = _attr(proc, "started_at", None)
    status = {"name": name, "image": image, "imageID": image_id, "restartCount": int(_attr(proc, "restart_count", 0) or 0),
              "ready": bool(ready), "started": state_name == "running"}
    if state_name == "running":
        status["state"] = {"running": {"startedAt": rfc3339(started or STARTED)}}
        status["containerID"] = container_id(uid, rfc3339(started or STARTED))
    elif state_name == "waiting":
        reason = _attr(proc, "waiting_reason", None) or "ContainerCreating"
        waiting = {"reason": reason}
        if reason == "CrashLoopBackOff":
            waiting["message"] = "back-off 5m0s restarting failed container=%s pod=%s" % (name, _attr(proc, "pod_name", name))
        status["state"] = {"waiting": waiting}
        if last:
            status["containerID"] = container_id(uid, rfc3339(last.get("started_at") or STARTED))
    else:
        term = _terminated(last or {}, uid)
        status["state"] = {"terminated": term}
        status["containerID"] = term["containerID"]
        last = None
    status["lastState"] = {"terminated": _terminated(last, uid)} if last else {}
    return status


def pod_conditions(ready, created, started):
    """The five pod conditions of a scheduled, initialized pod."""
    ready_s = "True" if ready else "False"
    conds = [
        {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": None, "lastTransitionTime": rfc3339(created)},
        {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": rfc3339(created)},
        {"type": "Ready", "status": ready_s, "lastProbeTime": None, "lastTransitionTime": rfc3339(started)},
        {"type": "ContainersReady", "status": ready_s, "lastProbeTime": None, "lastTransitionTime": rfc3339(started)},
        {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": rfc3339(created)},
    ]
    for cond in conds:
        if not ready and cond["type"] in ("Ready", "ContainersReady"):
            cond["reason"] = "ContainersNotReady"
            cond["message"] = "containers with unready status: [prometheus]"
        del cond["lastProbeTime"]
    return conds


class Workload:
    """One pod of a StatefulSet (or DaemonSet) whose pod is one process of the lab (or a synthetic
    stand-in). The pods of one StatefulSet are sibling workloads (``siblings``): the StatefulSet's
    status counts them all."""

    # pylint: disable=too-many-instance-attributes

    def __init__(self, cluster, kind, names, proc_getter, port=9090):
        self.cluster = cluster
        self.kind = kind  # "agent" or "receiver"
        self.names = names
        self.proc_getter = proc_getter
        self.port = port
        self.sts_uid = stable_uid(cluster.name, names["namespace"], names["statefulset"], STARTED)
        self.pod_revision = None
        self.rolling = False
        self.deleting = None  # (epoch, grace, pod uid) of a deletion in progress
        self.removed_at = None  # monotonic time the last pod was removed from the store (its DELETED event)
        self.withheld = False  # the live pod is not in the store yet (its replacement comes a moment after the old one is gone)
        self.lock = threading.RLock()
        self.refresh_lock = threading.Lock()  # one refresh at a time; taken before the store's lock
        self.controller_kind = names.get("controller_kind", "StatefulSet")
        self.controller_resource = "daemonsets" if self.controller_kind == "DaemonSet" else "statefulsets"
        self.node = names.get("node", NODE_NAME)
        self.index = int(names.get("index", 0) or 0)

    def siblings(self):
        """The workloads of the pods of the same StatefulSet or DaemonSet (self included), in pod order."""
        if self.kind != "agent":
            return [self]
        return [w for w in getattr(self.cluster, "agents", [self])
                if w.controller_resource == self.controller_resource and w.names["statefulset"] == self.names["statefulset"]] or [self]

    def revision(self, default):
        """The controller revision this pod runs (``default`` until one is set)."""
        with self.lock:
            return self.pod_revision or default

    @property
    def proc(self):
        """The process behind the pod (AgentRuntime, ProcessRuntime or synthetic)."""
        return self.proc_getter()

    # ------------------------------------------------------------ specs

    def container_specs(self):
        """The pod's containers as the operator renders them."""
        names = self.names
        if self.kind == "receiver":
            return [{
                "name": "thanos-receive", "image": RECEIVE_IMAGE, "imagePullPolicy": "IfNotPresent",
                "args": ["receive", "--tsdb.path=/var/thanos/receive", "--remote-write.address=0.0.0.0:19291", "--label=receive_replica=\"$(NAME)\""],
                "ports": [{"name": "http", "containerPort": 10902, "protocol": "TCP"}, {"name": "remote-write", "containerPort": 19291, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "200m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
                "volumeMounts": [{"name": "data", "mountPath": "/var/thanos/receive"}],
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
            }]
        spec = self.cluster.agent_spec(self.names["cr"]) or {}
        resources = copy.deepcopy(spec.get("resources") or {})
        if not resources:
            limit = _attr(self.proc, "memory_limit_bytes", None)
            resources = {"requests": {"cpu": "100m", "memory": "256Mi"}}
            if limit:
                resources["limits"] = {"memory": bytes_quantity(limit)}
        return [
            {
                "name": "prometheus", "image": AGENT_IMAGE, "imagePullPolicy": "IfNotPresent",
                "args": ["--web.console.templates=/etc/prometheus/consoles", "--web.console.libraries=/etc/prometheus/console_libraries",
                         "--config.file=/etc/prometheus/config_out/prometheus.env.yaml", "--web.enable-lifecycle", "--web.route-prefix=/",
                         "--storage.agent.path=/prometheus", "--enable-feature=agent", "--web.config.file=/etc/prometheus/web_config/web-config.yaml"],
                "ports": [{"name": "web", "containerPort": 9090, "protocol": "TCP"}],
                "resources": resources,
                "readinessProbe": {"httpGet": {"path": "/-/ready", "port": "web", "scheme": "HTTP"}, "timeoutSeconds": 3, "periodSeconds": 5,
                                   "successThreshold": 1, "failureThreshold": 3},
                "startupProbe": {"httpGet": {"path": "/-/ready", "port": "web", "scheme": "HTTP"}, "timeoutSeconds": 3, "periodSeconds": 15,
                                 "successThreshold": 1, "failureThreshold": 60},
                "volumeMounts": [{"name": "config-out", "readOnly": True, "mountPath": "/etc/prometheus/config_out"},
                                 {"name": names["volume"], "mountPath": "/prometheus"}],
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "FallbackToLogsOnError",
            },
            {
                "name": "config-reloader", "image": RELOADER_IMAGE, "imagePullPolicy": "IfNotPresent",
                "command": ["/bin/prometheus-config-reloader"],
                "args": ["--listen-address=:8080", "--reload-url=http://127.0.0.1:9090/-/reload", "--config-file=/etc/prometheus/config/prometheus.yaml.gz",
                         "--config-envsubst-file=/etc/prometheus/config_out/prometheus.env.yaml"],
                "ports": [{"name": "reloader-web", "containerPort": 8080, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "10m", "memory": "50Mi"}, "limits": {"cpu": "10m", "memory": "50Mi"}},
                "volumeMounts": [{"name": "config-out", "mountPath": "/etc/prometheus/config_out"}],
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "FallbackToLogsOnError",
            },
        ]

    def pod_spec(self):
        """The pod template's spec."""
        names = self.names
        if self.kind == "receiver":
            volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": names["pvc"]}}]
        elif self.controller_kind == "DaemonSet":
            # DaemonSet mode has no volume claim: the WAL is on an emptyDir of the node
            volumes = [{"name": "config-out", "emptyDir": {"medium": "Memory"}}, {"name": names["volume"], "emptyDir": {}}]
        else:
            volumes = [{"name": "config-out", "emptyDir": {"medium": "Memory"}},
                       {"name": names["volume"], "persistentVolumeClaim": {"claimName": names["pvc"]}}]
        return {
            "containers": self.container_specs(), "volumes": volumes, "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 600 if self.kind == "agent" else 120, "dnsPolicy": "ClusterFirst",
            "serviceAccountName": names["service_account"], "serviceAccount": names["service_account"],
            "securityContext": {"runAsUser": 1000, "runAsNonRoot": True, "fsGroup": 2000}, "schedulerName": "default-scheduler",
            "subdomain": names["governing_service"], "enableServiceLinks": True, "priority": 0, "preemptionPolicy": "PreemptLowerPriority",
        }

    def template(self, annotations=None):
        """The StatefulSet's pod template."""
        ann = {"kubectl.kubernetes.io/default-container": self.container_specs()[0]["name"]}
        ann.update(annotations or {})
        return {"metadata": {"labels": dict(self.names["selector"]), "annotations": ann}, "spec": self.pod_spec()}

    def capacity_bytes(self):
        """The size of the PVC (the data volume)."""
        cap = _attr(self.proc, "volume_capacity_bytes", None)
        if cap:
            return int(cap)
        data_dir = _attr(self.proc, "data_dir", None)
        if data_dir and os.path.isdir(data_dir):
            st = os.statvfs(data_dir)
            return st.f_blocks * st.f_frsize
        return 10 * 1024 ** 3

    # ------------------------------------------------------------ objects

    def statefulset_object(self, existing=None):
        """The StatefulSet, from the stored one (spec kept) and the live status."""
        names = self.names
        if existing is None:
            existing = {
                "apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": names["statefulset"], "namespace": names["namespace"], "uid": self.sts_uid, "generation": 1,
                             "creationTimestamp": rfc3339(STARTED - 86400 * 3), "labels": dict(names["selector"]),
                             "annotations": {"prometheus-operator-input-hash": short_hash(names, 16)}},
                "spec": {
                    "replicas": len(self.siblings()), "selector": {"matchLabels": dict(names["selector"])},
                    "serviceName": names["governing_service"],
                    "template": self.template(), "podManagementPolicy": "Parallel", "updateStrategy": {"type": "RollingUpdate"},
                    "revisionHistoryLimit": 10, "minReadySeconds": 0,
                    "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                    "volumeClaimTemplates": [{
                        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": {"name": names["volume"] if self.kind == "agent" else "data", "creationTimestamp": None},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": bytes_quantity(self.capacity_bytes())}},
                                 "volumeMode": "Filesystem", "storageClassName": "local-path"},
                        "status": {"phase": "Pending"}}],
                },
            }
            if self.kind == "agent":
                existing["metadata"]["ownerReferences"] = self._cr_owner_references()
            for tmpl in existing["spec"]["volumeClaimTemplates"]:
                tmpl["metadata"].pop("creationTimestamp", None)
        sts = copy.deepcopy(existing)
        update_rev = "%s-%s" % (names["statefulset"], short_hash(sts["spec"]["template"]))
        with self.lock:
            if self.pod_revision is None:
                self.pod_revision = update_rev
        siblings = self.siblings()
        revisions = [w.revision(update_rev) for w in siblings]
        ready = sum(1 for w in siblings if w.pod_ready())
        # the current revision stays the old one until every pod runs the new one
        current_rev = next((r for r in revisions if r != update_rev), update_rev)
        status = {"observedGeneration": sts["metadata"].get("generation", 1), "replicas": len(siblings),
                  "currentReplicas": sum(1 for r in revisions if r == current_rev),
                  "updatedReplicas": sum(1 for r in revisions if r == update_rev), "currentRevision": current_rev, "updateRevision": update_rev,
                  "collisionCount": 0}
        if ready:
            status["readyReplicas"] = ready
            status["availableReplicas"] = ready
        sts["status"] = status
        return sts

    def daemonset_object(self, existing=None):
        """The DaemonSet (DaemonSet mode), from the stored one (spec kept) and its pods' status."""
        names = self.names
        if existing is None:
            existing = {
                "apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": {"name": names["statefulset"], "namespace": names["namespace"], "uid": self.sts_uid, "generation": 1,
                             "creationTimestamp": rfc3339(STARTED - 86400 * 3), "labels": dict(names["selector"]),
                             "annotations": {"deprecated.daemonset.template.generation": "1",
                                             "prometheus-operator-input-hash": short_hash(names["statefulset"], 16)},
                             "ownerReferences": self._cr_owner_references()},
                "spec": {"selector": {"matchLabels": dict(names["selector"])}, "template": self.template(),
                         "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                         "revisionHistoryLimit": 10, "minReadySeconds": 0},
            }
        ds = copy.deepcopy(existing)
        update_rev = short_hash(ds["spec"]["template"], 10)
        with self.lock:
            if self.pod_revision is None:
                self.pod_revision = update_rev
        siblings = self.siblings()
        scheduled = [w for w in siblings if _attr(w.proc, "pod_exists", True)]
        ready = sum(1 for w in siblings if w.pod_ready())
        status = {"currentNumberScheduled": len(scheduled), "desiredNumberScheduled": len(siblings), "numberMisscheduled": 0,
                  "numberReady": ready, "observedGeneration": ds["metadata"].get("generation", 1),
                  "updatedNumberScheduled": sum(1 for w in scheduled if w.revision(update_rev) == update_rev)}
        if ready:
            status["numberAvailable"] = ready
        if len(siblings) - ready:
            status["numberUnavailable"] = len(siblings) - ready
        ds["status"] = status
        return ds

    def controller_object(self, existing=None):
        """The StatefulSet or DaemonSet that owns the pod."""
        if self.controller_kind == "DaemonSet":
            return self.daemonset_object(existing)
        return self.statefulset_object(existing)

    def update_revision(self):
        """The controller's revision for its current template (what an updated pod runs)."""
        stored = self.cluster.store.get(self.controller_resource, self.names["namespace"], self.names["statefulset"])
        if stored is None:
            return None
        obj = self.controller_object(stored)
        if self.controller_kind == "DaemonSet":
            return short_hash(obj["spec"]["template"], 10)
        return obj["status"]["updateRevision"]

    def _cr_owner_references(self):
        names = self.names
        cr = self.cluster.store.get("prometheusagents", names["namespace"], names["cr"])
        return [{"apiVersion": "monitoring.coreos.com/v1alpha1", "kind": "PrometheusAgent", "name": names["cr"],
                 "uid": cr["metadata"]["uid"] if cr else stable_uid(self.cluster.name, "cr"), "controller": True, "blockOwnerDeletion": True}]

    def mark_deleting(self, grace):
        """A deletion of the current pod begins: it shows a deletionTimestamp until it is gone."""
        with self.lock:
            self.deleting = (time.time(), grace, _attr(self.proc, "pod_uid", None))

    def clear_deleting(self):
        """The deletion is over (the pod is gone or its replacement exists)."""
        with self.lock:
            self.deleting = None

    def _process_ready(self):
        proc = self.proc
        if proc is None:
            return False
        if _attr(proc, "state", "running") != "running":
            return False
        return bool(_attr(proc, "is_ready", False))

    def pod_ready(self):
        """True when the pod (as the store shows it) exists and its main container is Ready."""
        with self.lock:
            if self.withheld:
                return False
        return self._process_ready()

    def pod_object(self):
        """The pod as the kubelet reports it (None when there is no pod: no process, or a deleted
        pod whose replacement the StatefulSet has not created yet)."""
        proc = self.proc
        if proc is None or not _attr(proc, "pod_exists", True):
            return None
        names = self.names
        sts = self.cluster.store.get(self.controller_resource, names["namespace"], names["statefulset"])
        uid = _attr(proc, "pod_uid", None) or stable_uid(self.cluster.name, names["pod"])
        created = _attr(proc, "created_at", None) or STARTED
        started = _attr(proc, "started_at", None) or created
        ready = self._process_ready()
        with self.lock:
            revision = self.pod_revision or ""
        template = (sts or {}).get("spec", {}).get("template") or self.template()
        labels = dict(template["metadata"].get("labels") or names["selector"])
        if self.controller_kind == "DaemonSet":
            labels.update({"controller-revision-hash": revision,
                           "pod-template-generation": str(((sts or {}).get("metadata") or {}).get("generation", 1))})
        else:
            labels.update({"controller-revision-hash": revision, "statefulset.kubernetes.io/pod-name": names["pod"],
                           "apps.kubernetes.io/pod-index": str(self.index)})
        meta = {
            "name": names["pod"], "generateName": names["statefulset"] + "-", "namespace": names["namespace"], "uid": uid,
            "creationTimestamp": rfc3339(created), "labels": labels, "annotations": dict(template["metadata"].get("annotations") or {}),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": self.controller_kind, "name": names["statefulset"], "uid": self.sts_uid,
                                 "controller": True, "blockOwnerDeletion": True}],
        }
        terminating = bool(_attr(proc, "terminating", False))
        with self.lock:
            # a deletion marked on this pod (not on the pod that replaced it)
            deleting = self.deleting if self.deleting and self.deleting[2] in (None, uid) else None
            deletion = _attr(proc, "deletion_timestamp", None) or (deleting[0] if deleting else None)
            grace = deleting[1] if deleting else 30
        if terminating or deletion:
            meta["deletionTimestamp"] = rfc3339((deletion or time.time()) + (grace or 0))
            meta["deletionGracePeriodSeconds"] = int(grace or 0)
        spec = copy.deepcopy(template["spec"])
        for volume in spec.get("volumes") or []:
            if volume.get("persistentVolumeClaim") and names.get("pvc") and volume["name"] == names["volume"]:
                # the pod's own claim of the volumeClaimTemplate: <template name>-<pod name>
                volume["persistentVolumeClaim"]["claimName"] = names["pvc"]
        if self.controller_kind == "DaemonSet":
            spec.pop("subdomain", None)
        else:
            spec["hostname"] = names["pod"]
        spec.update({"nodeName": self.node,
                     "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                                     {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]})
        fault_limit = _attr(proc, "memory_limit_fault", None)
        if fault_limit:
            # the high-memory fault: this pod runs with a limit near its usage (no restart)
            for container in spec["containers"]:
                if container["name"] == "prometheus":
                    resources = container.setdefault("resources", {})
                    resources.setdefault("limits", {})["memory"] = bytes_quantity(fault_limit)
        containers = []
        if self.kind == "receiver":
            containers.append(process_container_status(proc, "thanos-receive", RECEIVE_IMAGE, RECEIVE_IMAGE_ID, ready))
        else:
            containers.append(process_container_status(proc, "prometheus", AGENT_IMAGE, AGENT_IMAGE_ID, ready))
            containers.append({"name": "config-reloader", "image": RELOADER_IMAGE, "imageID": RELOADER_IMAGE_ID, "ready": True, "started": True,
                               "restartCount": 0, "state": {"running": {"startedAt": rfc3339(created)}}, "lastState": {},
                               "containerID": container_id(uid, "reloader")})
        state_name = _attr(proc, "state", "running")
        phase = "Running"
        if state_name == "waiting" and not _attr(proc, "last_termination", None) and not _attr(proc, "restart_count", 0):
            phase = "Pending"
        status = {
            "phase": phase, "conditions": pod_conditions(ready, created, started), "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}], "startTime": rfc3339(created), "containerStatuses": containers,
            "qosClass": "Burstable",
        }
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}

    def pvc_object(self):
        """The PersistentVolumeClaim of the pod's data volume."""
        names = self.names
        cap = bytes_quantity(self.capacity_bytes())
        return {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": names["pvc"], "namespace": names["namespace"], "uid": stable_uid(self.cluster.name, names["pvc"]),
                         "creationTimestamp": rfc3339(STARTED - 86400 * 3), "labels": dict(names["selector"]),
                         "annotations": {"pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
                                         "volume.beta.kubernetes.io/storage-provisioner": "rancher.io/local-path",
                                         "volume.kubernetes.io/selected-node": self.node},
                         "finalizers": ["kubernetes.io/pvc-protection"]},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": cap}}, "storageClassName": "local-path",
                     "volumeMode": "Filesystem", "volumeName": "pvc-" + stable_uid(self.cluster.name, names["pvc"], "pv")},
            "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": cap}},
        }

    def refresh(self):
        """Put the live pod, StatefulSet and PVC into the store (no-op when nothing changed).

        A pod that is replaced (same name, new uid) leaves the store first, as a DELETED event of
        its own, and the new pod is stored no sooner than ``POD_RECREATE_DELAY`` after that, as
        the StatefulSet controller of a real cluster does it: a client that saw the old pod and
        then lists or watches the name sees it go (``kubectl delete``'s and ``kubectl wait
        --for=delete``'s wait end on that DELETED event or on the pod's absence), never a new pod
        in the old one's place without its DELETED before.
        """
        store = self.cluster.store
        names = self.names
        with self.refresh_lock:
            current_name = _attr(self.proc, "pod_name", None) if self.controller_kind == "DaemonSet" else None
            if current_name and current_name != names["pod"]:
                # a DaemonSet's new pod has a new name: the old pod leaves the store first
                with store.lock:
                    if store.delete("pods", names["namespace"], names["pod"]) is not None:
                        self.removed_at = time.monotonic()
                    names["pod"] = current_name
            with self.lock:
                first = self.pod_revision is None
            if first:  # the pod's controller-revision-hash: the controller's revision it starts with
                self.controller_object(store.get(self.controller_resource, names["namespace"], names["statefulset"]))
            pod = self.pod_object()  # outside the store's lock: it reads the process (readiness over HTTP)
            with store.lock:
                stored = store.get("pods", names["namespace"], names["pod"])
                now = time.monotonic()
                if stored is not None and (pod is None or stored["metadata"]["uid"] != pod["metadata"]["uid"]):
                    store.delete("pods", names["namespace"], names["pod"])
                    self.removed_at = now
                    stored = None
                withheld = (pod is not None and stored is None and self.removed_at is not None
                            and now - self.removed_at < POD_RECREATE_DELAY)
                with self.lock:
                    self.withheld = withheld
                existing = store.get(self.controller_resource, names["namespace"], names["statefulset"])
                store.put(self.controller_resource, self.controller_object(existing))
                if names.get("pvc") and store.get("persistentvolumeclaims", names["namespace"], names["pvc"]) is None:
                    store.put("persistentvolumeclaims", self.pvc_object())
                if pod is not None and not withheld:
                    stored = store.put("pods", pod)
                    recorder = getattr(self.cluster, "events", None)
                    if recorder is not None:
                        recorder.observe(self, stored)


def namespace_object(name, created):
    """A Namespace."""
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "uid": new_uid(), "creationTimestamp": rfc3339(created), "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def node_object(cluster_name, created, capacity_bytes, node_name=NODE_NAME):
    """A node of the lab (``lab-node-1`` unless the lab has several), Ready."""
    now = rfc3339()
    mem_kib = 0
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            mem_kib = int(handle.readline().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kib = 8 * 1024 * 1024
    cpus = str(os.cpu_count() or 2)
    resources = {"cpu": cpus, "memory": "%dKi" % mem_kib, "pods": "110", "ephemeral-storage": bytes_quantity(capacity_bytes)}
    conds = []
    for ctype, status, reason, message in (
            ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status")):
        conds.append({"type": ctype, "status": status, "lastHeartbeatTime": now, "lastTransitionTime": rfc3339(created), "reason": reason,
                      "message": message})
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node_name, "uid": stable_uid(cluster_name, node_name), "creationTimestamp": rfc3339(created),
                     "labels": {"kubernetes.io/hostname": node_name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                                "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64", "node-role.kubernetes.io/worker": ""}},
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
        "status": {
            "capacity": resources, "allocatable": dict(resources), "conditions": conds,
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": node_name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": short_hash(cluster_name if node_name == NODE_NAME else (cluster_name, node_name), 32),
                         "systemUUID": stable_uid(cluster_name, "system") if node_name == NODE_NAME else stable_uid(cluster_name, node_name, "system"),
                         "bootID": stable_uid(cluster_name, "boot") if node_name == NODE_NAME else stable_uid(cluster_name, node_name, "boot"),
                         "kernelVersion": os.uname().release, "osImage": "Debian GNU/Linux 12 (bookworm)", "containerRuntimeVersion": "containerd://1.7.13",
                         "kubeletVersion": "v1.32.4", "kubeProxyVersion": "v1.32.4", "operatingSystem": "linux", "architecture": "amd64"},
        },
    }
