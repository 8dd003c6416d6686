"""WAL checks of every pod rolled up: the worst of the pods, the bad pods named, the others not."""

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.checks import make
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal.reader import rollup_checks


def _pod(name, health_status, message):
    return {'name': name, 'checks': [make('WAL-SIZE', 'ok', 100, None, 'WAL 100 B'),
                                     make('WAL-HEALTH', health_status, 0, None, message)]}


def test_one_corrupt_pod_is_named_alone():
    entries = [_pod('agent-0', 'ok', 'sane'), _pod('agent-1', 'critical', '1 corrupt record'),
               _pod('agent-shard-1-0', 'ok', 'sane')]
    size, health = rollup_checks(entries)
    assert size['status'] == 'ok' and size['message'] == 'WAL 100 B (3 pods)'
    assert health['status'] == 'critical'
    assert health['message'] == '1 of 3 pods: agent-1: 1 corrupt record'
    assert 'agent-0' not in health['message'] and 'agent-shard-1-0' not in health['message']


def test_worst_status_wins():
    entries = [_pod('a', 'warning', 'w'), _pod('b', 'critical', 'c'), _pod('c', 'unknown', 'u')]
    health = rollup_checks(entries)[1]
    assert health['status'] == 'critical'
    assert health['message'].startswith('3 of 3 pods: a: w; b: c; c: u')
