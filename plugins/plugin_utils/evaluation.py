# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One cluster's ``fleet_result`` for one cadence from the results of its modules: what the action
of fleet_evaluate sets, and what the action of agent_audit sets itself when asked (its option
``evaluate``: a daily audit whose window since the last daily run is usable needs no other task).

``evaluate_host(args, host)`` takes fleet_evaluate's options (validated) and returns the scrubbed
``fleet_result``; it raises ``EvaluationError`` with a sentence when the results cannot be judged.
"""

from __future__ import annotations

import time

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.http import Deadline
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.runners import AUDIT_PARTS
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.scrub import scrub
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import remote_write
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import central_store
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import fleet_checks
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import report as fleet_report


class EvaluationError(Exception):
    """The results of a cluster could not be judged (the message says which cadence and host)."""


def audit_options(audit, second_reading=None):
    """fleet_evaluate's ``results``, ``baseline`` and ``snapshot`` of a daily agent_audit result: each of its
    parts (an empty dict for a part it does not have), with ``second_reading`` (remote_write_stats over the
    first reading) in place of the remote-write part when there is one; the first reading is the baseline."""
    audit = audit or {}
    parts = audit.get("parts") or {}
    results = dict((part, parts.get(part) or {}) for part in AUDIT_PARTS)
    if second_reading is not None:
        results["remote_write_stats"] = second_reading
    return {"results": results, "baseline": parts.get("remote_write_stats") or {}, "snapshot": audit.get("snapshot")}


def evaluate_host(args, host, now=None):  # pylint: disable=too-many-locals,too-many-branches
    """The ``fleet_result`` of ``host`` from fleet_evaluate's options ``args``."""
    cadence = args["cadence"]
    results = args["results"]
    now = time.time() if now is None else now
    context = {
        "now": now,
        "baseline": args.get("baseline"),
        "fleet_versions": args.get("fleet_versions") or [],
        "target_version": args.get("target_version") or None,
        "release_list": args.get("release_list") or [],
        "duplicates": args.get("duplicates") or [],
        "window_note": args.get("window_note") or None,
    }
    if args.get("history_file") and cadence in ("weekly", "monthly"):
        history = fleet_report.load_history(args["history_file"])
        context["history"] = history.get(host) or []

    url = args.get("query_url")
    answer = args.get("query_answer")
    values, reasons = {}, {}
    if isinstance(answer, dict):
        # the play's one query per figure (fleet_query), this cluster's part of it
        values = dict(answer.get("values") or {})
        reasons = dict(answer.get("reasons") or {})
        for name in tuple(central_store.QUERIES.get(cadence, {})) + central_store.READINGS.get(cadence, ()):
            if name not in values and name not in reasons:
                reasons[name] = "the query API has no data for this cluster (%s)" % (answer.get("cluster") or host)
    elif url:
        query_timeout = float(args.get("query_timeout") or 10)
        # every query of this run under one deadline: a silent query API costs query_timeout once
        values, reasons = central_store.for_cluster(
            url, cadence, args.get("query_selector") or "", timeout=query_timeout, deadline=Deadline(query_timeout),
            validate_certs=bool(args.get("query_validate_certs", True)), bearer_token=args.get("query_bearer_token"))
    if cadence == "monthly":
        if url or isinstance(answer, dict):
            context["uptime"], context["uptime_reason"] = values.get("uptime"), reasons.get("uptime")
            # RIGHTSIZE: the month's peak memory and p95 CPU of the agent's own series
            context["usage_peaks"] = {"memory_bytes": values.get("memory_bytes"), "cpu_cores": values.get("cpu_cores")}
        else:
            context["uptime_reason"] = "UPTIME needs fleet_query_url (the central query API): set it for this cluster"
    if cadence == "daily" and isinstance(values.get("remote_write"), dict):
        # the store's day of remote write: what the agent's own reading cannot judge (a first run)
        store = {"source": "query", "agent": "the central query API", "window_seconds": values["remote_write"].get("window_seconds")}
        context["store_remote_write"] = remote_write.stats_result(store, values["remote_write"],
                                                                  remote_write.thresholds(args.get("thresholds")))
    if cadence == "weekly":
        context["series_week_ago"] = values.get("series_week_ago")
        context["wal_growth_bytes_per_second"] = values.get("wal_growth_bytes_per_second")

    try:
        fleet_result = fleet_checks.evaluate(cadence, results, args.get("thresholds") or {}, args.get("errors") or [],
                                             args.get("previous") or {}, context)
    except (KeyError, TypeError, ValueError) as exc:
        raise EvaluationError("could not evaluate the %s checks of %s: %s" % (cadence, host, to_native(exc))) from exc
    if args.get("snapshot"):
        fleet_result["snapshot"] = args["snapshot"]
    return scrub(fleet_result)
