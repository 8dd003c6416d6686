"""wal_inspect's runner (runners.run_wal_inspect, what the module returns) without an Ansible
process: location choice, local and pod runs (the pod through a fake target that runs the commands
on this machine), unknown results."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import errors

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils import runners
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal import reader as wal_reader
from ansible_collections.fleetops.prometheus_agent.plugins.modules import wal_inspect

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "wal"
REAL = FIXTURES / "real-2.42"
sys.path.insert(0, str(FIXTURES))

import walgen  # noqa: E402  pylint: disable=wrong-import-position


def run(target=None, **options):
    """What the module returns for ``options`` (the other options at their defaults)."""
    return runners.run_module("wal_inspect", _params(**options), target=target)


def _params(**options):
    """wal_inspect's options: ``options``, the others at their defaults."""
    params = {k: v.get("default") for k, v in wal_inspect.argument_spec().items()}
    params.update(options)
    return params


class FakeTarget:
    """A pod whose container is this machine."""

    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail
        self.namespace = "monitoring"
        self.pod_ref = "prom-agent-test-0"

    def exec(self, argv, timeout=None):
        self.calls.append(argv)
        if self.fail:
            raise self.fail
        proc = subprocess.run(argv, capture_output=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    def exec_stream(self, argv, chunk_size=None):
        self.calls.append(argv)
        if self.fail:
            raise self.fail
        with subprocess.Popen(argv, stdout=subprocess.PIPE) as proc:
            while True:
                data = proc.stdout.read(chunk_size or 65536)
                if not data:
                    break
                yield data


@pytest.fixture
def walcopy(tmp_path):
    d = tmp_path / "wal"
    shutil.copytree(REAL, d)
    return d


def by_id(res):
    return {c["id"]: c for c in res["checks"]}


def test_choose_location():
    choose = wal_reader.choose_location
    assert choose({"location": "pod"}, environ={}, home="/nonexistent") == "pod"
    assert choose({"location": "auto", "url": "http://vm:9090"}, environ={"KUBECONFIG": "x"}, home="/nonexistent") == "local"
    assert choose({"location": "auto", "context": "prod"}, environ={}, home="/nonexistent") == "pod"
    assert choose({"location": "auto"}, environ={"K8S_AUTH_KUBECONFIG": "/k"}, home="/nonexistent") == "pod"
    assert choose({"location": "auto"}, environ={}, home="/nonexistent") == "local"


def test_local_full_with_preview(walcopy):
    res = run(path=str(walcopy), location="local", verify="full", repair_preview=True, agent_running=False)
    assert res["status"] in ("ok", "warning", "critical")  # WAL-ROTATION depends on the files' age here
    assert by_id(res)["WAL-HEALTH"]["status"] == "ok"
    assert res["wal"]["corruptions"] == [] and res["wal"]["compression"] == "snappy"
    assert res["repair_preview"]["needed"] is False
    assert res["changed"] is False and res["location"] == "local"


def test_local_corrupt_is_critical(walcopy):
    seg = sorted(p for p in walcopy.iterdir() if p.name.isdigit())[0]
    frag = next(off for off, typ, n in walgen.read_fragments(seg) if typ & 7 == 1 and n > 20)
    walgen.flip_byte(seg, frag + 7 + 1)
    res = run(path=str(walcopy), location="local", verify="full", repair_preview=True)
    assert res["status"] == "critical"
    assert res["wal"]["corruptions"][0]["segment"] == seg.name
    assert res["repair_preview"]["would_truncate"]["segment"] == seg.name


def test_local_verify_none_still_names_compression(walcopy):
    res = run(path=str(walcopy), location="local")
    assert res["wal"]["compression"] == "snappy" and res["wal"]["verified_bytes"] == 0
    assert by_id(res)["WAL-HEALTH"]["value"] is None


def test_local_missing_path_is_unknown(tmp_path):
    res = run(path=str(tmp_path / "nope"), location="local", verify="full")
    assert res["status"] == "unknown" and "nope" in res["reason"]
    assert [c["status"] for c in res["checks"]] == ["unknown"] * 4


def test_pod_mode_through_exec(walcopy, monkeypatch):
    target = FakeTarget()
    made = []
    # without a target the runner makes the pod's from the Kubernetes options (url left out)
    monkeypatch.setattr(runners, "target_from_params", lambda params, deadline=None: made.append(params) or target)
    res = run(path=str(walcopy), location="pod", verify="tail", repair_preview=True, url="http://vm:9090")
    assert made and made[0]["url"] is None
    assert res["location"] == "pod" and res["pod"] == "monitoring/prom-agent-test-0"
    assert res["wal"]["verified_bytes"] > 0 and res["wal"]["corruptions"] == []
    assert res["wal"]["verify"]["agent_running"] is True
    assert res["volume"]["capacity"] > 0
    assert [c[0] for c in target.calls] == ["sh"]     # the listing and both files: one exec
    res = run(path=str(walcopy), location="pod", target=target)
    assert res["wal"]["compression"] == "snappy"


def test_pod_mode_missing_dir_and_unreachable(tmp_path):
    res = run(path=str(tmp_path / "nope"), location="pod", target=FakeTarget())
    assert res["status"] == "unknown" and "not found" in res["reason"]
    fail = errors.TargetUnreachable("connection refused")
    res = run(location="pod", target=FakeTarget(fail=fail))
    assert res["status"] == "unknown" and "connection refused" in res["reason"]


def no_library():
    raise errors.MissingLibrary("kubernetes")


def test_pod_target_that_cannot_be_made_is_unknown():
    def no_cluster():
        raise errors.TargetConfigError("cannot load the kubeconfig (context nowhere)")
    res = run(location="pod", target=no_cluster)
    assert res["status"] == "unknown" and "context nowhere" in res["reason"] and res["changed"] is False
    with pytest.raises(errors.MissingLibrary):
        run(location="pod", target=no_library)


def test_pod_stream_broken_midway(walcopy):
    class Broken(FakeTarget):
        def exec_stream(self, argv, chunk_size=None):
            if argv[0] == "sh":     # the listing arrives; a segment's stream breaks
                yield from super().exec_stream(argv, chunk_size)
                return
            yield b"\x00" * 10
            raise errors.TargetUnreachable("stream reset")

    res = run(path=str(walcopy), location="pod", verify="full", target=Broken())
    health = by_id(res)["WAL-HEALTH"]
    assert health["status"] == "unknown" and "stream reset" in health["message"]
    assert res["wal"]["segment_count"] > 0


# ------------------------------------------------------------------ FlatStream: exec WebSocket frames read off the socket

def _frame(opcode, payload, fin=True):
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + n.to_bytes(2, "big")
    else:
        head += bytes([127]) + n.to_bytes(8, "big")
    return head + payload


class FakeRaw:
    def __init__(self, data, step):
        self.data = data
        self.pos = 0
        self.step = step

    def settimeout(self, _t):
        pass

    def recv_into(self, view):
        n = min(len(view), self.step, len(self.data) - self.pos)
        view[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


class FakeClient:
    def __init__(self, raw):
        self.sock = type("S", (), {"sock": raw, "pong": lambda self, _d: None})()
        self.closed = False

    def close(self):
        self.closed = True


class KubeLikeTarget:
    """A pod target whose exec WebSocket is ``client`` (what ``KubeTarget.open_exec`` returns)."""
    namespace = "monitoring"
    pod_name = "prom-agent-x-0"
    container = "prometheus"
    timeout = 5

    def __init__(self, client):
        self.client = client

    def open_exec(self, argv, binary=True):
        assert binary and argv
        return self.client


@pytest.mark.parametrize("step", [1, 7, 4096, 1 << 20])
def test_flat_stream_frames(step):
    big = bytes(range(256)) * 300            # 76,800 bytes: a 64-bit length frame
    stream = (_frame(2, b"\x01hello ") + _frame(2, b"\x01" + big) + _frame(9, b"") + _frame(2, b"\x02warn", fin=True)
              + _frame(2, b"\x01part1-", fin=False) + _frame(0, b"part2") + _frame(2, b"\x03" + b'{"status":"Success"}')
              + _frame(8, b"\x03\xe8"))
    client = FakeClient(FakeRaw(stream, step))
    out = b"".join(wal_reader.FlatStream(KubeLikeTarget(client)).exec_stream(["cat", "x"]))
    assert out == b"hello " + big + b"part1-part2"
    assert client.closed


def test_flat_stream_nonzero_exit():
    status = b'{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"1"}]}}'
    stream = _frame(2, b"\x02cat: x: No such file or directory\n") + _frame(2, b"\x03" + status) + _frame(8, b"")
    with pytest.raises(errors.FleetopsError) as err:
        list(wal_reader.FlatStream(KubeLikeTarget(FakeClient(FakeRaw(stream, 100)))).exec_stream(["cat", "x"]))
    assert "No such file" in str(err.value) and "exited 1" in str(err.value)


def test_flat_stream_truncated_frame():
    stream = _frame(2, b"\x01" + b"x" * 1000)[:500]
    with pytest.raises(errors.TargetUnreachable):
        list(wal_reader.FlatStream(KubeLikeTarget(FakeClient(FakeRaw(stream, 100)))).exec_stream(["cat", "x"]))


def _odd_files(walcopy):
    """A named pipe and a symbolic link loop under the next two segment names after the real ones:
    (the real segments' names, the pipe's, the loop's)."""
    real = sorted(p.name for p in walcopy.iterdir() if p.name.isdigit())
    fifo, loop = "%08d" % (int(real[-1]) + 1), "%08d" % (int(real[-1]) + 2)
    os.mkfifo(walcopy / fifo)          # opening it would wait for a writer for ever
    (walcopy / loop).symlink_to(loop)
    return real, fifo, loop


@pytest.mark.parametrize("verify", ["tail", "full"])
def test_a_fifo_and_a_symlink_loop_are_named_not_opened_and_the_rest_is_read(walcopy, verify):
    real, fifo, loop = _odd_files(walcopy)
    started = time.monotonic()
    res = run(path=str(walcopy), location="local", verify=verify, timeout=5)
    assert time.monotonic() - started < 5, "a named pipe in the WAL directory must not be opened"
    checks = by_id(res)
    health = checks["WAL-HEALTH"]
    # the WAL cannot be verified as a whole: WAL-HEALTH unknown, saying why in a sentence
    assert health["status"] == "unknown" and ("%s is a named pipe (FIFO), not a regular file: not opened" % fifo) in health["message"]
    assert "Traceback" not in json.dumps(res) and "Errno" not in health["message"], health
    assert "symbolic link loop" in json.dumps(res["wal"]), res["wal"]
    # the rest of the gathering is kept: size, volume and rotation judged from the real segments
    assert [checks[c]["status"] != "unknown" for c in ("WAL-SIZE", "PVC", "WAL-ROTATION")] == [True] * 3, res["checks"]
    assert res["wal"]["segment_count"] >= len(real), res["wal"]


def test_a_fifo_and_a_symlink_loop_through_the_pod(walcopy):
    _real, fifo, _loop = _odd_files(walcopy)
    started = time.monotonic()
    res = run(target=FakeTarget(), path=str(walcopy), location="pod", verify="full", timeout=10)
    assert time.monotonic() - started < 10
    checks = by_id(res)
    assert "Traceback" not in json.dumps(res) and checks["WAL-SIZE"]["status"] != "unknown", res["checks"]
    assert checks["WAL-HEALTH"]["status"] == "unknown" and fifo in checks["WAL-HEALTH"]["message"], checks["WAL-HEALTH"]


class ShardedTarget(FakeTarget):
    """An agent of several pods, each pod's container this machine with a WAL of its own: ``for_pod``
    pins a target whose commands read that pod's copy (its path in place of ``path``). Each pod's
    first command (the listing) waits for the other pods' at a barrier, so a reading of one pod after
    the other fails with BrokenBarrierError instead of passing."""

    def __init__(self, path, dirs, barrier=None):
        super().__init__()
        self.path, self.dirs, self.barrier = str(path), dirs, barrier

    def pods(self):
        return [{"metadata": {"name": name, "labels": {"operator.prometheus.io/shard": str(i)}}}
                for i, name in enumerate(self.dirs)]

    def for_pod(self, name):
        return PinnedPod(self, name)


class PinnedPod(FakeTarget):
    def __init__(self, agent, name):
        super().__init__()
        self.agent, self.pod_ref, self.listed = agent, name, False

    def _argv(self, argv):
        return [a.replace(self.agent.path, str(self.agent.dirs[self.pod_ref])) for a in argv]

    def exec(self, argv, timeout=None):
        if not self.listed and self.agent.barrier is not None:
            self.listed = True
            self.agent.barrier.wait()
        return super().exec(self._argv(argv), timeout)

    def exec_stream(self, argv, chunk_size=None):
        return super().exec_stream(self._argv(argv), chunk_size)


def test_every_pod_is_read_at_the_same_time_and_reported_in_order(walcopy, tmp_path):
    import threading  # pylint: disable=import-outside-toplevel
    dirs = {}
    for name in ("prom-agent-a-0", "prom-agent-a-shard-1-0", "prom-agent-a-shard-2-0"):
        dirs[name] = tmp_path / name
        shutil.copytree(walcopy, dirs[name])
    seg = sorted(p for p in dirs["prom-agent-a-shard-1-0"].iterdir() if p.name.isdigit())[0]
    frag = next(off for off, typ, n in walgen.read_fragments(seg) if typ & 7 == 1 and n > 20)
    walgen.flip_byte(seg, frag + 7 + 1)
    target = ShardedTarget("/prometheus/wal", dirs, barrier=threading.Barrier(3, timeout=10))
    res = run(path="/prometheus/wal", location="pod", verify="full", target=target)
    assert [p["name"] for p in res["pods"]] == list(dirs)
    assert [p["shard"] for p in res["pods"]] == ["0", "1", "2"]
    assert [by_id(p)["WAL-HEALTH"]["status"] for p in res["pods"]] == ["ok", "critical", "ok"]
    assert [p["status"] for p in res["pods"]][1] == "critical"
    health = by_id(res)["WAL-HEALTH"]
    assert health["status"] == "critical" and health["message"].startswith("1 of 3 pods: prom-agent-a-shard-1-0"), health
    assert res["pod"] == "prom-agent-a-shard-1-0"


def test_one_pod_at_a_time_when_asked(walcopy, tmp_path):
    dirs = {name: tmp_path / name for name in ("p-0", "p-1")}
    for path in dirs.values():
        shutil.copytree(walcopy, path)
    target = ShardedTarget("/prometheus/wal", dirs)
    res = wal_reader.inspect_pods(_params(path="/prometheus/wal", verify="tail"), target, target.pods(), workers=1)
    assert [p["name"] for p in res["pods"]] == ["p-0", "p-1"], res
    assert [by_id(p)["WAL-HEALTH"]["status"] for p in res["pods"]] == ["ok", "ok"], res
