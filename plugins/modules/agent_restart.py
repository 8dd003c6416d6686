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
  - C(mode=graceful) patches the pod template annotation C(kubectl.kubernetes.io/restartedAt) of the
    agent's StatefulSet (what C(kubectl rollout restart) does), waits for the new pod (a new uid) to be
    Ready, then verifies C(/-/ready) through the pod proxy, that scrape targets are up and that remote
    write is sending again (samples and bytes sent rising, no retries, lag under I(max_lag_seconds)).
  - C(mode=forced) deletes the pod with C(gracePeriodSeconds=0), but only when the pod is stuck
    Terminating past its grace period, or after a graceful restart failed (it tries the graceful
    restart first otherwise).
  - Before acting it reads the agent's remote-write metrics twice (I(rw_interval) apart) and refuses
    while the receiver is failing (retries rising, 4xx failures, bytes flat while samples are pending)
    or the lag is above I(max_lag_seconds), because restarting then loses the unsent WAL
    (prometheus/prometheus#13539). When the agent's metrics cannot be read, the remote-write URLs of
    its PrometheusAgent resource are probed instead. I(force=true) overrides this and says so.
  - A C(coordination.k8s.io/v1) Lease named C(fleetops-remediation-<statefulset>) in the agent's
    namespace is held while acting, so two remediation runs never restart the same cluster at once.
  - With I(reason=wal_corruption) it restarts first (Prometheus repairs its WAL at start-up), then
    verifies the repair from the logs and checks the tail of the WAL. It never deletes WAL itself
    (see I(allow_data_loss)).
  - With I(target=receiver) it restarts the not-ready replicas of the receiver's StatefulSet one at a
    time, each only while all the other replicas are Ready.
  - A refused restart fails the task with C(refused=true) and changes nothing.
extends_documentation_fragment:
  - fleetops.prometheus_agent.common
options:
  mode:
    description:
      - C(graceful) is a rollout restart of the StatefulSet; C(forced) deletes the pod with no grace
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
    description: The agent's StatefulSet. Default is the owner of the agent pod.
    type: str
  force:
    description:
      - Restart even though the receiver is failing or the lag is above the bound. The unsent WAL
        may be lost (prometheus/prometheus#13539). The reasons that were overridden are returned.
    type: bool
    default: false
  max_lag_seconds:
    description: The remote-write lag above which a restart is refused.
    type: float
    default: 120
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
    description: A Terminating pod counts as stuck this many seconds after its deletion deadline.
    type: int
    default: 30
  skip_if_healthy:
    description:
      - Do nothing (C(changed=false)) when the pod is Ready, not Terminating and the agent answers
        C(/-/healthy) and C(/-/ready), because the finding that asked for the restart has cleared by itself
        (for example the kubelet already restarted a killed container). Not applied to I(reason=wal_corruption).
    type: bool
    default: false
  cooldown_seconds:
    description:
      - Do nothing (C(changed=false)) when the StatefulSet was rollout-restarted less than this many seconds
        ago, or the pod was replaced while this run waited for the Lease (another run already restarted it).
      - Does not apply to I(mode=forced). C(0) turns it off.
    type: int
    default: 300
  lease:
    description: Hold a Lease while acting (refuse when another run holds it).
    type: bool
    default: true
  lease_duration:
    description: Seconds the Lease is valid (a run that dies leaves it to expire after this).
    type: int
    default: 900
  lease_holder:
    description: The Lease holder identity. Default is C(user@host/pid), plus the AWX job id when there is one.
    type: str
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
  description: True when a guardrail (receiver failing, lag, lease held, forced not allowed) refused the restart.
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
  description: The pod after the restart (a new uid) and its health.
  returned: when a restart was done
  type: dict
  sample: {"name": "prom-agent-lab-1-0", "uid": "9a2e...", "ready": true, "restarts": 0,
           "health": {"healthy": true, "ready": true, "error": null}}
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
  description: The Lease held while acting.
  returned: when a lease was used
  type: dict
  sample: {"name": "fleetops-remediation-prom-agent-lab-1", "namespace": "monitoring", "holder": "root@bastion/4242", "held": false}
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

import time
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import policy as rem
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import ops
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.args_common import (
    check_kubernetes_library, common_argument_spec, target_from_params, validate_common)
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube.lease import (
    ApiException, KubeLeaseApi, Lease, LeaseHeld, lease_name)

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError

REPAIR_LINES = ('encountered WAL read error', 'Starting corruption repair', 'Deleting all segments newer than corrupted segment',
                'Rewrite corrupted segment', 'successfully repaired WAL', 'repair corrupted WAL')
REPAIR_DONE = ('starting corruption repair', 'rewrite corrupted segment', 'successfully repaired wal')


def argument_spec():
    return common_argument_spec(
        mode=dict(type='str', choices=['graceful', 'forced'], default='graceful'),
        target=dict(type='str', choices=['agent', 'receiver'], default='agent'),
        reason=dict(type='str', default='manual',
                    choices=['manual', 'unhealthy', 'crashloop', 'stuck_ingest', 'memory', 'stuck_terminating', 'wal_corruption']),
        statefulset=dict(type='str'),
        force=dict(type='bool', default=False),
        max_lag_seconds=dict(type='float', default=120),
        max_pending_samples=dict(type='int'),
        rw_interval=dict(type='float', default=5),
        wait_timeout=dict(type='int', default=300),
        verify=dict(type='bool', default=True),
        verify_timeout=dict(type='int', default=180),
        forced_fallback=dict(type='bool', default=False),
        stuck_after_seconds=dict(type='int', default=30),
        skip_if_healthy=dict(type='bool', default=False),
        cooldown_seconds=dict(type='int', default=300),
        lease=dict(type='bool', default=True),
        lease_duration=dict(type='int', default=900),
        lease_holder=dict(type='str'),
        wal_path=dict(type='str', default='/prometheus/wal'),
        allow_data_loss=dict(type='bool', default=False),
        receiver_namespace=dict(type='str', default='thanos'),
        receiver_selector=dict(type='str', default='app.kubernetes.io/name=thanos-receive'),
        receiver_urls=dict(type='list', elements='str'),
    )


def pod_metadata_terminating(pod):
    return rem.pod_metadata(pod, 'deletion_timestamp') is not None


class Restart:
    """One run of the module: observe, decide, act, verify."""

    def __init__(self, module, target):
        self.module = module
        self.p = module.params
        self.target = target
        self.result = {'changed': False, 'action': 'none', 'refused': False, 'refusal_reasons': [], 'steps': [], 'msg': ''}
        self.lease = None
        self.pre_repair_lines = []

    def step(self, text):
        self.result['steps'].append(text)

    def fail(self, msg, **extra):
        self.result.update(extra)
        self.result['msg'] = msg
        self.release()
        self.module.fail_json(**self.result)

    def refuse(self, reasons, msg=None):
        self.result['refused'] = True
        self.result['refusal_reasons'] = list(reasons)
        self.fail(msg or ('Refused: %s' % '; '.join(reasons)))

    def release(self):
        if self.lease is not None and self.lease.held:
            try:
                self.lease.release()
                self.step('released lease %s' % self.lease.name)
            except Exception as exc:  # pylint: disable=broad-except
                self.step('could not release lease %s: %s (it expires by itself)' % (self.lease.name, exc))
            self.result['lease'] = self.lease.describe()

    def take_lease(self, namespace, workload, action):
        if not self.p['lease']:
            return
        self.lease = Lease(KubeLeaseApi(self.target.core.api_client), namespace, lease_name(workload),
                           holder=self.p['lease_holder'], duration=self.p['lease_duration'], action='%s/%s' % (action, self.p['reason']))
        if self.module.check_mode:
            current = self.lease.api.get(namespace, self.lease.name)
            from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube.lease import expires_at  # pylint: disable=import-outside-toplevel
            until = expires_at(current) if current else None
            holder = ((current or {}).get('spec') or {}).get('holderIdentity')
            if until is not None and until > ops.now_utc() and holder != self.lease.holder:
                self.refuse(['another remediation run holds the lease (%s) until %s' % (holder, until.isoformat())])
            self.result['lease'] = self.lease.describe()
            return
        try:
            self.result['lease'] = self.lease.acquire()
        except LeaseHeld as exc:
            self.lease = None
            self.refuse([str(exc)])
        self.step('took lease %s/%s' % (namespace, self.lease.name))

    # ------------------------------------------------------------------ the agent

    def agent(self):
        p = self.p
        namespace = p.get('namespace') or 'monitoring'
        pods = ops.list_pods(self.target, namespace, selector=p.get('label_selector'), name=p.get('pod'))
        if not pods:
            self.fail('no agent pod found in namespace %s (pod %s, selector %s)' % (namespace, p.get('pod'), p.get('label_selector')))
        pod = pods[0]
        container = p.get('container')
        before = ops.pod_summary(pod, container)
        before['health'] = ops.health(self.target, timeout=5)
        self.result['before'] = before
        sts = p.get('statefulset') or ops.owner_statefulset(pod) or ops.statefulset_from_pod_name(before['name'])
        if not sts:
            self.fail('cannot tell the StatefulSet of pod %s: give statefulset' % before['name'])
        self.result['statefulset'] = sts
        healthy_now = before['ready'] and not before['terminating'] and before['health']['healthy'] and before['health']['ready']
        if p['skip_if_healthy'] and healthy_now and p['reason'] != 'wal_corruption':
            self.result['msg'] = '%s is Ready and healthy now: no restart needed (skip_if_healthy)' % before['name']
            self.step(self.result['msg'])
            return self.result

        # 1. the guardrail: never while the receiver is failing or lag is high
        urls = p.get('receiver_urls')
        if urls is None:
            try:
                _kind, _name, cr = ops.find_cr(self.target, namespace, pod=pod)
                urls = ops.remote_write_urls(cr)
            except Exception:  # pylint: disable=broad-except
                urls = []
        guard = ops.restart_guard(self.target, p, remote_write_urls=urls)
        self.result['guard'] = guard
        self.result['refusal_reasons'] = guard['reasons']
        if not guard['allowed']:
            self.refuse(guard['reasons'],
                        'Refused to restart %s: %s. Restarting now would lose the unsent WAL (prometheus#13539); '
                        'fix the receiver first, or set force=true to accept the loss.' % (before['name'], '; '.join(guard['reasons'])))
        if guard['overridden']:
            self.step('force=true overrides: %s' % '; '.join(guard['reasons']))

        # 2. graceful or forced
        forced_now = False
        if p['mode'] == 'forced':
            allowed, why = rem.forced_restart_allowed(pod, slack_seconds=p['stuck_after_seconds'])
            if allowed:
                forced_now = True
                self.step('forced restart: %s' % why)
            elif before['terminating']:
                self.refuse([why])
            else:
                self.step('mode=forced: %s; trying a graceful restart first' % why)
        elif before['terminating']:
            stuck, _over = rem.stuck_terminating(pod, slack_seconds=p['stuck_after_seconds'])
            if stuck and not p['forced_fallback']:
                self.refuse(['the pod is stuck Terminating past its grace period: a graceful restart cannot help; use mode=forced'])
            forced_now = stuck

        action = 'forced' if forced_now else 'graceful'
        self.take_lease(namespace, sts, action)
        if self.recently_restarted(namespace, sts, pod, before):
            return self.result
        if p['reason'] == 'wal_corruption':
            self.pre_repair_lines, _error = self.repair_log_lines(86400)
        if self.module.check_mode:
            self.result.update(changed=True, action=action,
                               msg='would %s restart %s (StatefulSet %s)%s' % (
                                   action, before['name'], sts, ' and verify the WAL repair' if p['reason'] == 'wal_corruption' else ''))
            self.step(self.result['msg'])
            return self.result

        started = time.time()
        new_pod = None
        if not forced_now:
            stamp = ops.rollout_restart(self.target, namespace, sts)
            self.result.update(changed=True, action='graceful')
            self.step('patched StatefulSet %s: %s=%s' % (sts, ops.RESTARTED_AT, stamp))
            new_pod, waited, last = ops.wait_new_pod_ready(self.target, namespace, before['name'], before['uid'], p['wait_timeout'], container)
            if new_pod is None:
                self.step('graceful restart: no new Ready pod after %ds (last: %s)' % (waited, last))
                if p['mode'] == 'forced' or p['forced_fallback']:
                    forced_now = True
                elif p['reason'] == 'wal_corruption' and p['allow_data_loss']:
                    pass
                else:
                    self.result['after'] = last
                    self.fail('graceful restart of %s did not bring a Ready pod within %ds (last: phase %s, ready %s, '
                              'waiting %s); mode=forced deletes the pod'
                              % (before['name'], p['wait_timeout'], last.get('phase'), last.get('ready'), last.get('waiting_reason')))
        if forced_now:
            current = ops.list_pods(self.target, namespace, name=before['name'])
            uid = current[0]['metadata']['uid'] if current else before['uid']
            ops.delete_pod(self.target, namespace, before['name'], 0)
            self.result.update(changed=True, action='forced')
            self.step('deleted pod %s with gracePeriodSeconds=0' % before['name'])
            new_pod, waited, last = ops.wait_new_pod_ready(self.target, namespace, before['name'], uid, p['wait_timeout'], container)
            if new_pod is None and not (p['reason'] == 'wal_corruption' and p['allow_data_loss']):
                self.result['after'] = last
                self.fail('forced restart of %s: no Ready pod within %ds' % (before['name'], p['wait_timeout']))

        wal = None
        if p['reason'] == 'wal_corruption':
            wal = self.wal_after(namespace, sts, before, new_pod, started, container)
            self.result['wal'] = wal
            if new_pod is None:
                new_pod = wal.pop('_pod', None)
        after = ops.pod_summary(new_pod, container)
        self.result['after'] = after
        if new_pod is None:
            self.fail('the agent %s did not come back Ready' % before['name'])
        self.step('new pod %s uid %s Ready after %.0fs' % (after['name'], after['uid'], time.time() - started))

        ok = True
        if p['verify']:
            ok = self.verify(after)
        self.release()
        what = 'restarted %s (%s), Ready after %.0fs' % (before['name'], self.result['action'], time.time() - started)
        if wal is not None:
            what += ', WAL %s' % ('repaired' if wal.get('repaired') else 'checked') + (
                ', deleted %d files (data loss)' % len(wal['deleted']) if wal.get('deleted') else '')
        if not ok:
            self.fail(what + ', but verification failed: %s' % '; '.join(self.result['verification']['failures']))
        self.result['msg'] = what + (', health, targets and remote write verified' if p['verify'] else '')
        return self.result

    def recently_restarted(self, namespace, sts, pod, before):
        """Another run restarted this agent meanwhile, or within cooldown_seconds: do nothing."""
        cooldown = self.p['cooldown_seconds']
        now_pods = ops.list_pods(self.target, namespace, name=before['name'])
        if now_pods and now_pods[0]['metadata'].get('uid') != before['uid']:
            why = 'the pod was replaced while this run waited (another run restarted it)'
        else:
            stamp = None
            try:
                obj = ops.to_dict(self.target.apps.api_client, self.target.apps.read_namespaced_stateful_set(sts, namespace))
                stamp = ((((obj.get('spec') or {}).get('template') or {}).get('metadata') or {}).get('annotations') or {}).get(ops.RESTARTED_AT)
            except Exception:  # pylint: disable=broad-except
                stamp = None
            when = rem.parse_time(stamp)
            age = (ops.now_utc() - when).total_seconds() if when else None
            if age is None or age >= cooldown or self.p['mode'] == 'forced' or pod_metadata_terminating(pod):
                return False
            why = 'the StatefulSet was restarted %ds ago (%s), within cooldown_seconds=%d' % (int(age), stamp, cooldown)
        self.result['msg'] = 'not restarting %s: %s' % (before['name'], why)
        self.step(self.result['msg'])
        self.release()
        return True

    def verify(self, after):
        p = self.p
        ver = {'failures': []}
        state = ops.wait_healthy(self.target, p['verify_timeout'])
        after['health'] = state
        ver['health'] = dict(state, ok=state['ready'] and state['healthy'])
        if not ver['health']['ok']:
            ver['failures'].append('/-/ready: %s' % state.get('error'))
        targets = ops.wait_targets_up(self.target, p['verify_timeout'])
        ver['targets'] = dict(targets, ok=targets['up'] > 0 and targets['down'] == 0)
        if not ver['targets']['ok']:
            ver['failures'].append('targets: %d up, %d down %s' % (targets['up'], targets['down'], targets.get('error') or ''))
        sending = ops.wait_sending(self.target, p['verify_timeout'], max_lag_seconds=p['max_lag_seconds'])
        ver['remote_write'] = sending
        if not sending['ok']:
            ver['failures'].append('remote write: %s' % '; '.join(sending['reasons']))
        self.result['verification'] = ver
        for key in ('health', 'targets', 'remote_write'):
            self.step('verified %s: %s' % (key, 'ok' if ver[key]['ok'] else 'FAILED'))
        return not ver['failures']

    # ------------------------------------------------------------------ WAL

    def repair_log_lines(self, since_seconds):
        """(lines about WAL corruption and repair in the agent's log, error)."""
        try:
            text = self.target.logs(since_seconds=int(since_seconds) + 5, timestamps=False)
        except TypeError:
            text = self.target.logs(since_seconds=int(since_seconds) + 5)
        except Exception as exc:  # pylint: disable=broad-except
            return [], str(exc)
        if isinstance(text, bytes):
            text = text.decode('utf-8', 'replace')
        keys = [key.lower() for key in REPAIR_LINES]
        return [line.strip() for line in (text or '').splitlines() if any(key in line.lower() for key in keys)][-20:], None

    def wal_check(self):
        from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal import format as walmod  # pylint: disable=import-outside-toplevel
        path = self.p['wal_path']
        rc, out, err = self.target.exec(walmod.pod_list_argv(path))
        if rc not in (0, None):
            raise FleetopsError('listing %s failed: %s' % (path, err))
        listing = walmod.parse_pod_listing(path, out)
        report = walmod.verify_listing(listing, 'tail', walmod.pod_opener(self.target, path), live=True)
        return listing, report

    def wal_after(self, namespace, sts, before, new_pod, started, container):
        """After the restart: the repair from the logs, the WAL's tail verified; delete only with allow_data_loss."""
        wal = {'repaired': False, 'log_lines': [], 'log_lines_before_restart': self.pre_repair_lines or [],
               'corruptions_after': None, 'deleted': [], 'data_loss': False}
        if new_pod is not None:
            lines, error = self.repair_log_lines(time.time() - started)
            wal['log_lines'] = lines
            if error:
                wal['log_error'] = error
            seen = [line.lower() for line in lines + wal['log_lines_before_restart']]
            failed = any('repair corrupted wal' in line for line in seen)
            try:
                _listing, report = self.wal_check()
                wal['corruptions_after'] = report.corruptions()
            except Exception as exc:  # pylint: disable=broad-except
                wal['wal_check_error'] = str(exc)
            clean = wal['corruptions_after'] == []
            wal['repaired'] = bool(any(key in line for line in seen for key in REPAIR_DONE) and not failed and clean)
            left = len(wal['corruptions_after']) if wal['corruptions_after'] is not None else 'unknown'
            self.step('WAL after the restart: %s; %s corruption(s) left in the tail' % (
                'repair logged' if wal['repaired'] else ('repair FAILED' if failed else 'no repair logged'), left))
            if clean or (wal['corruptions_after'] is None and not failed):
                return wal
        if not self.p['allow_data_loss']:
            if new_pod is None:
                self.fail('the agent did not come back after the restart: its WAL may be corrupted beyond what Prometheus '
                          'repairs (a corrupted checkpoint); deleting WAL needs allow_data_loss=true', wal=wal)
            self.fail('the WAL is still corrupted after the restart (%s); deleting the corrupted segments needs '
                      'allow_data_loss=true' % ', '.join('%s@%s' % (c.get('segment'), c.get('offset')) for c in wal['corruptions_after'] or []),
                      wal=wal)
        wal.update(self.delete_wal(namespace, sts, container))
        wal['_pod'] = wal.pop('pod', None)
        return wal

    def delete_wal(self, namespace, sts, container):
        """Deleting WAL with the agent stopped: not automated (see the message); nothing is deleted."""
        self.fail('allow_data_loss=true, but deleting WAL with the agent stopped is not automated by this module yet: '
                  'nothing was deleted. By hand: scale StatefulSet %s/%s to 0, mount its data volume in a helper pod, '
                  'delete the corrupted checkpoint (or the corrupted segment and every segment after it) under %s, '
                  'then scale back to 1 and run this module again with reason=wal_corruption to verify.'
                  % (namespace, sts, self.p['wal_path']), wal_delete_automated=False)

    # ------------------------------------------------------------------ the receiver

    def receiver(self):
        p = self.p
        namespace = p['receiver_namespace']
        pods = sorted(ops.list_pods(self.target, namespace, selector=p['receiver_selector']),
                      key=lambda item: item['metadata']['name'])
        if not pods:
            self.fail('no receiver pod in namespace %s with selector %s' % (namespace, p['receiver_selector']))
        summaries = [ops.pod_summary(item) for item in pods]
        self.result['before'] = {'replicas': summaries}
        failing = [s for s in summaries if not s['ready']]
        self.result['replicas'] = []
        if not failing:
            self.result['msg'] = 'every receiver replica is Ready: nothing to restart'
            return self.result
        sts = p.get('statefulset') or ops.owner_statefulset(pods[0]) or ops.statefulset_from_pod_name(summaries[0]['name'])
        self.take_lease(namespace, sts or 'receiver', 'receiver_restart')
        for bad in failing:
            others = [s for s in (ops.pod_summary(x) for x in ops.list_pods(self.target, namespace, selector=p['receiver_selector']))
                      if s['name'] != bad['name']]
            not_ready = [s['name'] for s in others if not s['ready']]
            if not_ready:
                self.refuse(['other receiver replicas are not Ready (%s): restarting %s now could take the whole receiver down'
                             % (', '.join(not_ready), bad['name'])])
            entry = {'name': bad['name'], 'before': bad}
            self.result['replicas'].append(entry)
            if self.module.check_mode:
                self.result['changed'] = True
                self.step('would delete receiver pod %s and wait for it to be Ready' % bad['name'])
                continue
            ops.delete_pod(self.target, namespace, bad['name'], grace_seconds=30)
            self.result.update(changed=True, action='receiver_restart')
            self.step('deleted receiver pod %s' % bad['name'])
            new_pod, waited, last = ops.wait_new_pod_ready(self.target, namespace, bad['name'], bad['uid'], p['wait_timeout'])
            entry['after'] = last
            if new_pod is None:
                self.fail('receiver pod %s not Ready %ds after its restart: stopping here' % (bad['name'], waited))
            self.step('receiver pod %s Ready after %.0fs' % (bad['name'], waited))
        self.release()
        self.result['action'] = 'receiver_restart'
        self.result['msg'] = '%s receiver replica(s) %s one at a time: %s' % (
            len(failing), 'would be restarted' if self.module.check_mode else 'restarted', ', '.join(s['name'] for s in failing))
        return self.result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    error = validate_common(module.params, positive=('lease_duration',),
                            not_negative=('wait_timeout', 'max_lag_seconds', 'max_pending_samples', 'rw_interval',
                                          'verify_timeout', 'stuck_after_seconds', 'cooldown_seconds'))
    if error:
        module.fail_json(msg=error)
    if module.params.get('url'):
        module.fail_json(msg='agent_restart works through the Kubernetes API: url (an agent outside Kubernetes) cannot be restarted by it')
    check_kubernetes_library(module)
    try:
        target = target_from_params(module.params)
    except FleetopsError as exc:
        module.fail_json(msg='cannot reach the cluster: %s' % exc, refused=False, changed=False)
    run = Restart(module, target)
    try:
        result = run.receiver() if module.params['target'] == 'receiver' else run.agent()
    except FleetopsError as exc:
        run.fail('%s' % exc)
    except Exception as exc:  # pylint: disable=broad-except
        if isinstance(exc, ApiException) and hasattr(exc, 'status'):
            run.fail('the Kubernetes API answered %s %s: %s' % (exc.status, exc.reason, ops.api_message(exc)))
        run.fail('%s: %s' % (type(exc).__name__, exc), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == '__main__':
    main()
