"""One deadline per module run (issue 17 item 1): against a Kubernetes API server that accepts the
connection and never answers (no TLS handshake), one that completes TLS and never sends a byte, and
one that answers the pod and then goes silent on every other request (pod proxy, logs, exec), each
read-only module returns what it could not read as ``unknown`` within its ``timeout`` plus a small
margin, whatever the
number of requests it makes (urllib3's retry, the exec WebSocket's connect, the pod proxy, logs)."""

from __future__ import annotations

import base64
import http.server
import json
import socket
import ssl
import threading
import time

import pytest
import trustme
import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils import runners
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.http import Deadline
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import target as target_mod
from ansible_collections.fleetops.prometheus_agent.plugins.modules import (
    agent_audit, agent_logs, agent_status, remote_write_stats, wal_inspect)

TIMEOUT = 1.0
MARGIN = 1.5
MODULES = {"agent_status": agent_status, "agent_audit": agent_audit, "remote_write_stats": remote_write_stats,
           "agent_logs": agent_logs, "wal_inspect": wal_inspect}
POD = {"kind": "Pod", "apiVersion": "v1",
       "metadata": {"name": "prom-agent-0", "namespace": "monitoring", "uid": "u1",
                    "labels": {"app.kubernetes.io/name": "prometheus-agent"}, "creationTimestamp": "2026-11-24T06:00:00Z"},
       "spec": {"containers": [{"name": "prometheus"}]},
       "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                  "containerStatuses": [{"name": "prometheus", "ready": True, "restartCount": 0, "state": {"running": {}}}]}}


class Servers:
    """The three servers on 127.0.0.1, each holding what it accepted until ``stop``."""

    def __init__(self):
        self.ca = trustme.CA()
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1").configure_cert(self.tls)
        self.stopping = threading.Event()
        self.held = []
        self.ports = {"silent-tcp": self._listen(handshake=False), "silent-tls": self._listen(handshake=True),
                      "answers-the-pod-only": self._half()}

    def _listen(self, handshake):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        self.held.append(sock)

        def accept():
            while not self.stopping.is_set():
                try:
                    conn, _addr = sock.accept()
                except OSError:
                    return
                if handshake:
                    try:
                        conn = self.tls.wrap_socket(conn, server_side=True)
                    except (OSError, ssl.SSLError):
                        continue
                self.held.append(conn)      # never a byte back
        threading.Thread(target=accept, daemon=True).start()
        return sock.getsockname()[1]

    def _half(self):
        stopping = self.stopping

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802 - http.server's name
                path = self.path.split("?")[0]
                if path == "/api/v1/namespaces/monitoring/pods":
                    self._json({"kind": "PodList", "apiVersion": "v1", "items": [POD]})
                elif path == "/api/v1/namespaces/monitoring/pods/prom-agent-0":
                    self._json(POD)
                else:                       # the pod proxy, logs, exec: silence
                    stopping.wait(60)

            def _json(self, doc):
                body = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        httpd.socket = self.tls.wrap_socket(httpd.socket, server_side=True)
        self.httpd = httpd
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return httpd.server_address[1]

    def kubeconfig(self, path):
        ca = base64.b64encode(self.ca.cert_pem.bytes()).decode()
        doc = {"apiVersion": "v1", "kind": "Config", "current-context": "silent-tcp", "preferences": {},
               "clusters": [], "users": [], "contexts": []}
        for name, port in self.ports.items():
            doc["clusters"].append({"name": name, "cluster": {"server": "https://127.0.0.1:%d" % port,
                                                              "certificate-authority-data": ca}})
            doc["users"].append({"name": name, "user": {"token": "fleetops-unit-token-%s" % name}})
            doc["contexts"].append({"name": name, "context": {"cluster": name, "user": name, "namespace": "monitoring"}})
        path.write_text(yaml.safe_dump(doc))
        return str(path)

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
        for sock in self.held:
            try:
                sock.close()
            except OSError:
                pass


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    found = Servers()
    found.path = found.kubeconfig(tmp_path_factory.mktemp("deadline") / "kubeconfig")
    yield found
    found.stop()
    target_mod.clear_client_cache()


def _run(name, kubeconfig, context, **extra):
    args = dict({"kubeconfig": kubeconfig, "context": context, "timeout": TIMEOUT}, **extra)
    params = ArgumentSpecValidator(MODULES[name].argument_spec()).validate(args).validated_parameters
    started = time.monotonic()
    result = runners.run_module(name, params)
    return result, time.monotonic() - started


CASES = [(name, context, pod) for context in ("silent-tcp", "silent-tls", "answers-the-pod-only")
         for name in MODULES for pod in ((None, "prom-agent-0") if context == "answers-the-pod-only" else (None,))]


@pytest.mark.parametrize("name,context,pod", CASES)
def test_a_silent_api_server_costs_the_timeout_once(servers, name, context, pod):
    extra = {"pod": pod} if pod else {}
    if name == "wal_inspect":
        extra.update(location="pod", verify="tail")
    result, seconds = _run(name, servers.path, context, **extra)
    # with the pod answered, agent_status says what it saw: the pod Ready, the agent not answering
    # (HEALTH critical, the rest unknown); so does agent_audit, whose parts share its one listing of the pods
    assert result["status"] in (("unknown", "critical") if name in ("agent_status", "agent_audit") and context == "answers-the-pod-only"
                                else ("unknown",)), result
    assert seconds <= TIMEOUT + MARGIN, "%s against %s took %.1fs (timeout %s)" % (name, context, seconds, TIMEOUT)
    text = json.dumps(result)
    assert "time" in text.lower(), text[:2000]
    assert "fleetops-unit-token" not in text


def test_the_deadline_is_shared_not_renewed_per_request(servers):
    """A target made with a spent deadline refuses at once (no request waits a timeout of its own)."""
    deadline = Deadline(0.2)
    time.sleep(0.3)
    params = {"kubeconfig": servers.path, "context": "answers-the-pod-only", "timeout": 30, "pod": "prom-agent-0"}
    tgt = runners.target_from_params(params, deadline=deadline)
    started = time.monotonic()
    with pytest.raises(runners.FleetopsError) as info:
        tgt.http_get("/metrics")
    assert time.monotonic() - started < 0.5
    assert "timeout of 0.2s for the whole run is spent" in str(info.value)


def test_a_pause_is_not_the_servers_time():
    clock = [100.0]
    deadline = Deadline(5, clock=lambda: clock[0])
    deadline.pause(30, sleep=lambda seconds: clock.__setitem__(0, clock[0] + seconds))
    assert deadline.remaining() == pytest.approx(5)
