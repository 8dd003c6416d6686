#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tune a Prometheus agent through its operator resource: drop rules, queue, resources, scrape settings, WAL compression."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: agent_tune
short_description: Tune a Prometheus agent's remote write and resources through its PrometheusAgent resource
version_added: 0.1.0
author:
  - fleetops maintainers (@fleetops)
description:
  - Patches the Prometheus Operator resource behind an agent (C(PrometheusAgent) of
    C(monitoring.coreos.com/v1alpha1), or C(Prometheus) of C(monitoring.coreos.com/v1)) within the
    bounds of the collection's remediation guardrails. The operator then re-renders the agent's
    configuration (drop rules, queue config) or rolls its pod (resources).
  - I(drop_metrics) adds C(writeRelabelConfigs) rules dropping metric names. A rule that would drop
    C(up), the scrape series or the agent's own metrics (C(prometheus_.*), C(process_.*), C(go_.*),
    C(reloader_.*)) is refused with the reason, because the fleet checks read them.
  - I(queue) sets C(queueConfig) within bounds (capacity 3-10x maxSamplesPerSend, maxSamplesPerSend 100-10000, maxShards
    at most I(max_shards_cap), minShards not above maxShards), including the backoff (C(minBackoff), C(maxBackoff)).
  - I(drop_job) scopes the drop rules to the series of one scrape job (C(sourceLabels=[job, __name__])).
  - I(scrape_interval), I(scrape_timeout) and I(wal_compression) set the resource's C(scrapeInterval), C(scrapeTimeout)
    and C(walCompression); a timeout above the interval is refused (Prometheus would not load it).
  - The guardrails stay on unless I(override_guardrails) names one. A change that needed a named override is made and
    the override is reported in RV(guardrails_overridden) with the bound it went past; an override that was not needed
    changes nothing.
  - I(resources) sets explicit container resources (each increase at most I(step_percent) over the
    current value, never above the caps), or I(resources_step) raises the limits by one step of
    I(step_percent) up to the caps. A resources change restarts the agent, so the restart guardrail
    applies (refused while the receiver is failing or lag is high, unless I(force)).
  - The patch is made under the cluster's Lease (C(fleetops-remediation) in the agent's namespace, the one
    agent_restart takes too) and computed there from what the resource holds now; within I(cooldown_seconds)
    of another run's change it plans nothing (see the notes).
  - Idempotent (a second run with the same arguments reports C(changed=false)), supports check mode
    (nothing is patched, the Lease is only read) and diff mode (the spec before and after).
extends_documentation_fragment:
  - fleetops.prometheus_agent.connection
  - fleetops.prometheus_agent.agent
  - fleetops.prometheus_agent.change_lease
options:
  kind:
    description: The operator resource kind.
    type: str
    choices: [PrometheusAgent, Prometheus]
    default: PrometheusAgent
  name:
    description:
      - The resource name. Default is found from the agent pod's C(operator.prometheus.io/name) label
        (or its StatefulSet name).
    type: str
  remote_write:
    description:
      - Which C(remoteWrite) entries to change, by C(name) or C(url) (a substring match). Default is every entry.
    type: list
    elements: str
  drop_metrics:
    description:
      - Metric name regexes (RE2, anchored like Prometheus does) to drop before sending
        (C(writeRelabelConfigs) with C(sourceLabels=[__name__]) and C(action=drop)).
    type: list
    elements: str
  drop_job:
    description:
      - Drop the I(drop_metrics) names only from the series of this scrape job (the C(job) label), e.g. C(node).
        The rule is C(sourceLabels=[job, __name__]), C(regex=<job>;(?:<regex>)); I(drop_state=absent) removes that same rule.
    type: str
  drop_state:
    description: Add the drop rules (C(present)) or remove those same rules (C(absent)).
    type: str
    choices: [present, absent]
    default: present
  queue:
    description:
      - C(queueConfig) settings to set, a dictionary. Unset ones keep their current value.
    type: raw
    suboptions:
      capacity:
        description: Samples buffered per shard. Must be 3-10x I(max_samples_per_send).
        type: int
      max_shards:
        description: The most shards. 1 to I(max_shards_cap).
        type: int
      min_shards:
        description: The fewest shards.
        type: int
      max_samples_per_send:
        description: Samples per request (batch size).
        type: int
      batch_send_deadline:
        description: Longest wait before sending a partial batch (a duration, e.g. C(5s)).
        type: str
      min_backoff:
        description: The first retry's wait after a failed send (C(minBackoff), a duration, e.g. C(30ms)).
        type: str
      max_backoff:
        description: The longest wait between retries (C(maxBackoff), a duration, e.g. C(5s)).
        type: str
      retry_on_rate_limit:
        description: Retry a send the receiver answered with 429 (C(retryOnRateLimit)).
        type: bool
  scrape_interval:
    description: The resource's C(scrapeInterval), the default interval of its scrapes (a duration with a unit, e.g. C(30s)).
    type: str
  scrape_timeout:
    description: The resource's C(scrapeTimeout) (a duration with a unit); not above the scrape interval.
    type: str
  wal_compression:
    description: The resource's C(walCompression) (the agent's C(--storage.agent.wal-compression)).
    type: bool
  override_guardrails:
    description:
      - Guardrails to let through, each by name; the others stay on. Reported in RV(guardrails_overridden) when a change needed them.
      - C(capacity_bounds) is capacity outside 3-10x maxSamplesPerSend (the runbook's capacity 20000 with maxSamplesPerSend 10000).
        C(max_samples_per_send_bounds) is maxSamplesPerSend outside 100-10000, and C(max_shards_cap) maxShards above I(max_shards_cap).
      - C(protected_metrics) is a drop rule matching C(up), the scrape series or the agent's own metrics (the runbook's
        C(go_gc_.*|go_memstats_.*); with I(drop_job) only that job's series go).
      - C(resources_cap) is an explicit resource above I(memory_cap) / I(cpu_cap), and C(resources_step) an explicit increase
        above I(step_percent).
    type: list
    elements: str
    choices: [capacity_bounds, max_samples_per_send_bounds, max_shards_cap, protected_metrics, resources_cap, resources_step]
    default: []
  only_increase:
    description:
      - Never lower a queue setting (compared with its current value, or the Prometheus default when unset).
        The remediate role sets it, so a planned maxShards never shrinks a larger default.
    type: bool
    default: false
  max_shards_cap:
    description: The largest maxShards this module sets.
    type: int
    default: 200
  resources:
    description: Explicit container resources for the agent (C(limits), C(requests) with C(memory), C(cpu)).
    type: dict
  resources_step:
    description: Raise these limits (and their requests in proportion) by one step of I(step_percent).
    type: list
    elements: str
    choices: [memory, cpu]
  resources_step_from:
    description:
      - The limits the step is computed from (e.g. C({memory = 512Mi}), the limit seen by the check; the
        remediate role gives the one its MEMORY finding saw). The step is compared with what the resource
        holds now, so with it a repeated run is idempotent; without it a run after the cooldown raises the
        current limit again.
    type: dict
  step_percent:
    description: The largest increase of a resource in one change, in percent.
    type: float
    default: 25
  memory_cap:
    description: The largest memory limit or request this module sets.
    type: str
    default: 2Gi
  cpu_cap:
    description: The largest CPU limit or request this module sets.
    type: str
    default: '2'
  force:
    description: Change resources even though the receiver is failing or lag is high (the pod restarts).
    type: bool
    default: false
  max_lag_seconds:
    description:
      - The remote-write lag above which a resources change (a restart) is refused.
      - Default is the critical threshold of RW-LAG in the check catalog (C(rw_lag_critical), 120 seconds).
    type: float
  rw_interval:
    description: Seconds between the two readings of the remote-write metrics for the restart guardrail.
    type: float
    default: 5
  wait:
    description: After a resources change, wait for the new pod to be Ready (up to I(wait_timeout) seconds).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the new pod after a resources change.
    type: int
    default: 300
  cooldown_seconds:
    description:
      - Do nothing (C(changed=false), the message says C(planned nothing) and why) when another run changed this
        cluster (restart or tune) less than this many seconds ago (the record on the cluster's Lease).
      - C(0) turns it off. Default is the remediation limit of the check catalog, 300 seconds.
    type: int
attributes:
  check_mode:
    description: Says what it would change (and refusals) and patches nothing.
    support: full
  diff_mode:
    description: The tuned parts of the spec (remoteWrite, resources) before and after.
    support: full
requirements:
  - kubernetes >= 29.0.0
seealso:
  - module: fleetops.prometheus_agent.agent_restart
'''

EXAMPLES = r'''
- name: Drop a noisy metric family before it is sent (check mode first)
  fleetops.prometheus_agent.agent_tune:
    context: "{{ kube_context }}"
    drop_metrics:
      - node_softnet_.*
      - apiserver_request_duration_seconds_bucket
  check_mode: true
  diff: true

- name: More shards for a queue whose desired shards are above max
  fleetops.prometheus_agent.agent_tune:
    context: "{{ kube_context }}"
    queue:
      max_shards: 20
      capacity: 10000
      max_samples_per_send: 2000

- name: The runbook's queue (capacity 20000 is outside 3-10x maxSamplesPerSend, so the override is named) and backoff
  fleetops.prometheus_agent.agent_tune:
    context: "{{ kube_context }}"
    queue:
      capacity: 20000
      max_samples_per_send: 10000
      min_backoff: 30ms
      max_backoff: 5s
    override_guardrails: [capacity_bounds]

- name: Drop the Go runtime series of the node job only (go_.* is protected, the override is named)
  fleetops.prometheus_agent.agent_tune:
    context: "{{ kube_context }}"
    drop_metrics: ["go_gc_.*|go_memstats_.*"]
    drop_job: node
    override_guardrails: [protected_metrics]

- name: Scrape every 30 s with a 10 s timeout, WAL compressed
  fleetops.prometheus_agent.agent_tune:
    context: "{{ kube_context }}"
    scrape_interval: 30s
    scrape_timeout: 10s
    wal_compression: true

- name: One +25% memory step from the limit the check saw (idempotent)
  fleetops.prometheus_agent.agent_tune:
    context: "{{ kube_context }}"
    resources_step: [memory]
    resources_step_from:
      memory: 512Mi
'''

RETURN = r'''
changed:
  description: Whether the resource was patched (or would be, in check mode).
  returned: always
  type: bool
kind:
  description: The resource kind.
  returned: always
  type: str
  sample: PrometheusAgent
name:
  description: The resource name.
  returned: always
  type: str
  sample: lab-1
changes:
  description: One sentence per change.
  returned: always
  type: list
  elements: str
  sample: ["remoteWrite[0].queueConfig: maxShards 10 -> 18", "resources.limits.memory 512Mi -> 640Mi"]
before:
  description: The tuned parts of the spec before (remoteWrite, resources, and scrapeInterval, scrapeTimeout, walCompression when set).
  returned: always
  type: dict
  sample: {"remoteWrite": [{"url": "http://receiver/api/v1/write", "queueConfig": {"maxShards": 10}}],
           "resources": {"limits": {"memory": "512Mi"}}}
after:
  description: The same parts after the change (what was or would be written).
  returned: always
  type: dict
  sample: {"remoteWrite": [{"url": "http://receiver/api/v1/write", "queueConfig": {"maxShards": 18}}],
           "resources": {"limits": {"memory": "640Mi"}}}
step_from:
  description: The limits a I(resources_step) was computed from when the resource itself sets none (taken from the pod).
  returned: when used
  type: dict
  sample: {"memory": "512Mi"}
resource_version:
  description: The resource's resourceVersion after the run (unchanged in check mode).
  returned: always
  type: str
  sample: "1042"
restarts_pod:
  description: True when the change restarts the agent pod (a resources change).
  returned: always
  type: bool
guardrails_overridden:
  description: The guardrails named in I(override_guardrails) that a change needed, each with the bound it went past.
  returned: always
  type: list
  elements: str
  sample: ["capacity_bounds: capacity 20000 must be 3-10x maxSamplesPerSend 10000, i.e. 30000-100000"]
guard:
  description: The restart guardrail's reading when a resources change restarts the pod.
  returned: when resources change
  type: dict
  sample: {"allowed": true, "reasons": [], "overridden": false}
lease:
  description: The cluster's Lease held while patching (read only, in check mode), and C(recorded), the change recorded on it.
  returned: when the resource would change
  type: dict
  sample: {"name": "fleetops-remediation", "namespace": "monitoring", "holder": "root@bastion/4242", "held": false,
           "recorded": {"action": "tune", "change": "PrometheusAgent monitoring/lab-1: resources.limits.memory 512Mi -> 640Mi",
                        "at": "2026-11-24T08:00:41Z", "holder": "root@bastion/4242"}}
cooldown:
  description: The change of another run that held this one back (I(cooldown_seconds)), when it planned nothing.
  returned: when the cooldown held the run back
  type: dict
  sample: {"last_action": "graceful_restart", "last_change": "rollout restart of StatefulSet monitoring/prom-agent-lab-1",
           "last_holder": "root@bastion/4242", "changed_at": "2026-11-24T08:00:41Z", "until": "2026-11-24T08:05:41Z"}
pod_after:
  description: The agent pod after a resources change (new uid, ready).
  returned: when resources changed and I(wait) is true
  type: dict
  sample: {"name": "prom-agent-lab-1-0", "uid": "a1b2...", "ready": true}
msg:
  description: A summary.
  returned: always
  type: str
  sample: patched PrometheusAgent monitoring/lab-1 (2 changes)
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.args_common import (
    check_kubernetes_library, common_argument_spec, exit_scrubbed, target_from_params, validate_common, validate_dict_option)
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import policy, tune


def argument_spec():
    return common_argument_spec(
        kind=dict(type='str', choices=['PrometheusAgent', 'Prometheus'], default='PrometheusAgent'),
        name=dict(type='str'),
        remote_write=dict(type='list', elements='str'),
        drop_metrics=dict(type='list', elements='str'),
        drop_state=dict(type='str', choices=['present', 'absent'], default='present'),
        # raw, checked by validate_dict_option: AnsibleModule's own dict check does not name the option
        queue=dict(type='raw', options=dict(
            capacity=dict(type='int'),
            max_shards=dict(type='int'),
            min_shards=dict(type='int'),
            max_samples_per_send=dict(type='int'),
            batch_send_deadline=dict(type='str'), min_backoff=dict(type='str'), max_backoff=dict(type='str'),
            retry_on_rate_limit=dict(type='bool'),
        )),
        drop_job=dict(type='str'), scrape_interval=dict(type='str'), scrape_timeout=dict(type='str'), wal_compression=dict(type='bool'),
        override_guardrails=dict(type='list', elements='str', default=[], choices=list(policy.GUARDRAILS)),
        only_increase=dict(type='bool', default=False),
        max_shards_cap=dict(type='int', default=200),
        resources=dict(type='dict'),
        resources_step=dict(type='list', elements='str', choices=['memory', 'cpu']),
        resources_step_from=dict(type='dict'),
        step_percent=dict(type='float', default=25),
        memory_cap=dict(type='str', default='2Gi'),
        cpu_cap=dict(type='str', default='2'),
        force=dict(type='bool', default=False),
        max_lag_seconds=dict(type='float'),
        rw_interval=dict(type='float', default=5),
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='int', default=300),
        cooldown_seconds=dict(type='int'),
        lease_duration=dict(type='int', default=900),
        lease_holder=dict(type='str'),
        lease_wait=dict(type='int', default=0),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=[('resources', 'resources_step')])
    error = (validate_common(module.params, positive=('step_percent', 'max_shards_cap', 'lease_duration'),
                             not_negative=('max_lag_seconds', 'rw_interval', 'wait_timeout', 'cooldown_seconds', 'lease_wait'))
             or validate_dict_option(module.params, 'queue', module.argument_spec['queue']['options']))
    if error:
        module.fail_json(msg=error)
    if module.params.get('url'):
        module.fail_json(msg='agent_tune patches the operator resource through the Kubernetes API: url cannot be used')
    check_kubernetes_library(module)
    result, failed = tune.run(module.params, lambda: target_from_params(module.params), check_mode=module.check_mode,
                              diff=module._diff)
    exit_scrubbed(module, result, failed)


if __name__ == '__main__':
    main()
