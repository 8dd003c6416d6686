"""remote_write.py: queues of every Prometheus version, rates from a baseline, the outage shape, checks."""

from __future__ import annotations

import json
import math

import pytest

from conftest import CAPTURES  # pylint: disable=import-error

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import exposition
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import remote_write as rw

URL = "http://recv:19291/api/v1/receive"
LBL = 'remote_name="thanos",url="%s"' % URL
T0 = 1795503000.0


def page_242(samples=10000, failed=0, retried=0, bytes_=200000, pending=100, sent_ts=T0, newest=T0, buckets=None,
             start=T0 - 3600, segment=3, watcher=3, desired=0.5, extra=""):
    """A 2.23+ page (2.42 names)."""
    buckets = buckets or {"0.005": 20, "0.01": 22, "0.1": 22, "1": 22, "2.5": 22, "+Inf": 22}
    lines = [
        "# TYPE prometheus_remote_storage_samples_total counter",
        "prometheus_remote_storage_samples_total{%s} %s" % (LBL, samples),
        "prometheus_remote_storage_samples_failed_total{%s} %s" % (LBL, failed),
        "prometheus_remote_storage_samples_retried_total{%s} %s" % (LBL, retried),
        "prometheus_remote_storage_samples_dropped_total{%s} 0" % LBL,
        "prometheus_remote_storage_bytes_total{%s} %s" % (LBL, bytes_),
        "prometheus_remote_storage_enqueue_retries_total{%s} 0" % LBL,
        "prometheus_remote_storage_samples_pending{%s} %s" % (LBL, pending),
        "prometheus_remote_storage_shards{%s} 1" % LBL,
        "prometheus_remote_storage_shards_min{%s} 1" % LBL,
        "prometheus_remote_storage_shards_max{%s} 50" % LBL,
        "prometheus_remote_storage_shards_desired{%s} %s" % (LBL, desired),
        "prometheus_remote_storage_shard_capacity{%s} 2500" % LBL,
        "prometheus_remote_storage_max_samples_per_send{%s} 500" % LBL,
        "prometheus_remote_storage_queue_highest_sent_timestamp_seconds{%s} %s" % (LBL, sent_ts),
        "prometheus_remote_storage_highest_timestamp_in_seconds %s" % newest,
        "prometheus_tsdb_wal_segment_current %s" % segment,
        'prometheus_wal_watcher_current_segment{consumer="thanos"} %s' % watcher,
        "process_start_time_seconds %s" % start,
    ]
    count = buckets["+Inf"]
    for le, n in buckets.items():
        lines.append('prometheus_remote_storage_sent_batch_duration_seconds_bucket{%s,le="%s"} %s' % (LBL, le, n))
    lines.append("prometheus_remote_storage_sent_batch_duration_seconds_sum{%s} %s" % (LBL, count * 0.002))
    lines.append("prometheus_remote_storage_sent_batch_duration_seconds_count{%s} %s" % (LBL, count))
    return "\n".join(lines) + "\n" + extra


def reading(text, now):
    return rw.read_queues(exposition.parse(text), now)


def by_id(checks):
    return {c["id"]: c for c in checks}


def roundtrip(obj):
    """What Ansible does to a snapshot registered and passed back: JSON, strictly."""
    return json.loads(json.dumps(obj, allow_nan=False))


# ----------------------------------------------------------------------------- the real capture

def test_capture_242_queue():
    metrics = exposition.parse((CAPTURES / "agent_metrics.txt").read_text())
    read = rw.read_queues(metrics, 1795503183.0)
    queues, window = rw.queue_figures(read)
    assert window is None
    assert len(queues) == 1
    q = queues[0]
    assert q["remote_name"] == "recv" and q["url"] == "http://127.0.0.1:19090/api/v1/write"
    assert q["pending_samples"] == 272 and q["capacity"] == 2500 and q["max_samples_per_send"] == 500
    assert q["shards"] == {"current": 1, "min": 1, "max": 200, "desired": 0.0006}
    assert q["lag_seconds"] == 0.0 and q["segments_behind"] == 0
    assert q["samples_per_second"] is None and q["success_ratio"] is None
    assert q["since_start"]["delivered"] == 10500 and q["since_start"]["success_ratio"] == 1.0
    assert 0.005 < q["send_latency_seconds"]["p99"] < 0.01
    assert q["send_latency_seconds"]["basis"] == "since_start"
    checks = by_id(rw.rw_checks(queues))
    assert list(checks) == list(rw.RW_CHECK_IDS)
    assert checks["RW-SUCCESS"]["status"] == "unknown" and "baseline" in checks["RW-SUCCESS"]["message"]
    assert checks["RW-RETRY"]["status"] == "unknown"
    for cid in ("RW-LAG", "RW-PENDING", "RW-SHARDS", "RW-LATENCY"):
        assert checks[cid]["status"] == "ok", checks[cid]
    roundtrip(read)
    roundtrip(queues)


def test_healthy_rates_with_baseline():
    first = roundtrip(reading(page_242(samples=10000, bytes_=200000), T0))
    second = reading(page_242(samples=16000, bytes_=320000, sent_ts=T0 + 30, newest=T0 + 30,
                              buckets={"0.005": 40, "0.01": 50, "0.1": 52, "1": 52, "2.5": 52, "+Inf": 52}), T0 + 30)
    queues, window = rw.queue_figures(second, rw.as_reading(first))
    assert window == 30
    q = queues[0]
    assert q["samples_per_second"] == 200 and q["attempted_per_second"] == 200
    assert q["bytes_per_second"] == 4000 and q["retried_per_second"] == 0 and q["failed_per_second"] == 0
    assert q["success_ratio"] == 1.0
    assert q["send_latency_seconds"]["basis"] == "window"
    # 30 batches in the window: 20 under 5 ms, 28 under 10 ms, 30 under 100 ms -> p99 in (0.01, 0.1]
    assert 0.01 < q["send_latency_seconds"]["p99"] <= 0.1
    checks = by_id(rw.rw_checks(queues))
    assert all(c["status"] == "ok" for c in checks.values()), checks


def test_baseline_accepts_whole_result_and_rejects_junk():
    snap = roundtrip(reading(page_242(), T0))
    assert rw.as_reading({"snapshot": snap, "status": "ok"}) == snap
    assert rw.as_reading(json.dumps(snap)) == snap
    for junk in ({"foo": 1}, [1, 2], "not json", {"queues": {}, "time": "x"}):
        with pytest.raises(ValueError):
            rw.as_reading(junk)


# ----------------------------------------------------------------------------- THE outage

def test_receiver_outage_is_critical_never_100_percent():
    """2.42 during a receiver outage: retries rising, bytes flat, failed 0, pending capped, lag growing."""
    first = roundtrip(reading(page_242(samples=20000, retried=0, bytes_=400000, pending=3499, sent_ts=T0 - 5, newest=T0), T0))
    second = reading(page_242(samples=27000, retried=7000, bytes_=400000, pending=3499, sent_ts=T0 - 5, newest=T0 + 56,
                              extra=""), T0 + 56)
    queues, _window = rw.queue_figures(second, rw.as_reading(first))
    q = queues[0]
    assert q["samples_per_second"] == 0 and q["bytes_per_second"] == 0
    assert q["retried_per_second"] == pytest.approx(125.0)
    assert q["failed_per_second"] == 0
    assert q["success_ratio"] == 0.0            # not 1.0
    assert q["lag_seconds"] == 61
    checks = by_id(rw.rw_checks(queues))
    assert checks["RW-RETRY"]["status"] == "critical"
    assert checks["RW-LAG"]["status"] == "warning"  # 61 s: over 60, under 120
    assert checks["RW-SUCCESS"]["status"] == "critical"
    assert "100" not in checks["RW-SUCCESS"]["message"]
    assert "do not restart" in checks["RW-RETRY"]["message"]
    assert checks["RW-PENDING"]["status"] == "warning"
    assert checks["RW-LATENCY"]["status"] == "unknown"  # no batch completed in the window


def test_outage_without_baseline_is_still_critical_on_lag():
    q = rw.queue_figures(reading(page_242(retried=7000, sent_ts=T0 - 300, newest=T0), T0))[0]
    checks = by_id(rw.rw_checks(q))
    assert checks["RW-LAG"]["status"] == "critical" and checks["RW-LAG"]["value"] == 300
    assert checks["RW-RETRY"]["status"] == "unknown"


def test_partial_retries_are_a_warning():
    first = roundtrip(reading(page_242(samples=10000, retried=0, bytes_=100000), T0))
    second = reading(page_242(samples=13000, retried=300, bytes_=160000, sent_ts=T0 + 30, newest=T0 + 30), T0 + 30)
    checks = by_id(rw.rw_checks(rw.queue_figures(second, first)[0]))
    assert checks["RW-RETRY"]["status"] == "warning"
    assert checks["RW-SUCCESS"]["status"] == "ok"


def test_receiver_4xx_failures_make_success_critical():
    first = roundtrip(reading(page_242(samples=10000, failed=0), T0))
    second = reading(page_242(samples=12000, failed=500, sent_ts=T0 + 30, newest=T0 + 30), T0 + 30)
    q = rw.queue_figures(second, first)[0][0]
    assert q["success_ratio"] == pytest.approx(1500 / 2000.0)
    assert by_id(rw.rw_checks([q]))["RW-SUCCESS"]["status"] == "critical"


def test_agent_restart_between_readings_counts_from_zero():
    first = roundtrip(reading(page_242(samples=50000, bytes_=900000, start=T0 - 3600), T0))
    second = reading(page_242(samples=3000, bytes_=60000, start=T0 + 10, sent_ts=T0 + 30, newest=T0 + 30), T0 + 30)
    q = rw.queue_figures(second, first)[0][0]
    assert q["samples_per_second"] == 100 and q["bytes_per_second"] == 2000
    assert any("restarted" in n for n in q["notes"])


def test_nothing_sent_since_start_lag_from_start():
    q = rw.queue_figures(reading(page_242(sent_ts=0, newest=T0, start=T0 - 200), T0))[0][0]
    assert q["lag_seconds"] == 200
    assert any("nothing sent" in n for n in q["notes"])


# ----------------------------------------------------------------------------- other versions

OLD_2_10 = """# Prometheus 2.10: queue label "<index>:<url>", succeeded_samples_total, queue_capacity gone (2.4 shard_capacity)
prometheus_remote_storage_succeeded_samples_total{queue="0:http://recv/api/v1/write"} %(ok)s
prometheus_remote_storage_failed_samples_total{queue="0:http://recv/api/v1/write"} %(failed)s
prometheus_remote_storage_retried_samples_total{queue="0:http://recv/api/v1/write"} %(retried)s
prometheus_remote_storage_dropped_samples_total{queue="0:http://recv/api/v1/write"} 0
prometheus_remote_storage_pending_samples{queue="0:http://recv/api/v1/write"} 12
prometheus_remote_storage_shards{queue="0:http://recv/api/v1/write"} 2
prometheus_remote_storage_shards_min{queue="0:http://recv/api/v1/write"} 1
prometheus_remote_storage_shards_max{queue="0:http://recv/api/v1/write"} 1000
prometheus_remote_storage_shards_desired{queue="0:http://recv/api/v1/write"} 1.2
prometheus_remote_storage_shard_capacity{queue="0:http://recv/api/v1/write"} 10
prometheus_remote_storage_sent_bytes_total{queue="0:http://recv/api/v1/write"} %(bytes)s
prometheus_remote_storage_queue_highest_sent_timestamp_seconds{queue="0:http://recv/api/v1/write"} %(sent)s
prometheus_remote_storage_highest_timestamp_in_seconds %(newest)s
prometheus_remote_storage_sent_batch_duration_seconds_bucket{queue="0:http://recv/api/v1/write",le="0.1"} 5
prometheus_remote_storage_sent_batch_duration_seconds_bucket{queue="0:http://recv/api/v1/write",le="1"} 9
prometheus_remote_storage_sent_batch_duration_seconds_bucket{queue="0:http://recv/api/v1/write",le="+Inf"} 10
prometheus_remote_storage_sent_batch_duration_seconds_sum{queue="0:http://recv/api/v1/write"} 4
prometheus_remote_storage_sent_batch_duration_seconds_count{queue="0:http://recv/api/v1/write"} 10
"""

OLD_2_2 = """# Prometheus 2.2: queue label, queue_length and queue_capacity, samples_bytes_total
prometheus_remote_storage_succeeded_samples_total{queue="0:http://recv/write"} %(ok)s
prometheus_remote_storage_failed_samples_total{queue="0:http://recv/write"} 0
prometheus_remote_storage_dropped_samples_total{queue="0:http://recv/write"} 0
prometheus_remote_storage_queue_length{queue="0:http://recv/write"} 7
prometheus_remote_storage_queue_capacity{queue="0:http://recv/write"} 100000
prometheus_remote_storage_shards{queue="0:http://recv/write"} 1
prometheus_remote_storage_samples_bytes_total{queue="0:http://recv/write"} %(bytes)s
"""


def test_old_names_2_10():
    vals = dict(ok=1000, failed=0, retried=0, bytes=5000, sent=T0, newest=T0 + 2)
    first = roundtrip(reading(OLD_2_10 % vals, T0))
    vals2 = dict(ok=1600, failed=0, retried=40, bytes=8000, sent=T0 + 18, newest=T0 + 20)
    queues, window = rw.queue_figures(reading(OLD_2_10 % vals2, T0 + 20), first)
    assert window == 20
    q = queues[0]
    assert q["remote_name"] == "0:http://recv/api/v1/write" and q["url"] == "http://recv/api/v1/write"
    assert q["samples_per_second"] == 30 and q["attempted_per_second"] == 32
    assert q["retried_per_second"] == 2 and q["bytes_per_second"] == 150
    assert q["success_ratio"] == 1.0
    assert q["pending_samples"] == 12 and q["capacity"] == 10 and q["shards"]["max"] == 1000
    assert q["lag_seconds"] == 2
    checks = by_id(rw.rw_checks(queues))
    assert checks["RW-RETRY"]["status"] == "warning"
    assert checks["RW-SUCCESS"]["status"] == "ok"


def test_old_names_2_2_queue_length_and_capacity():
    first = roundtrip(reading(OLD_2_2 % dict(ok=100, bytes=1000), T0))
    q = rw.queue_figures(reading(OLD_2_2 % dict(ok=400, bytes=4000), T0 + 10), first)[0][0]
    assert q["pending_samples"] == 7 and q["capacity"] == 100000
    assert q["samples_per_second"] == 30 and q["bytes_per_second"] == 300
    assert q["url"] == "http://recv/write"
    checks = by_id(rw.rw_checks([q]))
    assert checks["RW-RETRY"]["status"] == "unknown"   # 2.2 has no retried counter
    assert checks["RW-SHARDS"]["status"] == "unknown"  # nor desired/max shards
    assert checks["RW-LAG"]["status"] == "unknown"


NEW_3_7 = """# Prometheus 3.7+: queue_highest_timestamp_seconds per queue, dropped by reason
prometheus_remote_storage_samples_total{remote_name="a",url="http://a/api/v1/write"} 5000
prometheus_remote_storage_samples_failed_total{remote_name="a",url="http://a/api/v1/write"} 0
prometheus_remote_storage_samples_retried_total{remote_name="a",url="http://a/api/v1/write"} 0
prometheus_remote_storage_samples_dropped_total{reason="drop_relabel",remote_name="a",url="http://a/api/v1/write"} 3
prometheus_remote_storage_samples_dropped_total{reason="unknown_reference",remote_name="a",url="http://a/api/v1/write"} 4
prometheus_remote_storage_bytes_total{remote_name="a",url="http://a/api/v1/write"} 9000
prometheus_remote_storage_samples_pending{remote_name="a",url="http://a/api/v1/write"} 0
prometheus_remote_storage_queue_highest_sent_timestamp_seconds{remote_name="a",url="http://a/api/v1/write"} %(a_sent)s
prometheus_remote_storage_queue_highest_timestamp_seconds{remote_name="a",url="http://a/api/v1/write"} %(a_newest)s
prometheus_remote_storage_samples_total{remote_name="b",url="http://b/api/v1/write"} 5000
prometheus_remote_storage_samples_failed_total{remote_name="b",url="http://b/api/v1/write"} 0
prometheus_remote_storage_samples_retried_total{remote_name="b",url="http://b/api/v1/write"} 0
prometheus_remote_storage_bytes_total{remote_name="b",url="http://b/api/v1/write"} 9000
prometheus_remote_storage_samples_pending{remote_name="b",url="http://b/api/v1/write"} 0
prometheus_remote_storage_queue_highest_sent_timestamp_seconds{remote_name="b",url="http://b/api/v1/write"} %(b_sent)s
prometheus_remote_storage_queue_highest_timestamp_seconds{remote_name="b",url="http://b/api/v1/write"} %(b_newest)s
prometheus_remote_storage_highest_timestamp_in_seconds %(global_newest)s
"""


def test_new_names_3_7_lag_per_queue_and_worst_queue_wins():
    text = NEW_3_7 % dict(a_sent=T0, a_newest=T0 + 1, b_sent=T0 - 500, b_newest=T0, global_newest=T0 + 1)
    queues, _w = rw.queue_figures(reading(text, T0 + 1))
    assert [q["remote_name"] for q in queues] == ["a", "b"]
    assert queues[0]["lag_seconds"] == 1 and queues[1]["lag_seconds"] == 500
    assert queues[0]["since_start"]["dropped"] == 7
    lag = by_id(rw.rw_checks(queues))["RW-LAG"]
    assert lag["status"] == "critical" and lag["message"].startswith("queue b:")


def test_segments_behind():
    q = rw.queue_figures(reading(page_242(segment=12, watcher=7), T0))[0][0]
    assert q["segments_behind"] == 5
    assert by_id(rw.rw_checks([q]))["RW-LAG"]["status"] == "warning"


def test_shards_desired_over_max_is_critical():
    q = rw.queue_figures(reading(page_242(desired=75), T0))[0]
    assert by_id(rw.rw_checks(q))["RW-SHARDS"]["status"] == "critical"
    q = rw.queue_figures(reading(page_242(desired=45), T0))[0]
    assert by_id(rw.rw_checks(q))["RW-SHARDS"]["status"] == "warning"


def test_pending_critical_needs_lag():
    q = rw.queue_figures(reading(page_242(pending=9000, sent_ts=T0, newest=T0), T0))[0]
    assert by_id(rw.rw_checks(q))["RW-PENDING"]["status"] == "warning"
    q = rw.queue_figures(reading(page_242(pending=9000, sent_ts=T0 - 30, newest=T0), T0))[0]
    assert by_id(rw.rw_checks(q))["RW-PENDING"]["status"] == "critical"


def test_latency_thresholds():
    slow = {"0.5": 0, "1": 10, "2.5": 50, "5": 100, "+Inf": 100}
    q = rw.queue_figures(reading(page_242(buckets=slow), T0))[0]
    assert by_id(rw.rw_checks(q))["RW-LATENCY"]["status"] == "critical"
    mid = {"0.5": 0, "1": 50, "2.5": 100, "+Inf": 100}
    q = rw.queue_figures(reading(page_242(buckets=mid), T0))[0]
    assert by_id(rw.rw_checks(q))["RW-LATENCY"]["status"] == "warning"


def test_user_thresholds_apply():
    q = rw.queue_figures(reading(page_242(sent_ts=T0 - 30, newest=T0), T0))[0]
    th = rw.thresholds({"rw_lag_warning": 10, "rw_lag_critical": 20})
    assert by_id(rw.rw_checks(q, th))["RW-LAG"]["status"] == "critical"


def test_no_queue_at_all():
    checks = by_id(rw.rw_checks([]))
    assert checks["RW-LAG"]["status"] == "critical"
    assert checks["RW-SUCCESS"]["status"] == "unknown"


# ----------------------------------------------------------------------------- histogram maths

def test_histogram_quantile_matches_prometheus():
    buckets = {"0.1": 50, "0.5": 90, "1": 100, "+Inf": 100}
    assert rw.histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert rw.histogram_quantile(0.99, buckets) == pytest.approx(0.5 + 0.5 * 9 / 10)
    assert rw.histogram_quantile(0.99, {"1": 0, "+Inf": 10}) == 1.0       # all in +Inf: the highest bound
    assert rw.histogram_quantile(0.99, {"1": 0, "+Inf": 0}) is None
    assert rw.histogram_quantile(0.99, {"1": 5}) is None                 # no +Inf bucket
    # non-monotonic junk is made monotonic, not a crash
    assert rw.histogram_quantile(0.5, {"0.1": 10, "0.5": 5, "+Inf": 10}) is not None


# ----------------------------------------------------------------------------- hostile input

def test_nan_inf_and_duplicates_do_not_leak():
    text = page_242() + "\n".join([
        "prometheus_remote_storage_samples_pending{%s} NaN" % LBL,   # duplicate series, NaN: last one wins -> NaN
        "prometheus_remote_storage_shards_desired{%s} +Inf" % LBL,
        "prometheus_remote_storage_bytes_total{%s} -Inf" % LBL,
    ]) + "\n"
    read = reading(text, T0)
    q = rw.queue_figures(read)[0][0]
    assert q["pending_samples"] is None or not math.isnan(q["pending_samples"])
    assert q["shards"]["desired"] is None or math.isfinite(q["shards"]["desired"])
    json.dumps(read, allow_nan=False)
    json.dumps(rw.rw_checks([q]), allow_nan=False)


def test_garbage_and_series_without_queue_labels():
    text = page_242() + "prometheus_remote_storage_samples_total 5\nprometheus_remote_storage_shards{foo=\"x\"} 3\n"
    queues = rw.queue_figures(reading(text, T0))[0]
    assert len(queues) == 1
    with pytest.raises(Exception):
        exposition.parse("<html><body>502 Bad Gateway</body></html>\n" * 10)


def test_empty_page_gives_no_queue():
    assert rw.queue_figures(reading("# nothing here\nup 1\n", T0))[0] == []


# ----------------------------------------------------------------------------- RW-DROPPED

def _with_drops(text, relabel=None, too_old=None, unknown_series=None, plain=None, families=""):
    """``text`` with samples_dropped_total as a version exports it: by ``reason`` (2.50+) or ``plain`` (before)."""
    lines = []
    for reason, value in (("dropped_series", relabel), ("too_old", too_old), ("unintentionally_dropped_series", unknown_series)):
        if value is not None:
            lines.append('prometheus_remote_storage_samples_dropped_total{reason="%s",%s} %s' % (reason, LBL, value))
    if plain is not None:
        lines.append("prometheus_remote_storage_samples_dropped_total{%s} %s" % (LBL, plain))
    return text.replace("prometheus_remote_storage_samples_dropped_total{%s} 0\n" % LBL, "\n".join(lines) + "\n" if lines else "") + families


def _dropped(before, after, window=30.0):
    first = roundtrip(reading(before, T0))
    queues, _window = rw.queue_figures(reading(after, T0 + window), rw.as_reading(first))
    return queues[0], by_id(rw.rw_checks(queues))["RW-DROPPED"]


def test_capture_242_nothing_dropped_is_ok():
    metrics = exposition.parse((CAPTURES / "agent_metrics.txt").read_text())
    queues, _window = rw.queue_figures(rw.read_queues(metrics, 1795503183.0))
    check = by_id(rw.rw_checks(queues))["RW-DROPPED"]
    assert check["status"] == "ok" and "no sample dropped" in check["message"] and "since the agent started" in check["message"]
    assert queues[0]["since_start"]["histograms_failed"] == 0 and queues[0]["since_start"]["metadata_failed"] == 0


def test_drops_by_relabelling_are_ok_and_counted():
    q, check = _dropped(_with_drops(page_242(), relabel=1000), _with_drops(page_242(samples=16000), relabel=4000))
    assert q["dropped_per_second"] == 100 and q["dropped_relabel_per_second"] == 100 and q["dropped_error_per_second"] is None
    assert check["status"] == "ok" and "100.0/s samples dropped by write_relabel_configs" in check["message"]
    assert "over the last 30 s" in check["message"]


def test_drops_on_error_warn_with_the_reason():
    q, check = _dropped(_with_drops(page_242(), relabel=1000, too_old=0),
                        _with_drops(page_242(samples=16000), relabel=1000, too_old=60, unknown_series=30))
    assert q["dropped_error_per_second"] == 3 and q["dropped_relabel_per_second"] == 0
    assert check["status"] == "warning" and "3.0/s samples dropped on error" in check["message"], check
    assert check["value"]["dropped_error"] == 3


def test_a_reason_counter_absent_is_nothing_dropped():
    # 2.50+: a counter with a reason label has no series before the first drop
    _q, check = _dropped(_with_drops(page_242()), _with_drops(page_242(samples=16000)))
    assert check["status"] == "ok" and "no sample dropped" in check["message"]


def test_drops_before_2_50_are_ok_saying_the_reason_is_not_known():
    _q, check = _dropped(_with_drops(page_242(), plain=0), _with_drops(page_242(samples=16000), plain=300))
    assert check["status"] == "ok" and "does not say why" in check["message"]


def test_histograms_refused_by_the_receiver_warn():
    families = ("prometheus_remote_storage_histograms_failed_total{%s} %%s\n"
                "prometheus_remote_storage_exemplars_failed_total{%s} 0\n" % (LBL, LBL))
    q, check = _dropped(_with_drops(page_242(), families=families % 10), _with_drops(page_242(samples=16000), families=families % 40))
    assert q["histograms_failed_per_second"] == 1 and q["exemplars_failed_per_second"] == 0
    assert check["status"] == "warning" and "refused histograms 1.0/s" in check["message"], check


def test_drop_threshold_is_the_users():
    before = _with_drops(page_242(), too_old=0)
    after = _with_drops(page_242(samples=16000), too_old=30)
    first = roundtrip(reading(before, T0))
    queues, _window = rw.queue_figures(reading(after, T0 + 30), rw.as_reading(first))
    check = by_id(rw.rw_checks(queues, rw.thresholds({"rw_dropped_warning": 5})))["RW-DROPPED"]
    assert check["status"] == "ok", check


def test_drops_without_a_window_count_since_start():
    q, = rw.queue_figures(reading(_with_drops(page_242(), too_old=7, relabel=500), T0))[0]
    check = by_id(rw.rw_checks([q]))["RW-DROPPED"]
    assert check["status"] == "warning" and check["value"]["basis"] == "since_start" and "7 samples dropped on error" in check["message"]


def test_first_drops_on_error_between_two_readings_are_seen():
    # the baseline has no series of samples_dropped_total at all (2.50+, nothing dropped yet)
    _q, check = _dropped(_with_drops(page_242()), _with_drops(page_242(samples=16000), too_old=60))
    assert check["status"] == "warning" and "2.0/s samples dropped on error" in check["message"], check


class StoreClient:
    """A central query API answering the remote-write queries of two clusters (a: 1000 samples sent,
    10 failed; b: 500 sent) for any window; keeps the queries asked."""

    SAMPLES = {"samples_total": {"a": 1000.0, "b": 500.0}, "samples_failed_total": {"a": 10.0, "b": 0.0}}

    def __init__(self):
        self.asked = []

    def query(self, promql, at=None):
        self.asked.append(promql)
        grouped = "cluster)" in promql
        for name, by_cluster in self.SAMPLES.items():
            if "increase(prometheus_remote_storage_%s{" % name in promql:
                wanted = [c for c in by_cluster if not grouped and 'cluster="%s"' % c in promql] or list(by_cluster)
                return [(dict({"remote_name": "thanos", "url": "http://r/api/v1/write"}, **({"cluster": c} if grouped else {})),
                         by_cluster[c]) for c in wanted]
        return []


def test_query_readings_ask_once_for_the_fleet_what_query_reading_asks_per_cluster():
    fleet_client = StoreClient()
    readings = rw.query_readings(fleet_client, 86400, cluster_label="cluster", extra_selector='job=~".*agent.*"', now=T0)
    assert sorted(readings) == ["a", "b"]
    for cluster in ("a", "b"):
        one_client = StoreClient()
        alone = rw.query_reading(one_client, 86400, cluster=cluster, now=T0)
        assert readings[cluster]["queues"] == alone["queues"], cluster
        assert len(one_client.asked) == len(fleet_client.asked)      # the same queries, once for the whole fleet
    assert all('cluster!=""' in q and 'job=~".*agent.*"' in q for q in fleet_client.asked), fleet_client.asked
    queue = next(iter(readings["a"]["queues"].values()))
    assert queue["counters"]["samples"] == 1000.0 and queue["counters"]["failed"] == 10.0
    # judged as remote_write_stats judges a query reading: 1% failed over the day, below the 99.5% warning
    result = rw.stats_result({"source": "query"}, readings["a"], rw.thresholds())
    success = by_id(result["checks"])["RW-SUCCESS"]
    assert success["status"] == "warning" and success["value"] == 0.99 and "over the last 24.0 h" in success["message"], success
