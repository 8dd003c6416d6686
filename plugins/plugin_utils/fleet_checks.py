# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One cluster's result for a cadence, from the results of the modules the check roles ran.

Pure Python (no Ansible imports): used by the ``fleet_evaluate`` action plugin and unit-tested
alone. The modules produce most checks; this layer
* keeps the checks of the cadence, merges a check that two modules report (worst wins),
* says ``unknown`` (with the reason) for every check whose module failed or did not run,
* marks the rate-based remote-write checks ``unknown`` when the two readings were too close,
* computes the checks no module makes: WAL-TREND, SERIES, OOO (weekly), VERSION, RIGHTSIZE,
  UPTIME (monthly), from the module results, the history of earlier reports and the central
  query API; every threshold and its default comes from ``checks.py``'s catalog, and every
  status from its evaluator,
* extracts the figures the fleet report draws and keeps (``facts``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import checks as _checks
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.checks import make, worst
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.units import number, quantity as _quantity
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import releases as _releases
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils.releases import version_tuple

CADENCE_CHECKS = {
    "daily": ("POD", "RESTARTS", "HEALTH", "RW-SUCCESS", "RW-RETRY", "RW-LAG", "RW-PENDING", "RW-SHARDS",
              "RW-LATENCY", "RW-DROPPED", "WAL-SIZE", "WAL-HEALTH", "MEMORY", "INGEST", "CONFIG"),
    "weekly": ("PVC", "WAL-TREND", "TARGETS", "MONITORS", "LOGS", "RULES", "SERIES", "OOO"),
    "monthly": ("VERSION", "RIGHTSIZE", "WAL-ROTATION", "BACKUP", "UPTIME"),
}

# which module produces which checks (a missing module result makes these unknown)
SOURCES = {
    "agent_status": ("POD", "RESTARTS", "HEALTH", "MEMORY", "INGEST", "CONFIG", "TARGETS"),
    "remote_write_stats": ("RW-SUCCESS", "RW-RETRY", "RW-LAG", "RW-PENDING", "RW-SHARDS", "RW-LATENCY", "RW-DROPPED"),
    "wal_inspect": ("WAL-SIZE", "WAL-HEALTH", "PVC", "WAL-ROTATION"),
    "agent_logs": ("LOGS",),
    "rules_status": ("RULES",),
    "agent_backup": ("BACKUP",),
}

# computed here, from these module results
COMPUTED = {
    "WAL-TREND": ("wal_inspect",),
    "SERIES": ("agent_status",),
    "OOO": ("agent_status",),
    "MONITORS": ("agent_status",),
    "VERSION": ("agent_status",),
    "RIGHTSIZE": ("agent_status",),
    "UPTIME": (),
}

# rate-based checks: they need two readings far enough apart
RATE_CHECKS = ("RW-SUCCESS", "RW-RETRY")
# judged over the window too, but a count of lost samples needs no minimum window
WINDOW_CHECKS = RATE_CHECKS + ("RW-DROPPED",)
# what the central store's day of remote write (fleet_query daily) can judge too
STORE_DAY_CHECKS = WINDOW_CHECKS + ("RW-LATENCY",)
# the checks of an agent's pod: they do not apply to an agent reached by URL (agent_status via=url)
POD_CHECKS = ("POD", "RESTARTS")


def thresholds(user=None):
    """The catalog's thresholds (checks.py) with the user's over them."""
    return _checks.merge_thresholds(user or {})


def dig(data, *path, default=None):
    """data[path[0]][path[1]]... or default."""
    for key in path:
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, (list, tuple)) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return default
    return data


def _ran(result):
    """Whether a registered module result holds data (not skipped, not failed, not missing)."""
    return isinstance(result, dict) and bool(result) and not result.get("skipped") and not result.get("failed")


def _why_missing(name, result):
    if not isinstance(result, dict) or not result:
        return "%s did not run" % name
    if result.get("skipped"):
        return "%s was skipped" % name
    if result.get("failed"):
        return "%s failed: %s" % (name, str(result.get("msg") or result.get("exception") or "no message")[:300])
    return "%s gave no result" % name


def merge_checks(found):
    """Merge checks of the same id (two modules saying something about WAL-HEALTH): worst wins."""
    merged = {}
    for check in found:
        cid = check.get("id")
        if cid not in merged:
            merged[cid] = dict(check)
            continue
        have = merged[cid]
        if have.get("status") == check.get("status") and have.get("message") == check.get("message"):
            continue
        first, second = (have, check) if worst([have.get("status"), check.get("status")]) == have.get("status") else (check, have)
        combined = dict(first)
        if second.get("status") != "ok" and second.get("message") and second.get("message") != first.get("message"):
            combined["message"] = "%s; also: %s" % (first.get("message"), second.get("message"))
        merged[cid] = combined
    return merged


def rw_window(rw_result, baseline_result):
    """Seconds between the two remote-write readings, or None when it cannot be told."""
    for key in ("window_seconds", "interval_seconds", "elapsed_seconds"):
        value = number(dig(rw_result, key))
        if value is not None:
            return value
    times = []
    for result in (rw_result, baseline_result):
        snap = dig(result, "snapshot") or {}
        found = None
        for key in ("time", "timestamp", "ts", "taken_at"):
            found = number(snap.get(key)) if isinstance(snap, dict) else None
            if found is not None:
                break
        times.append(found)
    if None in times:
        return None
    return times[0] - times[1]


_WAL_LOG_PATTERN = re.compile(r"corrupt|repair|checkpoint|truncat|wal", re.I)


def _pattern_counts(logs_result):
    """{pattern: count} from an agent_logs result, whatever shape its counts have."""
    counts = {}
    for key in ("counts", "patterns", "by_pattern", "matches"):
        value = dig(logs_result, key)
        if isinstance(value, dict):
            for name, count in value.items():
                number_ = number(count.get("count") if isinstance(count, dict) else count)
                if number_:
                    counts[str(name)] = counts.get(str(name), 0) + number_
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    number_ = number(item.get("count"))
                    name = item.get("pattern") or item.get("name") or item.get("id")
                    if name and number_:
                        counts[str(name)] = counts.get(str(name), 0) + number_
    return counts


def wal_health_from_logs(logs_result):
    """WAL-HEALTH as the logs tell it: WAL corruption or repair lines are critical, failed
    checkpoints or truncations a warning; None when the logs say nothing about the WAL."""
    counts = {k: v for k, v in _pattern_counts(logs_result).items() if _WAL_LOG_PATTERN.search(k)}
    if not counts:
        return None
    text = ", ".join("%s %d" % (k, v) for k, v in sorted(counts.items()))
    if any(re.search("corrupt|repair", k, re.I) for k in counts):
        return make("WAL-HEALTH", "critical", int(sum(counts.values())), "no WAL corruption or repair",
                    "the agent's logs show WAL corruption or repair (%s): data between the corruption and the repair is lost; "
                    "find the cause (disk, OOM kill during a write) and watch the next restart" % text)
    return make("WAL-HEALTH", "warning", int(sum(counts.values())), "no failed checkpoint or truncation",
                "the agent's logs show WAL trouble (%s): the WAL may grow until the volume is full" % text)


# WAL failure counters of agent_status's ``wal`` (a failed write loses samples; failed checkpoints
# and truncations let the WAL grow until the volume is full)
WAL_FAILURE_COUNTERS = (
    ("writes_failed_total", "WAL write(s) failed"),
    ("checkpoint_creations_failed_total", "checkpoint creation(s) failed"),
    ("checkpoint_deletions_failed_total", "checkpoint deletion(s) failed"),
    ("truncations_failed_total", "WAL truncation(s) failed"),
)
DISK_FULL_ADVICE = "grow the PVC (or free space on the volume) now, then find why the WAL grew (WAL-SIZE, RW-LAG)"


def _human_bytes(value):
    value = number(value)
    if value is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return ("%d %s" % (value, unit)) if unit == "B" else ("%.1f %s" % (value, unit))
        value /= 1024.0
    return "%.1f TiB" % value


def _volume(wal_result):
    """(used ratio, available bytes, text) of wal_inspect's ``volume``; Nones when not measured."""
    vol = dig(wal_result, "volume") or {}
    if not isinstance(vol, dict):
        return None, None, None
    capacity = number(vol.get("capacity", vol.get("capacity_bytes")))
    used = number(vol.get("used", vol.get("used_bytes")))
    available = number(vol.get("available", vol.get("available_bytes")))
    ratio = number(vol.get("used_ratio"))
    if ratio is None and capacity and used is not None:
        ratio = used / capacity
    if ratio is None and available is None:
        return None, None, None
    text = "%s used (%s of %s, %s free)" % (
        "%.1f%%" % (ratio * 100) if ratio is not None else "?", _human_bytes(used), _human_bytes(capacity),
        _human_bytes(available))
    return ratio, available, text


def check_wal_writes(agent_result, logs_result, wal_result, th):
    """WAL-HEALTH from what the WAL verifier cannot see: failed WAL writes, checkpoints and
    truncations (agent_status's ``wal`` counters, since the baseline or since the agent started),
    ``no space left on device`` log lines (agent_logs' ``disk_full``) and a WAL volume at or near
    100% (wal_inspect's ``volume``). None when none of them says anything is wrong.

    Critical: the volume is full (every WAL write fails: samples are lost), or WAL writes fail with
    ``no space left on device`` while the volume is not known to have room again. Warning: any
    other failure or disk-full line in the window, or the volume near full.
    """
    wal = dig(agent_result, "wal") or {}
    increase = wal.get("increase") if isinstance(wal, dict) else None
    basis = (wal.get("basis") if isinstance(wal, dict) else None) or "since the agent started"
    failures = []
    for key, label in WAL_FAILURE_COUNTERS:
        count = number((increase or {}).get(key))
        if count and _checks.judge(count, th, warning="wal_failures_warning") != "ok":
            failures.append((key, int(count), label))
    writes = sum(count for key, count, _label in failures if key == "writes_failed_total")
    disk_lines = int(_pattern_counts(logs_result).get("disk_full", 0)) if _ran(logs_result) else 0
    ratio, available, volume_text = _volume(wal_result) if _ran(wal_result) else (None, None, None)
    volume_status = _checks.ratio_full(ratio, available, th["wal_volume_warning"], th["wal_volume_critical"])
    threshold = {"failures_warning": th["wal_failures_warning"], "volume_warning": th["wal_volume_warning"],
                 "volume_critical": th["wal_volume_critical"]}
    parts = []
    if failures:
        parts.append("%s %s" % (", ".join("%d %s" % (count, label) for _key, count, label in failures), basis))
    if disk_lines:
        parts.append("%d 'no space left on device' log line(s)" % disk_lines)
    seen = "; ".join(parts)
    also = " (%s)" % seen if seen else ""

    if volume_status == "critical":
        return make("WAL-HEALTH", "critical", ratio if ratio is not None else 1.0, threshold,
                    "the WAL volume is %s: it is full, every WAL write fails and scraped samples are lost%s; %s" % (
                        volume_text, also, DISK_FULL_ADVICE))
    if writes and disk_lines and volume_status != "ok":
        return make("WAL-HEALTH", "critical", writes, threshold,
                    "WAL writes fail with 'no space left on device' (%s): the volume is full and scraped samples are lost%s; %s" % (
                        seen, "" if volume_text is None else ", the WAL volume is " + volume_text, DISK_FULL_ADVICE))
    if volume_status == "warning":
        return make("WAL-HEALTH", "warning", ratio, threshold,
                    "the WAL volume is %s: near full, WAL writes fail once it is full%s; %s" % (volume_text, also, DISK_FULL_ADVICE))
    if not seen:
        return None
    if writes or disk_lines:
        advice = "samples were lost while writes failed; " + (
            "the WAL volume has room again (%s): find what filled it (WAL-SIZE, RW-LAG)" % volume_text if volume_text else
            "look at the WAL volume (PVC) and the agent's logs")
    else:
        advice = "the WAL grows until the volume is full: look at the agent's logs and the volume (PVC)"
    return make("WAL-HEALTH", "warning", writes or sum(count for _k, count, _l in failures) or disk_lines, threshold,
                "%s: %s" % (seen, advice))


def pod_table(pods, rw_pods=None):
    """One row per agent pod of ``agent_status``'s ``pods``: name, shard, phase, ready, restarts, healthy,
    resident memory, whether its last config reload succeeded, and from ``rw_pods`` (remote_write_stats's
    ``pods``) its remote-write status and delivered samples per second."""
    sent = {p.get("name"): p for p in rw_pods or [] if isinstance(p, dict)}
    rows = []
    for pod in pods or []:
        health = pod.get("health") or {}
        rows.append({"name": pod.get("name"), "shard": pod.get("shard"), "phase": pod.get("phase"), "ready": pod.get("ready"),
                     "restarts": pod.get("restarts"), "healthy": bool(health.get("healthy") and health.get("ready")) if health else None,
                     "health_error": health.get("error"), "memory_bytes": pod.get("memory_bytes"),
                     "config_reload_ok": pod.get("config_reload_ok"),
                     "rw_status": (sent.get(pod.get("name")) or {}).get("status"),
                     "samples_per_second": (sent.get(pod.get("name")) or {}).get("samples_per_second")})
    return rows


def extract_facts(results):
    """The figures the report draws and keeps, from whatever modules ran."""
    facts = {}
    agent = dig(results, "agent_status") or {}
    rw = dig(results, "remote_write_stats") or {}
    wal = dig(results, "wal_inspect") or {}
    ag = agent.get("agent") or {}
    for key in ("version", "mode", "uptime_seconds", "memory_bytes", "memory_limit_bytes", "cpu_cores", "healthy", "ready"):
        if ag.get(key) is not None:
            facts[key] = ag[key]
    pods = agent.get("pods") or []
    if pods:
        pod = pods[0]
        facts["pod"] = pod.get("name")
        facts["restarts"] = pod.get("restarts")
        limit = _quantity(dig(pod, "limits", "memory"))
        if limit is not None and "memory_limit_bytes" not in facts:
            facts["memory_limit_bytes"] = limit
    if len(pods) > 1:       # several pods (shards, replicas, DaemonSet): how many, and one row each
        facts["pod_count"] = len(pods)
        facts["pod_table"] = pod_table(pods, rw.get("pods"))
    series = number(dig(agent, "ingest", "active_series"))
    if series is not None:
        facts["active_series"] = series
    queues = rw.get("queues") or []
    lags = [number(q.get("lag_seconds")) for q in queues if number(q.get("lag_seconds")) is not None]
    ratios = [number(q.get("success_ratio")) for q in queues if number(q.get("success_ratio")) is not None]
    if lags:
        facts["lag_seconds"] = max(lags)
    if ratios:
        facts["success_ratio"] = min(ratios)
    pending = [number(q.get("pending_samples")) for q in queues if number(q.get("pending_samples")) is not None]
    if pending:
        facts["pending_samples"] = sum(pending)
    w = wal.get("wal") or {}
    vol = wal.get("volume") or {}
    if number(w.get("size_bytes")) is not None:
        facts["wal_bytes"] = number(w.get("size_bytes"))
    if w.get("segment_count") is not None:
        facts["wal_segments"] = w.get("segment_count")
    capacity = number(vol.get("capacity") or vol.get("capacity_bytes"))
    used = number(vol.get("used") or vol.get("used_bytes"))
    if capacity:
        facts["volume_capacity_bytes"] = capacity
    if used is not None:
        facts["volume_used_bytes"] = used
    ratio = number(vol.get("used_ratio"))
    if ratio is None and capacity and used is not None:
        ratio = used / capacity
    if ratio is not None:
        facts["wal_used_ratio"] = ratio
    return facts


# ----------------------------------------------------------------------------- computed checks

def _history_before(points, now, min_age, max_age=None):
    """The newest history point at least ``min_age`` seconds old (and at most ``max_age``)."""
    best = None
    for point in points or []:
        age = now - (number(point.get("time")) or 0)
        if age < min_age or (max_age is not None and age > max_age):
            continue
        if best is None or point["time"] > best["time"]:
            best = point
    return best


def check_wal_trend(facts, history, now, th, query_rate=None):
    """WAL-TREND: at the growth since an earlier measurement, when is the volume full.

    The growth is ``query_rate`` (bytes per second: the slope of the WAL's size over the last 7
    days in the central store) when the store has it, else the change since the newest earlier
    measurement of 1 h to 8 days ago in the history."""
    threshold = {"warning_days": th["wal_trend_warning_days"], "critical_days": th["wal_trend_critical_days"]}
    used = facts.get("volume_used_bytes", facts.get("wal_bytes"))
    capacity = facts.get("volume_capacity_bytes")
    if used is None or not capacity:
        return make("WAL-TREND", "unknown", None, threshold, "no WAL size or volume capacity was measured, so no trend")
    rate = number(query_rate)
    if rate is not None:
        window = "over the last 7 days (the query API)"
    else:
        earlier = _history_before(history, now, min_age=3600, max_age=8 * 86400)
        key = "volume_used_bytes" if "volume_used_bytes" in facts else "wal_bytes"
        if not earlier or number(earlier.get(key)) is None:
            return make("WAL-TREND", "unknown", None, threshold,
                        "no WAL size from 1 h to 8 days ago in the history, nor its growth from the query API (fleet_query_url);"
                        " the trend is known from the next weekly run on")
        span = now - earlier["time"]
        rate = (used - number(earlier[key])) / span
        window = "over the last %.1f days" % (span / 86400.0)
    free = capacity - used
    if rate <= 0:
        return make("WAL-TREND", "ok", 0.0, threshold, "the WAL volume did not grow %s" % window)
    days = free / rate / 86400.0
    value = round(days, 2)
    status = _checks.judge(days, th, "wal_trend_warning_days", "wal_trend_critical_days")
    return make("WAL-TREND", status, value, threshold,
                "growing %.1f MiB/day %s, the volume is full in %.1f days%s" % (
                    rate * 86400 / 1048576.0, window, days,
                    ": find why truncation does not keep up (receiver, churn) or grow the volume" if status != "ok" else ""))


def check_series(facts, history, now, th, query_value=None):
    """SERIES: active series now against a week ago (history, or the query API)."""
    threshold = {"warning": th["series_growth_warning"], "critical": th["series_growth_critical"]}
    current = number(facts.get("active_series"))
    if current is None:
        return make("SERIES", "unknown", None, threshold, "the agent's active series could not be read")
    before = number(query_value)
    if before is None:
        earlier = _history_before(history, now, min_age=6 * 86400, max_age=9 * 86400)
        before = number((earlier or {}).get("active_series"))
    if not before:
        return make("SERIES", "unknown", current, threshold,
                    "no figure from a week ago (history or fleet_query_url) to compare %d active series with" % current)
    growth = (current - before) / before
    status = _checks.judge(growth, th, "series_growth_warning", "series_growth_critical")
    return make("SERIES", status, round(growth, 4), threshold,
                "%d active series, %+.0f%% week over week%s" % (
                    current, growth * 100, ": look for a new high-cardinality target or label" if status != "ok" else ""))


def check_ooo(agent_result, duplicates, th):
    """OOO: out-of-order samples on this agent, and external labels shared with other clusters."""
    threshold = {"warning": th["ooo_warning"]}
    count = None
    for path in (("ingest", "out_of_order_samples_total"), ("ingest", "out_of_order_samples"),
                 ("agent", "out_of_order_samples_total")):
        count = number(dig(agent_result, *path))
        if count is not None:
            break
    if duplicates:
        return make("OOO", "warning", count, threshold,
                    "the external labels are the same as on %s: samples of two agents collide (prometheus#9867); "
                    "give each agent unique external labels" % ", ".join(sorted(duplicates)[:5]))
    if count is None:
        return make("OOO", "unknown", None, threshold, "the agent's out-of-order sample counter could not be read")
    if _checks.judge(count, th, warning="ooo_warning") != "ok":
        return make("OOO", "warning", count, threshold,
                    "%d out-of-order samples since start: look for two agents or targets writing the same series" % count)
    return make("OOO", "ok", count, threshold, "no out-of-order samples")


def _monitor_names(entries, most=5):
    shown = ["%s %s/%s" % (e.get("kind"), e.get("namespace"), e.get("name")) for e in entries[:most]]
    return ", ".join(shown + (["%d more" % (len(entries) - most)] if len(entries) > most else []))


def _by_kind(entries):
    """{kind: {'selected', 'with_targets', 'none', 'rejected'}} of the selected monitors, per kind."""
    out = {}
    for entry in entries:
        counts = out.setdefault(entry.get("kind") or "?", {"selected": 0, "with_targets": 0, "none": 0, "rejected": 0})
        counts["selected"] += 1
        state = entry.get("state")
        if state in ("ok", "down"):
            counts["with_targets"] += 1
        elif state in ("none", "rejected"):
            counts[state] += 1
    return out


def check_monitors(agent_result, th):
    """MONITORS: the ServiceMonitors/PodMonitors/Probes/ScrapeConfigs the agent selects (agent_status
    ``monitors``): each with active targets, none (a warning: its selector, namespace or port
    matches nothing; a Probe's or ScrapeConfig's targets give nothing), rejected by the operator
    (a warning), every target down (critical when that is the share ``monitors_down_critical_ratio``
    of the monitors with targets). ``value.by_kind``: the counts per kind."""
    threshold = {"warning": th["monitors_without_targets_warning"], "critical": th["monitors_down_critical_ratio"]}
    found = dig(agent_result, "monitors")
    if not isinstance(found, dict):
        return make("MONITORS", "unknown", None, threshold, "agent_status did not read the agent's monitors "
                    "(the agent's /api/v1/targets was not read)")
    if found.get("error"):
        return make("MONITORS", "unknown", None, threshold, "the monitors could not be read: %s" % found["error"])
    entries = [e for e in found.get("selected") or [] if isinstance(e, dict)]
    if not entries:
        why = found.get("note") or ("the cluster serves no ServiceMonitor, PodMonitor, Probe or ScrapeConfig" if found.get("served") is False
                                    else "no ServiceMonitor, PodMonitor, Probe or ScrapeConfig matches its selectors")
        return make("MONITORS", "ok", {"selected": 0}, threshold, "%s selects no monitor: %s" % (found.get("resource") or "the agent", why))
    by_state = dict((state, [e for e in entries if e.get("state") == state]) for state in ("ok", "down", "none", "rejected"))
    value = dict((state, len(items)) for state, items in by_state.items())
    value["selected"] = len(entries)
    value["active_targets"] = sum(int(e.get("active") or 0) for e in entries)
    value["by_kind"] = _by_kind(entries)
    with_targets = len(by_state["ok"]) + len(by_state["down"])
    down_ratio = (float(len(by_state["down"])) / with_targets) if with_targets else None
    parts = []
    if by_state["rejected"]:
        parts.append("rejected by the operator: %s (%s)" % (_monitor_names(by_state["rejected"]), by_state["rejected"][0].get("reason")))
    if by_state["none"]:
        kinds = set(e.get("kind") for e in by_state["none"])
        why = "its selector, namespaceSelector or port matches nothing"
        if kinds - {"ServiceMonitor", "PodMonitor"}:
            why = "a monitor's selector, namespaceSelector or port matches nothing; a Probe's or ScrapeConfig's targets give none"
        parts.append("no active target: %s (%s)" % (_monitor_names(by_state["none"]), why))
    if by_state["down"]:
        parts.append("every target down: %s" % _monitor_names(by_state["down"]))
    status = "ok"
    if _checks.judge(len(by_state["none"]) + len(by_state["rejected"]), th, warning="monitors_without_targets_warning") != "ok":
        status = "warning"
    if by_state["down"]:
        status = "warning"
        if _checks.judge(down_ratio, th, critical="monitors_down_critical_ratio") == "critical":
            status = "critical"
    ok_text = "%d monitor(s) selected, %d with active targets (%d targets)" % (len(entries), with_targets, value["active_targets"])
    return make("MONITORS", status, value, threshold, ok_text if not parts else "%s; %s" % (ok_text, "; ".join(parts)))


def check_version(facts, target, fleet_versions, th, release_list=None, today=None):
    """VERSION: running version against the release list (support ended, known issues), the
    oldest supported version and the target (default: the newest version in the fleet)."""
    running = facts.get("version")
    min_supported = th["version_min_supported"]
    known = sorted({v for v in fleet_versions or [] if version_tuple(v)}, key=version_tuple)
    target = target or (known[-1] if known else None)
    threshold = {"target": target, "min_supported": min_supported}
    if not running or not version_tuple(running):
        return make("VERSION", "unknown", running, threshold, "the agent's version could not be read")
    spread = " (fleet runs %s)" % ", ".join(known) if len(known) > 1 else ""
    verdict = _releases.judge(running, release_list, today=today) if release_list else None
    if verdict and verdict["status"] != "ok":
        return make("VERSION", verdict["status"], running, {"supported": verdict["supported"]},
                    "Prometheus %s: %s; upgrade to a supported release (%s)%s"
                    % (running, "; ".join(verdict["reasons"]), ", ".join(verdict["supported"]) or "see the release list", spread))
    if version_tuple(running) < version_tuple(min_supported):
        return make("VERSION", "critical", running, threshold,
                    "Prometheus %s is older than the oldest supported %s: upgrade%s" % (running, min_supported, spread))
    if target and version_tuple(target) and version_tuple(running) < version_tuple(target):
        return make("VERSION", "warning", running, threshold, "Prometheus %s is behind the target %s: plan the upgrade%s" % (running, target, spread))
    return make("VERSION", "ok", running, threshold, "Prometheus %s is at the target%s" % (running, spread))


def _resources(agent_result, kind):
    pods = dig(agent_result, "pods") or []
    pod = pods[0] if pods else {}
    out = {}
    for key in ("memory", "cpu"):
        value = dig(pod, kind, key)
        if value is None:
            value = dig(pod, "resources", kind, key)
        out[key] = _quantity(value)
    return out


def _mib(value):
    return "%dMi" % int(round(value / 1048576.0)) if value is not None else "-"


def _fmt_resources(resources):
    return ", ".join("%s %s" % (k, v) for k, v in sorted(resources.items()))


RIGHTSIZE_DAYS = 30


def usage_peaks(history, now, query=None, days=RIGHTSIZE_DAYS):
    """The month's peak memory and CPU of one cluster: the central query API's figures when it
    answered (``query``: {memory_bytes, cpu_cores} over ``days``), else the highest of the fleet
    history's readings of the last ``days`` (each daily, weekly and monthly run keeps the
    agent's memory and CPU); with their basis in words. None when neither has a figure."""
    query = query or {}
    if number(query.get("memory_bytes")) is not None:
        return {"memory_bytes": number(query["memory_bytes"]), "cpu_cores": number(query.get("cpu_cores")),
                "basis": "the last %d days at the query API (peak memory, p95 CPU)" % days}
    since = (now or 0) - days * 86400
    points = [p for p in history or [] if isinstance(p, dict) and (number(p.get("time")) or 0) >= since]
    memory = [number(p.get("memory_bytes")) for p in points if number(p.get("memory_bytes")) is not None]
    if not memory:
        return None
    cpu = [number(p.get("cpu_cores")) for p in points if number(p.get("cpu_cores")) is not None]
    return {"memory_bytes": max(memory), "cpu_cores": max(cpu) if cpu else None,
            "basis": "%d reading(s) of the fleet history in the last %d days and now" % (len(memory), days)}


def check_rightsize(agent_result, th, peaks=None):
    """RIGHTSIZE: memory and CPU used against requests and limits, with a recommendation. The use is
    the month's peak (``usage_peaks``) where there is one, and never less than now."""
    used_mem = number(dig(agent_result, "agent", "memory_bytes"))
    used_cpu = number(dig(agent_result, "agent", "cpu_cores"))
    basis = "now (no history of this cluster yet: one reading)"
    if peaks and used_mem is not None:
        used_mem = max(used_mem, peaks["memory_bytes"])
        if peaks.get("cpu_cores") is not None:
            used_cpu = max(used_cpu or 0.0, peaks["cpu_cores"])
        basis = peaks["basis"]
    requests = _resources(agent_result, "requests")
    limits = _resources(agent_result, "limits")
    off = th["rightsize_off_ratio"]
    threshold = {"off_ratio": off, "limit_critical_ratio": th["rightsize_limit_critical_ratio"]}
    if used_mem is None:
        return make("RIGHTSIZE", "unknown", None, threshold, "the agent's memory use could not be read")
    recommend = {"requests": {"memory": _mib(used_mem * 1.2)}, "limits": {"memory": _mib(max(used_mem * 2, (limits["memory"] or 0)))}}
    if used_cpu is not None:
        recommend["requests"]["cpu"] = "%dm" % max(10, int(round(used_cpu * 1.2 * 1000)))
    value = {"memory_bytes": used_mem, "cpu_cores": used_cpu, "requests": requests, "limits": limits, "basis": basis}
    if limits["memory"] and _checks.judge(used_mem / limits["memory"], th, critical="rightsize_limit_critical_ratio") != "ok":
        return make("RIGHTSIZE", "critical", value, threshold,
                    "memory %s is over %d%% of the limit %s (%s): raise the limit (recommended requests %s, limit %s)" % (
                        _mib(used_mem), th["rightsize_limit_critical_ratio"] * 100, _mib(limits["memory"]), basis,
                        recommend["requests"]["memory"], recommend["limits"]["memory"]))
    findings = []
    if requests["memory"]:
        ratio = used_mem / requests["memory"]
        if _checks.judge(abs(ratio - 1), th, warning="rightsize_off_ratio") != "ok":
            findings.append("memory uses %.0f%% of its request %s" % (ratio * 100, _mib(requests["memory"])))
    if requests["cpu"] and used_cpu is not None:
        ratio = used_cpu / requests["cpu"]
        if _checks.judge(abs(ratio - 1), th, warning="rightsize_off_ratio") != "ok":
            findings.append("CPU uses %.0f%% of its request %dm" % (ratio * 100, requests["cpu"] * 1000))
    if not requests["memory"] and not requests["cpu"]:
        return make("RIGHTSIZE", "warning", value, threshold,
                    "the agent has no resource requests: set requests to %s" % _fmt_resources(recommend["requests"]))
    if findings:
        return make("RIGHTSIZE", "warning", value, threshold,
                    "%s (%s): set requests to %s" % ("; ".join(findings), basis, _fmt_resources(recommend["requests"])))
    return make("RIGHTSIZE", "ok", value, threshold, "requests match the use (memory %s, %s)" % (_mib(used_mem), basis))


def check_uptime(value, reason, th):
    """UPTIME: availability over 30 days (a ratio from the query API)."""
    threshold = {"warning": th["uptime_warning"], "critical": th["uptime_critical"]}
    value = number(value)
    if value is None:
        return make("UPTIME", "unknown", None, threshold, reason or "no availability figure")
    status = _checks.judge(value, th, "uptime_warning", "uptime_critical")
    return make("UPTIME", status, round(value, 6), threshold,
                "available %.3f%% of the last 30 days%s" % (value * 100, "" if status == "ok" else ": read the restarts and POD history"))


def _take_store_day(merged, store):
    """The central store's day of remote write (a ``remote_write_stats`` result of source query) in
    ``merged``, for a cluster judged over a short window only (no usable earlier daily run): each of
    STORE_DAY_CHECKS is the store's where the agent's own reading could not judge it (unknown) or where
    the store's is worse; never better than what the agent itself shows, since an agent whose remote
    write fails now cannot put that in the store. A cluster with a window since the last daily run is
    judged over exactly that window by its own counters (the store's last 24 h would count again what
    yesterday's run reported)."""
    for check in store.get("checks") or []:
        cid = check.get("id")
        if cid not in STORE_DAY_CHECKS or check.get("status") == "unknown":
            continue
        have = merged.get(cid)
        if have is None or have.get("status") == "unknown" or \
                _checks.STATUS_ORDER[check["status"]] > _checks.STATUS_ORDER.get(have.get("status"), 0):
            merged[cid] = dict(check, message="%s (the central query API)" % check.get("message"))


# ----------------------------------------------------------------------------- the whole cluster

def evaluate(cadence, results, user_thresholds=None, errors=None, previous=None, context=None):
    """The cluster's ``fleet_result`` after one cadence.

    ``results``: {module name: registered result}. ``context``: computed-check inputs:
    ``now`` (epoch seconds), ``history`` (this cluster's points), ``baseline`` (the first
    remote_write_stats result), ``fleet_versions``, ``target_version``, ``duplicates``
    (clusters sharing this one's external labels), ``store_remote_write`` (daily: the central store's
    day of remote write, a remote_write_stats result), ``series_week_ago``, ``wal_growth_bytes_per_second``, ``uptime``,
    ``uptime_reason`` and ``window_note`` (why the remote-write rates are over this run's seconds
    only, not since the last daily run).
    """
    context = context or {}
    th = thresholds(user_thresholds)
    wanted = CADENCE_CHECKS[cadence]
    errors = [str(e) for e in errors or [] if e]

    found = []
    for name, result in (results or {}).items():
        if _ran(result):
            found.extend(c for c in result.get("checks") or [] if isinstance(c, dict) and c.get("id") in wanted)
    if "WAL-HEALTH" in wanted and _ran(results.get("agent_logs")):
        from_logs = wal_health_from_logs(results["agent_logs"])
        if from_logs:
            found.append(from_logs)
    if cadence == "daily":
        writes = check_wal_writes(results.get("agent_status") if _ran(results.get("agent_status")) else None,
                                  results.get("agent_logs"), results.get("wal_inspect"), th)
        if writes:
            found.append(writes)
    merged = merge_checks(found)

    for name, ids in SOURCES.items():
        if name not in results:
            continue
        result = results[name]
        why = None if _ran(result) else _why_missing(name, result)
        if why and errors and not (isinstance(result, dict) and result.get("failed")):
            why = "not measured, the gathering stopped at %s" % "; ".join(errors)[:300]
        for cid in ids:
            if cid in POD_CHECKS and isinstance(result, dict) and result.get("via") == "url":
                continue        # an agent reached by URL has no pod: POD and RESTARTS do not apply
            if cid in wanted and cid not in merged and cid not in COMPUTED:
                merged[cid] = make(cid, "unknown", None, None, why or ("%s did not report %s" % (name, cid)))

    if cadence == "daily" and _ran(results.get("remote_write_stats")):
        window = rw_window(results["remote_write_stats"], context.get("baseline"))
        if window is not None and _checks.judge(window, th, warning="rw_min_window_seconds") != "ok":
            for cid in RATE_CHECKS:
                if cid in merged and merged[cid].get("status") != "critical":
                    merged[cid] = make(cid, "unknown", merged[cid].get("value"), merged[cid].get("threshold"),
                                       "the two remote-write readings were %.1f s apart, less than %.0f s: no reliable rate" % (
                                           window, th["rw_min_window_seconds"]))
        if context.get("window_note"):
            # judged over the seconds of this run only: say why not since the last daily run
            for cid in WINDOW_CHECKS:
                if cid in merged:
                    merged[cid] = dict(merged[cid], message="%s (not since the last daily run: %s)" % (
                        merged[cid].get("message"), context["window_note"]))

    if cadence == "daily" and context.get("window_note") and isinstance(context.get("store_remote_write"), dict):
        # no window since the last daily run (a first run, a new cluster): the store's day where it says more
        _take_store_day(merged, context["store_remote_write"])

    facts = extract_facts(results)
    now = context.get("now")
    agent = results.get("agent_status") if _ran(results.get("agent_status")) else None
    agent_missing = _why_missing("agent_status", results.get("agent_status"))

    if cadence == "weekly":
        growth = context.get("wal_growth_bytes_per_second")
        merged["WAL-TREND"] = check_wal_trend(facts, context.get("history"), now, th, growth) if _ran(results.get("wal_inspect")) else \
            make("WAL-TREND", "unknown", None, None, _why_missing("wal_inspect", results.get("wal_inspect")))
        merged["SERIES"] = check_series(facts, context.get("history"), now, th, context.get("series_week_ago")) if agent else \
            make("SERIES", "unknown", None, None, agent_missing)
        merged["OOO"] = check_ooo(agent, context.get("duplicates"), th) if agent else make("OOO", "unknown", None, None, agent_missing)
        if not (agent or {}).get("via") == "url":     # an agent reached by URL has no operator resource
            merged["MONITORS"] = check_monitors(agent, th) if agent else make("MONITORS", "unknown", None, None, agent_missing)
    if cadence == "monthly":
        merged["VERSION"] = check_version(facts, context.get("target_version"), context.get("fleet_versions"), th,
                                          context.get("release_list")) if agent else \
            make("VERSION", "unknown", None, None, agent_missing)
        peaks = usage_peaks(context.get("history"), now, context.get("usage_peaks"))
        merged["RIGHTSIZE"] = check_rightsize(agent, th, peaks) if agent else make("RIGHTSIZE", "unknown", None, None, agent_missing)
        merged["UPTIME"] = check_uptime(context.get("uptime"), context.get("uptime_reason"), th)

    if errors and not merged:
        for cid in wanted:
            merged[cid] = make(cid, "unknown", None, None, "; ".join(errors)[:300])

    checks = [merged[cid] for cid in wanted if cid in merged]
    result = dict(previous or {})
    kept = [c for c in result.get("checks") or [] if c.get("id") not in merged]
    result["checks"] = kept + checks
    result["status"] = worst(c.get("status", "unknown") for c in result["checks"]) if result["checks"] else "unknown"
    result_facts = dict(result.get("facts") or {})
    result_facts.update(facts)
    result["facts"] = result_facts
    result["cadences"] = sorted(set(result.get("cadences") or []) | {cadence})
    if errors:
        result["errors"] = list(result.get("errors") or []) + errors
    if result["checks"] and all(c.get("status") == "unknown" for c in result["checks"]):
        result["reason"] = result["checks"][0].get("message")
    else:
        result.pop("reason", None)
    return result
