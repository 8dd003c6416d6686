#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the fleet_gather_result action (the work is done by the action plugin)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_gather_result
short_description: Set one host's fleet_result from its entry of a fleet_gather run
version_added: 0.1.0
author:
  - fleetops maintainers (@fleetops)
description:
  - The per-host step of the C(daily_check) role's fleet mode. M(fleetops.prometheus_agent.fleet_gather), run once with
    C(evaluate_var) and C(results_dir), has gathered and judged every host and written each host's entry to its own file
    (C(results_files)); this task, one per host, reads that host's file and sets the host fact C(fleet_result) (or
    O(result_var)) to the judgement it holds, so each cluster keeps its own task, AWX job event and C(fleet_result).
  - The file is read in the task's worker with no templating of its content, the cheapest way Ansible has to give every
    host a value of its own (a M(ansible.builtin.set_fact) of a C(lookup) of the same file, templated, costs about a third more per host).
  - When the gathering could not judge the host (its evaluation options were refused, it has no file, the file cannot
    be read), RV(judged) is false, RV(msg) says why and the fact is an unknown judgement of O(cadence), the one
    M(fleetops.prometheus_agent.fleet_evaluate) gives with no results and the reason as its error (every check of the
    cadence C(unknown), saying why), over the host's earlier value of the fact when that is a dict (the checks of its
    other cadences stay). No other option of the host is taken, as one of them may be what the gathering refused. The
    task does not fail, and every host of the play leaves it with its own judgement, so nothing needs to run for a
    host after it.
  - Runs as an action plugin on the controller, no module is shipped to a host.
extends_documentation_fragment:
  - fleetops.prometheus_agent.attributes
options:
  file:
    description:
      - The host's entry file, C(results_files[inventory_hostname]) of the registered fleet_gather result.
      - Empty or not given, the host was not gathered (RV(judged) false).
    type: path
  result_var:
    description: The fact to set.
    type: str
    default: fleet_result
  cadence:
    description: The cadence of the unknown judgement of a host the gathering could not judge.
    type: str
    choices: [daily, weekly, monthly]
    default: daily
"""

EXAMPLES = r"""
- name: Gather and judge every cluster of the play at once
  fleetops.prometheus_agent.fleet_gather:
    evaluate_var: evaluate_options
    results_dir: "{{ scratch.path }}"
  run_once: true
  register: gathered

- name: Take each cluster's fleet_result from its judgement in the gathering
  fleetops.prometheus_agent.fleet_gather_result:
    file: "{{ gathered.results_files[inventory_hostname] | default('') }}"
  register: taken

- name: Say which clusters the gathering could not judge (their fleet_result is unknown, saying why)
  ansible.builtin.debug:
    msg: "{{ taken.msg }}"
  when: not taken.judged
"""

RETURN = r"""
judged:
  description: Whether the host's entry holds its judgement (false, the fact is an unknown judgement saying RV(msg)).
  returned: always
  type: bool
  sample: true
status:
  description: The host's status in its judgement (C(ok), C(warning), C(critical), C(unknown)).
  returned: always
  type: str
  sample: ok
msg:
  description: Why the host has no judgement from the gathering.
  returned: when not RV(judged)
  type: str
  sample: "fleet_evaluate: the evaluation options variable daily_check_evaluate_options is not defined for prod-1"
ansible_facts:
  description: The host fact C(fleet_result) (or O(result_var)), the judgement the gathering made, or the unknown one.
  returned: always
  type: dict
  sample: {"fleet_result": {"status": "ok", "checks": [], "facts": {}, "cadences": ["daily"]}}
"""

from ansible.module_utils.basic import AnsibleModule


def argument_spec():
    """The argument spec of the options documented above, for the action plugin (which validates the task's
    arguments with it) and for ``main`` (so the sanity test compares it with the documentation)."""
    return dict(
        file=dict(type="path"),
        result_var=dict(type="str", default="fleet_result"),
        cadence=dict(type="str", choices=["daily", "weekly", "monthly"], default="daily"),
    )


def main():
    """Only reached when the action plugin is bypassed: say so."""
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.fail_json(msg="fleet_gather_result runs as an action plugin on the controller; it cannot run as a module")


if __name__ == "__main__":
    main()
