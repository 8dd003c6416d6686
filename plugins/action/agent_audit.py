# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of agent_audit: the module's runner inside Ansible's worker when the task runs on the
controller; with ``evaluate``, the daily checks judged in the same task (plugin_utils/evaluation)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.units import number
from ansible_collections.fleetops.prometheus_agent.plugins.modules.agent_audit import argument_spec
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import evaluation
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils.in_worker import InWorkerAction


class ActionModule(InWorkerAction):
    """fleetops.prometheus_agent.agent_audit (documented in plugins/modules/agent_audit.py)."""

    MODULE_NAME = "agent_audit"
    ARGUMENT_SPEC = staticmethod(argument_spec)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        wanted = self._task.args.get("evaluate")
        if not isinstance(wanted, dict) or result.get("failed"):
            return result
        result["evaluated"] = False
        parts = result.get("parts") or {}
        window = number((parts.get("remote_write_stats") or {}).get("window_seconds"))
        min_window = number(wanted.get("min_window"))
        min_window = 10.0 if min_window is None else min_window
        if window is None or window < min_window:
            return result       # a short window: a second reading, then fleet_evaluate
        thresholds = dict(wanted.get("thresholds") or {}, rw_min_window_seconds=min_window)
        args = dict(evaluation.audit_options(result), cadence="daily", thresholds=thresholds,
                    previous=wanted.get("previous") or {}, errors=[], window_note=None)
        try:
            fleet_result = evaluation.evaluate_host(args, task_vars.get("inventory_hostname"))
        except evaluation.EvaluationError as exc:
            raise AnsibleActionFail(to_native(exc)) from exc
        result["ansible_facts"] = {"fleet_result": fleet_result}
        result["evaluated"] = True
        return result
