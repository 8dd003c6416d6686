# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one threshold catalog and the one evaluator: a value and a threshold into
``ok/warning/critical/unknown``.

``THRESHOLDS`` is the only place a threshold is defined (key, check, default, unit, which side is
bad, meaning): the roles' threshold dictionaries are empty, the users' ``agent_thresholds`` are
merged over these defaults (``merge_thresholds``), and docs/checks.md's threshold table is
generated from it (docs/generate_checks_table.py). Every check is ``{id, status, value,
threshold, message}``; the message is one sentence a person can act on, and an ``unknown`` says
why the value could not be had.
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

# ----------------------------------------------------------------------------- the threshold catalog

# Units of the catalog: how a threshold's value reads.
UNITS = {
    'count': 'a count',
    'ratio': 'a fraction (0.995 is 99.5%)',
    'seconds': 'seconds',
    'bytes': 'bytes',
    'per_second': 'per second',
    'days': 'days',
    'version': 'a version',
}


class Threshold(object):
    """One threshold of the catalog.

    ``key``: the name users give in ``agent_thresholds``; ``check``: the id of the check it
    belongs to; ``default``; ``unit`` (a key of ``UNITS``); ``above``: a value above it is bad
    (else below); ``inclusive``: a value equal to it is bad too; ``description``: what it means.
    """

    __slots__ = ('key', 'check', 'default', 'unit', 'above', 'inclusive', 'description')

    def __init__(self, key, check, default, unit, description, above=True, inclusive=False):
        if unit not in UNITS:
            raise ValueError('threshold %s has an unknown unit %r' % (key, unit))
        self.key = key
        self.check = check
        self.default = default
        self.unit = unit
        self.above = above
        self.inclusive = inclusive
        self.description = description

    @property
    def bad_when(self):
        """Which side of the threshold is bad, in words."""
        side = 'above' if self.above else 'below'
        return ('at or %s' % side) if self.inclusive else side

    def __repr__(self):
        return 'Threshold(%r, %r, %r)' % (self.key, self.check, self.default)


# The catalog: every threshold of every check, in the order of the checks (daily, weekly,
# monthly). HEALTH, CONFIG, TARGETS, LOGS, RULES and BACKUP have no numeric threshold.
THRESHOLDS = (
    # daily
    Threshold('pod_events_recent_seconds', 'POD', 900, 'seconds',
              'a Warning event of the agent\'s pods or StatefulSet/DaemonSet that matters (FailedScheduling, FailedMount, BackOff, '
              'Unhealthy, Evicted, OOMKilling, FailedCreate) last seen this recently makes POD at least a warning; older ones of '
              'the 24 h window are named in the message only', above=False, inclusive=True),
    Threshold('restarts_warning', 'RESTARTS', 0, 'count', 'container restarts in the last 24 h: a warning above this'),
    Threshold('restarts_critical', 'RESTARTS', 3, 'count', 'container restarts in the last 24 h: critical above this'),
    Threshold('rw_success_warning', 'RW-SUCCESS', 0.995, 'ratio',
              'delivered share of the samples sent (1 - failed / (sent + failed)) over the window: a warning below this',
              above=False),
    Threshold('rw_success_critical', 'RW-SUCCESS', 0.99, 'ratio', 'delivered share of the samples sent: critical below this',
              above=False),
    Threshold('rw_min_window_seconds', 'RW-SUCCESS', 10.0, 'seconds',
              'the two remote-write readings closer than this make RW-SUCCESS and RW-RETRY unknown (no reliable rate); '
              'the daily role takes it from fleet_rw_min_window', above=False),
    Threshold('rw_retry_warning', 'RW-RETRY', 0.0, 'per_second',
              'retried samples per second: a warning above this, critical when no byte is sent either'),
    Threshold('rw_lag_warning', 'RW-LAG', 60.0, 'seconds', 'newest appended minus newest sent timestamp: a warning above this'),
    Threshold('rw_lag_critical', 'RW-LAG', 120.0, 'seconds',
              'newest appended minus newest sent timestamp: critical above this (and no restart above it)'),
    Threshold('rw_segments_behind_warning', 'RW-LAG', 2, 'count',
              'WAL segments the remote-write reader is behind the WAL: a warning above this'),
    Threshold('rw_pending_warning', 'RW-PENDING', 1000, 'count', 'samples pending in the shards: a warning above this'),
    Threshold('rw_pending_critical', 'RW-PENDING', 5000, 'count',
              'samples pending in the shards: critical above this while remote write lags (a warning without lag)'),
    Threshold('rw_shards_warning', 'RW-SHARDS', 0.8, 'ratio', 'desired shards / max shards: a warning above this'),
    Threshold('rw_shards_critical', 'RW-SHARDS', 1.0, 'ratio', 'desired shards / max shards: critical above this'),
    Threshold('rw_latency_p99_warning', 'RW-LATENCY', 1.0, 'seconds', 'p99 of the batch send duration: a warning above this'),
    Threshold('rw_latency_avg_warning', 'RW-LATENCY', 0.5, 'seconds', 'average batch send duration: a warning above this'),
    Threshold('rw_latency_p99_critical', 'RW-LATENCY', 2.5, 'seconds', 'p99 of the batch send duration: critical above this'),
    Threshold('rw_dropped_warning', 'RW-DROPPED', 0.0, 'per_second',
              'samples dropped on error (too old, unknown series) or histograms/exemplars/metadata refused for good, per '
              'second: a warning above this (drops by write_relabel_configs are meant and never count)'),
    Threshold('wal_size_warning', 'WAL-SIZE', 40 * GI, 'bytes', 'WAL bytes: a warning above this (the default is for a 50Gi volume)'),
    Threshold('wal_size_critical', 'WAL-SIZE', 45 * GI, 'bytes', 'WAL bytes: critical above this (the default is for a 50Gi volume)'),
    Threshold('wal_size_volume_warning', 'WAL-SIZE', 0.80, 'ratio', 'WAL bytes / the capacity of the volume holding it: a warning above this'),
    Threshold('wal_size_volume_critical', 'WAL-SIZE', 0.90, 'ratio', 'WAL bytes / the capacity of the volume holding it: critical above this'),
    Threshold('wal_failures_warning', 'WAL-HEALTH', 0, 'count',
              'WAL write, checkpoint and truncation failures counted since the baseline (or since the agent started): '
              'a warning above this'),
    Threshold('wal_volume_warning', 'WAL-HEALTH', 0.95, 'ratio', 'WAL volume used: near full (a warning) at or above this',
              inclusive=True),
    Threshold('wal_volume_critical', 'WAL-HEALTH', 0.99, 'ratio',
              'WAL volume used: full (critical: every WAL write fails) at or above this, or with no byte available',
              inclusive=True),
    Threshold('memory_warning', 'MEMORY', 400 * MI, 'bytes', 'resident memory: a warning above this'),
    Threshold('memory_critical_ratio', 'MEMORY', 0.90, 'ratio',
              'resident memory / the container limit: critical above this (or OOMKilled)'),
    Threshold('ingest_critical', 'INGEST', 0.0, 'per_second',
              'samples appended per second while targets exist: critical at or below this', above=False, inclusive=True),
    # weekly
    Threshold('pvc_warning', 'PVC', 0.80, 'ratio', 'volume used / capacity: a warning above this'),
    Threshold('pvc_critical', 'PVC', 0.90, 'ratio', 'volume used / capacity: critical above this'),
    Threshold('wal_trend_warning_days', 'WAL-TREND', 7, 'days', 'the volume is full, at its growth, within this: a warning',
              above=False, inclusive=True),
    Threshold('wal_trend_critical_days', 'WAL-TREND', 1, 'days', 'the volume is full, at its growth, within this: critical',
              above=False, inclusive=True),
    Threshold('series_growth_warning', 'SERIES', 0.20, 'ratio', 'active series growth week over week: a warning above this'),
    Threshold('series_growth_critical', 'SERIES', 0.50, 'ratio', 'active series growth week over week: critical above this'),
    Threshold('ooo_warning', 'OOO', 0, 'count', 'out-of-order samples since the agent started: a warning above this'),
    Threshold('monitors_without_targets_warning', 'MONITORS', 0, 'count',
              'selected ServiceMonitors/PodMonitors/Probes/ScrapeConfigs with no active target, or rejected by the operator: a warning above this'),
    Threshold('monitors_down_critical_ratio', 'MONITORS', 1.0, 'ratio',
              'share of the selected monitors with targets whose every target is down: critical at or above this',
              inclusive=True),
    # monthly
    Threshold('version_min_supported', 'VERSION', '2.32.0', 'version',
              'the oldest supported Prometheus (the first release with agent mode): critical below it; '
              'the monthly role takes it from agent_min_version', above=False),
    Threshold('rightsize_off_ratio', 'RIGHTSIZE', 0.50, 'ratio',
              'memory or CPU used off its request by more than this share (either way): a warning'),
    Threshold('rightsize_limit_critical_ratio', 'RIGHTSIZE', 0.90, 'ratio', 'memory used / its limit: critical above this'),
    Threshold('wal_rotation_warning_seconds', 'WAL-ROTATION', 4 * 3600 + 2 * 3600, 'seconds',
              'age of the oldest WAL segment: a warning above this (retention max-time 4 h + truncate frequency 2 h)'),
    Threshold('wal_rotation_critical_seconds', 'WAL-ROTATION', 24 * 3600, 'seconds',
              'no checkpoint or truncation for this long: critical'),
    Threshold('wal_checkpoint_tmp_warning_seconds', 'WAL-ROTATION', 2 * 3600, 'seconds',
              'a checkpoint.N.tmp older than this (the truncate frequency) is a failed checkpoint: a warning'),
    Threshold('uptime_warning', 'UPTIME', 0.999, 'ratio', 'availability over 30 days: a warning below this', above=False),
    Threshold('uptime_critical', 'UPTIME', 0.995, 'ratio', 'availability over 30 days: critical below this', above=False),
)

CATALOG = dict((entry.key, entry) for entry in THRESHOLDS)

# The catalog's defaults by key. Ratios are 0..1, times in seconds, sizes in bytes.
DEFAULT_THRESHOLDS = dict((entry.key, entry.default) for entry in THRESHOLDS)

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


ROLLUP_PODS_IN_FULL = 5     # bad pods whose own message a roll-up quotes; the others by name
ROLLUP_NAMES = 10           # names listed after those, then the count


def names_text(names, most=ROLLUP_NAMES):
    """``a, b, c`` for a few names, ``a, b, ... (and 290 more)`` for many: a message stays a sentence."""
    names = list(names)
    if len(names) <= most:
        return ', '.join(names)
    return '%s (and %d more)' % (', '.join(names[:most]), len(names) - most)


def of_pods(findings, total):
    """``N of M pods: ...``: the sentence of ``findings`` ((pod name, finding) of each pod that is
    not ok) among ``total`` pods. The first ROLLUP_PODS_IN_FULL findings in full, the others by
    name (``names_text``): a namespace of hundreds of pods gives a message a person reads, not one of 50 KB."""
    text = '%d of %d pods: %s' % (len(findings), total, '; '.join(f for _n, f in findings[:ROLLUP_PODS_IN_FULL]))
    rest = [name for name, _f in findings[ROLLUP_PODS_IN_FULL:]]
    if rest:
        text += '; and %d more: %s' % (len(rest), names_text(rest))
    return text


def rollup_pods(entries):
    """The checks of an agent of several pods from per-pod ``entries`` (each with ``name`` and
    ``checks``, the same ids in the same order): each check the worst of its pods; its message names
    the pods that are not ok with their own message (``1 of 4 pods: NAME: ...``; past
    ROLLUP_PODS_IN_FULL the others by name, then their count), or says how many pods are ok
    (``... (4 pods)``); its value is the first worst pod's."""
    rolled = []
    for index, first in enumerate(entries[0]['checks']):
        per_pod = [(e['name'], e['checks'][index]) for e in entries if len(e['checks']) > index]
        bad = [(name, c) for name, c in per_pod if c['status'] != OK]
        status = worst(c['status'] for _n, c in per_pod)
        if bad:
            message = of_pods([(name, '%s: %s' % (name, c['message'])) for name, c in bad], len(per_pod))
            value = [c for _n, c in bad if c['status'] == status][0]['value']
        else:
            message = '%s (%d pods)' % (first['message'], len(per_pod))
            value = first['value']
        rolled.append(make(first['id'], status, value, first.get('threshold'), message))
    return rolled


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


def judge(value, thresholds, warning=None, critical=None):
    """``level`` of a value against the catalog thresholds named ``warning`` and ``critical``
    (keys of ``THRESHOLDS``), compared the way the catalog says (``above``, ``inclusive``);
    ``thresholds`` holds their values (``merge_thresholds``)."""
    entry = CATALOG[warning or critical]
    return level(value, thresholds[warning] if warning else None, thresholds[critical] if critical else None,
                 above=entry.above, inclusive=entry.inclusive)


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
