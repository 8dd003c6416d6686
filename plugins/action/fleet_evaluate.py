# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of fleet_evaluate: one cluster's fleet_result from the results of its modules."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.scrub import scrub
from ansible_collections.fleetops.prometheus_agent.plugins.modules.fleet_evaluate import argument_spec
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import evaluation


class ActionModule(ActionBase):
    """Evaluate one cadence for one cluster and set the fact ``fleet_result``."""

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        # the options documented in plugins/modules/fleet_evaluate.py (AnsibleActionFail naming the option)
        _validation, args = self.validate_argument_spec(argument_spec=argument_spec())
        host = task_vars.get("inventory_hostname")
        try:
            fleet_result = evaluation.evaluate_host(args, host)
        except evaluation.EvaluationError as exc:
            raise AnsibleActionFail(to_native(exc)) from exc
        var = args.get("result_var") or "fleet_result"
        result.update(scrub({"changed": False, "ansible_facts": {var: fleet_result}, "status": fleet_result["status"],
                             "checks": [c for c in fleet_result["checks"] if c.get("status") != "ok"]}))
        return result
