"""The restart guardrail's readings (plugins/module_utils/remediation/guard.py): the figures of
prometheus/remote_write, the receiver probe, the catalog's limits."""

from __future__ import annotations

from conftest import CAPTURES  # pylint: disable=import-error

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import checks
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import guard


class Pages:
    """An agent whose /metrics answers the given pages in turn (then the last one); the clock moves 10 s a page."""

    def __init__(self, *pages):
        self.pages = list(pages)
        self.now = 1000.0

    def http_get(self, path, timeout=None):
        assert path == '/metrics'
        return 200, self.pages.pop(0) if len(self.pages) > 1 else self.pages[0]

    def describe(self):
        return 'the agent'

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += 10.0


def figures(*pages):
    agent = Pages(*pages)
    queues, _first = guard.window_figures(agent, 10, sleep=agent.sleep, clock=agent.clock)
    return queues


def test_real_2_42_capture():
    page = (CAPTURES / "agent_metrics.txt").read_bytes()
    queue = figures(page, page)[0]
    assert queue["remote_name"] == "recv" and queue["url"] == "http://127.0.0.1:19090/api/v1/write"
    assert queue["since_start"]["delivered"] == 10500 and queue["since_start"]["bytes"] == 233841
    assert queue["since_start"]["retried"] == 0 and queue["since_start"]["failed"] == 0
    assert queue["pending_samples"] == 272 and queue["lag_seconds"] == 0.0
    assert queue["bytes_per_second"] == 0.0 and queue["retried_per_second"] == 0.0


def test_old_names():
    text = "\n".join([
        '# HELP prometheus_remote_storage_succeeded_samples_total x',
        'prometheus_remote_storage_succeeded_samples_total{queue="q1"} 100',
        'prometheus_remote_storage_sent_bytes_total{queue="q1"} 5000',
        'prometheus_remote_storage_retried_samples_total{queue="q1"} 7',
        'prometheus_remote_storage_pending_samples{queue="q1"} 12',
    ]) + "\n"
    queue = figures(text, text)[0]
    assert queue["remote_name"] == "q1" and queue["since_start"]["delivered"] == 100 and queue["since_start"]["bytes"] == 5000
    assert queue["since_start"]["retried"] == 7 and queue["pending_samples"] == 12


def test_3x_queue_highest_timestamp():
    text = "\n".join([
        'prometheus_remote_storage_samples_total{remote_name="a",url="u"} 1',
        'prometheus_remote_storage_queue_highest_timestamp_seconds{remote_name="a",url="u"} 200',
        'prometheus_remote_storage_queue_highest_sent_timestamp_seconds{remote_name="a",url="u"} 150',
    ]) + "\n"
    assert figures(text, text)[0]["lag_seconds"] == 50


def test_rates_and_lag_over_the_window():
    def page(samples, bytes_, retried, pending, newest):
        return "\n".join([
            'prometheus_remote_storage_samples_total{remote_name="a",url="u"} %s' % samples,
            'prometheus_remote_storage_bytes_total{remote_name="a",url="u"} %s' % bytes_,
            'prometheus_remote_storage_samples_retried_total{remote_name="a",url="u"} %s' % retried,
            'prometheus_remote_storage_samples_failed_total{remote_name="a",url="u"} 0',
            'prometheus_remote_storage_samples_pending{remote_name="a",url="u"} %s' % pending,
            'prometheus_remote_storage_queue_highest_sent_timestamp_seconds{remote_name="a",url="u"} 90',
            'prometheus_remote_storage_highest_timestamp_in_seconds %s' % newest,
        ]) + "\n"
    queue = figures(page(0, 0, 0, 10, 100), page(1000, 20000, 50, 3499, 160))[0]
    # the samples delivered (attempts less retries), as RW-SUCCESS counts them
    assert queue["samples_per_second"] == 95 and queue["attempted_per_second"] == 100
    assert queue["bytes_per_second"] == 2000 and queue["retried_per_second"] == 5
    assert queue["lag_seconds"] == 70 and queue["pending_samples"] == 3499


def test_unreadable_metrics():
    agent = Pages(b"<html>not metrics</html>{{\n")
    assert guard.window_figures(agent, 10, sleep=agent.sleep, clock=agent.clock) == (None, None)


def test_with_limits_fills_only_what_is_not_given():
    params = guard.with_limits({'max_lag_seconds': None, 'cooldown_seconds': 0})
    assert params == {'max_lag_seconds': checks.DEFAULT_THRESHOLDS['rw_lag_critical'], 'cooldown_seconds': 0,
                      'stuck_after_seconds': checks.RESTART_LIMITS['stuck_after_seconds']}


def test_probe_receiver_refused():
    ok, detail = guard.probe_receiver("http://127.0.0.1:9/api/v1/write", timeout=2)
    assert ok is False and detail
