"""The history store: records by cluster, each writer replacing only its own, under a lock, whole files only.

The concurrency tests run real processes (the slices of an AWX job are separate ansible-playbook
processes) on one history file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import history_store
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import report

ROUNDS = 150

# one slice: ROUNDS reports of its own clusters through report.update_history (the real writer)
SLICE_WRITER = r'''
import datetime, os, sys, time
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import report
path, start_flag, rounds, clusters = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split(",")
while not os.path.exists(start_flag):
    time.sleep(0.001)
base = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)
for i in range(rounds):
    at = (base + datetime.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc = {"generated_at": at, "clusters": {c: {"facts": {"wal_bytes": i, "active_series": len(c)}} for c in clusters}}
    report.update_history(path, doc, max_points=10 * rounds)
'''

# a writer that never stops (killed by the test): big records, so a kill lands inside a write
ENDLESS_WRITER = r'''
import sys
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import history_store
path = sys.argv[1]
i = 0
while True:
    i += 1
    history_store.update(path, {"c%d" % n: {"round": i, "pad": "x" * 20000} for n in range(20)})
    print(i, flush=True)
'''


def _python(code, *args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    return subprocess.Popen([sys.executable, "-c", code] + [str(a) for a in args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_concurrent_slices_lose_nothing(tmp_path):
    path = tmp_path / "reports" / "fleet-history.json"
    flag = tmp_path / "go"
    history_store.update(str(path), {"earlier-cluster": [{"time": 1.0, "wal_bytes": 5}]})
    slices = [["s1-a", "s1-b", "s1-c"], ["s2-a", "s2-b", "s2-c"]]
    procs = [_python(SLICE_WRITER, path, flag, ROUNDS, ",".join(clusters)) for clusters in slices]
    time.sleep(0.5)
    flag.write_text("go")
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    history = json.loads(path.read_text())
    # every round of both slices is there: a lost update would drop the other slice's points
    for clusters in slices:
        for name in clusters:
            assert [p["wal_bytes"] for p in history[name]] == list(range(ROUNDS)), name
    # a cluster no slice ran keeps its record untouched
    assert history["earlier-cluster"] == [{"time": 1.0, "wal_bytes": 5}]
    assert os.path.exists(history_store.lock_path(str(path)))
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]


def test_a_killed_writer_leaves_a_whole_file(tmp_path):
    path = tmp_path / "fleet-history.json"
    for _attempt in range(3):
        proc = _python(ENDLESS_WRITER, path)
        proc.stdout.readline()  # one update done, then more
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        records = json.loads(path.read_text())  # never half a file
        assert sorted(records) == sorted("c%d" % n for n in range(20))
        assert len({r["round"] for r in records.values()}) == 1  # one version, not a mix
    # the lock of the dead writer is gone: the next update does not wait
    started = time.monotonic()
    history_store.update(str(path), {"c0": None})
    assert time.monotonic() - started < 5
    assert "c0" not in history_store.load(str(path))


def test_update_replaces_only_the_keys_given(tmp_path):
    path = str(tmp_path / "h.json")
    history_store.update(path, {"a": [1], "b": [2], history_store.record_key("a", "agent-0"): {"n": 1}})
    after = history_store.update(path, {"b": [3]})
    assert after == {"a": [1], "b": [3], "a/agent-0": {"n": 1}}
    assert history_store.load(path) == after
    # a function of the current records runs under the lock (read-modify-write of one key)
    history_store.update(path, lambda current: {"b": current["b"] + [4]})
    assert history_store.load(path)["b"] == [3, 4]
    history_store.update(path, {"a": None})
    assert "a" not in history_store.load(path)


def test_keys_by_cluster_and_pod():
    assert history_store.record_key("prod-1") == "prod-1"
    assert history_store.record_key("prod-1", "prometheus-agent-0") == "prod-1/prometheus-agent-0"
    assert history_store.cluster_of("prod-1/prometheus-agent-0") == "prod-1"
    records = {"prod-1": 1, "prod-1/p0": 2, "prod-10": 3, "prod-2": 4}
    assert history_store.records_of(records, ["prod-1"]) == {"prod-1": 1, "prod-1/p0": 2}


def test_unreadable_files_read_as_empty(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": [1')
    assert history_store.load(str(bad)) == {}
    bad.write_text('[1, 2]')
    assert history_store.load(str(bad)) == {}
    assert history_store.load(str(tmp_path / "missing.json")) == {}
    # a corrupt file is replaced by a whole one on the next update
    history_store.update(str(bad), {"x": 1})
    assert history_store.load(str(bad)) == {"x": 1}


def test_report_history_of_a_slice_keeps_the_other_slices(tmp_path):
    path = str(tmp_path / "fleet-history.json")
    first = {"generated_at": "2026-12-01T06:00:00Z", "clusters": {"a": {"facts": {"wal_bytes": 1}}, "b": {"facts": {"wal_bytes": 2}}}}
    report.update_history(path, first)
    second = {"generated_at": "2026-12-02T06:00:00Z", "clusters": {"b": {"facts": {"wal_bytes": 3}}}}
    history = report.update_history(path, second)
    assert [p["wal_bytes"] for p in history["a"]] == [1]
    assert [p["wal_bytes"] for p in history["b"]] == [2, 3]
    assert report.load_history(path) == history
