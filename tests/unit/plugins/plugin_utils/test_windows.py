# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The window math between two daily snapshots."""

from __future__ import annotations

from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import windows


def snap(time, samples, failed=0, retried=0, start=1000.0, cluster="a", appended=5000):
    return {"cluster": cluster, "time": time, "start_time": start, "appended": appended,
            "queues": {"q": {"samples": samples, "failed": failed, "retried": retried, "dropped": 0}}}


def test_window_over_a_day():
    figures, why = windows.window(snap(0, 1000), snap(86040, 2000, failed=50, appended=8604000 + 5000))
    assert why is None
    assert figures["hours"] == 23.9
    assert figures["attempted"] == 1000 and figures["delivered"] == 950
    assert abs(figures["ratio"] - 0.95) < 1e-9
    assert abs(figures["appended_per_second"] - 100.0) < 1e-9
    assert not figures["reset"]


def test_reset_counts_since_the_start():
    figures, why = windows.window(snap(0, 100000, failed=10), snap(3600, 300, failed=3, start=2000.0))
    assert why is None
    assert figures["attempted"] == 300 and figures["failed"] == 3 and figures["reset"]


def test_counter_lower_without_start_time_is_a_reset():
    figures, _why = windows.window(snap(0, 5000, start=None), snap(3600, 200, start=None))
    assert figures["attempted"] == 200 and figures["reset"]


def test_no_usable_snapshot():
    now = snap(86400, 10)
    assert windows.window(None, now) == (None, "no earlier run in the history")
    assert "another cluster" in windows.window(snap(0, 1, cluster="b"), now)[1]
    assert "not readable" in windows.window({"queues": "x"}, now)[1]
    assert "not readable" in windows.window("garbage", now)[1]
    assert "48 h" in windows.window(snap(-200000, 1), now)[1]
    assert "less than" in windows.window(snap(86395, 1), now)[1]
