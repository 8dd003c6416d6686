# -*- coding: utf-8 -*-
# Copyright: fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes objects around an agent: pods, its StatefulSet, its operator resource.

Everything goes through the raw JSON requests of a ``target.KubeTarget`` (``request_json``), so
every error of the API server arrives as an error of ``core/errors.py`` (its HTTP status in
``details['status']``, see ``api_status``) and nothing outside ``kube/`` sees the client's
exceptions. Objects are the API's camelCase dicts.

* reads: ``list_items`` (a LIST page by page), ``list_pods``, ``list_warning_events``, ``list_node_oom_events``, ``get_statefulset``, ``get_controller``
  (a StatefulSet or DaemonSet), ``get_resource``, ``find_agent_resource``;
* writes: ``rollout_restart`` (what ``kubectl rollout restart`` does), ``delete_pod``,
  ``patch_resource`` (a merge patch of the operator resource);
* waits: ``wait_new_pod_ready`` (a StatefulSet pod: the same name, a new uid), ``wait_replacement_ready``
  (also a DaemonSet's pod: a new name on the same node);
* every pod of an agent: ``each_pod`` (a reading of each, ``PODS_AT_ONCE`` at a time);
* pod facts (pure): ``pod_summary``, ``owner_statefulset``, ``owner_controller``, ``statefulset_from_pod_name``,
  ``controller_pod_count``, ``replacement_of``, ``grace_period``, ``least_healthy``, ``container_limits``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import units
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError

RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt'

OPERATOR_GROUP = 'monitoring.coreos.com'
KINDS = {
    'PrometheusAgent': {'version': 'v1alpha1', 'plural': 'prometheusagents', 'prefix': 'prom-agent-'},
    'Prometheus': {'version': 'v1', 'plural': 'prometheuses', 'prefix': 'prometheus-'},
}
MERGE_PATCH = 'application/merge-patch+json'
STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json'


# The pods of one agent (shards, replicas, a DaemonSet's) read at the same time: each reading is a few
# requests or execs that wait on the network and the container, not on this process, so four at a
# time cost a quarter of the wall time of one after the other, under the same deadline.
PODS_AT_ONCE = 4


def each_pod(read, pods, workers=PODS_AT_ONCE):
    """``[read(pod) for pod in pods]``, ``workers`` at a time (threads), in the order of ``pods``.
    ``read`` reports a pod's own failure in what it returns; what it raises stops the whole reading."""
    pods = list(pods)
    if len(pods) < 2 or workers < 2:
        return [read(pod) for pod in pods]
    with ThreadPoolExecutor(max_workers=min(workers, len(pods))) as pool:
        return list(pool.map(read, pods))


def api_status(error):
    """The HTTP status of an API server error raised by ``request_json`` (None for other errors)."""
    return (getattr(error, 'details', None) or {}).get('status')


def namespaced_path(api, namespace, plural, name=None):
    """``/api/v1/namespaces/<ns>/<plural>[/<name>]`` (``api`` is ``/api/v1`` or ``/apis/<group>/<version>``)."""
    path = '%s/namespaces/%s/%s' % (api, quote(namespace, safe=''), plural)
    return path + '/' + quote(name, safe='') if name else path


# items per page of a LIST (kubectl's --chunk-size default)
LIST_PAGE_SIZE = 500


def list_items(target, path, query=None, what=None, missing_ok=False, page_size=None):
    """Every item of a LIST on the API server, page by page (``limit`` and ``continue``, as kubectl
    chunks a list: a namespace of thousands of pods is read ``page_size`` items at a time, not in
    one answer). None for a 404 when ``missing_ok``. A continue token the server no longer knows
    (410 Expired: the pages took longer than etcd keeps the list's revision) starts the list again,
    once; a second 410 is the error it is."""
    size = int(page_size or LIST_PAGE_SIZE)
    items, token, restarted = [], None, False
    while True:
        page_query = list(query or []) + [('limit', str(size))] + ([('continue', token)] if token else [])
        try:
            found = target.request_json('GET', path, query=page_query, what=what, missing_ok=missing_ok)
        except FleetopsError as exc:
            if token and exc.details.get('status') == 410 and not restarted:
                items, token, restarted = [], None, True
                continue
            raise
        if found is None:
            return items or None
        items.extend(found.get('items') or [])
        token = (found.get('metadata') or {}).get('continue')
        if not token:
            return items


def list_warning_events(target, namespace, field_selector=None):
    """The Warning events (core/v1, the API's camelCase JSON) of ``namespace``: one LIST (paged),
    ``fieldSelector=type=Warning`` (and ``field_selector``) so that the Normal events of a busy
    namespace are not read."""
    selector = 'type=Warning' + (',' + field_selector if field_selector else '')
    return list_items(target, namespaced_path('/api/v1', namespace, 'events'), query=[('fieldSelector', selector)],
                      what='listing events') or []


# where node-problem-detector's kernel monitor records a node's OOMKilling (events of a Node are in ``default``)
NODE_EVENTS_NAMESPACE = 'default'


def list_node_oom_events(target):
    """The OOMKilling Warning events of the cluster's nodes (one LIST in ``default``)."""
    return list_warning_events(target, NODE_EVENTS_NAMESPACE, 'reason=OOMKilling,involvedObject.kind=Node')


# ------------------------------------------------------------------------------- pods

def list_pods(target, namespace, selector=None, name=None):
    """Pods: the named one (none when it does not exist), or those matching ``selector``."""
    if name:
        pod = target.request_json('GET', namespaced_path('/api/v1', namespace, 'pods', name),
                                  what='reading pod %s' % name, missing_ok=True)
        return [pod] if pod else []
    query = [('labelSelector', selector)] if selector else None
    return list_items(target, namespaced_path('/api/v1', namespace, 'pods'), query=query, what='listing pods') or []


def delete_pod(target, namespace, name, grace_seconds=0, uid=None):
    """Delete a pod with ``grace_seconds`` of grace; a pod already gone is fine. With ``uid``, only
    that pod (a precondition: a pod of the same name that replaced it meanwhile is left alone, 409)."""
    body = {'apiVersion': 'v1', 'kind': 'DeleteOptions', 'gracePeriodSeconds': int(grace_seconds)}
    if uid:
        body['preconditions'] = {'uid': uid}
    target.request_json('DELETE', namespaced_path('/api/v1', namespace, 'pods', name), body=body,
                        query=[('gracePeriodSeconds', str(int(grace_seconds)))], what='deleting pod %s' % name,
                        missing_ok=True)


def create_scratch_pod(target, namespace, body, what):
    """Create a short-lived pod of our own that only reads (wal_inspect's debug pod, which mounts the
    agent's volume read-only). Not a change to the agent, so not under the cluster's change lease:
    its caller deletes it (``delete_scratch_pod``) in every case."""
    return target.request_json('POST', namespaced_path('/api/v1', namespace, 'pods'), body=body, what=what)


def delete_scratch_pod(target, namespace, name, what):
    """Delete a pod ``create_scratch_pod`` made, with no grace (it holds no data); a pod already gone is fine."""
    target.request_json('DELETE', namespaced_path('/api/v1', namespace, 'pods', name), body={'gracePeriodSeconds': 0},
                        query=[('gracePeriodSeconds', '0')], what=what, missing_ok=True)


def container_status(pod, container=None):
    statuses = ((pod.get('status') or {}).get('containerStatuses')) or []
    for status in statuses:
        if container is None or status.get('name') == container:
            return status
    return statuses[0] if statuses else {}


def pod_ready(pod):
    for cond in (pod.get('status') or {}).get('conditions') or []:
        if cond.get('type') == 'Ready':
            return cond.get('status') == 'True'
    return False


def pod_summary(pod, container=None):
    """What the remediation modules return about a pod: name, uid, phase, ready, restarts, reasons."""
    if not pod:
        return {'name': None, 'uid': None, 'phase': None, 'ready': False, 'restarts': None, 'terminating': False}
    meta = pod.get('metadata') or {}
    cstat = container_status(pod, container)
    state = cstat.get('state') or {}
    return {
        'name': meta.get('name'),
        'uid': meta.get('uid'),
        'phase': (pod.get('status') or {}).get('phase'),
        'ready': pod_ready(pod),
        'restarts': cstat.get('restartCount'),
        'waiting_reason': (state.get('waiting') or {}).get('reason'),
        'last_termination_reason': ((cstat.get('lastState') or {}).get('terminated') or {}).get('reason'),
        'terminating': meta.get('deletionTimestamp') is not None,
        'deletion_timestamp': meta.get('deletionTimestamp'),
        'created': meta.get('creationTimestamp'),
    }


def container_limits(pod, container):
    """The resource limits of ``container`` in a pod ({} when none)."""
    for item in ((pod or {}).get('spec') or {}).get('containers') or []:
        if item.get('name') == container:
            return dict(((item.get('resources') or {}).get('limits')) or {})
    return {}


def owner_statefulset(pod):
    for ref in ((pod or {}).get('metadata') or {}).get('ownerReferences') or []:
        if ref.get('kind') == 'StatefulSet':
            return ref.get('name')
    return None


CONTROLLER_PLURALS = {'StatefulSet': 'statefulsets', 'DaemonSet': 'daemonsets'}


def owner_controller(pod):
    """``(kind, name)`` of the StatefulSet or DaemonSet that owns the pod, or ``(None, None)``."""
    for ref in ((pod or {}).get('metadata') or {}).get('ownerReferences') or []:
        if ref.get('kind') in CONTROLLER_PLURALS:
            return ref.get('kind'), ref.get('name')
    return None, None


def controller_pod_count(kind, controller):
    """How many pods the controller runs: a StatefulSet's ``spec.replicas`` (1 when unset), a
    DaemonSet's ``status.desiredNumberScheduled``; None when the object is unknown."""
    if not controller:
        return None
    if kind == 'DaemonSet':
        count = (controller.get('status') or {}).get('desiredNumberScheduled')
        return int(count) if count is not None else None
    replicas = (controller.get('spec') or {}).get('replicas')
    return 1 if replicas is None else int(replicas)


def grace_period(pod, default=30):
    """The pod's own ``terminationGracePeriodSeconds`` (Kubernetes' default 30)."""
    value = ((pod or {}).get('spec') or {}).get('terminationGracePeriodSeconds')
    return default if value is None else int(value)


def _health_rank(pod):
    summary = pod_summary(pod)
    return (summary['ready'] and not summary['terminating'], not summary['terminating'],
            -(summary['restarts'] or 0), summary['name'] or '')


def least_healthy(pods):
    """The pod a restart is for when none is named: not Ready first, then Terminating, then the most
    restarts; ties by name."""
    return sorted(pods, key=_health_rank)[0] if pods else None


def replacement_of(old_pod, pods):
    """The pod in ``pods`` that replaced ``old_pod`` (another uid), or None: of a StatefulSet, the pod of
    the same name; of a DaemonSet (whose new pod has a new name), the pod of the same DaemonSet on
    the same node."""
    meta = old_pod.get('metadata') or {}
    kind, owner = owner_controller(old_pod)
    node = (old_pod.get('spec') or {}).get('nodeName')
    for pod in pods:
        other = pod.get('metadata') or {}
        if other.get('uid') == meta.get('uid'):
            continue
        if kind == 'DaemonSet':
            if owner_controller(pod) == (kind, owner) and (pod.get('spec') or {}).get('nodeName') == node:
                return pod
        elif other.get('name') == meta.get('name'):
            return pod
    return None


def statefulset_from_pod_name(pod_name):
    """``prom-agent-x-0`` -> ``prom-agent-x`` (the StatefulSet naming rule)."""
    if pod_name and '-' in pod_name and pod_name.rsplit('-', 1)[1].isdigit():
        return pod_name.rsplit('-', 1)[0]
    return None


def wait_new_pod_ready(target, namespace, name, old_uid, timeout, container=None, poll=1.0, clock=time.monotonic,
                       sleep=time.sleep):
    """Wait until pod ``name`` exists with a uid other than ``old_uid`` and is Ready.

    Returns ``(pod or None, waited_seconds, last pod_summary)``.
    """
    start = clock()
    while True:
        pods = list_pods(target, namespace, name=name)
        pod = pods[0] if pods else None
        last = pod_summary(pod, container)
        if pod and last['uid'] != old_uid and last['ready'] and not last['terminating']:
            return pod, clock() - start, last
        if clock() - start > timeout:
            return None, clock() - start, last
        sleep(poll)


def wait_replacement_ready(target, namespace, old_pod, timeout, container=None, selector=None, poll=1.0,
                           clock=time.monotonic, sleep=time.sleep):
    """Wait until the pod that replaces ``old_pod`` (``replacement_of``) is Ready: ``wait_new_pod_ready``
    for a StatefulSet's pod; for a DaemonSet's, the pods of ``selector`` are listed each time.

    Returns ``(pod or None, waited_seconds, last pod_summary)`` (the old pod's while no replacement exists).
    """
    meta = old_pod.get('metadata') or {}
    if owner_controller(old_pod)[0] != 'DaemonSet':
        return wait_new_pod_ready(target, namespace, meta.get('name'), meta.get('uid'), timeout, container, poll=poll,
                                  clock=clock, sleep=sleep)
    start = clock()
    while True:
        pods = list_pods(target, namespace, selector=selector)
        pod = replacement_of(old_pod, pods)
        if pod is None:
            gone = [item for item in pods if (item.get('metadata') or {}).get('uid') == meta.get('uid')]
            last = pod_summary(gone[0] if gone else None, container)
        else:
            last = pod_summary(pod, container)
        if pod is not None and last['ready'] and not last['terminating']:
            return pod, clock() - start, last
        if clock() - start > timeout:
            return None, clock() - start, last
        sleep(poll)


# ------------------------------------------------------------------------------- StatefulSets, DaemonSets

def get_statefulset(target, namespace, name):
    """The StatefulSet, or None when it does not exist."""
    return target.request_json('GET', namespaced_path('/apis/apps/v1', namespace, 'statefulsets', name),
                               what='reading StatefulSet %s' % name, missing_ok=True)


def get_controller(target, namespace, kind, name):
    """The StatefulSet or DaemonSet ``name`` (``kind``), or None when it does not exist."""
    return target.request_json('GET', namespaced_path('/apis/apps/v1', namespace, CONTROLLER_PLURALS[kind], name),
                               what='reading %s %s' % (kind, name), missing_ok=True)


def restarted_at(statefulset):
    """The ``kubectl.kubernetes.io/restartedAt`` stamp of a StatefulSet's pod template, or None."""
    template = ((statefulset or {}).get('spec') or {}).get('template') or {}
    return ((template.get('metadata') or {}).get('annotations') or {}).get(RESTARTED_AT)


def rollout_restart(target, namespace, statefulset, when=None):
    """Stamp the pod template with ``when`` (epoch seconds, default now) as ``kubectl rollout restart``
    does: the StatefulSet rolls its pods. Returns the stamp."""
    stamp = units.rfc3339(time.time() if when is None else when, digits=0)
    body = {'spec': {'template': {'metadata': {'annotations': {RESTARTED_AT: stamp}}}}}
    target.request_json('PATCH', namespaced_path('/apis/apps/v1', namespace, 'statefulsets', statefulset), body=body,
                        content_type=STRATEGIC_MERGE_PATCH, what='patching StatefulSet %s' % statefulset)
    return stamp


# ------------------------------------------------------------------------------- operator resources

def _resource_path(kind, namespace, name):
    info = KINDS[kind]
    return namespaced_path('/apis/%s/%s' % (OPERATOR_GROUP, info['version']), namespace, info['plural'], name)


def get_resource(target, kind, namespace, name):
    """The operator resource (``PrometheusAgent`` or ``Prometheus``), or None when it does not exist."""
    return target.request_json('GET', _resource_path(kind, namespace, name), what='reading %s %s' % (kind, name),
                               missing_ok=True)


def patch_resource(target, kind, namespace, name, patch):
    """Merge-patch the operator resource; returns it as stored."""
    return target.request_json('PATCH', _resource_path(kind, namespace, name), body=patch, content_type=MERGE_PATCH,
                               what='patching %s %s' % (kind, name))


def list_agent_resources(target, namespace=None):
    """[{name, namespace}] of the cluster's PrometheusAgent resources (of ``namespace``, or of
    every namespace), sorted: one LIST (paged); none when the CRD is not installed (404)."""
    api = '/apis/%s/%s' % (OPERATOR_GROUP, KINDS['PrometheusAgent']['version'])
    plural = KINDS['PrometheusAgent']['plural']
    path = namespaced_path(api, namespace, plural) if namespace else '%s/%s' % (api, plural)
    items = list_items(target, path, what='listing PrometheusAgent resources', missing_ok=True) or []
    found = [{'name': (i.get('metadata') or {}).get('name'), 'namespace': (i.get('metadata') or {}).get('namespace')}
             for i in items]
    return sorted((a for a in found if a['name']), key=lambda a: (a['namespace'] or '', a['name']))


def find_agent_resource(target, namespace, pod=None, name=None, kind=None):
    """(kind, name, object) of the operator resource behind the agent, or (kind, name, None).

    Tried in order: ``name``, the pod's ``operator.prometheus.io/name`` and
    ``app.kubernetes.io/instance`` labels, its StatefulSet's name without the operator's prefix.
    """
    kinds = [kind] if kind else ['PrometheusAgent', 'Prometheus']
    meta = (pod or {}).get('metadata') or {}
    labels = meta.get('labels') or {}
    guesses = [name] if name else []
    guesses += [labels[key] for key in ('operator.prometheus.io/name', 'app.kubernetes.io/instance') if labels.get(key)]
    sts = owner_statefulset(pod) or statefulset_from_pod_name(meta.get('name'))
    for knd in kinds:
        prefix = KINDS[knd]['prefix']
        for guess in guesses + ([sts[len(prefix):]] if sts and sts.startswith(prefix) else []):
            if guess:
                obj = get_resource(target, knd, namespace, guess)
                if obj is not None:
                    return knd, guess, obj
    return kinds[0], name, None


def remote_write_urls(resource):
    """The ``remoteWrite`` URLs of an operator resource."""
    return [item.get('url') for item in ((resource or {}).get('spec') or {}).get('remoteWrite') or [] if item.get('url')]
