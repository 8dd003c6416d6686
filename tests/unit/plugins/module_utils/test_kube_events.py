"""The Warning-event summariser: both APIs, the window, merging, the objects filter, scrubbing."""

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.units import parse_time
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import events

NOW = parse_time('2026-12-04T12:00:00Z')


def _core(reason, name, last, count=1, kind='Pod', type_='Warning', message='m'):
    return {'type': type_, 'reason': reason, 'count': count, 'message': message, 'lastTimestamp': last,
            'firstTimestamp': last, 'involvedObject': {'kind': kind, 'name': name, 'namespace': 'monitoring'},
            'source': {'component': 'kubelet'}}


def _new(reason, name, observed, count):
    return {'type': 'Warning', 'reason': reason, 'note': 'Back-off restarting failed container',
            'eventTime': '2026-12-04T11:00:00.000000Z', 'series': {'count': count, 'lastObservedTime': observed},
            'regarding': {'kind': 'Pod', 'name': name}, 'reportingController': 'kubelet'}


def test_backoff_is_described_with_count_and_age():
    summary = events.summarise([_core('BackOff', 'prom-agent-x-0', '2026-12-04T11:57:00Z', count=12)], NOW)
    assert len(summary) == 1
    assert summary[0]['last_time'] == '2026-12-04T11:57:00Z' and summary[0]['age_seconds'] == 180
    assert events.describe(summary[0]) == 'BackOff x12 on prom-agent-x-0 (last 3 min ago)'


def test_normal_and_old_events_are_left_out():
    items = [_core('Started', 'a-0', '2026-12-04T11:59:00Z', type_='Normal'),
             _core('FailedMount', 'a-0', '2026-12-02T11:59:00Z'),
             _core('Unhealthy', 'a-0', 'not a time')]
    assert events.summarise(items, NOW) == []
    assert len(events.summarise(items, NOW, window_seconds=3 * 86400)) == 1


def test_events_k8s_io_series_and_merging_newest_first():
    items = [_new('BackOff', 'a-0', '2026-12-04T11:50:00.123456Z', 5),
             _core('BackOff', 'a-0', '2026-12-04T11:40:00Z', count=2),
             _core('FailedScheduling', 'a-1', '2026-12-04T11:59:30Z')]
    summary = events.summarise(items, NOW)
    assert [(s['reason'], s['object'], s['count']) for s in summary] == [('FailedScheduling', 'a-1', 1), ('BackOff', 'a-0', 7)]
    assert summary[1]['message'] == 'Back-off restarting failed container'
    assert events.describe(summary[0]) == 'FailedScheduling x1 on a-1 (last 30 s ago)'


def test_objects_filter_and_scrubbed_message():
    items = [_core('Failed', 'a-0', '2026-12-04T11:00:00Z', message='pull https://bob:hunter22@registry/x failed'),
             _core('BackOff', 'other-0', '2026-12-04T11:00:00Z')]
    summary = events.summarise(items, NOW, objects={'a-0', 'a'})
    assert [s['object'] for s in summary] == ['a-0']
    assert 'hunter22' not in summary[0]['message']
    assert events.describe(summary[0]) == 'Failed x1 on a-0 (last 1 h ago)'


def test_objects_with_uids_leave_out_an_earlier_object_of_the_same_name():
    old = _core('BackOff', 'a-0', '2026-12-04T11:50:00Z')
    old['involvedObject']['uid'] = 'uid-old'
    new = _core('Unhealthy', 'a-0', '2026-12-04T11:55:00Z')
    new['involvedObject']['uid'] = 'uid-new'
    unknown = _core('FailedMount', 'a-0', '2026-12-04T11:56:00Z')
    assert [s['reason'] for s in events.summarise([old, new, unknown], NOW, objects={'a-0': 'uid-new'})] == ['FailedMount', 'Unhealthy']
    assert len(events.summarise([old, new], NOW, objects={'a-0': None})) == 2
    assert len(events.summarise([old, new], NOW, objects=['a-0'])) == 2
