"""Drive a lab from Python (tests) or the ``fleetlab`` command.

``LabClient.up(workdir, clusters=3)`` starts the lab daemon detached and returns once it is
ready; ``LabClient.attach(workdir)`` talks to a running one; ``.state`` is DIR/state.json;
``.fault(name, cluster)`` / ``.heal(name, cluster)`` go to the daemon's control endpoint;
``.down()`` stops everything (``down_workdir`` also works without a daemon).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from labkit.runtime import LabError, cgroup_parent_for, http_request

LAB_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = LAB_DIR.parents[1]
UP_TIMEOUT = float(os.environ.get("FLEETLAB_UP_TIMEOUT", "150"))


def daemon_python() -> str:
    """The repository's venv python when there is one (it has the API server's packages)."""
    venv = REPO_ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _cmdline(pid: int) -> list[str]:
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _owned(pid, workdir: Path) -> bool:
    """The process is alive and its command line names ``workdir`` (or a path inside it)."""
    if not pid or pid == os.getpid() or not _alive(pid):
        return False
    inside = str(workdir) + "/"
    return any(arg == str(workdir) or inside in arg for arg in _cmdline(pid))


def _read_pid(path: Path):
    try:
        return int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no %s)" % path


def lab_mounts(workdir: Path) -> list[str]:
    """Mount points under ``workdir`` (deepest first)."""
    found = []
    with open("/proc/self/mounts", encoding="utf-8") as handle:
        for line in handle:
            mnt = line.split()[1].replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
            if mnt == str(workdir) or mnt.startswith(str(workdir) + "/"):
                found.append(mnt)
    return sorted(set(found), key=len, reverse=True)


def down_workdir(workdir, timeout: float = 90) -> dict:
    """Stop the lab in ``workdir``: ask the daemon, then kill by pid whatever is left (only
    pids whose /proc/PID/cmdline mentions the workdir), unmount the volumes, remove the
    memory cgroups. Works after the daemon crashed. Returns what it did."""
    workdir = Path(workdir).resolve()
    done = {"daemon": None, "killed": [], "unmounted": []}
    state = {}
    try:
        state = json.loads((workdir / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    daemon_pid = _read_pid(workdir / "pids" / "daemon.pid") or state.get("daemon_pid")
    if _owned(daemon_pid, workdir):
        if state.get("control_url"):
            status = http_request(state["control_url"] + "/stop", method="POST", data=b"{}", timeout=5)[0]
        else:
            status = 0
        if status == 200:
            done["daemon"] = "asked to stop"
        else:
            os.kill(daemon_pid, signal.SIGTERM)
            done["daemon"] = "SIGTERM (control endpoint did not answer)"
        deadline = time.time() + timeout
        while _alive(daemon_pid) and time.time() < deadline:
            time.sleep(0.2)
        if _alive(daemon_pid):
            os.kill(daemon_pid, signal.SIGKILL)
            done["daemon"] = "SIGKILL after %ds" % timeout
    piddir = workdir / "pids"
    pidfiles = sorted(piddir.glob("*.pid"), key=lambda p: (not p.name.startswith("agent-"), p.name)) if piddir.is_dir() else []
    # agents first: with the receiver gone they would wait out the flush deadline, so SIGKILL
    for pidfile in pidfiles:
        pid = _read_pid(pidfile)
        if _owned(pid, workdir):
            try:
                os.kill(pid, signal.SIGKILL)
                done["killed"].append({"pid": pid, "name": pidfile.stem})
            except ProcessLookupError:
                pass
    deadline = time.time() + 10
    while any(_alive(item["pid"]) for item in done["killed"]) and time.time() < deadline:
        time.sleep(0.1)
    for pidfile in pidfiles:
        try:
            pidfile.unlink()
        except FileNotFoundError:
            pass
    for mnt in lab_mounts(workdir):
        res = subprocess.run(["umount", "-l", mnt], capture_output=True, text=True, check=False)
        if res.returncode == 0:
            done["unmounted"].append(mnt)
    parent = cgroup_parent_for(workdir)
    if parent.is_dir():
        for child in parent.iterdir():
            if child.is_dir():
                try:
                    child.rmdir()
                except OSError:
                    pass
        try:
            parent.rmdir()
        except OSError:
            pass
    return done


class LabClient:
    """A running lab, by its workdir."""

    def __init__(self, workdir, proc: subprocess.Popen | None = None):
        self.workdir = Path(workdir).resolve()
        self._proc = proc

    # ------------------------------------------------------------------ start / attach
    @classmethod
    def attach(cls, workdir) -> "LabClient":
        """A client for the lab already running in ``workdir``."""
        client = cls(workdir)
        if not client.state.get("control_url"):
            raise LabError("no running lab in %s (no control_url in state.json)" % client.workdir)
        return client

    @classmethod
    def up(cls, workdir, clusters: int = 3, synthetic: int = 0, layout: str = "operator",  # pylint: disable=too-many-arguments,too-many-locals
           volume_size: str = "256Mi", timeout: float = UP_TIMEOUT, shards: int = 1, replicas: int = 1,
           mode: str = "statefulset", nodes: int = 1, agents_per_cluster: int = 1) -> "LabClient":
        """Start a lab in ``workdir`` and wait until it is ready (every agent pod /-/ready and
        samples of every pod at the receiver). On failure: stop what started and raise
        LabError with the tail of DIR/daemon.log.

        ``shards`` x ``replicas`` agent pods per PrometheusAgent (StatefulSets ``prom-agent-<name>``,
        ``prom-agent-<name>-shard-1``, ...), or with ``mode="daemonset"`` one pod per node of
        ``nodes``; ``agents_per_cluster`` PrometheusAgent resources per cluster."""
        workdir = Path(workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        old = _read_pid(workdir / "pids" / "daemon.pid")
        if _owned(old, workdir):
            raise LabError("a lab is already running in %s (daemon pid %d): `fleetlab down --workdir %s` first"
                           % (workdir, old, workdir))
        for name in ("state.json", "inventory.yml", "kubeconfig"):
            try:
                (workdir / name).unlink()
            except FileNotFoundError:
                pass
        env = dict(os.environ)
        env["PYTHONPATH"] = str(LAB_DIR) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        # the Go programs of the lab (agents, receiver, node_exporter) run as in a pod with one
        # CPU: an idle lab's agents then cost a third less CPU (their runtime's background work
        # scales with the threads it may run), which a test run of many labs on two cores feels
        env.setdefault("GOMAXPROCS", "1")
        log_path = workdir / "daemon.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(  # pylint: disable=consider-using-with
                [daemon_python(), "-m", "labkit.daemon", "--workdir", str(workdir), "--clusters", str(clusters),
                 "--synthetic", str(synthetic), "--layout", layout, "--volume-size", volume_size,
                 "--shards", str(shards), "--replicas", str(replicas), "--mode", mode, "--nodes", str(nodes),
                 "--agents-per-cluster", str(agents_per_cluster)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=str(LAB_DIR), env=env)
        client = cls(workdir, proc)
        deadline = time.time() + timeout
        problem = None
        try:
            while problem is None:
                state = client.state
                if state.get("ready"):
                    return client
                if state.get("error"):
                    problem = state["error"]
                elif proc.poll() is not None:
                    problem = "the lab daemon exited with status %s" % proc.returncode
                elif time.time() > deadline:
                    problem = "the lab was not ready after %ds" % timeout
                else:
                    time.sleep(0.2)
        except KeyboardInterrupt:
            client.down()
            raise
        client.down()
        raise LabError("%s\n--- last lines of %s ---\n%s" % (problem, log_path, tail(log_path)))

    # ------------------------------------------------------------------ read
    @property
    def state(self) -> dict:
        """DIR/state.json as the daemon last wrote it ({} when there is none)."""
        try:
            return json.loads((self.workdir / "state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    @property
    def clusters(self) -> list[str]:
        """Names of the real clusters."""
        return [name for name, info in self.state.get("clusters", {}).items() if not info.get("synthetic")]

    @property
    def receiver_url(self) -> str:
        return self.state["receiver"]["url"]

    def _control(self, method: str, path: str, body: dict | None = None, timeout: float = 120) -> dict:
        url = self.state.get("control_url")
        if not url:
            raise LabError("no running lab in %s" % self.workdir)
        data = json.dumps(body or {}).encode() if method == "POST" else None
        status, raw = http_request(url + path, method=method, data=data, timeout=timeout)
        if status == 0:
            raise LabError("the lab daemon does not answer at %s (crashed? see %s)" % (url, self.workdir / "daemon.log"))
        try:
            reply = json.loads(raw)
        except ValueError as exc:
            raise LabError("bad answer from the lab daemon: %r" % raw[:200]) from exc
        if status != 200:
            raise LabError(reply.get("error") or "HTTP %d" % status)
        return reply

    def status(self) -> dict:
        """The daemon's live status of every process (``Supervisor.status()``)."""
        return self._control("GET", "/status")["status"]

    def query(self, promql: str) -> list:
        """Instant query at the receiver (the central query API): the ``result`` list."""
        status, body = http_request(self.receiver_url + "/api/v1/query?query=" + urllib.parse.quote(promql), timeout=10)
        if status != 200:
            raise LabError("query %r at the receiver: HTTP %d %s" % (promql, status, body[:200]))
        return json.loads(body)["data"]["result"]

    def agent_url(self, cluster: str) -> str:
        return self.state["clusters"][cluster]["agent_url"]

    # ------------------------------------------------------------------ act
    def fault(self, name: str, cluster: str | None = None, pod: str | None = None) -> dict:
        """Inject a fault (an agent fault into ``pod`` of ``cluster``, by default its first pod);
        returns its details. Raises LabError when the daemon refuses."""
        return self._control("POST", "/fault", {"name": name, "cluster": cluster, "pod": pod})["details"]

    def heal(self, name: str, cluster: str | None = None, pod: str | None = None) -> dict:
        """Take a fault back; returns details."""
        return self._control("POST", "/heal", {"name": name, "cluster": cluster, "pod": pod})["details"]

    def pods(self, cluster: str) -> list[dict]:
        """The agent pods of ``cluster`` as state.json lists them (``pod``, ``controller``, ``shard``,
        ``replica``, ``node``, ``agent_url``, ``wal_dir``, ``pid``, ``pod_uid``, ...), in pod order."""
        return list(self.state["clusters"][cluster].get("pods") or [])

    def wait_ready(self, cluster: str, timeout: float = 60) -> None:
        """Wait until the cluster's agent is running and answers /-/ready with 200."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            info = self.status()["clusters"].get(cluster)
            if info is None:
                raise LabError("no cluster %r" % cluster)
            if info["pid"] and http_request(info["url"] + "/-/ready", timeout=2)[0] == 200:
                return
            time.sleep(0.25)
        raise LabError("agent of %s not ready after %ds" % (cluster, timeout))

    def down(self, timeout: float = 90) -> dict:
        """Stop everything (see ``down_workdir``)."""
        result = down_workdir(self.workdir, timeout=timeout)
        if self._proc is not None:
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        return result
