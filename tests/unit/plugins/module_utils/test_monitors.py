# -*- coding: utf-8 -*-
"""The monitors an agent selects and what each produced (prometheus/monitors.py), and MONITORS."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.checks import merge_thresholds
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import monitors
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import fleet_checks as fc


def monitor(kind, namespace, name, labels=None, endpoints=1, status=None):
    field = 'endpoints' if kind == 'servicemonitors' else 'podMetricsEndpoints'
    obj = {'metadata': {'namespace': namespace, 'name': name, 'labels': labels or {}},
           'spec': {field: [{'port': 'web'}] * endpoints}}
    if status:
        obj['status'] = status
    return obj


def active(pool, health='up'):
    return {'scrapePool': pool, 'health': health, 'labels': {'job': pool.split('/')[2]}}


def test_selectors_nil_selects_nothing_empty_everything():
    assert monitors.selects(None, {'a': 'b'}) is False
    assert monitors.selects({}, {'a': 'b'}) is True
    assert monitors.selects({'matchLabels': {'a': 'b'}}, {'a': 'b', 'c': 'd'}) is True
    assert monitors.selects({'matchLabels': {'a': 'x'}}, {'a': 'b'}) is False
    assert monitors.selects({'matchExpressions': [{'key': 'a', 'operator': 'In', 'values': ['b']}]}, {'a': 'b'}) is True
    assert monitors.selects({'matchExpressions': [{'key': 'a', 'operator': 'NotIn', 'values': ['b']}]}, {'a': 'b'}) is False
    assert monitors.selects({'matchExpressions': [{'key': 'z', 'operator': 'Exists'}]}, {'a': 'b'}) is False
    assert monitors.selects({'matchExpressions': [{'key': 'z', 'operator': 'DoesNotExist'}]}, {'a': 'b'}) is True


def test_namespace_selector_nil_is_the_agents_own_namespace():
    assert monitors.namespace_selected(None, 'monitoring', 'monitoring') is True
    assert monitors.namespace_selected(None, 'apps', 'monitoring') is False
    assert monitors.namespace_selected({}, 'apps', 'monitoring') is True
    assert monitors.namespace_selected({'matchLabels': {'team': 'a'}}, 'apps', 'monitoring', {'apps': {'team': 'a'}}) is True
    assert monitors.namespace_selected({'matchLabels': {'kubernetes.io/metadata.name': 'apps'}}, 'apps', 'monitoring') is True


def test_summarize_joins_by_scrape_pool_and_says_ok_none_down_rejected():
    by_plural = {
        'servicemonitors': [monitor('servicemonitors', 'monitoring', 'node-exporter', endpoints=2),
                            monitor('servicemonitors', 'monitoring', 'empty'),
                            monitor('servicemonitors', 'monitoring', 'broken', status={'bindings': [{
                                'resource': 'prometheusagents', 'name': 'main', 'conditions': [
                                    {'type': 'Accepted', 'status': 'False', 'reason': 'InvalidConfiguration', 'message': 'bad port'}]}]}),
                            monitor('servicemonitors', 'apps', 'elsewhere')],
        'podmonitors': [monitor('podmonitors', 'monitoring', 'agent'), monitor('podmonitors', 'monitoring', 'ignored', {'x': 'y'})],
    }
    doc = {'status': 'success', 'data': {'activeTargets': [
        active('serviceMonitor/monitoring/node-exporter/0'), active('serviceMonitor/monitoring/node-exporter/1', 'down'),
        active('podMonitor/monitoring/agent/0', 'down'), active('podMonitor/monitoring/agent/0', 'down'),
        active('serviceMonitor/apps/elsewhere/0')]}}
    spec = {'serviceMonitorSelector': {}, 'podMonitorSelector': {'matchExpressions': [{'key': 'x', 'operator': 'DoesNotExist'}]}}
    got = monitors.summarize(spec, by_plural, 'monitoring', doc, 'PrometheusAgent', 'main')
    by_name = dict((e['name'], e) for e in got)
    assert sorted(by_name) == ['agent', 'broken', 'empty', 'node-exporter']      # 'elsewhere': not its namespace; 'ignored': not selected
    assert by_name['node-exporter']['state'] == 'ok' and (by_name['node-exporter']['up'], by_name['node-exporter']['down']) == (1, 1)
    assert by_name['node-exporter']['pools'] == ['serviceMonitor/monitoring/node-exporter/0', 'serviceMonitor/monitoring/node-exporter/1']
    assert by_name['empty']['state'] == 'none' and by_name['empty']['active'] == 0
    assert by_name['broken']['state'] == 'rejected' and by_name['broken']['reason'] == 'bad port'
    assert by_name['agent']['state'] == 'down' and by_name['agent']['down'] == 2
    # the same monitor bound to another agent's resource is not rejected for this one
    assert monitors.summarize(spec, by_plural, 'monitoring', doc, 'PrometheusAgent', 'other')[1]['state'] == 'none'


def test_nil_selectors_select_nothing():
    by_plural = {'servicemonitors': [monitor('servicemonitors', 'monitoring', 'a')]}
    assert monitors.summarize({}, by_plural, 'monitoring', {}) == []


class FakeApi:
    """The API server's answers by path (the LISTs the reader makes are recorded)."""

    def __init__(self, answers):
        self.answers = answers
        self.paths = []

    def request_json(self, method, path, query=None, what=None, missing_ok=False, **_kw):
        self.paths.append(path)
        if path not in self.answers:
            return None
        return {'items': self.answers[path], 'metadata': {}}


def test_read_lists_the_own_namespace_or_every_namespace():
    resource = {'metadata': {'name': 'main', 'namespace': 'monitoring'},
                'spec': {'serviceMonitorSelector': {}, 'podMonitorSelector': {},
                         'podMonitorNamespaceSelector': {'matchLabels': {'team': 'a'}}}}
    api = FakeApi({
        '/apis/monitoring.coreos.com/v1/namespaces/monitoring/servicemonitors': [monitor('servicemonitors', 'monitoring', 'node')],
        '/apis/monitoring.coreos.com/v1/podmonitors': [monitor('podmonitors', 'apps', 'app')],
        '/api/v1/namespaces': [{'metadata': {'name': 'apps', 'labels': {'team': 'a'}}}],
    })
    got = monitors.read(api, resource, 'monitoring', {'data': {'activeTargets': [active('podMonitor/apps/app/0')]}})
    assert got['resource'] == 'PrometheusAgent monitoring/main' and got['served'] is True
    assert [(e['name'], e['state']) for e in got['selected']] == [('app', 'ok'), ('node', 'none')]
    assert api.paths == ['/apis/monitoring.coreos.com/v1/namespaces/monitoring/servicemonitors',
                         '/apis/monitoring.coreos.com/v1/podmonitors', '/api/v1/namespaces']
    # every namespace ({}): no namespace list
    resource['spec']['podMonitorNamespaceSelector'] = {}
    api.paths = []
    assert [e['name'] for e in monitors.read(api, resource, 'monitoring', {})['selected']] == ['app', 'node']
    assert '/api/v1/namespaces' not in api.paths


def test_read_without_the_resource_types_says_not_served():
    resource = {'metadata': {'name': 'main'}, 'spec': {'serviceMonitorSelector': {}}}
    got = monitors.read(FakeApi({}), resource, 'monitoring', {})
    assert got['served'] is False and got['selected'] == []


def entry(name, state, active_count=0, up=0, kind='ServiceMonitor'):
    return {'kind': kind, 'namespace': 'monitoring', 'name': name, 'state': state, 'active': active_count, 'up': up,
            'down': active_count - up, 'reason': 'bad port' if state == 'rejected' else ''}


def check(selected, **extra):
    found = dict({'resource': 'PrometheusAgent monitoring/main', 'selected': selected, 'served': True}, **extra)
    return fc.check_monitors({'monitors': found}, merge_thresholds({}))


def test_check_monitors_ok_warning_critical_unknown():
    ok = check([entry('node-exporter', 'ok', 1, 1), entry('agent', 'ok', 1, 1, 'PodMonitor')])
    assert ok['status'] == 'ok' and ok['value']['selected'] == 2 and ok['value']['active_targets'] == 2, ok
    assert '2 monitor(s) selected, 2 with active targets (2 targets)' == ok['message']
    none = check([entry('node-exporter', 'ok', 1, 1), entry('empty', 'none')])
    assert none['status'] == 'warning' and 'no active target: ServiceMonitor monitoring/empty' in none['message']
    assert 'node-exporter' not in none['message'].split(';', 1)[1]
    rejected = check([entry('node-exporter', 'ok', 1, 1), entry('broken', 'rejected')])
    assert rejected['status'] == 'warning' and 'rejected by the operator: ServiceMonitor monitoring/broken (bad port)' in rejected['message']
    some_down = check([entry('node-exporter', 'ok', 1, 1), entry('agent', 'down', 2, 0)])
    assert some_down['status'] == 'warning' and 'every target down: ServiceMonitor monitoring/agent' in some_down['message']
    all_down = check([entry('node-exporter', 'down', 1, 0), entry('agent', 'down', 2, 0)])
    assert all_down['status'] == 'critical'
    assert check([], note='it selects no monitor')['status'] == 'ok'
    assert fc.check_monitors({'monitors': {'error': 'forbidden'}}, merge_thresholds({}))['status'] == 'unknown'
    assert fc.check_monitors({}, merge_thresholds({}))['status'] == 'unknown'


def test_weekly_evaluation_has_monitors_except_for_an_agent_by_url():
    agent = {'status': 'ok', 'checks': [], 'via': 'kubernetes',
             'monitors': {'resource': 'PrometheusAgent monitoring/main', 'served': True, 'selected': [entry('empty', 'none')]}}
    got = fc.evaluate('weekly', {'agent_status': agent})
    monitors_check = [c for c in got['checks'] if c['id'] == 'MONITORS']
    assert monitors_check and monitors_check[0]['status'] == 'warning'
    by_url = fc.evaluate('weekly', {'agent_status': dict(agent, via='url')})
    assert 'MONITORS' not in [c['id'] for c in by_url['checks']]
    daily = fc.evaluate('daily', {'agent_status': agent})
    assert 'MONITORS' not in [c['id'] for c in daily['checks']]


def probe(namespace, name, labels=None, status=None):
    obj = {'metadata': {'namespace': namespace, 'name': name, 'labels': labels or {}},
           'spec': {'prober': {'url': 'blackbox:9115'}, 'targets': {'staticConfig': {'static': ['https://a', 'https://b']}}}}
    if status:
        obj['status'] = status
    return obj


def scrape_config(namespace, name, labels=None):
    return {'metadata': {'namespace': namespace, 'name': name, 'labels': labels or {}},
            'spec': {'staticConfigs': [{'targets': ['10.0.0.1:9100']}]}}


def test_probes_and_scrape_configs_are_one_pool_each_named_as_the_operator_does():
    by_plural = {
        'probes': [probe('monitoring', 'web'), probe('monitoring', 'silent'), probe('monitoring', 'other-team', {'team': 'b'}),
                   probe('apps', 'elsewhere'),
                   probe('monitoring', 'broken', status={'bindings': [{'resource': 'prometheusagents', 'name': 'main', 'conditions': [
                       {'type': 'Accepted', 'status': 'False', 'message': 'spec.targets needs a staticConfig or an ingress'}]}]})],
        'scrapeconfigs': [scrape_config('monitoring', 'nodes'), scrape_config('monitoring', 'empty'), scrape_config('monitoring', 'legacy')],
    }
    doc = {'data': {'activeTargets': [
        active('probe/monitoring/web'), active('probe/monitoring/web', 'down'), active('probe/apps/elsewhere'),
        active('probe/monitoring/other-team'),
        active('scrapeConfig/monitoring/nodes'),
        active('scrapeconfig/monitoring/legacy')]}}       # an older operator's job name
    spec = {'probeSelector': {'matchExpressions': [{'key': 'team', 'operator': 'DoesNotExist'}]}, 'scrapeConfigSelector': {}}
    got = monitors.summarize(spec, by_plural, 'monitoring', doc, 'PrometheusAgent', 'main')
    assert [(e['kind'], e['name']) for e in got] == [('Probe', 'broken'), ('Probe', 'silent'), ('Probe', 'web'),
                                                     ('ScrapeConfig', 'empty'), ('ScrapeConfig', 'legacy'), ('ScrapeConfig', 'nodes')]
    by_name = dict((e['name'], e) for e in got)
    assert by_name['web']['pools'] == ['probe/monitoring/web']
    assert (by_name['web']['state'], by_name['web']['active'], by_name['web']['up'], by_name['web']['down']) == ('ok', 2, 1, 1)
    assert by_name['silent']['state'] == 'none' and 'its targets' in by_name['silent']['reason']
    assert by_name['broken']['state'] == 'rejected' and 'staticConfig' in by_name['broken']['reason']
    assert by_name['nodes']['pools'] == ['scrapeConfig/monitoring/nodes'] and by_name['nodes']['state'] == 'ok'
    assert by_name['legacy']['state'] == 'ok' and by_name['legacy']['up'] == 1
    assert by_name['empty']['state'] == 'none' and 'staticConfigs' in by_name['empty']['reason']
    # nil selectors select none of them
    assert monitors.summarize({'serviceMonitorSelector': {}}, by_plural, 'monitoring', doc) == []


def test_read_lists_probes_in_v1_and_scrape_configs_in_v1alpha1():
    resource = {'metadata': {'name': 'main', 'namespace': 'monitoring'},
                'spec': {'probeSelector': {}, 'scrapeConfigSelector': {}, 'scrapeConfigNamespaceSelector': {}}}
    api = FakeApi({
        '/apis/monitoring.coreos.com/v1/namespaces/monitoring/probes': [probe('monitoring', 'web')],
        '/apis/monitoring.coreos.com/v1alpha1/scrapeconfigs': [scrape_config('apps', 'nodes')],
    })
    got = monitors.read(api, resource, 'monitoring', {'data': {'activeTargets': [active('probe/monitoring/web')]}})
    assert api.paths == ['/apis/monitoring.coreos.com/v1/namespaces/monitoring/probes', '/apis/monitoring.coreos.com/v1alpha1/scrapeconfigs']
    assert [(e['kind'], e['name'], e['state']) for e in got['selected']] == [('Probe', 'web', 'ok'), ('ScrapeConfig', 'nodes', 'none')]
    assert got['served'] is True and 'note' not in got
    # a cluster without the ScrapeConfig CRD: not served
    api = FakeApi({'/apis/monitoring.coreos.com/v1/namespaces/monitoring/probes': []})
    assert monitors.read(api, resource, 'monitoring', {})['served'] is False


def test_read_notes_an_agent_without_any_monitor_selector():
    got = monitors.read(FakeApi({}), {'metadata': {'name': 'main'}, 'spec': {}}, 'monitoring', {})
    assert got['selected'] == [] and 'probeSelector or scrapeConfigSelector' in got['note']
    assert 'note' not in monitors.read(FakeApi({}), {'metadata': {'name': 'main'}, 'spec': {'probeSelector': {}}}, 'monitoring', {})


def test_check_monitors_names_probes_and_scrape_configs_and_counts_by_kind():
    got = check([entry('node-exporter', 'ok', 1, 1), entry('web', 'ok', 2, 2, 'Probe'), entry('silent', 'none', kind='Probe'),
                 entry('nodes', 'ok', 1, 1, 'ScrapeConfig'), entry('empty', 'none', kind='ScrapeConfig')])
    assert got['status'] == 'warning', got
    assert got['message'].startswith('5 monitor(s) selected, 3 with active targets (4 targets); no active target: '
                                     'Probe monitoring/silent, ScrapeConfig monitoring/empty ('), got
    assert "a Probe's or ScrapeConfig's targets give none" in got['message']
    assert got['value']['by_kind'] == {'ServiceMonitor': {'selected': 1, 'with_targets': 1, 'none': 0, 'rejected': 0},
                                       'Probe': {'selected': 2, 'with_targets': 1, 'none': 1, 'rejected': 0},
                                       'ScrapeConfig': {'selected': 2, 'with_targets': 1, 'none': 1, 'rejected': 0}}
    # only ServiceMonitors/PodMonitors without targets: the message as before
    assert '(its selector, namespaceSelector or port matches nothing)' in check([entry('empty', 'none')])['message']
    assert 'Probe or ScrapeConfig' in check([], served=False)['message']
