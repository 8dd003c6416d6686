#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the fleet_query action (the work is done by the action plugin)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_query
short_description: Ask the central query API once for the long-window figures of every cluster
version_added: 0.1.0
author:
  - fleetops maintainers (@fleetops)
description:
  - Used once per play (C(run_once=true)) by the C(weekly_check) and C(monthly_check) roles when C(fleet_query_url) is
    set. It sends one instant query per figure of the cadence for the whole fleet, instead of one per cluster, and
    sorts the answers by the value of the cluster label. Each cluster's C(fleetops.prometheus_agent.fleet_evaluate) then takes its part
    (its option C(query_answer)).
  - The daily figure is C(remote_write), each cluster's remote write over the last O(window) as one reading (the
    increases of its queues' sent, failed, retried and dropped samples, bytes and send-latency histogram, and their
    gauges), asked with about ten queries for the whole fleet. The daily role's RW-SUCCESS, RW-RETRY, RW-LATENCY and
    RW-DROPPED then judge that day, also on a first run with no fleet history.
  - Monthly figures are C(uptime) (30 days of the agent's C(up), looked at every 5 minutes, a step without a sample
    counted as down, since the series' first sample), C(memory_bytes) (the month's peak resident memory) and
    C(cpu_cores) (the 95th percentile of its CPU rate); weekly, C(series_week_ago) (the active series a week ago)
    and C(wal_growth_bytes_per_second) (the slope of the WAL's size over the last 7 days, from Prometheus 2.43 on,
    for WAL-TREND).
    Of several series of one cluster (replicas, shards), the lowest C(uptime) and the highest of the others are kept.
  - A query API that is down, refuses or times out is data, not a failure, in C(reasons) (the clusters' checks that
    need the figure are then C(unknown) with that reason). Runs as an action plugin on the controller.
extends_documentation_fragment:
  - fleetops.prometheus_agent.attributes
options:
  query_url:
    description: The central query API (Thanos Query, or a Prometheus holding the agents' remote-written series).
    type: str
    required: true
  cadence:
    description: Whose figures are asked for.
    type: str
    required: true
    choices: [daily, weekly, monthly]
  window:
    description:
      - The window of the daily figure C(remote_write), a Prometheus duration (C(24h), C(90m)).
    type: str
    default: 24h
  cluster_label:
    description: The label that names the cluster on the agents' series at the query API (their external label).
    type: str
    default: cluster
  agent_job:
    description: A regular expression of the agents' C(job) label at the query API.
    type: str
    default: ".*agent.*"
  validate_certs:
    description: Verify the query API's TLS certificate.
    type: bool
    default: true
  bearer_token:
    description: A bearer token for the query API.
    type: str
  timeout:
    description: Seconds for all the queries of the run together (connect, TLS and every read).
    type: float
    default: 30
"""

EXAMPLES = r"""
- name: Ask the central query API once for the whole play
  fleetops.prometheus_agent.fleet_query:
    query_url: "{{ fleet_query_url }}"
    cadence: monthly
  run_once: true
  register: fleet_query

- name: Evaluate each cluster with its part of the answer
  fleetops.prometheus_agent.fleet_evaluate:
    cadence: monthly
    results: {}
    query_answer:
      cluster: "{{ inventory_hostname }}"
      values: "{{ fleet_query.clusters[inventory_hostname] | default({}) }}"
      reasons: "{{ fleet_query.reasons }}"
"""

RETURN = r"""
clusters:
  description: The figures by the cluster label's value, then by name (C(remote_write), C(uptime), C(memory_bytes), C(cpu_cores),
    C(series_week_ago), C(wal_growth_bytes_per_second)).
  returned: always
  type: dict
  sample: {"prod-1": {"uptime": 0.9833, "memory_bytes": 513802240, "cpu_cores": 0.05}}
reasons:
  description: Why a figure is missing for every cluster (its query failed), by figure name.
  returned: always
  type: dict
  sample: {"cpu_cores": "the query API at https://thanos.example.com did not answer: timed out"}
queries:
  description: How many queries were sent.
  returned: always
  type: int
  sample: 3
query_url:
  description: The query API asked (userinfo removed).
  returned: always
  type: str
  sample: https://thanos.example.com
"""

from ansible.module_utils.basic import AnsibleModule


def argument_spec():
    """The argument spec of the options documented above, for the action plugin and for ``main``."""
    return dict(
        query_url=dict(type="str", required=True),
        cadence=dict(type="str", required=True, choices=["daily", "weekly", "monthly"]),
        window=dict(type="str", default="24h"),
        cluster_label=dict(type="str", default="cluster"),
        agent_job=dict(type="str", default=".*agent.*"),
        validate_certs=dict(type="bool", default=True),
        bearer_token=dict(type="str", no_log=True),
        timeout=dict(type="float", default=30),
    )


def main():
    """Only reached when the action plugin is bypassed: say so."""
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.fail_json(msg="fleet_query runs as an action plugin on the controller; it cannot run as a module")


if __name__ == "__main__":
    main()
