# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remote-write queues of a Prometheus agent, from its metrics (any version 2.0 .. 3.x).

Pure Python (no Ansible). The pieces:

* ``read_queues(metrics, now)`` -> a *reading*: per queue the cumulative counters (samples,
  failed, retried, dropped, bytes, enqueue retries, the batch-duration histogram) and gauges
  (pending, shards, capacity, newest timestamps), plus the WAL segment figures. A reading is
  also the ``snapshot`` a module returns and later takes back as ``baseline`` (JSON-safe).
* ``queue_figures(reading, baseline)`` -> the ``queues`` list of the module: rates over the
  window between baseline and reading, success ratio, latency, lag, segments behind.
* ``rw_checks(queues, thresholds)`` -> RW-SUCCESS, RW-RETRY, RW-LAG, RW-PENDING, RW-SHARDS,
  RW-LATENCY (one check per id: the worst queue's).
* ``query_reading(client, ...)`` the same reading from a central Prometheus / Thanos Query over a
  window, through ``core.http.QueryClient``.

Counter semantics (Prometheus' own, from 2.0 to 3.x): since 2.23 ``samples_total`` counts
every send *attempt* (retries included) and ``samples_retried_total`` every retried attempt, so
the samples that reached the receiver are ``samples - retried - failed``; before 2.23
``succeeded_samples_total`` counted the delivered samples. ``samples_per_second`` and the
success ratio use the *delivered* samples: during a receiver outage (retries rising, bytes
flat, ``failed`` still 0) nothing is delivered, and the success ratio is 0, never "100%".

Without a baseline (and no ``interval``), rates and the success ratio over a window cannot be
had: RW-SUCCESS and RW-RETRY are ``unknown`` (saying so; the ratio since the agent's start is
in the message and in each queue's ``since_start``); lag, pending, shards and latency (the
cumulative histogram) are still evaluated.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import re
import time

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import checks as _checks
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import workloads as kube_workloads
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import exposition
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError, MissingLibrary
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.units import number, span_text, whole

PREFIX = 'prometheus_remote_storage_'
SNAPSHOT_VERSION = 1

# counters: our name -> metric names, newest first (the names changed in 2.15, 2.23 and 3.0)
COUNTERS = (
    ('samples', ('samples_total',)),                      # 2.23+: attempts, retries included
    ('succeeded', ('succeeded_samples_total',)),          # 2.0-2.22: delivered
    ('failed', ('samples_failed_total', 'failed_samples_total')),
    ('retried', ('samples_retried_total', 'retried_samples_total')),
    ('dropped', ('samples_dropped_total', 'dropped_samples_total')),
    ('bytes', ('bytes_total', 'sent_bytes_total', 'samples_bytes_total')),
    ('enqueue_retries', ('enqueue_retries_total',)),
    # what the receiver refused for good besides float samples (native histograms, exemplars,
    # metadata: the families Remote Write 2.0 sends in the same requests)
    ('histograms_failed', ('histograms_failed_total',)),
    ('exemplars_failed', ('exemplars_failed_total',)),
    ('metadata_failed', ('metadata_failed_total',)),
)
# samples_dropped_total's ``reason`` (2.50+): a series dropped by write_relabel_configs is meant;
# every other reason (too_old: older than the queue's sample_age_limit, unintentionally_dropped_series:
# a series the queue does not know) is data lost on the way. Before 2.50 there is no reason.
DROPPED_BY_RELABEL = 'dropped_series'
OTHER_FAILED = ('histograms_failed', 'exemplars_failed', 'metadata_failed')
ABSENT_IS_ZERO = ('dropped', 'dropped_error', 'dropped_relabel')
COUNTER_FIELDS = tuple(field for field, _names in COUNTERS)
GAUGES = (
    ('pending', ('samples_pending', 'pending_samples')),
    ('queue_length', ('queue_length',)),                  # gone by 2.10
    ('shards', ('shards',)),
    ('shards_min', ('shards_min',)),
    ('shards_max', ('shards_max',)),
    ('shards_desired', ('shards_desired',)),
    ('capacity', ('shard_capacity', 'queue_capacity')),
    ('max_samples_per_send', ('max_samples_per_send',)),
    ('highest_sent', ('queue_highest_sent_timestamp_seconds',)),
    ('highest_queued', ('queue_highest_timestamp_seconds',)),  # 3.7+
)
LATENCY = 'sent_batch_duration_seconds'
HIGHEST_GLOBAL = PREFIX + 'highest_timestamp_in_seconds'
WAL_SEGMENT = 'prometheus_tsdb_wal_segment_current'
WATCHER_SEGMENT = 'prometheus_wal_watcher_current_segment'
START_TIME = 'process_start_time_seconds'

RW_CHECK_IDS = ('RW-SUCCESS', 'RW-RETRY', 'RW-LAG', 'RW-PENDING', 'RW-SHARDS', 'RW-LATENCY', 'RW-DROPPED')
RESTART_NOTE = 'the agent restarted between the readings: counters counted from 0'
NO_BASELINE = ('no baseline: rates need two readings; pass baseline (the snapshot of an earlier call) or interval')

_OLD_QUEUE = re.compile(r'^\d+:(.+)$')


# ----------------------------------------------------------------------------- small helpers

def _round(value, digits=6):
    return None if value is None else round(value, digits)


def _le(text):
    """A histogram bucket bound (``+Inf`` included) as a float, None when junk."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def queue_identity(labels):
    """(key, remote_name, url) of a queue from a sample's labels, None when it has none.

    2.15+ labels are ``remote_name`` and ``url``; older versions have ``queue`` (``<index>:<url>``
    in the versions that named queues by their client).
    """
    name = labels.get('remote_name')
    url = labels.get('url')
    if name is not None or url is not None:
        return '%s|%s' % (name or '', url or ''), name or url, url
    queue = labels.get('queue')
    if queue is not None:
        match = _OLD_QUEUE.match(queue)
        return 'queue=%s' % queue, queue, match.group(1) if match else None
    return None


def prom_duration(seconds):
    """Seconds as a PromQL duration (whole seconds)."""
    return '%ds' % max(1, int(round(seconds)))


# ----------------------------------------------------------------------------- one reading

def _new_queue(name, url):
    return {'remote_name': name, 'url': url, 'counters': {}, 'gauges': {}, 'latency': None}


def _queue_of(queues, labels):
    """The queue (of ``queues``, by identity) a sample's labels name, made when new; None when none."""
    ident = queue_identity(labels)
    if ident is None:
        return None
    key, name, url = ident
    if key not in queues:
        queues[key] = _new_queue(name, url)
    return queues[key]


def _latency_of(queue):
    if queue['latency'] is None:
        queue['latency'] = {'sum': None, 'count': None, 'buckets': {}}
    return queue['latency']


def read_queues(metrics, now):
    """A reading (JSON-safe dict) of every remote-write queue on a parsed metrics page.

    ``now``: the epoch seconds of the reading (the module's clock).
    """
    queues = {}

    for field, names in COUNTERS + GAUGES:
        is_counter = field in COUNTER_FIELDS
        for name in names:
            samples = metrics.samples(PREFIX + name)
            if not samples:
                continue
            for labels, value in samples:
                queue = _queue_of(queues, labels)
                value = number(value)
                if queue is None or value is None:
                    continue
                bucket = queue['counters'] if is_counter else queue['gauges']
                if field == 'dropped' and labels.get('reason') is not None:
                    why = 'dropped_relabel' if labels['reason'] == DROPPED_BY_RELABEL else 'dropped_error'
                    bucket[why] = bucket.get(why, 0.0) + value
                if field in bucket:
                    # several series of one queue (``reason`` of samples_dropped_total since 2.50)
                    bucket[field] = bucket[field] + value if is_counter else max(bucket[field], value)
                else:
                    bucket[field] = value
            break   # the newest name present wins; older names of the same figure are ignored

    for labels, value in metrics.samples(PREFIX + LATENCY + '_bucket'):
        queue = _queue_of(queues, labels)
        le = labels.get('le')
        value = number(value)
        if queue is None or le is None or value is None or _le(le) is None:
            continue
        buckets = _latency_of(queue)['buckets']
        buckets[le] = buckets.get(le, 0.0) + value
    for suffix in ('sum', 'count'):
        for labels, value in metrics.samples(PREFIX + LATENCY + '_' + suffix):
            queue = _queue_of(queues, labels)
            value = number(value)
            if queue is not None and value is not None:
                _latency_of(queue)[suffix] = value

    watcher = {}
    for labels, value in metrics.samples(WATCHER_SEGMENT):
        value = number(value)
        if value is not None and labels.get('consumer') is not None:
            watcher[labels['consumer']] = value
    highest = None
    for _labels, value in metrics.samples(HIGHEST_GLOBAL):
        value = number(value)
        if value is not None:
            highest = value if highest is None else max(highest, value)

    return {
        'version': SNAPSHOT_VERSION,
        'time': now,
        'source': 'metrics',
        'start_time': number(metrics.value(START_TIME)),
        'highest_timestamp': highest,
        'wal_segment': number(metrics.value(WAL_SEGMENT)),
        'watcher_segments': watcher,
        'queues': queues,
    }


def as_reading(baseline):
    """A reading from what a user passes as ``baseline``: a snapshot, or a whole module result."""
    if not baseline:
        return None
    if isinstance(baseline, str):
        try:
            baseline = json.loads(baseline)
        except ValueError:
            raise ValueError('baseline is not a snapshot (not JSON)')
    if not isinstance(baseline, dict):
        raise ValueError('baseline must be the snapshot of an earlier remote_write_stats call (a dict)')
    if isinstance(baseline.get('snapshot'), dict) and not isinstance(baseline.get('queues'), dict) \
            and not isinstance(baseline.get('pods'), dict):
        baseline = baseline['snapshot']     # a whole result (its queues and pods are lists)
    if isinstance(baseline.get('pods'), dict) and number(baseline.get('time')) is not None:
        for name, one in baseline['pods'].items():      # an agent of several pods: a reading per pod
            if not isinstance(one, dict) or not isinstance(one.get('queues'), dict) or number(one.get('time')) is None:
                raise ValueError('baseline: the reading of pod %s has no time and queues' % name)
        return baseline
    if not isinstance(baseline.get('queues'), dict) or number(baseline.get('time')) is None:
        raise ValueError('baseline must be the snapshot of an earlier remote_write_stats call (with time and queues)')
    return baseline


# ----------------------------------------------------------------------------- figures

def _delta(cur, base, reset):
    """Counter increase; a counter that went down (restart) counts from 0, like rate()."""
    if cur is None or base is None:
        return None
    if reset or cur < base:
        return cur
    return cur - base


def delivered_of(counters):
    """(delivered, attempted) samples of cumulative counters or of increases; None when unknown."""
    samples = counters.get('samples')
    failed = counters.get('failed') or 0.0
    retried = counters.get('retried') or 0.0
    if samples is not None:
        return max(0.0, samples - retried - failed), samples
    succeeded = counters.get('succeeded')
    if succeeded is not None:
        return succeeded, succeeded + retried + failed
    return None, None


def success_ratio(delivered, failed, retried):
    """1 - failed/(delivered+failed); 0.0 when samples were only retried (nothing delivered)."""
    if delivered is None:
        return None
    failed = failed or 0.0
    if delivered + failed > 0:
        return delivered / (delivered + failed)
    if retried:
        return 0.0
    return None


def histogram_quantile(q, buckets):
    """Prometheus's histogram_quantile over {le: cumulative count} (le as text or float)."""
    pairs = []
    for le, count in (buckets or {}).items():
        bound = _le(le)
        count = number(count)
        if bound is None or count is None:
            continue
        pairs.append((bound, count))
    pairs.sort()
    if len(pairs) < 2 or not math.isinf(pairs[-1][0]):
        return None
    fixed = []
    high = 0.0
    for bound, count in pairs:     # monotonic, as Prometheus enforces
        high = max(high, count)
        fixed.append((bound, high))
    total = fixed[-1][1]
    if total <= 0:
        return None
    rank = q * total
    for i, (bound, count) in enumerate(fixed):
        if count >= rank:
            if math.isinf(bound):
                return fixed[-2][0]
            if i == 0 and bound <= 0:
                return bound
            lower = 0.0 if i == 0 else fixed[i - 1][0]
            below = 0.0 if i == 0 else fixed[i - 1][1]
            inside = count - below
            if inside <= 0:
                return bound
            return lower + (bound - lower) * (rank - below) / inside
    return fixed[-2][0]  # pragma: no cover


def _latency(cur, base, reset):
    """(p99, avg, basis) of the batch-duration histogram over the window (or cumulative)."""
    if not cur or not cur.get('buckets'):
        return None, None, None
    if base and base.get('buckets') is not None:
        went_down = reset or any(number(cur['buckets'].get(le)) is not None and number(v) is not None
                                 and cur['buckets'][le] < v for le, v in base['buckets'].items())
        if went_down:
            buckets = dict(cur['buckets'])
            count, total = cur.get('count'), cur.get('sum')
        else:
            buckets = dict((le, v - (base['buckets'].get(le) or 0.0)) for le, v in cur['buckets'].items())
            count = _delta(cur.get('count'), base.get('count'), False)
            total = _delta(cur.get('sum'), base.get('sum'), False)
        basis = 'window'
    else:
        buckets = cur['buckets']
        count, total = cur.get('count'), cur.get('sum')
        basis = 'since_start'
    p99 = histogram_quantile(0.99, buckets)
    avg = (total / count) if (count and total is not None) else None
    return p99, avg, basis


def _window_of(reading, baseline):
    """(window seconds or None, counters reset between the readings)."""
    if reading.get('source') == 'query':
        return number(reading.get('window_seconds')), False
    if baseline is None:
        return None, False
    now, then = number(reading.get('time')), number(baseline.get('time'))
    if now is None or then is None or now - then <= 0:
        return None, False
    start, base_start = number(reading.get('start_time')), number(baseline.get('start_time'))
    reset = start is not None and base_start is not None and abs(start - base_start) > 1
    return now - then, reset


def _lag(reading, gauges, notes):
    newest = gauges.get('highest_queued')
    if newest is None:
        newest = number(reading.get('highest_timestamp'))
    sent = gauges.get('highest_sent')
    if newest is None or newest <= 0:
        return None
    if sent is not None and sent > 0:
        return _round(max(0.0, newest - sent), 3)
    if number(reading.get('start_time')) is not None:
        notes.append('nothing sent since the agent started: lag counted from its start')
        return _round(max(0.0, newest - reading['start_time']), 3)
    notes.append('nothing sent yet and no start time: lag unknown')
    return None


def _queue_order(reading):
    queues = reading.get('queues') or {}
    return sorted(queues, key=lambda k: (queues[k].get('remote_name') or '', k))


def queue_figures(reading, baseline=None):
    """The ``queues`` of the module (list of dicts, by remote_name) and the window in seconds."""
    window, reset = _window_of(reading, baseline)
    base_queues = (baseline or {}).get('queues') or {} if window else {}
    query = reading.get('source') == 'query'
    out = []
    for key in _queue_order(reading):
        cur = reading['queues'][key]
        cc = cur.get('counters') or {}
        g = cur.get('gauges') or {}
        base = base_queues.get(key)
        notes = []
        deltas = None
        if query:
            deltas = dict(cc) if window else None
        elif window and base is not None:
            bc = base.get('counters') or {}
            # a counter with a reason label has no series until its first drop: absent before is 0
            deltas = dict((k, _delta(v, bc.get(k, 0.0 if k in ABSENT_IS_ZERO else None), reset)) for k, v in cc.items())
            if reset:
                notes.append(RESTART_NOTE)
        elif window:
            notes.append('the queue was not in the baseline: no rates until the next reading')
        pending = g.get('pending') if g.get('pending') is not None else g.get('queue_length')
        q = {
            'remote_name': cur.get('remote_name'),
            'url': cur.get('url'),
            'samples_per_second': None,
            'attempted_per_second': None,
            'failed_per_second': None,
            'retried_per_second': None,
            'dropped_per_second': None,
            'dropped_error_per_second': None,
            'dropped_relabel_per_second': None,
            'histograms_failed_per_second': None,
            'exemplars_failed_per_second': None,
            'metadata_failed_per_second': None,
            'bytes_per_second': None,
            'enqueue_retries_per_second': None,
            'success_ratio': None,
            'pending_samples': whole(pending),
            'shards': {'current': whole(g.get('shards')), 'min': whole(g.get('shards_min')), 'max': whole(g.get('shards_max')),
                       'desired': _round(g.get('shards_desired'), 4)},
            'capacity': whole(g.get('capacity')),
            'max_samples_per_send': whole(g.get('max_samples_per_send')),
            'send_latency_seconds': {'p99': None, 'avg': None, 'basis': None},
            'lag_seconds': None,
            'segments_behind': None,
            'window_seconds': _round(window, 3) if deltas is not None else None,
        }
        if deltas is not None:
            delivered, attempted = delivered_of(deltas)
            if delivered and deltas.get('retried') and deltas.get('bytes') == 0:
                # retries and not one byte sent: attempts not yet counted as retried were in flight
                delivered = 0.0
            for name in ('failed', 'retried', 'dropped', 'dropped_error', 'dropped_relabel', 'bytes', 'enqueue_retries') + OTHER_FAILED:
                if deltas.get(name) is not None:
                    q[name + '_per_second'] = _round(deltas[name] / window)
            if delivered is not None:
                q['samples_per_second'] = _round(delivered / window)
                q['attempted_per_second'] = _round(attempted / window)
            q['success_ratio'] = _round(success_ratio(delivered, deltas.get('failed'), deltas.get('retried')))
            q['window'] = {'delivered': whole(delivered), 'attempted': whole(attempted), 'failed': whole(deltas.get('failed')),
                           'retried': whole(deltas.get('retried')), 'bytes': whole(deltas.get('bytes')),
                           'dropped': whole(deltas.get('dropped')), 'dropped_error': whole(deltas.get('dropped_error'))}
        if not query:
            delivered_total, attempted_total = delivered_of(cc)
            if delivered_total is not None:
                q['since_start'] = {
                    'delivered': whole(delivered_total), 'attempted': whole(attempted_total), 'failed': whole(cc.get('failed')),
                    'retried': whole(cc.get('retried')), 'dropped': whole(cc.get('dropped')), 'bytes': whole(cc.get('bytes')),
                    'dropped_error': whole(cc.get('dropped_error')), 'dropped_relabel': whole(cc.get('dropped_relabel')),
                    'histograms_failed': whole(cc.get('histograms_failed')), 'exemplars_failed': whole(cc.get('exemplars_failed')),
                    'metadata_failed': whole(cc.get('metadata_failed')),
                    'success_ratio': _round(success_ratio(delivered_total, cc.get('failed'), cc.get('retried'))),
                }
        p99, avg, basis = _latency(cur.get('latency'), (base or {}).get('latency') if deltas is not None else None, reset)
        if query and basis:
            basis = 'window'
        elif basis == 'window' and p99 is None and avg is None and not (deltas or {}).get('retried'):
            # no batch went out in a short quiet window (batches leave every few seconds): the figures since start
            p99, avg, basis = _latency(cur.get('latency'), None, False)
        q['send_latency_seconds'] = {'p99': _round(p99), 'avg': _round(avg), 'basis': basis}
        q['lag_seconds'] = _lag(reading, g, notes)
        wal_seg = number(reading.get('wal_segment'))
        watch = number((reading.get('watcher_segments') or {}).get(cur.get('remote_name')))
        if wal_seg is not None and watch is not None:
            q['segments_behind'] = int(max(0, wal_seg - watch))
        if notes:
            q['notes'] = notes
        out.append(q)
    return out, window


# ----------------------------------------------------------------------------- checks

def thresholds(user=None):
    """checks.py's defaults with the user's over them."""
    return _checks.merge_thresholds(user or {})


def _named(queue, many):
    return ('queue %s: ' % queue.get('remote_name')) if many else ''


def _pct(ratio):
    return '%.3f%%' % (ratio * 100) if ratio is not None else '?'


def _rate_reason(q, rate_reason):
    return '; '.join(n for n in q.get('notes') or [] if 'baseline' in n) or rate_reason


def _rate_text(per_second):
    """``72.7`` or ``0.0523``: a rate over a day is small and still worth reading."""
    return '%.1f' % per_second if per_second >= 1 else '%.3g' % per_second


def _span(q):
    """``the last 23.9 h`` (the window of the rates), saying so when the agent restarted in it."""
    text = 'the last %s' % span_text(q['window_seconds'])
    if RESTART_NOTE in (q.get('notes') or []):
        text += ' (the agent restarted in this window: counted from its start, what came before is not known)'
    return text


def check_success(q, th, many, rate_reason):
    thr = {'warning': th['rw_success_warning'], 'critical': th['rw_success_critical']}
    name = _named(q, many)
    ratio = q.get('success_ratio')
    win = q.get('window') or {}
    if q.get('window_seconds') is None:
        since = (q.get('since_start') or {}).get('success_ratio')
        extra = ' (since the agent started: %s)' % _pct(since) if since is not None else ''
        return _checks.unknown('RW-SUCCESS', name + _rate_reason(q, rate_reason) + extra, thr)
    span = _span(q)
    if ratio is None:
        return _checks.Check('RW-SUCCESS', 'ok', None, thr,
                             name + 'no samples were sent in %s (nothing to deliver)' % span).as_dict()
    if ratio == 0.0 and not win.get('failed'):
        return _checks.Check('RW-SUCCESS', 'critical', 0.0, thr,
                             name + 'nothing reached the receiver in %s: %d samples retried, none delivered (receiver '
                             'down or failing); fix the receiver, do not restart the agent' % (span, win.get('retried') or 0)).as_dict()
    status = _checks.level(ratio, th['rw_success_warning'], th['rw_success_critical'], above=False)
    if status == 'ok':
        msg = name + '%s of the samples delivered over %s' % (_pct(ratio), span)
    else:
        msg = name + ('%s delivered over %s, %d samples rejected for good (4xx): read the receiver\'s errors '
                      '(out of order, limits, authentication)' % (_pct(ratio), span, win.get('failed') or 0))
    return _checks.Check('RW-SUCCESS', status, ratio, thr, msg).as_dict()


def check_retry(q, th, many, rate_reason):
    limit = th['rw_retry_warning']
    thr = {'warning': 'retried samples/s > %s' % limit, 'critical': 'retried samples/s > %s and no bytes sent' % limit}
    name = _named(q, many)
    if q.get('window_seconds') is None:
        return _checks.unknown('RW-RETRY', name + _rate_reason(q, rate_reason), thr)
    span = _span(q)
    retried = q.get('retried_per_second')
    bytes_ps = q.get('bytes_per_second')
    if retried is None:
        return _checks.unknown('RW-RETRY', name + 'the agent exports no retried-samples counter (Prometheus before 2.9?)', thr)
    if retried > limit:
        if not bytes_ps:
            return _checks.Check('RW-RETRY', 'critical', retried, thr,
                                 name + '%.1f samples/s retried and no bytes sent over %s: the receiver is down or failing '
                                 '(5xx, refused); the WAL keeps the data, do not restart the agent' % (retried, span)).as_dict()
        total = (q.get('window') or {}).get('retried')
        return _checks.Check('RW-RETRY', 'warning', retried, thr,
                             name + '%s samples retried (%s/s) over %s while %.0f bytes/s still went out: the receiver failed '
                             'some requests (5xx, timeouts, an outage that ended)' % (
                                 '?' if total is None else '%d' % total, _rate_text(retried), span, bytes_ps)).as_dict()
    return _checks.Check('RW-RETRY', 'ok', retried, thr, name + 'no retries in %s' % span).as_dict()


def check_lag(q, th, many):
    seg_limit = th.get('rw_segments_behind_warning')
    thr = {'warning': th['rw_lag_warning'], 'critical': th['rw_lag_critical'], 'segments_behind_warning': seg_limit}
    name = _named(q, many)
    lag = q.get('lag_seconds')
    behind = q.get('segments_behind')
    too_far = behind is not None and seg_limit is not None and behind > seg_limit
    seg = ', %d WAL segment(s) behind' % behind if behind is not None else ''
    if lag is None:
        if too_far:
            return _checks.Check('RW-LAG', 'warning', None, thr,
                                 name + 'the remote-write WAL reader is %d segments behind the WAL' % behind).as_dict()
        return _checks.unknown('RW-LAG', name + 'the newest appended or sent timestamp is not exported: lag unknown' + seg, thr)
    status = _checks.level(lag, th['rw_lag_warning'], th['rw_lag_critical'])
    if status == 'ok' and too_far:
        status = 'warning'
    if status == 'ok':
        msg = name + 'remote write is %.0f s behind%s' % (lag, seg)
    else:
        msg = name + ('remote write is %.0f s behind%s: the receiver is slow or down, or the queue needs more shards; '
                      'never restart the agent now (unsent WAL would be lost)' % (lag, seg))
    return _checks.Check('RW-LAG', status, lag, thr, msg).as_dict()


def check_pending(q, th, many):
    thr = {'warning': th['rw_pending_warning'], 'critical': th['rw_pending_critical'], 'critical_needs_lag': True}
    name = _named(q, many)
    pending = q.get('pending_samples')
    if pending is None:
        return _checks.unknown('RW-PENDING', name + 'the agent exports no pending-samples gauge', thr)
    lag = q.get('lag_seconds') or 0
    status = _checks.level(pending, th['rw_pending_warning'], None)
    if pending > th['rw_pending_critical']:
        status = 'critical' if lag > 0 else 'warning'
    if status == 'ok':
        msg = name + '%d samples pending in the shards' % pending
    else:
        cap = ''
        if q.get('capacity') and (q.get('shards') or {}).get('current'):
            cap = ' (capacity %d x %d shard(s))' % (q['capacity'], q['shards']['current'])
        msg = name + '%d samples pending%s with %.0f s lag: sending does not keep up; look at the receiver and RW-SHARDS' % (
            pending, cap, lag)
    return _checks.Check('RW-PENDING', status, pending, thr, msg).as_dict()


def check_shards(q, th, many):
    thr = {'warning': th['rw_shards_warning'], 'critical': th['rw_shards_critical']}
    name = _named(q, many)
    sh = q.get('shards') or {}
    desired, high = sh.get('desired'), sh.get('max')
    if desired is None or not high:
        return _checks.unknown('RW-SHARDS', name + 'the agent exports no desired/max shards', thr)
    ratio = desired / high
    status = _checks.level(ratio, th['rw_shards_warning'], th['rw_shards_critical'])
    if status == 'ok':
        msg = name + 'desired shards %.2f of max %d' % (desired, high)
    else:
        msg = name + ('desired shards %.1f vs max %d (%.0f%%): raise queue_config max_shards or find why sending is slow '
                      '(receiver latency)' % (desired, high, ratio * 100))
    return _checks.Check('RW-SHARDS', status, _round(ratio, 4), thr, msg).as_dict()


def check_latency(q, th, many):
    thr = {'p99_warning': th['rw_latency_p99_warning'], 'avg_warning': th['rw_latency_avg_warning'],
           'p99_critical': th['rw_latency_p99_critical']}
    name = _named(q, many)
    lat = q.get('send_latency_seconds') or {}
    p99, avg = lat.get('p99'), lat.get('avg')
    if p99 is None and avg is None:
        why = 'no batch was sent in the window' if q.get('window_seconds') else 'the agent exports no batch-duration histogram'
        return _checks.unknown('RW-LATENCY', name + why, thr)
    status = 'ok'
    if p99 is not None and p99 > th['rw_latency_p99_critical']:
        status = 'critical'
    elif (p99 is not None and p99 > th['rw_latency_p99_warning']) or (avg is not None and avg > th['rw_latency_avg_warning']):
        status = 'warning'
    text = 'batch send latency p99 %s, avg %s%s' % (
        '%.3fs' % p99 if p99 is not None else '?', '%.3fs' % avg if avg is not None else '?',
        ' since the agent started' if lat.get('basis') == 'since_start' else
        (' over %s' % _span(q) if q.get('window_seconds') else ''))
    if status != 'ok':
        text += ': the receiver answers slowly; check its load and the network'
    return _checks.Check('RW-LATENCY', status, {'p99': p99, 'avg': avg}, thr, name + text).as_dict()


def check_dropped(q, th, many):
    """RW-DROPPED: samples that never left for the receiver, by why. Dropped by write_relabel_configs
    is what the configuration asks for (ok, counted); dropped on error (too old, a series the queue
    does not know) and native histograms, exemplars or metadata that the receiver refused for good
    are data lost: a warning above ``rw_dropped_warning`` per second (any, by default)."""
    limit = th['rw_dropped_warning']
    thr = {'warning': 'samples dropped on error, or histograms/exemplars/metadata refused, per second > %s' % limit}
    name = _named(q, many)
    # (a counter with a ``reason`` label has no series until the first drop: absent is none dropped)
    windowed = q.get('window_seconds') is not None
    if windowed:
        figures = dict((k, q.get(k + '_per_second')) for k in ('dropped', 'dropped_error', 'dropped_relabel') + OTHER_FAILED)
        span = 'over %s' % _span(q)
    else:
        since = q.get('since_start')
        if since is None:
            return _checks.unknown('RW-DROPPED', name + 'the agent exports no remote-write sample counters', thr)
        figures = dict((k, since.get(k)) for k in ('dropped', 'dropped_error', 'dropped_relabel') + OTHER_FAILED)
        span = 'since the agent started (no window yet: counts, not rates)'
    unit = '/s' if windowed else ''

    def text(value):
        return (_rate_text(value) if windowed else '%d' % value) + unit

    refused = [(k.split('_', maxsplit=1)[0], figures[k]) for k in OTHER_FAILED if figures.get(k)]
    lost = figures.get('dropped_error')
    value = {'dropped': figures.get('dropped'), 'dropped_error': lost, 'refused': dict(refused) or None,
             'basis': 'window' if windowed else 'since_start'}
    problems = []
    if lost is not None and lost > limit:
        problems.append('%s samples dropped on error (too old for the queue\'s sample_age_limit, or a series the queue does '
                        'not know): they never reach the receiver' % text(lost))
    over = [(kind, n) for kind, n in refused if n > limit]
    if over:
        problems.append('the receiver refused %s for good (4xx): it does not take them (native histograms, exemplars or '
                        'metadata need a receiver that accepts them, e.g. Remote Write 2.0)' % ', '.join(
                            '%s %s' % (kind, text(n)) for kind, n in over))
    if problems:
        return _checks.Check('RW-DROPPED', 'warning', value, thr, name + '; '.join(problems) + ' (%s)' % span).as_dict()
    dropped = figures.get('dropped') or 0
    if not dropped:
        return _checks.Check('RW-DROPPED', 'ok', value, thr, name + 'no sample dropped before sending ' + span).as_dict()
    if figures.get('dropped_relabel') is not None:
        why = 'by write_relabel_configs, as configured'
    else:
        why = ('before sending (this Prometheus does not say why: write_relabel_configs drops are meant; the agent logs '
               '"Dropped sample for series that was not explicitly dropped" for the others)')
    return _checks.Check('RW-DROPPED', 'ok', value, thr, name + '%s samples dropped %s %s' % (text(dropped), why, span)).as_dict()


def rw_checks(queues, th=None, rate_reason=NO_BASELINE):
    """One check per RW id: the worst queue's (ties: the first queue)."""
    th = th or thresholds()
    if not queues:
        out = [_checks.unknown(cid, 'no remote-write queue in the agent\'s metrics: remote_write is not configured or the '
                                    'agent has just started') for cid in RW_CHECK_IDS]
        out[2] = _checks.Check('RW-LAG', 'critical', None, None,
                               'the agent has no remote-write queue: its samples go nowhere; check remote_write in its '
                               'configuration').as_dict()
        return out
    many = len(queues) > 1
    per_id = {}
    for q in queues:
        for chk in (check_success(q, th, many, rate_reason), check_retry(q, th, many, rate_reason), check_lag(q, th, many),
                    check_pending(q, th, many), check_shards(q, th, many), check_latency(q, th, many),
                    check_dropped(q, th, many)):
            have = per_id.get(chk['id'])
            if have is None or _checks.STATUS_ORDER[chk['status']] > _checks.STATUS_ORDER[have['status']]:
                per_id[chk['id']] = chk
    return [per_id[cid] for cid in RW_CHECK_IDS]


def unknown_checks(reason):
    """Every RW check ``unknown`` for one reason (the agent could not be read)."""
    return [_checks.unknown(cid, reason) for cid in RW_CHECK_IDS]


# ----------------------------------------------------------------------------- the central query API

def selector(cluster_label, cluster, extra=None):
    """Label matchers (without braces) for one cluster's series in the central store."""
    parts = []
    if cluster is not None:
        parts.append('%s="%s"' % (cluster_label, str(cluster).replace('\\', '\\\\').replace('"', '\\"')))
    if extra:
        parts.append(extra.strip().strip('{}').strip())
    return ','.join(p for p in parts if p)


def query_reading(client, window_seconds, cluster=None, cluster_label='cluster', extra_selector=None, now=None):
    """A reading whose counters are increases over the window, read from the central query API
    (the series of one cluster, or of ``extra_selector``, summed into one reading)."""
    return _query_readings(client, window_seconds, selector(cluster_label, cluster, extra_selector), None, now).get(
        None, _query_reading({}, window_seconds, now))


def query_readings(client, window_seconds, cluster_label='cluster', extra_selector=None, now=None):
    """{value of ``cluster_label``: reading} of every cluster whose remote-write series match
    ``extra_selector`` and carry the label: the same queries as ``query_reading``, each asked once
    for the whole fleet (``by`` the label), so 500 clusters cost the queries of one."""
    sel = selector(cluster_label, None, ','.join(p for p in ('%s!=""' % cluster_label, (extra_selector or '').strip().strip('{}')) if p))
    return _query_readings(client, window_seconds, sel, cluster_label, now)


def _query_reading(queues, window_seconds, now, highest=None, segment=None, watcher=None):
    return {
        'version': SNAPSHOT_VERSION,
        'time': now,
        'source': 'query',
        'window_seconds': float(window_seconds),
        'start_time': None,
        'highest_timestamp': highest,
        'wal_segment': segment,
        'watcher_segments': watcher or {},
        'queues': queues,
    }


def _query_readings(client, window_seconds, sel, group_label, now):
    """{group: reading} of the series ``{sel}``: ``group`` the value of ``group_label`` (None: one group)."""
    win = prom_duration(window_seconds)
    by = 'remote_name, url, queue' + (', %s' % group_label if group_label else '')
    groups = {}

    def group_of(labels):
        key = labels.get(group_label) if group_label else None
        if group_label and not key:
            return None
        if key not in groups:
            groups[key] = {'queues': {}, 'highest': None, 'segment': None, 'watcher': {}}
        return groups[key]

    def queue_for(labels):
        group = group_of(labels)
        return None if group is None else _queue_of(group['queues'], labels)

    # every gauge in one raw query (a raw selector keeps __name__); the newest name wins
    gauge_names = {}
    for field, names in GAUGES:
        for rank, name in enumerate(names):
            gauge_names[PREFIX + name] = (field, rank)
    raw = '{__name__=~"%s"%s}' % ('|'.join(sorted(gauge_names)), (',' + sel) if sel else '')
    ranks = {}
    for labels, value in client.query(raw, at=now):
        field, rank = gauge_names.get(labels.get('__name__'), (None, None))
        queue = queue_for(labels)
        value = number(value)
        if field is None or queue is None or value is None:
            continue
        have = ranks.get((id(queue), field))
        if have is not None and have < rank:
            continue
        if have is None or rank < have:
            queue['gauges'][field] = value
        else:
            queue['gauges'][field] = max(queue['gauges'][field], value)
        ranks[(id(queue), field)] = rank
    for field, names in COUNTERS:
        for name in names:
            found = client.query('sum by (%s) (increase(%s%s{%s}[%s]))' % (by, PREFIX, name, sel, win), at=now)
            for labels, value in found:
                queue = queue_for(labels)
                value = number(value)
                if queue is not None and value is not None:
                    queue['counters'][field] = queue['counters'].get(field, 0.0) + value
            if found:
                break
    for labels, value in client.query('sum by (%s, le) (increase(%s%s_bucket{%s}[%s]))' % (by, PREFIX, LATENCY, sel, win), at=now):
        queue = queue_for(labels)
        value = number(value)
        if queue is not None and value is not None and labels.get('le') is not None:
            _latency_of(queue)['buckets'][labels['le']] = value
    for suffix in ('sum', 'count'):
        for labels, value in client.query('sum by (%s) (increase(%s%s_%s{%s}[%s]))' % (by, PREFIX, LATENCY, suffix, sel, win),
                                          at=now):
            queue = queue_for(labels)
            value = number(value)
            if queue is not None and value is not None:
                _latency_of(queue)[suffix] = value
    extra = '{__name__=~"%s|%s|%s"%s}' % (HIGHEST_GLOBAL, WAL_SEGMENT, WATCHER_SEGMENT, (',' + sel) if sel else '')
    for labels, value in client.query(extra, at=now):
        value = number(value)
        group = group_of(labels)
        if value is None or group is None:
            continue
        name = labels.get('__name__')
        if name == HIGHEST_GLOBAL:
            group['highest'] = value if group['highest'] is None else max(group['highest'], value)
        elif name == WAL_SEGMENT:
            group['segment'] = value if group['segment'] is None else max(group['segment'], value)
        elif name == WATCHER_SEGMENT and labels.get('consumer') is not None:
            group['watcher'][labels['consumer']] = value
    return dict((key, _query_reading(g['queues'], window_seconds, now, g['highest'], g['segment'], g['watcher']))
                for key, g in groups.items())


# ------------------------------------------------------------------ the module's result

def read_target(target, clock=None, page=None):
    """One reading of an agent's /metrics through a ``target.Target`` (pod proxy or URL); ``page``:
    the ``exposition.MetricsPage`` of this reading when another part already read it."""
    page = page if page is not None else exposition.MetricsPage(target, clock or time.time)
    if page.status != 200:
        raise FleetopsError('%s answered HTTP %s on /metrics' % (target.describe(), page.status))
    if page.error is not None:
        raise page.error
    return read_queues(page.families, page.time)


def unknown_result(result, reason):
    """``result`` (a dict) made the answer of an agent that could not be read."""
    result.update(status='unknown', reason=reason, checks=unknown_checks(reason))
    return result


def stats_result(result, reading, th, baseline=None, empty_reason=None):
    """``result`` (a dict) completed with the queues of ``reading`` (rates against ``baseline``),
    the snapshot and the RW-* checks; ``unknown`` with ``empty_reason`` when it has no queue."""
    queues, window = queue_figures(reading, baseline)
    if not queues and empty_reason:
        result['snapshot'] = reading
        return unknown_result(result, empty_reason)
    found = rw_checks(queues, th)
    result.update(queues=queues, window_seconds=None if window is None else round(window, 3), snapshot=reading,
                  checks=found, status=_checks.result_status(found))
    return result


# ------------------------------------------------------------------ an agent of several pods

TOTAL_RATES = ('samples_per_second', 'attempted_per_second', 'failed_per_second', 'retried_per_second',
               'dropped_per_second', 'dropped_error_per_second', 'bytes_per_second', 'enqueue_retries_per_second')
ONE_POD_BASELINE = ('the baseline is of one pod (taken before every pod was read): no rates until the next reading; '
                    'pass baseline (this snapshot) or interval')


def pods_reading(readings):
    """The reading (and snapshot) of an agent of several pods: ``pods`` {name: that pod's own
    reading, as ``read_queues`` makes it} (the pods that could be read), ``time`` the newest. Each
    pod keeps its own time, start time, WAL segments and queues: its rates, restarts and lag are its
    own."""
    times = [r['time'] for r in readings.values()]
    return {'version': SNAPSHOT_VERSION, 'time': max(times) if times else None, 'source': 'metrics',
            'pods': dict(readings)}


def read_pods(target, names, clock=None, pages=None, workers=kube_workloads.PODS_AT_ONCE):
    """{name: (reading, None) or (None, why not)} of every pod of ``names``, each read through
    ``target.for_pod(name)`` (the same client and deadline), ``workers`` at a time; ``pages``: the
    ``exposition.PodPages`` of this reading when another part reads the same pods' pages."""
    found = {}
    todo = list(names)

    def one(name):
        try:
            return read_target(target.for_pod(name), clock, page=pages.get(name) if pages is not None else None), None
        except FleetopsError as exc:
            if isinstance(exc, MissingLibrary):
                raise
            return None, str(exc)
    found.update(zip(todo, kube_workloads.each_pod(one, todo, workers)))
    return found


def _pod_baseline(baseline, name):
    """(the baseline reading of pod ``name`` or None, why there is none)."""
    if baseline is None:
        return None, NO_BASELINE
    if baseline.get('source') == 'query':
        return None, 'the baseline is a query-API reading: no rates until the next reading'
    pods = baseline.get('pods')
    if not isinstance(pods, dict):
        return None, ONE_POD_BASELINE
    if name not in pods:
        return None, 'the pod was not in the baseline (new, or unreadable then): no rates until the next reading'
    return pods[name], None


def one_pod_baseline(baseline, name):
    """The baseline of a reading of one pod ``name``: ``baseline`` itself, or the reading of that pod
    in a baseline of several pods (None when it has none: an agent scaled down to one pod, or
    ``pod`` given, keeps the rates of that pod)."""
    if baseline is None or not isinstance(baseline.get('pods'), dict):
        return baseline
    return baseline['pods'].get(name)


def queue_totals(queues):
    """The figures of ``queues`` (of every pod) added up: each rate summed over the queues that have
    it (None when none has), pending samples summed, the worst lag, the success ratio of the samples
    summed over the window."""
    totals = {'queues': len(queues)}
    for key in TOTAL_RATES:
        found = [q[key] for q in queues if q.get(key) is not None]
        totals[key] = _round(sum(found)) if found else None
    pending = [q['pending_samples'] for q in queues if q.get('pending_samples') is not None]
    totals['pending_samples'] = sum(pending) if pending else None
    lags = [q['lag_seconds'] for q in queues if q.get('lag_seconds') is not None]
    totals['lag_seconds'] = max(lags) if lags else None
    windows = [q['window'] for q in queues if q.get('window')]
    delivered = sum(w.get('delivered') or 0 for w in windows) if windows else None
    totals['success_ratio'] = _round(success_ratio(
        delivered, sum(w.get('failed') or 0 for w in windows), sum(w.get('retried') or 0 for w in windows))) \
        if windows else None
    return totals


def pods_stats_result(result, pods, readings, th, baseline=None):
    """``result`` (a dict) completed for an agent of several pods: ``pods`` [(name, shard)] in
    order, ``readings`` {name: (reading, error)} (``read_pods``). Each pod's queues against the
    same pod's baseline reading, each pod's RW-* checks, rolled up (``core.checks.rollup_pods``:
    the worst pod named, ``(4 pods)`` when all are ok); ``queues`` every pod's (with ``pod``),
    ``totals`` their sum, ``pods`` one entry per pod, ``snapshot`` the per-pod reading."""
    entries, queues, windows = [], [], []
    for name, shard in pods:
        reading, error = readings.get(name) or (None, 'the pod was not read')
        entry = {'name': name, 'shard': shard}
        if reading is None:
            entry.update(status='unknown', reason=error, queues=0, samples_per_second=None,
                         checks=unknown_checks('the pod\'s /metrics could not be read: %s' % error))
        else:
            base, why = _pod_baseline(baseline, name)
            figures, window = queue_figures(reading, base)
            if window is not None:
                windows.append(window)
            found = rw_checks(figures, th, why or NO_BASELINE)
            queues.extend(dict([('pod', name)] + list(q.items())) for q in figures)
            entry.update(status=_checks.result_status(found), reason=None, queues=len(figures),
                         samples_per_second=queue_totals(figures)['samples_per_second'], checks=found)
        entries.append(entry)
    checks = _checks.rollup_pods(entries)
    result.update(queues=queues, totals=queue_totals(queues), pods=entries, pod_count=len(entries),
                  window_seconds=round(max(windows), 3) if windows else None,
                  snapshot=pods_reading(dict((n, r) for n, (r, _e) in readings.items() if r is not None)),
                  checks=checks, status=_checks.result_status(checks))
    return result
