"""Events: what the lab's kubelet, scheduler and StatefulSet controller record, and the two APIs
that serve them (core ``v1`` ``events`` and ``events.k8s.io/v1``).

The events are stored once, as core/v1 Events (resource ``events``), as the API server stores them
once in etcd; ``events.k8s.io/v1`` is a view of the same objects (``to_events_v1``; a write there is
turned back with ``to_core``), with ``regarding``/``note``/``series``/``reportingController`` in
place of ``involvedObject``/``message``/``count``/``source``.

``EventRecorder.observe(work, pod)`` runs on each refresh of an agent pod (``Workload.refresh``)
and records what a kubelet would record for the change it sees since the last refresh:

- a new pod (new uid): ``SuccessfulCreate`` on its StatefulSet (statefulset-controller) or DaemonSet
  (daemonset-controller), ``Scheduled`` (default-scheduler), then ``Pulled``, ``Created``, ``Started``
  for each container;
- a container restart (restartCount grew): ``Pulled``, ``Created``, ``Started`` of ``prometheus``
  again, once per start since the last refresh, also when that start has died again by now (the
  same event, its count grows); an OOM kill before it (last termination ``OOMKilled``):
  ``OOMKilling`` on the node (kernel-monitor, as node-problem-detector records it);
- ``waiting``/``CrashLoopBackOff``: Warning ``BackOff`` "Back-off restarting failed container
  prometheus in pod NAME_NAMESPACE(UID)", once per back-off (its count grows with the restarts);
- a running container that was Ready and has not been for a probe period (its start unchanged):
  Warning ``Unhealthy`` "Readiness probe failed: ...", once per probe period while it stays unready
  (a single slow answer of a busy lab is no event);
- a deletion (deletionTimestamp): ``Killing`` "Stopping container prometheus" for each container.

A pod created by a client (no node runs it) gets Warning ``FailedScheduling`` (``scheduling_failed``).

Aggregation as the kubelet's event correlator does it: an event with the same object, reason,
message, type and source as a stored one increments that one's ``count`` and ``lastTimestamp``
(``series`` in events.k8s.io/v1) instead of adding another.
"""

from __future__ import annotations

import copy
import threading
import time

from . import watch
from .kinds import Kind
from .util import ApiError, json_patch, merge_patch, rfc3339, strategic_merge_patch

SCHEDULER = "default-scheduler"
KUBELET = "kubelet"
KERNEL_MONITOR = "kernel-monitor"
PROBE_PERIOD_SECONDS = 5.0


def involved(obj, field_path=None):
    """The ``involvedObject`` of an event about ``obj`` (a pod or node as stored)."""
    meta = obj["metadata"]
    ref = {"kind": obj.get("kind") or "Pod", "namespace": meta.get("namespace", ""), "name": meta["name"], "uid": meta.get("uid", ""),
           "apiVersion": obj.get("apiVersion") or "v1", "resourceVersion": meta.get("resourceVersion", "")}
    if not ref["namespace"]:
        del ref["namespace"]
    if field_path:
        ref["fieldPath"] = field_path
    return ref


class EventRecorder:
    """Records (and aggregates) the events of one cluster in its store."""

    def __init__(self, store):
        self.store = store
        self.lock = threading.Lock()
        self.seen = {}  # workload id -> what the last refresh showed
        self.sequence = 0
        self.stored = {}  # the aggregation key of an event -> (namespace, name) of the stored one

    def record(self, namespace, ref, event_type, reason, message, component, host=None, now=None):
        """Store an event or count it again on the stored one with the same key. Returns it."""
        now = time.time() if now is None else now
        key_ref = {k: ref.get(k) for k in ("kind", "namespace", "name", "uid", "fieldPath")}
        source = {"component": component}
        if host:
            source["host"] = host
        key = (namespace, tuple(sorted(key_ref.items())), reason, message, event_type, tuple(sorted(source.items())))
        with self.store.lock:
            # the stored event of the same key (one read, not a scan of the namespace's events): unless
            # a client deleted it meanwhile, or replaced it with one of its own
            where = self.stored.get(key)
            old = self.store.get("events", *where) if where else None
            if old is not None:
                old_ref = old.get("involvedObject") or {}
                if ({k: old_ref.get(k) for k in key_ref} == key_ref and old.get("reason") == reason and old.get("message") == message
                        and old.get("type") == event_type and old.get("source") == source):
                    old["count"] = int(old.get("count") or 1) + 1
                    old["lastTimestamp"] = rfc3339(now)
                    return self.store.put("events", old)
            self.sequence += 1  # several events of one moment: names stay unique (the real ones are the nanosecond of each)
            name = "%s.%x" % (ref["name"], int(now * 1e9) + self.sequence)
            event = {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": namespace, "creationTimestamp": rfc3339(now)},
                "involvedObject": copy.deepcopy(ref), "reason": reason, "message": message, "source": source,
                "firstTimestamp": rfc3339(now), "lastTimestamp": rfc3339(now), "count": 1, "type": event_type,
                "eventTime": None, "reportingComponent": component, "reportingInstance": host or "",
            }
            self.stored[key] = (namespace, name)
            return self.store.put("events", event, create=True)

    def scheduling_failed(self, pod, message):
        """A pod no node takes: Warning FailedScheduling (default-scheduler)."""
        self.record(pod["metadata"]["namespace"], involved(pod), "Warning", "FailedScheduling", message, SCHEDULER)

    def observe(self, work, pod):  # pylint: disable=too-many-locals,too-many-branches
        """Record what changed on ``work``'s pod (as built now) since the last refresh."""
        if pod is None:
            return
        meta = pod["metadata"]
        namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
        node = pod["spec"].get("nodeName") or ""
        statuses = {c["name"]: c for c in pod["status"].get("containerStatuses", [])}
        main = statuses.get(pod["spec"]["containers"][0]["name"]) or {}
        main_name = main.get("name", "prometheus")
        state = main.get("state") or {}
        running = state.get("running")
        waiting = state.get("waiting") or {}
        now = time.time()
        current = {"uid": uid, "restarts": int(main.get("restartCount", 0)), "started": (running or {}).get("startedAt"),
                   "ready": bool(main.get("ready")), "backoff": waiting.get("reason") == "CrashLoopBackOff",
                   "deleting": bool(meta.get("deletionTimestamp")), "last_unhealthy": 0.0, "was_ready": False, "unready_since": None}
        with self.lock:
            before = self.seen.get(id(work))
            if before is not None and before["uid"] == uid:
                current["was_ready"] = before["was_ready"] or before["ready"]
                if current["started"] != before["started"]:
                    current["was_ready"] = False
                current["last_unhealthy"] = before["last_unhealthy"]
                if not current["ready"] and current["started"] == before["started"]:
                    current["unready_since"] = before["unready_since"] or now
            self.seen[id(work)] = current
        ref = involved(pod)

        def container_ref(cname):
            return involved(pod, "spec.containers{%s}" % cname)

        def started(cname):
            image = next((c.get("image", "") for c in pod["spec"]["containers"] if c["name"] == cname), "")
            self.record(namespace, container_ref(cname), "Normal", "Pulled",
                        'Container image "%s" already present on machine' % image, KUBELET, node, now)
            self.record(namespace, container_ref(cname), "Normal", "Created", "Created container: %s" % cname, KUBELET, node, now)
            self.record(namespace, container_ref(cname), "Normal", "Started", "Started container %s" % cname, KUBELET, node, now)

        if before is None or before["uid"] != uid:
            owner = next((o for o in meta.get("ownerReferences") or () if o.get("controller")), None)
            if owner is not None:
                owner_ref = {"kind": owner["kind"], "namespace": namespace, "name": owner["name"], "uid": owner["uid"],
                             "apiVersion": owner.get("apiVersion", "apps/v1")}
                if owner["kind"] == "DaemonSet":
                    self.record(namespace, owner_ref, "Normal", "SuccessfulCreate", "Created pod: %s" % name, "daemonset-controller", None, now)
                else:
                    self.record(namespace, owner_ref, "Normal", "SuccessfulCreate", "create Pod %s in StatefulSet %s successful" % (
                        name, owner["name"]), "statefulset-controller", None, now)
            self.record(namespace, ref, "Normal", "Scheduled", "Successfully assigned %s/%s to %s" % (namespace, name, node), SCHEDULER, None, now)
            for cname, status in statuses.items():
                if (status.get("state") or {}).get("running") or status.get("restartCount"):
                    started(cname)
            before = None
        if before is not None:
            last = (main.get("lastState") or {}).get("terminated") or {}
            if current["restarts"] > before["restarts"] or (running and before["started"] is None and current["started"]):
                if last.get("reason") == "OOMKilled" and current["restarts"] > before["restarts"]:
                    self.record("default", {"kind": "Node", "name": node, "uid": node, "apiVersion": "v1"}, "Warning", "OOMKilling",
                                "Memory cgroup out of memory: Killed process (prometheus) total-vm:0kB, anon-rss:0kB, file-rss:0kB "
                                "(container %s of pod %s/%s)" % (main_name, namespace, name),
                                KERNEL_MONITOR, node, now)
                # every start the kubelet made since the last refresh records Started, also when the
                # container already died again (a crash loop seen between two of its short runs)
                for _start in range(max(current["restarts"] - before["restarts"], 1 if running else 0)):
                    started(main_name)
            if current["backoff"] and (not before["backoff"] or current["restarts"] > before["restarts"]):
                self.record(namespace, container_ref(main_name), "Warning", "BackOff",
                            "Back-off restarting failed container %s in pod %s_%s(%s)" % (main_name, name, namespace, uid), KUBELET, node, now)
            if (running and current["was_ready"] and not current["ready"] and not current["deleting"]
                    and now - (current["unready_since"] or now) >= PROBE_PERIOD_SECONDS
                    and now - current["last_unhealthy"] >= PROBE_PERIOD_SECONDS):
                current["last_unhealthy"] = now
                self.record(namespace, container_ref(main_name), "Warning", "Unhealthy",
                            "Readiness probe failed: HTTP probe failed with statuscode: 503", KUBELET, node, now)
            if current["deleting"] and not before["deleting"]:
                for cname in statuses:
                    self.record(namespace, container_ref(cname), "Normal", "Killing", "Stopping container %s" % cname, KUBELET, node, now)


# ---------------------------------------------------------------- events.k8s.io/v1

def _micro(stamp):
    """A MicroTime (``...T18:00:00.000000Z``) of an RFC 3339 time in seconds (as it is when it has a fraction)."""
    if stamp and stamp.endswith("Z") and "." not in stamp:
        return stamp[:-1] + ".000000Z"
    return stamp


def to_events_v1(event):
    """The events.k8s.io/v1 view of a stored core/v1 Event."""
    meta = copy.deepcopy(event["metadata"])
    count = int(event.get("count") or 1)
    first = event.get("firstTimestamp") or meta.get("creationTimestamp")
    out = {
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": meta,
        "eventTime": event.get("eventTime") or _micro(first),
        "reportingController": event.get("reportingComponent") or (event.get("source") or {}).get("component", ""),
        "reportingInstance": event.get("reportingInstance") or (event.get("source") or {}).get("host", ""),
        "action": event.get("action") or event.get("reason", ""), "reason": event.get("reason", ""),
        "regarding": copy.deepcopy(event.get("involvedObject") or {}), "note": event.get("message", ""), "type": event.get("type", ""),
        "deprecatedSource": copy.deepcopy(event.get("source") or {}), "deprecatedFirstTimestamp": first,
        "deprecatedLastTimestamp": event.get("lastTimestamp") or first, "deprecatedCount": count,
    }
    if count > 1:
        last = event.get("lastTimestamp") or first
        out["series"] = {"count": count, "lastObservedTime": _micro(last)}
    if event.get("related"):
        out["related"] = copy.deepcopy(event["related"])
    return out


def to_core(event):
    """The core/v1 Event to store for an events.k8s.io/v1 one a client writes."""
    series = event.get("series") or {}
    first = event.get("deprecatedFirstTimestamp") or event.get("eventTime")
    count = int(series.get("count") or event.get("deprecatedCount") or 1)
    return {
        "apiVersion": "v1", "kind": "Event", "metadata": copy.deepcopy(event.get("metadata") or {}),
        "involvedObject": copy.deepcopy(event.get("regarding") or {}), "reason": event.get("reason", ""), "message": event.get("note", ""),
        "source": copy.deepcopy(event.get("deprecatedSource") or {"component": event.get("reportingController", "")}),
        "firstTimestamp": first, "lastTimestamp": series.get("lastObservedTime") or event.get("deprecatedLastTimestamp") or first,
        "count": count, "type": event.get("type", ""), "eventTime": event.get("eventTime"), "action": event.get("action", ""),
        "reportingComponent": event.get("reportingController", ""), "reportingInstance": event.get("reportingInstance", ""),
    }


class _AnswerInV1:
    """The request handler, answering with the events.k8s.io/v1 form of the core/v1 Events it sends."""

    def __init__(self, h):
        self._h = h

    def __getattr__(self, name):
        return getattr(self._h, name)

    def send_json(self, code, obj, headers=None):
        if isinstance(obj, dict) and obj.get("kind") == "Event" and "involvedObject" in obj:
            obj = to_events_v1(obj)
        self._h.send_json(code, obj, headers)


class EventsV1(Kind):
    """events.k8s.io/v1: the stored core/v1 Events, converted (reads, watch) and converted back
    (writes: create, update and patch work on the v1 form and store the core/v1 one; a PUT of an
    absent event is a 404 here, unlike core/v1)."""

    def __init__(self):
        super().__init__(create_on_put=False, collection_delete=True)

    def create(self, h, model, res, namespace):
        super().create(_AnswerInV1(h), model, res, namespace)

    def update(self, h, model, res, namespace, name):
        super().update(_AnswerInV1(h), model, res, namespace, name)

    def patch(self, h, model, res, namespace, name):
        """PATCH of the v1 form (merge, strategic merge, JSON patch)."""
        stored = model.store.get("events", namespace or "", name)
        if stored is None:
            raise ApiError(404, 'events.events.k8s.io "%s" not found' % name, "NotFound", {"name": name, "group": res.group, "kind": "events"})
        old = to_events_v1(stored)
        ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip()
        body = h.json_body()
        if ctype == "application/json-patch+json":
            new = json_patch(old, body if isinstance(body, list) else [])
        elif ctype == "application/merge-patch+json":
            new = merge_patch(old, body)
        elif ctype == "application/strategic-merge-patch+json":
            new = strategic_merge_patch(old, body)
        else:
            raise ApiError(415, "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, "
                           "application/merge-patch+json, application/strategic-merge-patch+json", "UnsupportedMediaType")
        expect = (body.get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
        self.change(_AnswerInV1(h), model, res, old, new, expect_rv=expect)

    def save(self, model, res, old, new, expect_rv):
        return model.store.put("events", to_core(new), expect_rv=expect_rv)

    def objects(self, h, model, res, namespace):
        return [to_events_v1(e) for e in model.store.list("events", namespace)]

    def find(self, h, model, res, namespace, name):
        super().find(h, model, res, namespace, name)  # the 404
        return to_events_v1(model.store.get("events", namespace or "", name))

    def watch(self, h, model, res, namespace, name):
        watch.stream(h, model, res, namespace, name, convert=to_events_v1)

    def admit(self, model, obj):
        return to_core(obj)


KINDS = {("events.k8s.io", "events"): EventsV1()}
