"""The HTTPS server: many clusters under ``/clusters/<name>`` on one port, the real API paths and JSON.

``serve(supervisor, state)`` starts it in threads of the calling process (the lab daemon) and
returns the ``ApiServer`` (``.base_url``, ``.stop()``). It fills ``state["api"]`` and the
``server``/``token``/``context`` of every ``state["clusters"][name]``, adds the synthetic clusters
to ``state["clusters"]`` and writes ``DIR/kubeconfig``.

The requests are served by ``handler.Handler`` (prefix, auth, API faults, routing) and the
verbs of each resource's ``kinds.Kind``, one module per API group: ``core`` (pods with log,
exec and proxy, nodes, PVCs, namespaces, stored core objects), ``apps`` (StatefulSets),
``coordination`` (Leases), ``custom`` (PrometheusAgent, PrometheusRule), ``metrics``
(metrics.k8s.io and the kubelet's node proxy), and ``watch`` (watch streams).
"""

from __future__ import annotations

import collections
import faulthandler
import logging
import secrets
import signal
import socket
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from .auth import CLIENT_CERT_FAULT, Audit, Credentials
from .handler import SLOW_SECONDS, Handler
from .model import ClusterModel
from .pki import Pki, write_kubeconfig
from .synthetic import SyntheticFleet

LOG = logging.getLogger("labkit.kubeapi")
API_FAULTS = ("api-error", "api-slow", "api-auth", CLIENT_CERT_FAULT)
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
            # what Go's net package does for every TCP connection, so the real kube-apiserver too: no Nagle
            # delay. Without it a response's headers and body leave as two small segments, the second held
            # back until the client's delayed ACK of the first: about 40 ms added to every request.
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
        self.httpd = _TlsServer((host, port), Handler, self.pki.server_context(), self)
        self.port = self.httpd.server_address[1]
        self.base_url = "https://%s:%d" % (host, self.port)
        self.clusters = {}
        self.stopping = threading.Event()
        self.threads = []
        self._by_token = {}
        self.audit = Audit()
        self.credentials = collections.defaultdict(Credentials)   # cluster -> auth.Credentials
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
        state["api"] = {"base_url": self.base_url, "ca_cert": self.pki.ca_cert_path, "port": self.port,
                        "client_cert": self.pki.client_cert_path, "client_key": self.pki.client_key_path,
                        "audit_url": self.base_url + "/labz/audit"}
        clusters = state.setdefault("clusters", {})
        entries = []
        for name, model in self.clusters.items():
            entry = clusters.setdefault(name, {})
            entry.update({"server": self.server_url(name), "token": model.token, "context": name})
            if not model.synthetic:
                creds = self.credentials[name]
                entry.update({"viewer_token": creds.viewer_token, "basic_username": creds.basic_username,
                              "basic_password": creds.basic_password})
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

        Returns details when ``name`` is an API fault (api-error, api-slow, api-auth, api-client-cert),
        None otherwise.
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
