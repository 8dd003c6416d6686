"""Helpers of the connection option tests (no tests here): a local CONNECT proxy that counts its
tunnels, the lab API's audit log, and one module task against a lab cluster through the real
``ansible-playbook``."""

from __future__ import annotations

import base64
import select
import socket
import threading
import time

import yaml

from ansible_runner_helpers import run_playbook  # pylint: disable=import-error
from lab_fixtures import api_audit as audit  # pylint: disable=import-error,unused-import


class ConnectProxy:
    """An HTTP proxy on 127.0.0.1 that serves only CONNECT (threads, one per client connection).

    ``credentials`` ("user:password"): a CONNECT without that ``Proxy-Authorization`` gets a 407.
    Records every CONNECT (``connects``: target, its headers by lower-case name, the answer) and the local address of
    every tunnel it opened to a server (``upstream_addresses``: what that server sees as the peer).
    """

    def __init__(self, credentials=None):
        self.credentials = credentials
        self.connects = []
        self.upstream_addresses = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self._stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self._stopping = True
        self._listener.close()

    def tunnels(self):
        """The CONNECTs that got a tunnel."""
        with self._lock:
            return [c for c in self.connects if c["status"] == 200]

    def _accept(self):
        while not self._stopping:
            try:
                client, _addr = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = client.recv(4096)
                if not data:
                    return
                head += data
            lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            method, target = lines[0].split(" ")[:2]
            headers = dict((k.lower(), v) for k, v in (line.split(": ", 1) for line in lines[1:] if ": " in line))
            record = {"method": method, "target": target, "headers": headers, "status": None}
            with self._lock:
                self.connects.append(record)
            if method != "CONNECT":
                record["status"] = 405
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            if self.credentials:
                wanted = "Basic " + base64.b64encode(self.credentials.encode()).decode()
                if headers.get("proxy-authorization") != wanted:
                    record["status"] = 407
                    client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"lab\"\r\n"
                                   b"Content-Length: 0\r\n\r\n")
                    return
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)), timeout=10)
            with self._lock:
                self.upstream_addresses.add(upstream.getsockname()[:2])
            record["status"] = 200
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._pipe(client, upstream)
        except OSError:
            pass
        finally:
            client.close()

    @staticmethod
    def _pipe(client, upstream):
        upstream.settimeout(None)
        try:
            while True:
                ready, _w, _x = select.select([client, upstream], [], [], 120)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        finally:
            upstream.close()


class ClosedPort:
    """A port of 127.0.0.1 that refuses every connection for as long as this object lives: bound
    and never listening, so no other server of the machine (another test's proxy) can take it the
    way it could take the port of a proxy that was stopped."""

    def __init__(self):
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port

    def close(self):
        self._socket.close()


def cluster_args(lab, cluster, **extra):
    """Module options for a lab cluster by its server URL and the lab CA (no credentials)."""
    info = lab.state["clusters"][cluster]
    args = {"host": info["server"], "ca_cert": lab.state["api"]["ca_cert"], "namespace": info["namespace"],
            "pod": info["pod"], "timeout": 15}
    args.update(extra)
    return args


def run_tasks(tasks, env=None):
    """Run ``tasks`` ((name, module, args, environment or None)) on localhost in one play; returns
    (the run, {task name: result})."""
    play = [{"name": "connection options", "hosts": "localhost", "gather_facts": False, "tasks": [
        dict({"name": name, "fleetops.prometheus_agent." + module: args, "ignore_errors": True},
             **({"environment": environment} if environment else {}))
        for name, module, args, environment in tasks]}]
    run = run_playbook(yaml.safe_dump(play, sort_keys=False), env=env, timeout=600,
                       extra_vars={"ansible_python_interpreter": "{{ ansible_playbook_python }}"})
    results = {r["task"]: r["result"] for r in run.results}
    missing = [t[0] for t in tasks if t[0] not in results]
    assert not missing, "tasks without a result: %s\n%s" % (missing, run.output[-3000:])
    return run, results


def started():
    """The time a run starts (the audit's clock is this machine's)."""
    return time.time()
