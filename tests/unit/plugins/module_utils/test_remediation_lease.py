"""Unit tests of the remediation lease (plugins/module_utils/kube/lease.py) over an in-memory API, and its adaptor over a KubeTarget's raw requests."""

from __future__ import annotations

import copy
import datetime
import threading

import pytest

from remediation_fake_cluster import FakeCluster  # pylint: disable=import-error

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import TargetAuthError
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import lease as lease_mod

UTC = datetime.timezone.utc


class FakeApi:
    """Lease objects with resourceVersions and 409s, like the API server."""

    def __init__(self):
        self.objects = {}
        self.rv = 100
        self.lock = threading.Lock()

    def get(self, namespace, name):
        obj = self.objects.get((namespace, name))
        return copy.deepcopy(obj) if obj else None

    def create(self, namespace, body):
        with self.lock:
            key = (namespace, body['metadata']['name'])
            if key in self.objects:
                raise lease_mod.LeaseConflict('exists')
            self.rv += 1
            body = copy.deepcopy(body)
            body['metadata']['resourceVersion'] = str(self.rv)
            self.objects[key] = body
            return body

    def replace(self, namespace, name, body):
        with self.lock:
            cur = self.objects.get((namespace, name))
            if cur is None or cur['metadata']['resourceVersion'] != body['metadata'].get('resourceVersion'):
                raise lease_mod.LeaseConflict('modified')
            self.rv += 1
            body = copy.deepcopy(body)
            body['metadata']['resourceVersion'] = str(self.rv)
            self.objects[(namespace, name)] = body
            return body

    def delete(self, namespace, name, resource_version=None):
        with self.lock:
            cur = self.objects.get((namespace, name))
            if cur and resource_version and cur['metadata']['resourceVersion'] != resource_version:
                raise lease_mod.LeaseConflict('modified')
            self.objects.pop((namespace, name), None)


class Clock:
    def __init__(self):
        self.t = datetime.datetime(2026, 11, 24, 8, 0, tzinfo=UTC)

    def __call__(self):
        return self.t


def test_acquire_and_release():
    api = FakeApi()
    lease = lease_mod.Lease(api, 'monitoring', 'fleetops-remediation-x', holder='a', duration=60)
    info = lease.acquire()
    assert info['held'] and info['holder'] == 'a'
    stored = api.get('monitoring', 'fleetops-remediation-x')
    assert stored['spec']['holderIdentity'] == 'a' and stored['spec']['leaseDurationSeconds'] == 60
    assert stored['metadata']['labels']['app.kubernetes.io/managed-by'] == 'fleetops.prometheus_agent'
    assert lease.release() is True
    assert api.get('monitoring', 'fleetops-remediation-x') is None


def test_second_run_is_refused_while_held():
    api, clock = FakeApi(), Clock()
    first = lease_mod.Lease(api, 'm', 'l', holder='a', duration=600, action='graceful_restart', now=clock)
    first.acquire()
    second = lease_mod.Lease(api, 'm', 'l', holder='b', duration=600, now=clock)
    with pytest.raises(lease_mod.LeaseHeld) as err:
        second.acquire()
    assert err.value.holder == 'a' and err.value.action == 'graceful_restart'
    assert 'graceful_restart' in str(err.value)
    assert second.release() is False  # never held: nothing deleted
    assert api.get('m', 'l')['spec']['holderIdentity'] == 'a'


def test_expired_lease_is_taken_over():
    api, clock = FakeApi(), Clock()
    lease_mod.Lease(api, 'm', 'l', holder='dead-run', duration=60, now=clock).acquire()
    clock.t += datetime.timedelta(seconds=61)
    taker = lease_mod.Lease(api, 'm', 'l', holder='b', duration=60, now=clock)
    info = taker.acquire()
    assert info['took_over_from'] == 'dead-run'
    assert api.get('m', 'l')['spec']['leaseTransitions'] == 1


def test_released_by_other_holder_is_not_deleted():
    api, clock = FakeApi(), Clock()
    mine = lease_mod.Lease(api, 'm', 'l', holder='a', duration=10, now=clock)
    mine.acquire()
    clock.t += datetime.timedelta(seconds=11)
    lease_mod.Lease(api, 'm', 'l', holder='b', duration=10, now=clock).acquire()
    assert mine.release() is False
    assert api.get('m', 'l')['spec']['holderIdentity'] == 'b'


def test_race_exactly_one_wins():
    api = FakeApi()
    winners, losers = [], []
    barrier = threading.Barrier(8)

    def run(i):
        barrier.wait()
        try:
            lease_mod.Lease(api, 'm', 'l', holder='run-%d' % i, duration=600).acquire()
            winners.append(i)
        except lease_mod.LeaseHeld:
            losers.append(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1 and len(losers) == 7


def test_race_on_takeover_one_wins():
    api, clock = FakeApi(), Clock()
    lease_mod.Lease(api, 'm', 'l', holder='dead', duration=1, now=clock).acquire()
    clock.t += datetime.timedelta(seconds=5)
    stale = api.get('m', 'l')

    a = lease_mod.Lease(api, 'm', 'l', holder='a', duration=60, now=clock)
    a.acquire()
    # b read the stale (expired) object before a replaced it: its replace must conflict
    b = lease_mod.Lease(api, 'm', 'l', holder='b', duration=60, now=clock)
    b_api_get = api.get
    api.get = lambda ns, name: copy.deepcopy(stale) if not b.held else b_api_get(ns, name)
    with pytest.raises(lease_mod.LeaseHeld):
        b.acquire()


def test_context_manager_releases():
    api = FakeApi()
    with lease_mod.Lease(api, 'm', 'l', holder='a'):
        assert api.get('m', 'l')
    assert api.get('m', 'l') is None


def test_the_cluster_lease_name_is_dns_safe():
    name = lease_mod.CLUSTER_LEASE
    assert len(name) <= 63 and name == name.lower() and name.startswith('fleetops-remediation')


# ---------------------------------------------------------------- the change record kept on the lease

RECORD = {'action': 'tune', 'change': 'resources.limits.memory 512Mi -> 640Mi', 'at': 1795503000.0, 'holder': 'a'}


def test_release_with_a_record_keeps_the_lease_without_holder():
    api, clock = FakeApi(), Clock()
    lease = lease_mod.Lease(api, 'm', 'l', holder='a', duration=60, action='tune', now=clock)
    lease.acquire()
    assert lease.record is None
    assert lease.release(RECORD) is True
    kept = api.get('m', 'l')
    assert 'holderIdentity' not in kept['spec'] and lease_mod.expires_at(kept) is None
    assert lease_mod.change_record(kept) == RECORD
    notes = kept['metadata']['annotations']
    assert notes['fleetops.io/last-change-at'] == '2026-11-24T06:50:00Z' and 'fleetops.io/action' not in notes


def test_the_next_holder_reads_the_record_and_keeps_it():
    api, clock = FakeApi(), Clock()
    first = lease_mod.Lease(api, 'm', 'l', holder='a', duration=60, now=clock)
    first.acquire()
    first.release(RECORD)
    second = lease_mod.Lease(api, 'm', 'l', holder='b', duration=60, action='graceful_restart', now=clock)
    second.acquire()
    assert second.record == RECORD and second.took_over is None
    held = api.get('m', 'l')
    assert held['spec']['holderIdentity'] == 'b' and held['metadata']['annotations']['fleetops.io/action'] == 'graceful_restart'
    assert second.release() is True     # nothing new changed: the old record stays
    assert lease_mod.change_record(api.get('m', 'l')) == RECORD


def test_release_without_any_record_deletes():
    api = FakeApi()
    lease = lease_mod.Lease(api, 'm', 'l', holder='a')
    lease.acquire()
    assert lease.release() is True and api.get('m', 'l') is None


def test_a_long_change_is_cut_and_a_bad_time_is_no_record():
    notes = lease_mod.record_annotations(dict(RECORD, change='x' * 5000))
    assert len(notes['fleetops.io/last-change']) == lease_mod.RECORD_CHANGE_CHARS
    assert lease_mod.change_record({'metadata': {'annotations': {'fleetops.io/last-change-at': 'yesterday'}}}) is None
    assert lease_mod.change_record(None) is None


def test_held_by_another():
    clock = Clock()
    lease = {'spec': {'holderIdentity': 'a', 'renewTime': '2026-11-24T08:00:00.000000Z', 'leaseDurationSeconds': 30}}
    assert lease_mod.held_by_another(lease, 'b', clock()).holder == 'a'
    assert lease_mod.held_by_another(lease, 'a', clock()) is None
    assert lease_mod.held_by_another(lease, 'b', clock() + datetime.timedelta(seconds=31)) is None
    assert lease_mod.held_by_another(None, 'b', clock()) is None


def test_expires_at():
    lease = {'spec': {'holderIdentity': 'a', 'renewTime': '2026-11-24T08:00:00.000000Z', 'leaseDurationSeconds': 30}}
    assert lease_mod.expires_at(lease) == datetime.datetime(2026, 11, 24, 8, 0, 30, tzinfo=UTC)
    assert lease_mod.expires_at({'spec': {}}) is None


# ---------------------------------------------------------------- the adaptor over a KubeTarget's raw requests

def test_kube_lease_api_over_raw_requests():
    cluster = FakeCluster()
    api = lease_mod.KubeLeaseApi(cluster)
    lease = lease_mod.Lease(api, 'monitoring', 'fleetops-remediation-x', holder='a', duration=60)
    assert api.get('monitoring', 'fleetops-remediation-x') is None
    lease.acquire()
    assert cluster.requests[-1][:2] == ('POST', '/apis/coordination.k8s.io/v1/namespaces/monitoring/leases')
    with pytest.raises(lease_mod.LeaseHeld):
        lease_mod.Lease(api, 'monitoring', 'fleetops-remediation-x', holder='b', duration=60).acquire()
    with pytest.raises(lease_mod.LeaseConflict):
        api.create('monitoring', {'metadata': {'name': 'fleetops-remediation-x'}})
    with pytest.raises(lease_mod.LeaseConflict):
        api.replace('monitoring', 'fleetops-remediation-x', {'metadata': {'name': 'fleetops-remediation-x', 'resourceVersion': '1'}})
    with pytest.raises(lease_mod.LeaseConflict):
        api.delete('monitoring', 'fleetops-remediation-x', resource_version='1')
    assert lease.release() is True
    method, path, body, _ctype = cluster.requests[-1]
    assert method == 'DELETE' and path.endswith('/leases/fleetops-remediation-x') and body['preconditions']['resourceVersion']
    api.delete('monitoring', 'fleetops-remediation-x')   # gone already: fine
    assert cluster.leases == {}


def test_kube_lease_api_other_errors_pass_through():
    cluster = FakeCluster()
    cluster.forbidden.add(('POST', 'leases'))
    with pytest.raises(TargetAuthError):
        lease_mod.Lease(lease_mod.KubeLeaseApi(cluster), 'monitoring', 'l', holder='a').acquire()
