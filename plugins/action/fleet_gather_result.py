# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of fleet_gather_result: one host's fleet_result from its entry file of a fleet_gather run."""

from __future__ import annotations

import json

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.fleetops.prometheus_agent.plugins.modules.fleet_gather_result import argument_spec


def judgement(path, host):
    """(fleet_result, None) from the entry file at ``path``, or (None, why there is none)."""
    if not path:
        return None, "fleet_gather: no result for %s" % host
    try:
        with open(path, encoding="utf-8") as handle:
            entry = json.load(handle)
    except (OSError, ValueError) as exc:
        return None, "fleet_gather: cannot read the entry of %s (%s): %s" % (host, path, to_native(exc))
    if not isinstance(entry, dict):
        return None, "fleet_gather: the entry of %s (%s) is not a JSON object" % (host, path)
    if isinstance(entry.get("fleet_result"), dict):
        return entry["fleet_result"], None
    return None, entry.get("evaluation_error") or "fleet_gather: no judgement of %s in its entry (%s)" % (host, path)


class ActionModule(ActionBase):
    """Set the fact ``fleet_result`` of this host from its entry of the gathering."""

    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        # the options documented in plugins/modules/fleet_gather_result.py (AnsibleActionFail naming the option)
        _validation, args = self.validate_argument_spec(argument_spec=argument_spec())
        fleet_result, why = judgement(args.get("file"), task_vars.get("inventory_hostname"))
        result["changed"] = False
        if fleet_result is None:
            result.update(judged=False, msg=why)
        else:
            # the entry was scrubbed of the host's no_log values when the gathering wrote it
            result.update(judged=True, status=fleet_result.get("status"), ansible_facts={args["result_var"]: fleet_result})
        return result
