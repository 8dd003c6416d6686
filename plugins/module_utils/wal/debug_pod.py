# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading the WAL of an agent whose container is not running, through a short-lived pod.

Exec into a stopped (terminated, crash-looping) container is refused by the kubelet, so the WAL of
exactly the agents that most need it (a corrupt WAL stops Prometheus) reads ``unknown``. When asked
(``debug_pod: true``) ``wal_inspect`` creates a pod in the agent's namespace, on the agent pod's node,
that mounts the agent's PersistentVolumeClaim (the volume that holds the WAL path) read-only at the
same path, waits for it to run, reads the WAL through exec into it exactly as in the agent's own
container, and deletes it afterwards in every case. Free of Ansible: the pieces here are the choice
of the volume, the pod's manifest, and the create/wait/delete around a reading.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import random
import string
import time

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import workloads

DEFAULT_IMAGE = 'busybox:1.36'
CONTAINER = 'wal-inspect'
CREATED_BY = 'fleetops.prometheus_agent.wal_inspect'
LABELS = {'app.kubernetes.io/name': 'fleetops-wal-inspect', 'app.kubernetes.io/managed-by': 'fleetops.prometheus_agent',
          'fleetops.io/created-by': 'wal_inspect'}
NAME_MAX = 63
HINT = 'debug_pod: true would read it through a short-lived pod that mounts the agent\'s volume read-only'
POLL_SECONDS = 0.5


class NoVolume(Exception):
    """The WAL path is not on a PersistentVolumeClaim of the pod (the message says why)."""


def container_running(pod, container):
    """True when ``container`` of ``pod`` (the API's dict) runs, False when it does not, None when the
    pod shows no status of it."""
    for status in ((pod or {}).get('status') or {}).get('containerStatuses') or []:
        if status.get('name') == container:
            return 'running' in (status.get('state') or {})
    return None


def container_state(pod, container):
    """A few words on the container's state (``terminated (Error, exit 2)``, ``waiting (CrashLoopBackOff)``)."""
    for status in ((pod or {}).get('status') or {}).get('containerStatuses') or []:
        if status.get('name') != container:
            continue
        state = status.get('state') or {}
        for name in ('waiting', 'terminated'):
            if name in state:
                detail = state[name] or {}
                words = [w for w in (detail.get('reason'),) if w]
                if name == 'terminated' and detail.get('exitCode') is not None:
                    words.append('exit %s' % detail['exitCode'])
                return '%s (%s)' % (name, ', '.join(words)) if words else name
        return 'running' if 'running' in state else 'unknown'
    return 'not reported'


def _under(path, mount_path):
    mount_path = mount_path.rstrip('/') or '/'
    return path == mount_path or path.startswith(mount_path + '/') or mount_path == '/'


def wal_volume(pod, container, path):
    """The volume of ``pod`` that holds ``path`` in ``container``: a dict {volume, claim, mount_path,
    sub_path} of the container's volumeMount with the longest mountPath that ``path`` is under.
    Raises NoVolume when no mount holds it or the volume is not a PersistentVolumeClaim (an
    emptyDir or hostPath cannot be mounted by another pod, and a node's emptyDir goes with the pod)."""
    spec = (pod or {}).get('spec') or {}
    path = (path or '').rstrip('/') or '/'
    spec_container = next((c for c in spec.get('containers') or [] if c.get('name') == container), None)
    if spec_container is None:
        raise NoVolume('the pod has no container %s' % container)
    mounts = [m for m in spec_container.get('volumeMounts') or [] if m.get('mountPath') and _under(path, m['mountPath'])]
    if not mounts:
        raise NoVolume('no volume of container %s is mounted where the WAL is (%s)' % (container, path))
    mount = max(mounts, key=lambda m: len(m['mountPath'].rstrip('/')))
    volume = next((v for v in spec.get('volumes') or [] if v.get('name') == mount.get('name')), None)
    if volume is None:
        raise NoVolume('volume %s of the mount at %s is not in the pod spec' % (mount.get('name'), mount['mountPath']))
    claim = (volume.get('persistentVolumeClaim') or {}).get('claimName')
    if not claim:
        kind = next((k for k in volume if k != 'name'), 'unknown')
        raise NoVolume('the WAL is on volume %s (%s), not a PersistentVolumeClaim another pod can mount' % (volume['name'], kind))
    return dict(volume=volume['name'], claim=claim, mount_path=mount['mountPath'], sub_path=mount.get('subPath'))


def pod_name(agent_pod, suffix=None, rand=random):
    """``<agent pod>-wal-inspect-<5 random>``, the agent pod's name cut so the whole fits 63 characters."""
    suffix = suffix or ''.join(rand.choice(string.ascii_lowercase + string.digits) for _i in range(5))
    tail = '-wal-inspect-' + suffix
    return agent_pod[:NAME_MAX - len(tail)].rstrip('-.') + tail


def manifest(agent_pod, volume, name, image=DEFAULT_IMAGE, active_deadline_seconds=None):
    """The debug pod for ``agent_pod`` (the API's dict) and ``volume`` (``wal_volume``): one
    container ``wal-inspect`` of ``image`` that sleeps, the claim mounted read-only at the same path
    (and subPath), on the agent pod's node, never restarted, without a service account token, as the
    agent's own user and group (its securityContext) so it reads the files as the agent does."""
    meta = agent_pod.get('metadata') or {}
    spec = agent_pod.get('spec') or {}
    mount = {'name': 'wal', 'mountPath': volume['mount_path'], 'readOnly': True}
    if volume.get('sub_path'):
        mount['subPath'] = volume['sub_path']
    sleep = int(active_deadline_seconds or 3600)
    pod_spec = {
        'restartPolicy': 'Never',
        'terminationGracePeriodSeconds': 0,
        'automountServiceAccountToken': False,
        'enableServiceLinks': False,
        'activeDeadlineSeconds': sleep,   # the kubelet ends it even if this run never deletes it
        'containers': [{'name': CONTAINER, 'image': image, 'imagePullPolicy': 'IfNotPresent',
                        'command': ['sleep', str(sleep)], 'volumeMounts': [mount],
                        'securityContext': {'readOnlyRootFilesystem': True, 'allowPrivilegeEscalation': False},
                        'resources': {'requests': {'cpu': '10m', 'memory': '16Mi'}, 'limits': {'memory': '64Mi'}}}],
        'volumes': [{'name': 'wal', 'persistentVolumeClaim': {'claimName': volume['claim'], 'readOnly': True}}],
    }
    if spec.get('nodeName'):
        pod_spec['nodeName'] = spec['nodeName']
    for key in ('securityContext', 'tolerations', 'imagePullSecrets'):
        if spec.get(key):
            pod_spec[key] = spec[key]
    labels = dict(LABELS)
    labels['fleetops.io/wal-of'] = (meta.get('name') or '')[:63].rstrip('-.')
    return {'apiVersion': 'v1', 'kind': 'Pod',
            'metadata': {'name': name, 'namespace': meta.get('namespace'), 'labels': labels,
                         'annotations': {'fleetops.io/created-by': CREATED_BY,
                                         'fleetops.io/wal-of-pod': meta.get('name') or '',
                                         'fleetops.io/wal-claim': volume['claim']}},
            'spec': pod_spec}


class DebugPodFailed(Exception):
    """The debug pod could not be used (refused, did not start in time); the message says why."""


def _wait_running(target, namespace, name, deadline, clock=time.monotonic, sleep=time.sleep):
    """Wait for the debug pod's container to run, until ``deadline`` (seconds of ``clock``)."""
    last = 'Pending'
    while True:
        pod = target.get_json(workloads.namespaced_path('/api/v1', namespace, 'pods', name), what='reading debug pod %s' % name, missing_ok=True)
        if pod is None:
            raise DebugPodFailed('debug pod %s/%s is gone before it ran' % (namespace, name))
        if container_running(pod, CONTAINER):
            return pod
        status = pod.get('status') or {}
        last = status.get('phase') or 'Pending'
        if last in ('Failed', 'Succeeded'):
            raise DebugPodFailed('debug pod %s/%s ended (%s) before it could be read' % (namespace, name, last))
        state = container_state(pod, CONTAINER)
        cond = next((c for c in status.get('conditions') or [] if c.get('status') == 'False' and c.get('message')), None)
        if state != 'not reported':
            last = '%s, container %s' % (last, state)
        elif cond:
            last = '%s: %s' % (last, cond.get('message'))
        if clock() >= deadline:
            raise DebugPodFailed('debug pod %s/%s did not start in time (%s)' % (namespace, name, last))
        sleep(min(POLL_SECONDS, max(deadline - clock(), 0.01)))


def read_through(target, agent_pod, volume, read, image=DEFAULT_IMAGE, seconds=30.0, clock=time.monotonic,
                 sleep=time.sleep, name=None):
    """``read(pod_target)`` of the WAL through a debug pod: create it (``manifest``), wait for it to
    run (at most ``seconds``), call ``read`` with ``target.for_pod`` of it (container ``wal-inspect``),
    and delete it in every case. Returns (what ``read`` returned, facts {name, node, claim, image,
    read_only, deleted, delete_error}). Raises DebugPodFailed (with the facts in ``.facts``) when the
    pod is refused or does not start in time."""
    meta = agent_pod.get('metadata') or {}
    namespace = meta.get('namespace') or target.namespace
    name = name or pod_name(meta.get('name') or 'agent')
    body = manifest(agent_pod, volume, name, image, active_deadline_seconds=max(60, int(seconds) * 4))
    facts = dict(name='%s/%s' % (namespace, name), node=body['spec'].get('nodeName'), claim=volume['claim'],
                 mount_path=volume['mount_path'], image=image, read_only=True, created=False, deleted=False)
    end = clock() + max(float(seconds), 1.0)
    try:
        try:
            workloads.create_scratch_pod(target, namespace, body, what='creating debug pod %s' % name)
        except FleetopsError as exc:
            raise DebugPodFailed('creating debug pod %s/%s was refused: %s' % (namespace, name, exc))
        facts['created'] = True
        _wait_running(target, namespace, name, end, clock=clock, sleep=sleep)
        pod_target = target.for_pod(name)
        pod_target.container = CONTAINER
        return read(pod_target), facts
    except Exception as exc:
        exc.facts = facts     # what was done, for the result (the deletion is in the finally below)
        raise
    finally:
        if facts['created']:
            _delete(target, namespace, name, facts)


CLEANUP_SECONDS = 10


def _delete(target, namespace, name, facts):
    # the deletion gets its own few seconds, also when the run's deadline is spent (a timeout)
    cleaner = copy.copy(target)
    if hasattr(cleaner, 'deadline'):
        cleaner.deadline = None
        cleaner.timeout = min(float(getattr(target, 'timeout', None) or CLEANUP_SECONDS), CLEANUP_SECONDS)
    try:
        workloads.delete_scratch_pod(cleaner, namespace, name, what='deleting debug pod %s' % name)
        facts['deleted'] = True
    except FleetopsError as exc:
        facts['delete_error'] = 'deleting debug pod %s/%s failed: %s (it ends by itself after its activeDeadlineSeconds)' % (
            namespace, name, exc)
