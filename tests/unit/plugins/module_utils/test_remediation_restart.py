"""The restart flow (plugins/module_utils/remediation/restart.py) against a fake cluster, no AnsibleModule."""

from __future__ import annotations

import ast
import datetime
from pathlib import Path

import pytest
import yaml

from remediation_fake_cluster import CR, NS, POD, STS, FakeCluster, pod  # pylint: disable=import-error
from remediation_fake_cluster import RESTART_PARAMS as PARAMS  # pylint: disable=import-error

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import checks
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import lease as leases
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import workloads
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import exposition
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import remote_write as rw
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import restart
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal import reader as wal_reader

REPO_ROOT = Path(__file__).resolve().parents[4]


def go(cluster, check_mode=False, **params):
    args = dict(PARAMS, **params)
    logged = []
    result, failed = restart.run(args, cluster, check_mode=check_mode, log=logged.append, sleep=cluster.clock.sleep,
                                 clock=cluster.clock.time)
    assert logged == result['steps']
    return result, failed


def patched_statefulset(cluster):
    return [r for r in cluster.requests if r[0] == 'PATCH' and '/statefulsets/' in r[1]]


def utc(seconds_ago, cluster):
    when = datetime.datetime.fromtimestamp(cluster.clock.time() - seconds_ago, datetime.timezone.utc)
    return when.strftime('%Y-%m-%dT%H:%M:%SZ')


# ------------------------------------------------------------------------------------ graceful

def test_graceful_restart_of_a_healthy_agent():
    cluster = FakeCluster()
    result, failed = go(cluster)
    assert not failed, result['msg']
    assert result['changed'] is True and result['action'] == 'graceful' and result['refused'] is False
    assert result['before']['uid'] == 'uid-1' and result['after']['uid'] != 'uid-1' and result['after']['ready']
    ver = result['verification']
    assert ver['health']['ok'] and ver['targets']['ok'] and ver['targets']['up'] == 2 and ver['remote_write']['ok']
    assert ver['remote_write']['samples_delta'] > 0 and ver['remote_write']['bytes_delta'] > 0
    assert result['guard']['allowed'] and result['guard']['metrics_readable']
    # the lease is given back and keeps the record of the change (the cooldown of other runs)
    assert result['lease']['held'] is False and list(cluster.leases) == [leases.CLUSTER_LEASE]
    kept = cluster.leases[leases.CLUSTER_LEASE]
    assert 'holderIdentity' not in kept['spec']
    assert leases.change_record(kept)['action'] == 'graceful_restart' and leases.change_record(kept)['holder'] == 'unit@test/1'
    assert result['lease']['recorded']['change'] == 'rollout restart of StatefulSet %s/%s' % (NS, STS)
    method, _path, body, content_type = patched_statefulset(cluster)[0]
    assert content_type == workloads.STRATEGIC_MERGE_PATCH
    assert workloads.RESTARTED_AT in body['spec']['template']['metadata']['annotations']
    assert result['msg'].startswith('restarted %s (graceful)' % POD) and 'verified' in result['msg']
    assert [s for s in result['steps'] if s.startswith('took lease')] and result['steps'][-1].startswith('released lease')


def test_check_mode_changes_nothing():
    cluster = FakeCluster()
    result, failed = go(cluster, check_mode=True)
    assert not failed and result['changed'] is True and result['action'] == 'graceful'
    assert result['msg'].startswith('would graceful restart %s (StatefulSet %s)' % (POD, STS))
    assert cluster.pods[POD]['metadata']['uid'] == 'uid-1'
    assert not [r for r in cluster.requests if r[0] != 'GET'], cluster.requests
    assert result['lease']['held'] is False


def test_skip_if_healthy():
    cluster = FakeCluster()
    result, failed = go(cluster, skip_if_healthy=True, reason='unhealthy')
    assert not failed and result['changed'] is False and 'no restart needed' in result['msg']
    assert 'guard' not in result and not patched_statefulset(cluster)


def test_statefulset_from_the_pod_name_when_no_owner():
    cluster = FakeCluster()
    cluster.pods[POD]['metadata']['ownerReferences'] = []
    result, failed = go(cluster, check_mode=True)
    assert not failed and result['statefulset'] == STS


def hold_lease(cluster, holder):
    """The cluster's Lease held by ``holder`` from the cluster's now, for 3000 s."""
    now = utc(0, cluster)
    cluster.leases[leases.CLUSTER_LEASE] = {
        'metadata': {'name': leases.CLUSTER_LEASE, 'resourceVersion': '7'},
        'spec': {'holderIdentity': holder, 'leaseDurationSeconds': 3000, 'acquireTime': now, 'renewTime': now}}


def test_no_pod():
    cluster = FakeCluster()
    result, failed = go(cluster, pod='prom-agent-gone-0')
    assert failed and result['msg'].startswith('no agent pod found in namespace %s' % NS)


def test_no_pod_while_another_run_holds_the_lease_is_its_refusal():
    # the other run has deleted the pod and the StatefulSet has not made the new one yet
    cluster = FakeCluster()
    hold_lease(cluster, 'run-0')
    result, failed = go(cluster, pod='prom-agent-gone-0', lease_holder='run-1')
    assert failed and result['refused'] and 'run-0' in result['msg'], result['msg']
    assert cluster.leases[leases.CLUSTER_LEASE]['spec']['holderIdentity'] == 'run-0'
    # the Lease not held (expired, or its own): the missing pod is the answer
    cluster.leases[leases.CLUSTER_LEASE]['spec']['holderIdentity'] = 'run-1'
    result, failed = go(cluster, pod='prom-agent-gone-0', lease_holder='run-1')
    assert failed and not result.get('refused') and result['msg'].startswith('no agent pod found'), result['msg']


# ------------------------------------------------------------------------------------ the guardrail

def test_refused_while_the_receiver_is_down_and_nothing_changes():
    cluster = FakeCluster()
    cluster.receiver_down()
    cluster.clock.sleep(20)
    for check_mode in (True, False):
        result, failed = go(cluster, check_mode=check_mode, reason='unhealthy')
        assert failed and result['refused'] is True and result['changed'] is False
        text = ' '.join(result['refusal_reasons'])
        assert 'retried' in text and 'no bytes sent' in text, text
        assert result['msg'].startswith('Refused to restart %s' % POD) and 'prometheus#13539' in result['msg']
    assert cluster.pods[POD]['metadata']['uid'] == 'uid-1' and not patched_statefulset(cluster)
    assert cluster.leases == {}


def test_force_overrides_and_says_so():
    cluster = FakeCluster()
    cluster.receiver_down()
    cluster.clock.sleep(20)
    result, failed = go(cluster, force=True, verify=False)
    assert not failed and result['changed'] and result['guard']['overridden']
    assert any(s.startswith('force=true overrides') for s in result['steps'])


def test_guard_agrees_with_rw_lag_when_nothing_was_sent():
    """An agent that sent nothing since it started an hour ago: RW-LAG counts the lag from its start
    (critical), and the guard reads the same figure, so it refuses (one pipeline, one meaning)."""
    cluster = FakeCluster()
    cluster.nothing_sent = True
    result, failed = go(cluster)
    assert failed and result['refused']
    lag = result['guard']['queues'][0]['lag_seconds']
    reading = rw.read_queues(exposition.parse(cluster.metrics()), cluster.clock.time())
    rw_lag = [c for c in rw.rw_checks(rw.queue_figures(reading)[0]) if c['id'] == 'RW-LAG'][0]
    assert rw_lag['status'] == 'critical' and lag > checks.RESTART_LIMITS['max_lag_seconds']
    assert abs(rw_lag['value'] - lag) < 10
    assert any('lag' in r for r in result['refusal_reasons'])


def test_unreadable_metrics_refuse_without_receiver_urls():
    cluster = FakeCluster()
    cluster.metrics = lambda: b'this is not a metrics page {{{\n'
    result, failed = go(cluster)
    assert failed and result['refused'] and result['guard']['metrics_readable'] is False
    assert 'could not be read' in ' '.join(result['refusal_reasons'])


def test_unreadable_metrics_probe_the_receiver_urls():
    cluster = FakeCluster()
    cluster.metrics = lambda: b'not metrics {{{\n'
    result, failed = go(cluster, receiver_urls=['http://127.0.0.1:9/api/v1/write'], verify=False)
    assert failed and result['refused']
    probe = result['guard']['receiver_probe'][0]
    assert probe['url'] == 'http://127.0.0.1:9/api/v1/write' and probe['ok'] is False
    assert 'does not answer' in ' '.join(result['refusal_reasons'])


def test_the_lag_bound_defaults_to_rw_lag_critical_and_is_settable():
    cluster = FakeCluster()
    flow = restart.Restart(dict(PARAMS), cluster)
    assert flow.p['max_lag_seconds'] == checks.DEFAULT_THRESHOLDS['rw_lag_critical'] == checks.RESTART_LIMITS['max_lag_seconds']
    assert flow.p['cooldown_seconds'] == checks.RESTART_LIMITS['cooldown_seconds']
    assert flow.p['stuck_after_seconds'] == checks.RESTART_LIMITS['stuck_after_seconds']
    cluster.nothing_sent = True
    result, failed = go(cluster, check_mode=True)
    assert any('above the bound of 120s' in r for r in result['refusal_reasons']), result['refusal_reasons']
    result, failed = go(cluster, check_mode=True, max_lag_seconds=100000)
    assert failed and not any('above the bound' in r for r in result['refusal_reasons']), result['refusal_reasons']


@pytest.mark.parametrize('module,option,limit', [
    ('agent_restart', 'max_lag_seconds', 'max_lag_seconds'),
    ('agent_restart', 'cooldown_seconds', 'cooldown_seconds'),
    ('agent_restart', 'stuck_after_seconds', 'stuck_after_seconds'),
    ('agent_tune', 'max_lag_seconds', 'max_lag_seconds'),
    ('agent_tune', 'cooldown_seconds', 'cooldown_seconds'),
])
def test_module_docs_state_the_catalog_limits(module, option, limit):
    """The modules' documentation says the default of the catalog (the number is written once in code)."""
    src = (REPO_ROOT / 'plugins' / 'modules' / (module + '.py')).read_text()
    doc = [yaml.safe_load(node.value.value) for node in ast.parse(src).body
           if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', '') == 'DOCUMENTATION'][0]
    entry = doc['options'][option]
    assert 'default' not in entry
    assert '%g seconds' % checks.RESTART_LIMITS[limit] in ' '.join(entry['description'])


# ------------------------------------------------------------------------------------ the Lease, the cooldown

def test_a_lease_held_by_another_run_refuses():
    cluster = FakeCluster()
    hold_lease(cluster, 'someone-else')
    for check_mode in (True, False):
        result, failed = go(cluster, check_mode=check_mode)
        assert failed and result['refused'] and 'someone-else' in result['msg'], result['msg']
    assert cluster.pods[POD]['metadata']['uid'] == 'uid-1'
    assert cluster.leases[leases.CLUSTER_LEASE]['spec']['holderIdentity'] == 'someone-else'


def test_lease_off():
    cluster = FakeCluster()
    result, failed = go(cluster, lease=False, verify=False)
    assert not failed and 'lease' not in result and not [r for r in cluster.requests if '/leases' in r[1]]


def test_cooldown_after_a_recent_rollout_restart():
    cluster = FakeCluster()
    cluster.statefulsets[STS]['spec']['template']['metadata']['annotations'] = {workloads.RESTARTED_AT: utc(60, cluster)}
    result, failed = go(cluster)
    assert not failed and result['changed'] is False
    assert result['msg'].startswith('not restarting %s: the StatefulSet was restarted 6' % POD)
    assert 'cooldown_seconds=%d' % checks.RESTART_LIMITS['cooldown_seconds'] in result['msg']
    assert not patched_statefulset(cluster) and cluster.leases == {} and result['lease']['held'] is False
    result, failed = go(cluster, cooldown_seconds=0, verify=False)
    assert not failed and result['changed'] is True


# ------------------------------------------------------------------------------------ forced

def test_forced_restart_of_a_pod_stuck_terminating():
    cluster = FakeCluster()
    cluster.pods[POD] = pod(deletion=utc(300, cluster))
    result, failed = go(cluster, mode='forced', reason='stuck_terminating')
    assert not failed, result['msg']
    assert result['action'] == 'forced' and result['after']['uid'] != 'uid-1'
    deletes = [r for r in cluster.requests if r[0] == 'DELETE' and '/pods/' in r[1]]
    assert deletes and deletes[0][2]['gracePeriodSeconds'] == 0
    assert not patched_statefulset(cluster)


def test_forced_within_the_grace_period_is_refused():
    cluster = FakeCluster()
    cluster.pods[POD] = pod(deletion=utc(-10, cluster))
    result, failed = go(cluster, mode='forced')
    assert failed and result['refused'] and 'within its grace period' in result['refusal_reasons'][0]


def test_forced_on_a_running_pod_tries_graceful_first():
    cluster = FakeCluster()
    result, failed = go(cluster, mode='forced', verify=False)
    assert not failed and result['action'] == 'graceful'
    assert any('trying a graceful restart first' in s for s in result['steps'])


def test_graceful_on_a_stuck_pod_is_refused():
    cluster = FakeCluster()
    cluster.pods[POD] = pod(deletion=utc(300, cluster))
    result, failed = go(cluster)
    assert failed and result['refused'] and 'use mode=forced' in result['refusal_reasons'][0]


def test_a_graceful_restart_that_brings_no_ready_pod_fails():
    cluster = FakeCluster()
    cluster.crashing = True
    result, failed = go(cluster, wait_timeout=30)
    assert failed and not result['refused'] and result['changed'] is True
    assert result['msg'].startswith('graceful restart of %s did not bring a Ready pod within 30s' % POD)
    # the StatefulSet was rolled: a change, recorded on the lease given back
    assert result['after']['ready'] is False and result['lease']['held'] is False
    assert leases.change_record(cluster.leases[leases.CLUSTER_LEASE])['action'] == 'graceful_restart'


def test_forced_fallback_after_a_failed_graceful_restart():
    cluster = FakeCluster()
    cluster.crashing = True
    result, failed = go(cluster, wait_timeout=30, forced_fallback=True)
    assert failed and result['action'] == 'forced'
    assert result['msg'] == 'forced restart of %s: no Ready pod within 30s' % POD


# ------------------------------------------------------------------------------------ errors of the API

def test_an_api_error_is_the_mapped_message():
    cluster = FakeCluster()
    cluster.forbidden.add(('PATCH', 'statefulsets'))
    result, failed = go(cluster)
    assert failed and 'forbidden' in result['msg'] and 'exception' not in result
    assert result['lease']['held'] is False and cluster.leases == {}


def test_an_unexpected_exception_is_reported_with_its_traceback():
    cluster = FakeCluster()

    def broken(*_args, **_kwargs):
        raise KeyError('surprise')
    cluster.http_get = broken
    result, failed = go(cluster)
    assert failed and result['msg'].startswith('KeyError') and 'Traceback' in result['exception']


# ------------------------------------------------------------------------------------ WAL corruption

REPAIR_LOG = "\n".join([
    'ts=2026-11-24T08:00:01.000Z caller=head.go:600 level=warn msg="Encountered WAL read error, attempting repair" '
    'err="corruption in segment 1 at 65536: unexpected checksum"',
    'ts=2026-11-24T08:00:02.000Z caller=wlog.go:415 level=warn msg="Starting corruption repair" segment=1 offset=65536',
    'ts=2026-11-24T08:00:02.500Z caller=main.go:1000 level=info msg="Server is ready to receive web requests."',
    'ts=2026-11-24T08:00:03.000Z caller=db.go:410 level=info msg="successfully repaired WAL"',
])
FAILED_LOG = 'ts=2026-11-24T08:00:03.000Z caller=main.go:1100 level=error err="opening storage failed: repair corrupted WAL: boom"'


class Report:
    def __init__(self, corruptions, error=None):
        self._corruptions = corruptions
        self.error = error

    def corruptions(self):
        return self._corruptions


@pytest.fixture
def wal_tail(monkeypatch):
    """What the WAL's tail holds after the restart (wal_reader.read_pod stands in for the exec)."""
    state = {'corruptions': [], 'params': None}

    def read_pod(params, target=None):
        state['params'] = params
        return None, Report(state['corruptions']), None, {}
    monkeypatch.setattr(wal_reader, 'read_pod', read_pod)
    return state


def test_wal_repair_verified(wal_tail):
    cluster = FakeCluster()
    cluster.log_text = REPAIR_LOG
    result, failed = go(cluster, reason='wal_corruption', verify=False)
    assert not failed, result['msg']
    wal = result['wal']
    assert wal['repaired'] is True and wal['corruptions_after'] == [] and wal['deleted'] == [] and wal['data_loss'] is False
    assert len(wal['log_lines']) == 3 and 'Starting corruption repair' in wal['log_lines'][1]
    assert 'Server is ready' not in ' '.join(wal['log_lines'])
    assert wal_tail['params'] == {'path': '/prometheus/wal', 'verify': 'tail', 'agent_running': True}
    assert result['msg'].startswith('restarted %s (graceful)' % POD) and 'WAL repaired' in result['msg']


def test_wal_still_corrupted_fails_and_deletes_nothing(wal_tail):
    cluster = FakeCluster()
    cluster.log_text = REPAIR_LOG
    wal_tail['corruptions'] = [{'segment': 1, 'offset': 65536}]
    result, failed = go(cluster, reason='wal_corruption', verify=False)
    assert failed and 'still corrupted after the restart (1@65536)' in result['msg'] and 'allow_data_loss=true' in result['msg']
    assert result['wal']['repaired'] is False and result['wal']['deleted'] == []
    result, failed = go(cluster, reason='wal_corruption', verify=False, allow_data_loss=True, cooldown_seconds=0)
    assert failed and 'not automated' in result['msg'] and result['wal_delete_automated'] is False
    assert result['wal']['deleted'] == [] and result['wal']['data_loss'] is False


def test_wal_repair_given_up_on(wal_tail, monkeypatch):
    cluster = FakeCluster()
    cluster.log_text = REPAIR_LOG + "\n" + FAILED_LOG
    wal_tail['corruptions'] = None

    def unknown(params, target=None):
        raise wal_reader.Unknown('cannot reach the agent pod')
    monkeypatch.setattr(wal_reader, 'read_pod', unknown)
    result, failed = go(cluster, reason='wal_corruption', verify=False)
    assert failed and result['wal']['repaired'] is False and result['wal']['wal_check_error']
    assert any('repair FAILED' in s for s in result['steps'])


def test_wal_log_lines_and_outcome_use_the_log_pattern_table():
    lines = restart.wal_log_lines(REPAIR_LOG + "\n" + FAILED_LOG)
    assert len(lines) == 4
    assert restart.repair_outcome(lines[:3]) == (True, False)
    assert restart.repair_outcome(lines) == (False, True)
    assert restart.repair_outcome([]) == (False, False)


# ------------------------------------------------------------------------------------ the receiver

def receiver_pods(cluster, ready=(True, True, True)):
    for index, is_ready in enumerate(ready):
        name = 'thanos-receive-%d' % index
        cluster.pods[name] = pod(name, uid='rx-%d' % index, ready=is_ready, labels={'app.kubernetes.io/name': 'thanos-receive'},
                                 sts='thanos-receive')


def test_receiver_replicas_one_at_a_time():
    cluster = FakeCluster()
    receiver_pods(cluster, (True, False, True))
    result, failed = go(cluster, target='receiver')
    assert not failed, result['msg']
    assert result['action'] == 'receiver_restart' and result['changed'] is True
    assert [r['name'] for r in result['replicas']] == ['thanos-receive-1'] and result['replicas'][0]['after']['ready']
    deletes = [r for r in cluster.requests if r[0] == 'DELETE' and '/pods/' in r[1]]
    assert len(deletes) == 1 and deletes[0][2]['gracePeriodSeconds'] == 30
    assert result['msg'] == '1 receiver replica(s) restarted one at a time: thanos-receive-1'


def test_receiver_refused_while_others_are_not_ready():
    cluster = FakeCluster()
    receiver_pods(cluster, (False, False, True))
    result, failed = go(cluster, target='receiver')
    assert failed and result['refused'] and 'other receiver replicas are not Ready (thanos-receive-1)' in result['msg']


def test_receiver_all_ready_and_check_mode():
    cluster = FakeCluster()
    receiver_pods(cluster)
    result, failed = go(cluster, target='receiver')
    assert not failed and result['changed'] is False and 'nothing to restart' in result['msg']
    receiver_pods(cluster, (True, True, False))
    result, failed = go(cluster, target='receiver', check_mode=True)
    assert not failed and result['changed'] is True and result['msg'].startswith('1 receiver replica(s) would be restarted')
    assert not [r for r in cluster.requests if r[0] == 'DELETE']


def test_the_operator_resource_gives_the_receiver_urls():
    cluster = FakeCluster()
    kind, name, found = workloads.find_agent_resource(cluster, NS, pod=cluster.pods[POD])
    assert (kind, name) == ('PrometheusAgent', CR) and workloads.remote_write_urls(found) == [
        'http://receiver.invalid/api/v1/write']


# ------------------------------------------------------------------------------------ one pod of several

def deleted_pods(cluster):
    return [(r[1].rsplit('/', 1)[1], r[2]) for r in cluster.requests if r[0] == 'DELETE' and '/pods/' in r[1]]


def test_one_pod_of_a_statefulset_of_two_is_deleted_with_its_grace_the_other_left_alone():
    cluster = FakeCluster()
    cluster.replicas(STS + '-0', STS + '-1', grace=600)
    result, failed = go(cluster, pod=STS + '-1')
    assert not failed, result['msg']
    assert result['controller'] == {'kind': 'StatefulSet', 'name': STS, 'pods': 2, 'restart': 'pod deletion'}
    assert result['statefulset'] == STS and result['action'] == 'graceful'
    assert not patched_statefulset(cluster), 'a rollout restart would replace both replicas'
    options = {'apiVersion': 'v1', 'kind': 'DeleteOptions', 'gracePeriodSeconds': 600, 'preconditions': {'uid': 'uid-%s-1' % STS}}
    assert deleted_pods(cluster) == [(STS + '-1', options)]
    assert cluster.pods[STS + '-0']['metadata']['uid'] == 'uid-%s-0' % STS
    assert result['after']['name'] == STS + '-1' and result['after']['uid'] not in (None, 'uid-%s-1' % STS)
    assert result['verification']['health']['ok']
    assert result['lease']['recorded']['change'] == 'pod %s/%s-1 deleted (grace 600s)' % (NS, STS)
    assert result['msg'].startswith('restarted %s-1 (graceful), Ready after' % STS)


def test_check_mode_of_one_pod_of_several_says_this_pod_alone():
    cluster = FakeCluster()
    cluster.replicas(STS + '-0', STS + '-1')
    result, failed = go(cluster, check_mode=True, pod=STS + '-0')
    assert not failed and result['msg'] == 'would graceful restart %s-0 (StatefulSet %s, this pod alone)' % (STS, STS)
    assert not [r for r in cluster.requests if r[0] != 'GET']


def test_single_replica_statefulset_keeps_the_rollout_restart():
    cluster = FakeCluster()
    result, failed = go(cluster, verify=False)
    assert not failed and result['controller'] == {'kind': 'StatefulSet', 'name': STS, 'pods': 1, 'restart': 'rollout restart'}
    assert patched_statefulset(cluster) and not deleted_pods(cluster)


def test_an_unreadable_statefulset_restarts_the_pod_alone():
    cluster = FakeCluster()
    cluster.forbidden.add(('GET', 'statefulsets'))
    result, failed = go(cluster, verify=False)
    assert not failed, result['msg']
    assert result['controller']['restart'] == 'pod deletion' and result['controller']['pods'] is None
    assert not patched_statefulset(cluster) and [name for name, _body in deleted_pods(cluster)] == [POD]
    assert any(s.startswith('cannot read StatefulSet %s' % STS) for s in result['steps'])


def test_without_pod_the_least_healthy_pod_of_the_selector_is_restarted():
    cluster = FakeCluster()
    cluster.replicas(STS + '-0', STS + '-1', STS + '-2')
    cluster.pods[STS + '-2']['status']['conditions'][0]['status'] = 'False'
    result, failed = go(cluster, pod=None, label_selector='app.kubernetes.io/name=prometheus-agent', verify=False, force=True)
    assert not failed, result['msg']
    assert result['before']['name'] == STS + '-2' and [name for name, _body in deleted_pods(cluster)] == [STS + '-2']
    assert [cluster.pods[STS + '-%d' % i]['metadata']['uid'] for i in (0, 1)] == ['uid-%s-0' % STS, 'uid-%s-1' % STS]
    assert any(s.startswith('the selector matches 3 pods: restarting %s-2, the least healthy' % STS) for s in result['steps'])


def test_a_daemonset_pod_is_deleted_and_its_replacement_on_the_same_node_awaited():
    cluster = FakeCluster()
    names = cluster.daemonset_pods('node-a', 'node-b', 'node-c')
    victim = names[1]
    result, failed = go(cluster, pod=victim)
    assert not failed, result['msg']
    assert result['controller'] == {'kind': 'DaemonSet', 'name': STS, 'pods': 3, 'restart': 'pod deletion'}
    assert 'statefulset' not in result
    assert [name for name, _body in deleted_pods(cluster)] == [victim] and victim not in cluster.pods
    new = result['after']['name']
    assert new not in names and cluster.pods[new]['spec']['nodeName'] == 'node-b' and result['after']['ready']
    assert {n: cluster.pods[n]['metadata']['uid'] for n in (names[0], names[2])} == {n: 'uid-' + n for n in (names[0], names[2])}
    assert result['msg'].startswith('restarted %s (graceful) as %s, Ready after' % (victim, new))
    assert cluster.pod_name == new, 'the verification reads the new pod'
    assert result['verification']['health']['ok'] and result['verification']['remote_write']['ok']


def test_a_daemonset_pod_whose_replacement_never_gets_ready_fails_naming_it():
    cluster = FakeCluster()
    victim = cluster.daemonset_pods('node-a', 'node-b')[0]
    cluster.crashing = True
    result, failed = go(cluster, pod=victim, wait_timeout=20)
    assert failed and result['msg'].startswith('graceful restart of %s did not bring a Ready pod within 20s' % victim)
    assert result['after']['name'] != victim and result['after']['ready'] is False


def test_forced_fallback_on_a_daemonset_deletes_the_replacement_not_a_neighbour():
    cluster = FakeCluster()
    names = cluster.daemonset_pods('node-a', 'node-b')
    cluster.crashing = True
    result, failed = go(cluster, pod=names[0], wait_timeout=20, forced_fallback=True)
    assert failed and result['action'] == 'forced' and result['msg'].startswith('forced restart of %s' % names[0])
    deleted = [name for name, _body in deleted_pods(cluster)]
    assert deleted[0] == names[0] and len(deleted) == 2 and deleted[1] not in names
    assert cluster.pods[names[1]]['metadata']['uid'] == 'uid-' + names[1]


class ReplacedWhileWaiting(FakeCluster):
    """Another run restarts ``victim`` while this one takes the Lease (its POST of the Lease)."""

    victim = None

    def request_json(self, method, path, body=None, query=None, what=None, missing_ok=False, content_type=None):
        if method == 'POST' and '/leases' in path and self.victim in self.pods:
            self.new_pod(self.victim, self.pods[self.victim])
        return super().request_json(method, path, body=body, query=query, what=what, missing_ok=missing_ok,
                                    content_type=content_type)


@pytest.mark.parametrize('daemonset', [False, True])
def test_a_pod_another_run_restarted_meanwhile_is_left_alone(daemonset):
    cluster = ReplacedWhileWaiting()
    if daemonset:
        cluster.victim = cluster.daemonset_pods('node-a', 'node-b')[0]
    else:
        cluster.replicas(STS + '-0', STS + '-1')
        cluster.victim = STS + '-0'
    result, failed = go(cluster, pod=cluster.victim)
    assert not failed and result['changed'] is False, result
    assert result['msg'] == 'not restarting %s: the pod was %s while this run waited (another run restarted it)' % (
        cluster.victim, 'deleted' if daemonset else 'replaced')
    assert not deleted_pods(cluster) and not patched_statefulset(cluster)
