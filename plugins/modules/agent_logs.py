#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Error and warning lines of a Prometheus agent's log, by known pattern (read-only)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: agent_logs
short_description: Error and warning lines of a Prometheus agent's log, counted by known pattern
version_added: 0.1.0
author:
  - fleetops maintainers (@fleetops)
description:
  - Reads the agent container's log through the Kubernetes API (pods/log), or a local file (I(log_path)) for an agent
    outside Kubernetes, and counts its error and warning lines (2.x logfmt C(level=error|warn), 3.x C(level=ERROR|WARN),
    JSON logs, Go panics) since a time (I(since)) or since the last run (I(state_file)).
  - Lines are counted by known pattern, the first that matches, with up to I(examples) lines each; C(wal_repair),
    C(wal_corruption), C(checkpoint_failure), C(truncation_failure), C(disk_full), C(config_reload_failure),
    C(remote_write_failure), C(out_of_order), C(duplicate_samples), and C(other) for the rest. WAL corruption and repair
    lines count whatever their level (Prometheus logs C(successfully repaired WAL) at info).
  - Returns the check C(LOGS) - C(critical) for WAL corruption, WAL repair or a failed config reload, C(warning) for any other
    error line or known trouble pattern. An unreachable cluster gives C(status=unknown) with the reason, not a failed task.
extends_documentation_fragment:
  - fleetops.prometheus_agent.connection
  - fleetops.prometheus_agent.agent
  - fleetops.prometheus_agent.attributes
options:
  since:
    description:
      - How far back to read, seconds (C(3600)), a duration (C(30m), C(24h), C(7d)) or an RFC3339 time
        (C(2026-11-24T06:00:00Z)). Without it (and without a state), the whole log the source holds is read.
    type: str
  state_file:
    description:
      - A JSON file on the controller keeping, per agent, the time of the newest line read. When it has an entry for this
        agent only the lines after it are read (I(since) is then ignored), and the entry is moved to the newest line read
        (not in check mode). Several agents can share one file.
    type: path
  examples:
    description: How many example lines to return per pattern.
    type: int
    default: 3
  log_path:
    description:
      - A local log file to read instead of the pod's log (an agent on a VM, or a copied log). Plain Prometheus output or the
        CRI format (C(<time> stderr F <line>)). With I(url) and no I(log_path) the log cannot be read, and the module
        returns C(status=unknown) (C(LOGS) unknown) with the reason, not a failed task.
    type: path
  tail_lines:
    description: Read at most this many of the last lines (a positive number).
    type: int
  previous:
    description: Read the log of the previous container of the pod (the one that crashed), not the running one.
    type: bool
    default: false
attributes:
  check_mode:
    description: Read-only; in check mode the I(state_file) is not written.
    support: full
notes:
  - Writing I(state_file) is bookkeeping of the controller, not a change of the agent; the module reports C(changed=false).
'''

EXAMPLES = r'''
- name: Error lines of the last day
  fleetops.prometheus_agent.agent_logs:
    context: prod-eu-1
    namespace: monitoring
    since: 24h
  register: logs

- name: Since the last weekly run (one state file for the whole fleet)
  fleetops.prometheus_agent.agent_logs:
    context: "{{ kube_context }}"
    state_file: /var/lib/fleetops/agent_logs_state.json
    since: 7d

- name: An agent on a VM (run on its host)
  fleetops.prometheus_agent.agent_logs:
    url: http://127.0.0.1:9090
    log_path: /var/log/prometheus-agent.log
    since: "2026-11-24T00:00:00Z"

- name: Show WAL corruption lines
  ansible.builtin.debug:
    var: logs.examples.wal_corruption
  when: logs.counts.wal_corruption > 0
'''

RETURN = r'''
status:
  description: The status of C(LOGS); C(unknown) when the log could not be read.
  returned: always
  type: str
  sample: warning
reason:
  description: Why the status is C(unknown).
  returned: when the log could not be read
  type: str
  sample: "cluster lab-1: API server https://127.0.0.1:6443 answered 500: etcdserver: request timed out"
checks:
  description: The check C(LOGS).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: C(LOGS).
      type: str
      sample: LOGS
    status:
      description: C(ok), C(warning), C(critical) or C(unknown).
      type: str
      sample: critical
    value:
      description: Number of lines counted by pattern.
      type: int
      sample: 4
    threshold:
      description: What makes a warning and which patterns are critical.
      type: raw
      sample: {warning: any error line or known trouble pattern, critical: [wal_corruption, wal_repair, config_reload_failure]}
    message:
      description: One sentence to act on.
      type: str
      sample: "since 2026-11-23T08:00:00Z: wal_corruption 1, wal_repair 3: the WAL was corrupted and repaired"
counts:
  description: Lines per pattern (every pattern, zeros included).
  returned: when the log was read
  type: dict
  sample: {wal_repair: 3, wal_corruption: 1, checkpoint_failure: 0, truncation_failure: 0, disk_full: 0,
           config_reload_failure: 0, remote_write_failure: 1, out_of_order: 0, duplicate_samples: 0, other: 0}
examples:
  description: Up to I(examples) lines per pattern that was seen.
  returned: when the log was read
  type: dict
  sample: {remote_write_failure: ["ts=2026-11-24T08:01:02.345Z caller=dedupe.go:112 level=warn msg=\"Failed to send batch, retrying\""]}
first_seen:
  description: Time of the first line of each pattern seen (RFC3339).
  returned: when the log was read
  type: dict
last_seen:
  description: Time of the last line of each pattern seen (RFC3339).
  returned: when the log was read
  type: dict
error_lines:
  description: Error lines counted.
  returned: when the log was read
  type: int
  sample: 1
warning_lines:
  description: Warning lines counted.
  returned: when the log was read
  type: int
  sample: 3
lines_scanned:
  description: Lines in the period read (every level).
  returned: when the log was read
  type: int
  sample: 812
since:
  description: The start of the period read (RFC3339); C(null) for the whole log.
  returned: always
  type: str
  sample: "2026-11-23T08:00:00.000000Z"
since_from:
  description: Where the start came from, C(state_file), C(since) or C(none).
  returned: always
  type: str
  sample: state_file
last_timestamp:
  description: Time of the newest line read (what I(state_file) keeps).
  returned: when the log was read
  type: str
  sample: "2026-11-24T08:04:59.123456Z"
source:
  description: C(kubernetes) (pods/log) or C(file) (I(log_path)).
  returned: always
  type: str
  sample: kubernetes
target:
  description: What was read (cluster and pod, or the file; the pods and their count for an agent of several pods).
  returned: always
  type: str
  sample: cluster lab-1 pod monitoring/prom-agent-lab-1-0
pods:
  description:
    - For an agent of several pods (shards, replicas, a DaemonSet) with no O(pod) given, every pod's log is read, a few at
      a time, each from its own place in O(state_file). The counts and line totals above are the sums of the pods', the
      examples the pods' own prefixed with the pod's name, and C(LOGS) the worst of the pods' with the pods that are not
      ok named (C(1 of 4 pods) and each one's own message). One entry per pod here.
  returned: for an agent of several pods
  type: list
  elements: dict
  sample:
    - {name: prom-agent-lab-1-0, status: ok, error_lines: 0, warning_lines: 0, lines_scanned: 212, last_timestamp: "2026-11-24T08:04:59.123456Z"}
    - {name: prom-agent-lab-1-1, status: unknown, reason: "cluster lab-1: the pod's log could not be read"}
pod_count:
  description: How many pods' logs were read (an agent of several pods).
  returned: for an agent of several pods
  type: int
  sample: 4
state_file_updated:
  description: Whether I(state_file) was written.
  returned: always
  type: bool
  sample: true
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils import runners
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.args_common import common_argument_spec, run_and_exit


def argument_spec():
    """The shared options and this module's own (also the action plugin's)."""
    return common_argument_spec(
        since=dict(type='str'),
        state_file=dict(type='path'),
        examples=dict(type='int', default=3),
        log_path=dict(type='path'),
        tail_lines=dict(type='int'),
        previous=dict(type='bool', default=False),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_and_exit(module, 'agent_logs', runners.run_module)


if __name__ == '__main__':
    main()
