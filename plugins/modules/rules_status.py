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
  - fleetops.prometheus_agent.common
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
attributes:
  check_mode:
    description: Read-only; runs the same in check mode.
    support: full
  diff_mode:
    description: Changes nothing, so there is no diff.
    support: none
requirements:
  - kubernetes >= 29.0.0
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

import json
import os
import shutil
import subprocess
import tempfile

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import alert_rules
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.args_common import (
    check_kubernetes_library, common_argument_spec, target_from_params, validate_common)

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover
    HAS_YAML = False


def promtool_check(promtool, objects):
    """{object: error} of the objects promtool refuses; (None, reason) when promtool is missing."""
    binary = shutil.which(promtool) if promtool else None
    if not binary:
        return None, "%s not found on the controller: rules not validated" % promtool
    errors = {}
    with tempfile.TemporaryDirectory(prefix="fleetops-rules-") as tmp:
        for obj in objects:
            meta = obj.get("metadata") or {}
            name = "%s/%s" % (meta.get("namespace"), meta.get("name"))
            path = os.path.join(tmp, "rules.yml")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(json.dumps({"groups": alert_rules.groups_of(obj)}))
            proc = subprocess.run([binary, "check", "rules", path], capture_output=True, text=True, timeout=60, check=False)
            if proc.returncode != 0:
                errors[name] = (proc.stdout + proc.stderr).replace(path, name).strip()[-1000:]
    return errors, None


def main():
    spec = common_argument_spec(
        expected=dict(type="raw", required=True),
        rules_namespaces=dict(type="list", elements="str"),
        rules_selector=dict(type="str"),
        group_name=dict(type="str", default="prometheus-agent"),
        check_metrics=dict(type="bool", default=True),
        promtool=dict(type="str", default="promtool"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    error = validate_common(module.params)
    if error:
        module.fail_json(msg=error)
    check_kubernetes_library(module)
    p = module.params
    expected = p["expected"]
    if isinstance(expected, str):
        if not HAS_YAML:
            module.fail_json(msg=missing_required_lib("PyYAML"))
        try:
            expected = yaml.safe_load(expected)
        except yaml.YAMLError as exc:
            module.fail_json(msg="expected is not YAML: %s" % exc)
    expected_groups = alert_rules.groups_of(expected)
    if not expected_groups:
        module.fail_json(msg="expected holds no rule groups")

    result = {"changed": False, "rules": {}, "promtool": {"ran": False}}
    namespaces = p.get("rules_namespaces") or [p.get("namespace") or "monitoring"]
    try:
        target = target_from_params(p)
        objects = []
        for namespace in namespaces:
            found = target.custom.list_namespaced_custom_object("monitoring.coreos.com", "v1", namespace, "prometheusrules",
                                                                label_selector=p.get("rules_selector") or "")
            objects.extend(found.get("items") or [])
    except Exception as exc:  # pylint: disable=broad-except
        reason = str(getattr(exc, "reason", None) or exc).splitlines()[0][:300]
        if getattr(exc, "status", None) == 404:
            check = dict(id="RULES", status="warning", value="missing", threshold="deployed, current and valid",
                         message="the cluster has no PrometheusRule resource type (the Prometheus Operator CRDs are missing)")
        else:
            check = dict(id="RULES", status="unknown", value=None, threshold="deployed, current and valid",
                         message="the PrometheusRule objects could not be listed: %s" % reason)
            result["reason"] = check["message"]
        module.exit_json(status=check["status"], checks=[check], **result)

    exported = None
    if p["check_metrics"]:
        try:
            status, body = target.http_get("/metrics", timeout=p.get("timeout"))
            if status == 200:
                exported = alert_rules.exported_names(body.decode("utf-8", "replace") if isinstance(body, bytes) else body)
        except Exception:  # pylint: disable=broad-except
            exported = None
    ours = [o for o in objects
            if {g.get("name") for g in alert_rules.groups_of(o)} & {p["group_name"]}
            or set(alert_rules.alerts_of(alert_rules.groups_of(o))) & set(alert_rules.alerts_of(expected_groups))]
    errors, why = promtool_check(p["promtool"], ours)
    result["promtool"] = {"ran": errors is not None, "errors": errors or {}, "reason": why}
    check = alert_rules.evaluate(objects, expected_groups, exported, errors, p["group_name"])
    details = check.pop("details", {})
    details["exported_names_known"] = exported is not None
    if exported is None and p["check_metrics"]:
        check["message"] += " (the agent's /metrics could not be read: metric names not compared)"
    result["rules"] = details
    check["id"] = "RULES"
    module.exit_json(status=check["status"], checks=[check], **result)


if __name__ == "__main__":
    main()
