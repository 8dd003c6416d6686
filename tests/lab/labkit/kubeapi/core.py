"""The core group (``/api/v1``): pods (delete with grace, log, exec, proxy), nodes, PVCs,
namespaces, and the stored events, configmaps, services and serviceaccounts."""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.parse

from . import metrics, tables, wsexec
from .kinds import Forbidden, Kind
from .util import ApiError, decorate, new_uid, rfc3339, to_epoch

UNSCHEDULABLE = "0/1 nodes are available: the lab's node runs only the lab's own workloads."


class Derived(Kind):
    """Objects built from the processes: a change keeps only metadata labels and annotations."""

    def prepare(self, old, new):
        old_meta = old["metadata"]
        meta = new.get("metadata") or {}
        for key in ("labels", "annotations"):
            if key in meta:
                old_meta[key] = meta[key]
        return old

    def save(self, model, res, old, new, expect_rv):
        return model.store.put(res.name, new, expect_rv=expect_rv)


class ForbiddenDerived(Derived, Forbidden):
    """Built from the processes and neither created nor deleted by clients (nodes, PVCs)."""


class Nodes(ForbiddenDerived):
    """The lab's node; ``nodes/<node>/proxy/...`` is its kubelet."""

    def subresource(self, h, model, res, namespace, name, sub, parsed):  # pylint: disable=too-many-arguments,too-many-positional-arguments
        if sub and sub[0] == "proxy":
            metrics.node_proxy(h, model, name, sub[1:])
            return
        super().subresource(h, model, res, namespace, name, sub, parsed)


def claim_mounts(model, pod):
    """A created pod's mounts of the lab's agents' PersistentVolumeClaims: [(mountPath, host
    directory, read only)] of its first container, or None when it mounts none, mounts one on
    another node than the claim's (a ReadWriteOnce volume is attached to one node), or a claim of
    a synthetic agent (no directory). The lab runs such a pod: its exec sees the agent's volume."""
    spec = pod.get("spec") or {}
    namespace = pod["metadata"].get("namespace")
    claims = {}
    for work in model.workloads():
        if work.kind == "agent" and work.names.get("pvc") and work.names["namespace"] == namespace:
            claims[work.names["pvc"]] = work
    volumes = {}
    for volume in spec.get("volumes") or []:
        claim = volume.get("persistentVolumeClaim") or {}
        work = claims.get(claim.get("claimName"))
        if work is None:
            continue
        data_dir = getattr(work.proc, "data_dir", None)
        if data_dir is None or (spec.get("nodeName") and spec["nodeName"] != work.node):
            return None
        volumes[volume["name"]] = (str(data_dir), bool(claim.get("readOnly")), work.node)
    containers = spec.get("containers") or []
    if not volumes or not containers:
        return None
    mounts = []
    for mount in containers[0].get("volumeMounts") or []:
        found = volumes.get(mount.get("name"))
        if found is None or not os.path.isdir(mount.get("mountPath") or ""):
            continue
        source = os.path.join(found[0], mount["subPath"]) if mount.get("subPath") else found[0]
        mounts.append((mount["mountPath"], source, found[1] or bool(mount.get("readOnly"))))
    if mounts:
        spec.setdefault("nodeName", next(iter(volumes.values()))[2])
    return mounts or None


def mount_argv(mounts, argv):
    """``argv`` in its own mount namespace with each (path, source, read only) bind-mounted (read
    only: remounted ``ro``, so a write fails as on a read-only volume: EROFS), working directory /."""
    script, args = [], []
    for i, (path, source, read_only) in enumerate(mounts):
        src, dst = "$%d" % (2 * i + 1), "$%d" % (2 * i + 2)
        script.append('mount --bind "%s" "%s"' % (src, dst))
        if read_only:
            script.append('mount -o remount,bind,ro "%s"' % dst)
        args += [source, path]
    script.append("shift %d" % len(args))
    script.append('cd / && exec "$@"')
    return ["unshare", "-m", "--propagation", "private", "--", "sh", "-ec", "; ".join(script), "sh"] + args + list(argv)


def running_status(pod):
    """The status of a created pod the lab runs (its containers running and ready)."""
    now = rfc3339()
    uid = pod["metadata"].get("uid") or new_uid()
    statuses = [{"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True, "started": True, "restartCount": 0,
                 "state": {"running": {"startedAt": now}}, "lastState": {},
                 "containerID": "containerd://" + uid.replace("-", "")[:24] + "%02d" % i}
                for i, c in enumerate(pod["spec"].get("containers") or [])]
    return {"phase": "Running", "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}], "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}], "startTime": now, "qosClass": "Burstable", "containerStatuses": statuses,
            "conditions": [{"type": kind, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
                           for kind in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]}


class Pods(Derived):
    """The pods: one per workload, a real process (or a synthetic agent) behind each; and bare pods
    that clients create (``POST``, e.g. a crowded namespace of a test), which no node runs: they
    stay Pending (PodScheduled False, Unschedulable) and a DELETE removes them at once. A bare pod
    that mounts an agent's PersistentVolumeClaim (``claim_mounts``) runs at once: its exec runs the
    command with the agent's volume at the pod's mountPath (read-only when the mount or the claim
    says so), as a debug pod reading a stopped agent's WAL would."""

    def admit(self, model, obj):
        spec = obj.setdefault("spec", {})
        spec.setdefault("containers", [])
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        if claim_mounts(model, obj):
            obj["metadata"].setdefault("uid", new_uid())
            obj["status"] = running_status(obj)
            return obj
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort", "conditions": [
            {"type": "PodScheduled", "status": "False", "lastProbeTime": None, "lastTransitionTime": rfc3339(),
             "reason": "Unschedulable", "message": UNSCHEDULABLE}]}
        recorder = getattr(model, "events", None)
        if recorder is not None:
            obj["metadata"]["uid"] = new_uid()  # the event names the pod's uid (the store keeps a uid it is given)
            recorder.scheduling_failed(obj, UNSCHEDULABLE)
        return obj

    def remove(self, h, model, res, namespace, name, old):  # pylint: disable=too-many-arguments,too-many-positional-arguments
        """DELETE: the process stops, the pod goes, the StatefulSet brings a new pod (new uid); a
        bare pod (no workload: nothing runs it) leaves the store at once."""
        work = model.workload_for(namespace, name)
        if work is None:
            # the API server answers a pod's DELETE with the pod (its storage returns the deleted object)
            gone = model.store.delete(res.name, namespace, name)
            if gone is None:
                raise ApiError(404, 'pods "%s" not found' % name, "NotFound", {"name": name, "kind": "pods"})
            h.send_json(200, decorate(res, gone))
            return
        grace = h.qint("gracePeriodSeconds")
        try:
            opts = json.loads(h.read_body() or b"{}")
        except ValueError:
            opts = {}
        if grace is None and isinstance(opts, dict) and opts.get("gracePeriodSeconds") is not None:
            grace = int(opts["gracePeriodSeconds"])
        precond = (opts.get("preconditions") or {}) if isinstance(opts, dict) else {}
        if precond.get("uid") and precond["uid"] != old["metadata"]["uid"]:
            raise ApiError(409, "Precondition failed: UID in precondition: %s, UID in object meta: %s" % (precond["uid"], old["metadata"]["uid"]),
                           "Conflict")
        if grace is None:
            grace = int(old["spec"].get("terminationGracePeriodSeconds", 30))
        model.delete_pod(work, grace)
        cur = model.store.get("pods", namespace, name) or old
        if cur["metadata"]["uid"] != old["metadata"]["uid"]:
            cur = old
        meta = cur["metadata"]
        meta.setdefault("deletionTimestamp", rfc3339(time.time() + grace))
        meta.setdefault("deletionGracePeriodSeconds", grace)
        h.send_json(200, decorate(res, cur))

    def subresource(self, h, model, res, namespace, name, sub, parsed):  # pylint: disable=too-many-arguments,too-many-positional-arguments
        """pods/proxy, pods/log, pods/exec (and status)."""
        if sub and sub[0] == "proxy":
            pod_proxy(h, model, namespace, name, sub[1:], parsed)
        elif sub == ["log"]:
            pod_logs(h, model, namespace, name)
        elif sub == ["exec"]:
            pod_exec(h, model, namespace, name)
        else:
            super().subresource(h, model, res, namespace, name, sub, parsed)


def _pod_and_work(model, namespace, name):
    pod = model.store.get("pods", namespace, name)
    work = model.workload_for(namespace, name)
    if pod is None or work is None:
        raise ApiError(404, 'pods "%s" not found' % name, "NotFound", {"name": name, "kind": "pods"})
    return pod, work


def pod_logs(h, model, namespace, name):
    """pods/log: the CRI log of the container, with the kubelet's options."""
    # pylint: disable=too-many-locals,too-many-branches,too-many-statements
    pod, work = _pod_and_work(model, namespace, name)
    containers = [c["name"] for c in pod["spec"]["containers"]]
    container = h.qget("container") or containers[0]
    if container not in containers:
        raise ApiError(400, "container %s is not valid for pod %s" % (container, name), "BadRequest")
    proc = work.proc
    previous = h.qbool("previous")
    if container != containers[0]:
        lines = tables.reloader_log(pod)
    else:
        path = getattr(proc, "previous_log_path" if previous else "log_path", None)
        if previous and (path is None or not os.path.exists(str(path)) or not getattr(proc, "restart_count", 0)):
            raise ApiError(400, 'previous terminated container "%s" in pod "%s" not found' % (container, name), "BadRequest")
        lines = tables.read_cri_log(path)
    since = None
    if h.qget("sinceSeconds"):
        since = time.time() - int(h.qget("sinceSeconds"))
    elif h.qget("sinceTime"):
        since = to_epoch(h.qget("sinceTime"))
    if since is not None:
        lines = [ln for ln in lines if ln[0] >= since]
    tail = h.qint("tailLines")
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    stamps = h.qbool("timestamps")
    out = b"".join(((ln[1] + b" ") if stamps else b"") + ln[2] + b"\n" for ln in lines)
    limit = h.qint("limitBytes")
    if limit:
        out = out[:limit]
    if not h.qbool("follow") or model.synthetic or container != containers[0]:
        h.send_bytes(200, out, "text/plain")
        return
    h.close_connection = True
    h.start_chunked(200, "text/plain")
    h.write_chunk(out)
    path = str(getattr(proc, "log_path", ""))
    offset = os.path.getsize(path) if os.path.exists(path) else 0
    uid = pod["metadata"]["uid"]
    while not h.api.stopping.is_set():
        time.sleep(0.5)
        if getattr(proc, "pod_uid", uid) != uid:
            break
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except OSError:
            break
        if not data:
            continue
        complete = data.rfind(b"\n") + 1
        offset += complete
        chunk = b"".join(((ln[1] + b" ") if stamps else b"") + ln[2] + b"\n" for ln in tables.parse_cri(data[:complete]))
        if chunk:
            h.write_chunk(chunk)
    h.end_chunked()


def pod_exec(h, model, namespace, name):
    """pods/exec over WebSocket (v4/v5 channel protocols)."""
    # pylint: disable=too-many-locals
    pod = model.store.get("pods", namespace, name)
    mounts = claim_mounts(model, pod) if pod is not None and model.workload_for(namespace, name) is None else None
    if mounts:
        work = None
    else:
        pod, work = _pod_and_work(model, namespace, name)
    commands = h.query.get("command") or []
    if not commands:
        raise ApiError(400, "you must specify at least 1 command", "BadRequest")
    containers = [c["name"] for c in pod["spec"]["containers"]]
    container = h.qget("container") or containers[0]
    if container not in containers:
        raise ApiError(400, "container %s is not valid for pod %s" % (container, name), "BadRequest")
    status = next((c for c in pod["status"]["containerStatuses"] if c["name"] == container), {})
    if "running" not in (status.get("state") or {}):
        raise ApiError(400, "unable to upgrade connection: container not found (\"%s\")" % container, "BadRequest")
    if (h.headers.get("Upgrade") or "").lower() != "websocket":
        raise ApiError(400, "Upgrade request required", "BadRequest")
    protocol = wsexec.choose_protocol(h.headers.get("Sec-WebSocket-Protocol"))
    if protocol is None:
        raise ApiError(400, "unable to upgrade connection: no supported subprotocol (want one of %s)" % ", ".join(wsexec.PROTOCOLS), "BadRequest")
    key = h.headers.get("Sec-WebSocket-Key", "")
    h.send_response(101, "Switching Protocols")
    h.send_header("Upgrade", "websocket")
    h.send_header("Connection", "Upgrade")
    h.send_header("Sec-WebSocket-Accept", wsexec.accept_key(key))
    h.send_header("Sec-WebSocket-Protocol", protocol)
    h.end_headers()
    h.wfile.flush()
    h.close_connection = True
    h.connection.settimeout(None)
    if work is None:
        argv = mount_argv(mounts, commands)     # a debug pod: the agent's volume at its mountPath
    else:
        proc = work.proc
        if model.synthetic:
            proc.ensure_wal()
        argv = proc.exec_argv(commands) if container == containers[0] else commands
    ws = wsexec.WebSocket(h.connection, h.rfile)
    wsexec.run_exec(ws, protocol, argv, h.qbool("stdin"), h.qbool("stdout") or not h.query.get("stdout"), h.qbool("stderr"))


def pod_proxy(h, model, namespace, name_port, rest, parsed):  # pylint: disable=too-many-arguments,too-many-positional-arguments
    """pods/proxy: forward to the agent's real port (or the synthetic agent)."""
    # pylint: disable=too-many-locals,too-many-branches,too-many-statements
    pieces = name_port.split(":")
    if len(pieces) == 3:
        pieces = pieces[1:]
    name = pieces[0]
    port = pieces[1] if len(pieces) > 1 else ""
    pod, work = _pod_and_work(model, namespace, name)
    known = {str(p["containerPort"]): p for c in pod["spec"]["containers"] for p in c.get("ports", [])}
    known.update({p.get("name"): p for c in pod["spec"]["containers"] for p in c.get("ports", []) if p.get("name")})
    main_port = pod["spec"]["containers"][0]["ports"][0]
    target = known.get(port) if port else main_port
    if target is None:
        raise ApiError(503, 'error trying to reach service: dial tcp 127.0.0.1:%s: connect: connection refused' % port, "ServiceUnavailable")
    path = "/" + "/".join(urllib.parse.quote(p) for p in rest)
    query = ("?" + parsed.query) if parsed.query else ""
    proc = work.proc
    if model.synthetic:
        code, ctype, body = proc.http(h.command, path, h.query)
        h.send_bytes(code, body, ctype)
        return
    if target is not main_port or getattr(proc, "port", None) is None:
        raise ApiError(503, "error trying to reach service: dial tcp 127.0.0.1:%s: connect: connection refused" % target["containerPort"],
                       "ServiceUnavailable")
    conn = http.client.HTTPConnection("127.0.0.1", int(proc.port), timeout=60)
    headers = {k: v for k, v in h.headers.items() if k.lower() in ("accept", "content-type", "content-encoding", "accept-encoding")}
    try:
        conn.request(h.command, path + query, body=h.read_body() or None, headers=headers)
        resp = conn.getresponse()
    except OSError as exc:
        conn.close()
        raise ApiError(503, "error trying to reach service: dial tcp 127.0.0.1:%s: %s" % (target["containerPort"], exc),
                       "ServiceUnavailable") from exc
    try:
        keep = {k: v for k, v in resp.getheaders() if k.lower() in ("content-type", "content-encoding", "date")}
        length = resp.getheader("Content-Length")
        if length is not None:
            h.send_response(resp.status, resp.reason)
            for key, value in keep.items():
                h.send_header(key, value)
            h.send_header("Content-Length", length)
            h.end_headers()
            remaining = int(length)
            while remaining > 0:
                data = resp.read(min(remaining, 256 * 1024))
                if not data:
                    break
                remaining -= len(data)
                h.wfile.write(data)
        else:
            h.start_chunked(resp.status, keep.pop("Content-Type", "text/plain"), keep)
            while True:
                data = resp.read1(256 * 1024) if hasattr(resp, "read1") else resp.read(256 * 1024)
                if not data:
                    break
                h.write_chunk(data)
            h.end_chunked()
    finally:
        conn.close()


KINDS = {
    ("", "pods"): Pods(),
    ("", "nodes"): Nodes(),
    ("", "persistentvolumeclaims"): ForbiddenDerived(),
    ("", "namespaces"): Forbidden(),
    ("", "events"): Kind(create_on_put=True, collection_delete=True),
    ("", "configmaps"): Kind(create_on_put=True, collection_delete=True),
    ("", "services"): Kind(create_on_put=True),
    ("", "serviceaccounts"): Kind(create_on_put=True),
}
