# -*- coding: utf-8 -*-
# Copyright: fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tuning an agent through its operator resource: find it, compute the change, patch, wait.

``run(params, target, check_mode, diff)`` is what ``agent_tune`` returns: ``(result, failed)``.
The change itself is ``policy.tune_spec`` (drop rules, queue config, resources, all bounded); a
resources change restarts the pod, so the restart guardrail (``guard``) decides first. Pure domain
code: the Kubernetes objects through ``kube/workloads``; unit-tested against a fake target.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
import traceback

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import workloads
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import guard as guards
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import policy

NOTHING_TO_TUNE = 'nothing to tune: give drop_metrics, queue, resources or resources_step'


def wants_change(params):
    """True when the options ask for a change (drop rules, a queue setting, resources)."""
    return bool(params.get('drop_metrics') or any(v is not None for v in (params.get('queue') or {}).values())
                or params.get('resources') or params.get('resources_step'))


def run(params, target, check_mode=False, diff=False, sleep=time.sleep, clock=time.time):
    """``(result, failed)`` of one ``agent_tune`` run. ``target`` is a ``KubeTarget`` or a function
    making one (called here, so that a cluster that cannot be reached fails with the result)."""
    if not wants_change(params):
        return {'msg': NOTHING_TO_TUNE}, True
    result = {'changed': False, 'kind': params['kind'], 'name': params.get('name'), 'changes': [], 'restarts_pod': False}
    try:
        failed = tune(params, target() if callable(target) else target, result, check_mode, diff, sleep, clock)
    except policy.RemediationError as exc:
        result.update(msg='Refused: %s' % exc, refused=True)
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


def tune(params, target, result, check_mode, diff, sleep, clock):
    """Fill ``result``; returns whether the run failed. Raises RemediationError for a refused change."""
    p = params
    namespace = p.get('namespace') or 'monitoring'
    pod = None
    if not p.get('name') or p.get('resources') or p.get('resources_step'):
        pods = workloads.list_pods(target, namespace, selector=p.get('label_selector'), name=p.get('pod'))
        pod = pods[0] if pods else None
    kind, name, obj = workloads.find_agent_resource(target, namespace, pod=pod, name=p.get('name'), kind=p['kind'])
    result.update(kind=kind, name=name)
    if obj is None:
        result['msg'] = 'no %s %s in namespace %s (give name)' % (kind, name or '(name not found from the pod)', namespace)
        return True
    spec = obj.get('spec') or {}
    base = step_base(p, pod, spec)
    if base:
        p = dict(p, resources_step_from=base)
        result['step_from'] = base
    bounds = dict((key, p[key]) for key in ('step_percent', 'memory_cap', 'cpu_cap', 'max_shards_cap'))
    new_spec, changes = policy.tune_spec(spec, p, bounds)
    where = '%s %s/%s' % (kind, namespace, name)
    result.update(changes=changes, before=policy.tuned_parts(spec), after=policy.tuned_parts(new_spec),
                  resource_version=obj['metadata'].get('resourceVersion'))
    if diff:
        result['diff'] = {'before': result['before'], 'after': result['after'], 'before_header': where, 'after_header': where}
    if not changes:
        result['msg'] = '%s already as wanted' % where
        return False
    restarts = new_spec.get('resources') != spec.get('resources')
    result['restarts_pod'] = restarts
    if restarts and pod is not None:
        found = guards.restart_guard(target, p, remote_write_urls=workloads.remote_write_urls(obj), sleep=sleep, clock=clock)
        result['guard'] = dict((k, v) for k, v in found.items() if k != 'queues')
        if not found['allowed']:
            result.update(refused=True, msg='Refused: a resources change restarts the agent, and %s (prometheus#13539); '
                                            'fix the receiver first or set force=true' % '; '.join(found['reasons']))
            return True
    result['changed'] = True
    if check_mode:
        result['msg'] = 'would patch %s: %s' % (where, '; '.join(changes))
        return False
    patch = {'metadata': {'resourceVersion': obj['metadata'].get('resourceVersion')}, 'spec': {}}
    if new_spec.get('remoteWrite') != spec.get('remoteWrite'):
        patch['spec']['remoteWrite'] = new_spec.get('remoteWrite')
    if restarts:
        patch['spec']['resources'] = new_spec.get('resources')
    old_uid = workloads.pod_summary(pod).get('uid') if pod else None
    stored = workloads.patch_resource(target, kind, namespace, name, patch)
    result['resource_version'] = ((stored or {}).get('metadata') or {}).get('resourceVersion')
    result['msg'] = 'patched %s (%d change%s)' % (where, len(changes), '' if len(changes) == 1 else 's')
    if restarts and p['wait'] and pod is not None:
        started = clock()
        new_pod, _waited, last = workloads.wait_new_pod_ready(target, namespace, pod['metadata']['name'], old_uid, p['wait_timeout'],
                                                              clock=clock, sleep=sleep)
        result['pod_after'] = last
        if new_pod is None:
            result['msg'] += ', but no new Ready pod within %ds' % p['wait_timeout']
            return True
        result['msg'] += ', new pod Ready after %.0fs' % (clock() - started)
    return False
