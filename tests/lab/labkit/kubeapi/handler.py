"""The request handler: HTTP plumbing, the cluster prefix, auth, API faults and routing.

``Handler.route`` turns a path into ``(resource, namespace, name, subresource)`` and calls the
verb of the resource's ``Kind`` (``kinds.Kind`` and the API group modules: ``core``, ``apps``,
``coordination``, ``custom``, ``metrics``); the verbs answer through the helpers here
(``send_json``, ``qget``, ...).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import ssl
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

from . import apps, auth, coordination, core, custom, discovery, events, metrics
from .kinds import Kind
from .util import ApiError, match_fields, match_labels, parse_field_selector, parse_label_selector, status_obj

LOG = logging.getLogger("labkit.kubeapi")
SLOW_SECONDS = float(os.environ.get("FLEETLAB_API_SLOW_SECONDS", "30"))

# (group, resource) -> Kind; anything else is stored as clients write it (Kind())
KINDS = {}
for _group in (core, apps, coordination, custom, events, metrics):
    KINDS.update(_group.KINDS)
DEFAULT_KIND = Kind()


def kind_for(res):
    """The ``Kind`` that serves ``res`` (a ``discovery.Resource``)."""
    return KINDS.get((res.group, res.name), DEFAULT_KIND)


class Handler(BaseHTTPRequestHandler):
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

    # ------------------------------------------------------------ request

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

    def select(self, items):
        """The items that match the request's labelSelector and fieldSelector."""
        labels = parse_label_selector(self.qget("labelSelector", ""))
        fields = parse_field_selector(self.qget("fieldSelector", ""))
        return [o for o in items if match_labels(labels, o.get("metadata", {}).get("labels")) and match_fields(fields, o)]

    # ------------------------------------------------------------ dispatch

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
                if parsed.path == "/labz/audit":
                    self.send_json(200, {"items": self.api.audit.entries(self.qget("cluster"))})
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
            identity = None if "api-auth" in faults else auth.authenticate(
                model, self.api.credentials[model.name], self.headers.get("Authorization", ""), self.connection.getpeercert())
            if identity is None:
                self.api.audit.record(model.name, self.command, parsed.path, None, self.client_address, decision="401",
                                      query=parsed.query)
                self.send_status(status_obj(401, "Unauthorized"))
                return
            as_user, as_groups, refused = auth.impersonation(identity, self.headers)
            self.api.audit.record(model.name, self.command, parsed.path, identity, self.client_address, as_user, as_groups,
                                  decision=str(refused["code"]) if refused else "allowed", query=parsed.query)
            if refused:
                self.send_status(refused)
                return
            self.user, self.groups = (as_user, as_groups) if as_user else (identity.user, identity.groups)
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
        """Route below the cluster prefix: discovery, then the verbs of a resource's Kind."""
        # pylint: disable=too-many-return-statements,too-many-branches,too-many-statements
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
        refused = auth.authorize(getattr(self, "user", None), getattr(self, "groups", ()), self.command, res, namespace, name,
                                 self.qbool("watch"))
        if refused:
            raise ApiError(refused["code"], refused["message"], refused["reason"], refused.get("details"))
        model.refresh()
        kind = kind_for(res)
        if sub:
            kind.subresource(self, model, res, namespace, name, sub, parsed)
            return
        if name is None:
            if self.command == "GET":
                if self.qbool("watch"):
                    kind.watch(self, model, res, namespace, None)
                else:
                    kind.list(self, model, res, namespace)
            elif self.command == "POST":
                kind.create(self, model, res, namespace)
            elif self.command == "DELETE":
                kind.delete_collection(self, model, res, namespace)
            else:
                raise ApiError(405, "the server does not allow this method on the requested resource", "MethodNotAllowed")
            return
        if self.command == "GET":
            kind.get(self, model, res, namespace, name)
        elif self.command == "PUT":
            kind.update(self, model, res, namespace, name)
        elif self.command == "PATCH":
            kind.patch(self, model, res, namespace, name)
        elif self.command == "DELETE":
            kind.delete(self, model, res, namespace, name)
        else:
            raise ApiError(405, "the server does not allow this method on the requested resource", "MethodNotAllowed")
