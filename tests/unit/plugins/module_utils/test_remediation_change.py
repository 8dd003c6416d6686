"""The one way remediation changes a cluster (plugins/module_utils/remediation/change.py): the cluster's
Lease, the cooldown record kept on it, check mode, and every flow (tune, restart, receiver restart,
WAL recovery) going through it. Against the fake cluster, with its fake clock."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from remediation_fake_cluster import CR, NS, POD, RESTART_PARAMS, STS, T0, TUNE_PARAMS, FakeCluster, pod  # pylint: disable=import-error

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.args_common import COMMON_ARGS
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import checks
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import lease as leases
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import change as changes
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import restart, tune
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal import reader as wal_reader
from ansible_collections.fleetops.prometheus_agent.plugins.modules import agent_restart, agent_tune

PLUGINS = Path(__file__).resolve().parents[4] / "plugins"
COOLDOWN = checks.RESTART_LIMITS['cooldown_seconds']
RAISED = 'PrometheusAgent %s/%s: resources.limits.memory 512Mi -> 640Mi; resources.requests.memory 256Mi -> 320Mi' % (NS, CR)
PLANNED_NOTHING = re.compile(r'^planned nothing: (?P<what>.+) at (?P<at>\S+Z), cooldown until (?P<until>\S+Z)$')


def tune_run(cluster, holder, check_mode=False, **params):
    return tune.run(dict(TUNE_PARAMS, lease_holder=holder, **params), cluster, check_mode=check_mode,
                    sleep=cluster.clock.sleep, clock=cluster.clock.time)


def restart_run(cluster, holder, check_mode=False, **params):
    return restart.run(dict(RESTART_PARAMS, lease_holder=holder, **params), cluster, check_mode=check_mode,
                       sleep=cluster.clock.sleep, clock=cluster.clock.time)


def writes(cluster, plural):
    return [r for r in cluster.requests if r[0] in ('POST', 'PUT', 'PATCH', 'DELETE') and '/%s' % plural in r[1]]


def memory_limit(cluster):
    return cluster.resources[CR]['spec']['resources']['limits']['memory']


def record(cluster):
    return leases.change_record(cluster.leases.get(leases.CLUSTER_LEASE))


def test_the_fake_parameters_are_the_modules_options():
    for params, module in ((RESTART_PARAMS, agent_restart), (TUNE_PARAMS, agent_tune)):
        assert set(params) - set(COMMON_ARGS) == set(module.argument_spec()) - set(COMMON_ARGS), module.__name__


# ------------------------------------------------------------------------------------ two runs, one cluster

def test_a_second_tune_within_the_cooldown_plans_nothing():
    """Issue 17: two approved runs raised the limit twice (512Mi -> 640Mi -> 800Mi) and replaced the pod twice."""
    cluster = FakeCluster()
    first, failed = tune_run(cluster, 'run-A', resources_step=['memory'])
    assert not failed and first['changed'] and memory_limit(cluster) == '640Mi', first['msg']
    assert first['lease']['recorded']['change'] == RAISED
    cluster.clock.sleep(8)
    second, failed = tune_run(cluster, 'run-B', resources_step=['memory'])
    assert not failed and second['changed'] is False, second['msg']
    said = PLANNED_NOTHING.match(second['msg'])
    assert said, second['msg']
    assert said.group('what') == 'tune (%s) by run-A' % RAISED
    assert said.group('until') == second['cooldown']['until']
    assert second['cooldown']['last_holder'] == 'run-A' and second['cooldown']['last_action'] == 'tune'
    assert memory_limit(cluster) == '640Mi' and len(writes(cluster, 'prometheusagents')) == 1
    assert cluster.pods[POD]['metadata']['uid'] == 'uid-2'         # one pod replacement
    assert second['lease']['held'] is False and record(cluster)['holder'] == 'run-A'   # the record stays the first run's


def test_after_the_cooldown_the_next_step_is_made():
    cluster = FakeCluster()
    tune_run(cluster, 'run-A', resources_step=['memory'])
    cluster.clock.sleep(COOLDOWN + 1)
    later, failed = tune_run(cluster, 'run-B', resources_step=['memory'])
    assert not failed and later['changed'] and memory_limit(cluster) == '800Mi', later['msg']
    assert record(cluster)['holder'] == 'run-B'


def test_the_step_from_the_finding_compares_with_what_the_resource_has_now():
    """A run whose finding saw 512Mi, after another raised the resource to 640Mi: nothing more, even with no cooldown."""
    cluster = FakeCluster()
    tune_run(cluster, 'run-A', resources_step=['memory'], resources_step_from={'memory': 536870912})
    again, failed = tune_run(cluster, 'run-B', resources_step=['memory'], resources_step_from={'memory': 536870912},
                             cooldown_seconds=0)
    assert not failed and again['changed'] is False and again['msg'].endswith('already as wanted'), again['msg']
    assert memory_limit(cluster) == '640Mi' and len(writes(cluster, 'prometheusagents')) == 1


def test_a_run_with_nothing_left_to_change_says_who_changed_it():
    """The second run of the same finding: the first run's step is already there, and within the cooldown
    it says whose change that was (reading the Lease only)."""
    cluster = FakeCluster()
    tune_run(cluster, 'run-A', resources_step=['memory'], resources_step_from={'memory': 536870912})
    leases_written = len(writes(cluster, 'leases'))
    again, failed = tune_run(cluster, 'run-B', resources_step=['memory'], resources_step_from={'memory': 536870912})
    assert not failed and again['changed'] is False and again['msg'] == PLANNED_NOTHING.match(again['msg']).group(0)
    assert 'by run-A' in again['msg'] and again['cooldown']['last_holder'] == 'run-A'
    assert len(writes(cluster, 'leases')) == leases_written and len(writes(cluster, 'prometheusagents')) == 1


def test_the_tune_is_computed_again_under_the_lease(monkeypatch):
    """Between the first look and the lease another run raised the limit: the tune patches from what is there now."""
    cluster = FakeCluster()
    taken = changes.Change.take

    def meanwhile(self):
        cluster.resources[CR]['spec']['resources']['limits']['memory'] = '700Mi'
        taken(self)
    monkeypatch.setattr(changes.Change, 'take', meanwhile)
    result, failed = tune_run(cluster, 'run-B', resources_step=['memory'], resources_step_from={'memory': '512Mi'})
    assert not failed and result['changed'] is False and memory_limit(cluster) == '700Mi', result['msg']
    assert not writes(cluster, 'prometheusagents')


def test_a_restart_followed_at_once_by_a_tune_the_tune_plans_nothing():
    cluster = FakeCluster()
    restarted, failed = restart_run(cluster, 'run-A', verify=False)
    assert not failed and restarted['changed']
    tuned, failed = tune_run(cluster, 'run-B', drop_metrics=['node_softnet_.*'])
    assert not failed and tuned['changed'] is False
    assert PLANNED_NOTHING.match(tuned['msg']) and 'graceful_restart (rollout restart of StatefulSet %s/%s) by run-A' % (NS, STS) in tuned['msg']
    assert not writes(cluster, 'prometheusagents')


def test_two_restarts_one_after_the_other_restart_once():
    cluster = FakeCluster()
    restart_run(cluster, 'run-A', verify=False)
    again, failed = restart_run(cluster, 'run-B', verify=False)
    assert not failed and again['changed'] is False and again['msg'].startswith('planned nothing: graceful_restart'), again['msg']
    assert len(writes(cluster, 'statefulsets')) == 1


def test_the_same_run_is_not_held_by_its_own_change():
    """The remediate role gives every module of one run the same holder: its actions follow each other."""
    cluster = FakeCluster()
    restart_run(cluster, 'run-A', verify=False)
    tuned, failed = tune_run(cluster, 'run-A', drop_metrics=['node_softnet_.*'])
    assert not failed and tuned['changed'] is True and len(writes(cluster, 'prometheusagents')) == 1
    assert record(cluster)['action'] == 'tune'


def test_cooldown_zero_turns_it_off():
    cluster = FakeCluster()
    restart_run(cluster, 'run-A', verify=False)
    tuned, failed = tune_run(cluster, 'run-B', drop_metrics=['node_softnet_.*'], cooldown_seconds=0)
    assert not failed and tuned['changed'] is True


def test_a_receiver_restart_takes_the_agent_namespace_lease():
    cluster = FakeCluster()
    cluster.pods['thanos-receive-0'] = pod('thanos-receive-0', uid='rx-0', ready=False, labels={'app.kubernetes.io/name': 'thanos-receive'},
                                           sts='thanos-receive')
    done, failed = restart_run(cluster, 'run-A', target='receiver')
    assert not failed and done['changed'], done['msg']
    assert done['lease']['namespace'] == NS and record(cluster)['action'] == 'receiver_restart'
    assert record(cluster)['change'] == 'pod thanos/thanos-receive-0 deleted (grace 30s)'
    agent, failed = restart_run(cluster, 'run-B', verify=False)
    assert not failed and agent['changed'] is False and agent['msg'].startswith('planned nothing: receiver_restart')


def test_wal_recovery_is_recorded_and_honours_the_cooldown(monkeypatch):
    monkeypatch.setattr(wal_reader, 'read_pod', lambda params, target=None: (None, type('R', (), {
        'error': None, 'corruptions': lambda self: []})(), None, {}))
    cluster = FakeCluster()
    tune_run(cluster, 'run-A', drop_metrics=['node_softnet_.*'])
    held, failed = restart_run(cluster, 'run-B', reason='wal_corruption', verify=False)
    assert not failed and held['changed'] is False and held['msg'].startswith('planned nothing: tune'), held['msg']
    assert not writes(cluster, 'statefulsets') and 'wal' not in held
    cluster.clock.sleep(COOLDOWN)
    done, failed = restart_run(cluster, 'run-B', reason='wal_corruption', verify=False)
    assert not failed and done['changed'] and record(cluster)['action'] == 'wal_recovery', done['msg']


def test_a_forced_restart_of_a_stuck_pod_does_not_wait_out_the_cooldown():
    cluster = FakeCluster()
    tune_run(cluster, 'run-A', drop_metrics=['node_softnet_.*'])
    when = cluster.clock.time() - 300
    cluster.pods[POD] = pod(deletion='%s' % leases.units.rfc3339(when, digits=0))
    forced, failed = restart_run(cluster, 'run-B', mode='forced', reason='stuck_terminating', verify=False)
    assert not failed and forced['action'] == 'forced', forced['msg']
    assert record(cluster)['action'] == 'forced_restart' and record(cluster)['holder'] == 'run-B'


# ------------------------------------------------------------------------------------ the lease

def test_a_held_lease_is_waited_for_then_the_first_change_is_seen():
    cluster = FakeCluster()
    other = leases.Lease(leases.KubeLeaseApi(cluster), NS, leases.CLUSTER_LEASE, holder='run-A', duration=900,
                         now=lambda: leases.units.as_datetime(cluster.clock.time()))
    other.acquire()
    gives_back_at = cluster.clock.time() + 20
    sleep = cluster.clock.sleep

    def sleeping(seconds):
        sleep(seconds)
        if other.held and cluster.clock.time() >= gives_back_at:
            other.release({'action': 'tune', 'change': 'resources.limits.memory 512Mi -> 640Mi', 'at': cluster.clock.time(),
                           'holder': 'run-A'})
    cluster.clock.sleep = sleeping
    result, failed = tune_run(cluster, 'run-B', resources_step=['memory'], lease_wait=60)
    assert not failed and result['changed'] is False and PLANNED_NOTHING.match(result['msg']), result['msg']
    assert result['lease']['held'] is False and not writes(cluster, 'prometheusagents')
    assert cluster.clock.time() - T0 >= 20


def test_a_held_lease_refuses_once_the_wait_is_over():
    cluster = FakeCluster()
    leases.Lease(leases.KubeLeaseApi(cluster), NS, leases.CLUSTER_LEASE, holder='run-A', duration=900,
                 now=lambda: leases.units.as_datetime(cluster.clock.time())).acquire()
    for wait in (0, 30):
        result, failed = tune_run(cluster, 'run-B', drop_metrics=['node_softnet_.*'], lease_wait=wait)
        assert failed and result['refused'] and 'run-A' in result['msg'] and result['changed'] is False, result['msg']
    assert cluster.clock.time() - T0 >= 30 and not writes(cluster, 'prometheusagents')


def test_check_mode_never_takes_the_lease():
    cluster = FakeCluster()
    for run in (lambda: tune_run(cluster, 'run-A', check_mode=True, resources_step=['memory']),
                lambda: restart_run(cluster, 'run-A', check_mode=True)):
        result, failed = run()
        assert not failed and result['changed'] is True and result['lease']['held'] is False
    tune_run(cluster, 'run-A', drop_metrics=['node_softnet_.*'])
    before = list(cluster.requests)
    for run in (lambda: tune_run(cluster, 'run-B', check_mode=True, resources_step=['memory']),
                lambda: restart_run(cluster, 'run-B', check_mode=True)):
        result, failed = run()
        assert not failed and result['changed'] is False and result['msg'].startswith('planned nothing: tune'), result['msg']
    assert not [r for r in cluster.requests[len(before):] if r[0] != 'GET'], cluster.requests[len(before):]


def test_no_write_without_the_lease_held():
    cluster = FakeCluster()
    with changes.change_lease(cluster, NS, 'tune', {}, check_mode=True, clock=cluster.clock.time) as change:
        with pytest.raises(changes.NotHeld):
            change.rollout_restart(NS, STS)
    change = changes.Change(cluster, NS, 'tune', {}, clock=cluster.clock.time)   # never begun
    for write in (lambda: change.delete_pod(NS, POD), lambda: change.patch_resource('PrometheusAgent', NS, CR, {}, 'x')):
        with pytest.raises(changes.NotHeld):
            write()
    assert not [r for r in cluster.requests if r[0] != 'GET']


def test_a_failed_change_is_recorded_and_the_lease_given_back():
    cluster = FakeCluster()
    cluster.crashing = True
    result, failed = restart_run(cluster, 'run-A', wait_timeout=20)
    assert failed and result['changed'] and result['lease']['held'] is False
    assert record(cluster)['change'] == 'rollout restart of StatefulSet %s/%s' % (NS, STS)
    assert 'holderIdentity' not in cluster.leases[leases.CLUSTER_LEASE]['spec']


# ------------------------------------------------------------------------------------ no way around it

WRITES = {'rollout_restart', 'delete_pod', 'patch_resource'}


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            yield node


def test_every_change_to_a_cluster_goes_through_change_lease():
    """The workload writes are called from remediation/change.py only, and no code outside kube/ sends
    a writing request: tune, restart, receiver restart and WAL recovery cannot bypass the lease."""
    found = []
    for path in sorted(PLUGINS.rglob('*.py')):
        rel = path.relative_to(PLUGINS).as_posix()
        for call in _calls(ast.parse(path.read_text(encoding='utf-8'))):
            owner = call.func.value
            if (call.func.attr in WRITES and isinstance(owner, ast.Name) and owner.id == 'workloads'
                    and rel != 'module_utils/remediation/change.py'):
                found.append('%s:%d workloads.%s' % (rel, call.lineno, call.func.attr))
            method = call.args[0] if call.func.attr == 'request_json' and call.args else None
            if (isinstance(method, ast.Constant) and method.value != 'GET' and not rel.startswith('module_utils/kube/')):
                found.append('%s:%d request_json(%r)' % (rel, call.lineno, method.value))
    assert not found, found
