# -*- coding: utf-8 -*-
# Copyright: fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tuning an agent through its operator resource: find it, compute the change, patch, wait.

``run(params, target, check_mode, diff)`` is what ``agent_tune`` returns: ``(result, failed)``.
The change itself is ``policy.tune_spec`` (drop rules, optionally of one job, the whole queue config,
resources, scrapeInterval/scrapeTimeout, walCompression; all bounded, a guardrail let through only
when named in ``override_guardrails`` and then reported in ``guardrails_overridden``); it is
made under the cluster's Lease and cooldown (``change``), computed again there from what the
resource holds now, so a second run sees the first run's change; a resources change restarts the
pod, so the restart guardrail (``guard``) decides first. Pure domain code: the Kubernetes objects
read through ``kube/workloads`` and patched only through ``change``; unit-tested against a fake
target.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
import traceback

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import lease as leases
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import workloads
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import change as changes
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import guard as guards
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import policy

NOTHING_TO_TUNE = ('nothing to tune: give drop_metrics, queue, resources, resources_step, scrape_interval, scrape_timeout '
                   'or wal_compression')
TUNE = 'tune'   # the action recorded on the cluster's Lease


def wants_change(params):
    """True when the options ask for a change (drop rules, a queue setting, resources, a spec setting)."""
    return bool(params.get('drop_metrics') or any(v is not None for v in (params.get('queue') or {}).values())
                or params.get('resources') or params.get('resources_step')
                or any(params.get(option) is not None for option, _key in policy.SPEC_SETTINGS))


def run(params, target, check_mode=False, diff=False, sleep=time.sleep, clock=time.time):
    """``(result, failed)`` of one ``agent_tune`` run. ``target`` is a ``KubeTarget`` or a function
    making one (called here, so that a cluster that cannot be reached fails with the result)."""
    if not wants_change(params):
        return {'msg': NOTHING_TO_TUNE}, True
    result = {'changed': False, 'kind': params['kind'], 'name': params.get('name'), 'changes': [], 'restarts_pod': False,
              'guardrails_overridden': []}
    try:
        failed = tune(params, target() if callable(target) else target, result, check_mode, diff, sleep, clock)
    except policy.RemediationError as exc:
        result.update(msg='Refused: %s' % exc, refused=True)
        failed = True
    except changes.PlannedNothing as exc:
        result.update(changed=False, cooldown=exc.facts(), msg=str(exc))
        failed = False
    except leases.LeaseHeld as exc:
        result.update(changed=False, msg='Refused: %s' % exc, refused=True)
        failed = True
    except FleetopsError as exc:
        result['msg'] = '%s' % exc
        failed = True
    except Exception as exc:  # pylint: disable=broad-except
        result.update(msg='%s: %s' % (type(exc).__name__, exc), exception=traceback.format_exc())
        failed = True
    return result, failed


def step_base(params, pod, spec):
    """The limits a ``resources_step`` starts from when neither the options nor the resource say
    them (operator defaults): those the pod runs with."""
    if not params.get('resources_step') or params.get('resources_step_from') or pod is None:
        return None
    limits = workloads.container_limits(pod, params.get('container') or 'prometheus')
    own = (spec.get('resources') or {}).get('limits') or {}
    return dict((res, limits[res]) for res in params['resources_step'] if res in limits and res not in own) or None


class Plan:
    """What a tune would change, from the pod and the operator resource as they are now."""

    def __init__(self, params, target):
        p = params
        self.namespace = p.get('namespace') or 'monitoring'
        self.pod = None
        if not p.get('name') or p.get('resources') or p.get('resources_step'):
            pods = workloads.list_pods(target, self.namespace, selector=p.get('label_selector'), name=p.get('pod'))
            self.pod = pods[0] if pods else None
        self.kind, self.name, self.obj = workloads.find_agent_resource(target, self.namespace, pod=self.pod, name=p.get('name'),
                                                                       kind=p['kind'])
        self.where = '%s %s/%s' % (self.kind, self.namespace, self.name)
        self.spec = (self.obj or {}).get('spec') or {}
        self.base = step_base(p, self.pod, self.spec) if self.obj is not None else None
        self.params = dict(p, resources_step_from=self.base) if self.base else p
        self.new_spec, self.changes, self.overridden = self.spec, [], []
        if self.obj is not None:
            bounds = dict((key, p[key]) for key in ('step_percent', 'memory_cap', 'cpu_cap', 'max_shards_cap'))
            self.new_spec, self.changes = policy.tune_spec(self.spec, self.params, bounds, overridden=self.overridden)
        self.restarts = self.new_spec.get('resources') != self.spec.get('resources')

    def fill(self, result, diff):
        """Put the plan into the module's ``result``."""
        result.update(kind=self.kind, name=self.name)
        if self.obj is None:
            result['msg'] = 'no %s %s in namespace %s (give name)' % (self.kind, self.name or '(name not found from the pod)',
                                                                      self.namespace)
            return
        if self.base:
            result['step_from'] = self.base
        result.update(changes=self.changes, before=policy.tuned_parts(self.spec), after=policy.tuned_parts(self.new_spec),
                      resource_version=self.obj['metadata'].get('resourceVersion'), restarts_pod=self.restarts,
                      guardrails_overridden=self.overridden)
        if diff:
            result['diff'] = {'before': result['before'], 'after': result['after'], 'before_header': self.where,
                              'after_header': self.where}
        if not self.changes:
            result['msg'] = '%s already as wanted' % self.where

    def patch(self):
        """The merge patch of the resource (its resourceVersion: a change in between is a conflict)."""
        patch = {'metadata': {'resourceVersion': self.obj['metadata'].get('resourceVersion')}, 'spec': {}}
        if self.new_spec.get('remoteWrite') != self.spec.get('remoteWrite'):
            patch['spec']['remoteWrite'] = self.new_spec.get('remoteWrite')
        if self.restarts:
            patch['spec']['resources'] = self.new_spec.get('resources')
        for _option, key in policy.SPEC_SETTINGS:
            if self.new_spec.get(key) != self.spec.get(key):
                patch['spec'][key] = self.new_spec.get(key)
        return patch


def tune(params, target, result, check_mode, diff, sleep, clock):
    """Fill ``result``; returns whether the run failed. Raises RemediationError for a refused change,
    PlannedNothing within the cooldown of another run's change, LeaseHeld.

    The plan is made once to refuse early and to leave an unchanged resource alone (saying so, or that
    another run changed it within the cooldown), then again under the cluster's Lease: what is patched
    is computed from what the resource holds now, and a resource not found at first is looked for again."""
    plan = Plan(params, target)
    plan.fill(result, diff)
    if plan.obj is not None and not plan.changes:
        changes.check_recent_change(target, plan.namespace, params, clock=clock)
        return False
    # not found (the pod may be between two, while another run restarts it): looked for again under the lease
    with changes.change_lease(target, plan.namespace, TUNE, params, check_mode=check_mode, result=result, clock=clock,
                              sleep=sleep) as change:
        plan = Plan(params, target)
        plan.fill(result, diff)
        if plan.obj is None or not plan.changes:
            return plan.obj is None
        if plan.restarts and plan.pod is not None:
            found = guards.restart_guard(target, plan.params, remote_write_urls=workloads.remote_write_urls(plan.obj), sleep=sleep,
                                         clock=clock)
            result['guard'] = dict((k, v) for k, v in found.items() if k != 'queues')
            if not found['allowed']:
                result.update(refused=True, msg='Refused: a resources change restarts the agent, and %s (prometheus#13539); '
                                                'fix the receiver first or set force=true' % '; '.join(found['reasons']))
                return True
        result['changed'] = True
        if check_mode:
            result['msg'] = 'would patch %s: %s' % (plan.where, '; '.join(plan.changes))
            return False
        old_uid = workloads.pod_summary(plan.pod).get('uid') if plan.pod else None
        stored = change.patch_resource(plan.kind, plan.namespace, plan.name, plan.patch(), '; '.join(plan.changes))
        result['resource_version'] = ((stored or {}).get('metadata') or {}).get('resourceVersion')
        result['msg'] = 'patched %s (%d change%s)' % (plan.where, len(plan.changes), '' if len(plan.changes) == 1 else 's')
        if plan.restarts and params['wait'] and plan.pod is not None:
            started = clock()
            new_pod, _waited, last = workloads.wait_new_pod_ready(target, plan.namespace, plan.pod['metadata']['name'], old_uid,
                                                                  params['wait_timeout'], clock=clock, sleep=sleep)
            result['pod_after'] = last
            if new_pod is None:
                result['msg'] += ', but no new Ready pod within %ds' % params['wait_timeout']
                return True
            result['msg'] += ', new pod Ready after %.0fs' % (clock() - started)
    return False
