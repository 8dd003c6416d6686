"""The lab daemon: ``python -m labkit.daemon --workdir DIR --clusters N``.

One process that is the "kubelet" (``labkit.runtime.Supervisor``), the simulated Kubernetes
API server (``labkit.kubeapi.server.serve``, when present) and a small plain-HTTP control
endpoint on 127.0.0.1 (``control_url`` in DIR/state.json):

- ``GET /status``: ``{"state": <state.json>, "status": <Supervisor.status()>}``
- ``POST /fault`` and ``POST /heal`` with JSON ``{"name": ..., "cluster": ..., "pod": ...}`` (``pod``
  optional: the agent pod, by default the cluster's first):
  200 ``{"ok": true, "details": {...}}``, 400/404 ``{"ok": false, "error": "..."}``
- ``POST /stop``: stops everything (agents first, then the receiver) and exits.

It writes DIR/state.json (``ready`` becomes true once every agent is ready and every cluster
has samples at the receiver; ``error`` says why it gave up) and DIR/inventory.yml.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from labkit.render import write_inventory
from labkit.runtime import LabError, Supervisor

READY_TIMEOUT = float(os.environ.get("FLEETLAB_READY_TIMEOUT", "120"))


def log(msg: str):
    sys.stderr.write("%s fleetlab-daemon: %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), msg))
    sys.stderr.flush()


def write_json_atomic(path: Path, data: dict):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class Daemon:
    """The daemon's state and its control server."""

    def __init__(self, args):
        self.workdir = Path(args.workdir).resolve()
        self.shutdown = threading.Event()
        self.sup = Supervisor(self.workdir, clusters=args.clusters, synthetic=args.synthetic, layout=args.layout,
                              volume_size=args.volume_size, shards=args.shards, replicas=args.replicas, mode=args.mode,
                              nodes=args.nodes, agents_per_cluster=args.agents_per_cluster)
        self.api = None
        self.control = None
        self.state_lock = threading.Lock()
        self.state = self._initial_state()

    def _initial_state(self) -> dict:
        sup = self.sup
        clusters = {}
        for name, agent in sup.clusters.items():
            clusters[name] = {
                "server": None, "token": None, "context": name, "namespace": agent.namespace,
                "pod": agent.pod_name, "statefulset": agent.statefulset_name, "agent_cr": agent.agent_cr_name,
                "agent_url": agent.url, "data_dir": str(agent.data_dir), "wal_dir": str(agent.wal_dir),
                "pid": None, "synthetic": False, "log_path": str(agent.log_path), "config_path": str(agent.config_path),
                "pod_labels": dict(agent.pod_labels),
                "agent_selector": "app.kubernetes.io/name=%s" % agent.pod_labels["app.kubernetes.io/name"],
                "pods": [self._pod_state(pod) for pod in sup.pods[name]],
            }
        return {
            "daemon_pid": os.getpid(), "control_url": None, "workdir": str(self.workdir), "layout": sup.layout,
            "synthetic_count": sup.synthetic_count, "api": None, "ready": False, "error": None,
            "shards": sup.shards, "replicas": sup.replicas, "mode": sup.mode, "nodes": list(sup.nodes),
            "agents_per_cluster": sup.agents_per_cluster,
            "started_at": time.time(),
            "receiver": {"url": sup.receiver.url, "remote_write_url": sup.remote_write_url, "pid": None,
                         "data_dir": str(sup.receiver_data)},
            "node_exporter": {"url": sup.node_exporter.url, "pid": None, "textfile_dir": str(sup.textfile_dir)},
            "clusters": clusters,
        }

    @staticmethod
    def _pod_state(pod) -> dict:
        """state.json's entry of one agent pod (``clusters.<name>.pods[]``)."""
        return {"pod": pod.pod_name, "agent_cr": pod.agent_cr_name, "controller": pod.statefulset_name,
                "controller_kind": pod.controller_kind, "shard": pod.shard, "replica": pod.replica, "node": pod.node_name,
                "agent_url": pod.url, "data_dir": str(pod.data_dir), "wal_dir": str(pod.wal_dir), "pid": pod.pid,
                "pod_uid": pod.pod_uid, "log_path": str(pod.log_path), "config_path": str(pod.config_path),
                "pod_labels": dict(pod.pod_labels)}

    def refresh_state(self):
        """Update the pids and write state.json."""
        sup = self.sup
        with self.state_lock:
            self.state["receiver"]["pid"] = sup.receiver.pid
            self.state["node_exporter"]["pid"] = sup.node_exporter.pid
            for name, agent in sup.clusters.items():
                self.state["clusters"][name]["pid"] = agent.pid
                self.state["clusters"][name]["pods"] = [self._pod_state(pod) for pod in sup.pods[name]]
            self.state["active_faults"] = sorted(sup.active_faults)
            write_json_atomic(self.workdir / "state.json", self.state)

    # ------------------------------------------------------------------ control server
    def start_control(self):
        daemon = self

        class Handler(BaseHTTPRequestHandler):
            """Plain-HTTP control endpoint."""

            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                log("control: " + format % args)

            def _send(self, code, body):
                data = json.dumps(body, default=str).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # pylint: disable=invalid-name
                if self.path == "/status":
                    with daemon.state_lock:
                        state = json.loads(json.dumps(daemon.state, default=str))
                    self._send(200, {"state": state, "status": daemon.sup.status()})
                else:
                    self._send(404, {"ok": False, "error": "not found"})

            def do_POST(self):  # pylint: disable=invalid-name
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self._send(400, {"ok": False, "error": "body is not JSON"})
                    return
                if self.path == "/stop":
                    self._send(200, {"ok": True})
                    daemon.shutdown.set()
                    return
                if self.path not in ("/fault", "/heal"):
                    self._send(404, {"ok": False, "error": "not found"})
                    return
                action = self.path[1:]
                try:
                    details = getattr(daemon.sup, action)(body.get("name"), body.get("cluster"), body.get("pod"))
                except KeyError as exc:
                    self._send(404, {"ok": False, "error": str(exc.args[0] if exc.args else exc)})
                    return
                except (ValueError, LabError) as exc:
                    self._send(400, {"ok": False, "error": str(exc)})
                    return
                except Exception as exc:  # pylint: disable=broad-except
                    log(traceback.format_exc())
                    self._send(500, {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)})
                    return
                log("%s %s %s: %s" % (action, body.get("name"), body.get("cluster"), details))
                daemon.refresh_state()
                self._send(200, {"ok": True, "details": details})

        self.control = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.control.daemon_threads = True
        threading.Thread(target=self.control.serve_forever, name="control", daemon=True).start()
        self.state["control_url"] = "http://127.0.0.1:%d" % self.control.server_address[1]

    # ------------------------------------------------------------------ API server
    def start_api(self):
        if os.environ.get("FLEETLAB_NO_API") == "1":
            log("FLEETLAB_NO_API=1: running without the Kubernetes API")
            return
        if importlib.util.find_spec("labkit.kubeapi") is None or importlib.util.find_spec("labkit.kubeapi.server") is None:
            log("labkit.kubeapi.server not found: running without the Kubernetes API")
            return
        from labkit.kubeapi.server import serve  # pylint: disable=import-outside-toplevel
        self.api = serve(self.sup, self.state)
        if isinstance(self.state.get("api"), dict):
            self.state["api"].setdefault("base_url", getattr(self.api, "base_url", None))
        else:
            self.state["api"] = {"base_url": getattr(self.api, "base_url", None)}

    # ------------------------------------------------------------------ main loop
    def wait_ready(self):
        try:
            self.sup.wait_ready(READY_TIMEOUT)
        except LabError as exc:
            log(str(exc))
            self.state["error"] = str(exc)
            self.refresh_state()
            return
        self.state["ready"] = True
        self.state["ready_at"] = time.time()
        log("ready in %.1fs" % (time.time() - self.state["started_at"]))
        self.refresh_state()

    def run(self) -> int:
        (self.workdir / "pids").mkdir(parents=True, exist_ok=True)
        (self.workdir / "pids" / "daemon.pid").write_text("%d\n" % os.getpid(), encoding="ascii")
        rc = 0
        try:
            self.sup.start()
            self.start_control()
            self.start_api()
            write_inventory(self.workdir / "inventory.yml", self.state)
            self.refresh_state()
            log("started: control %s, receiver %s" % (self.state["control_url"], self.sup.receiver.url))
            threading.Thread(target=self.wait_ready, name="ready", daemon=True).start()
            while not self.shutdown.wait(1.0):
                self.refresh_state()
        except Exception as exc:  # pylint: disable=broad-except
            log(traceback.format_exc())
            self.state["error"] = "%s: %s" % (type(exc).__name__, exc)
            rc = 1
        finally:
            self.stop()
        try:
            write_json_atomic(self.workdir / "state.json", dict(self.state, stopped=True, daemon_pid=None))
        except OSError:
            pass
        return rc

    def stop(self):
        log("stopping")
        if self.api is not None:
            try:
                self.api.stop()
            except Exception:  # pylint: disable=broad-except
                log(traceback.format_exc())
        self.sup.stop()
        if self.control is not None:
            self.control.shutdown()
        try:
            (self.workdir / "pids" / "daemon.pid").unlink()
        except FileNotFoundError:
            pass
        log("stopped")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="labkit.daemon")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--clusters", type=int, default=3)
    parser.add_argument("--synthetic", type=int, default=0)
    parser.add_argument("--layout", choices=("operator", "runbook"), default="operator")
    parser.add_argument("--volume-size", default="256Mi")
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--mode", choices=("statefulset", "daemonset"), default="statefulset")
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--agents-per-cluster", type=int, default=1)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        daemon = Daemon(args)
    except LabError as exc:
        log("error: %s" % exc)
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        write_json_atomic(Path(args.workdir) / "state.json", {"error": str(exc), "daemon_pid": None, "ready": False})
        return 1

    def on_signal(signum, frame):  # pylint: disable=unused-argument
        daemon.shutdown.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return daemon.run()


if __name__ == "__main__":
    sys.exit(main())
