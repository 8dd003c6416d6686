# -*- coding: utf-8 -*-
# Copyright: fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restart guardrail on a live agent: read remote write twice, then decide.

The figures are those the RW-* checks read (``prometheus/remote_write``: the one metrics parser,
the delivered samples, the lag), so a refusal never contradicts RW-LAG or RW-SUCCESS of the same
report. The decision is ``policy.restart_guard``; the lag bound defaults to the catalog's
(``core/checks.RESTART_LIMITS``, RW-LAG critical).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.checks import RESTART_LIMITS
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.http import HttpClient
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import remote_write
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import policy


def with_limits(params):
    """A copy of ``params`` with the catalog's restart limits (``RESTART_LIMITS``) where none is given."""
    merged = dict(params)
    for key, value in RESTART_LIMITS.items():
        if merged.get(key) is None:
            merged[key] = value
    return merged


def read_reading(target, clock=time.time):
    """One remote_write reading of the agent's /metrics, or None when it cannot be read."""
    try:
        return remote_write.read_target(target, clock)
    except FleetopsError:
        return None


def window_figures(target, interval, sleep=time.sleep, clock=time.time):
    """(queues, first reading): the remote_write queue figures over ``interval`` seconds.

    ``queues`` is None when /metrics could not be read (either time)."""
    first = read_reading(target, clock)
    if first is None:
        return None, None
    sleep(max(interval, 0))
    second = read_reading(target, clock)
    if second is None:
        return None, first
    queues, _window = remote_write.queue_figures(second, first)
    return queues, first


def probe_receiver(url, timeout=5.0, validate_certs=True):
    """``(ok, detail)``: does the remote-write receiver at ``url`` answer (any answer below 500)?"""
    try:
        with HttpClient(url, timeout=timeout, validate_certs=validate_certs, what='receiver').get(stream=True) as answer:
            return answer.status < 500, 'HTTP %s' % answer.status
    except FleetopsError as exc:
        return False, str(exc)


def restart_guard(target, params, remote_write_urls=None, sleep=time.sleep, clock=time.time, probe=probe_receiver):
    """Read remote write twice (``rw_interval`` apart) and decide whether a restart may go ahead.

    Returns ``policy.restart_guard``'s dict plus ``queues`` (the figures), ``receiver_probe`` and
    ``metrics_readable``. When the metrics cannot tell (the agent does not answer, or a queue sent
    no byte in the window) the receiver URLs are probed too; one that does not answer refuses.
    """
    queues, first = window_figures(target, params.get('rw_interval', 5), sleep, clock)
    readable = queues is not None
    queues = queues or []
    probes = []
    extra = []
    ambiguous = any((q.get('bytes_per_second') or 0) <= 0 for q in queues)
    if (not readable or ambiguous) and remote_write_urls:
        readable = True
        for url in remote_write_urls:
            ok, detail = probe(url, timeout=params.get('timeout') or 5.0, validate_certs=params.get('validate_certs', True))
            probes.append({'url': url, 'ok': ok, 'detail': detail})
            if not ok:
                extra.append('the receiver %s does not answer (%s)' % (url, detail))
    guard = policy.restart_guard(queues, force=params.get('force', False), max_lag_seconds=params.get('max_lag_seconds'),
                                 max_pending_samples=params.get('max_pending_samples'), readable=readable)
    if extra:
        guard['reasons'] = guard['reasons'] + extra
        guard['allowed'] = bool(params.get('force'))
        guard['overridden'] = bool(params.get('force'))
    guard.update(queues=queues, receiver_probe=probes, metrics_readable=first is not None)
    return guard


def wait_sending(target, timeout, max_lag_seconds=None, poll=3.0, sleep=time.sleep, clock=time.time):
    """After a restart, wait until remote write flows again (``policy.sending_again`` over ``poll`` s).

    Returns ``{'ok', 'reasons', 'queues', 'samples_delta', 'bytes_delta', 'lag_seconds'}`` (the
    samples delivered and the bytes sent in the last window).
    """
    start = clock()
    first = read_reading(target, clock)
    reasons = ['/metrics unreadable']
    while True:
        sleep(poll)
        second = read_reading(target, clock)
        if first is None:
            first = second
            continue
        if second is None:
            reasons = ['/metrics unreadable']
        else:
            queues, _window = remote_write.queue_figures(second, first)
            if not queues:
                return {'ok': True, 'reasons': [], 'queues': 0, 'samples_delta': 0, 'bytes_delta': 0, 'lag_seconds': None}
            totals = policy.window_totals(queues)
            ok, reasons = policy.sending_again(totals, max_lag_seconds=max_lag_seconds)
            result = {'ok': ok, 'reasons': reasons, 'queues': len(queues), 'samples_delta': totals['delivered'],
                      'bytes_delta': totals['bytes'], 'lag_seconds': totals['lag_seconds']}
            if ok:
                return result
            first = second
        if clock() - start > timeout:
            return {'ok': False, 'reasons': reasons}
