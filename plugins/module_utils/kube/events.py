# -*- coding: utf-8 -*-
# Copyright: fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Warning events of Kubernetes objects summarised for a check message (what ``kubectl describe`` shows).

Standard library only. ``summarise(items, now, window_seconds, objects=None)`` takes the items of an
``events`` list, of either API: core/v1 (``involvedObject``, ``count``, ``firstTimestamp`` /
``lastTimestamp``, ``source``) or events.k8s.io/v1 (``regarding``, ``series.count`` /
``deprecatedCount``, ``series.lastObservedTime`` / ``eventTime``, ``reportingController``), keeps
the ``Warning`` ones whose last time lies within the window (and, given ``objects``, that name one
of those objects; ``objects`` a dict of name to uid also leaves out the events of an earlier object
of the same name, as ``kubectl describe`` does), merges the events of one reason on one object (their counts added, the latest
time kept) and returns them newest first: ``reason``, ``count``, ``last_time`` (RFC 3339),
``age_seconds``, ``kind``, ``object``, ``message`` (scrubbed).

``describe(summary)`` words one of them for a message: ``BackOff x12 on prom-agent-x-0 (last 3 min
ago)``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.scrub import redact
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.units import parse_time, rfc3339

DEFAULT_WINDOW_SECONDS = 24 * 3600


def _time(value):
    """Epoch seconds of an API time, None when absent or not a time."""
    if not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def _fields(item):
    """(kind, name, reason, count, last seconds, message) of an event of either API."""
    regarding = item.get('involvedObject') or item.get('regarding') or {}
    series = item.get('series') or {}
    count = item.get('count') or series.get('count') or item.get('deprecatedCount') or 1
    last = None
    for key in ('lastTimestamp', 'lastObservedTime', 'eventTime', 'deprecatedLastTimestamp', 'firstTimestamp'):
        source = series if key == 'lastObservedTime' else item
        last = _time(source.get(key))
        if last is not None:
            break
    if last is None:
        last = _time((item.get('metadata') or {}).get('creationTimestamp'))
    message = item.get('message') or item.get('note') or ''
    return (regarding.get('kind') or '', regarding.get('name') or '', regarding.get('uid') or '', item.get('reason') or 'Unknown',
            int(count), last, message)


def summarise(items, now, window_seconds=DEFAULT_WINDOW_SECONDS, objects=None, secrets=()):
    """The Warning events within the window, one entry per (object, reason), newest first."""
    merged = {}
    for item in items or ():
        if (item or {}).get('type') != 'Warning':
            continue
        kind, name, uid, reason, count, last, message = _fields(item)
        if objects is not None and name not in objects:
            continue
        if isinstance(objects, dict) and objects.get(name) and uid and uid != objects[name]:
            continue    # an earlier object of the same name (a pod the StatefulSet has since replaced)
        if last is None or now - last > window_seconds:
            continue
        key = (kind, name, reason)
        entry = merged.get(key)
        if entry is None:
            merged[key] = {'reason': reason, 'count': count, 'last': last, 'kind': kind, 'object': name,
                           'message': message}
        else:
            entry['count'] += count
            if last >= entry['last']:
                entry['last'] = last
                entry['message'] = message
    summaries = []
    for entry in sorted(merged.values(), key=lambda e: (-e['last'], e['object'], e['reason'])):
        summaries.append({'reason': entry['reason'], 'count': entry['count'], 'last_time': rfc3339(entry['last'], digits=0),
                          'age_seconds': max(0, int(now - entry['last'])), 'kind': entry['kind'],
                          'object': entry['object'], 'message': redact(entry['message'], secrets)})
    return summaries


def _age(seconds):
    if seconds < 60:
        return '%d s' % seconds
    if seconds < 3600:
        return '%d min' % (seconds // 60)
    if seconds < 86400:
        return '%d h' % (seconds // 3600)
    return '%d d' % (seconds // 86400)


def describe(summary):
    """``BackOff x12 on prom-agent-x-0 (last 3 min ago)``."""
    return '%s x%d on %s (last %s ago)' % (summary['reason'], summary['count'], summary['object'], _age(summary['age_seconds']))
