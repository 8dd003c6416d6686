"""Synthetic clusters: pods without a process that answer like a recorded Prometheus 2.42 agent.

Every synthetic cluster serves the recorded ``/metrics`` (tests/fixtures/captures) with per-cluster
variation: counters grow linearly from a per-cluster base, so rates are non-zero and the same for
the same cluster and time. Exec runs against a small real directory per cluster
(DIR/synthetic/<name>/prometheus, a WAL hardlinked from one shared copy).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import threading
import time
import uuid
from pathlib import Path

from ..runtime import POD_RECREATE_DELAY, agent_placements
from .cluster import STARTED
from .util import rfc3339

CAPTURE_DIRS = [Path(__file__).resolve().parents[3] / "fixtures" / "captures" / "prometheus-2.42-agent",
                Path("/work/shared/captures/prometheus-2.42-agent")]
CONTAINER_PATH = "/prometheus"
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$")
QUERY_422 = ("/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels", "/api/v1/status/tsdb", "/api/v1/alerts",
             "/api/v1/rules", "/api/v1/alertmanagers", "/api/v1/query_exemplars")


def capture_dir():
    """The directory of the recorded agent responses."""
    for path in CAPTURE_DIRS:
        if (path / "agent_metrics.txt").exists():
            return path
    raise FileNotFoundError("no agent captures found in %s" % ", ".join(str(p) for p in CAPTURE_DIRS))


def _seed(name, salt=""):
    return int(hashlib.sha256((name + salt).encode()).hexdigest()[:12], 16)


class Recording:
    """The captured endpoints, parsed once."""

    def __init__(self):
        base = capture_dir()
        self.dir = base
        self.lines = []
        types = {}
        with open(base / "agent_metrics.txt", encoding="utf-8") as handle:
            for line in handle.read().splitlines():
                if line.startswith("# TYPE "):
                    _h, _t, fam, kind = line.split(" ", 3)
                    types[fam] = kind
                    self.lines.append(("meta", line))
                    continue
                match = _SAMPLE.match(line)
                if line.startswith("#") or not match:
                    self.lines.append(("meta", line))
                    continue
                name, labels, value = match.group(1), match.group(2) or "", match.group(3)
                fam = re.sub(r"_(bucket|sum|count|total)$", "", name)
                kind = types.get(name) or types.get(fam) or types.get(name[:-6] if name.endswith("_total") else name, "untyped")
                counter = kind in ("counter", "histogram") or (kind == "summary" and 'quantile="' not in labels) or name.endswith("_total")
                self.lines.append(("sample", (name, labels, float(value), counter)))
        self.endpoints = {}
        for fname in os.listdir(base):
            if fname.startswith("ep_"):
                with open(base / fname, "rb") as handle:
                    self.endpoints[fname] = handle.read()

    def endpoint(self, fname):
        """A recorded body (b'' when missing)."""
        return self.endpoints.get(fname, b"")


class SyntheticAgent:
    """Looks like ``labkit.runtime.AgentRuntime`` to the API server, without a process."""

    # pylint: disable=too-many-instance-attributes

    def __init__(self, fleet, name, index, placement=None):
        self.fleet = fleet
        self.cluster = name
        # one pod of a sharded/replicated/DaemonSet agent (labkit.runtime.PodPlacement); the
        # cluster's first pod keeps the names, directory and seed of a one-pod cluster
        first = placement is None or placement.first_of_cluster
        self.name = "synthetic-" + name + ("" if first else "-" + placement.key)
        self.seed = _seed(name) if first else _seed(name, placement.key)
        self.factor = 0.6 + (self.seed % 800) / 1000.0
        self.cluster_dir = fleet.root / name if first else fleet.root / name / "pods" / placement.key
        self.cluster_pods = [self]  # every synthetic pod of the cluster (set by the fleet)
        if placement is not None:
            self.placement = placement
            self.pod_name = placement.pod_name
            self.pvc_name = "%s-%s" % (placement.volume_name, placement.pod_name)
            self.pod_labels = placement.labels()
        self.data_dir = self.cluster_dir / "prometheus"
        self.wal_dir = self.data_dir / "wal"
        self.log_path = self.cluster_dir / "prometheus.log"
        self.previous_log_path = self.cluster_dir / "prometheus.previous.log"
        self.volume_capacity_bytes = (1 + self.seed % 8) * 1024 ** 3
        self.pod_uid = str(uuid.UUID(hashlib.sha1(("pod/" + (name if first else name + "/" + placement.key)).encode()).hexdigest()[:32]))
        self.created_at = STARTED - 3600 * (1 + self.seed % 200)
        self.started_at = self.created_at + (self.seed % 3) * 600
        self.restart_count = (self.seed >> 8) % 4 if index % 5 == 0 else 0
        self.state = "running"
        self.waiting_reason = None
        self.last_termination = None
        if self.restart_count:
            reason = "OOMKilled" if self.seed % 2 else "Error"
            self.last_termination = {"exit_code": 137 if reason == "OOMKilled" else 1, "reason": reason, "signal": None,
                                     "started_at": self.created_at, "finished_at": self.started_at - 1}
        self.terminating = False
        self.deletion_timestamp = None
        self.pod_exists = True
        self.pid = None
        self.port = None
        self.url = None
        self.lag = self.seed % 7
        self.spec = {
            "version": "v2.42.0", "replicas": placement.replicas if placement else 1, "scrapeInterval": "15s", "externalLabels": {"cluster": name},
            "remoteWrite": [{"url": "http://thanos-receive.thanos.svc:19291/api/v1/receive", "name": "thanos-receive", "queueConfig": {},
                             "writeRelabelConfigs": []}],
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "%dMi" % (512 * (1 + self.seed % 3))}},
            "storage": {"volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": "%dGi" % (self.volume_capacity_bytes // 1024 ** 3)}}}}},
        }
        if placement is not None and placement.shards > 1:
            self.spec["shards"] = placement.shards
        if placement is not None and placement.controller_kind == "DaemonSet":
            self.spec["mode"] = "DaemonSet"
            del self.spec["replicas"]

    # -------------------------------------------------------------- runtime interface

    @property
    def memory_limit_bytes(self):
        """The limit of spec.resources, in bytes."""
        from .util import parse_quantity  # pylint: disable=import-outside-toplevel
        limit = ((self.spec.get("resources") or {}).get("limits") or {}).get("memory")
        return int(parse_quantity(limit)) if limit else None

    def is_ready(self):
        """Synthetic agents are always ready."""
        return True

    def cpu_seconds(self):
        """CPU seconds, growing at a per-cluster rate."""
        return (0.02 + (self.seed % 50) / 1000.0) * (time.time() - self.started_at)

    def rss_bytes(self):
        """RSS around a per-cluster level."""
        base = (150 + self.seed % 250) * 1024 * 1024
        return int(base * (1 + 0.05 * math.sin(time.time() / 60.0 + self.seed % 7)))

    def delete_pod(self, grace_seconds=30, wait=True):  # pylint: disable=unused-argument
        """The pod is gone, then (``POD_RECREATE_DELAY`` later) a new pod: new uid, restart count 0."""
        if not wait:
            threading.Thread(target=self.delete_pod, args=(grace_seconds, True), daemon=True).start()
            return
        self.pod_exists = False
        time.sleep(POD_RECREATE_DELAY)
        now = time.time()
        self.pod_exists = True
        self.last_termination = None
        self.pod_uid = str(uuid.uuid4())
        self.created_at = now
        self.started_at = now
        self.restart_count = 0

    def restart(self, grace_seconds=30, wait=True):
        """Rollout restart: a new pod."""
        self.delete_pod(grace_seconds, wait)

    def kill(self):
        """A container restart in the same pod."""
        now = time.time()
        self.last_termination = {"exit_code": 137, "reason": "Error", "signal": 9, "started_at": self.started_at, "finished_at": now}
        self.restart_count += 1
        self.started_at = now

    def apply_spec(self, spec, restart=True):  # pylint: disable=unused-argument
        """Take the new spec (nothing to reload)."""
        old, self.spec = self.spec, json.loads(json.dumps(spec))
        return "unchanged" if old == self.spec else "reloaded"

    def ensure_wal(self):
        """Link the shared WAL copy in (taken again from a real agent when it was still nearly empty)."""
        self.fleet.refresh_shared_wal()
        self.fleet.link_wal(self)

    def exec_argv(self, argv):
        """Run ``argv`` with this cluster's directory at /prometheus (like AgentRuntime.exec_argv)."""
        return ["unshare", "-m", "--propagation", "private", "--", "sh", "-c",
                'mount --bind "$0" %s && cd %s && exec "$@"' % (CONTAINER_PATH, CONTAINER_PATH), str(self.data_dir)] + list(argv)

    # -------------------------------------------------------------- HTTP

    def metrics_text(self, now=None):
        """The recorded /metrics with this cluster's values at ``now``."""
        now = time.time() if now is None else now
        grow = 1.0 + (now - self.started_at) / 3600.0
        out = []
        for kind, item in self.fleet.recording.lines:
            if kind == "meta":
                out.append(item)
                continue
            name, labels, value, counter = item
            if name == "process_start_time_seconds":
                value = self.started_at
            elif name == "process_cpu_seconds_total":
                value = self.cpu_seconds()
            elif name == "process_resident_memory_bytes":
                value = self.rss_bytes()
            elif name.endswith("timestamp_seconds") or name == "prometheus_remote_storage_highest_timestamp_in_seconds":
                value = math.floor(now) - (self.lag if "sent" in name else 0)
                if "reload" in name:
                    value = self.started_at
            elif counter:
                value = value * self.factor * grow
            elif value and "_bytes" not in name and "_seconds" not in name and "shard" not in name and "info" not in name:
                value = round(value * self.factor)
            out.append("%s%s %s" % (name, labels, _fmt(value)))
        return "\n".join(out) + "\n"

    def http(self, method, path, query):  # pylint: disable=unused-argument,too-many-return-statements
        """(status, content type, body) for a request through pods/proxy."""
        rec = self.fleet.recording
        jtype = "application/json"
        if path in ("/metrics", "/metrics/"):
            return 200, "text/plain; version=0.0.4; charset=utf-8", self.metrics_text().encode()
        if path == "/-/healthy":
            return 200, "text/plain; charset=utf-8", b"Prometheus Agent is Healthy.\n"
        if path == "/-/ready":
            return 200, "text/plain; charset=utf-8", b"Prometheus Agent is Ready.\n"
        if path == "/-/reload" and method == "POST":
            return 200, "text/plain; charset=utf-8", b""
        if path in QUERY_422:
            return 422, jtype, rec.endpoint("ep_api_v1_query_query_up.txt")
        if path == "/api/v1/status/runtimeinfo":
            doc = json.loads(rec.endpoint("ep_api_v1_status_runtimeinfo.txt"))
            doc["data"]["startTime"] = rfc3339(self.started_at)
            doc["data"]["lastConfigTime"] = rfc3339(self.started_at)
            return 200, jtype, json.dumps(doc).encode()
        if path == "/api/v1/targets":
            doc = json.loads(rec.endpoint("ep_api_v1_targets.txt"))
            for target in (doc.get("data") or {}).get("activeTargets", []):
                target["lastScrape"] = rfc3339(time.time() - 2)
            return 200, jtype, json.dumps(doc).encode()
        if path.startswith("/api/v1/targets/metadata"):
            return 200, jtype, rec.endpoint("ep_api_v1_targets_metadata_match_target__job__node__.txt")
        simple = {"/api/v1/status/config": "ep_api_v1_status_config.txt", "/api/v1/status/flags": "ep_api_v1_status_flags.txt",
                  "/api/v1/status/buildinfo": "ep_api_v1_status_buildinfo.txt", "/api/v1/status/walreplay": "ep_api_v1_status_walreplay.txt",
                  "/api/v1/metadata": "ep_api_v1_metadata.txt"}
        if path in simple:
            return 200, jtype, rec.endpoint(simple[path])
        return 404, "text/plain; charset=utf-8", b"404 page not found\n"


def _fmt(value):
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value)) if isinstance(value, float) else str(value)


class SyntheticFleet:
    """The synthetic clusters of one lab: ``syn-0001`` ... ``syn-NNNN``, each with the agent pods
    of the lab's layout (the supervisor's ``shards``, ``replicas``, ``mode``, ``nodes``,
    ``agents_per_cluster``; one pod by default)."""

    def __init__(self, api, count):
        self.api = api
        self.count = count
        self.root = Path(api.workdir) / "synthetic"
        self.agents = []  # every synthetic agent pod
        self.first_pods = []  # the first pod of each cluster
        self.lock = threading.Lock()
        self.shared_checked = 0.0
        self.shared = None
        if count <= 0:
            return
        self.recording = Recording()
        self.root.mkdir(parents=True, exist_ok=True)
        self.shared = self._shared_wal()
        log_text = self._log_text()
        sup = api.supervisor
        layout = dict(layout=getattr(sup, "layout", "operator") or "operator", shards=int(getattr(sup, "shards", 1) or 1),
                      replicas=int(getattr(sup, "replicas", 1) or 1), mode=getattr(sup, "mode", "statefulset") or "statefulset",
                      nodes=len(getattr(sup, "nodes", None) or [1]), agents=int(getattr(sup, "agents_per_cluster", 1) or 1))
        one_pod = (layout["shards"], layout["replicas"], layout["mode"], layout["agents"]) == (1, 1, "statefulset", 1)
        self.first_pods = []
        for index in range(1, count + 1):
            name = "syn-%04d" % index
            placements = [None] if one_pod else [p for pods in agent_placements(name, **layout) for p in pods]
            pods = [SyntheticAgent(self, name, index, placement) for placement in placements]
            for agent in pods:
                agent.cluster_pods = pods
                agent.cluster_dir.mkdir(parents=True, exist_ok=True)
                self.link_wal(agent)
                with open(agent.log_path, "w", encoding="utf-8") as handle:
                    handle.write(log_text.replace("@START@", rfc3339(agent.started_at)).replace("@CLUSTER@", agent.cluster))
                self.agents.append(agent)
            self.first_pods.append(pods[0])

    def link_wal(self, agent):
        """Hardlink the shared WAL files into the agent's wal dir (copies across filesystems)."""
        agent.wal_dir.mkdir(parents=True, exist_ok=True)
        for fname in os.listdir(self.shared):
            dest = agent.wal_dir / fname
            if not dest.exists():
                try:
                    os.link(self.shared / fname, dest)
                except OSError:
                    shutil.copyfile(self.shared / fname, dest)

    def refresh_shared_wal(self):
        """Take a fresh copy of a real agent's WAL when the shared one is under 64 KiB (the agents had just started)."""
        with self.lock:
            size = sum(f.stat().st_size for f in self.shared.iterdir() if f.is_file())
            if size >= 65536 or time.time() - self.shared_checked < 30:
                return
            self.shared_checked = time.time()
            fresh = self.root / ("_shared_wal.%d" % int(time.time()))
            self._copy_real_wal(fresh)
            if not any(fresh.iterdir()) or sum(f.stat().st_size for f in fresh.iterdir()) <= size:
                shutil.rmtree(fresh, ignore_errors=True)
                return
            old, self.shared = self.shared, fresh
            for agent in self.agents:
                if agent.wal_dir.is_dir():
                    for fname in os.listdir(agent.wal_dir):
                        if (old / fname).exists():
                            os.unlink(agent.wal_dir / fname)
            shutil.rmtree(old, ignore_errors=True)

    def _copy_real_wal(self, dest):
        dest.mkdir(parents=True, exist_ok=True)
        for runtime in (getattr(self.api.supervisor, "clusters", None) or {}).values():
            wal = Path(getattr(runtime, "wal_dir", "") or "")
            if wal.is_dir():
                for fname in sorted(os.listdir(wal)):
                    src = wal / fname
                    if src.is_file() and re.match(r"^\d{8}$", fname):
                        shutil.copyfile(src, dest / fname)
                return

    def runtimes(self):
        """(name, SyntheticAgent) pairs."""
        return [(a.cluster, a) for a in self.first_pods]

    def _shared_wal(self):
        """One copy of a real agent's closed WAL segments (or an empty segment) to hardlink from."""
        shared = self.root / "_shared_wal"
        shared.mkdir(parents=True, exist_ok=True)
        if any(shared.iterdir()):
            return shared
        self._copy_real_wal(shared)
        if not any(shared.iterdir()):
            (shared / "00000000").write_bytes(b"")
        return shared

    @staticmethod
    def _log_text():
        lines = [
            'ts=@START@ caller=main.go:512 level=info msg="No time or size retention was set so using the default time retention" duration=15d',
            'ts=@START@ caller=main.go:556 level=info msg="Starting Prometheus Server" mode=agent version="(version=2.42.0, branch=debian/sid, '
            'revision=2.42.0+ds-2)"',
            'ts=@START@ caller=main.go:561 level=info build_context="(go=go1.19.8, platform=linux/amd64, user=team+pkg-go@tracker.debian.org)"',
            'ts=@START@ caller=web.go:561 level=info component=web msg="Start listening for connections" address=0.0.0.0:9090',
            'ts=@START@ caller=main.go:1042 level=info msg="Starting WAL storage ..."',
            'ts=@START@ caller=db.go:311 level=info msg="replaying WAL, this may take a while" dir=/prometheus/wal',
            'ts=@START@ caller=db.go:362 level=info msg="WAL segment loaded" segment=0 maxSegment=0',
            'ts=@START@ caller=main.go:1063 level=info fs_type=TMPFS_MAGIC',
            'ts=@START@ caller=main.go:1066 level=info msg="Agent WAL storage started"',
            'ts=@START@ caller=main.go:1232 level=info msg="Loading configuration file" filename=/etc/prometheus/config_out/prometheus.env.yaml',
            'ts=@START@ caller=dedupe.go:112 component=remote level=info remote_name=thanos-receive '
            'url=http://thanos-receive.thanos.svc:19291/api/v1/receive msg="Starting WAL watcher" queue=thanos-receive',
            'ts=@START@ caller=main.go:1269 level=info msg="Completed loading of configuration file" filename=/etc/prometheus/config_out/prometheus.env.yaml',
            'ts=@START@ caller=main.go:1004 level=info msg="Server is ready to receive web requests."',
            'ts=@START@ caller=dedupe.go:112 component=remote level=info remote_name=thanos-receive msg="Done replaying WAL" duration=1.2s',
        ]
        return "".join("@START@ stderr F %s\n" % line for line in lines)
