"""The HTTPS server: many clusters under ``/clusters/<name>`` on one port, the real API paths and JSON.

``serve(supervisor, state)`` starts it in threads of the calling process (the lab daemon) and
returns the ``ApiServer`` (``.base_url``, ``.stop()``). It fills ``state["api"]`` and the
``server``/``token``/``context`` of every ``state["clusters"][name]``, adds the synthetic clusters
to ``state["clusters"]`` and writes ``DIR/kubeconfig``.
"""

from __future__ import annotations

import copy
import faulthandler
import http.client
import json
import logging
import os
import secrets
import signal
import socket
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from . import discovery, tables, wsexec
from .model import ClusterModel
from .pki import Pki, write_kubeconfig
from .synthetic import SyntheticFleet
from .util import ApiError, json_patch, match_fields, match_labels, merge_patch, not_found, parse_field_selector, parse_label_selector, rfc3339
from .util import status_obj, strategic_merge_patch, to_epoch
from .store import current_rv

LOG = logging.getLogger("labkit.kubeapi")
API_FAULTS = ("api-error", "api-slow", "api-auth")
SLOW_SECONDS = float(os.environ.get("FLEETLAB_API_SLOW_SECONDS", "30"))
POLL_SECONDS = 0.5


class _TlsServer(ThreadingHTTPServer):
    """A threading HTTP server whose TLS handshake happens in the request's own thread."""

    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address, handler, ssl_context, api):
        self.ssl_context = ssl_context
        self.api = api
        super().__init__(address, handler)

    def finish_request(self, request, client_address):
        try:
            request.settimeout(30)
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ValueError):
            try:
                request.close()
            except OSError:
                pass
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        LOG.debug("connection from %s ended with an error", client_address, exc_info=True)


class ApiServer:
    """The simulated API server of one lab."""

    # pylint: disable=too-many-instance-attributes

    def __init__(self, supervisor, state, port=0, host="127.0.0.1"):
        self.supervisor = supervisor
        self.state = state
        self.workdir = Path(getattr(supervisor, "workdir", None) or state.get("workdir") or ".")
        self.layout = getattr(supervisor, "layout", "operator") or "operator"
        self.pki = Pki(str(self.workdir))
        self.httpd = _TlsServer((host, port), _Handler, self.pki.server_context(), self)
        self.port = self.httpd.server_address[1]
        self.base_url = "https://%s:%d" % (host, self.port)
        self.clusters = {}
        self.stopping = threading.Event()
        self.threads = []
        self._by_token = {}
        for name, runtime in sorted((getattr(supervisor, "clusters", None) or {}).items()):
            token = secrets.token_urlsafe(24)
            self.clusters[name] = ClusterModel(name, token, supervisor, runtime, synthetic=False, layout=self.layout)
        self.synthetic = SyntheticFleet(self, int(getattr(supervisor, "synthetic_count", 0) or 0))
        for name, runtime in self.synthetic.runtimes():
            self.clusters[name] = ClusterModel(name, secrets.token_urlsafe(24), supervisor, runtime, synthetic=True, layout=self.layout)
        self._write_state()
        register = getattr(supervisor, "register_api_fault_handler", None)
        if register is not None:
            register(self.handle_fault)

    # ------------------------------------------------------------ lifecycle

    def start(self):
        """Serve in background threads (``kill -USR2 <daemon pid>`` dumps every thread's stack to DIR/kubeapi-threads.txt)."""
        try:
            self._dump_file = open(self.workdir / "kubeapi-threads.txt", "a", encoding="utf-8")  # pylint: disable=consider-using-with
            faulthandler.register(signal.SIGUSR2, file=self._dump_file, all_threads=True)
        except (OSError, ValueError, AttributeError):
            pass
        for target, name in ((self.httpd.serve_forever, "kubeapi-http"), (self._poll, "kubeapi-poll")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def stop(self):
        """Stop serving (open watch and exec streams end with their threads)."""
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _poll(self):
        while not self.stopping.wait(POLL_SECONDS):
            for model in list(self.clusters.values()):
                if not model.synthetic:
                    model.refresh()

    def cluster_by_token(self, token):
        """The name of the cluster whose bearer token this is (None when none)."""
        if not token:
            return None
        if len(self._by_token) != len(self.clusters):
            self._by_token = {m.token: n for n, m in self.clusters.items()}
        return self._by_token.get(token)

    def server_url(self, name):
        """The server URL of a cluster."""
        return "%s/clusters/%s" % (self.base_url, name)

    def _write_state(self):
        state = self.state
        state["api"] = {"base_url": self.base_url, "ca_cert": self.pki.ca_cert_path, "port": self.port}
        clusters = state.setdefault("clusters", {})
        entries = []
        for name, model in self.clusters.items():
            entry = clusters.setdefault(name, {})
            entry.update({"server": self.server_url(name), "token": model.token, "context": name})
            names = model.names
            entry.setdefault("namespace", names["namespace"])
            entry.setdefault("pod", names["pod"])
            entry.setdefault("statefulset", names["statefulset"])
            entry.setdefault("agent_cr", names["cr"])
            entry.setdefault("agent_selector", names["agent_selector"])
            entry.setdefault("synthetic", model.synthetic)
            if model.synthetic:
                entry.setdefault("data_dir", str(model.runtime.data_dir))
                entry.setdefault("wal_dir", str(model.runtime.wal_dir))
            entries.append((name, self.server_url(name), model.token))
        write_kubeconfig(str(self.workdir / "kubeconfig"), self.pki.ca_data, entries)

    # ------------------------------------------------------------ faults

    def handle_fault(self, action, name, cluster):
        """The API fault handler given to the supervisor (``handler(action, name, cluster)``).

        Returns details when ``name`` is an API fault (api-error, api-slow, api-auth), None otherwise.
        """
        if name not in API_FAULTS:
            return None
        model = self.clusters.get(cluster)
        if model is None:
            raise KeyError("no cluster %r" % cluster)
        if action == "fault":
            model.faults.add(name)
        else:
            model.faults.discard(name)
        return {"cluster": cluster, "server": self.server_url(cluster), "api_faults": sorted(model.faults),
                "slow_seconds": SLOW_SECONDS if name == "api-slow" else None}


def serve(supervisor, state, port=0):
    """Start the API server for ``supervisor``'s clusters; returns the running ``ApiServer``."""
    return ApiServer(supervisor, state, port=port).start()


# ====================================================================== request handling

class _Handler(BaseHTTPRequestHandler):
    """One connection (HTTP/1.1 keep-alive)."""

    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver-lab"
    sys_version = ""

    # pylint: disable=invalid-name,too-many-public-methods

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        LOG.debug("%s %s", self.address_string(), format % args)

    @property
    def api(self):
        """The ApiServer."""
        return self.server.api

    # ------------------------------------------------------------ responses

    def send_json(self, code, obj, headers=None):
        """A JSON response with Content-Length."""
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_bytes(code, body, "application/json", headers)

    def send_bytes(self, code, body, ctype, headers=None):
        """A response with a body."""
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_status(self, status):
        """A Status object as the response."""
        self.send_json(status["code"], status)

    def start_chunked(self, code, ctype, headers=None):
        """Begin a chunked (streamed) response."""
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()

    def write_chunk(self, data):
        """One chunk (empty data ends the response)."""
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_chunked(self):
        """The final empty chunk."""
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # ------------------------------------------------------------ dispatch

    def do_GET(self):
        """GET (and watch, exec upgrades, proxy)."""
        self.dispatch()

    def do_POST(self):
        """POST (create, proxy)."""
        self.dispatch()

    def do_PUT(self):
        """PUT (update)."""
        self.dispatch()

    def do_PATCH(self):
        """PATCH (merge, strategic merge, JSON patch)."""
        self.dispatch()

    def do_DELETE(self):
        """DELETE."""
        self.dispatch()

    def do_HEAD(self):
        """HEAD (proxy)."""
        self.dispatch()

    def read_body(self):
        """The request body (bytes)."""
        if getattr(self, "_body", None) is not None:
            return self._body
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            self._body = data
        else:
            self._body = self.rfile.read(length) if length else b""
        return self._body

    def json_body(self):
        """The request body as JSON (400 when it is not)."""
        try:
            return json.loads(self.read_body() or b"{}")
        except ValueError as exc:
            raise ApiError(400, "the body of the request was in an unknown format: %s" % exc, "BadRequest") from exc

    def dispatch(self):
        """Route one request: /clusters/<name>/... with auth and faults."""
        self._body = None
        self.connection.settimeout(300)
        parsed = urllib.parse.urlsplit(self.path)
        self.query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        parts = [urllib.parse.unquote(p) for p in parsed.path.split("/")]
        try:
            if len(parts) < 3 or parts[1] != "clusters":
                if parsed.path in ("/healthz", "/livez", "/readyz"):
                    self.send_bytes(200, b"ok", "text/plain; charset=utf-8")
                    return
                # no /clusters/<name> prefix (``kubectl get --raw /api/...`` drops it): the token says which cluster
                token = (self.headers.get("Authorization") or "")[len("Bearer "):]
                owner = self.api.cluster_by_token(token)
                if owner is None:
                    self.send_status(status_obj(401, "Unauthorized"))
                    return
                parts = ["", "clusters", owner] + parts[1:]
            model = self.api.clusters.get(parts[2])
            if model is None:
                raise ApiError(404, "the server could not find the requested resource (no cluster %r)" % parts[2], "NotFound")
            self.model = model
            self.read_body()
            faults = model.faults
            if "api-slow" in faults:
                time.sleep(SLOW_SECONDS)
            auth = self.headers.get("Authorization", "")
            if "api-auth" in faults or auth != "Bearer " + model.token:
                self.send_status(status_obj(401, "Unauthorized"))
                return
            if "api-error" in faults:
                self.send_status(status_obj(500, "Internal error occurred: etcdserver: request timed out", "InternalError",
                                            {"causes": [{"message": "etcdserver: request timed out"}]}))
                return
            self.route(model, list(parts[3:]), parsed)
        except ApiError as exc:
            self.send_status(exc.status)
        except (ConnectionError, socket.timeout, ssl.SSLError):
            self.close_connection = True
        except Exception as exc:  # pylint: disable=broad-except
            LOG.exception("request %s %s failed", self.command, self.path)
            try:
                self.send_status(status_obj(500, "Internal error occurred: %s" % exc, "InternalError"))
            except OSError:
                self.close_connection = True

    def route(self, model, parts, parsed):
        """Route below the cluster prefix."""
        # pylint: disable=too-many-return-statements,too-many-branches
        while parts and parts[-1] == "" and len(parts) > 1:
            parts = parts[:-1]
        if not parts or parts == [""]:
            self.send_json(200, {"paths": ["/api", "/api/v1", "/apis", "/version"]})
            return
        host = "127.0.0.1:%d" % self.api.port
        if parts[0] == "version":
            self.send_json(200, discovery.VERSION)
            return
        if parts[0] in ("healthz", "livez", "readyz"):
            self.send_bytes(200, b"ok", "text/plain; charset=utf-8")
            return
        if parts[0] == "api":
            if len(parts) == 1:
                self.send_json(200, discovery.api_versions(host))
                return
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis":
            if len(parts) == 1:
                self.send_json(200, discovery.api_group_list())
                return
            if len(parts) == 2:
                doc = discovery.api_group(parts[1])
                if doc is None:
                    raise ApiError(404, "the server could not find the requested resource", "NotFound")
                self.send_json(200, doc)
                return
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        if not rest:
            doc = discovery.resource_list(group, version)
            if doc is None:
                raise ApiError(404, "the server could not find the requested resource", "NotFound")
            self.send_json(200, doc)
            return
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, resource, name, sub = rest[1], rest[2], (rest[3] if len(rest) > 3 else None), rest[4:]
        else:
            resource, name, sub = rest[0], (rest[1] if len(rest) > 1 else None), rest[2:]
        res = discovery.BY_PATH.get((group, version, resource))
        if res is None:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        if res.namespaced is False and namespace is not None:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        if namespace is not None and model.store.get("namespaces", "", namespace) is None and self.command == "POST" and not sub:
            raise ApiError(404, 'namespaces "%s" not found' % namespace, "NotFound", {"name": namespace, "kind": "namespaces"})
        model.refresh()
        if sub:
            self.subresource(model, res, namespace, name, sub, parsed)
            return
        if name is None:
            if self.command == "GET":
                if self.qbool("watch"):
                    self.watch(model, res, namespace, None)
                else:
                    self.list(model, res, namespace)
            elif self.command == "POST":
                self.create(model, res, namespace)
            elif self.command == "DELETE":
                self.delete_collection(model, res, namespace)
            else:
                raise ApiError(405, "the server does not allow this method on the requested resource", "MethodNotAllowed")
            return
        if self.command == "GET":
            self.get(model, res, namespace, name)
        elif self.command == "PUT":
            self.update(model, res, namespace, name)
        elif self.command == "PATCH":
            self.patch(model, res, namespace, name)
        elif self.command == "DELETE":
            self.delete(model, res, namespace, name)
        else:
            raise ApiError(405, "the server does not allow this method on the requested resource", "MethodNotAllowed")

    # ------------------------------------------------------------ helpers

    def qget(self, key, default=None):
        """A query parameter (the last value)."""
        values = self.query.get(key)
        return values[-1] if values else default

    def qbool(self, key):
        """A boolean query parameter."""
        return str(self.qget(key, "")).lower() in ("1", "true", "yes")

    def qint(self, key):
        """An integer query parameter or None."""
        value = self.qget(key)
        if value in (None, ""):
            return None
        try:
            return int(value)
        except ValueError as exc:
            raise ApiError(400, "invalid value for %s: %s" % (key, value), "BadRequest") from exc

    def wants_table(self):
        """True when the client asked for a Table (kubectl get)."""
        return "as=Table" in (self.headers.get("Accept") or "")

    def _objects(self, model, res, namespace):
        if res.group == "metrics.k8s.io":
            return tables.metrics_objects(model, res, namespace)
        return model.store.list(res.name, namespace)

    def _select(self, items):
        labels = parse_label_selector(self.qget("labelSelector", ""))
        fields = parse_field_selector(self.qget("fieldSelector", ""))
        return [o for o in items if match_labels(labels, o.get("metadata", {}).get("labels")) and match_fields(fields, o)]

    def _decorate(self, res, obj):
        obj.setdefault("apiVersion", res.api_version)
        obj.setdefault("kind", res.kind)
        return obj

    # ------------------------------------------------------------ verbs

    def list(self, model, res, namespace):
        """LIST (JSON or Table)."""
        with model.store.lock:  # the list's resourceVersion must not pass a change the items do not show
            items = self._select(self._objects(model, res, namespace))
            list_rv = str(current_rv())
        limit = self.qint("limit")
        if self.wants_table():
            self.send_json(200, tables.table(res, items, self.qget("includeObject", "Metadata")))
            return
        out_items = []
        for obj in items[:limit] if limit else items:
            if res.builtin:
                obj.pop("apiVersion", None)
                obj.pop("kind", None)
            out_items.append(obj)
        self.send_json(200, {"kind": res.list_kind, "apiVersion": res.api_version, "metadata": {"resourceVersion": list_rv},
                             "items": out_items})

    def _get_obj(self, model, res, namespace, name):
        if res.group == "metrics.k8s.io":
            for obj in tables.metrics_objects(model, res, namespace):
                if obj["metadata"]["name"] == name:
                    return obj
            raise ApiError(404, 'podmetrics.metrics.k8s.io "%s" not found' % name, "NotFound",
                           {"name": name, "group": "metrics.k8s.io", "kind": res.name})
        obj = model.store.get(res.name, namespace or "", name)
        if obj is None:
            raise ApiError(404, not_found(res.name, name, res.group)["message"], "NotFound", {"name": name, "group": res.group, "kind": res.name})
        return self._decorate(res, obj)

    def get(self, model, res, namespace, name):
        """GET one object (JSON or a one-row Table)."""
        obj = self._get_obj(model, res, namespace, name)
        if self.wants_table():
            self.send_json(200, tables.table(res, [obj], self.qget("includeObject", "Metadata")))
            return
        self.send_json(200, obj)

    def create(self, model, res, namespace):
        """POST: create (stored resources only: rules, leases, events, configmaps...)."""
        if res.name in ("pods", "statefulsets", "nodes", "namespaces", "persistentvolumeclaims") or res.group == "metrics.k8s.io":
            raise ApiError(403, '%s is forbidden: the lab does not create %s' % (res.name, res.name), "Forbidden")
        obj = self.json_body()
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + os.urandom(3).hex()[:5]
        if not meta.get("name"):
            raise ApiError(422, "%s.%s is invalid: metadata.name: Required value: name or generateName is required" % (res.kind, res.group), "Invalid")
        if res.namespaced:
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        meta.pop("resourceVersion", None)
        meta.pop("uid", None)
        meta["generation"] = 1
        self._decorate(res, obj)
        if self.qget("dryRun"):
            self.send_json(201, obj)
            return
        stored = model.store.put(res.name, obj, create=True)
        self.send_json(201, stored)

    def update(self, model, res, namespace, name):
        """PUT: replace (optimistic concurrency on metadata.resourceVersion)."""
        obj = self.json_body()
        meta = obj.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != name:
            raise ApiError(400, "the name of the object (%s) does not match the name on the URL (%s)" % (meta["name"], name), "BadRequest")
        meta["name"] = name
        if res.namespaced:
            meta["namespace"] = namespace
        old = model.store.get(res.name, namespace or "", name)
        if old is None:
            if res.name in ("leases", "prometheusrules", "configmaps", "events", "services", "serviceaccounts"):
                meta.pop("resourceVersion", None)
                self.send_json(201, model.store.put(res.name, self._decorate(res, obj), create=True))
                return
            raise ApiError(404, not_found(res.name, name, res.group)["message"], "NotFound")
        self._store_change(model, res, old, self._decorate(res, obj), expect_rv=meta.get("resourceVersion"))

    def _store_change(self, model, res, old, new, expect_rv=None):
        meta = new.setdefault("metadata", {})
        meta["uid"] = old["metadata"]["uid"]
        meta["creationTimestamp"] = old["metadata"].get("creationTimestamp")
        if expect_rv and str(expect_rv) != str(old["metadata"].get("resourceVersion")):
            raise ApiError(409, 'Operation cannot be fulfilled on %s.%s "%s": the object has been modified; please apply your changes '
                           'to the latest version and try again' % (res.name, res.group, meta.get("name")), "Conflict",
                           {"name": meta.get("name"), "group": res.group, "kind": res.name})
        meta["resourceVersion"] = old["metadata"].get("resourceVersion")
        if res.name == "pods" or res.name == "persistentvolumeclaims" or res.name == "nodes":
            # status and spec come from the processes: only metadata labels/annotations are kept
            old_meta = old["metadata"]
            for key in ("labels", "annotations"):
                if key in meta:
                    old_meta[key] = meta[key]
            new = old
        if res.name == "statefulsets":
            if new.get("spec") != old.get("spec"):
                meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
            new["status"] = old.get("status")
        if self.qget("dryRun"):
            self.send_json(200, new)
            return
        if res.name == "prometheusagents":
            stored = model.patch_agent_cr(new)
        else:
            if res.name not in ("statefulsets", "pods", "persistentvolumeclaims", "nodes") and new.get("spec") != old.get("spec"):
                meta["generation"] = int(old["metadata"].get("generation", 1) or 1) + 1
            stored = model.store.put(res.name, new, expect_rv=expect_rv)
        if res.name == "statefulsets":
            model.refresh(force=True)
            stored = model.store.get("statefulsets", meta.get("namespace", ""), meta["name"])
        self.send_json(200, self._decorate(res, stored))

    def patch(self, model, res, namespace, name):
        """PATCH with merge, strategic merge or JSON patch."""
        if res.group == "metrics.k8s.io":
            raise ApiError(405, "the server does not allow this method on the requested resource", "MethodNotAllowed")
        old = model.store.get(res.name, namespace or "", name)
        if old is None:
            raise ApiError(404, not_found(res.name, name, res.group)["message"], "NotFound", {"name": name, "group": res.group, "kind": res.name})
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        body = self.json_body()
        if ctype == "application/json-patch+json":
            new = json_patch(old, body if isinstance(body, list) else [])
        elif ctype == "application/merge-patch+json":
            new = merge_patch(old, body)
        elif ctype == "application/strategic-merge-patch+json":
            if not res.builtin:
                raise ApiError(415, "strategic merge patch is not supported for %s.%s: use --type merge" % (res.name, res.group), "UnsupportedMediaType")
            new = strategic_merge_patch(old, body)
        else:
            raise ApiError(415, "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, "
                           "application/merge-patch+json, application/strategic-merge-patch+json", "UnsupportedMediaType")
        expect = (body.get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
        self._store_change(model, res, old, self._decorate(res, new), expect_rv=expect)

    def delete(self, model, res, namespace, name):
        """DELETE one object (pods: the process stops, the StatefulSet brings a new pod)."""
        if res.group == "metrics.k8s.io" or res.name in ("nodes", "namespaces", "statefulsets", "persistentvolumeclaims"):
            raise ApiError(403, '%s "%s" is forbidden: the lab does not delete %s' % (res.name, name, res.name), "Forbidden")
        old = self._get_obj(model, res, namespace, name)
        if res.name == "pods":
            work = model.workload_for(namespace, name)
            if work is None:
                raise ApiError(404, not_found("pods", name)["message"], "NotFound")
            grace = self.qint("gracePeriodSeconds")
            try:
                opts = json.loads(self.read_body() or b"{}")
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
            self.send_json(200, self._decorate(res, cur))
            return
        gone = model.store.delete(res.name, namespace or "", name)
        if gone is None:
            raise ApiError(404, not_found(res.name, name, res.group)["message"], "NotFound")
        if res.builtin:
            self.send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                 "details": {"name": name, "group": res.group, "kind": res.name, "uid": gone["metadata"]["uid"]}})
        else:
            self.send_json(200, self._decorate(res, gone))

    def delete_collection(self, model, res, namespace):
        """DELETE on a collection of stored resources."""
        if res.name not in ("leases", "prometheusrules", "events", "configmaps"):
            raise ApiError(405, "the server does not allow this method on the requested resource", "MethodNotAllowed")
        items = self._select(model.store.list(res.name, namespace))
        for obj in items:
            model.store.delete(res.name, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        self.send_json(200, {"kind": res.list_kind, "apiVersion": res.api_version, "metadata": {"resourceVersion": str(current_rv())}, "items": items})

    # ------------------------------------------------------------ watch

    def watch(self, model, res, namespace, name):
        """A watch stream: JSON events, one per line, chunked."""
        # pylint: disable=too-many-locals,too-many-branches
        if res.group == "metrics.k8s.io":
            raise ApiError(405, "watch is not supported on metrics", "MethodNotAllowed")
        labels = parse_label_selector(self.qget("labelSelector", ""))
        fields = parse_field_selector(self.qget("fieldSelector", ""))
        if name:
            fields.append(("metadata.name", "=", name))
        timeout = self.qint("timeoutSeconds") or 1800
        bookmarks = self.qbool("allowWatchBookmarks")
        rv_param = self.qget("resourceVersion", "")
        store = model.store

        def matches(obj):
            meta = obj.get("metadata", {})
            if namespace is not None and meta.get("namespace", "") != namespace:
                return False
            return match_labels(labels, meta.get("labels")) and match_fields(fields, obj)

        with store.lock:
            since = current_rv()
            initial = []
            if rv_param in ("", "0"):
                initial = [o for o in store.list(res.name, namespace) if matches(o)]
            else:
                since = int(rv_param)
                if since < store.oldest_rv:
                    initial = None
        self.close_connection = True
        self.start_chunked(200, "application/json")
        if initial is None:
            gone = status_obj(410, "too old resource version: %s (%d)" % (rv_param, store.oldest_rv), "Expired")
            self.write_chunk(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
            self.end_chunked()
            return
        as_table = self.wants_table()
        include = self.qget("includeObject", "Metadata")

        def encode(kind, obj):
            body = tables.table(res, [self._decorate(res, obj)], include) if as_table and kind != "BOOKMARK" else self._decorate(res, obj)
            return json.dumps({"type": kind, "object": body}).encode() + b"\n"

        for obj in initial:
            self.write_chunk(encode("ADDED", obj))
        deadline = time.monotonic() + timeout
        last_bookmark = time.monotonic()
        while time.monotonic() < deadline and not self.api.stopping.is_set():
            if not model.synthetic:
                model.refresh()
            events, newest = store.events_since(res.name, since, min(1.0, max(0.0, deadline - time.monotonic())))
            since = max(since, newest)
            for _rv, kind, obj in events:
                if matches(obj):
                    self.write_chunk(encode(kind, obj))
            if bookmarks and time.monotonic() - last_bookmark > 10:
                last_bookmark = time.monotonic()
                mark = {"kind": res.kind, "apiVersion": res.api_version, "metadata": {"resourceVersion": str(since)}}
                self.write_chunk(json.dumps({"type": "BOOKMARK", "object": mark}).encode() + b"\n")
        self.end_chunked()

    # ------------------------------------------------------------ subresources

    def subresource(self, model, res, namespace, name, sub, parsed):
        """pods/log, pods/exec, pods/proxy, nodes/proxy, */status, statefulsets/scale."""
        # pylint: disable=too-many-return-statements
        if res.name == "pods" and sub and sub[0] == "proxy":
            self.proxy(model, namespace, name, sub[1:], parsed)
            return
        if res.name == "nodes" and sub and sub[0] == "proxy":
            self.node_proxy(model, name, sub[1:])
            return
        if res.name == "pods" and sub == ["log"]:
            self.logs(model, namespace, name)
            return
        if res.name == "pods" and sub == ["exec"]:
            self.exec(model, namespace, name)
            return
        if sub == ["status"]:
            if self.command == "GET":
                self.get(model, res, namespace, name)
            elif self.command == "PATCH":
                self.patch(model, res, namespace, name)
            elif self.command == "PUT":
                self.update(model, res, namespace, name)
            else:
                raise ApiError(405, "method not allowed", "MethodNotAllowed")
            return
        if res.name == "statefulsets" and sub == ["scale"] and self.command == "GET":
            sts = self._get_obj(model, res, namespace, name)
            self.send_json(200, {"kind": "Scale", "apiVersion": "autoscaling/v1",
                                 "metadata": {k: sts["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")},
                                 "spec": {"replicas": 1}, "status": {"replicas": 1, "selector": ",".join(
                                     "%s=%s" % kv for kv in sorted(sts["spec"]["selector"]["matchLabels"].items()))}})
            return
        raise ApiError(404, "the server could not find the requested resource", "NotFound")

    def _pod_and_work(self, model, namespace, name):
        pod = model.store.get("pods", namespace, name)
        work = model.workload_for(namespace, name)
        if pod is None or work is None:
            raise ApiError(404, 'pods "%s" not found' % name, "NotFound", {"name": name, "kind": "pods"})
        return pod, work

    def logs(self, model, namespace, name):
        """pods/log: the CRI log of the container, with the kubelet's options."""
        # pylint: disable=too-many-locals,too-many-branches
        pod, work = self._pod_and_work(model, namespace, name)
        containers = [c["name"] for c in pod["spec"]["containers"]]
        container = self.qget("container") or containers[0]
        if container not in containers:
            raise ApiError(400, "container %s is not valid for pod %s" % (container, name), "BadRequest")
        proc = work.proc
        previous = self.qbool("previous")
        if container != containers[0]:
            lines = tables.reloader_log(pod)
        else:
            path = getattr(proc, "previous_log_path" if previous else "log_path", None)
            if previous and (path is None or not os.path.exists(str(path)) or not getattr(proc, "restart_count", 0)):
                raise ApiError(400, 'previous terminated container "%s" in pod "%s" not found' % (container, name), "BadRequest")
            lines = tables.read_cri_log(path)
        since = None
        if self.qget("sinceSeconds"):
            since = time.time() - int(self.qget("sinceSeconds"))
        elif self.qget("sinceTime"):
            since = to_epoch(self.qget("sinceTime"))
        if since is not None:
            lines = [ln for ln in lines if ln[0] >= since]
        tail = self.qint("tailLines")
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        stamps = self.qbool("timestamps")
        out = b"".join(((ln[1] + b" ") if stamps else b"") + ln[2] + b"\n" for ln in lines)
        limit = self.qint("limitBytes")
        if limit:
            out = out[:limit]
        if not self.qbool("follow") or model.synthetic or container != containers[0]:
            self.send_bytes(200, out, "text/plain")
            return
        self.close_connection = True
        self.start_chunked(200, "text/plain")
        self.write_chunk(out)
        path = str(getattr(proc, "log_path", ""))
        offset = os.path.getsize(path) if os.path.exists(path) else 0
        uid = pod["metadata"]["uid"]
        while not self.api.stopping.is_set():
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
                self.write_chunk(chunk)
        self.end_chunked()

    def exec(self, model, namespace, name):
        """pods/exec over WebSocket (v4/v5 channel protocols)."""
        # pylint: disable=too-many-locals
        pod, work = self._pod_and_work(model, namespace, name)
        commands = self.query.get("command") or []
        if not commands:
            raise ApiError(400, "you must specify at least 1 command", "BadRequest")
        containers = [c["name"] for c in pod["spec"]["containers"]]
        container = self.qget("container") or containers[0]
        if container not in containers:
            raise ApiError(400, "container %s is not valid for pod %s" % (container, name), "BadRequest")
        status = next((c for c in pod["status"]["containerStatuses"] if c["name"] == container), {})
        if "running" not in (status.get("state") or {}):
            raise ApiError(400, "unable to upgrade connection: container not found (\"%s\")" % container, "BadRequest")
        if (self.headers.get("Upgrade") or "").lower() != "websocket":
            raise ApiError(400, "Upgrade request required", "BadRequest")
        protocol = wsexec.choose_protocol(self.headers.get("Sec-WebSocket-Protocol"))
        if protocol is None:
            raise ApiError(400, "unable to upgrade connection: no supported subprotocol (want one of %s)" % ", ".join(wsexec.PROTOCOLS), "BadRequest")
        key = self.headers.get("Sec-WebSocket-Key", "")
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", wsexec.accept_key(key))
        self.send_header("Sec-WebSocket-Protocol", protocol)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        self.connection.settimeout(None)
        proc = work.proc
        if model.synthetic:
            proc.ensure_wal()
        if container == containers[0]:
            argv = proc.exec_argv(commands)
        else:
            argv = commands
        ws = wsexec.WebSocket(self.connection, self.rfile)
        wsexec.run_exec(ws, protocol, argv, self.qbool("stdin"), self.qbool("stdout") or not self.query.get("stdout"), self.qbool("stderr"))

    def proxy(self, model, namespace, name_port, rest, parsed):
        """pods/proxy: forward to the agent's real port (or the synthetic agent)."""
        # pylint: disable=too-many-locals
        pieces = name_port.split(":")
        if len(pieces) == 3:
            pieces = pieces[1:]
        name = pieces[0]
        port = pieces[1] if len(pieces) > 1 else ""
        pod, work = self._pod_and_work(model, namespace, name)
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
            code, ctype, body = proc.http(self.command, path, self.query)
            self.send_bytes(code, body, ctype)
            return
        if target is not main_port or getattr(proc, "port", None) is None:
            raise ApiError(503, "error trying to reach service: dial tcp 127.0.0.1:%s: connect: connection refused" % target["containerPort"],
                           "ServiceUnavailable")
        conn = http.client.HTTPConnection("127.0.0.1", int(proc.port), timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "content-type", "content-encoding", "accept-encoding")}
        try:
            conn.request(self.command, path + query, body=self.read_body() or None, headers=headers)
            resp = conn.getresponse()
        except OSError as exc:
            conn.close()
            raise ApiError(503, "error trying to reach service: dial tcp 127.0.0.1:%s: %s" % (target["containerPort"], exc),
                           "ServiceUnavailable") from exc
        try:
            keep = {k: v for k, v in resp.getheaders() if k.lower() in ("content-type", "content-encoding", "date")}
            length = resp.getheader("Content-Length")
            if length is not None:
                self.send_response(resp.status, resp.reason)
                for key, value in keep.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", length)
                self.end_headers()
                remaining = int(length)
                while remaining > 0:
                    data = resp.read(min(remaining, 256 * 1024))
                    if not data:
                        break
                    remaining -= len(data)
                    self.wfile.write(data)
            else:
                self.start_chunked(resp.status, keep.pop("Content-Type", "text/plain"), keep)
                while True:
                    data = resp.read1(256 * 1024) if hasattr(resp, "read1") else resp.read(256 * 1024)
                    if not data:
                        break
                    self.write_chunk(data)
                self.end_chunked()
        finally:
            conn.close()

    def node_proxy(self, model, name, rest):
        """nodes/NAME/proxy/stats/summary and /metrics (kubelet)."""
        node = model.store.get("nodes", "", name)
        if node is None:
            raise ApiError(404, 'nodes "%s" not found' % name, "NotFound", {"name": name, "kind": "nodes"})
        path = "/".join(rest)
        if path in ("stats/summary", "stats/summary/"):
            self.send_json(200, model.node_summary())
        elif path == "metrics":
            self.send_bytes(200, tables.kubelet_metrics(model).encode(), "text/plain; version=0.0.4; charset=utf-8")
        elif path in ("healthz", "pods"):
            if path == "healthz":
                self.send_bytes(200, b"ok", "text/plain")
            else:
                self.send_json(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": copy.deepcopy(model.store.list("pods"))})
        else:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
