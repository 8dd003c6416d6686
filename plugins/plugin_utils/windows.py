# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Windows since the previous daily run: counter increases between two snapshots (no Ansible).

A snapshot is ``{"cluster", "time", "start_time", "queues": {name: {samples, failed, retried,
dropped}}, "appended"}``: the cumulative counters one daily run read. ``increase`` counts as
Prometheus's ``increase()`` does: a counter lower than before (or a changed process start time)
was reset by a restart, so only what is known since the start (the current value) is counted.
"""

from __future__ import annotations

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.units import number as _num
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus.remote_write import delivered_of

MAX_AGE_SECONDS = 48 * 3600
COUNTERS = ("samples", "failed", "retried", "dropped")


def increase(current, previous, reset=False):
    """(increase, reset_seen) of one counter; (None, False) when either is unknown."""
    cur, prev = _num(current), _num(previous)
    if cur is None or prev is None:
        return None, False
    if reset or cur < prev:
        return cur, True
    return cur - prev, False


def usable(previous, cluster, now, min_seconds):
    """None when ``previous`` can start a window for ``cluster`` at ``now``, else the reason."""
    if not previous:
        return "no earlier run in the history"
    if not isinstance(previous, dict) or not isinstance(previous.get("queues"), dict) or _num(previous.get("time")) is None:
        return "the earlier snapshot is not readable"
    if previous.get("cluster") != cluster:
        return "the earlier snapshot belongs to another cluster"
    age = now - _num(previous["time"])
    if age > MAX_AGE_SECONDS:
        return "the earlier run is %.1f h old, more than 48 h" % (age / 3600)
    if age < min_seconds:
        return "the earlier run is %.1f s old, less than %.0f s" % (age, min_seconds)
    return None


def window(previous, current, min_seconds=10.0):
    """(figures, None) over the window since ``previous``, or (None, reason).

    figures: ``seconds``, ``hours``, ``attempted``, ``delivered``, ``failed``, ``retried``,
    ``dropped``, ``ratio`` (delivered / attempted, None without attempts), ``delivered_per_second``,
    ``appended_per_second`` and ``reset`` (a restart in the window: counted since the start).
    """
    now = _num((current or {}).get("time"))
    if now is None:
        return None, "the current reading has no time"
    why = usable(previous, (current or {}).get("cluster"), now, min_seconds)
    if why:
        return None, why
    seconds = now - _num(previous["time"])
    start, prev_start = _num(current.get("start_time")), _num(previous.get("start_time"))
    restarted = start is not None and prev_start is not None and abs(start - prev_start) > 1
    totals = dict.fromkeys(COUNTERS, 0.0)
    reset_seen = restarted
    for name, counters in (current.get("queues") or {}).items():
        before = previous["queues"].get(name)
        for key in COUNTERS:
            if before is None:
                value, was_reset = _num(counters.get(key)), True
            else:
                value, was_reset = increase(counters.get(key), before.get(key), restarted)
            if value is not None:
                totals[key] += value
                reset_seen = reset_seen or (was_reset and value > 0)
    delivered, attempted = delivered_of(totals)     # the one formula of delivered samples (2.23+ counters)
    appended, appended_reset = increase(current.get("appended"), previous.get("appended"), restarted)
    return {
        "seconds": seconds,
        "hours": round(seconds / 3600, 1),
        "attempted": attempted,
        "delivered": delivered,
        "failed": totals["failed"],
        "retried": totals["retried"],
        "dropped": totals["dropped"],
        "ratio": (delivered / attempted) if attempted else None,
        "delivered_per_second": delivered / seconds,
        "appended_per_second": (appended / seconds) if appended is not None else None,
        "reset": bool(reset_seen or appended_reset),
    }, None
