# -*- coding: utf-8 -*-
# Copyright: fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the remediate role: findings to actions, and the record of what was done."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: remediation_plan
short_description: Map the findings of one cluster to remediation actions
version_added: 0.1.0
author:
  - fleetops maintainers (@fleetops)
description:
  - Takes the C(checks) of a cluster (C([{id, status, value, threshold, message}])) and returns the
    remediation actions they call for, in the order to run them, with the guardrails applied
    (for example an agent restart is C(blocked) while the findings say the receiver is failing).
  - The same planner the fleet report uses to say what remediation would do.
options:
  _input:
    description: The checks of one cluster.
    type: list
    elements: dict
    required: true
  allowed:
    description: The actions that may act (the others are only reported). Default is every action.
    type: list
    elements: str
  receiver_managed:
    description: Whether the receiver may be restarted by this run (plans C(receiver_restart)).
    type: bool
    default: false
  drop_metrics:
    description: Metric name regexes to drop for memory or cardinality findings.
    type: list
    elements: str
  memory_action:
    description: What to do about memory findings, C(resources) (+25%) or C(drop) (I(drop_metrics)).
    type: str
    default: resources
'''

EXAMPLES = r'''
- name: Plan the remediation of this cluster
  ansible.builtin.set_fact:
    plan: "{{ fleet_result.checks | fleetops.prometheus_agent.remediation_plan(allowed=['graceful_restart', 'queue_tuning']) }}"
'''

RETURN = r'''
_value:
  description:
    - One entry per action, C({action, findings, reason, blocked, blocked_reasons, allowed, params}).
    - C(action) is one of C(receiver_restart), C(forced_restart), C(wal_recovery), C(graceful_restart),
      C(drop_rules), C(queue_tuning), C(resources_increase).
  type: list
  elements: dict
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import policy as rem


def remediation_plan(checks, allowed=None, receiver_managed=False, drop_metrics=None, memory_action='resources', bounds=None):
    if checks is None:
        return []
    if not isinstance(checks, list):
        raise AnsibleFilterError('remediation_plan expects the list of checks, got %s' % type(checks).__name__)
    if allowed is not None:
        unknown = sorted(set(allowed) - set(rem.ACTIONS))
        if unknown:
            raise AnsibleFilterError('remediation_allowed has unknown actions %s (known: %s)' % (', '.join(unknown), ', '.join(rem.ACTIONS)))
    options = {'receiver_managed': bool(receiver_managed), 'drop_metrics': list(drop_metrics or []),
               'memory_action': memory_action, 'bounds': bounds or {}}
    try:
        return rem.plan(checks, allowed=allowed, options=options)
    except rem.RemediationError as exc:
        raise AnsibleFilterError('remediation_plan: %s' % exc)


class FilterModule(object):
    """fleetops.prometheus_agent remediation filters."""

    def filters(self):
        return {'remediation_plan': remediation_plan}
