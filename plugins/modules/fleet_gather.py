#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the fleet_gather action (the work is done by the action plugin)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_gather
short_description: Gather the daily figures of every cluster of the play at once, in one process on the controller
version_added: 0.1.0
author:
  - fleetops maintainers (@fleetops)
description:
  - The gathering of the C(daily_check) role's opt-in fleet mode (C(fleet_gather=fleet)), for very large fleets. Run once
    (C(run_once=true)) for the whole play, it audits every host of C(ansible_play_batch) (so C(--limit) and the hosts
    already failed are honoured) from one process with a bounded pool of threads, instead of one Ansible task per
    host and module.
  - For each host it takes the options that host's own tasks would get, the dictionary variable O(connection_var)
    (the C(agent_connection) role's C(agent_connection_options)) and the dictionary variable O(options_var), templated
    with that host's variables, and runs what M(fleetops.prometheus_agent.agent_audit) does. A host whose window since
    the last daily run is too short gets its remote-write counters read again, as
    M(fleetops.prometheus_agent.remote_write_stats) with the first reading as baseline, as soon as its own first reading
    is O(rw_min_window) old, in the same pool while the others are still read; only the last hosts' windows are
    waited for.
  - Returns the results by host; with C(register) and C(run_once) every host of the play gets the registered dict, and
    a per-host task reads its own entry, so each cluster still has its own event and C(fleet_result) (a
    M(fleetops.prometheus_agent.fleet_evaluate) of the entry, or, with O(evaluate_var) and O(results_dir) as the role
    does, a M(fleetops.prometheus_agent.fleet_gather_result) that takes the C(fleet_result) this task already judged).
  - A broken or unreachable cluster is that host's C(unknown) result (or its C(errors) when its options are refused),
    never the task's failure. The values of the C(no_log) options of a host (C(api_key), C(url_password), ...) are
    removed from its results as the modules do.
  - Every audit runs on the controller, in the task's worker; a host whose C(ansible_connection) is not local gets an
    error entry (use C(fleet_gather=host) for agents read from their own machine). Needs ansible-core 2.18 or later
    (the role uses C(meta end_role)) and the C(kubernetes) library in the controller's
    Python for clusters reached through Kubernetes.
extends_documentation_fragment:
  - fleetops.prometheus_agent.attributes
options:
  connection_var:
    description: The variable holding each host's connection options (a dict of the options every module of the collection shares).
    type: str
    default: agent_connection_options
  options_var:
    description:
      - The variable holding each host's other M(fleetops.prometheus_agent.agent_audit) options (a dict, for example
        C(wal_path), C(wal_verify), C(logs_since), C(log_path), C(thresholds)); they go over the connection options.
      - C(thresholds) also goes to the second remote-write reading. Not set, the connection options alone.
    type: str
  rw_min_window:
    description:
      - Seconds the two remote-write readings of a cluster must be apart at least. Each cluster's second reading starts when its
        own first reading is that old (a large fleet fills the window with its own gathering); the task waits only when
        every reading so far is in and a window has not ended yet.
    type: float
    default: 10
  workers:
    description: Clusters read at the same time (threads of the task's worker).
    type: int
    default: 16
  evaluate_var:
    description:
      - The variable holding each host's M(fleetops.prometheus_agent.fleet_evaluate) options (a dict). Set, every host is
        judged in this task after the gathering. The options are templated with that host's variables and its entry (what
        RV(results) holds for it) as C(fleet_gather_entry), and the entry gets C(fleet_result), what fleet_evaluate would set,
        or C(evaluation_error), the sentence fleet_evaluate would fail with.
      - The options it does not give are the entry's own, taken without templating (the cheaper way for large
        fleets). C(results) are the audit's parts (C(agent_status), C(remote_write_stats), C(wal_inspect), C(agent_logs)),
        with the second remote-write reading in place of the first when there is one, C(baseline) is the first reading,
        C(snapshot) the audit's and C(errors) the entry's, as agent_audit's own C(evaluate) gives fleet_evaluate.
      - The per-host step of the play then only takes C(fleet_result) from the entry (the role's
        M(fleetops.prometheus_agent.fleet_gather_result)), a cheaper task than an evaluation per host.
    type: str
  results_dir:
    description:
      - A private folder (the role makes one with M(ansible.builtin.tempfile) and removes it after the evaluation) where
        each host's entry is written as its own JSON file (mode 0600), instead of returning them all in C(results).
      - For large fleets. The task's own result (one AWX job event, held in every worker Ansible forks) then stays
        small, and each host's evaluation reads only its own file.
    type: path
"""

EXAMPLES = r"""
- name: Gather the daily figures of every cluster of the play at once
  fleetops.prometheus_agent.fleet_gather:
    options_var: audit_options
    workers: 16
  run_once: true
  register: gathered
  vars:
    audit_options:
      wal_verify: tail
      logs_since: 24h
      thresholds: "{{ agent_thresholds | default({}) }}"

- name: Evaluate each cluster's daily checks from its entry
  fleetops.prometheus_agent.fleet_evaluate:
    cadence: daily
    results:
      agent_status: "{{ gathered.results[inventory_hostname].agent_audit.parts.agent_status | default({}) }}"
      remote_write_stats: "{{ gathered.results[inventory_hostname].remote_write_stats | default({}) }}"
      wal_inspect: "{{ gathered.results[inventory_hostname].agent_audit.parts.wal_inspect | default({}) }}"
      agent_logs: "{{ gathered.results[inventory_hostname].agent_audit.parts.agent_logs | default({}) }}"
    baseline: "{{ gathered.results[inventory_hostname].agent_audit.parts.remote_write_stats | default({}) }}"
    errors: "{{ gathered.results[inventory_hostname].errors | default([]) }}"
"""

RETURN = r"""
results:
  description:
    - By host of the play's batch. C(agent_audit) is what M(fleetops.prometheus_agent.agent_audit) returns for it,
      C(remote_write_stats) the second reading (what M(fleetops.prometheus_agent.remote_write_stats) returns with the
      first as baseline), C(errors) why its gathering stopped (its options were refused, its connection is not local);
      a part that could not be taken is left out.
    - With O(evaluate_var), also C(fleet_result) (the host's evaluation) or C(evaluation_error) (why it could not be judged).
  returned: without O(results_dir)
  type: dict
  sample: {"prod-1": {"agent_audit": {"status": "ok", "checks": [], "parts": {}}, "remote_write_stats": {"status": "ok"},
           "errors": []}}
results_files:
  description: With O(results_dir), the file of each host's entry (what C(results) would hold for it), by host.
  returned: with O(results_dir)
  type: dict
  sample: {"prod-1": "/tmp/fleetops-gather-x1y2/4b1d....json"}
hosts:
  description: How many hosts were gathered.
  returned: always
  type: int
  sample: 2000
statuses:
  description: How many hosts' audits have each status (C(ok), C(warning), C(critical), C(unknown); C(error) for an error entry).
  returned: always
  type: dict
  sample: {"ok": 1990, "warning": 8, "unknown": 2}
waited:
  description: Seconds the task only waited for remote-write windows to end (every reading so far was in).
  returned: always
  type: float
  sample: 0.0
templates:
  description:
    - How many distinct template strings the gathering compiled, and how many times it used one again.
    - The options of every host are the same template strings, so each is compiled once for the play.
  returned: always
  type: dict
  sample: {"compiled": 52, "reused": 23448}
seconds:
  description:
    - Wall seconds of each phase (C(options), C(audit), C(wait), C(second_reading), C(total)). C(audit) ends with the last
      first reading, C(second_reading) is from then to the last second reading (the second readings of the hosts read
      first run during C(audit)), C(wait) is RV(waited).
    - With O(evaluate_var), C(evaluation) is the time spent judging the hosts. Each host is judged as soon as its readings are in,
      while the pool reads the others, so it overlaps C(audit) and C(second_reading).
  returned: always
  type: dict
  sample: {"options": 21.3, "audit": 140.2, "wait": 0.0, "second_reading": 30.1, "total": 170.3}
"""

from ansible.module_utils.basic import AnsibleModule


def argument_spec():
    """The argument spec of the options documented above, for the action plugin (which validates the task's
    arguments with it) and for ``main`` (so the sanity test compares it with the documentation)."""
    return dict(
        connection_var=dict(type="str", default="agent_connection_options"),
        options_var=dict(type="str"),
        rw_min_window=dict(type="float", default=10),
        workers=dict(type="int", default=16),
        evaluate_var=dict(type="str"),
        results_dir=dict(type="path"),
    )


def main():
    """Only reached when the action plugin is bypassed: say so."""
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.fail_json(msg="fleet_gather runs as an action plugin on the controller; it cannot run as a module")


if __name__ == "__main__":
    main()
