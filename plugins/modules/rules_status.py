#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""rules_status: are the agent alert rules deployed in a cluster, current and valid (the RULES check)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: rules_status
short_description: Find whether a cluster has the agent alert rules, current and valid (check RULES)
version_added: 0.1.0
author:
  - fleetops maintainers (@fleetops)
description:
  - Lists the C(PrometheusRule) objects (C(monitoring.coreos.com/v1)) of the given namespaces and compares the
    ones holding the agent alerts with the rules the collection ships (O(expected)).
  - Says C(missing) (warning) when no object holds them, C(stale) (warning) when alerts are missing, their
    expressions differ, the object was deployed from an older version of the rules, or a rule reads a metric
    the running agent does not export (read from its C(/metrics)), or that no agent ever exports
    (C(prometheus_tsdb_head_*), the runbook's old names), and C(invalid) (critical) when
    C(promtool check rules) refuses them.
  - Read-only. An unreachable cluster gives C(status=unknown) with the reason.
extends_documentation_fragment:
  - fleetops.prometheus_agent.connection
  - fleetops.prometheus_agent.agent
  - fleetops.prometheus_agent.attributes
options:
  expected:
    description:
      - The shipped rules, a Prometheus rules file (text or mapping with C(groups)); the weekly_check role passes
        C(roles/weekly_check/files/prometheus-agent-rules.yml).
    type: raw
    required: true
  rules_namespaces:
    description: Namespaces to search for C(PrometheusRule) objects. Default is O(namespace).
    type: list
    elements: str
  rules_selector:
    description: A label selector for the C(PrometheusRule) objects.
    type: str
  group_name:
    description: The rule group name the shipped rules use.
    type: str
    default: prometheus-agent
  check_metrics:
    description: Read the agent's C(/metrics) to find rules on metrics the running version does not export.
    type: bool
    default: true
  promtool:
    description: The C(promtool) to validate the deployed rules with; when it is not found, validation is skipped (said in RV(promtool)).
    type: str
    default: promtool
"""

EXAMPLES = r"""
- name: Are the agent alert rules deployed and current?
  fleetops.prometheus_agent.rules_status:
    context: prod-eu-1
    namespace: monitoring
    expected: "{{ lookup('ansible.builtin.file', 'prometheus-agent-rules.yml') }}"
  register: rules
"""

RETURN = r"""
status:
  description: The RULES status.
  returned: always
  type: str
  sample: warning
reason:
  description: Why the status is C(unknown) (the cluster could not be reached or the kubeconfig or its context is wrong).
  returned: when the PrometheusRule objects could not be listed
  type: str
  sample: "the PrometheusRule objects could not be listed: kubeconfig /home/ops/.kube/fleet.yml does not exist"
checks:
  description: The RULES check.
  returned: always
  type: list
  elements: dict
  sample: [{"id": "RULES", "status": "warning", "value": "missing", "threshold": "deployed, current and valid",
            "message": "no PrometheusRule with the agent alerts (group prometheus-agent): deploy the collection's rules"}]
rules:
  description: What was found, the objects holding the agent alerts, digests, names a rule reads that the agent does not export.
  returned: always
  type: dict
  sample: {"objects": ["monitoring/prometheus-agent-alerts"], "expected_sha256": "0a67...", "deployed_sha256": []}
promtool:
  description: The validation by C(promtool check rules) (C(skipped) with the reason when promtool is missing).
  returned: always
  type: dict
  sample: {"ran": true, "errors": {}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils import runners
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.args_common import common_argument_spec, run_and_exit


def argument_spec():
    """The shared options and this module's own (also the action plugin's)."""
    return common_argument_spec(
        expected=dict(type="raw", required=True),
        rules_namespaces=dict(type="list", elements="str"),
        rules_selector=dict(type="str"),
        group_name=dict(type="str", default="prometheus-agent"),
        check_metrics=dict(type="bool", default=True),
        promtool=dict(type="str", default="promtool"),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_and_exit(module, "rules_status", runners.run_module)


if __name__ == "__main__":
    main()
