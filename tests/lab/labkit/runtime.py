"""The lab's "kubelet": real processes standing in for the pods of a Kubernetes cluster.

``Supervisor`` owns every real process of one lab (one receiver, one node_exporter, one
Prometheus 2.42 agent per cluster), restarts them like a kubelet, injects faults and heals
them. The simulated Kubernetes API server (``labkit.kubeapi``) runs in the same daemon and
reads and drives these objects; this module is the seam between the two.

Thread safety: every attribute documented below may be read at any time; hold
``Supervisor.lock`` (an ``RLock``) to read several of them consistently. The methods that
change things take the lock themselves and never hold it while they wait for a process, so
a slow graceful stop does not block the API server.

Kubelet behaviour (lab timings, shorter than the real kubelet's so tests stay fast):
- a container that exits is started again; the first time after ``FIRST_RESTART_DELAY``
  (1 s), then, if it keeps dying within ``QUICK_DEATH_SECONDS`` (10 s) of its start, the pod
  shows ``waiting``/``CrashLoopBackOff`` and the delay doubles from ``BACKOFF_BASE`` (2 s) up
  to ``BACKOFF_CAP`` (30 s). The real kubelet uses 10 s doubling up to 300 s and resets after
  10 minutes of running. Set ``FLEETLAB_BACKOFF_BASE`` / ``FLEETLAB_BACKOFF_CAP`` to change.
- ``restart_count`` counts container restarts of the current pod; it is 0 in a new pod.
- ``pod_uid`` changes when the pod is recreated (``delete_pod``, ``restart`` = rollout
  restart), never on a container restart (``kill``, a crash).
- a deleted pod is gone (``pod_exists`` False: the API's DELETED event) as soon as its
  container has stopped; the StatefulSet controller creates the new pod (new uid, container
  started) ``POD_RECREATE_DELAY`` (1 s) later, a step of its own as in a real cluster, where a
  client waiting for the deletion (``kubectl delete``, ``kubectl wait --for=delete``) sees the
  old pod go before the new one exists. ``FLEETLAB_POD_RECREATE_DELAY`` changes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

from labkit import faults
from labkit.common import LabError, parse_quantity

FIRST_RESTART_DELAY = float(os.environ.get("FLEETLAB_FIRST_RESTART_DELAY", "1"))
QUICK_DEATH_SECONDS = float(os.environ.get("FLEETLAB_QUICK_DEATH_SECONDS", "10"))
BACKOFF_BASE = float(os.environ.get("FLEETLAB_BACKOFF_BASE", "2"))
BACKOFF_CAP = float(os.environ.get("FLEETLAB_BACKOFF_CAP", "30"))
POD_RECREATE_DELAY = float(os.environ.get("FLEETLAB_POD_RECREATE_DELAY", "1"))

PORT_RANGE = (20000, 32000)
DEFAULT_VOLUME_SIZE = "256Mi"
AGENT_CONTAINER_PATH = "/prometheus"
CGROUP_ROOT = Path("/sys/fs/cgroup/memory")


def find_binary(name: str, env_var: str, package: str) -> str:
    """Absolute path of a program, or a LabError saying how to install it."""
    path = os.environ.get(env_var) or shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        raise LabError("%s not found on PATH (or set %s): install it with `apt-get install %s`" % (name, env_var, package))
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now, picked below the kernel's ephemeral
    range (32768+) so that no outgoing connection takes it before the lab binds it."""
    for _attempt in range(50):
        port = random.randrange(PORT_RANGE[0], PORT_RANGE[1])
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rfc3339nano(epoch: float) -> str:
    """Epoch seconds -> '2026-11-24T07:30:31.123456789Z' (the CRI log timestamp)."""
    whole = int(epoch)
    nanos = int(round((epoch - whole) * 1e9))
    if nanos >= 1000000000:
        whole, nanos = whole + 1, nanos - 1000000000
    return datetime.fromtimestamp(whole, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % nanos


def http_request(url: str, method: str = "GET", data: bytes | None = None, timeout: float = 2.0):
    """(status, body) of a plain HTTP request; status 0 when nothing answered."""
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def camel_to_snake(name: str) -> str:
    """'maxSamplesPerSend' -> 'max_samples_per_send'."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _snake_keys(obj):
    if isinstance(obj, dict):
        return {camel_to_snake(k): _snake_keys(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_snake_keys(v) for v in obj]
    return obj


DAEMONSET_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the apiserver's generateName alphabet
MODES = ("statefulset", "daemonset")


def node_names(count: int) -> list[str]:
    """The simulated nodes: 'lab-node-1', 'lab-node-2', ..."""
    return ["lab-node-%d" % (i + 1) for i in range(max(1, int(count)))]


def hashmod(value: str, modulus: int) -> int:
    """Prometheus's ``hashmod`` relabel action: the last 8 bytes of the MD5 of the value, as a
    big-endian integer, modulo ``modulus``."""
    return int.from_bytes(hashlib.md5(value.encode()).digest()[8:], "big") % modulus  # nosec - not for security


def shard_relabel_configs(shards: int, shard: int, source: str = "__address__") -> list[dict]:
    """The relabelling prometheus-operator puts on every scrape job of a sharded agent: hash the
    target address into ``__tmp_hash`` (modulus = shards) and keep this shard's targets (a Probe's
    job hashes ``__param_target``, the probed address: its ``__address__`` is the prober)."""
    return [
        {"source_labels": [source], "separator": ";", "regex": "(.*)", "modulus": shards,
         "target_label": "__tmp_hash", "replacement": "$1", "action": "hashmod"},
        {"source_labels": ["__tmp_hash"], "separator": ";", "regex": str(shard), "replacement": "$1", "action": "keep"},
    ]


class PodPlacement:
    """Where one agent pod sits in prometheus-operator's layout: its PrometheusAgent (``cr``),
    its StatefulSet (``prom-agent-<cr>``, ``prom-agent-<cr>-shard-<N>``) or DaemonSet
    (``prom-agent-<cr>``), its shard and replica (ordinal), its node, its names and labels.
    The defaults are the lab's one pod per cluster: shard 0 of 1, replica 0 of 1."""

    # pylint: disable=too-many-instance-attributes,too-many-arguments,too-many-positional-arguments

    def __init__(self, cluster: str, layout: str = "operator", cr: str | None = None, shard: int = 0, shards: int = 1,
                 replica: int = 0, replicas: int = 1, mode: str = "statefulset", node: str = "lab-node-1",
                 first_of_cluster: bool = True):
        self.cluster = cluster
        self.layout = layout
        if layout == "runbook":
            self.cr = cr or "prometheus-agent"
            base = "prometheus-agent-" + self.cr
            self.app = "prometheus"
        else:
            self.cr = cr or cluster
            base = "prom-agent-" + self.cr
            self.app = "prometheus-agent"
        self.shard, self.shards, self.replica, self.replicas = shard, shards, replica, replicas
        self.node = node
        self.first_of_cluster = first_of_cluster
        self.volume_name = base + "-db"
        if mode == "daemonset":
            self.controller_kind = "DaemonSet"
            self.controller_name = base
            digest = hashlib.sha1(("%s/%s/%s" % (cluster, self.cr, node)).encode()).digest()  # nosec - a name
            self.pod_name = base + "-" + "".join(DAEMONSET_NAME_ALPHABET[b % len(DAEMONSET_NAME_ALPHABET)] for b in digest[:5])
            self.key = "%s-%s" % (self.cr, node) if self.cr != cluster else node
        else:
            self.controller_kind = "StatefulSet"
            self.controller_name = base if shard == 0 else "%s-shard-%d" % (base, shard)
            self.pod_name = "%s-%d" % (self.controller_name, replica)
            self.key = self.pod_name

    def labels(self) -> dict:
        """The pod labels prometheus-operator sets."""
        return {"app.kubernetes.io/name": self.app, "app.kubernetes.io/instance": self.cr,
                "app.kubernetes.io/managed-by": "prometheus-operator",
                "operator.prometheus.io/name": self.cr, "operator.prometheus.io/shard": str(self.shard)}

    def new_daemonset_pod_name(self) -> str:
        """A new generated name for a DaemonSet pod (``prom-agent-<cr>-xxxxx``)."""
        return self.controller_name + "-" + "".join(random.choices(DAEMONSET_NAME_ALPHABET, k=5))


def agent_placements(cluster: str, layout: str = "operator", shards: int = 1, replicas: int = 1, mode: str = "statefulset",
                     nodes: int = 1, agents: int = 1) -> list[list[PodPlacement]]:
    """The pods of every PrometheusAgent of ``cluster``: one list per agent (the first agent is
    named after the cluster, the others ``<cluster>-2``, ...). StatefulSet mode: ``shards`` x
    ``replicas`` pods, spread over the nodes in turn; DaemonSet mode: one pod per node."""
    # pylint: disable=too-many-arguments,too-many-positional-arguments
    if mode not in MODES:
        raise ValueError("mode must be one of %s, not %r" % (", ".join(MODES), mode))
    if shards < 1 or replicas < 1 or agents < 1:
        raise ValueError("shards, replicas and agents per cluster must be at least 1")
    if mode == "daemonset" and shards > 1:
        raise ValueError("DaemonSet mode has no shards (prometheus-operator refuses spec.shards with mode DaemonSet)")
    nodes_list = node_names(nodes)
    out = []
    index = 0
    for agent in range(agents):
        if layout == "runbook":
            cr = "prometheus-agent" if agent == 0 else "prometheus-agent-%d" % (agent + 1)
        else:
            cr = cluster if agent == 0 else "%s-%d" % (cluster, agent + 1)
        pods = []
        if mode == "daemonset":
            for node in nodes_list:
                pods.append(PodPlacement(cluster, layout, cr, mode=mode, node=node, replicas=len(nodes_list),
                                         first_of_cluster=index == 0))
                index += 1
        else:
            for shard in range(shards):
                for replica in range(replicas):
                    pods.append(PodPlacement(cluster, layout, cr, shard, shards, replica, replicas, mode,
                                             nodes_list[index % len(nodes_list)], first_of_cluster=index == 0))
                    index += 1
        out.append(pods)
    return out


class ProcessRuntime:
    """One container of one pod: a real process, supervised like the kubelet does.

    Attributes (read-only from outside):
    - ``name``: the process name in the lab ('receiver', 'node-exporter', 'agent-lab-1').
    - ``pid``: pid of the running process, None when not running.
    - ``started_at``: epoch float of the current container start (None before the first).
    - ``created_at``: epoch float of the pod creation (changes with ``pod_uid``).
    - ``pod_uid``: a UUID string; new when the pod is recreated, same on container restarts.
    - ``restart_count``: container restarts in the current pod.
    - ``state``: 'running' | 'waiting' | 'terminated' (the containerStatuses[].state key).
    - ``waiting_reason``: with state 'waiting': 'ContainerCreating' or 'CrashLoopBackOff'.
    - ``last_termination``: None or dict ``exit_code``, ``reason`` ('Error', 'Completed',
      'OOMKilled'), ``signal`` (or None), ``started_at``, ``finished_at`` (epoch floats).
    - ``terminating``: True while the pod is being deleted (stays True with the
      stuck-terminating fault); ``deletion_timestamp`` epoch float or None.
    - ``pod_exists``: False from the end of a deleted pod's termination until its
      replacement is created (``POD_RECREATE_DELAY``): there is no pod then.
    - ``port``, ``url`` ('http://127.0.0.1:PORT'), ``log_path`` (CRI-format log of the current
      container), ``previous_log_path`` (the previous container's, for ``previous=true``).
    """

    http_ready_path = "/-/ready"

    def __init__(self, supervisor: "Supervisor", name: str, port: int, log_path: Path):
        self.supervisor = supervisor
        self.name = name
        self.port = port
        self.url = "http://127.0.0.1:%d" % port
        self.log_path = Path(log_path)
        self.previous_log_path = self.log_path.with_name(self.log_path.stem + ".previous.log")
        self.pid_file = supervisor.workdir / "pids" / ("%s.pid" % name)
        self.pod_uid = str(uuid.uuid4())
        self.created_at = time.time()
        self.started_at = None
        self.restart_count = 0
        self.state = "waiting"
        self.waiting_reason = "ContainerCreating"
        self.last_termination = None
        self.terminating = False
        self.deletion_timestamp = None
        self.stuck_terminating = False
        self.pod_exists = True
        self.extra_args: list[str] = []
        self._proc: subprocess.Popen | None = None
        self._desired = False
        self._stopping = False
        self._next_start = 0.0
        self._quick_deaths = 0
        self._ready_cache = (0.0, False)
        self._op_lock = threading.Lock()
        self._monitor_thread: threading.Thread | None = None

    # ----------------------------------------------------------------- read side
    @property
    def lock(self):
        return self.supervisor.lock

    @property
    def pid(self):
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return None
        return proc.pid

    def is_ready(self) -> bool:
        """HTTP GET ``/-/ready`` answers 200 (cached about 1 s)."""
        now = time.monotonic()
        stamp, value = self._ready_cache
        if now - stamp < 1.0:
            return value
        value = False
        if self.pid is not None:
            status = http_request(self.url + self.http_ready_path, timeout=1.0)[0]
            value = status == 200
        self._ready_cache = (now, value)
        return value

    def cpu_seconds(self) -> float:
        """User+system CPU seconds of the running process (0.0 when not running)."""
        pid = self.pid
        if pid is None:
            return 0.0
        try:
            with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    def rss_bytes(self) -> int:
        """Resident set size of the running process in bytes (0 when not running)."""
        pid = self.pid
        if pid is None:
            return 0
        try:
            with open("/proc/%d/statm" % pid, encoding="ascii") as handle:
                return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            return 0

    def status(self) -> dict:
        """A JSON-able summary (used by ``fleetlab status`` and state.json)."""
        with self.lock:
            return {
                "name": self.name, "pid": self.pid, "port": self.port, "url": self.url,
                "pod_uid": self.pod_uid, "created_at": self.created_at, "started_at": self.started_at,
                "restart_count": self.restart_count, "state": self.state, "waiting_reason": self.waiting_reason,
                "last_termination": self.last_termination, "terminating": self.terminating,
                "ready": self.is_ready(),
            }

    # ---------------------------------------------------------------- subclass hooks
    def build_argv(self) -> list[str]:
        """The command line of the container (subclasses)."""
        raise NotImplementedError

    def _before_start(self):
        """Called (lock held) right before the process is started."""

    def _after_start(self, pid: int):
        """Called (lock held) right after the process started."""

    def _oom_killed(self) -> bool:
        """True when the last exit was a kill by the memory cgroup."""
        return False

    # ---------------------------------------------------------------- lifecycle
    def start(self):
        """First start of the pod's container; from then on the kubelet keeps it running."""
        with self.lock:
            self._desired = True
            self._start_container(restart=False)
        if self._monitor_thread is None:
            self._monitor_thread = threading.Thread(target=self._monitor, name="kubelet-" + self.name, daemon=True)
            self._monitor_thread.start()

    def kill(self):
        """SIGKILL the container: the kubelet restarts it (restart_count + 1, same pod uid)."""
        with self.lock:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)

    def restart(self, grace_seconds: float = 30, wait: bool = True):
        """Rollout restart: graceful stop (SIGTERM, SIGKILL after the grace), new pod (new uid)."""
        self.delete_pod(grace_seconds, wait=wait)

    def delete_pod(self, grace_seconds: float = 30, wait: bool = True):
        """Delete the pod: stop its container (grace 0 = SIGKILL) and let the StatefulSet
        recreate it with a new uid. With the stuck-terminating fault the pod stays
        Terminating (process stopped, no new pod) until healed. ``wait=False`` returns at
        once and does the work in a thread (the API server's DELETE does that)."""
        if not wait:
            threading.Thread(target=self.delete_pod, args=(grace_seconds, True), daemon=True).start()
            return
        with self._op_lock:
            with self.lock:
                self.terminating = True
                self.deletion_timestamp = time.time()
            self._stop_container(grace_seconds)
            with self.lock:
                if self.stuck_terminating:
                    return
            self._replace_pod()

    def stop(self, grace_seconds: float = 10):
        """Stop for good (lab shutdown): no restart."""
        with self._op_lock:
            with self.lock:
                self._desired = False
            self._stop_container(grace_seconds)
            with self.lock:
                self.state = "terminated"

    def restart_container(self, grace_seconds: float = 10, between=None):
        """Stop the container gracefully and start it again in the same pod
        (restart_count + 1); ``between()`` runs while it is stopped (e.g. corrupt the WAL)."""
        with self._op_lock:
            # the kubelet loop must not start the container while it is down on purpose
            # (it would race the start below: two agents on one port)
            self._stop_container(grace_seconds, keep_stopping=True)
            try:
                if between is not None:
                    between()
                with self.lock:
                    self._start_container(restart=True)
            finally:
                with self.lock:
                    self._stopping = False

    def resume(self):
        """Start again after ``stop`` in the same pod (restart_count + 1)."""
        with self._op_lock:
            with self.lock:
                self._desired = True
                if self.pid is None:
                    self._start_container(restart=True)

    def finish_termination(self):
        """End a stuck Terminating pod (heal of stuck-terminating): the StatefulSet then
        creates the new pod (new uid)."""
        with self._op_lock:
            with self.lock:
                self.stuck_terminating = False
                if not self.terminating:
                    return
            self._replace_pod()

    # ---------------------------------------------------------------- internals
    def _replace_pod(self):
        """The terminated pod is removed, then (``POD_RECREATE_DELAY`` later) the StatefulSet
        creates its replacement. Called with ``_op_lock`` held, ``lock`` not held."""
        with self.lock:
            self.pod_exists = False
        time.sleep(POD_RECREATE_DELAY)
        with self.lock:
            self._recreate_pod()

    def _recreate_pod(self):
        self.pod_exists = True
        self.pod_uid = str(uuid.uuid4())
        self.created_at = time.time()
        self.restart_count = 0
        self.last_termination = None
        self.terminating = False
        self.deletion_timestamp = None
        self._quick_deaths = 0
        try:
            self.previous_log_path.unlink()
        except FileNotFoundError:
            pass
        if self._desired:
            self._start_container(restart=False)

    def _start_container(self, restart: bool):
        if self.log_path.exists() and self.log_path.stat().st_size:
            os.replace(self.log_path, self.previous_log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.touch()
        self._before_start()
        argv = self.build_argv()
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True)
        self._proc = proc
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text("%d\n" % proc.pid, encoding="ascii")
        self.started_at = time.time()
        if restart:
            self.restart_count += 1
        self.state = "running"
        self.waiting_reason = None
        self._ready_cache = (0.0, False)
        self._after_start(proc.pid)
        threading.Thread(target=self._pump, args=(proc, self.log_path), name="log-" + self.name, daemon=True).start()

    @staticmethod
    def _pump(proc: subprocess.Popen, log_path: Path):
        with open(log_path, "ab", buffering=0) as out:
            for line in iter(proc.stdout.readline, b""):
                out.write(rfc3339nano(time.time()).encode() + b" stderr F " + line.rstrip(b"\n") + b"\n")
        proc.stdout.close()

    def _record_exit(self, returncode: int):
        now = time.time()
        sig = -returncode if returncode < 0 else None
        code = 128 + sig if sig else returncode
        if self._oom_killed():
            reason = "OOMKilled"
        else:
            reason = "Completed" if code == 0 else "Error"
        self.last_termination = {"exit_code": code, "reason": reason, "signal": sig,
                                 "started_at": self.started_at, "finished_at": now}
        self._proc = None
        self._ready_cache = (0.0, False)
        return now

    def _stop_container(self, grace_seconds: float, keep_stopping: bool = False):
        with self.lock:
            self._stopping = True
            proc = self._proc
        try:
            if proc is not None and proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGKILL if grace_seconds <= 0 else signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    proc.wait(timeout=max(grace_seconds, 0.1))
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
            with self.lock:
                if proc is not None and self._proc is proc:
                    self._record_exit(proc.returncode)
                self.state = "terminated"
        finally:
            if not keep_stopping:
                with self.lock:
                    self._stopping = False

    def _monitor(self):
        while not self.supervisor.stopping.is_set():
            with self.lock:
                if not self._stopping:
                    self._tick()
            time.sleep(0.2)

    def _tick(self):
        proc = self._proc
        if proc is not None and proc.poll() is not None:
            ran = time.time() - (self.started_at or 0)
            now = self._record_exit(proc.returncode)
            if ran < QUICK_DEATH_SECONDS:
                self._quick_deaths += 1
            else:
                self._quick_deaths = 1
            if self._quick_deaths >= 2:
                delay = min(BACKOFF_BASE * 2 ** (self._quick_deaths - 2), BACKOFF_CAP)
                self.state, self.waiting_reason = "waiting", "CrashLoopBackOff"
            else:
                delay = FIRST_RESTART_DELAY
                self.state, self.waiting_reason = "terminated", None
            self._next_start = now + delay
        if self._proc is None and self._desired and not self.terminating and self.pod_exists and time.time() >= self._next_start:
            try:
                self._start_container(restart=True)
            except OSError as exc:
                self.state, self.waiting_reason = "waiting", "CrashLoopBackOff"
                self.last_termination = {"exit_code": 128, "reason": "StartError: %s" % exc, "signal": None,
                                         "started_at": time.time(), "finished_at": time.time()}
                self._next_start = time.time() + BACKOFF_CAP

    def reset_backoff(self):
        """Start a backed-off container now (used when a crashloop fault is healed)."""
        with self.lock:
            self._quick_deaths = 0
            self._next_start = 0.0


class SimpleProcess(ProcessRuntime):
    """A container with a fixed command line (receiver, node_exporter)."""

    def __init__(self, supervisor, name, port, log_path, argv_fn, ready_path="/-/ready"):
        super().__init__(supervisor, name, port, log_path)
        self._argv_fn = argv_fn
        self.http_ready_path = ready_path

    def build_argv(self):
        return self._argv_fn(self) + list(self.extra_args)


class AgentRuntime(ProcessRuntime):
    """The ``prometheus`` container of one cluster's agent pod (Prometheus 2.42, agent mode).

    Attributes:
    - ``cluster``: cluster name ('lab-1').
    - ``data_dir``: host path of the pod's data volume, a tmpfs of ``volume_capacity_bytes``
      mounted at DIR/clusters/<cluster>/data; the agent sees it as ``/prometheus``.
    - ``wal_dir``: ``data_dir / 'wal'`` (the agent's ``/prometheus/wal``).
    - ``volume_capacity_bytes``: size of the tmpfs (the PVC capacity).
    - ``config_path``: the rendered Prometheus config file (JSON, which is YAML).
    - ``spec``: the PrometheusAgent ``spec`` dict (``remoteWrite`` [{url, name, queueConfig,
      writeRelabelConfigs}], ``resources`` {requests, limits}, ``externalLabels``,
      ``scrapeInterval``, ``version``, ``replicas``). Change it with ``apply_spec``.
    - ``memory_limit_bytes``: ``spec.resources.limits.memory`` in bytes (None = no limit);
      enforced by a cgroup v1 memory controller when available (``memory_cgroup``).
    - names as the operator (or the runbook's install) would create them: ``namespace``,
      ``pod_name``, ``statefulset_name`` (the StatefulSet's or DaemonSet's name), ``agent_cr_name``,
      ``pvc_name``, ``pod_labels``; ``controller_kind`` ('StatefulSet' | 'DaemonSet'), ``shard``,
      ``shards``, ``replica`` (the StatefulSet ordinal), ``node_name``, ``placement``
      (``PodPlacement``); ``agent_pods``: every pod of the same PrometheusAgent.
    - the cluster's first pod keeps DIR/clusters/<cluster>/ (data, logs, config) and the process
      name 'agent-<cluster>'; the others are under DIR/clusters/<cluster>/pods/<pod>/.
    """

    def __init__(self, supervisor, cluster: str, port: int, volume_size: str = DEFAULT_VOLUME_SIZE,
                 placement: "PodPlacement | None" = None):
        placement = placement or PodPlacement(cluster, supervisor.layout)
        self.placement = placement
        if placement.first_of_cluster:
            cdir = supervisor.workdir / "clusters" / cluster
            name = "agent-" + cluster
        else:
            cdir = supervisor.workdir / "clusters" / cluster / "pods" / placement.key
            name = "agent-%s-%s" % (cluster, placement.key)
        super().__init__(supervisor, name, port, cdir / "logs" / "prometheus.log")
        self.cluster = cluster
        self.cluster_dir = cdir
        self.data_dir = cdir / "data"
        self.wal_dir = self.data_dir / "wal"
        self.config_path = cdir / "prometheus.yml"
        self.volume_capacity_bytes = parse_quantity(volume_size)
        self.filler_path = self.data_dir / ".fleetlab-disk-full-filler"
        self.namespace = "monitoring"
        self.agent_cr_name = placement.cr
        self.statefulset_name = placement.controller_name
        self.controller_kind = placement.controller_kind
        self.shard = placement.shard
        self.shards = placement.shards
        self.replica = placement.replica
        self.node_name = placement.node
        self.pod_labels = placement.labels()
        self.pod_name = placement.pod_name
        self.pvc_name = "%s-%s" % (placement.volume_name, self.pod_name)
        # every pod of the same PrometheusAgent (itself included; set by the Supervisor)
        self.agent_pods: list = [self]
        self.config_override: str | None = None
        # the jobs of the ServiceMonitors / PodMonitors the PrometheusAgent selects (set by the API's operator)
        self.monitor_jobs: list = []
        self.saved_memory_limit = None
        # the high-memory fault: the limit (bytes) this pod runs with, near its usage; the API
        # shows it on the pod as if the pod had been created with it (None: no fault)
        self.memory_limit_fault: int | None = None
        self.memory_cgroup: Path | None = None
        self._oom_kills_seen = 0
        self.spec = {
            "version": "v2.42.0",
            "replicas": placement.replicas,
            "scrapeInterval": "5s",
            "externalLabels": {"cluster": cluster},
            "remoteWrite": [{"url": supervisor.remote_write_url, "name": "thanos-receive",
                             "queueConfig": {}, "writeRelabelConfigs": []}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
            "storage": {"volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": volume_size}}}}},
        }
        if placement.shards > 1:
            self.spec["shards"] = placement.shards
        if placement.controller_kind == "DaemonSet":
            self.spec["mode"] = "DaemonSet"
            del self.spec["replicas"]

    @property
    def multi_pod(self) -> bool:
        """True when the cluster has more than one agent pod (several pods of a PrometheusAgent,
        DaemonSet mode, several PrometheusAgents): its pods then carry the operator's external
        labels ``prometheus`` (namespace/name of the PrometheusAgent) and ``prometheus_replica``
        (the pod), so that their series do not collide at the receiver."""
        return (len(self.agent_pods) > 1 or self.controller_kind == "DaemonSet"
                or len(self.supervisor.pods.get(self.cluster) or []) > 1)

    def scrape_targets(self) -> list[str]:
        """The ``prometheus-agent`` job's targets: the pod itself; with several pods of a
        StatefulSet agent every pod of the agent (what a PodMonitor on them finds)."""
        if self.multi_pod and self.controller_kind == "StatefulSet":
            return ["127.0.0.1:%d" % pod.port for pod in self.agent_pods]
        return ["127.0.0.1:%d" % self.port]

    def kept_targets(self) -> list[str]:
        """The targets this pod scrapes after the shard's hashmod relabelling."""
        targets = self.scrape_targets() + ["127.0.0.1:%d" % self.supervisor.node_exporter.port]
        if self.shards <= 1:
            return targets
        return [t for t in targets if hashmod(t, self.shards) == self.shard]

    def _recreate_pod(self):
        if self.controller_kind == "DaemonSet":
            # a DaemonSet's new pod has a new generated name
            self.pod_name = self.placement.new_daemonset_pod_name()
            self.pvc_name = "%s-%s" % (self.placement.volume_name, self.pod_name)
            self.write_config()  # its prometheus_replica external label is the pod name
        super()._recreate_pod()

    @property
    def memory_limit_bytes(self):
        limit = ((self.spec.get("resources") or {}).get("limits") or {}).get("memory")
        return parse_quantity(limit) if limit is not None else None

    # -------------------------------------------------------------- config
    def render_config(self) -> dict:
        """The Prometheus configuration for the current spec."""
        spec = self.spec
        interval = spec.get("scrapeInterval") or "5s"
        labels = dict(spec.get("externalLabels") or {})
        labels.setdefault("cluster", self.cluster)
        if self.multi_pod:
            labels["prometheus"] = "%s/%s" % (self.namespace, self.agent_cr_name)
            labels["prometheus_replica"] = self.pod_name
            if self.shards > 1:
                labels["shard"] = str(self.shard)
        remote_write = []
        for item in spec.get("remoteWrite") or []:
            entry = {"url": item["url"]}
            for key, value in item.items():
                if key in ("url",) or value in (None, {}, []):
                    continue
                if key == "queueConfig":
                    entry["queue_config"] = _snake_keys(value)
                elif key == "writeRelabelConfigs":
                    entry["write_relabel_configs"] = _snake_keys(value)
                elif key == "headers":
                    entry["headers"] = value
                else:
                    entry[camel_to_snake(key)] = _snake_keys(value)
            remote_write.append(entry)
        scrape_configs = [
            {"job_name": "prometheus-agent", "static_configs": [{"targets": self.scrape_targets()}]},
            {"job_name": "node", "static_configs": [{"targets": ["127.0.0.1:%d" % self.supervisor.node_exporter.port]}]},
        ]
        scrape_configs += json.loads(json.dumps(self.monitor_jobs))
        if self.shards > 1:
            for job in scrape_configs:
                # after the job's own relabelling (a Probe's or ScrapeConfig's), as the operator appends it
                source = "__param_target" if job["job_name"].startswith("probe/") else "__address__"
                job["relabel_configs"] = list(job.get("relabel_configs") or []) + shard_relabel_configs(self.shards, self.shard, source)
        return {
            "global": {"scrape_interval": interval, "scrape_timeout": "4s", "external_labels": labels},
            "scrape_configs": scrape_configs,
            "remote_write": remote_write,
        }

    def write_config(self):
        """Write the config file (the bad-config fault's text when set)."""
        text = self.config_override if self.config_override is not None else json.dumps(self.render_config(), indent=2)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, self.config_path)

    def set_monitor_jobs(self, jobs: list) -> str:
        """Take the scrape jobs of the monitors the PrometheusAgent selects: re-render and reload
        when they changed. Returns 'unchanged', 'reloaded' or 'reload-failed'."""
        with self.lock:
            if jobs == self.monitor_jobs:
                return "unchanged"
            self.monitor_jobs = json.loads(json.dumps(jobs))
            self.write_config()
        return "reloaded" if self.reload() else "reload-failed"

    def reload(self) -> bool:
        """POST /-/reload; True when Prometheus accepted the config."""
        status = http_request(self.url + "/-/reload", method="POST", data=b"", timeout=10)[0]
        return status == 200

    def apply_spec(self, spec: dict, restart: bool = True) -> str:
        """Take a new PrometheusAgent spec: re-render the config and reload it, or restart
        the pod (rollout, new uid) when ``resources`` changed, like the operator does.
        ``restart=False``: a ``resources`` change only takes the spec (the StatefulSet
        controller replaces the pod later, one pod at a time: 'pending-restart').
        Returns 'unchanged', 'reloaded', 'reload-failed', 'restarted' or 'pending-restart'."""
        with self.lock:
            old = self.spec
            self.spec = json.loads(json.dumps(spec))
            if old == self.spec:
                return "unchanged"
            self.write_config()
            resources_changed = old.get("resources") != self.spec.get("resources")
        if resources_changed:
            if not restart:
                return "pending-restart"
            self.restart(grace_seconds=30, wait=False)
            return "restarted"
        return "reloaded" if self.reload() else "reload-failed"

    # -------------------------------------------------------------- exec
    def exec_argv(self, argv: list[str]) -> list[str]:
        """Wrap ``argv`` so it runs with the pod's filesystem view: its own mount namespace
        where the data volume is at ``/prometheus``, working directory ``/prometheus``.
        Works whether or not the agent is running (the API server decides whether exec
        into a non-running container is allowed)."""
        return ["unshare", "-m", "--propagation", "private", "--", "sh", "-c",
                'mount --bind "$0" %s && cd %s && exec "$@"' % (AGENT_CONTAINER_PATH, AGENT_CONTAINER_PATH),
                str(self.data_dir)] + list(argv)

    def build_argv(self):
        return self.exec_argv([
            self.supervisor.prometheus_bin,
            "--enable-feature=agent",
            "--config.file=%s" % self.config_path,
            "--storage.agent.path=%s" % AGENT_CONTAINER_PATH,
            "--web.listen-address=127.0.0.1:%d" % self.port,
            "--web.enable-lifecycle",
        ] + list(self.extra_args))

    # -------------------------------------------------------------- cgroup
    def _before_start(self):
        if not self.config_path.exists():
            self.write_config()
        self.memory_cgroup = self.supervisor.memory_cgroup_for(self.name)
        self.set_cgroup_limit(self.memory_limit_bytes)

    def set_cgroup_limit(self, limit):
        """Set the memory cgroup's hard limit (None = unlimited)."""
        if self.memory_cgroup is None:
            return
        try:
            (self.memory_cgroup / "memory.limit_in_bytes").write_text(str(limit if limit else -1), encoding="ascii")
        except OSError:
            pass

    def _after_start(self, pid):
        if self.memory_cgroup is not None:
            try:
                (self.memory_cgroup / "cgroup.procs").write_text(str(pid), encoding="ascii")
            except OSError:
                self.memory_cgroup = None
        self._oom_kills_seen = self._oom_kill_count()

    def _oom_kill_count(self) -> int:
        if self.memory_cgroup is None:
            return 0
        try:
            for line in (self.memory_cgroup / "memory.oom_control").read_text(encoding="ascii").splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    def _oom_killed(self):
        count = self._oom_kill_count()
        killed = count > self._oom_kills_seen
        self._oom_kills_seen = count
        return killed

    def memory_usage_bytes(self) -> int:
        """Working set like cAdvisor reports it: the memory cgroup's usage minus its inactive
        file pages (the RSS when there is no cgroup); 0 when not running."""
        if self.pid is None:
            return 0
        if self.memory_cgroup is not None:
            try:
                usage = int((self.memory_cgroup / "memory.usage_in_bytes").read_text(encoding="ascii"))
                stat = dict(line.split() for line in (self.memory_cgroup / "memory.stat").read_text(encoding="ascii").splitlines())
                return max(usage - int(stat.get("total_inactive_file", 0)), 0)
            except (OSError, ValueError):
                pass
        return self.rss_bytes()

    def volume_usage(self) -> dict:
        """statvfs of the data volume: capacity_bytes, used_bytes, available_bytes."""
        try:
            st = os.statvfs(self.data_dir)
        except OSError:
            return {"capacity_bytes": self.volume_capacity_bytes, "used_bytes": 0, "available_bytes": 0}
        cap = st.f_blocks * st.f_frsize
        return {"capacity_bytes": cap, "used_bytes": (st.f_blocks - st.f_bfree) * st.f_frsize,
                "available_bytes": st.f_bavail * st.f_frsize}


def _tail_lines(path: Path, count: int) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[-count:]
    except OSError:
        return []


def cgroup_parent_for(workdir) -> Path:
    """The memory cgroup directory that holds the lab's processes (one per workdir)."""
    return CGROUP_ROOT / ("fleetlab-" + hashlib.sha1(str(Path(workdir).resolve()).encode()).hexdigest()[:12])


class Supervisor:
    """Every real process of one lab, and the faults on them.

    Attributes:
    - ``workdir`` (Path), ``layout`` ('operator' | 'runbook'), ``synthetic_count`` (int).
    - ``clusters``: dict cluster name -> ``AgentRuntime`` of the cluster's first agent pod
      (real clusters only, in order); the only pod unless the lab has shards, replicas,
      DaemonSet mode or several agents per cluster.
    - ``pods``: dict cluster name -> every ``AgentRuntime`` of the cluster (agent by agent, in
      pod order; ``agent_pod(cluster, pod_name)`` finds one); ``all_agents()`` all of them.
    - ``shards``, ``replicas``, ``mode`` ('statefulset' | 'daemonset'), ``nodes`` (node names),
      ``agents_per_cluster``: the layout of every cluster's agents (``agent_placements``).
    - ``receiver``: ``ProcessRuntime`` of the remote-write receiver (Prometheus with
      ``--web.enable-remote-write-receiver``; also the central query API); its
      ``remote_write_url`` is ``receiver.url + '/api/v1/write'``.
    - ``node_exporter``: ``ProcessRuntime`` of the node_exporter every agent scrapes.
    - ``lock``: ``threading.RLock`` guarding all runtime state.
    - ``active_faults``: dict '<fault>/<cluster or ->' -> details of faults in force.
    - ``stopping``: ``threading.Event`` set when the lab shuts down.

    Faults: ``fault(name, cluster)`` / ``heal(name, cluster)`` handle the process faults in
    ``faults.PROCESS_FAULTS`` here; any other name goes to the handlers registered with
    ``register_api_fault_handler`` (the API server registers one for api-error, api-slow,
    api-auth); a name nobody handles raises ValueError, an unknown cluster KeyError.
    """

    def __init__(self, workdir, clusters=3, synthetic: int = 0, layout: str = "operator",
                 volume_size: str = DEFAULT_VOLUME_SIZE, shards: int = 1, replicas: int = 1, mode: str = "statefulset",
                 nodes: int = 1, agents_per_cluster: int = 1):
        # pylint: disable=too-many-arguments,too-many-positional-arguments,too-many-locals
        if layout not in ("operator", "runbook"):
            raise ValueError("layout must be 'operator' or 'runbook', not %r" % (layout,))
        self.workdir = Path(workdir).resolve()
        self.layout = layout
        self.synthetic_count = int(synthetic)
        self.shards, self.replicas, self.mode = int(shards), int(replicas), mode
        self.nodes = node_names(nodes)
        self.agents_per_cluster = int(agents_per_cluster)
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.active_faults: dict[str, dict] = {}
        self.receiver_4xx = False
        self._api_fault_handlers: list = []
        self.prometheus_bin = find_binary("prometheus", "FLEETLAB_PROMETHEUS", "prometheus")
        self.node_exporter_bin = find_binary("prometheus-node-exporter", "FLEETLAB_NODE_EXPORTER", "prometheus-node-exporter")
        names = ["lab-%d" % (i + 1) for i in range(clusters)] if isinstance(clusters, int) else list(clusters)
        placements = {name: agent_placements(name, layout, self.shards, self.replicas, mode, len(self.nodes),
                                             self.agents_per_cluster) for name in names}
        ports = set()
        while len(ports) < 2:
            ports.add(free_port())
        ports = sorted(ports)
        self.receiver_data = self.workdir / "receiver" / "data"
        self.receiver = SimpleProcess(self, "receiver", ports[0], self.workdir / "receiver" / "logs" / "prometheus.log",
                                      self._receiver_argv)
        self.remote_write_url = self.receiver.url + "/api/v1/write"
        self.textfile_dir = self.workdir / "node-exporter" / "textfile"
        self.node_exporter = SimpleProcess(self, "node-exporter", ports[1],
                                           self.workdir / "node-exporter" / "logs" / "node-exporter.log",
                                           self._node_exporter_argv, ready_path="/metrics")
        taken = set(ports)
        # clusters: name -> the first pod of its first agent (what a one-pod lab has);
        # pods: name -> every agent pod of the cluster, agent by agent, in pod order
        self.clusters: dict[str, AgentRuntime] = {}
        self.pods: dict[str, list[AgentRuntime]] = {}
        for name in names:
            self.pods[name] = []
            for agent_pods in placements[name]:
                agent_ports = self._agent_ports(len(agent_pods), agent_pods[0].shards, taken)
                runtimes = [AgentRuntime(self, name, port, volume_size, placement)
                            for placement, port in zip(agent_pods, agent_ports)]
                for runtime in runtimes:
                    runtime.agent_pods = runtimes
                self.pods[name].extend(runtimes)
            self.clusters[name] = self.pods[name][0]
        self.cgroup_parent = cgroup_parent_for(self.workdir)

    def _agent_ports(self, count: int, shards: int, taken: set) -> list[int]:
        """Free ports for the pods of one agent. A sharded agent's pods scrape each other and
        node_exporter, split by the hashmod of the address: the ports are picked so that every
        shard keeps at least one target (a shard with nothing to scrape sends nothing)."""
        for _attempt in range(500):
            ports = []
            while len(ports) < count:
                port = free_port()
                if port not in taken and port not in ports:
                    ports.append(port)
            addresses = ["127.0.0.1:%d" % p for p in ports + [self.node_exporter.port]]
            if shards <= 1 or {hashmod(a, shards) for a in addresses} == set(range(shards)):
                taken.update(ports)
                return ports
        raise LabError("no ports found that give each of the %d shards a scrape target" % shards)

    def all_agents(self) -> list["AgentRuntime"]:
        """Every agent pod of every cluster."""
        return [pod for pods in self.pods.values() for pod in pods]

    def agent_pod(self, cluster: str, pod: str | None = None) -> "AgentRuntime":
        """The agent pod named ``pod`` of ``cluster`` (the first pod when None); KeyError when absent."""
        if cluster not in self.pods:
            raise KeyError("no real cluster %r (clusters: %s)" % (cluster, ", ".join(self.pods)))
        if pod is None:
            return self.clusters[cluster]
        with self.lock:
            for runtime in self.pods[cluster]:
                if runtime.pod_name == pod:
                    return runtime
            raise KeyError("no agent pod %r in cluster %s (pods: %s)" % (pod, cluster, ", ".join(p.pod_name for p in self.pods[cluster])))

    # ------------------------------------------------------------------ argv
    def _receiver_argv(self, proc):
        cfg = self.workdir / "receiver" / "prometheus.yml"
        if not cfg.exists():
            cfg.write_text(json.dumps({"global": {"scrape_interval": "15s"}, "scrape_configs": []}, indent=2) + "\n",
                           encoding="utf-8")
        argv = [self.prometheus_bin, "--config.file=%s" % cfg, "--storage.tsdb.path=%s" % self.receiver_data,
                "--web.listen-address=127.0.0.1:%d" % proc.port, "--web.enable-lifecycle", "--storage.tsdb.retention.time=2d"]
        if not self.receiver_4xx:
            argv.append("--web.enable-remote-write-receiver")
        return argv

    def _node_exporter_argv(self, proc):
        self.textfile_dir.mkdir(parents=True, exist_ok=True)
        return [self.node_exporter_bin, "--web.listen-address=127.0.0.1:%d" % proc.port,
                "--collector.disable-defaults", "--collector.cpu", "--collector.meminfo", "--collector.loadavg",
                "--collector.filesystem", "--collector.time",
                "--collector.textfile", "--collector.textfile.directory=%s" % self.textfile_dir]

    # ------------------------------------------------------------------ lifecycle
    def memory_cgroup_for(self, name: str):
        """A cgroup v1 memory cgroup for process ``name`` (None when not available)."""
        if os.environ.get("FLEETLAB_CGROUP", "1") == "0" or not os.access(CGROUP_ROOT, os.W_OK):
            return None
        path = self.cgroup_parent / name
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        return path

    def _mount_volume(self, agent: AgentRuntime):
        agent.data_dir.mkdir(parents=True, exist_ok=True)
        if os.path.ismount(agent.data_dir):
            return
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0755" % agent.volume_capacity_bytes,
                              "fleetlab-" + agent.cluster, str(agent.data_dir)],
                             capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise LabError("cannot mount the tmpfs data volume of %s at %s: %s (the lab needs root)"
                           % (agent.cluster, agent.data_dir, res.stderr.strip()))

    def start(self):
        """Mount the volumes and start every process (does not wait for readiness)."""
        if os.geteuid() != 0:
            raise LabError("the lab needs root: it mounts a tmpfs per agent and runs each agent in its own mount namespace")
        if shutil.which("unshare") is None:
            raise LabError("unshare not found: install util-linux")
        os.makedirs(AGENT_CONTAINER_PATH, exist_ok=True)
        for sub in ("pids", "receiver/data", "receiver/logs"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        for agent in self.all_agents():
            self._mount_volume(agent)
            (agent.cluster_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.receiver.start()
        self.node_exporter.start()
        for agent in self.all_agents():
            agent.write_config()
            agent.start()

    def not_ready(self) -> list[str]:
        """Names of the processes that are not ready (empty when all are)."""
        procs = [self.receiver, self.node_exporter] + self.all_agents()
        return [proc.name for proc in procs if not proc.is_ready()]

    def clusters_at_receiver(self) -> set:
        """Names of the clusters each of whose agent pods has samples of every target it scrapes
        at the receiver now (a pod of a multi-pod agent by its ``prometheus_replica`` label)."""
        query = urllib.request.quote("count by (cluster, prometheus_replica) (up)")
        status, body = http_request(self.receiver.url + "/api/v1/query?query=" + query, timeout=3)
        if status != 200:
            return set()
        try:
            result = json.loads(body)["data"]["result"]
        except (ValueError, KeyError, TypeError):
            return set()
        counts = {}
        for item in result:
            metric = item.get("metric", {})
            try:
                counts[(metric.get("cluster"), metric.get("prometheus_replica"))] = float(item["value"][1])
            except (ValueError, KeyError, TypeError, IndexError):
                continue
        found = set()
        with self.lock:
            for name, pods in self.pods.items():
                if all(counts.get((name, pod.pod_name if pod.multi_pod else None), 0) >= len(pod.kept_targets()) for pod in pods):
                    found.add(name)
        return found

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait until every process is ready and every cluster has samples at the receiver."""
        deadline = time.time() + timeout
        procs = [self.receiver, self.node_exporter] + self.all_agents()
        while True:
            for proc in procs:
                if proc.restart_count >= 3 and not proc.is_ready():
                    raise LabError("%s keeps dying while the lab starts (exit %s); last lines of %s:\n%s" % (
                        proc.name, (proc.last_termination or {}).get("exit_code"), proc.log_path,
                        "\n".join(_tail_lines(proc.previous_log_path if proc.pid is None else proc.log_path, 15))))
            missing = self.not_ready()
            if not missing:
                missing = sorted(set(self.clusters) - self.clusters_at_receiver())
                if not missing:
                    return
                missing = ["samples of " + name for name in missing]
            if time.time() > deadline:
                raise LabError("lab not ready after %ds: waiting for %s" % (timeout, ", ".join(missing)))
            time.sleep(0.25)

    def stop(self):
        """Stop everything: agents first (SIGKILL when the receiver is gone, or they wait out
        the 1 m flush deadline), then node_exporter and the receiver; unmount the volumes."""
        receiver_up = self.receiver.pid is not None and not self.active_faults.get("receiver-4xx/-")
        threads = []
        for agent in self.all_agents():
            thread = threading.Thread(target=agent.stop, args=(5 if receiver_up else 0,), daemon=True)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join(30)
        self.node_exporter.stop(5)
        self.receiver.stop(10)
        self.stopping.set()
        for agent in self.all_agents():
            subprocess.run(["umount", "-l", str(agent.data_dir)], capture_output=True, check=False)
        self.remove_cgroups()

    def remove_cgroups(self):
        if self.cgroup_parent.is_dir():
            for child in self.cgroup_parent.iterdir():
                if child.is_dir():
                    try:
                        child.rmdir()
                    except OSError:
                        pass
            try:
                self.cgroup_parent.rmdir()
            except OSError:
                pass

    # ------------------------------------------------------------------ faults
    def register_api_fault_handler(self, handler):
        """Register ``handler(action, name, cluster) -> dict | None``: action is 'fault' or
        'heal'; return a dict (details) when the fault is yours, None when it is not."""
        self._api_fault_handlers.append(handler)

    def _dispatch(self, action: str, name: str, cluster, pod=None):
        if cluster is not None and cluster not in self.clusters and not cluster.startswith("syn-"):
            raise KeyError("no cluster %r (clusters: %s)" % (cluster, ", ".join(self.clusters)))
        if pod is not None and (cluster is None or cluster not in self.clusters):
            raise ValueError("--pod needs --cluster (a real cluster)")
        if pod is not None and self.agent_pod(cluster, pod) is self.clusters[cluster]:
            pod = None  # the first pod: the same fault as without --pod
        if name in faults.PROCESS_FAULTS:
            details = getattr(faults, action)(self, name, cluster, pod)
        else:
            if pod is not None:
                raise ValueError("fault %r does not take --pod (the faults of an agent pod: %s)"
                                 % (name, ", ".join(f for f in faults.PROCESS_FAULTS if not f.startswith("receiver-"))))
            details = None
            for handler in self._api_fault_handlers:
                details = handler(action, name, cluster)
                if details is not None:
                    break
            if details is None:
                raise ValueError("unknown fault %r (process faults: %s; API faults need the API server)"
                                 % (name, ", ".join(faults.PROCESS_FAULTS)))
        key = "%s/%s" % (name, cluster or "-") + ("/" + pod if pod else "")
        with self.lock:
            if action == "fault":
                self.active_faults[key] = dict(details, since=time.time())
            else:
                self.active_faults.pop(key, None)
        return details

    def fault(self, name: str, cluster: str | None = None, pod: str | None = None) -> dict:
        """Inject fault ``name`` (into ``cluster`` when it is per cluster; into its agent pod
        ``pod``, by default the first pod); returns details."""
        return self._dispatch("fault", name, cluster, pod)

    def heal(self, name: str, cluster: str | None = None, pod: str | None = None) -> dict:
        """Take fault ``name`` back; returns details."""
        return self._dispatch("heal", name, cluster, pod)

    def status(self) -> dict:
        """JSON-able status of every process and the active faults."""
        with self.lock:
            return {
                "receiver": self.receiver.status(),
                "node_exporter": self.node_exporter.status(),
                "clusters": {name: dict(agent.status(), volume=agent.volume_usage(), rss_bytes=agent.rss_bytes(),
                                        memory_usage_bytes=agent.memory_usage_bytes(),
                                        memory_limit_bytes=agent.memory_limit_bytes)
                             for name, agent in self.clusters.items()},
                "pods": {cluster: {pod.pod_name: dict(pod.status(), pod=pod.pod_name, controller=pod.statefulset_name,
                                                      controller_kind=pod.controller_kind, agent_cr=pod.agent_cr_name,
                                                      shard=pod.shard, replica=pod.replica, node=pod.node_name)
                                   for pod in pods}
                         for cluster, pods in self.pods.items()},
                "active_faults": dict(self.active_faults),
            }
