# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report: build the document from per-cluster results and render its four files.

Controller-side only (used by the ``fleet_report`` action plugin); no Ansible imports, so it is
unit-tested alone. Jinja2 renders the HTML and Markdown templates of the ``fleet_report`` role;
the JSON and the Prometheus text file are written here. 500 clusters take well under a second.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import tempfile

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import checks as _checks
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import units as _units
# the one scrubber (also of every module's result): the report files carry what it leaves
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.scrub import scrub
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import fleet_checks as _fleet_checks
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import history_store

STATUSES = ("ok", "warning", "critical", "unknown")
# severity for sorting: critical > warning > unknown > ok (checks.worst's order)
SEVERITY = _checks.STATUS_ORDER  # ok 0, unknown 1, warning 2, critical 3
# the value of fleet_check_status in the Prometheus text file
PROM_STATUS = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}

# the report's column order: the cadences' checks as fleet_checks lists them (daily, weekly, monthly)
CHECK_ORDER = tuple(cid for cadence in ("daily", "weekly", "monthly") for cid in _fleet_checks.CADENCE_CHECKS[cadence])

# facts drawn as charts in the HTML page: (key, title, unit, the checks whose status colours a bar)
CHARTS = (
    ("wal_used_ratio", "WAL volume use", "ratio", ("WAL-HEALTH", "PVC")),
    ("lag_seconds", "Remote-write lag", "seconds", ("RW-LAG",)),
    ("memory_bytes", "Resident memory", "bytes", ("MEMORY",)),
    ("success_ratio", "Remote-write success ratio", "ratio", ("RW-SUCCESS",)),
)
# a chart draws every cluster up to CHART_ALL of them; above, the CHART_BARS worst with figures
# and up to CHART_NO_DATA without (a line says how many more)
CHART_ALL = 40
CHART_BARS = 30
CHART_NO_DATA = 10
# what a cell of the table of every cluster shows (short: the table fits 1280 px; its title says it all)
CELL_TEXT = {"ok": "ok", "warning": "warn", "critical": "CRIT", "unknown": "unkn"}
STATUS_COLOURS = {"ok": "#2da44e", "warning": "#d4a72c", "critical": "#cf222e", "unknown": "#8c959f"}


def _plain(value):
    """JSON-safe plain data (Ansible's unsafe strings and tuples become str and lists)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def normalise_check(check):
    """One check as the report has it: id, status, value, threshold, message."""
    check = dict(check or {})
    status = str(check.get("status", "unknown"))
    if status not in SEVERITY:
        status = "unknown"
    return {
        "id": str(check.get("id", "?")),
        "status": status,
        "value": _plain(check.get("value")),
        "threshold": _plain(check.get("threshold")),
        "message": str(check.get("message") or ""),
    }


def cluster_entry(result, reason_if_missing="the checks did not run for this cluster", planner=None):
    """The report entry of one cluster from its ``fleet_result`` (or None when it has none)."""
    if not isinstance(result, dict) or not result:
        return {"status": "unknown", "reason": reason_if_missing, "checks": [], "remediation": [], "facts": {}}
    checks = [normalise_check(c) for c in result.get("checks") or []]
    order = {cid: i for i, cid in enumerate(CHECK_ORDER)}
    checks.sort(key=lambda c: (order.get(c["id"], len(order)), c["id"]))
    status = _checks.worst(c["status"] for c in checks) if checks else "unknown"
    entry = {"status": status, "checks": checks, "facts": _plain(result.get("facts") or {})}
    errors = [str(e) for e in result.get("errors") or [] if e]
    if errors:
        entry["errors"] = errors
    if result.get("reason") or (not checks):
        entry["reason"] = str(result.get("reason") or "; ".join(errors) or "no check produced a result")
    remediation = result.get("remediation")
    if remediation is None and planner is not None:
        try:
            remediation = planner(checks)
        except Exception as exc:  # pylint: disable=broad-except
            remediation = [{"action": "none", "reason": "remediation plan failed: %s" % exc}]
    entry["remediation"] = _plain(remediation or [])
    _add_agent(entry, result)
    return entry


def _add_agent(entry, agent):
    """``cluster`` and ``agent`` of a host that is one agent of a cluster (the kubeconfig
    inventory's ``agents``), kept from ``agent`` (a mapping that has them, or a report entry of a
    slice being merged)."""
    if isinstance(agent, dict) and agent.get("agent"):
        entry["agent"] = str(agent["agent"])
        entry["cluster"] = str(agent.get("cluster") or "")


def build(results, cadence, generated_at=None, planner=None, missing_reasons=None, agents=None):
    """The report document.

    ``results``: {inventory host: fleet_result or None}. ``missing_reasons``: {host: why} for
    hosts with no result (a failed or unreachable host). ``planner``: checks -> remediation list.
    ``agents``: {host: {cluster, agent}} for the hosts that are each one agent of a cluster.
    """
    generated_at = generated_at or datetime.datetime.now(datetime.timezone.utc)
    missing_reasons = missing_reasons or {}
    agents = agents or {}
    clusters = {}
    for host in sorted(results):
        clusters[str(host)] = cluster_entry(results[host], missing_reasons.get(host, "the checks did not run for this cluster"), planner)
        _add_agent(clusters[str(host)], agents.get(host))
    summary = {"clusters": len(clusters)}
    for status in STATUSES:
        summary[status] = sum(1 for c in clusters.values() if c["status"] == status)
    by_check = {}
    for name, cluster in clusters.items():
        for check in cluster["checks"]:
            counts = by_check.setdefault(check["id"], {s: 0 for s in STATUSES})
            counts[check["status"]] += 1
    summary["checks"] = {cid: by_check[cid] for cid in _ordered_ids(by_check)}
    summary["status"] = _checks.worst(c["status"] for c in clusters.values()) if clusters else "unknown"
    summary["critical_clusters"] = sorted(n for n, c in clusters.items() if c["status"] == "critical")
    summary["warning_clusters"] = sorted(n for n, c in clusters.items() if c["status"] == "warning")
    summary["unknown_clusters"] = sorted(n for n, c in clusters.items() if c["status"] == "unknown")
    cadences = cadence if isinstance(cadence, (list, tuple)) else [c for c in str(cadence).split(",") if c]
    doc = {
        "generated_at": generated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cadence": ",".join(cadences) if cadences else "daily",
        "summary": summary,
    }
    doc = scrub(doc)
    # cluster names are inventory host names, never secrets: keep every one, scrub what they hold
    doc["clusters"] = {name: scrub(entry) for name, entry in clusters.items()}
    return doc


def _ordered_ids(ids):
    order = {cid: i for i, cid in enumerate(CHECK_ORDER)}
    return sorted(ids, key=lambda cid: (order.get(cid, len(order)), cid))


def check_columns(doc):
    """The check ids present in a report, in catalog order."""
    return _ordered_ids({c["id"] for cl in doc["clusters"].values() for c in cl["checks"]})


# ----------------------------------------------------------------------------- values a person reads

# the unit of a value by the end of its key (values that are dicts: RIGHTSIZE, RW-LATENCY, ...)
_KEY_UNITS = (("_bytes", "bytes"), ("_seconds", "seconds"), ("_ratio", "ratio"), ("_days", "days"),
              ("_cores", "cores"), ("memory", "bytes"), ("cpu", "cores"))
_LEVELS = ("critical", "warning")


def _num(value, digits=1):
    """A number with at most ``digits`` decimals and no trailing zeros: 40.0 -> 40, 41.25 -> 41.2."""
    text = "%.*f" % (digits, value)
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_value(value, unit):
    """One number in its catalog unit (core/checks.py UNITS) as a person reads it:
    bytes 44291850240 -> "41.2 GiB", ratio 0.995 -> "99.5%", seconds 21600 -> "6 h"."""
    number = _number(value)
    if number is None:
        return _short(value)
    if unit == "bytes":
        for size, suffix in ((_units.QUANTITY_FACTORS["Ti"], "TiB"), (_units.QUANTITY_FACTORS["Gi"], "GiB"),
                             (_units.QUANTITY_FACTORS["Mi"], "MiB"), (_units.QUANTITY_FACTORS["Ki"], "KiB")):
            if abs(number) >= size:
                return "%s %s" % (_num(number / size), suffix)
        return "%d B" % number
    if unit == "ratio":
        return "%s%%" % _num(number * 100, 3)
    if unit == "seconds":
        for size, suffix in ((86400.0 * 2, "days"), (3600.0 * 2, "h"), (120.0, "min")):
            if abs(number) >= size:
                return "%s %s" % (_num(number / (size / 2)), suffix)
        return ("%s ms" % _num(number * 1000)) if 0 < abs(number) < 1 else "%s s" % _num(number)
    if unit == "per_second":
        return "%s/s" % _num(number, 3)
    if unit == "days":
        return "%s day%s" % (_num(number), "" if number == 1 else "s")
    if unit == "cores":
        return "%s cores" % _num(number, 3)
    if unit == "count" and number.is_integer():
        return "{:,}".format(int(number))
    return _num(number, 4)


def _catalog_entries(cid):
    return [entry for entry in _checks.THRESHOLDS if entry.check == cid]


def _entry_of(cid, key):
    """The catalog threshold of check ``cid`` that a key of its threshold or value names:
    ``warning`` -> ``rw_lag_warning``, ``p99_warning`` -> ``rw_latency_p99_warning``."""
    entries = _catalog_entries(cid)
    key = str(key)
    for entry in entries:
        if entry.key == key or entry.key.endswith("_" + key):
            return entry
    words = set(key.split("_"))
    for entry in entries:
        if words <= set(entry.key.split("_")):
            return entry
    return None


def value_unit(cid, value, key=None):
    """The unit of a check's value: its catalog unit (by ``key`` when the value sits in a dict)."""
    if key is not None:
        entry = _entry_of(cid, key)
        if entry is not None:
            return entry.unit
        for suffix, unit in _KEY_UNITS:
            if str(key).endswith(suffix):
                return unit
    units = [entry.unit for entry in _catalog_entries(cid)]
    if not units:
        return None
    # a check whose thresholds mix counts and ratios (WAL-HEALTH): a fraction is the ratio
    if units[0] == "count" and "ratio" in units and isinstance(value, float) and 0 <= value <= 1:
        return "ratio"
    return units[0]


def describe_value(cid, value, key=None):
    """A check's value as text: numbers in their unit, dicts as "key value, ..." (empty for None)."""
    if value is None or value == "" or value == {} or value == []:
        return ""
    if isinstance(value, dict):
        parts = []
        for name, item in value.items():
            text = describe_value(cid, item, name)
            if isinstance(item, dict) and text:
                text = "(%s)" % text
            label = str(name)
            for suffix, _unit in _KEY_UNITS[:5]:
                label = label[:-len(suffix)] if label.endswith(suffix) else label
            if text:
                parts.append("%s %s" % (label.replace("_", " "), text))
        return ", ".join(parts)
    if isinstance(value, list):
        return ", ".join(t for t in (describe_value(cid, item, key) for item in value) if t)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return format_value(value, value_unit(cid, value, key))
    return str(value)


def _threshold_order(item):
    key = str(item[0])
    level = 0 if "warning" in key else 1 if "critical" in key else 2
    return (level, key not in _LEVELS)


def describe_threshold(cid, threshold):
    """A check's threshold as text: {"warning": 40 GiB, "critical": 45 GiB} of WAL-SIZE ->
    "warning above 40 GiB, critical above 45 GiB" (the side that is bad from the catalog)."""
    if threshold is None or threshold == "" or threshold == {}:
        return ""
    if not isinstance(threshold, dict):
        return "expected %s" % describe_value(cid, threshold)
    parts = []
    # warnings before criticals whatever the order of the dict (the JSON sorts its keys)
    for key, limit in sorted(threshold.items(), key=_threshold_order):
        words = [w for w in str(key).split("_") if w not in ("ratio", "seconds", "days")]
        level = next((w for w in words if w in _LEVELS), None)
        rest = " ".join(w for w in words if w not in _LEVELS)
        entry = _entry_of(cid, key)
        if isinstance(limit, bool):  # critical_needs_lag: "critical only with lag"
            parts.append(" ".join(str(key).split("_")).replace(" needs ", " only with ") if limit else "")
            continue
        if isinstance(limit, (int, float)):
            limit_text = format_value(limit, entry.unit if entry else value_unit(cid, limit, key))
            side = entry.bad_when if entry else "above"
        else:
            limit_text, side = describe_value(cid, limit), ""
        head = " ".join(w for w in (level, side) if w) if level else (rest + " " + side if side else rest)
        text = "%s %s" % (head, limit_text) if head else limit_text
        if level and rest:
            text = "%s: %s" % (rest, text)
        elif level and not side:
            text = "%s: %s" % (level, limit_text)
        parts.append(text)
    return ", ".join(p for p in parts if p)


def describe(check):
    """The value and the threshold of one check in one line a person reads:
    "41.2 GiB; warning above 40 GiB, critical above 45 GiB"."""
    value = describe_value(check["id"], check.get("value"))
    threshold = describe_threshold(check["id"], check.get("threshold"))
    return "; ".join(t for t in (value, threshold) if t)


def check_href(cid, checks_doc):
    """The link of a check id to its row in docs/checks.md (anchor ``check-<id>``)."""
    return "%s#check-%s" % (checks_doc, str(cid).lower()) if checks_doc else ""


def fold_checks(checks, reason=""):
    """A cluster's checks that are not ok, one line per distinct (status, message): an error that
    repeats for every check (an unreachable agent) is one line naming the checks, not one each.
    Returns [{ids, status, message, detail}], worst first; a message equal to ``reason`` is left
    out (the cluster's reason already says it)."""
    groups = {}
    for check in checks:
        if check["status"] == "ok":
            continue
        key = (check["status"], check["message"])
        groups.setdefault(key, []).append(check)
    # "the agent does not answer: <cause>" and "<cause>" of the same status are one cause
    for status, message in sorted(groups, key=lambda k: -len(k[1])):
        cause = next((other for (s, other) in groups if s == status and len(other) >= 20 and other != message and other in message), None)
        if cause is not None:
            groups[(status, cause)] += groups.pop((status, message))
    lines = []
    for (status, message), members in groups.items():
        only = members[0]
        detail = describe(only) if len(members) == 1 and not (status == "unknown" and only.get("value") is None) else ""
        lines.append({"ids": [c["id"] for c in members], "status": status,
                      "message": "" if reason and message == reason else message, "detail": detail})
    lines.sort(key=lambda line: -SEVERITY[line["status"]])
    return lines


def findings_by_check(doc):
    """The checks that are critical or warning somewhere, worst first, with their clusters:
    [{id, critical, warning, unknown, clusters: [{name, status, message, detail}]}]."""
    found = {}
    for name, cluster in doc["clusters"].items():
        for check in cluster["checks"]:
            if check["status"] in ("critical", "warning"):
                found.setdefault(check["id"], []).append({"name": name, "status": check["status"],
                                                          "message": check["message"], "detail": describe(check)})
    out = []
    for cid in _ordered_ids(found):
        counts = doc["summary"]["checks"].get(cid, {})
        clusters = sorted(found[cid], key=lambda c: (-SEVERITY[c["status"]], c["name"]))
        out.append({"id": cid, "critical": counts.get("critical", 0), "warning": counts.get("warning", 0),
                    "unknown": counts.get("unknown", 0), "clusters": clusters})
    out.sort(key=lambda f: (-f["critical"], -f["warning"]))
    return out


# ----------------------------------------------------------------------------- Prometheus text

def _number(value):
    """A gauge value of a JSON value: numbers (finite) and booleans; text is not a number here."""
    if isinstance(value, bool):
        return float(value)
    return _units.number(value) if isinstance(value, (int, float)) else None


def _prometheus_client():
    """prometheus_client's exposition module (a requirement of the collection, see requirements.txt)."""
    try:
        from prometheus_client import core, exposition  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise ValueError("the Prometheus text file needs the Python package prometheus-client on the controller "
                         "(pip install prometheus-client; it is in the collection's requirements.txt): %s" % exc) from exc
    return core, exposition


class ReportCollector:
    """The report's series for a prometheus_client registry. Every series carries the report's
    ``cadence`` label, so the daily, weekly and monthly files can sit in one textfile directory."""

    def __init__(self, doc):
        self.doc = doc

    def describe(self):
        """No fixed names to announce (the registry is made for one write)."""
        return []

    def collect(self):
        """The families: fleet_check_status, fleet_check_value, fleet_cluster_status, fleet_clusters,
        fleet_report_generated_timestamp_seconds."""
        core, _exposition = _prometheus_client()
        doc, cadence = self.doc, self.doc["cadence"]
        # cluster: the inventory host, or for one agent of a cluster (``agent`` in its entry) the
        # cluster, with the agent's name in an ``agent`` label; a report with no such host has no
        # ``agent`` label (its series as before), one with some gives the others agent="" (the same
        # series for Prometheus as no label)
        with_agent = any(c.get("agent") for c in doc["clusters"].values())
        names = ("cluster", "agent") if with_agent else ("cluster",)
        status = core.GaugeMetricFamily("fleet_check_status", "Result of a fleet check: 0 ok, 1 warning, 2 critical, 3 unknown.",
                                        labels=names + ("check", "cadence"))
        value = core.GaugeMetricFamily("fleet_check_value", "The value a fleet check measured (in the unit of its threshold).",
                                       labels=names + ("check", "cadence"))
        cluster_status = core.GaugeMetricFamily("fleet_cluster_status", "Worst check of a cluster: 0 ok, 1 warning, 2 critical, 3 unknown.",
                                                labels=names + ("cadence",))
        seen = set()
        for name, cluster in doc["clusters"].items():
            agent = cluster.get("agent") or ""
            who = ((cluster.get("cluster") or name), agent) if agent else ((name, "") if with_agent else (name,))
            if who in seen:  # one series per cluster (and agent): node_exporter refuses duplicates
                continue
            seen.add(who)
            checks_seen = set()
            for check in cluster["checks"]:
                if check["id"] in checks_seen:  # one series per check
                    continue
                checks_seen.add(check["id"])
                status.add_metric(who + (check["id"], cadence), PROM_STATUS[check["status"]])
                number = _number(check["value"])
                if number is not None:
                    value.add_metric(who + (check["id"], cadence), number)
            cluster_status.add_metric(who + (cadence,), PROM_STATUS[cluster["status"]])
        clusters = core.GaugeMetricFamily("fleet_clusters", "Clusters in the report by status.", labels=("status", "cadence"))
        for name in STATUSES:
            clusters.add_metric((name, cadence), doc["summary"][name])
        generated = datetime.datetime.strptime(doc["generated_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        stamp = core.GaugeMetricFamily("fleet_report_generated_timestamp_seconds", "When the report was made.", labels=("cadence",))
        stamp.add_metric((cadence,), int(generated.timestamp()))
        return [status, value, cluster_status, clusters, stamp]


def _registry(doc):
    core, _exposition = _prometheus_client()
    registry = core.CollectorRegistry(auto_describe=False)
    registry.register(ReportCollector(doc))
    return registry


def render_prom(doc):
    """The report as Prometheus text exposition (for node_exporter's textfile collector)."""
    _core, exposition = _prometheus_client()
    return exposition.generate_latest(_registry(doc)).decode("utf-8")


def write_prom(doc, path):
    """Write the Prometheus text file with prometheus_client's ``write_to_textfile``: a temporary
    file beside it (its name does not end in .prom) renamed over it, so the textfile collector
    never reads half a file."""
    _core, exposition = _prometheus_client()
    exposition.write_to_textfile(path, _registry(doc))
    os.chmod(path, 0o644)
    return path


def prom_file_name(cadence):
    """The file name in a textfile directory: one file per cadence (fleet-report-daily.prom)."""
    return "fleet-report-%s.prom" % (re.sub(r"[^a-z0-9_]+", "-", str(cadence).lower()).strip("-") or "daily")


# ----------------------------------------------------------------------------- HTML / Markdown

def _bar_status(cluster, check_ids):
    by_id = {c["id"]: c["status"] for c in cluster["checks"]}
    found = [by_id[cid] for cid in check_ids if cid in by_id]
    return _checks.worst(found) if found else cluster["status"]


def chart(doc, key, title, unit, check_ids):
    """The geometry of one horizontal bar chart (drawn as SVG by the HTML template, no script):
    a bar per cluster coloured by the status of its check, labelled with the cluster and its
    value; a cluster without the figure (unreachable, not measured) is a grey "no data" bar."""
    with_data, without = [], []
    for name, cluster in doc["clusters"].items():
        number = _number((cluster.get("facts") or {}).get(key))
        status = _bar_status(cluster, check_ids)
        if number is None:
            reason = cluster.get("reason") or "not measured"
            without.append({"name": name, "status": status, "value": None, "text": "no data: %s" % reason})
        else:
            with_data.append({"name": name, "status": status, "value": number, "text": format_value(number, unit)})
    entries = _catalog_entries(check_ids[0])
    low_is_bad = bool(entries) and not entries[0].above
    with_data.sort(key=lambda b: (-SEVERITY[b["status"]], b["value"] if low_is_bad else -b["value"], b["name"]))
    without.sort(key=lambda b: b["name"])
    more = 0
    if len(with_data) + len(without) > CHART_ALL:
        more = max(0, len(with_data) - CHART_BARS) + max(0, len(without) - CHART_NO_DATA)
        drawn_data, drawn_no_data = with_data[:CHART_BARS], without[:CHART_NO_DATA]
    else:
        drawn_data, drawn_no_data = with_data, without
    bars = drawn_data + drawn_no_data
    width, label_w, value_w, row_h, top = 560, 150, 150, 16, 22
    plot_w = width - label_w - value_w
    top_value = max([row["value"] for row in drawn_data] + [0])
    scale = max(top_value, 1.0) if unit == "ratio" else (top_value or 1.0)
    for i, row in enumerate(bars):
        row["y"] = top + i * row_h
        row["label"] = row["name"] if len(row["name"]) <= 22 else row["name"][:21] + "\u2026"
        row["colour"] = STATUS_COLOURS[row["status"]]
        row["width"] = plot_w if row["value"] is None else max(1.0, round(plot_w * max(row["value"], 0) / scale, 1))
    height = top + len(bars) * row_h + (22 if more or not bars else 8)
    return {"key": key, "title": title, "unit": unit, "checks": list(check_ids), "bars": bars, "more": more,
            "no_data": len(without), "with_data": len(with_data), "scale_text": format_value(scale, unit),
            "width": width, "height": height, "label_w": label_w, "plot_w": plot_w, "row_h": row_h, "top": top}


def charts(doc):
    """Every chart of the page (``CHARTS``)."""
    return [chart(doc, key, title, unit, check_ids) for key, title, unit, check_ids in CHARTS]


def _short(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return "%.4g" % value
    if isinstance(value, (dict, list)):
        text = json.dumps(value, sort_keys=True)
        return text if len(text) <= 80 else text[:77] + "..."
    return str(value)


def template_context(doc, checks_doc=None):
    """What the HTML and Markdown templates get; ``checks_doc``: where the check ids link to
    (docs/checks.md, whose rows have the anchors ``check-<id>``)."""
    columns = check_columns(doc)
    rows = []
    for name, cluster in doc["clusters"].items():
        by_id = {c["id"]: c for c in cluster["checks"]}
        rows.append({
            "name": name,
            "status": cluster["status"],
            "severity": SEVERITY[cluster["status"]],
            "reason": cluster.get("reason", ""),
            "cells": [by_id.get(cid) for cid in columns],
            "bad": [c for c in cluster["checks"] if c["status"] != "ok"],
            "lines": fold_checks(cluster["checks"], cluster.get("reason", "")),
            "remediation": cluster.get("remediation") or [],
            # an agent of several pods: one row each (the checks above name the bad ones)
            "pods": (cluster.get("facts") or {}).get("pod_table") or [],
        })
    rows.sort(key=lambda r: (-r["severity"], r["name"]))
    return {
        "doc": doc,
        "summary": doc["summary"],
        "columns": columns,
        "rows": rows,
        "severity": SEVERITY,
        "charts": charts(doc),
        "by_check": findings_by_check(doc),
        "checks_doc": checks_doc or "",
        "cell_text": CELL_TEXT,
        "short": _short,
    }


def render_template(path, context, autoescape):
    """Render one Jinja2 template file with a plain environment (no Ansible templating)."""
    import jinja2  # pylint: disable=import-outside-toplevel
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.dirname(path)), autoescape=autoescape,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["short"] = _short
    env.filters["describe"] = describe
    env.filters["check_href"] = check_href
    return env.get_template(os.path.basename(path)).render(**context)


def write_atomic(path, text):
    """Write a file whole or not at all."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_report(doc, directory, html_template, md_template, checks_doc=None, textfile_dir=None):
    """Write the four files; returns {kind: path}.

    ``textfile_dir``: the Prometheus text file goes there, one file per cadence
    (``prom_file_name``), instead of ``fleet-report.prom`` beside the other three: a directory of
    its own for node_exporter's textfile collector, which then never sees HTML or JSON.
    ``checks_doc``: where the check ids of the HTML and Markdown link to."""
    os.makedirs(directory, exist_ok=True)
    context = template_context(doc, checks_doc)
    paths = {
        "json": os.path.join(directory, "fleet-report.json"),
        "md": os.path.join(directory, "fleet-report.md"),
        "html": os.path.join(directory, "fleet-report.html"),
        "prom": os.path.join(directory, "fleet-report.prom"),
    }
    if textfile_dir:
        os.makedirs(textfile_dir, exist_ok=True)
        paths["prom"] = os.path.join(textfile_dir, prom_file_name(doc["cadence"]))
    write_atomic(paths["json"], json.dumps(doc, indent=1, sort_keys=True) + "\n")
    write_atomic(paths["md"], render_template(md_template, context, autoescape=False))
    write_atomic(paths["html"], render_template(html_template, context, autoescape=True))
    write_prom(doc, paths["prom"])
    return paths


# ----------------------------------------------------------------------------- history

# (memory and CPU: the month's peak for RIGHTSIZE)
HISTORY_FACTS = ("wal_bytes", "volume_used_bytes", "volume_capacity_bytes", "active_series", "version", "memory_bytes", "cpu_cores")


def update_history(path, doc, keep_days=90, max_points=400, snapshots=None):
    """Append this report's per-cluster facts to the history file (for WAL-TREND and SERIES).

    ``snapshots``: {cluster: the ``snapshot`` of its audit} (the counters the daily run read): kept
    in the cluster's newest point only, where the next daily run starts its window
    (``latest_snapshots``); a cluster without one this time keeps its earlier one."""
    history = load_history(path)
    snapshots = snapshots or {}
    now = datetime.datetime.strptime(doc["generated_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
    horizon = now - keep_days * 86400
    for name, cluster in doc["clusters"].items():
        facts = cluster.get("facts") or {}
        point = {k: facts[k] for k in HISTORY_FACTS if facts.get(k) is not None}
        points = [p for p in history.get(name, []) if isinstance(p, dict) and (_units.number(p.get("time")) or 0) >= horizon]
        if cluster.get("checks"):
            # what the next report compares with ("since the last audit"): this cadence's findings
            point["cadence"] = doc["cadence"]
            point["findings"] = {c["id"]: c["status"] for c in cluster["checks"] if c.get("status") != "ok"}
        if isinstance(snapshots.get(name), dict) and snapshots[name]:
            point["snapshot"] = scrub(snapshots[name])
            points = [{k: v for k, v in p.items() if k != "snapshot"} for p in points]
        if point:
            point["time"] = now
            points.append(point)
        if points:
            history[name] = points[-max_points:]
    # under the file's lock, only this run's clusters: the other slices' records stay as they are
    return history_store.update(path, history_store.records_of(history, doc["clusters"]))


def since_last_audit(doc, history):
    """The report's "since the last audit": per finding (cluster, check) whether it is ``new``,
    ``resolved`` or ``still_open`` against the newest earlier point of the same cadence in the
    history; clusters without one are ``first_audit``. Call it before ``update_history``."""
    out = {"new": [], "resolved": [], "still_open": [], "first_audit": [], "previous": None}
    for name in sorted(doc["clusters"]):
        cluster = doc["clusters"][name]
        earlier = None
        for point in reversed(history.get(name) or []):
            if isinstance(point, dict) and point.get("cadence") == doc["cadence"] and isinstance(point.get("findings"), dict):
                earlier = point
                break
        if earlier is None:
            out["first_audit"].append(name)
            continue
        when = _units.number(earlier.get("time"))
        if when is not None and (out["previous"] is None or when > out["previous"]):
            out["previous"] = when
        before = earlier["findings"]
        now = {c["id"]: c["status"] for c in cluster["checks"] if c.get("status") != "ok"}
        judged = {c["id"] for c in cluster["checks"]}
        for cid, status in now.items():
            entry = {"cluster": name, "id": cid, "status": status}
            if cid in before:
                out["still_open"].append(dict(entry, was=before[cid]))
            else:
                out["new"].append(entry)
        for cid, status in before.items():
            if cid not in now and cid in judged:
                out["resolved"].append({"cluster": name, "id": cid, "status": "ok", "was": status})
    if out["previous"] is not None:
        out["previous"] = datetime.datetime.fromtimestamp(out["previous"], datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def latest_snapshots(history):
    """{cluster: the newest audit snapshot in its history}: where each daily window starts."""
    found = {}
    for name, points in (history or {}).items():
        for point in reversed(points if isinstance(points, list) else []):
            if isinstance(point, dict) and isinstance(point.get("snapshot"), dict):
                found[name] = point["snapshot"]
                break
    return found


def load_history(path):
    """The history file's content ({cluster: [{time, fact: value}, ...]}), empty when missing."""
    return history_store.load(path)
