"""Unit tests of the observing half of remediation (remediation_ops), without a cluster."""

from __future__ import annotations

import pytest

from conftest import CAPTURES  # pylint: disable=import-error
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import ops


def test_parse_rw_real_2_42_capture():
    reading = ops.parse_rw((CAPTURES / "agent_metrics.txt").read_bytes())
    assert reading["queues"] == [{"remote_name": "recv", "url": "http://127.0.0.1:19090/api/v1/write", "samples_total": 10500.0,
                                  "bytes_total": 233841.0, "retried_total": 0.0, "failed_total": 0.0, "pending_samples": 272.0,
                                  "highest_sent_timestamp": 1795503182.0}]
    assert reading["newest_appended"] == 1795503182.0


def test_parse_rw_old_names():
    text = "\n".join([
        '# HELP prometheus_remote_storage_succeeded_samples_total x',
        'prometheus_remote_storage_succeeded_samples_total{queue="q1"} 100',
        'prometheus_remote_storage_sent_bytes_total{queue="q1"} 5000',
        'prometheus_remote_storage_retried_samples_total{queue="q1"} 7',
        'prometheus_remote_storage_pending_samples{queue="q1"} 12',
    ])
    queue = ops.parse_rw(text)["queues"][0]
    assert queue["remote_name"] == "q1" and queue["samples_total"] == 100 and queue["bytes_total"] == 5000
    assert queue["retried_total"] == 7 and queue["pending_samples"] == 12


def test_parse_rw_3x_queue_highest_timestamp():
    text = "\n".join([
        'prometheus_remote_storage_samples_total{remote_name="a",url="u"} 1',
        'prometheus_remote_storage_queue_highest_timestamp_seconds{remote_name="a",url="u"} 200',
        'prometheus_remote_storage_queue_highest_sent_timestamp_seconds{remote_name="a",url="u"} 150',
    ])
    reading = ops.parse_rw(text)
    assert reading["newest_appended"] == 200


def test_rw_rates_and_lag():
    first = {"time": 0.0, "queues": [{"remote_name": "a", "samples_total": 0, "bytes_total": 0, "retried_total": 0, "failed_total": 0,
                                      "pending_samples": 10, "highest_sent_timestamp": 90}], "newest_appended": 100}
    second = {"time": 10.0, "queues": [{"remote_name": "a", "samples_total": 1000, "bytes_total": 20000, "retried_total": 50,
                                        "failed_total": 0, "pending_samples": 3499, "highest_sent_timestamp": 90}],
              "newest_appended": 160}
    rates = ops.rw_rates(first, second)[0]
    assert rates["samples_per_second"] == 100 and rates["bytes_per_second"] == 2000 and rates["retried_per_second"] == 5
    assert rates["lag_seconds"] == 70 and rates["pending_samples"] == 3499


@pytest.mark.parametrize("name,expected", [("prom-agent-lab-1-0", "prom-agent-lab-1"), ("prometheus-k8s-12", "prometheus-k8s"),
                                           ("noindex", None), (None, None)])
def test_statefulset_from_pod_name(name, expected):
    assert ops.statefulset_from_pod_name(name) == expected


def test_pod_summary():
    pod = {"metadata": {"name": "p-0", "uid": "u", "deletionTimestamp": "2026-11-24T08:00:00Z",
                        "ownerReferences": [{"kind": "StatefulSet", "name": "p"}]},
           "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
                      "containerStatuses": [{"name": "prometheus", "restartCount": 4,
                                             "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                                             "lastState": {"terminated": {"reason": "OOMKilled"}}}]}}
    summary = ops.pod_summary(pod, "prometheus")
    assert summary["ready"] is False and summary["restarts"] == 4 and summary["terminating"] is True
    assert summary["waiting_reason"] == "CrashLoopBackOff" and summary["last_termination_reason"] == "OOMKilled"
    assert ops.owner_statefulset(pod) == "p"
    assert ops.pod_summary(None)["uid"] is None


def test_remote_write_urls():
    assert ops.remote_write_urls({"spec": {"remoteWrite": [{"url": "http://a"}, {"name": "x"}]}}) == ["http://a"]
    assert ops.remote_write_urls(None) == []


def test_probe_receiver_refused():
    ok, detail = ops.probe_receiver("http://127.0.0.1:9/api/v1/write", timeout=2)
    assert ok is False and detail
