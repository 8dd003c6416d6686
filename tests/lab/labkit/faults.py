"""Process faults of the lab: what each one really does to which process.

Called by ``labkit.runtime.Supervisor.fault`` / ``.heal`` as ``fault(supervisor, name, cluster, pod)``
and ``heal(supervisor, name, cluster, pod)``; each returns a dict of details (JSON-able). A fault
on an agent acts on one pod: ``pod`` (its name) of ``cluster``, by default the cluster's first pod.
See tests/lab/README.md for the table. The processes are the supervisor's
(``labkit.runtime.AgentRuntime``, used through their methods): this module does not import
``labkit.runtime`` (which imports it).
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import time
from pathlib import Path

from labkit.common import LabError, format_quantity

PROCESS_FAULTS = (
    "receiver-down", "receiver-4xx", "agent-kill", "crashloop", "wal-corrupt", "wal-corrupt-stopped",
    "wal-corrupt-live",
    "bad-config", "disk-full", "high-memory", "oom-kill", "stuck-terminating", "agent-freeze",
)
CRASHLOOP_FLAG = "--fleetlab.crashloop-invalid-flag"
WAL_PAGE_SIZE = 32 * 1024
BAD_CONFIG = """# written by the fleetlab bad-config fault
global:
  scrape_interval: 5s
scrape_configs:
  - job_name: broken
    bogus_field_from_fleetlab: true
    static_configs:
      - targets: ['127.0.0.1:9']
"""


def _agent(sup, cluster, pod=None):
    """The agent pod a fault acts on: ``pod`` of ``cluster``, by default its first pod."""
    if cluster is None:
        raise ValueError("this fault needs --cluster")
    if cluster not in sup.clusters:
        raise KeyError("no real cluster %r (clusters: %s)" % (cluster, ", ".join(sup.clusters)))
    return sup.agent_pod(cluster, pod)


def list_segments(wal_dir: Path) -> list[Path]:
    """WAL segment files (named %08d) in order."""
    try:
        return sorted((p for p in wal_dir.iterdir() if p.name.isdigit() and p.is_file()), key=lambda p: int(p.name))
    except FileNotFoundError:
        return []


def record_fragments(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, type, length) of every non-padding fragment of a WAL segment's bytes."""
    frags = []
    for page_start in range(0, len(data), WAL_PAGE_SIZE):
        pos = page_start
        page_end = min(page_start + WAL_PAGE_SIZE, len(data))
        while pos + 7 <= page_end:
            ftype = data[pos] & 0x07
            if ftype == 0:
                break
            length = int.from_bytes(data[pos + 1:pos + 3], "big")
            if pos + 7 + length > page_end:
                break
            frags.append((pos, ftype, length))
            pos += 7 + length
    return frags


def corrupt_wal(agent) -> dict:
    """Flip bytes in the payload of a record in a middle segment (never the last one) of an
    agent's WAL (stopped, or running: a segment before the last one is closed); the fragment's CRC-32C no longer matches."""
    candidates = closed_segments_with_data(agent.wal_dir)
    if not candidates:
        raise LabError("the WAL of %s (%s) has no closed segment with data: %s"
                       % (agent.cluster, agent.wal_dir,
                          ", ".join("%s (%d bytes)" % (p.name, p.stat().st_size) for p in list_segments(agent.wal_dir))
                          or "no segment"))
    segment = candidates[len(candidates) // 2]
    data = bytearray(segment.read_bytes())
    frags = [f for f in record_fragments(bytes(data)) if f[1] in (1, 2) and f[2] >= 8]
    if not frags:
        raise LabError("no record found in %s" % segment)
    offset, length = frags[len(frags) // 2][0], frags[len(frags) // 2][2]
    start = offset + 7 + length // 2
    for i in range(start, min(start + 4, offset + 7 + length)):
        data[i] ^= 0xFF
    segment.write_bytes(bytes(data))
    return {"segment": str(segment), "segment_name": segment.name, "record_offset": offset, "flipped_at": start,
            "segments": [p.name for p in list_segments(agent.wal_dir)]}


def closed_segments_with_data(wal_dir: Path) -> list[Path]:
    """The segments before the last one (the agent writes only the last; the others are closed)
    that hold data. Prometheus opens a new segment at every start, so a restart closes the one
    it was writing."""
    return [p for p in list_segments(wal_dir)[:-1] if p.stat().st_size > 0]


def _close_a_segment_with_data(agent, timeout: float = 60):
    """Make sure the WAL has a closed segment with data, so it can be corrupted while the agent
    runs: wait (bounded) until the segment being written holds data, then restart the container,
    which closes it. Waits for conditions, never for a fixed time: a loaded machine only takes longer."""
    deadline = time.time() + timeout
    while not closed_segments_with_data(agent.wal_dir) and time.time() < deadline:
        segments = list_segments(agent.wal_dir)
        if segments and segments[-1].stat().st_size > 0:
            agent.restart_container(grace_seconds=10)
            # the new segment is opened before the agent reports ready
            while not (agent.is_ready() and closed_segments_with_data(agent.wal_dir)) and time.time() < deadline:
                time.sleep(0.25)
        else:
            time.sleep(0.25)
    # past the deadline corrupt_wal says what the WAL holds


def fill_filesystem(path: Path) -> int:
    """Create ``path`` and grow it until its filesystem has no space left; returns its size."""
    size = 0
    chunk = b"\0" * (1 << 20)
    with open(path, "wb", buffering=0) as handle:
        st = os.statvfs(path.parent)
        free = st.f_bavail * st.f_frsize
        if free > (4 << 20):
            try:
                os.posix_fallocate(handle.fileno(), 0, free - (2 << 20))
                size = free - (2 << 20)
                handle.seek(size)
            except OSError:
                size = 0
        for piece in (chunk, b"\0" * 4096, b"\0"):
            while True:
                try:
                    written = handle.write(piece)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
                if not written:
                    break
                size += written
    return size


def fault(sup, name: str, cluster, pod=None):  # pylint: disable=too-many-return-statements,too-many-branches
    """Inject process fault ``name`` (an agent fault into ``pod`` of ``cluster``, by default its first pod)."""
    if name == "receiver-down":
        pid = sup.receiver.pid
        sup.receiver.stop(grace_seconds=10)
        return {"stopped_pid": pid, "receiver": sup.receiver.url}
    if name == "receiver-4xx":
        sup.receiver_4xx = True
        sup.receiver.restart_container(grace_seconds=10)
        return {"receiver": sup.receiver.url, "answer": "404 remote write receiver needs to be enabled",
                "pid": sup.receiver.pid}
    agent = _agent(sup, cluster, pod)
    if name == "agent-kill":
        pid = agent.pid
        if pid is None:
            raise LabError("agent of %s is not running" % cluster)
        agent.kill()
        return {"killed_pid": pid, "restart_count_before": agent.restart_count}
    if name == "crashloop":
        with sup.lock:
            agent.extra_args = [CRASHLOOP_FLAG]
        agent.kill()
        return {"flag": CRASHLOOP_FLAG}
    if name == "agent-freeze":
        # SIGSTOP: the process lives on (state running) but answers nothing, /-/ready included
        pid = agent.pid
        if pid is None:
            raise LabError("agent of %s is not running" % cluster)
        os.kill(pid, signal.SIGSTOP)
        return {"stopped_pid": pid}
    if name == "wal-corrupt":
        _close_a_segment_with_data(agent)
        details = {}
        agent.restart_container(grace_seconds=10, between=lambda: details.update(corrupt_wal(agent)))
        return details
    if name == "wal-corrupt-stopped":
        _close_a_segment_with_data(agent)
        agent.stop(grace_seconds=10)
        return corrupt_wal(agent)
    if name == "wal-corrupt-live":
        # a closed segment goes bad under a running agent (a failing disk): Prometheus only reads it
        # again at its next start (or checkpoint), so until then the WAL is corrupt and the pod runs
        _close_a_segment_with_data(agent)
        return corrupt_wal(agent)
    if name == "bad-config":
        with sup.lock:
            agent.config_override = BAD_CONFIG
            agent.write_config()
        return {"reload_ok": agent.reload(), "config": str(agent.config_path)}
    if name == "disk-full":
        size = fill_filesystem(agent.filler_path)
        return {"filler": str(agent.filler_path), "filler_bytes": size, "volume": agent.volume_usage()}
    if name == "high-memory":
        usage = agent.rss_bytes()
        if usage == 0:
            raise LabError("agent of %s is not running" % cluster)
        # resident memory at ~93% of the limit (MEMORY is critical above 90%); the cgroup
        # charges shared binary pages once, so its working set stays below this limit
        limit = ((int(usage / 0.93) >> 20) + 1) << 20
        with sup.lock:
            old = agent.spec.setdefault("resources", {}).setdefault("limits", {}).get("memory")
            agent.spec["resources"]["limits"]["memory"] = format_quantity(limit)
            agent.saved_memory_limit = old
            agent.memory_limit_fault = limit
            agent.set_cgroup_limit(limit)
        return {"usage_bytes": usage, "memory_limit": format_quantity(limit), "previous_limit": old,
                "cgroup": str(agent.memory_cgroup) if agent.memory_cgroup else None}
    if name == "oom-kill":
        return _oom_kill(agent)
    if name == "stuck-terminating":
        with sup.lock:
            agent.stuck_terminating = True
        agent.delete_pod(grace_seconds=30, wait=False)
        return {"pod": agent.pod_name, "pod_uid": agent.pod_uid}
    raise ValueError("unknown process fault %r" % name)


def _oom_kill(agent) -> dict:
    """Squeeze the memory cgroup to just above its usage, then make the agent allocate until
    the kernel OOM-kills it.

    An agent that has run for a while allocates almost nothing new (its heap is reused), and
    the kernel keeps reclaiming the binary's file pages instead of killing it, so a tight limit
    alone can take minutes. Each connection below sends an unfinished header line of 1 MB, which
    Go's HTTP server buffers whole: about 1 MB of new heap per connection.
    """
    if agent.memory_cgroup is None:
        raise LabError("no memory cgroup for %s (cgroup v1 memory controller missing or FLEETLAB_CGROUP=0)" % agent.cluster)
    pid = agent.pid
    if pid is None:
        raise LabError("agent of %s is not running" % agent.cluster)
    usage_file = agent.memory_cgroup / "memory.usage_in_bytes"
    pressure = []
    deadline = time.time() + 30
    try:
        while agent.pid == pid and time.time() < deadline:
            try:
                agent.set_cgroup_limit(int(usage_file.read_text(encoding="ascii")) + (256 << 10))
            except OSError:
                pass
            _allocate_in_agent(agent.port, pressure)
            time.sleep(0.05)
    finally:
        for sock in pressure:
            sock.close()
    if agent.pid == pid:
        agent.set_cgroup_limit(agent.memory_limit_bytes)
        raise LabError("the kernel did not OOM-kill the agent of %s within 30 s" % agent.cluster)
    return {"killed_pid": pid, "last_termination": agent.last_termination}


def _allocate_in_agent(port: int, connections: list, count: int = 4):
    """Open ``count`` connections to the agent, each holding an unfinished 1 MB header line."""
    for _connection in range(count):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=1)
        except OSError:
            return
        connections.append(sock)
        try:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: agent\r\nX-Fill: " + b"a" * 1000000)
        except OSError:
            return


def heal(sup, name: str, cluster, pod=None):  # pylint: disable=too-many-return-statements
    """Take process fault ``name`` back (on ``pod`` of ``cluster``, by default its first pod)."""
    if name == "receiver-down":
        sup.receiver.resume()
        return {"pid": sup.receiver.pid}
    if name == "receiver-4xx":
        sup.receiver_4xx = False
        sup.receiver.restart_container(grace_seconds=10)
        return {"pid": sup.receiver.pid}
    agent = _agent(sup, cluster, pod)
    if name == "agent-kill":
        return {"pid": agent.pid, "restart_count": agent.restart_count}
    if name == "crashloop":
        with sup.lock:
            agent.extra_args = []
        agent.reset_backoff()
        return {}
    if name == "agent-freeze":
        pid = agent.pid
        if pid is not None:
            os.kill(pid, signal.SIGCONT)
        return {"pid": pid}
    if name == "wal-corrupt":
        return {"pid": agent.pid}
    if name == "wal-corrupt-stopped":
        agent.resume()
        return {"pid": agent.pid}
    if name == "wal-corrupt-live":
        # the container restarts: Prometheus repairs the segment at start-up
        agent.restart_container(grace_seconds=10)
        return {"pid": agent.pid}
    if name == "bad-config":
        with sup.lock:
            agent.config_override = None
            agent.write_config()
        return {"reload_ok": agent.reload()}
    if name == "disk-full":
        try:
            os.unlink(agent.filler_path)
        except FileNotFoundError:
            pass
        return {"volume": agent.volume_usage()}
    if name == "high-memory":
        with sup.lock:
            old = getattr(agent, "saved_memory_limit", None)
            limits = agent.spec.setdefault("resources", {}).setdefault("limits", {})
            if old is None:
                limits.pop("memory", None)
            else:
                limits["memory"] = old
            agent.memory_limit_fault = None
            agent.set_cgroup_limit(agent.memory_limit_bytes)
        return {"memory_limit": old}
    if name == "oom-kill":
        agent.set_cgroup_limit(agent.memory_limit_bytes)
        return {"pid": agent.pid, "restart_count": agent.restart_count}
    if name == "stuck-terminating":
        agent.finish_termination()
        return {"pod_uid": agent.pod_uid}
    raise ValueError("unknown process fault %r" % name)
