"""The tune flow (plugins/module_utils/remediation/tune.py) against a fake cluster, no AnsibleModule."""

from __future__ import annotations

from remediation_fake_cluster import CR, NS, POD, FakeCluster  # pylint: disable=import-error
from remediation_fake_cluster import TUNE_PARAMS as PARAMS  # pylint: disable=import-error

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import TargetConfigError
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import workloads
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import tune


def go(cluster, check_mode=False, diff=False, **params):
    return tune.run(dict(PARAMS, **params), cluster, check_mode=check_mode, diff=diff, sleep=cluster.clock.sleep,
                    clock=cluster.clock.time)


def patches(cluster):
    return [r for r in cluster.requests if r[0] == 'PATCH']


def test_drop_rule_check_mode_then_once_then_idempotent():
    cluster = FakeCluster()
    result, failed = go(cluster, check_mode=True, diff=True, drop_metrics=['node_softnet_.*'])
    assert not failed and result['changed'] is True and result['msg'].startswith('would patch PrometheusAgent %s/%s' % (NS, CR))
    assert result['diff']['before_header'] == 'PrometheusAgent %s/%s' % (NS, CR)
    assert result['diff']['after']['remoteWrite'][0]['writeRelabelConfigs'][0]['regex'] == 'node_softnet_.*'
    assert not patches(cluster) and result['restarts_pod'] is False and result['resource_version'] == '100'
    result, failed = go(cluster, drop_metrics=['node_softnet_.*'])
    assert not failed and result['changed'] is True and result['msg'] == 'patched PrometheusAgent %s/%s (1 change)' % (NS, CR)
    _method, _path, body, content_type = patches(cluster)[0]
    assert content_type == workloads.MERGE_PATCH and body['metadata']['resourceVersion'] == '100'
    assert 'resources' not in body['spec'] and result['resource_version'] != '100'
    assert cluster.pods[POD]['metadata']['uid'] == 'uid-1'
    again, failed = go(cluster, drop_metrics=['node_softnet_.*'])
    assert not failed and again['changed'] is False and again['msg'].endswith('already as wanted')
    assert len(patches(cluster)) == 1


def test_protected_drop_is_refused():
    cluster = FakeCluster()
    result, failed = go(cluster, drop_metrics=['prometheus_remote_.*'])
    assert failed and result['refused'] is True and result['msg'].startswith('Refused: ') and 'prometheus_' in result['msg']
    assert not patches(cluster)


def test_queue_out_of_bounds_is_refused():
    cluster = FakeCluster()
    result, failed = go(cluster, queue={'capacity': 100, 'max_samples_per_send': 500})
    assert failed and result['refused'] and '3-10x' in result['msg']


def test_resources_step_from_the_pod_limit_restarts_and_waits():
    cluster = FakeCluster()
    del cluster.resources[CR]['spec']['resources']
    result, failed = go(cluster, resources_step=['memory'])
    assert not failed, result['msg']
    assert result['step_from'] == {'memory': '512Mi'} and result['changes'] == ['resources.limits.memory None -> 640Mi']
    assert result['restarts_pod'] is True and result['guard']['allowed'] and 'queues' not in result['guard']
    assert result['pod_after']['uid'] != 'uid-1' and result['pod_after']['ready']
    assert ', new pod Ready after' in result['msg']
    assert cluster.resources[CR]['spec']['resources']['limits']['memory'] == '640Mi'


def test_resources_step_refused_while_the_receiver_is_down():
    cluster = FakeCluster()
    cluster.receiver_down()
    cluster.clock.sleep(20)
    result, failed = go(cluster, resources_step=['memory'])
    assert failed and result['refused'] and 'a resources change restarts the agent' in result['msg']
    assert result['changed'] is False and not patches(cluster)
    forced, failed = go(cluster, resources_step=['memory'], force=True, wait=False)
    assert not failed and forced['changed'] and forced['guard']['overridden']


def test_a_pod_that_does_not_come_back_fails():
    cluster = FakeCluster()
    cluster.crashing = True
    result, failed = go(cluster, resources_step=['memory'], wait_timeout=20)
    assert failed and result['msg'].endswith('but no new Ready pod within 20s') and result['pod_after']['ready'] is False


def test_nothing_to_tune_and_no_resource():
    cluster = FakeCluster()
    assert go(cluster) == ({'msg': tune.NOTHING_TO_TUNE}, True)
    assert go(cluster, queue={'capacity': None})[1] is True
    result, failed = go(cluster, name='other', drop_metrics=['x_.*'])
    assert failed and result['msg'] == 'no PrometheusAgent other in namespace %s (give name)' % NS


def test_a_cluster_that_cannot_be_reached_fails_with_the_result():
    def unreachable():
        raise TargetConfigError('kubeconfig /nonexistent does not exist')
    result, failed = tune.run(dict(PARAMS, drop_metrics=['x_.*']), unreachable)
    assert failed and result['msg'] == 'kubeconfig /nonexistent does not exist' and result['changed'] is False


def test_an_api_error_is_the_mapped_message():
    cluster = FakeCluster()
    cluster.forbidden.add(('PATCH', 'prometheusagents'))
    result, failed = go(cluster, drop_metrics=['x_.*'])
    assert failed and 'forbidden' in result['msg'] and 'exception' not in result and result['changed'] is True


def test_runbook_settings_through_named_overrides_are_reported():
    cluster = FakeCluster()
    queue = {'capacity': 20000, 'max_samples_per_send': 10000, 'min_backoff': '30ms', 'max_backoff': '5s'}
    refused, failed = go(cluster, queue=queue)
    assert failed and refused['refused'] and 'capacity 20000' in refused['msg'] and not patches(cluster)
    result, failed = go(cluster, queue=queue, scrape_interval='30s', wal_compression=True,
                        override_guardrails=['capacity_bounds'])
    assert not failed and result['changed'] is True, result
    assert result['guardrails_overridden'] == ['capacity_bounds: capacity 20000 must be 3-10x maxSamplesPerSend 10000, i.e. 30000-100000']
    _method, _path, body, _content_type = patches(cluster)[0]
    assert body['spec']['scrapeInterval'] == '30s' and body['spec']['walCompression'] is True
    assert body['spec']['remoteWrite'][0]['queueConfig']['maxBackoff'] == '5s'
    assert result['after']['scrapeInterval'] == '30s'
    again, failed = go(cluster, queue=queue, scrape_interval='30s', wal_compression=True, override_guardrails=['capacity_bounds'])
    assert not failed and again['changed'] is False and len(patches(cluster)) == 1
    nothing, failed = go(FakeCluster())
    assert failed and 'scrape_interval' in nothing['msg']
