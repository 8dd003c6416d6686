"""Tests of the lab itself: real agents, a real receiver, real faults on real processes.

They use the session ``lab`` fixture (tests/integration/conftest.py, 3 clusters) and heal every
fault they inject. The crash test starts a one-cluster lab of its own.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from lab_fixtures import agent_metric, remote_write_lag, wait_for  # pylint: disable=import-error

LAB_DIR = Path(__file__).resolve().parents[2] / "lab"
FLEETLAB = LAB_DIR / "fleetlab"

pytestmark = pytest.mark.lab


# ---------------------------------------------------------------------------- helpers
def http(url, method="GET", timeout=5):
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def cluster_status(lab, cluster) -> dict:
    return lab.status()["clusters"][cluster]


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), bitwise: slow but independent of the lab's code."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _bit in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def log_text(lab, cluster) -> str:
    return Path(lab.state["clusters"][cluster]["log_path"]).read_text(encoding="utf-8", errors="replace")


# ---------------------------------------------------------------------------- healthy lab
def test_agents_run_in_agent_mode_with_pod_layout(lab):
    for name in lab.clusters:
        url = lab.agent_url(name)
        status, body = http(url + "/api/v1/status/flags")
        assert status == 200
        flags = json.loads(body)["data"]
        assert flags["enable-feature"] == "agent"
        assert flags["storage.agent.path"] == "/prometheus"
        assert flags["web.enable-lifecycle"] == "true"
        status, body = http(url + "/api/v1/query?query=up")
        assert status == 422
        assert json.loads(body)["error"] == "unavailable with Prometheus Agent"
        status, body = http(url + "/-/healthy")
        assert (status, body) == (200, b"Prometheus Agent is Healthy.\n") or body.startswith(b"Prometheus Agent is Healthy")
        status, body = http(url + "/api/v1/status/config")
        config = json.loads(body)["data"]["yaml"]
        assert "cluster: %s" % name in config
        assert "job_name: node" in config and "job_name: prometheus-agent" in config


def test_data_volume_is_a_sized_tmpfs_holding_the_wal(lab):
    mounts = Path("/proc/self/mounts").read_text(encoding="utf-8").splitlines()
    for name in lab.clusters:
        info = lab.state["clusters"][name]
        line = [m for m in mounts if m.split()[1] == info["data_dir"]]
        assert line, "no mount at %s" % info["data_dir"]
        assert line[0].split()[2] == "tmpfs"
        st = os.statvfs(info["data_dir"])
        assert st.f_blocks * st.f_frsize == 256 * 1024 * 1024
        assert info["wal_dir"] == info["data_dir"] + "/wal"
        assert re.fullmatch(r"\d{8}", sorted(os.listdir(info["wal_dir"]))[0])


def test_exec_argv_sees_the_pod_filesystem(lab):
    """The command an API server's exec runs sees the volume at /prometheus."""
    sys.path.insert(0, str(LAB_DIR))
    from labkit.runtime import AgentRuntime  # pylint: disable=import-outside-toplevel

    name = lab.clusters[0]
    info = lab.state["clusters"][name]
    argv = AgentRuntime.exec_argv(_FakeAgent(info["data_dir"]), ["sh", "-c", "pwd; ls /prometheus/wal; df -k /prometheus | tail -1"])
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=20).stdout.split("\n")
    assert out[0] == "/prometheus"
    assert sorted(os.listdir(info["wal_dir"]))[0] in out
    assert "262144" in out[-2]


class _FakeAgent:  # pylint: disable=too-few-public-methods
    def __init__(self, data_dir):
        self.data_dir = data_dir


def test_logs_are_in_cri_format(lab):
    lines = log_text(lab, lab.clusters[0]).splitlines()
    assert lines
    cri = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stderr F .*$")
    assert all(cri.match(line) for line in lines), lines[:3]
    assert any("Server is ready to receive web requests." in line for line in lines)


def test_every_cluster_reaches_the_receiver_with_its_label(lab):
    got = {item["metric"]["cluster"]: float(item["value"][1]) for item in lab.query("count by (cluster) (up)")}
    for name in lab.clusters:
        assert got.get(name) == 2.0, got
    for item in lab.query('up{job="node"}'):
        assert item["value"][1] == "1"
    jobs = {item["metric"]["job"] for item in lab.query("up")}
    assert jobs == {"node", "prometheus-agent"}


def test_pids_are_recorded(lab):
    state = lab.state
    piddir = Path(lab.workdir) / "pids"
    for name in lab.clusters:
        assert int((piddir / ("agent-%s.pid" % name)).read_text()) == state["clusters"][name]["pid"]
    assert int((piddir / "receiver.pid").read_text()) == state["receiver"]["pid"]
    assert int((piddir / "node-exporter.pid").read_text()) == state["node_exporter"]["pid"]


# ---------------------------------------------------------------------------- faults
@pytest.mark.slow
def test_receiver_down_raises_retries_and_lag_then_heal_drains(lab):
    url = lab.agent_url(lab.clusters[0])
    retried_before = agent_metric(url, "prometheus_remote_storage_samples_retried_total")
    assert remote_write_lag(url) < 15
    outage_start = time.time()
    lab.fault("receiver-down")
    try:
        wait_for(lambda: agent_metric(url, "prometheus_remote_storage_samples_retried_total") > retried_before, 40,
                 "samples_retried_total to rise")
        wait_for(lambda: remote_write_lag(url) >= 10, 40, "lag >= 10 s")
        assert agent_metric(url, "prometheus_remote_storage_samples_failed_total") == 0
    finally:
        lab.heal("receiver-down")
    outage = time.time() - outage_start
    wait_for(lambda: remote_write_lag(url) < 10, 60, "the backlog to drain")
    retried_after = agent_metric(url, "prometheus_remote_storage_samples_retried_total")
    time.sleep(6)
    assert agent_metric(url, "prometheus_remote_storage_samples_retried_total") == retried_after, "still retrying after heal"
    # the WAL held everything: no gap at the receiver
    window = int(outage) + 5
    query = 'count_over_time(up{cluster="%s",job="node"}[%ds])' % (lab.clusters[0], window)
    points = wait_for(lambda: [float(i["value"][1]) for i in lab.query(query)], 20, "points at the receiver")
    assert points[0] >= window / 5 - 3, (points, window)


def test_agent_kill_is_restarted_by_the_kubelet(lab):
    name = lab.clusters[1]
    before = cluster_status(lab, name)
    details = lab.fault("agent-kill", name)
    try:
        assert details["killed_pid"] == before["pid"]

        def restarted():
            now = cluster_status(lab, name)
            return now if now["pid"] and now["pid"] != before["pid"] else None

        after = wait_for(restarted, 20, "a new agent pid")
        assert after["restart_count"] == before["restart_count"] + 1
        assert after["pod_uid"] == before["pod_uid"]
        assert after["last_termination"]["exit_code"] == 137
        assert after["last_termination"]["reason"] in ("Error", "OOMKilled")
        assert after["last_termination"]["signal"] == signal.SIGKILL
        lab.wait_ready(name, 30)
    finally:
        lab.heal("agent-kill", name)


@pytest.mark.slow
def test_crashloop_backs_off_and_heals(lab):
    name = lab.clusters[2]
    before = cluster_status(lab, name)
    lab.fault("crashloop", name)
    try:
        wait_for(lambda: cluster_status(lab, name)["waiting_reason"] == "CrashLoopBackOff", 30, "CrashLoopBackOff")
        now = cluster_status(lab, name)
        assert now["state"] == "waiting" and now["pid"] is None
        assert now["restart_count"] >= before["restart_count"] + 1
        assert now["last_termination"]["exit_code"] == 1
        assert "unknown long flag" in log_text(lab, name)
    finally:
        lab.heal("crashloop", name)
    lab.wait_ready(name, 60)
    assert cluster_status(lab, name)["state"] == "running"


@pytest.mark.slow
def test_wal_corrupt_is_repaired_at_start(lab):
    name = lab.clusters[0]
    try:
        details = lab.fault("wal-corrupt", name)
        assert details["segment_name"] != details["segments"][-1], "corrupted the last segment"
        lab.wait_ready(name, 60)
        text = log_text(lab, name)
        assert "encountered WAL read error, attempting repair" in text
        assert "corruption in segment /prometheus/wal/%s" % details["segment_name"] in text
        assert "Starting corruption repair" in text
        assert "Deleting all segments newer than corrupted segment" in text
    finally:
        lab.heal("wal-corrupt", name)


@pytest.mark.slow
def test_wal_corrupt_stopped_leaves_a_bad_checksum(lab):
    name = lab.clusters[1]
    try:
        details = lab.fault("wal-corrupt-stopped", name)
        assert cluster_status(lab, name)["pid"] is None
        data = Path(details["segment"]).read_bytes()
        off = details["record_offset"]
        length = int.from_bytes(data[off + 1:off + 3], "big")
        stored = int.from_bytes(data[off + 3:off + 7], "big")
        assert crc32c(data[off + 7:off + 7 + length]) != stored
        time.sleep(2)
        assert cluster_status(lab, name)["pid"] is None, "the kubelet restarted an agent kept stopped"
    finally:
        lab.heal("wal-corrupt-stopped", name)
    lab.wait_ready(name, 60)
    assert "Starting corruption repair" in log_text(lab, name)


def test_bad_config_fails_the_reload_and_keeps_running(lab):
    name = lab.clusters[2]
    url = lab.agent_url(name)
    pid = cluster_status(lab, name)["pid"]
    try:
        details = lab.fault("bad-config", name)
        assert details["reload_ok"] is False
        assert agent_metric(url, "prometheus_config_last_reload_successful") == 0
        assert http(url + "/-/ready")[0] == 200
        assert cluster_status(lab, name)["pid"] == pid
    finally:
        lab.heal("bad-config", name)
    assert agent_metric(url, "prometheus_config_last_reload_successful") == 1


@pytest.mark.slow
def test_disk_full_makes_wal_writes_fail(lab):
    name = lab.clusters[1]
    url = lab.agent_url(name)
    lab.wait_ready(name, 60)
    failed_before = agent_metric(url, "prometheus_tsdb_wal_writes_failed_total")
    try:
        details = lab.fault("disk-full", name)
        assert details["volume"]["available_bytes"] == 0
        wait_for(lambda: agent_metric(url, "prometheus_tsdb_wal_writes_failed_total") > failed_before, 30,
                 "prometheus_tsdb_wal_writes_failed_total to rise")
        assert "no space left on device" in log_text(lab, name)
    finally:
        lab.heal("disk-full", name)
    st = os.statvfs(lab.state["clusters"][name]["data_dir"])
    assert st.f_bavail * st.f_frsize > 200 * 1024 * 1024


def test_high_memory_brings_the_limit_near_usage(lab):
    name = lab.clusters[0]
    lab.wait_ready(name, 60)
    try:
        lab.fault("high-memory", name)
        now = cluster_status(lab, name)
        assert now["memory_limit_bytes"] < 512 * 1024 * 1024
        assert now["rss_bytes"] / now["memory_limit_bytes"] > 0.88
        assert now["state"] == "running"
    finally:
        lab.heal("high-memory", name)
    assert cluster_status(lab, name)["memory_limit_bytes"] == 512 * 1024 * 1024


def test_oom_kill_is_reported_as_oomkilled(lab):
    name = lab.clusters[1]
    lab.wait_ready(name, 60)
    before = cluster_status(lab, name)
    try:
        details = lab.fault("oom-kill", name)
        assert details["killed_pid"] == before["pid"]
        lab.wait_ready(name, 30)
        after = cluster_status(lab, name)
        assert after["last_termination"]["reason"] == "OOMKilled"
        assert after["last_termination"]["exit_code"] == 137
        assert after["restart_count"] == before["restart_count"] + 1
        assert after["pod_uid"] == before["pod_uid"]
    finally:
        lab.heal("oom-kill", name)


def test_stuck_terminating_keeps_the_pod_until_healed(lab):
    name = lab.clusters[2]
    lab.wait_ready(name, 60)
    before = cluster_status(lab, name)
    try:
        lab.fault("stuck-terminating", name)
        wait_for(lambda: cluster_status(lab, name)["pid"] is None, 40, "the container to stop")
        time.sleep(2)
        now = cluster_status(lab, name)
        assert now["terminating"] is True and now["pid"] is None
        assert now["pod_uid"] == before["pod_uid"]
    finally:
        lab.heal("stuck-terminating", name)
    lab.wait_ready(name, 60)
    after = cluster_status(lab, name)
    assert after["pod_uid"] != before["pod_uid"]
    assert after["restart_count"] == 0 and not after["terminating"]


@pytest.mark.slow
def test_receiver_4xx_counts_failed_samples(lab):
    url = lab.agent_url(lab.clusters[0])
    failed_before = agent_metric(url, "prometheus_remote_storage_samples_failed_total")
    try:
        lab.fault("receiver-4xx")
        wait_for(lambda: agent_metric(url, "prometheus_remote_storage_samples_failed_total") > failed_before, 40,
                 "samples_failed_total to rise")
    finally:
        lab.heal("receiver-4xx")
    wait_for(lambda: remote_write_lag(url) < 10, 60, "remote write to catch up")


def test_unknown_fault_and_cluster_are_refused(lab):
    from labkit.runtime import LabError  # pylint: disable=import-outside-toplevel
    with pytest.raises(LabError, match="unknown fault"):
        lab.fault("no-such-fault", lab.clusters[0])
    with pytest.raises(LabError, match="no cluster"):
        lab.fault("agent-kill", "no-such-cluster")


# ---------------------------------------------------------------------------- own labs
def _processes_mentioning(text):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cmdline = Path("/proc/%s/cmdline" % entry).read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append((int(entry), cmdline))
    return found


@pytest.mark.slow
def test_down_after_the_daemon_was_killed_leaves_nothing(tmp_path):
    workdir = tmp_path / "lab"
    env = dict(os.environ, FLEETLAB_NO_API="1")
    up = subprocess.run([sys.executable, str(FLEETLAB), "up", "--workdir", str(workdir), "--clusters", "1"],
                        capture_output=True, text=True, env=env, timeout=120, check=False)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "lab ready in" in up.stdout
        state = json.loads((workdir / "state.json").read_text())
        os.kill(state["daemon_pid"], signal.SIGKILL)
        time.sleep(1)
        assert len(_processes_mentioning(str(workdir))) == 3  # receiver, node_exporter, agent
    finally:
        down = subprocess.run([sys.executable, str(FLEETLAB), "down", "--workdir", str(workdir)],
                              capture_output=True, text=True, timeout=120, check=False)
    assert down.returncode == 0, down.stderr
    assert "killed agent-lab-1" in down.stdout
    assert _processes_mentioning(str(workdir)) == []
    assert str(workdir) not in Path("/proc/self/mounts").read_text()
    assert not list((workdir / "pids").glob("*.pid"))


def test_up_without_prometheus_says_so(tmp_path):
    env = dict(os.environ, FLEETLAB_PROMETHEUS="/nonexistent/prometheus", FLEETLAB_NO_API="1")
    res = subprocess.run([sys.executable, str(FLEETLAB), "up", "--workdir", str(tmp_path / "lab"), "--clusters", "1"],
                         capture_output=True, text=True, env=env, timeout=60, check=False)
    assert res.returncode != 0
    assert "prometheus not found" in res.stderr
    assert "apt-get install prometheus" in res.stderr
    assert _processes_mentioning(str(tmp_path / "lab")) == []
