# -*- coding: utf-8 -*-
# Copyright: fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A restart of an agent (or of the not-ready replicas of its receiver) under the guardrails.

``run(params, target, check_mode)`` is what ``agent_restart`` returns: ``(result, failed)``. For
the agent: observe (the pod, its health), the guardrail (remote write read twice, ``guard``),
the cluster's Lease and cooldown (``change``), a graceful restart or a forced one (delete with no
grace: a pod stuck Terminating, or after the graceful restart failed), the WAL repair check (``reason=wal_corruption``: the log's repair
lines, the WAL's tail verified) and the verification (ready, targets up, remote write sending).
One pod is restarted, never more: the named one (``pod``), else the least healthy pod of the
selector. Graceful is a rollout restart of the StatefulSet when it runs that one pod only; when its
controller runs more pods (a StatefulSet of several replicas, a shard of several, a DaemonSet) it is
the deletion of that pod with its own grace period, which its controller recreates (a StatefulSet's
under the same name, a DaemonSet's under a new name on the same node), so the other pods keep running.
The receiver's replicas are restarted under the same Lease (in the agent's namespace). Pure
domain code: no Ansible; the Kubernetes objects read through ``kube/workloads`` and changed only
through ``change``; ``sleep`` and ``clock`` are parameters, so the whole flow is unit-tested
against a fake target.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import time
import traceback

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import units
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import lease as leases
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import workloads
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import agent_health, logs
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import change as changes
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import guard as guards
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import policy
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal import reader as wal_reader

# the log patterns (prometheus/logs.PATTERNS) of lines about WAL corruption and its repair
WAL_PATTERNS = ('wal_corruption', 'wal_repair')
WAL_LOG_LINES = 20


class Stopped(Exception):
    """The run ends here, failed (the result says why)."""


def run(params, target, check_mode=False, log=None, sleep=time.sleep, clock=time.time):
    """``(result, failed)`` of one ``agent_restart`` run (``params``: the module's options)."""
    return Restart(params, target, check_mode=check_mode, log=log, sleep=sleep, clock=clock).run()


# ------------------------------------------------------------------------------- the agent's answers

def http_text(target, path, timeout=None):
    """(status, text) of an agent endpoint; (None, error) when unreachable."""
    try:
        status, body = target.http_get(path, timeout=timeout)
    except FleetopsError as exc:
        return None, str(exc)
    if isinstance(body, bytes):
        body = body.decode('utf-8', 'replace')
    return status, body


def health(target, timeout=None):
    """``{'healthy', 'ready', 'error'}`` from /-/healthy and /-/ready."""
    h_status, h_body = http_text(target, '/-/healthy', timeout)
    r_status, r_body = http_text(target, '/-/ready', timeout)
    error = None
    if h_status is None:
        error = h_body
    elif r_status != 200:
        error = 'ready: HTTP %s %s' % (r_status, (r_body or '')[:80].strip())
    return {'healthy': h_status == 200, 'ready': r_status == 200, 'error': error}


def targets_health(target, timeout=None):
    """``{'up', 'down', 'unknown', 'error'}`` of the active scrape targets (``agent_health.targets_facts``)."""
    status, body = http_text(target, '/api/v1/targets?state=active', timeout)
    if status != 200:
        return {'up': 0, 'down': 0, 'unknown': 0, 'error': 'HTTP %s' % status if status else body}
    try:
        facts = agent_health.targets_facts(json.loads(body))
    except (ValueError, AttributeError, TypeError) as exc:
        return {'up': 0, 'down': 0, 'unknown': 0, 'error': 'bad targets answer: %s' % exc}
    return {'up': facts['up'], 'down': facts['down'], 'unknown': facts['total'] - facts['up'] - facts['down'], 'error': None}


def wal_log_lines(text):
    """The lines of a log about WAL corruption and repair (``logs.PATTERNS``), the last few."""
    found = []
    for raw in (text or '').splitlines():
        entry = logs.parse_line(raw)
        if entry is not None and logs.classify(entry) in WAL_PATTERNS:
            found.append(raw.strip())
    return found[-WAL_LOG_LINES:]


def repair_outcome(lines):
    """(repaired, failed) from WAL log lines: a repair logged (``wal_repair``), or given up on."""
    entries = [entry for entry in (logs.parse_line(line) for line in lines) if entry is not None]
    failed = any(logs.WAL_REPAIR_FAILED.search(entry['text']) for entry in entries)
    return any(logs.classify(entry) == 'wal_repair' for entry in entries) and not failed, failed


def _until(predicate, read, timeout, poll, sleep, clock):
    """The first reading of ``read()`` that ``predicate`` accepts, or the last one after ``timeout``."""
    start = clock()
    while True:
        state = read()
        if predicate(state) or clock() - start > timeout:
            return state
        sleep(poll)


# ------------------------------------------------------------------------------- the flow

class Restart:
    """One run: observe, decide, act, verify. ``result`` is what the module returns."""

    def __init__(self, params, target, check_mode=False, log=None, sleep=time.sleep, clock=time.time):
        self.p = guards.with_limits(params)
        self.target = target
        self.check_mode = check_mode
        self.log = log or (lambda text: None)
        self.sleep = sleep
        self.clock = clock
        self.result = {'changed': False, 'action': 'none', 'refused': False, 'refusal_reasons': [], 'steps': [], 'msg': ''}
        self.pre_repair_lines = []
        self.old_pod = None      # the pod this run restarts (then the one a forced restart deletes)
        self.per_pod = True      # a graceful restart deletes the pod (else rolls its StatefulSet of one pod)

    def run(self):
        """``(result, failed)``."""
        try:
            if self.p.get('target') == 'receiver':
                self.receiver()
            else:
                self.agent()
        except Stopped:
            return self.result, True
        except changes.PlannedNothing as exc:
            self.result.update(cooldown=exc.facts(), msg=str(exc))
            self.step(self.result['msg'])
            return self.result, False
        except leases.LeaseHeld as exc:
            self.result.update(refused=True, refusal_reasons=[str(exc)], msg='Refused: %s' % exc)
            return self.result, True
        except FleetopsError as exc:
            return self.stopped('%s' % exc), True
        except Exception as exc:  # pylint: disable=broad-except
            return self.stopped('%s: %s' % (type(exc).__name__, exc), exception=traceback.format_exc()), True
        return self.result, False

    def now(self):
        """The flow's clock as an aware UTC datetime (Kubernetes times are compared with it)."""
        return datetime.datetime.fromtimestamp(self.clock(), datetime.timezone.utc)

    def step(self, text):
        self.result['steps'].append(text)
        self.log(text)

    def stopped(self, msg, **extra):
        self.result.update(extra)
        self.result['msg'] = msg
        return self.result

    def fail(self, msg, **extra):
        self.stopped(msg, **extra)
        raise Stopped(msg)

    def refuse(self, reasons, msg=None):
        self.result['refused'] = True
        self.result['refusal_reasons'] = list(reasons)
        self.fail(msg or ('Refused: %s' % '; '.join(reasons)))

    # ------------------------------------------------------------------ the Lease, the cooldown

    def changing(self, action, honour_cooldown=True):
        """The cluster's Lease and cooldown (``change.change_lease``) in the agent's namespace."""
        return changes.change_lease(self.target, self.p.get('namespace') or 'monitoring', action, self.p,
                                    check_mode=self.check_mode, honour_cooldown=honour_cooldown, result=self.result,
                                    clock=self.clock, sleep=self.sleep, log=self.step)

    def refuse_while_another_run_changes(self, namespace):
        """No pod to restart: when another run holds the cluster's Lease, it is in the middle of a change (a restart
        deletes the pod before the StatefulSet makes the new one), so refuse as the Lease would (``LeaseHeld``)
        rather than report a missing agent."""
        if not self.p.get('lease', True):
            return
        lease = leases.Lease(leases.KubeLeaseApi(self.target), namespace, leases.CLUSTER_LEASE,
                             holder=self.p.get('lease_holder'), now=self.now)
        try:
            held = lease.refusal()
        except FleetopsError:
            return      # the Lease cannot be read: the missing pod is the answer
        if held is not None:
            raise held

    # ------------------------------------------------------------------ the agent

    def agent(self):
        p = self.p
        namespace = p.get('namespace') or 'monitoring'
        pods = workloads.list_pods(self.target, namespace, selector=p.get('label_selector'), name=p.get('pod'))
        if not pods:
            self.refuse_while_another_run_changes(namespace)
            self.fail('no agent pod found in namespace %s (pod %s, selector %s)' % (namespace, p.get('pod'), p.get('label_selector')))
        pod = workloads.least_healthy(pods)
        self.pin(pod['metadata']['name'])
        if len(pods) > 1:
            self.step('the selector matches %d pods: restarting %s, the least healthy (give pod to pick another); '
                      'the others are left alone' % (len(pods), pod['metadata']['name']))
        container = p.get('container')
        before = workloads.pod_summary(pod, container)
        before['health'] = health(self.target, timeout=5)
        self.result['before'] = before
        kind, sts = self.controller_of(namespace, pod, before)
        self.old_pod = pod
        healthy_now = before['ready'] and not before['terminating'] and before['health']['healthy'] and before['health']['ready']
        if p['skip_if_healthy'] and healthy_now and p['reason'] != 'wal_corruption':
            self.result['msg'] = '%s is Ready and healthy now: no restart needed (skip_if_healthy)' % before['name']
            self.step(self.result['msg'])
            return

        self.check_guard(namespace, pod, before)
        forced_now = self.forced_now(pod, before)
        action = 'forced' if forced_now else 'graceful'
        lease_action = policy.WAL_RECOVERY if p['reason'] == 'wal_corruption' else (
            policy.FORCED_RESTART if forced_now else policy.GRACEFUL_RESTART)
        # a pod stuck Terminating cannot wait out the cooldown (the lease is still taken)
        with self.changing(lease_action, honour_cooldown=not forced_now) as change:
            if self.recently_restarted(namespace, kind, sts, before, forced_now):
                return
            if p['reason'] == 'wal_corruption':
                self.pre_repair_lines, _error = self.repair_log_lines(86400)
            if self.check_mode:
                self.result.update(changed=True, action=action, msg='would %s restart %s (%s %s%s)%s' % (
                    action, before['name'], kind, sts, ', this pod alone' if self.per_pod else '',
                    ' and verify the WAL repair' if p['reason'] == 'wal_corruption' else ''))
                self.step(self.result['msg'])
                return

            started = self.clock()
            new_pod = self.restart(change, namespace, sts, before, forced_now, container)
            if new_pod is not None:
                self.pin(new_pod['metadata']['name'])
            wal = None
            if p['reason'] == 'wal_corruption':
                wal = self.wal_after(namespace, sts, new_pod, started)
                self.result['wal'] = wal
            after = workloads.pod_summary(new_pod, container)
            self.result['after'] = after
            if new_pod is None:
                self.fail('the agent %s did not come back Ready' % before['name'])
            self.step('new pod %s uid %s Ready after %.0fs' % (after['name'], after['uid'], self.clock() - started))
            ok = self.verify(after) if p['verify'] else True
        what = 'restarted %s (%s)%s, Ready after %.0fs' % (
            before['name'], self.result['action'], ' as %s' % after['name'] if after['name'] != before['name'] else '',
            self.clock() - started)
        if wal is not None:
            what += ', WAL %s' % ('repaired' if wal.get('repaired') else 'checked')
        if not ok:
            self.fail(what + ', but verification failed: %s' % '; '.join(self.result['verification']['failures']))
        self.result['msg'] = what + (', health, targets and remote write verified' if p['verify'] else '')

    def pin(self, name):
        """The agent's HTTP API, exec and logs go to pod ``name`` from now on (the pod restarted)."""
        for_pod = getattr(self.target, 'for_pod', None)
        if for_pod is not None and getattr(self.target, 'fixed_pod', None) != name:
            self.target = for_pod(name)

    def controller_of(self, namespace, pod, before):
        """``(kind, name)`` of the pod's StatefulSet or DaemonSet, and how a graceful restart acts
        (``self.per_pod``: delete this pod, or roll the StatefulSet of this one pod); in the result."""
        p = self.p
        if p.get('statefulset'):
            kind, name = 'StatefulSet', p['statefulset']
        else:
            kind, name = workloads.owner_controller(pod)
            if not name:
                kind, name = 'StatefulSet', workloads.statefulset_from_pod_name(before['name'])
        if not name:
            self.fail('cannot tell the StatefulSet or DaemonSet of pod %s: give statefulset' % before['name'])
        try:
            count = workloads.controller_pod_count(kind, workloads.get_controller(self.target, namespace, kind, name))
        except FleetopsError as exc:
            self.step('cannot read %s %s (%s): restarting the pod alone' % (kind, name, exc))
            count = None
        # a rollout restart replaces every pod of the controller: only for a StatefulSet of this one pod
        self.per_pod = kind == 'DaemonSet' or count != 1
        self.result['controller'] = {'kind': kind, 'name': name, 'pods': count,
                                     'restart': 'pod deletion' if self.per_pod else 'rollout restart'}
        if kind == 'StatefulSet':
            self.result['statefulset'] = name
        return kind, name

    def check_guard(self, namespace, pod, before):
        """The guardrail: never while the receiver is failing or the lag is high (unless forced)."""
        urls = self.p.get('receiver_urls')
        if urls is None:
            try:
                _kind, _name, resource = workloads.find_agent_resource(self.target, namespace, pod=pod)
                urls = workloads.remote_write_urls(resource)
            except FleetopsError:
                urls = []
        found = guards.restart_guard(self.target, self.p, remote_write_urls=urls, sleep=self.sleep, clock=self.clock)
        self.result['guard'] = found
        self.result['refusal_reasons'] = found['reasons']
        if not found['allowed']:
            self.refuse(found['reasons'],
                        'Refused to restart %s: %s. Restarting now would lose the unsent WAL (prometheus#13539); '
                        'fix the receiver first, or set force=true to accept the loss.' % (before['name'], '; '.join(found['reasons'])))
        if found['overridden']:
            self.step('force=true overrides: %s' % '; '.join(found['reasons']))

    def forced_now(self, pod, before):
        """Whether the pod is deleted with no grace right away (else a graceful restart comes first)."""
        p = self.p
        if p['mode'] == 'forced':
            allowed, why = policy.forced_restart_allowed(pod, now=self.now(), slack_seconds=p['stuck_after_seconds'])
            if allowed:
                self.step('forced restart: %s' % why)
                return True
            if before['terminating']:
                self.refuse([why])
            self.step('mode=forced: %s; trying a graceful restart first' % why)
            return False
        if before['terminating']:
            stuck, _over = policy.stuck_terminating(pod, now=self.now(), slack_seconds=p['stuck_after_seconds'])
            if stuck and not p['forced_fallback']:
                self.refuse(['the pod is stuck Terminating past its grace period: a graceful restart cannot help; use mode=forced'])
            return stuck
        return False

    def recently_restarted(self, namespace, kind, sts, before, forced_now):
        """Another run (or tool) restarted this agent meanwhile, or within cooldown_seconds (the
        StatefulSet's or DaemonSet's restartedAt stamp, e.g. ``kubectl rollout restart``): do nothing."""
        cooldown = self.p['cooldown_seconds']
        now_pods = workloads.list_pods(self.target, namespace, name=before['name'])
        if now_pods and now_pods[0]['metadata'].get('uid') != before['uid']:
            why = 'the pod was replaced while this run waited (another run restarted it)'
        elif not now_pods:
            why = 'the pod was deleted while this run waited (another run restarted it)'
        else:
            try:
                stamp = workloads.restarted_at(workloads.get_controller(self.target, namespace, kind, sts))
            except FleetopsError:
                stamp = None
            when = units.timestamp(stamp)
            age = self.clock() - when if when is not None else None
            if age is None or age >= cooldown or forced_now:
                return False
            why = 'the %s was restarted %ds ago (%s), within cooldown_seconds=%d' % (kind, int(age), stamp, cooldown)
        self.result['msg'] = 'not restarting %s: %s' % (before['name'], why)
        self.step(self.result['msg'])
        return True

    def restart(self, change, namespace, sts, before, forced_now, container):
        """Graceful (the pod deleted with its grace period, or the rollout restart of its StatefulSet of
        one pod), then forced when asked or allowed; the new Ready pod or None."""
        p = self.p
        new_pod = None
        data_loss_allowed = p['reason'] == 'wal_corruption' and p['allow_data_loss']
        if not forced_now:
            if self.per_pod:
                grace = workloads.grace_period(self.old_pod)
                change.delete_pod(namespace, before['name'], grace, uid=before['uid'])
                self.step('deleted pod %s with its grace period (%ds): %s %s recreates it, its other pods keep running'
                          % (before['name'], grace, self.result['controller']['kind'], sts))
            else:
                stamp = change.rollout_restart(namespace, sts, when=self.clock())
                self.step('patched StatefulSet %s: %s=%s' % (sts, workloads.RESTARTED_AT, stamp))
            self.result.update(changed=True, action='graceful')
            new_pod, waited, last = self.wait_replacement(namespace, container)
            if new_pod is None:
                self.step('graceful restart: no new Ready pod after %ds (last: %s)' % (waited, last))
                if p['mode'] == 'forced' or p['forced_fallback']:
                    forced_now = True
                elif not data_loss_allowed:
                    self.result['after'] = last
                    self.fail('graceful restart of %s did not bring a Ready pod within %ds (last: phase %s, ready %s, '
                              'waiting %s); mode=forced deletes the pod'
                              % (before['name'], p['wait_timeout'], last.get('phase'), last.get('ready'), last.get('waiting_reason')))
        if forced_now:
            # the pod now in the old one's place (after a failed graceful restart, its replacement)
            current = workloads.list_pods(self.target, namespace, name=before['name'])
            if not current and self.result['action'] == 'graceful':
                current = [pod for pod in [workloads.replacement_of(self.old_pod, workloads.list_pods(self.target, namespace))]
                           if pod is not None]
            victim = current[0] if current else self.old_pod
            name = victim['metadata']['name']
            change.delete_pod(namespace, name, 0)
            self.result.update(changed=True, action='forced')
            self.step('deleted pod %s with gracePeriodSeconds=0' % name)
            self.old_pod = victim
            new_pod, _waited, last = self.wait_replacement(namespace, container)
            if new_pod is None and not data_loss_allowed:
                self.result['after'] = last
                self.fail('forced restart of %s: no Ready pod within %ds' % (before['name'], p['wait_timeout']))
        return new_pod

    def wait_replacement(self, namespace, container=None):
        """The Ready pod that replaced ``self.old_pod`` (``workloads.wait_replacement_ready``)."""
        return workloads.wait_replacement_ready(self.target, namespace, self.old_pod, self.p['wait_timeout'], container,
                                                clock=self.clock, sleep=self.sleep)

    def wait_new_pod(self, namespace, name, old_uid, container=None):
        return workloads.wait_new_pod_ready(self.target, namespace, name, old_uid, self.p['wait_timeout'], container,
                                            clock=self.clock, sleep=self.sleep)

    def verify(self, after):
        """Ready, targets up, remote write sending again; each waited for up to verify_timeout."""
        p = self.p
        ver = {'failures': []}
        state = _until(lambda s: s['ready'] and s['healthy'], lambda: health(self.target, timeout=5), p['verify_timeout'],
                       1.0, self.sleep, self.clock)
        after['health'] = state
        ver['health'] = dict(state, ok=state['ready'] and state['healthy'])
        if not ver['health']['ok']:
            ver['failures'].append('/-/ready: %s' % state.get('error'))
        targets = _until(lambda c: c['up'] > 0 and c['down'] == 0, lambda: targets_health(self.target, timeout=5),
                         p['verify_timeout'], 2.0, self.sleep, self.clock)
        ver['targets'] = dict(targets, ok=targets['up'] > 0 and targets['down'] == 0)
        if not ver['targets']['ok']:
            ver['failures'].append('targets: %d up, %d down %s' % (targets['up'], targets['down'], targets.get('error') or ''))
        sending = guards.wait_sending(self.target, p['verify_timeout'], max_lag_seconds=p['max_lag_seconds'],
                                      sleep=self.sleep, clock=self.clock)
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
        except FleetopsError as exc:
            return [], str(exc)
        return wal_log_lines(text), None

    def wal_check(self):
        """The corruptions left in the WAL's tail, or raises (``wal_reader.read_pod``)."""
        params = {'path': self.p['wal_path'], 'verify': 'tail', 'agent_running': True}
        _listing, report, _compression, _extra = wal_reader.read_pod(params, self.target)
        if getattr(report, 'error', None):
            raise FleetopsError(report.error)
        return report.corruptions()

    def wal_after(self, namespace, sts, new_pod, started):
        """After the restart: the repair from the logs and the WAL's tail verified. Nothing is deleted:
        a WAL still corrupted fails (with allow_data_loss, with the manual procedure)."""
        wal = {'repaired': False, 'log_lines': [], 'log_lines_before_restart': self.pre_repair_lines or [],
               'corruptions_after': None, 'deleted': [], 'data_loss': False}
        failed = False
        if new_pod is not None:
            lines, error = self.repair_log_lines(self.clock() - started)
            wal['log_lines'] = lines
            if error:
                wal['log_error'] = error
            repaired, failed = repair_outcome(lines + wal['log_lines_before_restart'])
            try:
                wal['corruptions_after'] = self.wal_check()
            except (FleetopsError, wal_reader.Unknown) as exc:
                wal['wal_check_error'] = str(exc)
            clean = wal['corruptions_after'] == []
            wal['repaired'] = repaired and clean
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
        self.fail('allow_data_loss=true, but deleting WAL with the agent stopped is not automated by this module yet: '
                  'nothing was deleted. By hand: scale StatefulSet %s/%s to 0, mount its data volume in a helper pod, '
                  'delete the corrupted checkpoint (or the corrupted segment and every segment after it) under %s, '
                  'then scale back to 1 and run this module again with reason=wal_corruption to verify.'
                  % (namespace, sts, self.p['wal_path']), wal=wal, wal_delete_automated=False)
        return wal  # pragma: no cover - fail raises

    # ------------------------------------------------------------------ the receiver

    def receiver(self):
        p = self.p
        namespace = p['receiver_namespace']

        def replicas():
            return sorted(workloads.list_pods(self.target, namespace, selector=p['receiver_selector']),
                          key=lambda item: item['metadata']['name'])

        pods = replicas()
        if not pods:
            self.fail('no receiver pod in namespace %s with selector %s' % (namespace, p['receiver_selector']))
        summaries = [workloads.pod_summary(item) for item in pods]
        self.result['before'] = {'replicas': summaries}
        failing = [s for s in summaries if not s['ready']]
        self.result['replicas'] = []
        if not failing:
            self.result['msg'] = 'every receiver replica is Ready: nothing to restart'
            return
        with self.changing(policy.RECEIVER_RESTART) as change:
            for bad in failing:
                others = [s for s in (workloads.pod_summary(x) for x in replicas()) if s['name'] != bad['name']]
                not_ready = [s['name'] for s in others if not s['ready']]
                if not_ready:
                    self.refuse(['other receiver replicas are not Ready (%s): restarting %s now could take the whole receiver down'
                                 % (', '.join(not_ready), bad['name'])])
                entry = {'name': bad['name'], 'before': bad}
                self.result['replicas'].append(entry)
                if self.check_mode:
                    self.result['changed'] = True
                    self.step('would delete receiver pod %s and wait for it to be Ready' % bad['name'])
                    continue
                change.delete_pod(namespace, bad['name'], grace_seconds=30)
                self.result.update(changed=True, action='receiver_restart')
                self.step('deleted receiver pod %s' % bad['name'])
                new_pod, waited, last = self.wait_new_pod(namespace, bad['name'], bad['uid'])
                entry['after'] = last
                if new_pod is None:
                    self.fail('receiver pod %s not Ready %ds after its restart: stopping here' % (bad['name'], waited))
                self.step('receiver pod %s Ready after %.0fs' % (bad['name'], waited))
        self.result['action'] = 'receiver_restart'
        self.result['msg'] = '%s receiver replica(s) %s one at a time: %s' % (
            len(failing), 'would be restarted' if self.check_mode else 'restarted', ', '.join(s['name'] for s in failing))
