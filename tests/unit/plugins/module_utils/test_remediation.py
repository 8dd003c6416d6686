"""Unit tests of the remediation guardrails (plugins/module_utils/remediation/policy.py)."""

from __future__ import annotations

import datetime
import re

import pytest

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import policy as rem

UTC = datetime.timezone.utc


def chk(cid, status, value=None, threshold=None, message=''):
    return {'id': cid, 'status': status, 'value': value, 'threshold': threshold, 'message': message}


# ---------------------------------------------------------------- quantities

@pytest.mark.parametrize('text,expected', [
    ('512Mi', 512 * 2 ** 20), ('1Gi', 2 ** 30), ('500m', 0.5), ('2', 2.0), ('1.5', 1.5),
    ('1e3', 1000.0), ('128M', 128e6), (256, 256.0), ('100Ki', 102400.0),
])
def test_parse_quantity(text, expected):
    assert rem.parse_quantity(text) == pytest.approx(expected)


def test_parse_quantity_rejects_garbage():
    with pytest.raises(rem.RemediationError):
        rem.parse_quantity('lots')


# ---------------------------------------------------------------- restart guardrail

HEALTHY_Q = {'remote_name': 'rx', 'retried_per_second': 0, 'failed_per_second': 0, 'bytes_per_second': 5000,
             'samples_per_second': 100, 'pending_samples': 10, 'lag_seconds': 2}


def test_guard_allows_healthy_queue():
    assert rem.restart_guard([HEALTHY_Q]) == {'allowed': True, 'reasons': [], 'overridden': False}


def test_guard_allows_agent_without_queues():
    assert rem.restart_guard([])['allowed'] is True


def test_guard_refuses_receiver_outage_like_2_42():
    # what a receiver outage looked like: retries rising, bytes flat, pending capped, lag growing
    outage = dict(HEALTHY_Q, retried_per_second=125.0, bytes_per_second=0, pending_samples=3499, lag_seconds=56)
    guard = rem.restart_guard([outage])
    assert guard['allowed'] is False
    text = ' '.join(guard['reasons'])
    assert 'retried' in text and 'no bytes sent' in text


def test_guard_allows_a_window_between_batches():
    # no bytes in a few seconds is normal between batches (batch_send_deadline 5 s)
    quiet = dict(HEALTHY_Q, bytes_per_second=0, samples_per_second=0, pending_samples=284, lag_seconds=0)
    assert rem.restart_guard([quiet])['allowed']


def test_guard_refuses_bytes_flat_with_growing_lag():
    flat = dict(HEALTHY_Q, bytes_per_second=0, pending_samples=3499, lag_seconds=20)
    guard = rem.restart_guard([flat])
    assert not guard['allowed'] and 'no bytes sent' in guard['reasons'][0]


def test_guard_refuses_high_lag_only():
    guard = rem.restart_guard([dict(HEALTHY_Q, lag_seconds=300)], max_lag_seconds=120)
    assert not guard['allowed']
    assert 'lag 300s' in guard['reasons'][0]


def test_guard_lag_bound_is_settable():
    assert rem.restart_guard([dict(HEALTHY_Q, lag_seconds=300)], max_lag_seconds=600)['allowed']


def test_guard_refuses_4xx_and_pending_bound():
    guard = rem.restart_guard([dict(HEALTHY_Q, failed_per_second=3, pending_samples=9000)], max_pending_samples=5000)
    assert len(guard['reasons']) == 2


def test_guard_force_overrides_but_says_so():
    outage = dict(HEALTHY_Q, retried_per_second=1, bytes_per_second=0)
    guard = rem.restart_guard([outage], force=True)
    assert guard['allowed'] and guard['overridden'] and guard['reasons']


def test_guard_unreadable_state_is_not_a_go():
    guard = rem.restart_guard([], readable=False)
    assert not guard['allowed']
    assert rem.restart_guard([], readable=False, force=True)['allowed']


def window_queue(delivered, bytes_, retried=0, lag=None):
    """A ``remote_write_stats`` queue over one window (the keys sending_again reads)."""
    return {'remote_name': 'rx', 'window': {'delivered': delivered, 'bytes': bytes_, 'retried': retried}, 'lag_seconds': lag}


def test_sending_again():
    flowing = rem.window_totals([window_queue(100, 1000, lag=2)])
    assert rem.sending_again(flowing) == (True, [])
    ok, reasons = rem.sending_again(rem.window_totals([window_queue(0, 0)]))
    assert not ok and len(reasons) == 2
    ok, reasons = rem.sending_again(rem.window_totals([window_queue(100, 1000, lag=190)]), max_lag_seconds=60)
    assert not ok and 'lag' in reasons[0]
    ok, reasons = rem.sending_again(rem.window_totals([window_queue(100, 1000, retried=5)]))
    assert not ok and reasons == ['retries are rising']


def test_sending_again_lag_bound_is_rw_lag_critical():
    assert rem.sending_again(rem.window_totals([window_queue(1, 1, lag=119)]))[0]
    assert not rem.sending_again(rem.window_totals([window_queue(1, 1, lag=121)]))[0]


def test_window_totals_sums_queues():
    totals = rem.window_totals([window_queue(1, 2, lag=5), window_queue(3, 4, lag=7), {'remote_name': 'new'}])
    assert totals == {'delivered': 4, 'bytes': 6, 'retried': 0, 'lag_seconds': 7}


# ---------------------------------------------------------------- forced restarts

NOW = datetime.datetime(2026, 11, 24, 8, 0, 0, tzinfo=UTC)


def pod(deletion=None, grace=30):
    meta = {'name': 'prom-agent-lab-1-0', 'uid': 'u1'}
    if deletion is not None:
        meta['deletionTimestamp'] = deletion
        meta['deletionGracePeriodSeconds'] = grace
    return {'metadata': meta}


def test_forced_restart_for_stuck_terminating():
    stuck = pod((NOW - datetime.timedelta(minutes=5)).isoformat().replace('+00:00', 'Z'))
    allowed, why = rem.forced_restart_allowed(stuck, now=NOW)
    assert allowed and 'stuck Terminating' in why


def test_forced_restart_refused_within_grace():
    fresh = pod((NOW + datetime.timedelta(seconds=10)).isoformat())
    allowed, why = rem.forced_restart_allowed(fresh, now=NOW)
    assert not allowed and 'within its grace period' in why


def test_forced_restart_refused_for_a_running_pod():
    allowed, why = rem.forced_restart_allowed(pod(), now=NOW)
    assert not allowed and 'mode=graceful' in why


def test_forced_restart_after_graceful_failed():
    assert rem.forced_restart_allowed(pod(), graceful_failed=True, now=NOW)[0]


class _Meta:  # a kubernetes client object instead of a dict
    def __init__(self):
        self.deletion_timestamp = NOW - datetime.timedelta(minutes=2)
        self.deletion_grace_period_seconds = 30


class _Pod:
    metadata = _Meta()


def test_stuck_terminating_on_client_objects():
    assert rem.stuck_terminating(_Pod(), now=NOW) == (True, 120.0)


# ---------------------------------------------------------------- drop rules

@pytest.mark.parametrize('regex', ['up', '.*', 'prometheus_.*', 'prometheus_remote_storage_.*', 'process_.+',
                                   'go_.*', 'u.', '(node|prometheus)_.*', 'scrape_samples_scraped'])
def test_drop_rule_refuses_protected(regex):
    with pytest.raises(rem.RemediationError) as err:
        rem.drop_rule(regex)
    assert 'refusing to drop' in str(err.value)


@pytest.mark.parametrize('regex', ['node_cpu_guest_seconds_total', 'node_(softnet|netstat)_.*', 'apiserver_request_duration_.*',
                                   'kube_pod_.*_info', 'upstream_requests_total'])
def test_drop_rule_allows_others(regex):
    assert rem.drop_rule(regex) == {'sourceLabels': ['__name__'], 'regex': regex, 'action': 'drop'}


def test_drop_rule_bad_regex():
    with pytest.raises(rem.RemediationError):
        rem.drop_rule('node_(')


def test_merge_drop_rules_idempotent_and_absent():
    existing = [{'sourceLabels': ['job'], 'regex': 'x', 'action': 'keep'}]
    once = rem.merge_drop_rules(existing, ['node_netstat_.*'])
    twice = rem.merge_drop_rules(once, ['node_netstat_.*'])
    assert once == twice and len(once) == 2
    assert existing == [{'sourceLabels': ['job'], 'regex': 'x', 'action': 'keep'}]  # not mutated
    assert rem.merge_drop_rules(twice, ['node_netstat_.*'], state='absent') == existing


# ---------------------------------------------------------------- queue config

def test_queue_config_in_bounds():
    new = rem.queue_config({'capacity': 2500, 'maxSamplesPerSend': 500}, {'max_shards': 20})
    assert new == {'capacity': 2500, 'maxSamplesPerSend': 500, 'maxShards': 20}


@pytest.mark.parametrize('wanted,fragment', [
    ({'capacity': 1000, 'max_samples_per_send': 500}, 'capacity 1000 must be 3-10x'),
    ({'capacity': 6000, 'max_samples_per_send': 500}, 'capacity 6000 must be 3-10x'),
    ({'max_shards': 0}, 'maxShards 0'),
    ({'max_shards': 5000}, 'maxShards 5000'),
    ({'min_shards': 10, 'max_shards': 5}, 'minShards 10'),
    ({'max_samples_per_send': 20}, 'maxSamplesPerSend 20'),
])
def test_queue_config_out_of_bounds(wanted, fragment):
    with pytest.raises(rem.RemediationError) as err:
        rem.queue_config({}, wanted)
    assert fragment in str(err.value)


def test_queue_config_unknown_key():
    with pytest.raises(rem.RemediationError):
        rem.queue_config({}, {'shards': 3})


def test_queue_defaults_are_in_bounds():
    assert rem.queue_config({}, {}) == {}


def test_shards_for():
    assert rem.shards_for(12, 10) == 15
    assert rem.shards_for(8, 10) is None
    assert rem.shards_for(1000, 50) == 200
    assert rem.shards_for(None, 10) is None


# ---------------------------------------------------------------- resources

def test_step_memory_25_percent_keeps_request_ratio():
    cur = {'limits': {'memory': '512Mi', 'cpu': '1'}, 'requests': {'memory': '256Mi'}}
    new = rem.step_resources(cur)
    assert new == {'limits': {'memory': '640Mi', 'cpu': '1'}, 'requests': {'memory': '320Mi'}}


def test_step_from_is_idempotent():
    cur = {'limits': {'memory': '512Mi'}}
    first = rem.step_resources(cur, step_from={'memory': '512Mi'})
    assert first['limits']['memory'] == '640Mi'
    assert rem.step_resources(first, step_from={'memory': '512Mi'}) == first


def test_step_capped():
    new = rem.step_resources({'limits': {'memory': '1900Mi'}})
    assert new['limits']['memory'] == '2Gi'
    with pytest.raises(rem.RemediationError) as err:
        rem.step_resources(new)
    assert 'at the cap' in str(err.value)


def test_step_needs_a_base():
    with pytest.raises(rem.RemediationError):
        rem.step_resources({'requests': {'memory': '1Gi'}})


def test_check_resources():
    cur = {'limits': {'memory': '512Mi'}, 'requests': {'memory': '256Mi'}}
    assert rem.check_resources(cur, {'limits': {'memory': '640Mi'}})['limits']['memory'] == '640Mi'
    with pytest.raises(rem.RemediationError) as err:
        rem.check_resources(cur, {'limits': {'memory': '1Gi'}})
    assert 'more than +25%' in str(err.value)
    with pytest.raises(rem.RemediationError):
        rem.check_resources({'limits': {'memory': '2Gi'}}, {'limits': {'memory': '2100Mi'}})
    with pytest.raises(rem.RemediationError):
        rem.check_resources(cur, {'requests': {'memory': '600Mi'}})


def test_same_quantities():
    assert rem.same_quantities({'limits': {'memory': '1Gi'}}, {'limits': {'memory': '1024Mi'}})
    assert not rem.same_quantities({'limits': {'memory': '1Gi'}}, {'limits': {'memory': '1025Mi'}})


# ---------------------------------------------------------------- plans

def actions(plan):
    return [a['action'] for a in plan]


def test_plan_clean_cluster_does_nothing():
    assert rem.plan([chk('POD', 'ok'), chk('HEALTH', 'ok'), chk('RW-LAG', 'ok')]) == []


def test_plan_unhealthy_agent_graceful_restart():
    result = rem.plan([chk('HEALTH', 'critical', message='unreachable'), chk('POD', 'ok')])
    assert actions(result) == ['graceful_restart']
    assert result[0]['allowed'] and not result[0]['blocked']
    assert result[0]['findings'] == ['HEALTH']


def test_plan_crashloop():
    result = rem.plan([chk('POD', 'critical', value='CrashLoopBackOff', message='crash looping'),
                       chk('HEALTH', 'critical')])
    assert actions(result) == ['graceful_restart']
    assert result[0]['params']['reason'] == 'crashloop'
    assert result[0]['findings'] == ['HEALTH', 'POD']


def test_plan_stuck_terminating_forced_only():
    result = rem.plan([chk('POD', 'critical', value='Terminating', message='stuck Terminating for 300s'),
                       chk('HEALTH', 'critical')])
    assert actions(result) == ['forced_restart']


def test_plan_receiver_down_blocks_restart():
    checks = [chk('RW-RETRY', 'critical', message='retries and no bytes sent'), chk('RW-LAG', 'critical'),
              chk('INGEST', 'critical')]
    result = rem.plan(checks)
    assert actions(result) == ['graceful_restart']
    assert result[0]['blocked'] and '13539' in result[0]['blocked_reasons'][0]
    managed = rem.plan(checks, options={'receiver_managed': True})
    assert actions(managed) == ['receiver_restart', 'graceful_restart']
    assert not managed[0]['blocked']


def test_plan_receiver_down_alone_no_agent_action():
    assert rem.plan([chk('RW-RETRY', 'critical'), chk('RW-LAG', 'critical')]) == []


def test_plan_wal_corruption():
    result = rem.plan([chk('WAL-HEALTH', 'critical', message='corruption in segment 3'), chk('HEALTH', 'critical')])
    assert actions(result) == ['wal_recovery']
    assert result[0]['findings'] == ['HEALTH', 'WAL-HEALTH']


def test_plan_memory_resources_or_drop():
    result = rem.plan([chk('MEMORY', 'critical', value=480 * 2 ** 20)])
    assert actions(result) == ['resources_increase']
    drop = rem.plan([chk('MEMORY', 'critical')], options={'memory_action': 'drop', 'drop_metrics': ['node_netstat_.*']})
    assert actions(drop) == ['drop_rules']
    assert drop[0]['params']['drop_metrics'] == ['node_netstat_.*']
    assert rem.plan([chk('MEMORY', 'warning')]) == []
    assert actions(rem.plan([chk('MEMORY', 'warning')], options={'drop_metrics': ['x_.*']})) == ['drop_rules']


def test_plan_oomkilled_resources_and_restart_merged():
    result = rem.plan([chk('POD', 'critical', value='OOMKilled', message='last termination OOMKilled')])
    assert actions(result) == ['resources_increase']


def test_plan_shards():
    result = rem.plan([chk('RW-SHARDS', 'critical', value={'desired': 14, 'max': 10})])
    assert actions(result) == ['queue_tuning']
    assert result[0]['params']['max_shards'] == 18
    text = rem.plan([chk('RW-SHARDS', 'critical', value=14, threshold=10)])
    assert text[0]['params']['max_shards'] == 18
    # what remote_write.check_shards says: the value is the ratio, the figures are in the message
    real = rem.plan([chk('RW-SHARDS', 'critical', value=1.28, threshold={'warning': 0.8, 'critical': 1.0},
                         message='thanos: desired shards 64.0 vs max 50 (128%): raise queue_config max_shards')])
    assert real[0]['params']['max_shards'] == 80 and real[0]['params']['desired_shards'] == 64.0
    ratio_only = rem.plan([chk('RW-SHARDS', 'critical', value=1.28, threshold={'warning': 0.8, 'critical': 1.0})])
    assert 'max_shards' not in ratio_only[0]['params']
    assert rem.plan([chk('RW-SHARDS', 'warning', value=9, threshold=10)]) == []


def test_plan_allowed_list():
    result = rem.plan([chk('HEALTH', 'critical'), chk('RW-SHARDS', 'critical', value={'desired': 4, 'max': 2})],
                      allowed=['queue_tuning'])
    assert [(a['action'], a['allowed']) for a in result] == [('graceful_restart', False), ('queue_tuning', True)]


def test_plan_config_failure_never_restarts():
    assert rem.plan([chk('CONFIG', 'critical', message='last reload failed')]) == []


def test_record():
    entry = rem.record({'action': 'graceful_restart', 'findings': ['HEALTH'], 'reason': 'r'}, 'done', changed=True,
                       when=NOW)
    assert entry == {'action': 'graceful_restart', 'findings': ['HEALTH'], 'reason': 'r', 'outcome': 'done',
                     'changed': True, 'detail': {}, 'at': '2026-11-24T08:00:00Z'}


# ---------------------------------------------------------------- tune_spec (agent_tune's pure part)

SPEC = {
    'remoteWrite': [{'url': 'http://receiver:19291/api/v1/receive', 'name': 'thanos',
                     'queueConfig': {'maxShards': 10, 'capacity': 2500, 'maxSamplesPerSend': 500}}],
    'resources': {'limits': {'memory': '512Mi'}, 'requests': {'memory': '256Mi', 'cpu': '100m'}},
    'scrapeInterval': '15s',
}


def test_tune_drop_and_idempotent():
    new, changes = rem.tune_spec(SPEC, {'drop_metrics': ['node_netstat_.*']})
    assert changes == ['remoteWrite[0] (thanos): drop node_netstat_.*']
    assert new['remoteWrite'][0]['writeRelabelConfigs'] == [{'sourceLabels': ['__name__'], 'regex': 'node_netstat_.*', 'action': 'drop'}]
    again, changes2 = rem.tune_spec(new, {'drop_metrics': ['node_netstat_.*']})
    assert changes2 == [] and again == new
    removed, changes3 = rem.tune_spec(new, {'drop_metrics': ['node_netstat_.*'], 'drop_state': 'absent'})
    assert 'writeRelabelConfigs' not in removed['remoteWrite'][0] and changes3
    assert SPEC['remoteWrite'][0].get('writeRelabelConfigs') is None  # input not mutated


def test_tune_refuses_protected_drop():
    with pytest.raises(rem.RemediationError) as err:
        rem.tune_spec(SPEC, {'drop_metrics': ['node_.*', 'prometheus_remote_storage_.*']})
    assert 'prometheus_' in str(err.value)


def test_tune_queue():
    new, changes = rem.tune_spec(SPEC, {'queue': {'max_shards': 18, 'capacity': None}})
    assert new['remoteWrite'][0]['queueConfig']['maxShards'] == 18
    assert changes == ['remoteWrite[0] (thanos).queueConfig: maxShards 10 -> 18']
    assert rem.tune_spec(new, {'queue': {'max_shards': 18}})[1] == []
    with pytest.raises(rem.RemediationError):
        rem.tune_spec(SPEC, {'queue': {'capacity': 100000}})


def test_tune_remote_write_selection():
    spec = {'remoteWrite': [{'url': 'http://a/write'}, {'url': 'http://b/write', 'name': 'b'}]}
    new, changes = rem.tune_spec(spec, {'queue': {'max_shards': 5}, 'remote_write': ['b']})
    assert 'queueConfig' not in new['remoteWrite'][0] and new['remoteWrite'][1]['queueConfig'] == {'maxShards': 5}
    with pytest.raises(rem.RemediationError):
        rem.tune_spec(spec, {'queue': {'max_shards': 5}, 'remote_write': ['zzz']})
    with pytest.raises(rem.RemediationError):
        rem.tune_spec({}, {'queue': {'max_shards': 5}})


def test_tune_resources_step_idempotent():
    params = {'resources_step': ['memory'], 'resources_step_from': {'memory': '512Mi'}}
    new, changes = rem.tune_spec(SPEC, params)
    assert new['resources']['limits']['memory'] == '640Mi' and new['resources']['requests']['memory'] == '320Mi'
    assert changes == ['resources.limits.memory 512Mi -> 640Mi', 'resources.requests.memory 256Mi -> 320Mi']
    assert rem.tune_spec(new, params)[1] == []


def test_tune_resources_explicit_bounded():
    new, changes = rem.tune_spec(SPEC, {'resources': {'limits': {'memory': '640Mi'}}})
    assert changes == ['resources.limits.memory 512Mi -> 640Mi']
    assert rem.tune_spec(new, {'resources': {'limits': {'memory': '640Mi'}}})[1] == []
    with pytest.raises(rem.RemediationError):
        rem.tune_spec(SPEC, {'resources': {'limits': {'memory': '4Gi'}}})


def test_tuned_parts():
    # what agent_tune sets (scrapeInterval, scrapeTimeout, walCompression since issue 18), nothing else
    assert rem.tuned_parts({'scrapeInterval': '1m', 'replicas': 2}) == {'remoteWrite': [], 'resources': {}, 'scrapeInterval': '1m'}
    assert rem.tuned_parts({'replicas': 2, 'walCompression': False}) == {'remoteWrite': [], 'resources': {}, 'walCompression': False}


def test_tune_queue_only_increase():
    spec = {'remoteWrite': [{'url': 'http://a/write', 'queueConfig': {}}]}
    # default maxShards is 50: raising to 4 would lower it
    assert rem.tune_spec(spec, {'queue': {'max_shards': 4}, 'only_increase': True})[1] == []
    new, changes = rem.tune_spec(spec, {'queue': {'max_shards': 60}, 'only_increase': True})
    assert new['remoteWrite'][0]['queueConfig'] == {'maxShards': 60} and changes


RUNBOOK_QUEUE = {'capacity': 20000, 'max_samples_per_send': 10000, 'max_shards': 50, 'min_backoff': '30ms', 'max_backoff': '5s'}


def test_runbook_queue_is_refused_unless_its_guardrail_is_named():
    spec = {'remoteWrite': [{'url': 'http://a/write'}]}
    with pytest.raises(rem.RemediationError, match='capacity 20000 must be 3-10x maxSamplesPerSend 10000'):
        rem.tune_spec(spec, {'queue': RUNBOOK_QUEUE})
    # naming another guardrail does not let it through
    with pytest.raises(rem.RemediationError, match='capacity 20000'):
        rem.tune_spec(spec, {'queue': RUNBOOK_QUEUE, 'override_guardrails': ['max_shards_cap']})
    overridden = []
    new, changes = rem.tune_spec(spec, {'queue': RUNBOOK_QUEUE, 'override_guardrails': ['capacity_bounds']}, overridden=overridden)
    assert new['remoteWrite'][0]['queueConfig'] == {'capacity': 20000, 'maxSamplesPerSend': 10000, 'maxShards': 50,
                                                    'minBackoff': '30ms', 'maxBackoff': '5s'}
    assert overridden == ['capacity_bounds: capacity 20000 must be 3-10x maxSamplesPerSend 10000, i.e. 30000-100000']
    assert 'maxBackoff default -> 5s' in changes[0] and 'minBackoff default -> 30ms' in changes[0]
    # a bound that is not a guardrail stays: minShards above maxShards
    with pytest.raises(rem.RemediationError, match='minShards 60'):
        rem.tune_spec(spec, {'queue': dict(RUNBOOK_QUEUE, min_shards=60), 'override_guardrails': list(rem.GUARDRAILS)})


def test_runbook_drop_rule_scoped_to_a_job():
    spec = {'remoteWrite': [{'url': 'http://a/write'}]}
    with pytest.raises(rem.RemediationError, match="refusing to drop 'go_gc_.\\*|go_memstats_.\\*' of job node"):
        rem.tune_spec(spec, {'drop_metrics': ['go_gc_.*|go_memstats_.*'], 'drop_job': 'node'})
    overridden = []
    params = {'drop_metrics': ['go_gc_.*|go_memstats_.*'], 'drop_job': 'node', 'override_guardrails': ['protected_metrics']}
    new, changes = rem.tune_spec(spec, params, overridden=overridden)
    rule = new['remoteWrite'][0]['writeRelabelConfigs'][0]
    assert rule == {'sourceLabels': ['job', '__name__'], 'regex': 'node;(?:go_gc_.*|go_memstats_.*)', 'action': 'drop'}
    assert changes == ['remoteWrite[0]: drop go_gc_.*|go_memstats_.* of job node'] and overridden[0].startswith('protected_metrics: ')
    # Prometheus joins the source labels with ';' and anchors the regex: only that job's series match
    compiled = re.compile('^(?:%s)$' % rule['regex'])
    assert compiled.match('node;go_gc_duration_seconds') and not compiled.match('prometheus-agent;go_gc_duration_seconds')
    assert not compiled.match('node;node_cpu_seconds_total')
    # idempotent, and removed by the same options with drop_state absent
    assert rem.tune_spec(new, params)[1] == []
    gone, _changes = rem.tune_spec(new, dict(params, drop_state='absent'))
    assert 'writeRelabelConfigs' not in gone['remoteWrite'][0]
    # a job-scoped rule for ordinary names needs no override
    assert rem.tune_spec(spec, {'drop_metrics': ['node_softnet_.*'], 'drop_job': 'node'})[1]


def test_scrape_interval_timeout_and_wal_compression():
    spec = {'remoteWrite': [{'url': 'http://a/write'}], 'scrapeInterval': '30s'}
    new, changes = rem.tune_spec(spec, {'scrape_interval': '1m', 'scrape_timeout': '20s', 'wal_compression': False})
    assert (new['scrapeInterval'], new['scrapeTimeout'], new['walCompression']) == ('1m', '20s', False)
    assert changes == ['scrapeInterval 30s -> 1m', 'scrapeTimeout default -> 20s', 'walCompression default -> False']
    assert rem.tune_spec(new, {'scrape_interval': '1m', 'wal_compression': False})[1] == []
    with pytest.raises(rem.RemediationError, match='scrapeTimeout 40s is above scrapeInterval 30s'):
        rem.tune_spec(spec, {'scrape_timeout': '40s'})
    with pytest.raises(rem.RemediationError, match='scrapeTimeout 10s is above scrapeInterval 5s'):
        rem.tune_spec(spec, {'scrape_interval': '5s'})      # the default timeout is 10s
    with pytest.raises(rem.RemediationError, match='not a duration'):
        rem.tune_spec(spec, {'scrape_interval': 'soon'})
    with pytest.raises(rem.RemediationError, match='needs a unit'):
        rem.tune_spec(spec, {'scrape_interval': '90'})


def test_explicit_resources_guardrails_by_name():
    spec = {'resources': {'limits': {'memory': '512Mi'}}}
    with pytest.raises(rem.RemediationError, match='more than \\+25% in one step'):
        rem.tune_spec(spec, {'resources': {'limits': {'memory': '1Gi'}}})
    overridden = []
    params = {'resources': {'limits': {'memory': '1Gi'}}, 'override_guardrails': ['resources_step']}
    new, _changes = rem.tune_spec(spec, params, overridden=overridden)
    assert new['resources']['limits']['memory'] == '1Gi' and overridden[0].startswith('resources_step: limits.memory 512Mi -> 1Gi')
    with pytest.raises(rem.RemediationError, match='above the cap 2Gi'):
        rem.tune_spec(spec, {'resources': {'limits': {'memory': '3Gi'}}, 'override_guardrails': ['resources_step']})
    new, _changes = rem.tune_spec(spec, {'resources': {'limits': {'memory': '3Gi'}}, 'override_guardrails': ['resources_step', 'resources_cap']})
    assert new['resources']['limits']['memory'] == '3Gi'
