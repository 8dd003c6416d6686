#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the fleet_evaluate action (the work is done by the action plugin)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_evaluate
short_description: Turn the results of one cluster's check modules into its fleet_result
version_added: 0.1.0
author:
  - fleetops maintainers (@fleetops)
description:
  - Used by the C(daily_check), C(weekly_check) and C(monthly_check) roles after their module calls. Sets the
    host fact C(fleet_result) (C(status), C(checks), C(facts), C(cadences)) that the C(fleet_report) role reads.
  - Keeps the checks of the cadence, merges a check two modules report (the worse wins), reports C(unknown) with
    the reason for every check whose module failed or did not run, and marks the rate-based checks RW-SUCCESS and
    RW-RETRY C(unknown) when the two remote-write readings were less than C(rw_min_window_seconds) apart.
  - Computes the checks no module makes. WAL-TREND and SERIES from O(history_file) (the figures of earlier
    reports) or the query API, OOO from the out-of-order counter and O(duplicates), MONITORS from agent_status's
    C(monitors) (the ServiceMonitors/PodMonitors/Probes/ScrapeConfigs the agent selects and their targets), VERSION against
    O(target_version) or the newest of O(fleet_versions), RIGHTSIZE from the month's peak use (the query API's, else
    the highest reading of O(history_file) in 30 days, never less than now) against requests and limits,
    UPTIME from 30 days of C(up) at O(query_url), looked at every 5 minutes, a step without a sample counted as down.
  - Thresholds come from the collection's one evaluator (C(module_utils/checks.py)) with O(thresholds) over them.
  - Runs as an action plugin on the controller, no module is shipped to a host.
extends_documentation_fragment:
  - fleetops.prometheus_agent.attributes
options:
  cadence:
    description: The cadence evaluated.
    type: str
    required: true
    choices: [daily, weekly, monthly]
  results:
    description: The registered results of the cadence's modules, by module name (C(agent_status), C(remote_write_stats), ...).
    type: dict
    required: true
  errors:
    description: Errors met while gathering (from a C(rescue)); they become the reason of C(unknown) checks.
    type: list
    elements: str
    default: []
  thresholds:
    description: Thresholds over the defaults (the role passes C(agent_thresholds)).
    type: dict
    default: {}
  previous:
    description: The cluster's C(fleet_result) of an earlier cadence in the same play; its other checks are kept.
    type: dict
    default: {}
  baseline:
    description: The first C(remote_write_stats) result, to tell how far apart the two readings were.
    type: dict
  history_file:
    description: The fleet report's history file (figures of earlier runs), for WAL-TREND and SERIES (weekly) and RIGHTSIZE (monthly).
    type: path
  snapshot:
    description:
      - The C(snapshot) of this run's M(fleetops.prometheus_agent.agent_audit) (the counters it read). Kept in
        C(fleet_result.snapshot); the C(fleet_report) role stores it in the history file, where the next daily run
        starts its window (its rates, ratios and increases are over the time since this run).
    type: dict
  window_note:
    description:
      - Why the remote-write rates of this run are over a short window instead of the time since the last daily run
        (for example no earlier run in the history); added to the RW-SUCCESS and RW-RETRY messages.
    type: str
  fleet_versions:
    description: The versions the fleet runs (for VERSION when O(target_version) is not set, and the spread).
    type: list
    elements: str
    default: []
  target_version:
    description: The version every agent should run.
    type: str
  release_list:
    description:
      - The Prometheus releases VERSION judges the running version against, one entry per minor release
        (C(cycle) V(3.13), C(lts), C(eol) the last day of support, C(note), C(known_issues) with C(severity),
        C(versions) and C(note)); a later entry for the same cycle replaces an earlier one.
      - An LTS release past its C(eol), or a non-LTS release older than the newest cycle of the list, is
        C(critical); a known issue is its severity. A version the list does not know is judged by O(target_version) only.
      - The monthly role gives the collection's list (C(roles/monthly_check/files/prometheus-releases.yml)),
        or C(fleet_release_list), plus C(fleet_release_list_extra).
    type: list
    elements: dict
    default: []
  duplicates:
    description: Clusters whose agents have the same external labels as this one (for OOO).
    type: list
    elements: str
    default: []
  query_url:
    description: The central query API (Thanos Query or Prometheus), for UPTIME and SERIES.
    type: str
  query_selector:
    description: The label matchers that pick this cluster's agent at the query API, for example C(cluster="prod-1",job=~".*agent.*").
    type: str
  query_validate_certs:
    description: Verify the query API's TLS certificate.
    type: bool
    default: true
  query_timeout:
    description: Seconds to wait for the query API.
    type: float
    default: 10
  query_bearer_token:
    description: A bearer token for the query API.
    type: str
  query_answer:
    description:
      - This cluster's part of the play's one query per figure (M(fleetops.prometheus_agent.fleet_query), run once), used
        instead of asking O(query_url) for this cluster alone. C(values) are the figures by name (C(uptime),
        C(memory_bytes), C(cpu_cores), C(series_week_ago), C(wal_growth_bytes_per_second)), C(reasons) why a figure is missing, C(cluster) the cluster
        label's value; a figure in neither has no data for this cluster.
    type: dict
  result_var:
    description: The fact to set.
    type: str
    default: fleet_result
"""

EXAMPLES = r"""
- name: Evaluate the daily checks
  fleetops.prometheus_agent.fleet_evaluate:
    cadence: daily
    results:
      agent_status: "{{ agent_result }}"
      remote_write_stats: "{{ rw_result }}"
    baseline: "{{ rw_baseline }}"
    thresholds: "{{ agent_thresholds }}"
    previous: "{{ fleet_result | default({}) }}"
"""

RETURN = r"""
status:
  description: The worst status of the cluster after this cadence.
  returned: always
  type: str
  sample: warning
checks:
  description: The checks that are not C(ok) (all of them are in the fact C(fleet_result)).
  returned: always
  type: list
  elements: dict
  sample: [{"id": "RW-LAG", "status": "critical", "value": 130.2, "threshold": {"warning": 60, "critical": 120},
            "message": "remote write is 130 s behind"}]
ansible_facts:
  description: The host fact C(fleet_result) (or O(result_var)).
  returned: always
  type: dict
  sample: {"fleet_result": {"status": "ok", "checks": [], "facts": {}, "cadences": ["daily"]}}
"""

from ansible.module_utils.basic import AnsibleModule


def argument_spec():
    """The argument spec of the options documented above, for the action plugin (which validates the task's
    arguments with it) and for ``main`` (so the sanity test compares it with the documentation)."""
    return dict(
        cadence=dict(type="str", required=True, choices=["daily", "weekly", "monthly"]),
        results=dict(type="dict", required=True),
        errors=dict(type="list", elements="str", default=[]),
        thresholds=dict(type="dict", default={}),
        previous=dict(type="dict", default={}),
        baseline=dict(type="dict"),
        history_file=dict(type="path"),
        snapshot=dict(type="dict"),
        window_note=dict(type="str"),
        fleet_versions=dict(type="list", elements="str", default=[]),
        target_version=dict(type="str"),
        release_list=dict(type="list", elements="dict", default=[]),
        duplicates=dict(type="list", elements="str", default=[]),
        query_url=dict(type="str"),
        query_selector=dict(type="str"),
        query_validate_certs=dict(type="bool", default=True),
        query_timeout=dict(type="float", default=10),
        query_bearer_token=dict(type="str", no_log=True),
        query_answer=dict(type="dict"),
        result_var=dict(type="str", default="fleet_result"),
    )


def main():
    """Only reached when the action plugin is bypassed: say so."""
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.fail_json(msg="fleet_evaluate runs as an action plugin on the controller; it cannot run as a module")


if __name__ == "__main__":
    main()
