#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a cadence's checks need of one agent, in one module call (read-only)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: agent_audit
short_description: Gather in one call what agent_status, remote_write_stats, wal_inspect and agent_logs return
version_added: 0.1.0
author:
  - fleetops maintainers (@fleetops)
description:
  - One module call per cluster for a fleet audit. It reads the agent with one connection (one Kubernetes API client,
    one pod lookup) and returns, under C(parts), what each of the read-only modules
    M(fleetops.prometheus_agent.remote_write_stats), M(fleetops.prometheus_agent.agent_status),
    M(fleetops.prometheus_agent.wal_inspect) and M(fleetops.prometheus_agent.agent_logs) would return, with the same
    keys and checks.
  - Ansible costs about as much per task and host as the audit itself, so a daily check of many clusters in one call
    instead of four is most of its speed (see docs/benchmarks.md).
  - The remote-write counters are read first, so C(parts.remote_write_stats.snapshot) is the baseline a later
    M(fleetops.prometheus_agent.remote_write_stats) call turns into rates (no sleep per host).
  - Each part stands alone; a part that cannot be read is C(status=unknown) with the reason and the others go on. An
    unreachable cluster gives every part C(unknown), not a failed task.
extends_documentation_fragment:
  - fleetops.prometheus_agent.connection
  - fleetops.prometheus_agent.agent
  - fleetops.prometheus_agent.attributes
options:
  gather:
    description: The parts to gather, named after the modules whose results they are; in this order whatever the order given.
    type: list
    elements: str
    choices: [remote_write_stats, agent_status, wal_inspect, agent_logs]
    default: [remote_write_stats, agent_status, wal_inspect, agent_logs]
  baseline:
    description:
      - The RV(snapshot) of an earlier call of this module (the C(daily_check) role keeps the last daily run's in the
        fleet history). The rates, ratios and increases of both parts are then over the time since that call
        (remote-write success, retries and latency; the ingest and CPU rates, restarts and WAL failure counters of
        C(agent_status)), and every message says its window (C(over the last 23.9 h)).
      - A counter lower than in the baseline, or another process start time, is a restart in the window, counted from
        the start as Prometheus's C(increase()) does, and the messages say so.
      - A baseline older than 48 h, or taken after this reading, is not used (RV(baseline_notes) says why).
      - Also the C(snapshot) of an earlier M(fleetops.prometheus_agent.agent_status) call alone, for that part only.
    type: raw
  wal_path:
    description:
      - The WAL directory, as M(fleetops.prometheus_agent.wal_inspect)'s I(path).
      - Default the agent's own C(<--storage.agent.path>/wal) (its flags, else the pod spec's args, else C(data-agent/wal)).
    type: path
  wal_verify:
    description: How much of the WAL to verify, as M(fleetops.prometheus_agent.wal_inspect)'s I(verify).
    type: str
    choices: [none, tail, full]
    default: tail
  wal_location:
    description: Where the WAL is read, as M(fleetops.prometheus_agent.wal_inspect)'s I(location).
    type: str
    choices: [auto, local, pod]
    default: auto
  wal_debug_pod:
    description:
      - When the agent's container is not running, read the WAL through a short-lived pod that mounts its volume
        read-only, as M(fleetops.prometheus_agent.wal_inspect)'s I(debug_pod) (the pod is deleted afterwards).
    type: bool
    default: false
  wal_debug_pod_image:
    description: The image of that pod, as M(fleetops.prometheus_agent.wal_inspect)'s I(debug_pod_image).
    type: str
    default: busybox:1.36
  logs_since:
    description:
      - How far back to read the log, as M(fleetops.prometheus_agent.agent_logs)'s I(since) (C(24h), C(7d), seconds or an
        RFC3339 time). Without it the whole log the source holds is read.
    type: str
    default: 24h
  log_path:
    description:
      - A local log file for an agent outside Kubernetes (with I(url)), as M(fleetops.prometheus_agent.agent_logs)'s
        I(log_path). With I(url) and no I(log_path) the C(agent_logs) part is C(unknown) with the reason.
    type: path
  log_examples:
    description: How many example lines to return per log pattern.
    type: int
    default: 3
  evaluate:
    description:
      - Judge the daily checks of this cluster in the same task and set the host fact C(fleet_result), as
        M(fleetops.prometheus_agent.fleet_evaluate) with I(cadence=daily) would from these parts, when the remote-write
        window of this reading (since I(baseline)) is at least I(min_window) seconds. RV(evaluated) says whether it did;
        a shorter window (no usable baseline) needs a second reading and fleet_evaluate after it.
      - The C(daily_check) role uses it so that a daily run with its window since the last run costs one task per
        cluster. The evaluation runs in the action plugin on the controller, whichever path ran the audit.
    type: dict
    suboptions:
      min_window:
        description: The shortest remote-write window (seconds) judged here (the catalog's C(rw_min_window_seconds)).
        type: float
        default: 10
      thresholds:
        description: As fleet_evaluate's I(thresholds).
        type: dict
        default: {}
      previous:
        description: As fleet_evaluate's I(previous) (the host's C(fleet_result) of an earlier cadence of the play).
        type: dict
        default: {}
notes:
  - The parts are returned under C(parts), not C(results), a key Ansible keeps for the items of a loop.
seealso:
  - module: fleetops.prometheus_agent.agent_status
  - module: fleetops.prometheus_agent.remote_write_stats
  - module: fleetops.prometheus_agent.wal_inspect
  - module: fleetops.prometheus_agent.agent_logs
'''

EXAMPLES = r'''
- name: Everything the daily checks need, one call per cluster
  fleetops.prometheus_agent.agent_audit:
    context: "{{ kube_context }}"
    namespace: monitoring
    wal_verify: tail
    logs_since: 24h
  register: audit

- name: Remote-write rates over the time the other clusters took (no sleep per host)
  fleetops.prometheus_agent.remote_write_stats:
    context: "{{ kube_context }}"
    baseline: "{{ audit.parts.remote_write_stats.snapshot }}"
  register: rw

- name: Only the pod and the WAL of an agent on a VM
  fleetops.prometheus_agent.agent_audit:
    url: http://10.0.0.12:9090
    gather: [agent_status, wal_inspect]
    wal_path: /var/lib/prometheus/agent/wal
'''

RETURN = r'''
status:
  description: The worst status of all the parts' checks (C(ok), C(warning), C(critical) or C(unknown)).
  returned: always
  type: str
  sample: ok
checks:
  description: Every part's checks, in the order of the parts (C({id, status, value, threshold, message})).
  returned: always
  type: list
  elements: dict
  sample: [{id: HEALTH, status: ok, value: {healthy: true, ready: true}, threshold: {}, message: healthy and ready}]
evaluated:
  description: Whether this task judged the daily checks and set C(fleet_result) (I(evaluate) given and a window of at least
    I(min_window) seconds).
  returned: when I(evaluate) is given
  type: bool
  sample: true
parts:
  description:
    - One entry per gathered part, keyed by module name, each what that module returns (its C(status), C(checks) and
      facts; no C(changed)). See the modules' own documentation for the keys.
  returned: always
  type: dict
  contains:
    remote_write_stats:
      description: As M(fleetops.prometheus_agent.remote_write_stats) returns without I(baseline); C(snapshot) is the reading.
      type: dict
      returned: when gathered
    agent_status:
      description: As M(fleetops.prometheus_agent.agent_status) returns.
      type: dict
      returned: when gathered
    wal_inspect:
      description: As M(fleetops.prometheus_agent.wal_inspect) returns.
      type: dict
      returned: when gathered
    agent_logs:
      description: As M(fleetops.prometheus_agent.agent_logs) returns.
      type: dict
      returned: when gathered
  sample: {remote_write_stats: {status: ok}, agent_status: {status: ok}, wal_inspect: {status: ok}, agent_logs: {status: ok}}
seconds:
  description: How long each part took, in seconds (where the time of an audit goes).
  returned: always
  type: dict
  sample: {remote_write_stats: 0.02, agent_status: 0.11, wal_inspect: 0.35, agent_logs: 0.04}
snapshot:
  description:
    - The counters this call read (C(agent_status) and C(remote_write_stats) snapshots), the I(baseline) of a later call.
  returned: always
  type: dict
  sample: {agent_status: {time: 1764748800.0}, remote_write_stats: {time: 1764748800.0, queues: {}}}
baseline_notes:
  description: Why a part of I(baseline) was not used (too old, or taken after this reading).
  returned: when a baseline was given and not used
  type: list
  elements: str
  sample: [the remote_write_stats baseline is 50.2 h old, more than 48 h, not used]
target:
  description: The agent read (cluster, namespace and pod, or the URL without credentials).
  returned: always
  type: str
  sample: cluster prod-eu-1 pod monitoring/prom-agent-prod-eu-1-0
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils import runners
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.args_common import common_argument_spec, run_and_exit


def argument_spec():
    """The shared options and this module's own (also the action plugin's)."""
    return common_argument_spec(
        gather=dict(type='list', elements='str', choices=list(runners.AUDIT_PARTS), default=list(runners.AUDIT_PARTS)),
        baseline=dict(type='raw'),
        wal_path=dict(type='path'),
        wal_verify=dict(type='str', choices=['none', 'tail', 'full'], default='tail'),
        wal_location=dict(type='str', choices=['auto', 'local', 'pod'], default='auto'),
        wal_debug_pod=dict(type='bool', default=False),
        wal_debug_pod_image=dict(type='str', default='busybox:1.36'),
        logs_since=dict(type='str', default='24h'),
        log_path=dict(type='path'),
        log_examples=dict(type='int', default=3),
        evaluate=dict(type='dict', options=dict(
            min_window=dict(type='float', default=10),
            thresholds=dict(type='dict', default={}),
            previous=dict(type='dict', default={}),
        )),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_and_exit(module, 'agent_audit', runners.run_module)


if __name__ == '__main__':
    main()
