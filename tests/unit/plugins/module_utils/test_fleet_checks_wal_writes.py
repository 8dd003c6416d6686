"""WAL-HEALTH of the daily evaluation from what the WAL verifier cannot see: failed WAL writes
(agent_status's ``wal`` counters, read from the real 2.42 agent page), ``no space left on device``
log lines (agent_logs) and a WAL volume at or near 100% (wal_inspect's ``volume``)."""

from __future__ import annotations

from conftest import CAPTURES  # pylint: disable=import-error

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import agent_health as ah
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import checks
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import fleet_checks as fc
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import logs as logmod

NOW = 1795503190.0
START = 1795503108.72   # process_start_time_seconds of the capture
GI = 1024 ** 3
ENDPOINTS = {
    "/-/healthy": "ep_-_healthy.txt",
    "/-/ready": "ep_-_ready.txt",
    "/metrics": "agent_metrics.txt",
    "/api/v1/status/buildinfo": "ep_api_v1_status_buildinfo.txt",
    "/api/v1/status/flags": "ep_api_v1_status_flags.txt",
    "/api/v1/targets": "ep_api_v1_targets.txt",
}
# what a 2.42 agent logs when its volume is full (the scrape loop's commit, the WAL's page flush)
DISK_FULL_LOG = "\n".join([
    '2026-11-24T08:00:01.000000001Z stderr F ts=2026-11-24T08:00:01.000Z caller=scrape.go:1237 level=warn component="scrape manager" '
    'scrape_pool=node target=http://127.0.0.1:9100/metrics msg="Scrape commit failed" '
    'err="write to WAL: log samples: write /prometheus/wal/00000003: no space left on device"',
    '2026-11-24T08:00:16.000000001Z stderr F ts=2026-11-24T08:00:16.000Z caller=scrape.go:1237 level=warn component="scrape manager" '
    'scrape_pool=agent target=http://127.0.0.1:9090/metrics msg="Scrape commit failed" '
    'err="write to WAL: log series: write /prometheus/wal/00000003: no space left on device"',
    '2026-11-24T08:00:20.000000001Z stderr F ts=2026-11-24T08:00:20.000Z caller=main.go:1 level=info msg="Server is ready to receive web requests."',
])


class PageTarget:
    """A direct target answering from the real captures, /metrics with some lines replaced."""

    kind = "direct"

    def __init__(self, replace=None):
        self.replace = replace or {}

    def describe(self):
        return "agent http://fake:9090"

    def http_get(self, path, timeout=None):
        body = (CAPTURES / ENDPOINTS[path]).read_text()
        if path == "/metrics":
            for old, new in self.replace.items():
                assert old in body, old
                body = body.replace(old, new)
        return 200, body.encode()


def failing_page(writes=17, checkpoints=0):
    return {"prometheus_tsdb_wal_writes_failed_total 0": "prometheus_tsdb_wal_writes_failed_total %d" % writes,
            "prometheus_agent_checkpoint_creations_failed_total 0": "prometheus_agent_checkpoint_creations_failed_total %d" % checkpoints}


def logs_result(text):
    summary = logmod.scan(text)
    summary.pop("last_epoch")
    return dict(summary, status="ok", checks=[logmod.check_logs(summary, "in the whole log:")])


def volume(used_ratio, capacity=50 * GI, available=None):
    used = int(capacity * used_ratio)
    return {"capacity": capacity, "used": used, "available": capacity - used if available is None else available,
            "used_ratio": round(used_ratio, 4)}


def wal_result(vol):
    return {"status": "ok", "volume": vol, "wal": {"size_bytes": 5e6, "segment_count": 3},
            "checks": [{"id": "WAL-SIZE", "status": "ok", "value": 5e6, "threshold": None, "message": "WAL is 4.8 MiB"},
                       {"id": "WAL-HEALTH", "status": "ok", "value": 0, "threshold": None,
                        "message": "no corruption in 4.8 MiB of WAL verified (tail)"}]}


def daily(agent, logs, wal):
    results = {"agent_status": agent, "agent_logs": logs, "wal_inspect": wal,
               "remote_write_stats": {"status": "ok", "checks": [], "queues": []}}
    return {c["id"]: c for c in fc.evaluate("daily", results)["checks"]}


# ----------------------------------------------------------------------------- agent_status's wal counters

def test_wal_counters_of_the_real_page_are_all_zero():
    res = ah.gather(PageTarget(), now=NOW)
    wal = res["wal"]
    assert wal["counters"] == {"writes_failed_total": 0, "truncations_failed_total": 0, "checkpoint_creations_failed_total": 0,
                               "checkpoint_deletions_failed_total": 0, "corruptions_total": 0,
                               "reader_corruption_errors_total": None}
    assert wal["basis"] == "since the agent started" and wal["increase"]["writes_failed_total"] == 0
    assert res["snapshot"]["wal_counters"] == wal["counters"]


def test_wal_counters_increase_since_the_baseline_of_the_same_process():
    first = ah.gather(PageTarget(failing_page(writes=5)), now=NOW - 60)
    res = ah.gather(PageTarget(failing_page(writes=17, checkpoints=1)), now=NOW, baseline=first["snapshot"])
    assert res["wal"]["counters"]["writes_failed_total"] == 17
    assert res["wal"]["increase"]["writes_failed_total"] == 12
    assert res["wal"]["increase"]["checkpoint_creations_failed_total"] == 1
    assert res["wal"]["basis"] == "since the baseline" and res["wal"]["window_seconds"] == 60
    # the agent restarted since the baseline: the counters count from its start
    restarted = dict(first["snapshot"], start_time=START - 3600)
    res = ah.gather(PageTarget(failing_page(writes=3)), now=NOW, baseline=restarted)
    assert res["wal"]["increase"]["writes_failed_total"] == 3 and res["wal"]["basis"] == "since the agent started"


def test_agent_mode_variant_names_are_read():
    page = {"prometheus_tsdb_wal_writes_failed_total 0": "prometheus_agent_wal_writes_failed_total 4"}
    res = ah.gather(PageTarget(page), now=NOW)
    assert res["wal"]["counters"]["writes_failed_total"] == 4


# ----------------------------------------------------------------------------- the daily WAL-HEALTH

def test_disk_full_is_critical_with_the_action():
    """The known miss: volume 100% used, every write failing; the verifier alone said ok."""
    agent = ah.gather(PageTarget(failing_page(writes=17)), now=NOW)
    checks_ = daily(agent, logs_result(DISK_FULL_LOG), wal_result(volume(1.0, available=0)))
    wal = checks_["WAL-HEALTH"]
    assert wal["status"] == "critical", wal
    assert "full" in wal["message"] and "grow the PVC" in wal["message"] and "free space" in wal["message"]
    assert "17 WAL write(s) failed since the agent started" in wal["message"]
    assert "2 'no space left on device' log line(s)" in wal["message"]
    assert wal["value"] == 1.0 and wal["threshold"]["volume_critical"] == 0.99


def test_failed_writes_with_no_space_lines_are_critical_without_a_volume_reading():
    agent = ah.gather(PageTarget(failing_page(writes=3)), now=NOW)
    wal = fc.check_wal_writes(agent, logs_result(DISK_FULL_LOG), {"failed": True, "msg": "exec refused"}, fc.thresholds())
    assert wal["status"] == "critical" and "no space left on device" in wal["message"] and "samples are lost" in wal["message"]
    assert wal["value"] == 3


def test_failed_writes_alone_are_a_warning():
    agent = ah.gather(PageTarget(failing_page(writes=3)), now=NOW)
    wal = daily(agent, logs_result(""), wal_result(volume(0.2)))["WAL-HEALTH"]
    assert wal["status"] == "warning" and "3 WAL write(s) failed since the agent started" in wal["message"]
    assert "room again" in wal["message"]
    # the disk was full but has room again: a warning (samples were lost), not critical
    wal = daily(agent, logs_result(DISK_FULL_LOG), wal_result(volume(0.2)))["WAL-HEALTH"]
    assert wal["status"] == "warning" and "lost" in wal["message"]


def test_failed_checkpoints_are_a_warning():
    agent = ah.gather(PageTarget(failing_page(writes=0, checkpoints=2)), now=NOW)
    wal = daily(agent, logs_result(""), wal_result(volume(0.2)))["WAL-HEALTH"]
    assert wal["status"] == "warning" and "2 checkpoint creation(s) failed" in wal["message"]


def test_volume_near_full_is_a_warning_and_no_byte_free_is_critical():
    agent = ah.gather(PageTarget(), now=NOW)
    near = daily(agent, logs_result(""), wal_result(volume(0.96)))["WAL-HEALTH"]
    assert near["status"] == "warning" and "96.0% used" in near["message"] and "grow the PVC" in near["message"]
    # ext4 keeps 5% for root: 95% used with nothing free is full for the agent
    full = daily(agent, logs_result(""), wal_result(volume(0.95, available=0)))["WAL-HEALTH"]
    assert full["status"] == "critical"


def test_thresholds_are_the_evaluators_and_can_be_overridden():
    assert checks.DEFAULT_THRESHOLDS["wal_volume_critical"] == 0.99
    assert checks.ratio_full(0.5, 0, 0.95, 0.99) == "critical"
    assert checks.ratio_full(None, None, 0.95, 0.99) == "unknown"
    agent = ah.gather(PageTarget(), now=NOW)
    th = fc.thresholds({"wal_volume_warning": 0.97, "wal_volume_critical": "0.995"})
    assert fc.check_wal_writes(agent, logs_result(""), wal_result(volume(0.96)), th) is None
    assert fc.check_wal_writes(agent, logs_result(""), wal_result(volume(0.99)), th)["status"] == "warning"


def test_healthy_agent_adds_nothing():
    agent = ah.gather(PageTarget(), now=NOW)
    assert fc.check_wal_writes(agent, logs_result(DISK_FULL_LOG.splitlines()[-1]), wal_result(volume(0.3)), fc.thresholds()) is None
    wal = daily(agent, logs_result(""), wal_result(volume(0.3)))["WAL-HEALTH"]
    assert wal["status"] == "ok" and "verified" in wal["message"]
    # an agent_status without the wal facts (an older collection's result) is no error
    assert fc.check_wal_writes({"status": "ok", "checks": []}, {}, {}, fc.thresholds()) is None
