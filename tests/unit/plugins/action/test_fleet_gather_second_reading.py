"""Unit tests of fleet_gather's scheduling of the second remote-write readings (``ActionModule._read_twice``).

Each host's second reading starts once its own first reading is ``rw_min_window`` old, in the same pool
while the other hosts are still read, so only the last hosts' windows are waited for; a host whose
window is long enough is judged without one; a host whose reading has no time gets its second reading
with the last of the others. Real threads and clocks, a short window."""

from __future__ import annotations

import concurrent.futures
import threading
import time

from ansible_collections.fleetops.prometheus_agent.plugins.action.fleet_gather import ActionModule, HostGathering

WINDOW = 0.4


class TimedHost(HostGathering):
    """A host whose readings only take time and say when they were taken."""

    def __init__(self, name, audit_seconds, window_seconds=0.0, timed=True, second_seconds=0.0):
        super().__init__(name)
        self.audit_seconds = audit_seconds
        self.second_seconds = second_seconds
        self.window_seconds = window_seconds
        self.timed = timed
        self.first_at = self.second_at = None

    def run_audit(self, check_mode):
        time.sleep(self.audit_seconds)
        self.first_at = time.time()
        snapshot = {"time": self.first_at} if self.timed else None
        self.audit = {"status": "ok", "parts": {"remote_write_stats": {"window_seconds": self.window_seconds, "snapshot": snapshot}}}

    def run_second_reading(self, check_mode):
        self.second_at = time.time()
        time.sleep(self.second_seconds)
        self.second = {"status": "ok"}


def _gather(hosts, workers):
    judged, lock = [], threading.Lock()

    def judge(host):
        with lock:
            judged.append((host.name, time.time(), host.second is not None))

    seconds = {}
    start = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        running = dict((pool.submit(host.run_audit, False), host) for host in hosts)
        waited, audit_end = ActionModule._read_twice(pool, running, WINDOW, False, judge, seconds, start)  # pylint: disable=protected-access
    seconds["end"] = time.time()
    return judged, waited, audit_end, seconds


def test_each_second_reading_starts_when_its_own_window_ends_while_the_others_are_read():
    # two threads, ten audits of 0.15 s (0.75 s in all, longer than the window) and ten second readings of
    # 0.1 s (0.5 s of the two threads)
    hosts = [TimedHost("h%d" % i, 0.15, second_seconds=0.1) for i in range(10)]
    judged, waited, audit_end, seconds = _gather(hosts, workers=2)
    for host in hosts:
        assert host.second_at - host.first_at >= WINDOW - 0.01, (host.name, host.second_at - host.first_at)
    # the first hosts' second readings ran while the last hosts' windows ran out: after the last audit, less
    # than one fleet-wide wait followed by every second reading (0.4 + 0.5 s)
    assert seconds["end"] - audit_end < WINDOW + 0.5 - 0.15, seconds["end"] - audit_end
    # each host judged once, after its second reading
    assert sorted(name for name, _at, _second in judged) == sorted(host.name for host in hosts)
    assert all(second for _name, _at, second in judged)
    # only the last hosts' windows were waited for: less than one window after the last audit
    assert 0 <= waited < WINDOW and seconds["wait"] == round(waited, 3)
    # the audit phase ends with the last first reading: ten audits of 0.15 s on two threads
    assert abs(seconds["audit"] - (max(h.first_at for h in hosts) - min(h.first_at for h in hosts) + 0.15)) < 0.1, seconds


def test_a_long_window_needs_no_second_reading_and_an_untimed_reading_goes_with_the_last():
    long_window = TimedHost("day", 0.05, window_seconds=86400.0)
    untimed = TimedHost("untimed", 0.05, timed=False)
    late = TimedHost("late", 0.3)
    judged, _waited, audit_end, _seconds = _gather([long_window, untimed, late], workers=3)
    assert long_window.second is None and long_window.second_at is None
    by_name = dict((name, (at, second)) for name, at, second in judged)
    assert by_name["day"][1] is False and by_name["day"][0] < audit_end + 0.05
    # the untimed host: read again no sooner than the last timed host's window ends
    assert untimed.second_at >= late.first_at + WINDOW - 0.01 and untimed.second_at >= audit_end
    assert late.second_at - late.first_at >= WINDOW - 0.01
    assert sorted(by_name) == ["day", "late", "untimed"]


def test_no_host_to_read_returns_at_once():
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        began = time.time()
        waited, _audit_end = ActionModule._read_twice(pool, {}, WINDOW, False, lambda host: None, {}, began)  # pylint: disable=protected-access
    assert waited == 0.0 and time.time() - began < 0.1
