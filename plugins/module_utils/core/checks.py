# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one threshold evaluator: a value and a threshold into ``ok/warning/critical/unknown``.

Every check is ``{id, status, value, threshold, message}``; the message is one sentence a
person can act on, and an ``unknown`` says why the value could not be had. Check ids and
default thresholds are those of the check catalog (shared/domain/checks.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

OK = 'ok'
UNKNOWN = 'unknown'
WARNING = 'warning'
CRITICAL = 'critical'

STATUSES = (OK, UNKNOWN, WARNING, CRITICAL)
# worst-of: critical > warning > unknown > ok
STATUS_ORDER = {OK: 0, UNKNOWN: 1, WARNING: 2, CRITICAL: 3}

MI = 1024 ** 2
GI = 1024 ** 3

# The catalog's defaults. Ratios are 0..1, times in seconds, sizes in bytes.
DEFAULT_THRESHOLDS = {
    # POD / RESTARTS (restarts in the last 24 h)
    'restarts_warning': 0,
    'restarts_critical': 3,
    # RW-SUCCESS: 1 - failed/(sent+failed)
    'rw_success_warning': 0.995,
    'rw_success_critical': 0.99,
    # RW-RETRY: retried samples per second
    'rw_retry_warning': 0.0,
    # RW-LAG: seconds; segments behind (the WAL watcher's segment vs the WAL's)
    'rw_lag_warning': 60.0,
    'rw_lag_critical': 120.0,
    'rw_segments_behind_warning': 2,
    # RW-PENDING: samples_pending (critical only with lag > 0)
    'rw_pending_warning': 1000,
    'rw_pending_critical': 5000,
    # RW-SHARDS: desired / max
    'rw_shards_warning': 0.8,
    'rw_shards_critical': 1.0,
    # RW-LATENCY: sent_batch_duration_seconds
    'rw_latency_p99_warning': 1.0,
    'rw_latency_avg_warning': 0.5,
    'rw_latency_p99_critical': 2.5,
    # WAL-SIZE (absolute, of a 50Gi volume) / PVC (used ratio)
    'wal_size_warning': 40 * GI,
    'wal_size_critical': 45 * GI,
    'pvc_warning': 0.80,
    'pvc_critical': 0.90,
    # WAL-HEALTH (daily): WAL write / checkpoint / truncation failures counted since the baseline
    # (or since the agent started) above this are a warning ("any failure in 24 h"); the WAL
    # volume used at/above wal_volume_warning is near full (warning), at/above
    # wal_volume_critical (or no byte available) full: every WAL write fails (critical)
    'wal_failures_warning': 0,
    'wal_volume_warning': 0.95,
    'wal_volume_critical': 0.99,
    # MEMORY: resident bytes; critical at a ratio of the container limit (or OOMKilled)
    'memory_warning': 400 * MI,
    'memory_critical_ratio': 0.90,
    # INGEST: samples appended per second while targets exist
    'ingest_critical': 0.0,
    # HEALTH / CONFIG / TARGETS / LOGS have no numeric threshold
}

# The remediation guardrails (agent_restart, agent_tune, the remediate role): a restart is refused
# while remote write lags more than RW-LAG's critical threshold (the unsent WAL would be lost); an
# agent restarted less than cooldown_seconds ago is left alone; a Terminating pod counts as stuck
# once stuck_after_seconds have passed after its deletion deadline.
RESTART_LIMITS = {
    'max_lag_seconds': DEFAULT_THRESHOLDS['rw_lag_critical'],
    'cooldown_seconds': 300,
    'stuck_after_seconds': 30,
}


def merge_thresholds(user=None):
    """The defaults with the user's values over them (numbers given as strings are converted)."""
    merged = dict(DEFAULT_THRESHOLDS)
    for key, value in (user or {}).items():
        if value is None:
            continue
        if isinstance(value, str):
            try:
                value = float(value) if any(c in value for c in '.eE') else int(value)
            except ValueError:
                pass
        merged[key] = value
    return merged


def ratio_full(ratio, available, warning, critical):
    """``ok``/``warning``/``critical`` of a volume's used ratio (at the threshold is bad); a volume
    with no byte available is ``critical`` whatever its ratio (ext4 keeps blocks for root, so a
    volume full for the agent can read 95%); ``unknown`` when neither is known."""
    if available is not None and available <= 0:
        return CRITICAL
    return level(ratio, warning, critical, above=True, inclusive=True)


def worst(statuses):
    """The worst of statuses (critical > warning > unknown > ok); ``ok`` for none."""
    found = OK
    for status in statuses:
        if status not in STATUS_ORDER:
            status = UNKNOWN
        if STATUS_ORDER[status] > STATUS_ORDER[found]:
            found = status
    return found


class Check(object):
    """One check result."""

    __slots__ = ('id', 'status', 'value', 'threshold', 'message')

    def __init__(self, id, status, value, threshold, message):  # pylint: disable=redefined-builtin
        if status not in STATUS_ORDER:
            raise ValueError('unknown check status %r' % (status,))
        if not message:
            raise ValueError('check %s has no message' % id)
        self.id = id
        self.status = status
        self.value = value
        self.threshold = threshold
        self.message = message

    def as_dict(self):
        return {'id': self.id, 'status': self.status, 'value': self.value,
                'threshold': self.threshold, 'message': self.message}

    def __repr__(self):
        return 'Check(%r, %r, %r)' % (self.id, self.status, self.value)


def make(cid, status, value, threshold, message):
    """A check dict with a status decided by the caller (``Check(...).as_dict()``)."""
    return Check(cid, status, value, threshold, message).as_dict()


def level(value, warning=None, critical=None, above=True, inclusive=False):
    """``ok``/``warning``/``critical`` of a number against its thresholds, ``unknown`` when None.

    ``above``: a value above the threshold is bad (else below). ``inclusive``: equal is bad too.
    """
    if value is None:
        return UNKNOWN

    def bad(limit):
        if limit is None:
            return False
        if above:
            return value >= limit if inclusive else value > limit
        return value <= limit if inclusive else value < limit

    if bad(critical):
        return CRITICAL
    if bad(warning):
        return WARNING
    return OK


def evaluate(cid, value, threshold, ok_message, bad_message=None, unknown_message=None,
             warning=None, critical=None, above=True, inclusive=False, status=None):
    """A check dict: status from ``level`` (or ``status`` when given), and the matching message.

    Messages may use ``{value}``; ``bad_message`` is used for warning and critical.
    """
    if status is None:
        status = level(value, warning, critical, above, inclusive)
    if status == UNKNOWN:
        message = unknown_message or 'the value could not be measured'
    elif status == OK:
        message = ok_message
    else:
        message = bad_message or ok_message
    try:
        message = message.format(value=value)
    except (KeyError, IndexError, ValueError):
        pass
    return Check(cid, status, value, threshold, message).as_dict()


def unknown(cid, reason, threshold=None):
    """An ``unknown`` check saying why."""
    return Check(cid, UNKNOWN, None, threshold, reason).as_dict()


def result_status(checks):
    """A module's ``status``: the worst of its checks."""
    return worst(c['status'] for c in checks)
