# -*- coding: utf-8 -*-
# Copyright: fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A coordination.k8s.io/v1 Lease so two remediation runs never act on one cluster at once.

``Lease(api, namespace, name, holder, duration)``: ``acquire()`` creates the Lease, or takes
over one that has no holder or whose holder let it expire (renewTime + leaseDurationSeconds in
the past), using the resourceVersion for optimistic concurrency: of two runs racing for it,
exactly one wins, the other gets ``LeaseHeld``. A holder takes its own lease again. An expired
lease of a run that died is taken over after ``duration`` seconds.

The Lease also keeps the record of the last change made under it (``change_record``: its
annotations ``fleetops.io/last-*``: the action, what changed, when, by whom), which the cooldown
of remediation reads. ``release(record)`` gives the lease back: the holder is cleared and the
record (the new one, or the one it had) kept; a Lease with no record at all is deleted.

The API is reached through a small adaptor (``get``/``create``/``replace``/``delete`` on
plain dicts, ``LeaseConflict`` on HTTP 409) so the logic is unit-tested without a cluster;
``KubeLeaseApi`` is that adaptor over the raw JSON requests of a ``target.KubeTarget`` (the
API server's other errors arrive as the errors of ``core/errors.py``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import socket

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import units
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube.workloads import api_status, namespaced_path

LEASES_API = '/apis/coordination.k8s.io/v1'
VERBS = {'GET': 'reading', 'POST': 'creating', 'PUT': 'replacing', 'DELETE': 'deleting'}
MANAGED_BY = 'fleetops.prometheus_agent'
# the one Lease of a cluster, in the agent's namespace
CLUSTER_LEASE = 'fleetops-remediation'
HOLDER_ACTION = 'fleetops.io/action'
# the record of the last change: its keys and the annotations that keep them
RECORD_ANNOTATIONS = {'action': 'fleetops.io/last-action', 'change': 'fleetops.io/last-change',
                      'at': 'fleetops.io/last-change-at', 'holder': 'fleetops.io/last-holder'}
RECORD_CHANGE_CHARS = 1000


class LeaseConflict(Exception):
    """The object changed (or appeared) between read and write: HTTP 409."""


class LeaseHeld(Exception):
    """Another run holds the lease."""

    def __init__(self, holder, expires_at, action=None):
        self.holder = holder
        self.expires_at = expires_at
        self.action = action
        super(LeaseHeld, self).__init__(
            'another remediation run holds the lease (%s%s) until %s' % (
                holder, ', %s' % action if action else '', expires_at.strftime('%Y-%m-%dT%H:%M:%SZ') if expires_at else '?'))


def default_holder():
    """``user@host/pid``: who holds a lease, readable in ``kubectl get lease``."""
    user = os.environ.get('USER') or os.environ.get('LOGNAME') or 'ansible'
    job = os.environ.get('JOB_ID') or os.environ.get('AWX_JOB_ID') or os.environ.get('TOWER_JOB_ID')
    ident = '%s@%s/%d' % (user, socket.gethostname(), os.getpid())
    return ident + ('/awx-job-%s' % job if job else '')


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def expires_at(lease):
    """When a lease (a dict) expires (an aware datetime), or None if it has no holder."""
    spec = lease.get('spec') or {}
    if not spec.get('holderIdentity'):
        return None
    renewed = units.timestamp(spec.get('renewTime') or spec.get('acquireTime'))
    if renewed is None:
        return None
    return units.as_datetime(renewed + int(spec.get('leaseDurationSeconds') or 0))


def held_by_another(lease, holder, now):
    """``LeaseHeld`` for a lease (a dict or None) that a holder other than ``holder`` holds unexpired at
    ``now`` (an aware datetime), else None."""
    other = ((lease or {}).get('spec') or {}).get('holderIdentity')
    until = expires_at(lease) if lease else None
    if other and other != holder and until is not None and until > now:
        return LeaseHeld(other, until, _annotations(lease).get(HOLDER_ACTION))
    return None


def _annotations(lease):
    return dict(((lease or {}).get('metadata') or {}).get('annotations') or {})


def change_record(lease):
    """The last change recorded on a lease (a dict): ``{'action', 'change', 'at' (epoch seconds),
    'holder'}``, or None when it has none (or its time cannot be read)."""
    notes = _annotations(lease)
    at = units.timestamp(notes.get(RECORD_ANNOTATIONS['at']))
    if at is None:
        return None
    record = dict((key, notes.get(note)) for key, note in RECORD_ANNOTATIONS.items())
    record['at'] = at
    return record


def record_annotations(record):
    """The annotations keeping ``record`` (``at``: epoch seconds; ``change`` cut to a readable length)."""
    notes = dict((RECORD_ANNOTATIONS[key], str(record.get(key) or '')) for key in ('action', 'change', 'holder'))
    notes[RECORD_ANNOTATIONS['change']] = notes[RECORD_ANNOTATIONS['change']][:RECORD_CHANGE_CHARS]
    notes[RECORD_ANNOTATIONS['at']] = units.rfc3339(record['at'], digits=0)
    return notes


class Lease:
    """One lease on one workload, held by ``holder`` for ``duration`` seconds."""

    def __init__(self, api, namespace, name, holder=None, duration=600, action=None, now=_now):
        self.api = api
        self.namespace = namespace
        self.name = name
        self.holder = holder or default_holder()
        self.duration = int(duration)
        self.action = action
        self.now = now
        self.held = False
        self.took_over = None
        self.record = None      # the change record the lease had when we took it

    def _body(self, current=None, held=True, record=None):
        """The Lease to write: held by us (or by nobody), keeping the record ``current`` has unless
        a new ``record`` is given; resourceVersion and transitions follow ``current``."""
        when = units.rfc3339(self.now())
        notes = dict((key, value) for key, value in _annotations(current).items() if key != HOLDER_ACTION)
        if record is not None:
            notes.update(record_annotations(record))
        if held and self.action:
            notes[HOLDER_ACTION] = str(self.action)
        meta = {'name': self.name, 'namespace': self.namespace,
                'labels': {'app.kubernetes.io/managed-by': MANAGED_BY}}
        if notes:
            meta['annotations'] = notes
        spec = {'leaseDurationSeconds': self.duration, 'renewTime': when}
        if current is not None:
            meta['resourceVersion'] = (current.get('metadata') or {}).get('resourceVersion')
            spec['leaseTransitions'] = int((current.get('spec') or {}).get('leaseTransitions') or 0) + (1 if held else 0)
        else:
            spec['leaseTransitions'] = 0
        if held:
            spec.update(holderIdentity=self.holder, acquireTime=when)
        return {'apiVersion': 'coordination.k8s.io/v1', 'kind': 'Lease', 'metadata': meta, 'spec': spec}

    def refusal(self):
        """``LeaseHeld`` when another holder has this lease unexpired now, else None: a read, nothing taken."""
        return held_by_another(self.api.get(self.namespace, self.name), self.holder, self.now())

    def acquire(self):
        """Take the lease or raise LeaseHeld. Returns a dict describing it; ``record`` is then the
        change record the lease had (``change_record``)."""
        try:
            self.api.create(self.namespace, self._body())
            self.held = True
            return self.describe()
        except LeaseConflict:
            pass
        current = self.api.get(self.namespace, self.name)
        if current is None:  # deleted in between: try once more
            try:
                self.api.create(self.namespace, self._body())
            except LeaseConflict:
                raise LeaseHeld('another run', None, None)
            self.held = True
            return self.describe()
        held = held_by_another(current, self.holder, self.now())
        if held is not None:
            raise held
        holder = (current.get('spec') or {}).get('holderIdentity')
        try:
            self.api.replace(self.namespace, self.name, self._body(current))
        except LeaseConflict:
            latest = self.api.get(self.namespace, self.name) or {}
            raise LeaseHeld((latest.get('spec') or {}).get('holderIdentity') or 'another run', expires_at(latest) if latest else None)
        self.held = True
        self.took_over = holder if holder and holder != self.holder else None
        self.record = change_record(current)
        return self.describe()

    def release(self, record=None):
        """Give the lease back if we still hold it: the holder cleared and the record kept (``record``,
        a dict of ``RECORD_ANNOTATIONS``' keys, replaces it); deleted when there is no record at all.
        Never raises for a lost lease."""
        if not self.held:
            return False
        self.held = False
        current = self.api.get(self.namespace, self.name)
        if current is None or (current.get('spec') or {}).get('holderIdentity') != self.holder:
            return False
        try:
            if record is None and change_record(current) is None:
                self.api.delete(self.namespace, self.name, (current.get('metadata') or {}).get('resourceVersion'))
            else:
                self.api.replace(self.namespace, self.name, self._body(current, held=False, record=record))
        except LeaseConflict:
            return False
        return True

    def describe(self):
        return {'name': self.name, 'namespace': self.namespace, 'holder': self.holder,
                'duration_seconds': self.duration, 'held': self.held, 'took_over_from': self.took_over}

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
        return False


class KubeLeaseApi:
    """The lease adaptor over a ``KubeTarget``'s raw JSON requests (dicts in and out)."""

    def __init__(self, target):
        self.target = target

    def _request(self, method, namespace, name=None, body=None, missing_ok=False):
        try:
            return self.target.request_json(method, namespaced_path(LEASES_API, namespace, 'leases', name), body=body,
                                            what='%s lease %s' % (VERBS[method], name or body['metadata']['name']),
                                            missing_ok=missing_ok)
        except FleetopsError as exc:
            if api_status(exc) == 409:
                raise LeaseConflict(str(exc))
            raise

    def get(self, namespace, name):
        return self._request('GET', namespace, name, missing_ok=True)

    def create(self, namespace, body):
        return self._request('POST', namespace, body=body)

    def replace(self, namespace, name, body):
        return self._request('PUT', namespace, name, body=body)

    def delete(self, namespace, name, resource_version=None):
        body = {'apiVersion': 'v1', 'kind': 'DeleteOptions'}
        if resource_version:
            body['preconditions'] = {'resourceVersion': resource_version}
        self._request('DELETE', namespace, name, body=body, missing_ok=True)
