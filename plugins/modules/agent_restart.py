#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restart a Prometheus agent (or a replica of its receiver) with the remediation guardrails."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: agent_restart
short_description: Restart a Prometheus agent safely, or its receiver one replica at a time
version_added: 0.1.0
author:
  - fleetops maintainers (@fleetops)
description:
  - Restarts the Prometheus agent of one cluster and verifies it came back, following the
    remediation guardrails of the collection.
  - It restarts one pod, never more, the pod named by I(pod), else the least healthy pod of I(label_selector)
    (not Ready first, then Terminating, then the most restarts).
  - C(mode=graceful), when the pod's StatefulSet runs more than one pod (C(spec.replicas) above 1, as each
    shard of a sharded prometheus-operator agent does) or the pod is a DaemonSet's (C(spec.mode=DaemonSet)),
    deletes that pod alone with its own grace period (C(terminationGracePeriodSeconds)); its controller
    recreates it (a StatefulSet's under the same name, a DaemonSet's under a new name on the same node) and
    the other pods keep running. When the StatefulSet runs that one pod, it patches the pod template
    annotation C(kubectl.kubernetes.io/restartedAt) (what C(kubectl rollout restart) does). When the
    StatefulSet cannot be read, the pod is deleted alone. C(controller) in the result says which.
  - It then waits for the new pod (a new uid) to be Ready, and verifies C(/-/ready) through the pod proxy
    (of the new pod), that scrape targets are up and that remote write is sending again (samples and bytes
    sent rising, no retries, lag under I(max_lag_seconds)).
  - C(mode=forced) deletes the pod with C(gracePeriodSeconds=0), but only when the pod is stuck
    Terminating past its grace period, or after a graceful restart failed (it tries the graceful
    restart first otherwise).
  - Before acting it reads the agent's remote-write metrics twice (I(rw_interval) apart) and refuses
    while the receiver is failing (retries rising, 4xx failures, bytes flat while samples are pending)
    or the lag is above I(max_lag_seconds), because restarting then loses the unsent WAL
    (prometheus/prometheus#13539). When the agent's metrics cannot be read, the remote-write URLs of
    its PrometheusAgent resource are probed instead. I(force=true) overrides this and says so.
  - The cluster's C(coordination.k8s.io/v1) Lease, C(fleetops-remediation) in the agent's namespace (the one
    agent_tune takes too), is held while acting, so two remediation runs never act on the same cluster at once;
    within I(cooldown_seconds) of another run's change it plans nothing (see the notes).
  - With I(reason=wal_corruption) it restarts first (Prometheus repairs its WAL at start-up), then
    verifies the repair from the logs and checks the tail of the WAL. It never deletes WAL itself
    (see I(allow_data_loss)).
  - With I(target=receiver) it restarts the not-ready replicas of the receiver's StatefulSet one at a
    time, each only while all the other replicas are Ready.
  - A refused restart fails the task with C(refused=true) and changes nothing.
extends_documentation_fragment:
  - fleetops.prometheus_agent.connection
  - fleetops.prometheus_agent.agent
  - fleetops.prometheus_agent.change_lease
options:
  mode:
    description:
      - C(graceful) deletes the pod with its grace period (a pod of a StatefulSet of several pods, or of a
        DaemonSet), or is a rollout restart of its StatefulSet of one pod; C(forced) deletes the pod with no grace
        period (only for a pod stuck Terminating, or after the graceful restart failed).
    type: str
    choices: [graceful, forced]
    default: graceful
  target:
    description: Restart the agent, or the replicas of its remote-write receiver.
    type: str
    choices: [agent, receiver]
    default: agent
  reason:
    description:
      - Why the restart is done; recorded in the result and on the Lease.
      - C(wal_corruption) adds the WAL repair verification and, with I(allow_data_loss), WAL deletion.
    type: str
    choices: [manual, unhealthy, crashloop, stuck_ingest, memory, stuck_terminating, wal_corruption]
    default: manual
  statefulset:
    description:
      - The agent's StatefulSet. Default is the owner of the agent pod (a StatefulSet or a DaemonSet), else the
        StatefulSet its name says (C(prom-agent-x-0) -> C(prom-agent-x)).
    type: str
  force:
    description:
      - Restart even though the receiver is failing or the lag is above the bound. The unsent WAL
        may be lost (prometheus/prometheus#13539). The reasons that were overridden are returned.
    type: bool
    default: false
  max_lag_seconds:
    description:
      - The remote-write lag above which a restart is refused.
      - Default is the critical threshold of RW-LAG in the check catalog (C(rw_lag_critical), 120 seconds).
    type: float
  max_pending_samples:
    description: Refuse when more samples than this are pending in the remote-write queues.
    type: int
  rw_interval:
    description: Seconds between the two readings of the remote-write metrics taken before acting.
    type: float
    default: 5
  wait_timeout:
    description: Seconds to wait for the new pod to be Ready.
    type: int
    default: 300
  verify:
    description: After the restart, verify health, targets and that remote write is sending again.
    type: bool
    default: true
  verify_timeout:
    description: Seconds to wait for each verification (health, targets, remote write).
    type: int
    default: 180
  forced_fallback:
    description: With C(mode=graceful), delete the pod with no grace when the graceful restart failed.
    type: bool
    default: false
  stuck_after_seconds:
    description:
      - A Terminating pod counts as stuck this many seconds after its deletion deadline.
      - Default is the remediation limit of the check catalog, 30 seconds.
    type: int
  skip_if_healthy:
    description:
      - Do nothing (C(changed=false)) when the pod is Ready, not Terminating and the agent answers
        C(/-/healthy) and C(/-/ready), because the finding that asked for the restart has cleared by itself
        (for example the kubelet already restarted a killed container). Not applied to I(reason=wal_corruption).
    type: bool
    default: false
  cooldown_seconds:
    description:
      - Do nothing (C(changed=false), the message says C(planned nothing) and why) when another run changed this
        cluster less than this many seconds ago (the record on the cluster's Lease), when the StatefulSet was
        rollout-restarted less than this many seconds ago, or when the pod was replaced while this run waited for
        the Lease (another run already restarted it).
      - Does not apply to a forced restart of a pod stuck Terminating. C(0) turns it off.
      - Default is the remediation limit of the check catalog, 300 seconds.
    type: int
  lease:
    description:
      - Hold the cluster's Lease while acting (refuse when another run holds it) and honour the change record on it.
      - C(false) turns that coordination off (no Lease, no record, no cooldown from it), for a cluster where
        Leases cannot be used; the remediate role never sets it.
    type: bool
    default: true
  wal_path:
    description: The WAL directory inside the agent container (for I(reason=wal_corruption)).
    type: str
    default: /prometheus/wal
  allow_data_loss:
    description:
      - With I(reason=wal_corruption), when the restart did not repair the WAL (the agent does not come
        back, or corruption remains), the corrupted segments (and those after them) or a corrupted
        checkpoint would have to be deleted with the agent stopped. Without this option the module fails
        and deletes nothing. With it the module still deletes nothing in this version (not automated),
        it fails with the manual procedure (scale to 0, helper pod on the volume, delete, scale back).
    type: bool
    default: false
  receiver_namespace:
    description: Namespace of the receiver (I(target=receiver)).
    type: str
    default: thanos
  receiver_selector:
    description: Label selector of the receiver pods (I(target=receiver)).
    type: str
    default: app.kubernetes.io/name=thanos-receive
  receiver_urls:
    description:
      - Remote-write URLs to probe when the agent's metrics cannot be read. Default are the
        C(remoteWrite) URLs of the agent's PrometheusAgent/Prometheus resource.
    type: list
    elements: str
attributes:
  check_mode:
    description: Says what it would do (including a refusal, read live) and changes nothing.
    support: full
  diff_mode:
    description: A restart has no diff; the result has C(before) and C(after).
    support: none
requirements:
  - kubernetes >= 29.0.0
seealso:
  - module: fleetops.prometheus_agent.agent_tune
  - module: fleetops.prometheus_agent.remote_write_stats
'''

EXAMPLES = r'''
- name: Restart the agent of this cluster if it is safe
  fleetops.prometheus_agent.agent_restart:
    context: "{{ kube_context }}"
    namespace: monitoring
    label_selector: app.kubernetes.io/name=prometheus-agent
    reason: unhealthy
  register: restart

- name: Restart one pod of a sharded agent (2 shards x 2 replicas); the other three are left alone
  fleetops.prometheus_agent.agent_restart:
    context: "{{ kube_context }}"
    pod: prom-agent-k8s-shard-1-1
    reason: crashloop

- name: A pod stuck Terminating past its grace period
  fleetops.prometheus_agent.agent_restart:
    context: "{{ kube_context }}"
    pod: prom-agent-k8s-0
    mode: forced
    reason: stuck_terminating

- name: WAL corruption, let Prometheus repair it; delete segments only if that fails
  fleetops.prometheus_agent.agent_restart:
    context: "{{ kube_context }}"
    reason: wal_corruption
    allow_data_loss: "{{ wal_allow_data_loss | default(false) }}"

- name: Restart the failing receiver replica (one at a time, only if the others are ready)
  fleetops.prometheus_agent.agent_restart:
    context: "{{ kube_context }}"
    target: receiver
    receiver_namespace: thanos
    receiver_selector: app.kubernetes.io/name=thanos-receive
'''

RETURN = r'''
changed:
  description: Whether a pod was restarted or deleted (or would be, in check mode).
  returned: always
  type: bool
action:
  description: What was done (or would be done in check mode), C(none) when refused or nothing to do.
  returned: always
  type: str
  sample: graceful
refused:
  description: True when a guardrail (receiver failing, lag, lease held by another run, forced not allowed) refused the restart.
  returned: always
  type: bool
  sample: false
refusal_reasons:
  description: Why the restart was refused (or, with I(force), what was overridden).
  returned: always
  type: list
  elements: str
  sample: ["remote-write-0: the receiver is failing (120.0 samples/s retried)"]
msg:
  description: One sentence saying what happened.
  returned: always
  type: str
  sample: restarted prom-agent-lab-1-0 (graceful), Ready after 6s, remote write sending again
before:
  description: The pod before (name, uid, phase, ready, restarts, terminating) and its health.
  returned: when a pod was found
  type: dict
  sample: {"name": "prom-agent-lab-1-0", "uid": "6c1f...", "ready": true, "restarts": 0, "phase": "Running",
           "health": {"healthy": true, "ready": true, "error": null}}
after:
  description: The pod after the restart (a new uid; of a DaemonSet, also a new name) and its health.
  returned: when a restart was done
  type: dict
  sample: {"name": "prom-agent-lab-1-0", "uid": "9a2e...", "ready": true, "restarts": 0,
           "health": {"healthy": true, "ready": true, "error": null}}
controller:
  description:
    - The pod's StatefulSet or DaemonSet, how many pods it runs (null when it could not be read), and how a
      graceful restart acts on the pod (C(pod deletion), or C(rollout restart) for a StatefulSet of one pod).
  returned: for the agent target, when a pod was found
  type: dict
  sample: {"kind": "StatefulSet", "name": "prom-agent-lab-1-shard-1", "pods": 2, "restart": "pod deletion"}
statefulset:
  description: The pod's StatefulSet (not returned for a DaemonSet's pod).
  returned: for the agent target, when the pod is a StatefulSet's
  type: str
  sample: prom-agent-lab-1-shard-1
guard:
  description: The remote-write state read before acting and the decision.
  returned: for the agent target
  type: dict
  sample: {"allowed": true, "overridden": false, "metrics_readable": true,
           "queues": [{"remote_name": "5ab1c9", "retried_per_second": 0.0, "bytes_per_second": 5012.3, "lag_seconds": 1.2}]}
verification:
  description: The checks after the restart (health, targets, remote_write), each with C(ok).
  returned: when a restart was done and I(verify) is true
  type: dict
  sample: {"health": {"ok": true}, "targets": {"ok": true, "up": 2, "down": 0},
           "remote_write": {"ok": true, "samples_delta": 840.0, "bytes_delta": 12045.0, "lag_seconds": 1.0}}
wal:
  description: With I(reason=wal_corruption), the repair evidence from the logs, the WAL check after, and what was deleted.
  returned: when reason is wal_corruption
  type: dict
  sample: {"repaired": true, "log_lines": [], "corruptions_after": [], "deleted": [], "data_loss": false,
           "log_lines_before_restart": ["... level=warn msg=\"Starting corruption repair\" segment=0 offset=38840"]}
lease:
  description: The cluster's Lease held while acting (read only, in check mode), and C(recorded), the change recorded on it.
  returned: when a lease was used
  type: dict
  sample: {"name": "fleetops-remediation", "namespace": "monitoring", "holder": "root@bastion/4242", "held": false,
           "recorded": {"action": "graceful_restart", "change": "rollout restart of StatefulSet monitoring/prom-agent-lab-1",
                        "at": "2026-11-24T08:00:41Z", "holder": "root@bastion/4242"}}
cooldown:
  description: The change of another run that held this one back (I(cooldown_seconds)), when it planned nothing.
  returned: when the cooldown held the run back
  type: dict
  sample: {"last_action": "tune", "last_change": "PrometheusAgent monitoring/lab-1: resources.limits.memory 512Mi -> 640Mi",
           "last_holder": "remediate-20261124T080000Z-4242", "changed_at": "2026-11-24T08:00:41Z", "until": "2026-11-24T08:05:41Z"}
replicas:
  description: With I(target=receiver), one entry per receiver replica that was (or would be) restarted.
  returned: when target is receiver
  type: list
  elements: dict
  sample: [{"name": "thanos-receive-0", "before": {"uid": "1"}, "after": {"uid": "2", "ready": true}}]
steps:
  description: What the module did, in order.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.args_common import (
    check_kubernetes_library, common_argument_spec, exit_scrubbed, target_from_params, validate_common)
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import restart


def argument_spec():
    return common_argument_spec(
        mode=dict(type='str', choices=['graceful', 'forced'], default='graceful'),
        target=dict(type='str', choices=['agent', 'receiver'], default='agent'),
        reason=dict(type='str', default='manual',
                    choices=['manual', 'unhealthy', 'crashloop', 'stuck_ingest', 'memory', 'stuck_terminating', 'wal_corruption']),
        statefulset=dict(type='str'),
        force=dict(type='bool', default=False),
        max_lag_seconds=dict(type='float'),
        max_pending_samples=dict(type='int'),
        rw_interval=dict(type='float', default=5),
        wait_timeout=dict(type='int', default=300),
        verify=dict(type='bool', default=True),
        verify_timeout=dict(type='int', default=180),
        forced_fallback=dict(type='bool', default=False),
        stuck_after_seconds=dict(type='int'),
        skip_if_healthy=dict(type='bool', default=False),
        cooldown_seconds=dict(type='int'),
        lease=dict(type='bool', default=True),
        lease_duration=dict(type='int', default=900),
        lease_holder=dict(type='str'),
        lease_wait=dict(type='int', default=0),
        wal_path=dict(type='str', default='/prometheus/wal'),
        allow_data_loss=dict(type='bool', default=False),
        receiver_namespace=dict(type='str', default='thanos'),
        receiver_selector=dict(type='str', default='app.kubernetes.io/name=thanos-receive'),
        receiver_urls=dict(type='list', elements='str'),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    error = validate_common(module.params, positive=('lease_duration',),
                            not_negative=('wait_timeout', 'max_lag_seconds', 'max_pending_samples', 'rw_interval',
                                          'verify_timeout', 'stuck_after_seconds', 'cooldown_seconds', 'lease_wait'))
    if error:
        module.fail_json(msg=error)
    if module.params.get('url'):
        module.fail_json(msg='agent_restart works through the Kubernetes API: url (an agent outside Kubernetes) cannot be restarted by it')
    check_kubernetes_library(module)
    try:
        target = target_from_params(module.params)
    except FleetopsError as exc:
        module.fail_json(msg='cannot reach the cluster: %s' % exc, refused=False, changed=False)
    result, failed = restart.run(module.params, target, check_mode=module.check_mode, log=module.debug)
    exit_scrubbed(module, result, failed)


if __name__ == '__main__':
    main()
