# -*- coding: utf-8 -*-
# Copyright: fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every change remediation makes to a cluster, under the cluster's one Lease and its cooldown.

``with change_lease(target, namespace, action, params) as change:`` on entry takes the Lease
``fleetops-remediation`` in the agent's namespace (waiting up to ``lease_wait`` seconds while
another run holds it, then ``LeaseHeld``) and reads the record of the last change kept on it
(``kube/lease.change_record``): a change by another holder less than ``cooldown_seconds`` ago
raises ``PlannedNothing``, this run changes nothing and says what was changed, when, and until
when the cooldown lasts. Inside, the writes are the Change's own methods (``rollout_restart``,
``delete_pod``, ``patch_resource``): each refuses unless the lease is held (``NotHeld``) and each
is recorded. On exit the lease is given back with the record of what this run changed.

In check mode the lease is only read: held by another run refuses, a recent change plans
nothing, and every write raises ``NotHeld``. ``lease=False`` (an option of ``agent_restart``)
turns the coordination off: no Lease, no record, no cooldown from it.

The restart flow (agent restart, WAL recovery, receiver restart) and the tune flow change a
cluster through nothing else; a unit test keeps it so. Pure domain code: no Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import time

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import units
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.checks import RESTART_LIMITS
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import lease as leases
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import workloads

LEASE_DURATION_SECONDS = 900
LEASE_POLL_SECONDS = 2.0


class NotHeld(FleetopsError):
    """A write to the cluster without the remediation lease held (in check mode, or not taken)."""


class PlannedNothing(FleetopsError):
    """Another run changed this cluster within the cooldown: this run changes nothing (not a failure)."""

    def __init__(self, record, until):
        self.record = record
        self.until = until
        super(PlannedNothing, self).__init__('planned nothing: %s at %s, cooldown until %s' % (
            describe_record(record), units.rfc3339(record['at'], digits=0), units.rfc3339(until, digits=0)))

    def facts(self):
        """What a module returns as ``cooldown``."""
        return {'last_action': self.record.get('action'), 'last_change': self.record.get('change'),
                'last_holder': self.record.get('holder'), 'changed_at': units.rfc3339(self.record['at'], digits=0),
                'until': units.rfc3339(self.until, digits=0)}


def describe_record(record):
    """``tune (resources.limits.memory 512Mi -> 640Mi) by <holder>``: a change record in words."""
    text = record.get('action') or 'a change'
    if record.get('change'):
        text += ' (%s)' % record['change']
    if record.get('holder'):
        text += ' by %s' % record['holder']
    return text


def check_recent_change(target, namespace, params, clock=time.time):
    """For a run with nothing to change: PlannedNothing when another run changed the cluster within the
    cooldown (it says so rather than only "already as wanted"). Reads the Lease only; who holds it does not matter."""
    change = Change(target, namespace, None, params, check_mode=True, clock=clock)
    if change.lease is not None:
        change.check_cooldown(leases.change_record(change.lease.api.get(namespace, change.lease.name)))


@contextlib.contextmanager
def change_lease(target, namespace, action, params, check_mode=False, honour_cooldown=True, result=None,
                 clock=time.time, sleep=time.sleep, log=None):
    """The one way to change a cluster: a ``Change`` under the cluster's Lease (see the module doc).

    ``params``: ``lease`` (default true), ``lease_holder``, ``lease_duration``, ``lease_wait`` and
    ``cooldown_seconds`` (default the catalog's). ``honour_cooldown=False`` only for a change that
    cannot wait (a pod stuck Terminating). ``result`` gets ``lease`` (what was held, recorded)."""
    change = Change(target, namespace, action, params, check_mode=check_mode, clock=clock, sleep=sleep, log=log)
    try:
        change.begin(honour_cooldown)
        yield change
    finally:
        change.end()
        if result is not None and change.lease is not None:
            result['lease'] = change.describe()


class Change:
    """The changes of one run to one cluster, made and recorded under its Lease."""

    def __init__(self, target, namespace, action, params, check_mode=False, clock=time.time, sleep=time.sleep, log=None):
        self.target = target
        self.namespace = namespace
        self.action = action
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep
        self.log = log or (lambda text: None)
        cooldown = params.get('cooldown_seconds')
        self.cooldown_seconds = RESTART_LIMITS['cooldown_seconds'] if cooldown is None else cooldown
        self.wait_seconds = params.get('lease_wait') or 0
        self.done = []
        self.recorded = None
        self.lease = None
        if params.get('lease', True):
            self.lease = leases.Lease(leases.KubeLeaseApi(target), namespace, leases.CLUSTER_LEASE,
                                      holder=params.get('lease_holder'),
                                      duration=params.get('lease_duration') or LEASE_DURATION_SECONDS,
                                      action=action, now=self.now)

    def now(self):
        return units.as_datetime(self.clock())

    # ------------------------------------------------------------------ the lease and the cooldown

    def begin(self, honour_cooldown=True):
        """Take the lease (check mode: read it), then the cooldown; raises LeaseHeld or PlannedNothing."""
        if self.lease is None:
            return
        if self.check_mode:
            current = self.lease.api.get(self.namespace, self.lease.name)
            held = leases.held_by_another(current, self.lease.holder, self.now())
            if held is not None:
                raise held
            record = leases.change_record(current)
        else:
            self.take()
            record = self.lease.record
        if honour_cooldown:
            self.check_cooldown(record)

    def take(self):
        """Acquire the lease, waiting up to ``lease_wait`` seconds while another run holds it."""
        start = self.clock()
        waited = False
        while True:
            try:
                self.lease.acquire()
            except leases.LeaseHeld as exc:
                left = self.wait_seconds - (self.clock() - start)
                if left <= 0:
                    raise
                if not waited:
                    self.log('waiting up to %ds for the lease held by %s' % (self.wait_seconds, exc.holder))
                    waited = True
                self.sleep(min(LEASE_POLL_SECONDS, left))
                continue
            self.log('took lease %s/%s%s' % (self.namespace, self.lease.name,
                                             ' after %.0fs' % (self.clock() - start) if waited else ''))
            return

    def check_cooldown(self, record):
        """PlannedNothing when another holder changed the cluster less than ``cooldown_seconds`` ago."""
        if record is None or not self.cooldown_seconds or record.get('holder') == self.lease.holder:
            return
        until = record['at'] + self.cooldown_seconds
        if self.clock() < until:
            raise PlannedNothing(record, until)

    def end(self):
        """Give the lease back, with the record of this run's changes (if it made any)."""
        if self.lease is None or not self.lease.held:
            return
        record = None
        if self.done:
            record = {'action': self.action, 'change': '; '.join(self.done), 'at': self.clock(), 'holder': self.lease.holder}
        try:
            self.lease.release(record)
        except (FleetopsError, leases.LeaseConflict) as exc:
            self.log('could not release lease %s: %s (it expires by itself)' % (self.lease.name, exc))
            return
        self.recorded = record
        self.log('released lease %s%s' % (self.lease.name, ', recorded: %s' % record['change'] if record else ''))

    def describe(self):
        found = self.lease.describe()
        if self.recorded:
            found['recorded'] = dict(self.recorded, at=units.rfc3339(self.recorded['at'], digits=0))
        return found

    # ------------------------------------------------------------------ the writes

    def _writing(self):
        if self.check_mode or (self.lease is not None and not self.lease.held):
            raise NotHeld('a change to the cluster without the remediation lease held%s' % (' (check mode)' if self.check_mode else ''))

    def rollout_restart(self, namespace, statefulset, when=None):
        """``workloads.rollout_restart``, recorded. Returns the stamp."""
        self._writing()
        stamp = workloads.rollout_restart(self.target, namespace, statefulset, when=when)
        self.done.append('rollout restart of StatefulSet %s/%s' % (namespace, statefulset))
        return stamp

    def delete_pod(self, namespace, name, grace_seconds=0, uid=None):
        """``workloads.delete_pod`` (with ``uid``, only that pod), recorded."""
        self._writing()
        workloads.delete_pod(self.target, namespace, name, grace_seconds, uid=uid)
        self.done.append('pod %s/%s deleted (grace %ds)' % (namespace, name, int(grace_seconds)))

    def patch_resource(self, kind, namespace, name, patch, what):
        """``workloads.patch_resource``, recorded as ``what`` (the changes in words). Returns the stored object."""
        self._writing()
        stored = workloads.patch_resource(self.target, kind, namespace, name, patch)
        self.done.append('%s %s/%s: %s' % (kind, namespace, name, what))
        return stored
