# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of fleet_gather_result: one host's fleet_result from its entry file of a fleet_gather run.

A host the gathering could not judge gets an unknown judgement here, every check saying why: the
role's fleet mode then needs no task after this one (a per-host ``meta`` or fallback task costs
the strategy one variable computation per host, 12 s at 2,000 hosts, and one task banner each).
"""

from __future__ import annotations

import json

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.fleetops.prometheus_agent.plugins.modules.fleet_evaluate import argument_spec as evaluate_spec
from ansible_collections.fleetops.prometheus_agent.plugins.modules.fleet_gather_result import argument_spec
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import evaluation
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils.in_worker import validated

EVALUATE_SPEC = evaluate_spec()


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


def unjudged(cadence, why, previous, host):
    """The ``fleet_result`` of a host the gathering could not judge: fleet_evaluate's with no results and
    ``why`` as the error (each check of ``cadence`` unknown, saying why), over ``previous`` when it is a dict
    (the host's earlier result: its other cadences' checks stay). Nothing else of the host's options is
    taken: one of them may be what the gathering's evaluation refused."""
    options = {"cadence": cadence, "results": {}, "errors": [why], "previous": previous if isinstance(previous, dict) else {}}
    params, _no_log_values, error = validated("fleet_evaluate", EVALUATE_SPEC, options)
    if error:     # a cadence fleet_evaluate does not know: the option's own choices
        raise evaluation.EvaluationError(error)
    return evaluation.evaluate_host(params, host)


class ActionModule(ActionBase):
    """Set the fact ``fleet_result`` of this host from its entry of the gathering."""

    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        # the options documented in plugins/modules/fleet_gather_result.py (AnsibleActionFail naming the option)
        _validation, args = self.validate_argument_spec(argument_spec=argument_spec())
        host = task_vars.get("inventory_hostname")
        fleet_result, why = judgement(args.get("file"), host)
        result["changed"] = False
        if fleet_result is not None:
            # the entry was scrubbed of the host's no_log values when the gathering wrote it
            result.update(judged=True, status=fleet_result.get("status"), ansible_facts={args["result_var"]: fleet_result})
            return result
        result.update(judged=False, msg=why)
        try:
            fleet_result = unjudged(args["cadence"], why, self._previous(task_vars, args["result_var"]), host)
        except evaluation.EvaluationError as exc:
            return dict(result, failed=True, msg="%s; and no unknown judgement could be made of it: %s" % (why, to_native(exc)))
        result.update(status=fleet_result.get("status"), ansible_facts={args["result_var"]: fleet_result})
        return result

    def _previous(self, task_vars, name):
        """The host's current value of the fact ``name`` (templated), or None when it has none or it cannot be templated."""
        if name not in task_vars:
            return None
        try:
            return self._templar.template(task_vars[name])
        except Exception:  # pylint: disable=broad-except
            return None     # an earlier value that does not template: not a reason to keep this host unjudged
