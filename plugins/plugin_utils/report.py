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

STATUSES = ("ok", "warning", "critical", "unknown")
# severity for sorting: critical > warning > unknown > ok (checks.worst's order)
SEVERITY = _checks.STATUS_ORDER  # ok 0, unknown 1, warning 2, critical 3
# the value of fleet_check_status in the Prometheus text file
PROM_STATUS = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}

CHECK_ORDER = (
    "POD", "RESTARTS", "HEALTH", "RW-SUCCESS", "RW-RETRY", "RW-LAG", "RW-PENDING", "RW-SHARDS",
    "RW-LATENCY", "WAL-SIZE", "WAL-HEALTH", "MEMORY", "INGEST", "CONFIG",
    "PVC", "WAL-TREND", "TARGETS", "LOGS", "RULES", "SERIES", "OOO",
    "VERSION", "RIGHTSIZE", "WAL-ROTATION", "BACKUP", "UPTIME",
)

# facts drawn as charts in the HTML page: (key, title, unit)
CHARTS = (
    ("wal_used_ratio", "WAL volume use", "ratio"),
    ("lag_seconds", "Remote-write lag", "seconds"),
    ("memory_bytes", "Resident memory", "bytes"),
    ("success_ratio", "Remote-write success ratio", "ratio"),
)

_SECRET_KEY = re.compile(r"(token|password|passwd|secret|api_key|apikey|bearer|authorization|client_key|private)", re.I)
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s:]+(:[^/@\s]*)?@", re.I)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")


def scrub(value):
    """A copy of ``value`` without secrets: keys that name one are dropped, URL credentials
    and bearer tokens in strings are masked."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        value = _URL_USERINFO.sub(r"\g<scheme>***@", value)
        return _BEARER.sub(r"\1***", value)
    return value


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
    return entry


def build(results, cadence, generated_at=None, planner=None, missing_reasons=None):
    """The report document.

    ``results``: {inventory host: fleet_result or None}. ``missing_reasons``: {host: why} for
    hosts with no result (a failed or unreachable host). ``planner``: checks -> remediation list.
    """
    generated_at = generated_at or datetime.datetime.now(datetime.timezone.utc)
    missing_reasons = missing_reasons or {}
    clusters = {}
    for host in sorted(results):
        clusters[str(host)] = cluster_entry(results[host], missing_reasons.get(host, "the checks did not run for this cluster"), planner)
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


# ----------------------------------------------------------------------------- Prometheus text

def _label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value):
    """A gauge value of a JSON value: numbers (finite) and booleans; text is not a number here."""
    if isinstance(value, bool):
        return float(value)
    return _units.number(value) if isinstance(value, (int, float)) else None


def _fmt(value):
    return repr(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


def render_prom(doc):
    """The report as Prometheus text exposition (for node_exporter's textfile collector)."""
    lines = [
        "# HELP fleet_check_status Result of a fleet check: 0 ok, 1 warning, 2 critical, 3 unknown.",
        "# TYPE fleet_check_status gauge",
    ]
    values = []
    for name, cluster in doc["clusters"].items():
        for check in cluster["checks"]:
            labels = 'cluster="%s",check="%s"' % (_label(name), _label(check["id"]))
            lines.append("fleet_check_status{%s} %d" % (labels, PROM_STATUS[check["status"]]))
            number = _number(check["value"])
            if number is not None:
                values.append("fleet_check_value{%s} %s" % (labels, _fmt(number)))
    lines += ["# HELP fleet_check_value The value a fleet check measured (in the unit of its threshold).",
              "# TYPE fleet_check_value gauge"] + values
    lines += ["# HELP fleet_cluster_status Worst check of a cluster: 0 ok, 1 warning, 2 critical, 3 unknown.",
              "# TYPE fleet_cluster_status gauge"]
    for name, cluster in doc["clusters"].items():
        lines.append('fleet_cluster_status{cluster="%s"} %d' % (_label(name), PROM_STATUS[cluster["status"]]))
    lines += ["# HELP fleet_clusters Clusters in the report by status.", "# TYPE fleet_clusters gauge"]
    for status in STATUSES:
        lines.append('fleet_clusters{status="%s"} %d' % (status, doc["summary"][status]))
    generated = datetime.datetime.strptime(doc["generated_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    lines += ["# HELP fleet_report_generated_timestamp_seconds When the report was made.",
              "# TYPE fleet_report_generated_timestamp_seconds gauge",
              "fleet_report_generated_timestamp_seconds %d" % int(generated.timestamp())]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- HTML / Markdown

def chart_data(doc):
    """Per-cluster figures for the HTML charts: {key: [[cluster, value], ...]}."""
    data = {}
    for key, _title, _unit in CHARTS:
        series = []
        for name, cluster in doc["clusters"].items():
            number = _number((cluster.get("facts") or {}).get(key))
            if number is not None:
                series.append([name, number])
        data[key] = series
    return data


def _script_json(value):
    """JSON safe inside a <script> element."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _short(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return "%.4g" % value
    if isinstance(value, (dict, list)):
        text = json.dumps(value, sort_keys=True)
        return text if len(text) <= 80 else text[:77] + "..."
    return str(value)


def template_context(doc):
    """What the HTML and Markdown templates get."""
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
            "remediation": cluster.get("remediation") or [],
        })
    rows.sort(key=lambda r: (-r["severity"], r["name"]))
    return {
        "doc": doc,
        "summary": doc["summary"],
        "columns": columns,
        "rows": rows,
        "severity": SEVERITY,
        "charts": [{"key": k, "title": t, "unit": u} for k, t, u in CHARTS],
        "chart_json": _script_json(chart_data(doc)),
        "short": _short,
    }


def render_template(path, context, autoescape):
    """Render one Jinja2 template file with a plain environment (no Ansible templating)."""
    import jinja2  # pylint: disable=import-outside-toplevel
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.dirname(path)), autoescape=autoescape,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["short"] = _short
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


def write_report(doc, directory, html_template, md_template):
    """Write the four files; returns {kind: path}."""
    os.makedirs(directory, exist_ok=True)
    context = template_context(doc)
    paths = {
        "json": os.path.join(directory, "fleet-report.json"),
        "md": os.path.join(directory, "fleet-report.md"),
        "html": os.path.join(directory, "fleet-report.html"),
        "prom": os.path.join(directory, "fleet-report.prom"),
    }
    write_atomic(paths["json"], json.dumps(doc, indent=1, sort_keys=True) + "\n")
    write_atomic(paths["md"], render_template(md_template, context, autoescape=False))
    write_atomic(paths["html"], render_template(html_template, context, autoescape=True))
    write_atomic(paths["prom"], render_prom(doc))
    return paths


# ----------------------------------------------------------------------------- history

HISTORY_FACTS = ("wal_bytes", "volume_used_bytes", "volume_capacity_bytes", "active_series", "version")


def update_history(path, doc, keep_days=90, max_points=400):
    """Append this report's per-cluster facts to the history file (for WAL-TREND and SERIES)."""
    history = load_history(path)
    now = datetime.datetime.strptime(doc["generated_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
    horizon = now - keep_days * 86400
    for name, cluster in doc["clusters"].items():
        facts = cluster.get("facts") or {}
        point = {k: facts[k] for k in HISTORY_FACTS if facts.get(k) is not None}
        points = [p for p in history.get(name, []) if p.get("time", 0) >= horizon]
        if point:
            point["time"] = now
            points.append(point)
        if points:
            history[name] = points[-max_points:]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_atomic(path, json.dumps(history, sort_keys=True, separators=(",", ":")) + "\n")
    return history


def load_history(path):
    """The history file's content ({cluster: [{time, fact: value}, ...]}), empty when missing."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}
