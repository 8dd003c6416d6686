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
  - fleetops.prometheus_agent.common
options:
  gather:
    description: The parts to gather, named after the modules whose results they are; in this order whatever the order given.
    type: list
    elements: str
    choices: [remote_write_stats, agent_status, wal_inspect, agent_logs]
    default: [remote_write_stats, agent_status, wal_inspect, agent_logs]
  baseline:
    description:
      - The C(snapshot) of an earlier M(fleetops.prometheus_agent.agent_status) call (or C(parts.agent_status.snapshot)
        of an earlier call of this module), for the CPU and ingest rates of C(agent_status).
    type: raw
  wal_path:
    description: The WAL directory, as M(fleetops.prometheus_agent.wal_inspect)'s I(path).
    type: path
    default: /prometheus/wal
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
attributes:
  check_mode:
    description: Read-only.
    support: full
  diff_mode:
    description: Changes nothing, so there is no diff.
    support: none
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
target:
  description: The agent read (cluster, namespace and pod, or the URL without credentials).
  returned: always
  type: str
  sample: cluster prod-eu-1 pod monitoring/prom-agent-prod-eu-1-0
'''

import functools
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import agent_health
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import checks as checksmod
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import logs as logmod
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import remote_write as rw
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import target as _target
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal import reader as wal_reader
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.args_common import (
    common_argument_spec, target_from_params, validate_common)
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError, MissingLibrary

PARTS = ('remote_write_stats', 'agent_status', 'wal_inspect', 'agent_logs')


def argument_spec():
    return common_argument_spec(
        gather=dict(type='list', elements='str', choices=list(PARTS), default=list(PARTS)),
        baseline=dict(type='raw'),
        wal_path=dict(type='path', default='/prometheus/wal'),
        wal_verify=dict(type='str', choices=['none', 'tail', 'full'], default='tail'),
        wal_location=dict(type='str', choices=['auto', 'local', 'pod'], default='auto'),
        logs_since=dict(type='str', default='24h'),
        log_path=dict(type='path'),
        log_examples=dict(type='int', default=3),
    )


class Audit(object):
    """The parts of one agent's audit over one target; each part's failure stays in that part."""

    def __init__(self, params, target, target_error=None):
        self.params = params
        self.target = target
        self.target_error = target_error
        self.kube = not params.get('url')

    def remote_write_stats(self):
        result = dict(source='metrics', window_seconds=None, queues=[], agent=self.where())
        if self.target_error:
            return rw.unknown_result(result, self.target_error)
        try:
            reading = rw.read_target(self.target)
        except FleetopsError as exc:
            return rw.unknown_result(result, str(exc))
        return rw.stats_result(result, reading, rw.thresholds(self.params.get('thresholds')))

    def agent_status(self, baseline):
        if self.target_error:
            result = agent_health.unknown_result(self.target_error, self.kube)
        else:
            try:
                result = agent_health.gather(self.target, baseline=baseline, thresholds=self.params.get('thresholds'))
            except FleetopsError as exc:
                result = agent_health.unknown_result(str(exc), self.kube)
        result['target'] = self.where()
        return result

    def wal_inspect(self):
        params = dict(self.params, path=self.params['wal_path'], verify=self.params['wal_verify'],
                      location=self.params['wal_location'], repair_preview=False, agent_running=None)
        location = wal_reader.choose_location(params)
        target = self.target
        if location == 'pod':
            if self.target_error:
                target = self._raise_target_error
            elif not self.kube:
                # an agent given by url whose WAL is read in its pod: the Kubernetes options make that target
                target = functools.partial(target_from_params, dict(params, url=None))
        return wal_reader.inspect(params, location, target=target)

    def agent_logs(self, since):
        result = dict(source='file' if self.params.get('log_path') else 'kubernetes', state_file_updated=False,
                      since=logmod.rfc3339(since), since_from='since' if since is not None else 'none', target=self.where())
        if self.params.get('log_path'):
            result['target'] = self.params['log_path']
        elif not self.kube:
            return logmod.unknown_result(result, logmod.no_log_file_reason(self.where()))
        elif self.target_error:
            return logmod.unknown_result(result, self.target_error)
        try:
            text = logmod.read_log(self.target, self.params.get('log_path'), since)
        except FleetopsError as exc:
            return logmod.unknown_result(result, str(exc))
        logmod.logs_result(result, text, since, None, self.params['log_examples'])
        return result

    def _raise_target_error(self):
        raise FleetopsError(self.target_error)

    def where(self):
        if self.target is None:
            return 'the agent'
        try:
            return self.target.describe()
        except FleetopsError:
            return 'the agent'


def run(module):
    params = module.params
    try:
        since = logmod.parse_since(params.get('logs_since'), time.time()) if 'agent_logs' in params['gather'] else None
    except ValueError as exc:
        module.fail_json(msg='logs_since: %s' % exc)
    baseline = None
    if params.get('baseline') not in (None, '', {}):
        try:
            baseline = agent_health.as_baseline(params['baseline'])
        except ValueError as exc:
            module.fail_json(msg='baseline: %s' % exc)
    target, target_error = None, None
    try:
        target = target_from_params(params)
    except MissingLibrary as exc:
        module.fail_json(msg=missing_required_lib(exc.library))
    except FleetopsError as exc:
        target_error = str(exc)
    audit = Audit(params, target, target_error)
    calls = {
        'remote_write_stats': audit.remote_write_stats,
        'agent_status': lambda: audit.agent_status(baseline),
        'wal_inspect': audit.wal_inspect,
        'agent_logs': lambda: audit.agent_logs(since),
    }
    parts, seconds, checks = {}, {}, []
    for part in PARTS:
        if part not in params['gather']:
            continue
        start = time.time()
        parts[part] = calls[part]()
        seconds[part] = round(time.time() - start, 3)
        checks.extend(parts[part].get('checks') or [])
    return dict(changed=False, status=checksmod.result_status(checks), checks=checks, parts=parts, seconds=seconds,
                target=audit.where())


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    problem = validate_common(module.params, positive=(), not_negative=('log_examples',))
    if problem:
        module.fail_json(msg=problem)
    if not module.params.get('url') and not _target.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=str(getattr(_target, 'KUBERNETES_IMPORT_ERROR', '')))
    try:
        result = run(module)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg='agent_audit failed: %s' % exc, exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == '__main__':
    main()
