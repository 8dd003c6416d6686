# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of fleet_evaluate: one cluster's fleet_result from the results of its modules."""

from __future__ import annotations

import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError, QueryRefused
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.http import Deadline, QueryClient
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.scrub import redact, scrub
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import fleet_checks
from ansible_collections.fleetops.prometheus_agent.plugins.modules.fleet_evaluate import argument_spec
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import report as fleet_report


def query_scalar(url, promql, timeout=10, validate_certs=True, bearer_token=None, deadline=None):
    """The smallest value of an instant query at the central query API, or (None, reason).
    ``deadline``: a ``Deadline`` shared by every query of the action's run (else ``timeout`` each)."""
    try:
        found = QueryClient(url, timeout=timeout, validate_certs=validate_certs, bearer_token=bearer_token,
                            deadline=deadline).query(promql)
    except QueryRefused as exc:
        return None, "the query API refused %s: %s" % (promql, redact(to_native(exc))[:200])
    except (FleetopsError, ValueError) as exc:
        return None, "the query API at %s did not answer: %s" % (redact(url), redact(to_native(exc))[:200])
    values = [value for _labels, value in found]
    if not values:
        return None, "the query API has no data for %s" % promql
    return min(values), None


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


def uptime_query(selector):
    """The PromQL of UPTIME for the series ``up{selector}``."""
    return UPTIME_QUERY % {"s": selector, "step": UPTIME_STEP_SECONDS}


class ActionModule(ActionBase):
    """Evaluate one cadence for one cluster and set the fact ``fleet_result``."""

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        # the options documented in plugins/modules/fleet_evaluate.py (AnsibleActionFail naming the option)
        _validation, args = self.validate_argument_spec(argument_spec=argument_spec())
        cadence = args["cadence"]
        results = args["results"]
        host = task_vars.get("inventory_hostname")
        now = time.time()
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
        selector = args.get("query_selector") or ""
        query_timeout = float(args.get("query_timeout") or 10)
        # every query of this run under one deadline: a silent query API costs query_timeout once
        query_args = {"timeout": query_timeout, "deadline": Deadline(query_timeout),
                      "validate_certs": bool(args.get("query_validate_certs", True)),
                      "bearer_token": args.get("query_bearer_token")}
        if cadence == "monthly":
            if url:
                context["uptime"], context["uptime_reason"] = query_scalar(url, uptime_query(selector), **query_args)
                # RIGHTSIZE: the month's peak memory and p95 CPU of the agent's own series
                memory, _why = query_scalar(url, "max_over_time(process_resident_memory_bytes{%s}[30d])" % selector, **query_args)
                cpu, _why = query_scalar(url, "quantile_over_time(0.95, rate(process_cpu_seconds_total{%s}[5m])[30d:5m])"
                                         % selector, **query_args)
                context["usage_peaks"] = {"memory_bytes": memory, "cpu_cores": cpu}
            else:
                context["uptime_reason"] = "UPTIME needs fleet_query_url (the central query API): set it for this cluster"
        if cadence == "weekly" and url:
            context["series_week_ago"], _why = query_scalar(
                url, "max_over_time(prometheus_agent_active_series{%s}[1h] offset 7d)" % selector, **query_args)

        try:
            fleet_result = fleet_checks.evaluate(cadence, results, args.get("thresholds") or {}, args.get("errors") or [],
                                                 args.get("previous") or {}, context)
        except (KeyError, TypeError, ValueError) as exc:
            raise AnsibleActionFail("could not evaluate the %s checks of %s: %s" % (cadence, host, to_native(exc))) from exc
        if args.get("snapshot"):
            fleet_result["snapshot"] = args["snapshot"]
        fleet_result = scrub(fleet_result)
        var = args.get("result_var") or "fleet_result"
        result.update(scrub({"changed": False, "ansible_facts": {var: fleet_result}, "status": fleet_result["status"],
                             "checks": [c for c in fleet_result["checks"] if c.get("status") != "ok"]}))
        return result
