# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of fleet_query: one query per long-window figure for the whole fleet (plugin_utils/central_store)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.http import Deadline
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.scrub import redact, scrub
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.units import parse_duration
from ansible_collections.fleetops.prometheus_agent.plugins.modules.fleet_query import argument_spec
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import central_store


class ActionModule(ActionBase):
    """The cadence's figures of every cluster at the central query API, by cluster."""

    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars or {})
        _validation, args = self.validate_argument_spec(argument_spec=argument_spec())
        if args["timeout"] <= 0:
            return dict(result, failed=True, msg="timeout must be more than 0 seconds, got %s" % args["timeout"])
        try:
            window = parse_duration(args["window"])
        except ValueError as exc:
            return dict(result, failed=True, msg="window: %s" % exc)
        if not window or window <= 0:
            return dict(result, failed=True, msg="window must be longer than 0 seconds, got %s" % args["window"])
        asked = []
        clusters, reasons = central_store.by_cluster(
            args["query_url"], args["cadence"], cluster_label=args["cluster_label"], job=args["agent_job"], window_seconds=window,
            asked=asked, timeout=args["timeout"], deadline=Deadline(args["timeout"]), validate_certs=args["validate_certs"],
            bearer_token=args.get("bearer_token"))
        result.update(scrub({"changed": False, "clusters": clusters, "reasons": reasons,
                             "queries": len(asked), "query_url": redact(args["query_url"])}))
        return result
