# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The central query API (Thanos Query, or a Prometheus holding the agents' remote-written series):
the PromQL of the long-window checks, asked for one cluster or for the whole fleet at once.

Each cadence's figures (``QUERIES``): monthly ``uptime`` (30 days of ``up``, a missing sample counted
as down), ``memory_bytes`` and ``cpu_cores`` (the month's peak memory and p95 CPU, for RIGHTSIZE);
daily ``remote_write`` (a remote-write reading of each cluster over the last day, for RW-SUCCESS,
RW-RETRY, RW-LATENCY and RW-DROPPED); weekly ``series_week_ago`` (SERIES) and ``wal_growth_bytes_per_second`` (WAL-TREND: the slope of the
WAL's size over the last 7 days, a least-squares fit that the saw-tooth of its truncations every
two hours does not fool). ``for_cluster`` asks them with one cluster's selector;
``by_cluster`` asks each once for every cluster (the series of the agents' job that carry the
cluster label) and sorts the answers by the label's value, so a play of 500 clusters costs three
queries, not 1,500. Both return ``(values, reasons)``: a figure that could not be had is absent from
``values`` and its reason in ``reasons``. Of several series of one cluster (replicas, shards) the
smallest value is kept for ``uptime``, the largest for the others.
"""

from __future__ import annotations

import time

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError, QueryRefused
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.http import QueryClient
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.scrub import redact
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import remote_write

# UPTIME over 30 days, where a missing sample is downtime: an agent that is down sends nothing, so the
# average of its ``up`` samples (``avg_over_time(up[30d])``) never sees its outages. Instead the
# query looks at ``up`` every 5 minutes (a subquery: each step sees the newest sample of the last
# 5 minutes, Prometheus's lookback) and divides the steps where it was 1 by the steps since the
# series' first sample in the window (a cluster added this month is judged since it was added).
UPTIME_STEP_SECONDS = 300
# The subquery's steps sit at whole multiples of 5 minutes: those from the first sample to now are
# floor(now / 5m) - ceil(first / 5m) + 1 (exact, so that a cluster added an hour ago is not judged
# by a step it never had). A series younger than one step has no step yet: its samples' average.
UPTIME_QUERY = ("clamp_max(sum_over_time(up{%(s)s}[30d:5m]) / clamp_min(scalar(floor(vector(time() / %(step)d)))"
                " - ceil(min_over_time(timestamp(up{%(s)s})[30d:5m]) / %(step)d) + 1, 1), 1)"
                " or avg_over_time(up{%(s)s}[30d])")

QUERIES = {
    "monthly": {
        "uptime": UPTIME_QUERY,
        "memory_bytes": "max_over_time(process_resident_memory_bytes{%(s)s}[30d])",
        "cpu_cores": "quantile_over_time(0.95, rate(process_cpu_seconds_total{%(s)s}[5m])[30d:5m])",
    },
    "weekly": {
        "series_week_ago": "max_over_time(prometheus_agent_active_series{%(s)s}[1h] offset 7d)",
        # the WAL's size is exported from Prometheus 2.43 on; an older agent has no such series
        # (the figure is then missing, with its reason, and WAL-TREND uses the history)
        "wal_growth_bytes_per_second": "deriv(prometheus_tsdb_wal_storage_size_bytes{%(s)s}[7d])",
    },
}
SMALLEST = frozenset(("uptime",))
# the figures that are a whole reading, not one number: daily, each cluster's remote write over the
# last day (RW-SUCCESS, RW-RETRY, RW-LATENCY and RW-DROPPED judge it when the store has it)
READINGS = {"daily": ("remote_write",)}
DAILY_WINDOW_SECONDS = 86400


def promql(name, selector):
    """The PromQL of figure ``name`` for the series ``{selector}``."""
    for queries in QUERIES.values():
        if name in queries:
            return queries[name] % {"s": selector, "step": UPTIME_STEP_SECONDS}
    raise KeyError(name)


def ask(url, query, timeout=10, validate_certs=True, bearer_token=None, deadline=None):
    """``([(labels, value), ...], None)`` of an instant query, or ``(None, reason)``."""
    try:
        return QueryClient(url, timeout=timeout, validate_certs=validate_certs, bearer_token=bearer_token,
                           deadline=deadline).query(query), None
    except QueryRefused as exc:
        return None, "the query API refused %s: %s" % (query, redact(to_native(exc))[:200])
    except (FleetopsError, ValueError) as exc:
        return None, "the query API at %s did not answer: %s" % (redact(url), redact(to_native(exc))[:200])


def _keep(name, have, value):
    if have is None:
        return value
    return min(have, value) if name in SMALLEST else max(have, value)


def for_cluster(url, cadence, selector, **client):
    """``(values, reasons)`` of the cadence's figures for the series ``{selector}`` (one cluster)."""
    values, reasons = {}, {}
    for name in QUERIES.get(cadence, {}):
        query = promql(name, selector)
        found, why = ask(url, query, **client)
        if why:
            reasons[name] = why
            continue
        for _labels, value in found:
            values[name] = _keep(name, values.get(name), value)
        if name not in values:
            reasons[name] = "the query API has no data for %s" % query
    return values, reasons


def label_value(text):
    """``text`` quoted for a PromQL label matcher."""
    return '"%s"' % str(text).replace("\\", "\\\\").replace('"', '\\"')


def by_cluster(url, cadence, cluster_label="cluster", job=".*agent.*", window_seconds=DAILY_WINDOW_SECONDS, asked=None, **client):
    """``({cluster: values}, reasons)``: the cadence's figures of every cluster at once, one query each;
    ``reasons`` holds why a figure is missing for every cluster (the query failed). ``asked``: a list
    that gets each query sent.

    Daily, the figure ``remote_write`` of a cluster is a remote-write reading of the last
    ``window_seconds`` (``remote_write.query_readings``: the increases of its queues' counters and
    latency histogram, each query asked once by the cluster label)."""
    asked = [] if asked is None else asked
    selector = '%s!="",job=~%s' % (cluster_label, label_value(job))
    clusters, reasons = {}, {}
    for name in QUERIES.get(cadence, {}):
        query = promql(name, selector)
        asked.append(query)
        found, why = ask(url, query, **client)
        if why:
            reasons[name] = why
            continue
        for labels, value in found:
            cluster = (labels or {}).get(cluster_label)
            if cluster:
                entry = clusters.setdefault(cluster, {})
                entry[name] = _keep(name, entry.get(name), value)
    if cadence in READINGS:
        readings, why = _remote_write_readings(url, cluster_label, job, window_seconds, asked, **client)
        if why:
            reasons["remote_write"] = why
        for cluster, reading in readings.items():
            if reading.get("queues"):
                clusters.setdefault(cluster, {})["remote_write"] = reading
    return clusters, reasons


class _Counting(object):
    """A query client that keeps each query it sends in ``asked``."""

    def __init__(self, client, asked):
        self.client, self.asked = client, asked

    def query(self, promql_text, at=None):
        self.asked.append(promql_text)
        return self.client.query(promql_text, at=at)


def _remote_write_readings(url, cluster_label, job, window_seconds, asked, timeout=10, validate_certs=True, bearer_token=None,
                           deadline=None):
    """``({cluster: reading}, None)`` of the remote write of every cluster, or ``({}, reason)``."""
    try:
        client = _Counting(QueryClient(url, timeout=timeout, validate_certs=validate_certs, bearer_token=bearer_token,
                                       deadline=deadline), asked)
        return remote_write.query_readings(client, window_seconds, cluster_label=cluster_label,
                                           extra_selector="job=~%s" % label_value(job), now=time.time()), None
    except QueryRefused as exc:
        return {}, "the query API refused a remote-write query: %s" % redact(to_native(exc))[:200]
    except (FleetopsError, ValueError) as exc:
        return {}, "the query API at %s did not answer: %s" % (redact(url), redact(to_native(exc))[:200])
