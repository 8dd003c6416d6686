"""logs.py: line formats (CRI, pods/log timestamps, logfmt 2.x, slog 3.x, JSON, panics), patterns, LOGS, state file."""

from __future__ import annotations

import json

import pytest

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import units
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import logs

T = "2026-11-24T08:00:%02d.123456789Z"


def cri(sec, line):
    return "%s stderr F %s" % (T % sec, line)


def kube(sec, line):
    return "%s %s" % (T % sec, line)


REPAIR_242 = [
    'ts=2026-11-24T08:00:01.000Z caller=db.go:356 level=info msg="Replaying WAL, this may take a while" dir=/prometheus/wal',
    'ts=2026-11-24T08:00:02.000Z caller=db.go:402 level=warn msg="encountered WAL read error, attempting repair" '
    'err="corruption in segment /prometheus/wal/00000001 at 65536: unexpected checksum 54903dbc, expected c5332ad1"',
    'ts=2026-11-24T08:00:02.000Z caller=wlog.go:415 level=warn msg="Starting corruption repair" segment=1 offset=65536',
    'ts=2026-11-24T08:00:02.000Z caller=wlog.go:423 level=warn msg="Deleting all segments newer than corrupted segment" segment=1',
    'ts=2026-11-24T08:00:02.000Z caller=wlog.go:445 level=warn msg="Rewrite corrupted segment" segment=1',
    'ts=2026-11-24T08:00:03.000Z caller=db.go:410 level=info msg="successfully repaired WAL"',
]
OUTAGE = ('ts=2026-11-24T08:00:10.000Z caller=dedupe.go:112 component=remote level=warn remote_name=thanos-receive '
          'url=http://127.0.0.1:23246/api/v1/write msg="Failed to send batch, retrying" '
          'err="Post \\"http://127.0.0.1:23246/api/v1/write\\": dial tcp 127.0.0.1:23246: connect: connection refused"')
RELOAD = ('ts=2026-11-24T08:00:20.000Z caller=main.go:1202 level=error msg="Failed to apply configuration" '
          'err="couldn\'t load configuration (--config.file=\\"/etc/prometheus.yml\\"): field foo not found"')
RELOAD_2 = 'ts=2026-11-24T08:00:20.000Z caller=main.go:947 level=error msg="Error reloading config" err="one or more errors occurred"'


def test_wal_repair_sequence_cri_is_critical():
    text = "\n".join(cri(i, line) for i, line in enumerate(REPAIR_242)) + "\n"
    summary = logs.scan(text)
    assert summary["counts"]["wal_corruption"] == 1      # the read error with the corruption
    assert summary["counts"]["wal_repair"] == 4          # starting, deleting, rewrite, successfully repaired (info)
    assert summary["counts"]["other"] == 0
    assert summary["warning_lines"] == 4 and summary["error_lines"] == 0
    check = logs.check_logs(summary, "in the whole log:")
    assert check["status"] == "critical" and "repaired" in check["message"]
    assert summary["last_timestamp"].startswith("2026-11-24T08:00:05")
    assert "unexpected checksum" in summary["examples"]["wal_corruption"][0]


def test_receiver_outage_line_is_remote_write_warning():
    summary = logs.scan(kube(10, OUTAGE) + "\n")
    assert summary["counts"]["remote_write_failure"] == 1
    check = logs.check_logs(summary, "since x:")
    assert check["status"] == "warning" and "remote_write_failure 1" in check["message"]


@pytest.mark.parametrize("line", [RELOAD, RELOAD_2,
                                  'time=2026-11-24T08:00:20.000Z level=ERROR source=main.go:1291 msg="Error reloading config" '
                                  'err="parsing YAML file"',
                                  '{"caller":"main.go:947","level":"error","msg":"Error reloading config","ts":"2026-11-24T08:00:20Z"}'])
def test_config_reload_failure_any_format_is_critical(line):
    summary = logs.scan(line + "\n")
    assert summary["counts"]["config_reload_failure"] == 1, summary
    assert logs.check_logs(summary, "x")["status"] == "critical"


def test_3x_slog_levels_and_patterns():
    text = "\n".join([
        'time=2026-11-24T08:00:00.000Z level=INFO source=main.go:1 msg="Server is ready to receive web requests."',
        'time=2026-11-24T08:00:01.000Z level=WARN source=scrape.go:1 msg="Error on ingesting out-of-order samples" num_dropped=5',
        'time=2026-11-24T08:00:02.000Z level=WARN source=scrape.go:1 msg="Error on ingesting samples with different value but '
        'same timestamp" num_dropped=2',
        'time=2026-11-24T08:00:03.000Z level=ERROR source=db.go:1 msg="truncate WAL" err="create checkpoint: write: no space"',
        'time=2026-11-24T08:00:04.000Z level=ERROR source=db.go:1 msg="Failed to truncate WAL" err="truncate segments"',
        'time=2026-11-24T08:00:05.000Z level=WARN source=scrape.go:1 msg="Scrape commit failed" err="write to WAL: no space left on device"',
        'time=2026-11-24T08:00:06.000Z level=WARN source=x.go:1 msg="something unexpected"',
    ]) + "\n"
    summary = logs.scan(text)
    c = summary["counts"]
    assert c["out_of_order"] == 1 and c["duplicate_samples"] == 1 and c["checkpoint_failure"] == 1
    assert c["truncation_failure"] == 1 and c["disk_full"] == 1 and c["other"] == 1
    assert summary["error_lines"] == 2 and summary["warning_lines"] == 4 and summary["lines_scanned"] == 7
    assert logs.check_logs(summary, "x")["status"] == "warning"


def test_info_only_is_ok_and_unclassified_warn_is_ok():
    info = 'ts=2026-11-24T08:00:00.000Z caller=main.go:1 level=info msg="Server is ready to receive web requests."\n'
    summary = logs.scan(info * 5)
    assert logs.check_logs(summary, "x")["status"] == "ok" and summary["lines_scanned"] == 5
    warn = 'ts=2026-11-24T08:00:00.000Z caller=main.go:1 level=warn msg="something odd"\n'
    assert logs.check_logs(logs.scan(warn), "x")["status"] == "ok"


def test_free_text_errors_crashloop_and_panic():
    text = "\n".join([
        cri(1, "prometheus: error: unknown long flag '--bogus', try --help"),
        cri(2, "panic: runtime error: invalid memory address or nil pointer dereference"),
        cri(3, "goroutine 1 [running]:"),
        cri(4, "main.main()"),
    ])
    summary = logs.scan(text)
    assert summary["error_lines"] == 2 and summary["counts"]["other"] == 2
    assert logs.check_logs(summary, "x")["status"] == "warning"


def test_since_and_after_filtering():
    text = "\n".join(kube(i, 'ts=x level=error msg="boom %d"' % i) for i in range(10))
    base = units.parse_since("2026-11-24T08:00:05Z")
    assert logs.scan(text, since=base)["error_lines"] == 5            # 05.12 .. 09.12
    assert logs.scan(text, after=units.parse_since(T % 5))["error_lines"] == 4   # strictly after 05.123456789
    assert logs.scan(text, examples=2)["examples"]["other"] == [
        'ts=x level=error msg="boom 0"', 'ts=x level=error msg="boom 1"']


def test_state_file_roundtrip(tmp_path):
    path = str(tmp_path / "sub" / "state.json")
    assert logs.load_state(path, "a") is None
    assert logs.save_state(path, "a", 1795500000.5)
    logs.save_state(path, "b", 1795500100.0)
    assert logs.load_state(path, "a") == pytest.approx(1795500000.5)
    assert logs.load_state(path, "b") == 1795500100.0
    doc = json.loads(open(path).read())
    assert set(doc["targets"]) == {"a", "b"}
    (tmp_path / "junk.json").write_text("not json")
    assert logs.load_state(str(tmp_path / "junk.json"), "a") is None


def test_hostile_input():
    text = "\x00\x01garbage\n" + "=" * 10000 + "\n" + 'level="unterminated msg=x\n' + "\ufffd\ufffd level=error msg=\"bad bytes\"\n"
    summary = logs.scan(text)
    json.dumps(summary)
    assert summary["error_lines"] >= 1
    assert all(len(x) <= logs.MAX_EXAMPLE_CHARS for v in summary["examples"].values() for x in v)


class PodsLogTarget:
    """An agent of three pods through Kubernetes, each with its own log (an exception: its log cannot be read)."""

    kind = "kubernetes"
    namespace = "monitoring"
    cluster = "fake"
    label_selector = "operator.prometheus.io/name=lab-1"

    def __init__(self, logs_by_pod, pinned=None):
        self.logs_by_pod = logs_by_pod
        self.pinned = pinned

    @property
    def pod_name(self):
        return self.pinned or sorted(self.logs_by_pod)[0]

    def describe(self):
        return "cluster fake pod monitoring/%s" % self.pod_name

    def pods(self):
        return [{"metadata": {"name": name}} for name in sorted(self.logs_by_pod)]

    def for_pod(self, name):
        return PodsLogTarget(self.logs_by_pod, name)

    def logs(self, since_time=None, tail_lines=None, timestamps=True, previous=False):
        found = self.logs_by_pod[self.pod_name]
        if isinstance(found, Exception):
            raise found
        return found


def test_every_pods_log_read_the_bad_one_named_and_each_its_own_state(tmp_path):
    from ansible_collections.fleetops.prometheus_agent.plugins.module_utils import runners
    from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import TargetUnreachable
    from ansible_collections.fleetops.prometheus_agent.plugins.modules import agent_logs

    quiet = "\n".join(kube(s, 'ts=2026-11-24T08:00:%02d.000Z level=info msg="Server is ready"' % s) for s in (1, 2)) + "\n"
    target = PodsLogTarget({"agent-0": quiet, "agent-1": kube(20, RELOAD) + "\n" + kube(21, OUTAGE) + "\n",
                            "agent-2": TargetUnreachable("cluster fake: the log of agent-2 could not be read")})
    state = tmp_path / "logs-state.json"
    params = {k: v.get("default") for k, v in agent_logs.argument_spec().items()}
    params.update(since="2026-11-24T07:00:00Z", state_file=str(state), examples=2)
    result = runners.run_agent_logs(params, target)
    logs_check = result["checks"][0]
    assert [c["id"] for c in result["checks"]] == ["LOGS"] and result["status"] == "critical" == logs_check["status"]
    assert logs_check["message"].startswith("2 of 3 pods: agent-1: since "), logs_check
    assert "config_reload_failure 1" in logs_check["message"] and "agent-2: cluster fake: the log of agent-2 could not be read" in logs_check["message"]
    assert "agent-0" not in logs_check["message"]
    assert result["pod_count"] == 3 and [p["name"] for p in result["pods"]] == ["agent-0", "agent-1", "agent-2"]
    assert [p["status"] for p in result["pods"]] == ["ok", "critical", "unknown"]
    assert result["counts"]["config_reload_failure"] == 1 and result["counts"]["remote_write_failure"] == 1
    assert result["lines_scanned"] == 4 and result["examples"]["config_reload_failure"][0].startswith("agent-1: ")
    assert result["target"] == "cluster fake pods monitoring/(operator.prometheus.io/name=lab-1): 3 pods"
    # each pod has its own place in the state file; the next run starts after each pod's own last line
    kept = json.loads(state.read_text())["targets"]
    assert sorted(kept) == ["cluster fake pod monitoring/agent-0", "cluster fake pod monitoring/agent-1"], kept
    again = runners.run_agent_logs(params, target)
    assert again["since_from"] == "state_file" and again["lines_scanned"] == 0, again
