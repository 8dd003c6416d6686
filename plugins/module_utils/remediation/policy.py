# -*- coding: utf-8 -*-
# Copyright: fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remediation guardrails: what may be done about which finding, and when not.

Pure Python, no Ansible and no Kubernetes imports, so every rule here is unit-tested.
The guardrails (docs/checks.md, "Remediation of each finding"):

* never restart an agent while its receiver is failing or its remote-write lag is high
  (the unsent WAL would be lost, prometheus#13539), unless forced;
* a forced restart (pod delete, no grace) only for a pod stuck Terminating past its grace
  period, or after a graceful restart failed;
* WAL recovery restarts first (Prometheus repairs its WAL at start-up); deleting WAL needs
  ``allow_data_loss``;
* drop rules never drop ``up`` or the agent's own metrics;
* resources grow in bounded steps (+25 %) up to a cap;
* queue settings stay within sane bounds (capacity 3-10x max_samples_per_send).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import math
import re
import time

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import units
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.checks import RESTART_LIMITS

# --------------------------------------------------------------------------------------
# actions

GRACEFUL_RESTART = 'graceful_restart'
FORCED_RESTART = 'forced_restart'
WAL_RECOVERY = 'wal_recovery'
RECEIVER_RESTART = 'receiver_restart'
DROP_RULES = 'drop_rules'
RESOURCES_INCREASE = 'resources_increase'
QUEUE_TUNING = 'queue_tuning'

ACTIONS = (GRACEFUL_RESTART, FORCED_RESTART, WAL_RECOVERY, RECEIVER_RESTART, DROP_RULES,
           RESOURCES_INCREASE, QUEUE_TUNING)

# actions that restart the agent pod, so the restart guardrails apply
RESTARTING_ACTIONS = (GRACEFUL_RESTART, FORCED_RESTART, WAL_RECOVERY, RESOURCES_INCREASE)

DEFAULT_BOUNDS = {
    'max_lag_seconds': RESTART_LIMITS['max_lag_seconds'],   # RW-LAG critical
    'max_pending_samples': None,       # no bound on pending samples unless given
    'step_percent': 25.0,              # resources grow at most this much per step
    'memory_cap': '2Gi',
    'cpu_cap': '2',
    'capacity_min_factor': 3,          # capacity >= 3 x max_samples_per_send
    'capacity_max_factor': 10,         # capacity <= 10 x max_samples_per_send
    'max_shards_cap': 200,
    'min_max_samples_per_send': 100,
    'max_max_samples_per_send': 10000,
    'shards_headroom': 1.25,           # new maxShards = desired x headroom
}

# Prometheus defaults (QueueConfig), used when the resource does not set a value.
QUEUE_DEFAULTS = {'capacity': 10000, 'maxShards': 50, 'minShards': 1, 'maxSamplesPerSend': 2000}

QUEUE_KEYS = {
    'capacity': 'capacity',
    'max_shards': 'maxShards',
    'min_shards': 'minShards',
    'max_samples_per_send': 'maxSamplesPerSend',
    'batch_send_deadline': 'batchSendDeadline',
    'min_backoff': 'minBackoff',
    'max_backoff': 'maxBackoff',
    'retry_on_rate_limit': 'retryOnRateLimit',
}


FLAT_LAG_SECONDS = 15.0

# The tuning guardrails, each refused by default and let through only when named in
# ``override_guardrails`` (agent_tune); an override that was needed is reported.
GUARDRAILS = (
    'capacity_bounds',               # capacity within capacity_min_factor-capacity_max_factor x maxSamplesPerSend
    'max_samples_per_send_bounds',   # maxSamplesPerSend within min/max_max_samples_per_send
    'max_shards_cap',                # maxShards at most max_shards_cap
    'protected_metrics',             # a drop rule matching up, scrape_* or the agent's own metrics
    'resources_cap',                 # an explicit resource above memory_cap / cpu_cap
    'resources_step',                # an explicit resource increase above step_percent in one change
)


def _guarded(errors, overrides, overridden):
    """``errors`` ([(guardrail, text)]) not overridden; the overridden ones go to ``overridden``."""
    left = []
    for name, text in errors:
        if name in (overrides or ()):
            if overridden is not None:
                overridden.append('%s: %s' % (name, text))
        else:
            left.append(text)
    return left


class RemediationError(ValueError):
    """A requested change breaks a guardrail (the message says which and why)."""


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


# --------------------------------------------------------------------------------------
# Kubernetes quantities (core/units reads and writes them)

def parse_quantity(value):
    """A Kubernetes quantity ('512Mi', '1.5', '500m', 2e9) as a float (bytes or cores); junk is a
    refused change (RemediationError)."""
    try:
        return units.parse_quantity(value)
    except ValueError as exc:
        raise RemediationError(str(exc))


# --------------------------------------------------------------------------------------
# the restart guardrail

def receiver_failing_reasons(queues, max_lag_seconds=None, max_pending_samples=None):
    """Why the remote-write state forbids a restart: an empty list means none.

    ``queues`` are the ``remote_write_stats`` queues (or any dicts with the same keys):
    ``retried_per_second``, ``failed_per_second``, ``bytes_per_second``,
    ``samples_per_second``, ``pending_samples``, ``lag_seconds``, ``remote_name``.
    """
    if max_lag_seconds is None:
        max_lag_seconds = DEFAULT_BOUNDS['max_lag_seconds']
    reasons = []
    for queue in queues or []:
        name = queue.get('remote_name') or queue.get('url') or 'queue'
        retried = units.number(queue.get('retried_per_second'))
        failed = units.number(queue.get('failed_per_second'))
        sent_bytes = units.number(queue.get('bytes_per_second'))
        pending = units.number(queue.get('pending_samples'))
        lag = units.number(queue.get('lag_seconds'))
        if retried is not None and retried > 0:
            reasons.append('%s: the receiver is failing (%.1f samples/s retried)' % (name, retried))
        if failed is not None and failed > 0:
            reasons.append('%s: the receiver rejects samples (%.1f samples/s failed)' % (name, failed))
        # batches go out every batch_send_deadline (5 s): a short window without bytes is normal,
        # bytes flat while the lag grows past FLAT_LAG_SECONDS is not
        if sent_bytes is not None and sent_bytes <= 0 and (lag or 0) > min(FLAT_LAG_SECONDS, max_lag_seconds):
            reasons.append('%s: no bytes sent while %d samples are pending and the lag is %.0fs' % (name, int(pending or 0), lag))
        if lag is not None and lag > max_lag_seconds:
            reasons.append('%s: remote-write lag %.0fs is above the bound of %.0fs' % (name, lag, max_lag_seconds))
        if max_pending_samples is not None and pending is not None and pending > max_pending_samples:
            reasons.append('%s: %d samples pending, above the bound of %d' % (name, int(pending), int(max_pending_samples)))
    return reasons


def restart_guard(queues, force=False, max_lag_seconds=None, max_pending_samples=None, readable=True):
    """Decide whether a restart of the agent may go ahead.

    Returns ``{'allowed': bool, 'reasons': [...], 'overridden': bool}``. When the remote-write
    state could not be read (``readable`` false) the restart is refused too: not knowing
    is not a go. ``force`` overrides every reason (and says so).
    """
    reasons = receiver_failing_reasons(queues, max_lag_seconds, max_pending_samples)
    if not readable:
        reasons.append('the remote-write state could not be read, so unsent WAL cannot be ruled out')
    elif not queues:
        # an agent without a queue has nothing unsent: allowed
        pass
    if reasons and force:
        return {'allowed': True, 'reasons': reasons, 'overridden': True}
    return {'allowed': not reasons, 'reasons': reasons, 'overridden': False}


def window_totals(queues):
    """Totals over the ``remote_write_stats`` queues of one window: the samples delivered, bytes
    sent and samples retried (their ``window``), and the largest ``lag_seconds`` (None when unknown)."""
    totals = {'delivered': 0.0, 'bytes': 0.0, 'retried': 0.0, 'lag_seconds': None}
    for queue in queues or []:
        window = queue.get('window') or {}
        for key in ('delivered', 'bytes', 'retried'):
            totals[key] += units.number(window.get(key)) or 0.0
        lag = units.number(queue.get('lag_seconds'))
        if lag is not None and (totals['lag_seconds'] is None or lag > totals['lag_seconds']):
            totals['lag_seconds'] = lag
    return totals


def sending_again(totals, max_lag_seconds=None):
    """From the ``window_totals`` of a window after a restart: is remote write flowing?

    Returns ``(ok, reasons)``: samples must have been delivered and bytes sent, none retried, and
    the lag (when known) must be under the bound.
    """
    if max_lag_seconds is None:
        max_lag_seconds = DEFAULT_BOUNDS['max_lag_seconds']
    reasons = []
    if totals['delivered'] <= 0:
        reasons.append('samples sent did not increase')
    if totals['bytes'] <= 0:
        reasons.append('bytes sent did not increase')
    if totals['retried'] > 0:
        reasons.append('retries are rising')
    lag = totals.get('lag_seconds')
    if lag is not None and lag > max_lag_seconds:
        reasons.append('lag %.0fs above %.0fs' % (lag, max_lag_seconds))
    return (not reasons, reasons)


# --------------------------------------------------------------------------------------
# pods

def pod_metadata(pod, key):
    """``metadata.<key>`` of a pod as a dict (camelCase or snake_case) or a client object."""
    meta = pod.get('metadata') if isinstance(pod, dict) else getattr(pod, 'metadata', None)
    if meta is None:
        return None
    if isinstance(meta, dict):
        camel = re.sub(r'_([a-z])', lambda m: m.group(1).upper(), key)
        return meta.get(camel, meta.get(key))
    return getattr(meta, key, None)


def stuck_terminating(pod, now=None, slack_seconds=RESTART_LIMITS['stuck_after_seconds']):
    """``(stuck, seconds_over)``: the pod has a deletionTimestamp older than its grace period
    (``now``: a datetime or epoch seconds, default now)."""
    deleted = units.timestamp(pod_metadata(pod, 'deletion_timestamp'))
    if deleted is None:
        return (False, 0.0)
    # the API sets deletionTimestamp to the request time plus the grace period: the time by
    # which the pod should be gone
    over = (time.time() if now is None else units.parse_time(now)) - deleted
    return (over > slack_seconds, max(over, 0.0))


def forced_restart_allowed(pod, graceful_failed=False, now=None, slack_seconds=RESTART_LIMITS['stuck_after_seconds']):
    """``(allowed, reason)`` for a forced restart (delete with no grace) of ``pod``."""
    if graceful_failed:
        return (True, 'the graceful restart failed')
    stuck, over = stuck_terminating(pod, now=now, slack_seconds=slack_seconds)
    if stuck:
        return (True, 'the pod is stuck Terminating %.0fs past its grace period' % over)
    if pod_metadata(pod, 'deletion_timestamp') is not None:
        return (False, 'the pod is Terminating but still within its grace period (+%ds): wait' % slack_seconds)
    return (False, 'a forced restart is only for a pod stuck Terminating or after a failed graceful restart; '
                   'use mode=graceful')


# --------------------------------------------------------------------------------------
# drop rules

# Names a drop rule must never match: ``up`` and the synthetic scrape series, and the agent's
# own metrics (by prefix: every name below is tried, so a regex like ``prometheus_remote.*``
# or ``.*`` is refused).
PROTECTED_NAMES = (
    'up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_samples_post_metric_relabeling',
    'scrape_series_added',
    'prometheus_', 'prometheus_agent_active_series', 'prometheus_agent_samples_appended_total',
    'prometheus_remote_storage_samples_total', 'prometheus_remote_storage_samples_pending',
    'prometheus_remote_storage_shards_desired', 'prometheus_remote_storage_bytes_total',
    'prometheus_remote_storage_queue_highest_sent_timestamp_seconds',
    'prometheus_remote_storage_highest_timestamp_in_seconds', 'prometheus_tsdb_wal_segment_current',
    'prometheus_wal_watcher_current_segment', 'prometheus_config_last_reload_successful',
    'prometheus_build_info', 'prometheus_ready', 'prometheus_target_interval_length_seconds',
    'prometheus_sd_discovered_targets',
    'process_', 'process_resident_memory_bytes', 'process_cpu_seconds_total', 'process_start_time_seconds',
    'process_open_fds', 'process_max_fds',
    'go_', 'go_goroutines', 'go_memstats_alloc_bytes', 'go_gc_duration_seconds', 'go_info',
    'reloader_', 'reloader_last_reload_successful', 'reloader_config_apply_operations_total',
)

PROTECTED_PATTERNS = ('up', 'scrape_.*', 'prometheus_.*', 'process_.*', 'go_.*', 'reloader_.*')


def protected_matches(regex):
    """The protected names a metric-name drop ``regex`` would match (Prometheus anchors it)."""
    try:
        compiled = re.compile(r'^(?:%s)$' % regex)
    except re.error as exc:
        raise RemediationError('drop rule regex %r does not compile: %s' % (regex, exc))
    hits = [name for name in PROTECTED_NAMES if compiled.match(name)]
    # a regex that matches the prefix followed by anything also eats the whole family
    for prefix in ('prometheus_', 'process_', 'go_', 'scrape_', 'reloader_'):
        probe = prefix + 'zz_fleetops_probe'
        if compiled.match(probe) and prefix not in hits:
            hits.append(prefix + '*')
    return hits


def _drop_shape(regex, job=None):
    """(sourceLabels, regex) of a drop rule: metric names, or metric names of one ``job``."""
    if job:
        return ['job', '__name__'], '%s;(?:%s)' % (re.escape(job), regex)
    return ['__name__'], regex


def drop_rule(regex, job=None, overrides=(), overridden=None):
    """A writeRelabelConfigs entry (operator spelling) dropping metric names matching ``regex``
    (of the series of scrape job ``job`` only, when given)."""
    hits = protected_matches(regex)
    if hits:
        text = ('refusing to drop %r%s: it matches %s. `up` and the agent\'s own metrics (%s) are what the '
                'fleet checks and alerts read; dropping them would blind every check of this cluster.'
                % (regex, ' of job %s' % job if job else '', ', '.join(sorted(set(hits))[:6]), ', '.join(PROTECTED_PATTERNS)))
        if _guarded([('protected_metrics', text)], overrides, overridden):
            raise RemediationError(text)
    labels, full = _drop_shape(regex, job)
    return {'sourceLabels': labels, 'regex': full, 'action': 'drop'}


def _is_same_drop(rule, regex, job=None):
    labels = rule.get('sourceLabels') or rule.get('source_labels') or []
    want_labels, want_regex = _drop_shape(regex, job)
    return (str(rule.get('action', 'replace')).lower() == 'drop' and list(labels) == want_labels
            and rule.get('regex') == want_regex)


def merge_drop_rules(existing, regexes, state='present', job=None, overrides=(), overridden=None):
    """New writeRelabelConfigs with drop rules for ``regexes`` (of ``job`` only, when given)
    present (appended) or absent."""
    rules = copy.deepcopy(existing or [])
    if state == 'absent':
        return [rule for rule in rules if not any(_is_same_drop(rule, regex, job) for regex in regexes)]
    for regex in regexes:
        wanted = drop_rule(regex, job, overrides, overridden)
        if not any(_is_same_drop(rule, regex, job) for rule in rules):
            rules.append(wanted)
    return rules


# --------------------------------------------------------------------------------------
# queue config

def _bounds(bounds):
    merged = dict(DEFAULT_BOUNDS)
    merged.update(dict((k, v) for k, v in (bounds or {}).items() if v is not None))
    return merged


def queue_config(current, wanted, bounds=None, overrides=(), overridden=None):
    """Merge ``wanted`` (snake_case or camelCase keys) over ``current`` (operator queueConfig)
    and check the bounds. Returns the new queueConfig; raises RemediationError when outside a
    bound that ``overrides`` does not name (those it names are appended to ``overridden``)."""
    bnd = _bounds(bounds)
    result = copy.deepcopy(current or {})
    for key, value in (wanted or {}).items():
        if value is None:
            continue
        camel = QUEUE_KEYS.get(key, key)
        if camel not in QUEUE_KEYS.values():
            raise RemediationError('unknown queue setting %r (known: %s)' % (key, ', '.join(sorted(QUEUE_KEYS))))
        result[camel] = value
    eff = dict(QUEUE_DEFAULTS)
    eff.update(result)
    errors = []
    try:
        capacity = int(eff['capacity'])
        per_send = int(eff['maxSamplesPerSend'])
        max_shards = int(eff['maxShards'])
        min_shards = int(eff['minShards'])
    except (TypeError, ValueError):
        raise RemediationError('queue settings must be integers: %r' % (result,))
    if not bnd['min_max_samples_per_send'] <= per_send <= bnd['max_max_samples_per_send']:
        errors.append(('max_samples_per_send_bounds', 'maxSamplesPerSend %d is outside %d-%d' % (
            per_send, bnd['min_max_samples_per_send'], bnd['max_max_samples_per_send'])))
    low, high = per_send * bnd['capacity_min_factor'], per_send * bnd['capacity_max_factor']
    if not low <= capacity <= high:
        errors.append(('capacity_bounds', 'capacity %d must be %d-%dx maxSamplesPerSend %d, i.e. %d-%d' % (
            capacity, bnd['capacity_min_factor'], bnd['capacity_max_factor'], per_send, low, high)))
    if max_shards > bnd['max_shards_cap']:
        errors.append(('max_shards_cap', 'maxShards %d is outside 1-%d' % (max_shards, bnd['max_shards_cap'])))
    errors = _guarded(errors, overrides, overridden)
    if capacity < 1 or per_send < 1 or max_shards < 1:
        errors.append('capacity, maxSamplesPerSend and maxShards must be at least 1')
    if not 1 <= min_shards <= max_shards:
        errors.append('minShards %d must be between 1 and maxShards %d' % (min_shards, max_shards))
    if errors:
        raise RemediationError('queue config out of bounds: ' + '; '.join(errors))
    return result


def shards_for(desired, current_max, bounds=None):
    """A new maxShards for ``desired`` shards: desired x headroom, capped; None if no change."""
    bnd = _bounds(bounds)
    desired = units.number(desired)
    current_max = units.number(current_max)
    if desired is None:
        return None
    target = int(math.ceil(desired * bnd['shards_headroom']))
    target = min(target, int(bnd['max_shards_cap']))
    if current_max is not None and target <= current_max:
        return None
    return target


# --------------------------------------------------------------------------------------
# resources

def step_resources(current, step=('memory',), step_from=None, bounds=None):
    """Limits (and requests, kept at their ratio) raised by one step of ``step_percent``.

    ``current`` is a container ``resources`` dict ({'limits': {...}, 'requests': {...}}).
    The step is computed from ``step_from`` ({'memory': '512Mi'}) when given, else from the
    current limit, so a repeated call with the same ``step_from`` is idempotent. Raises
    RemediationError at the cap or when there is no limit to step from.
    """
    bnd = _bounds(bounds)
    result = copy.deepcopy(current or {})
    limits = result.setdefault('limits', {})
    requests = result.get('requests') or {}
    factor = 1.0 + bnd['step_percent'] / 100.0
    for res in step:
        if res not in ('memory', 'cpu'):
            raise RemediationError('can only step memory or cpu, not %r' % (res,))
        cap = parse_quantity(bnd['%s_cap' % res])
        fmt = units.format_memory if res == 'memory' else units.format_cpu
        base = (step_from or {}).get(res) or limits.get(res)
        if base is None:
            raise RemediationError('no %s limit to step from: give one explicitly' % res)
        base_value = parse_quantity(base)
        cur_value = parse_quantity(limits[res]) if limits.get(res) is not None else None
        target = min(base_value * factor, cap)
        if cur_value is not None and cur_value >= cap and not (step_from or {}).get(res):
            raise RemediationError('%s limit %s is at the cap %s: look at what uses it (RIGHTSIZE, SERIES) instead'
                                   % (res, limits[res], bnd['%s_cap' % res]))
        if cur_value is not None and cur_value >= target:
            continue  # already there (idempotent)
        limits[res] = fmt(target)
        if requests.get(res) is not None and cur_value:
            req = parse_quantity(requests[res])
            requests[res] = fmt(min(req * target / cur_value, target))
    if requests:
        result['requests'] = requests
    return result


def check_resources(current, wanted, bounds=None, overrides=(), overridden=None):
    """Validate an explicit resources change: increases at most ``step_percent`` each, under the
    caps (guardrails ``resources_step``, ``resources_cap`` unless overridden), requests not above
    limits. Returns the merged resources; raises RemediationError."""
    bnd = _bounds(bounds)
    result = copy.deepcopy(current or {})
    errors = []
    factor = 1.0 + bnd['step_percent'] / 100.0
    for section in ('limits', 'requests'):
        for res, value in ((wanted or {}).get(section) or {}).items():
            if value is None:
                continue
            new = parse_quantity(value)
            old_raw = (result.get(section) or {}).get(res)
            old = parse_quantity(old_raw) if old_raw is not None else None
            cap_raw = bnd.get('%s_cap' % res)
            if cap_raw is not None and new > parse_quantity(cap_raw) + 1e-9:
                errors.append(('resources_cap', '%s.%s %s is above the cap %s' % (section, res, value, cap_raw)))
            if old is not None and new > old * factor * 1.0001 + (2 ** 20 if res == 'memory' else 0.001):
                errors.append(('resources_step', '%s.%s %s -> %s is more than +%g%% in one step'
                               % (section, res, old_raw, value, bnd['step_percent'])))
            result.setdefault(section, {})[res] = value
    errors = _guarded(errors, overrides, overridden)
    lim = result.get('limits') or {}
    req = result.get('requests') or {}
    for res in set(lim) & set(req):
        if parse_quantity(req[res]) > parse_quantity(lim[res]):
            errors.append('requests.%s %s is above limits.%s %s' % (res, req[res], res, lim[res]))
    if errors:
        raise RemediationError('resources out of bounds: ' + '; '.join(errors))
    return result


def same_quantities(left, right):
    """True when two resources dicts mean the same ('1Gi' == '1024Mi')."""
    left = left or {}
    right = right or {}
    for section in set(left) | set(right):
        a = left.get(section) or {}
        b = right.get(section) or {}
        if set(a) != set(b):
            return False
        for key in a:
            try:
                if abs(parse_quantity(a[key]) - parse_quantity(b[key])) > 1e-9:
                    return False
            except RemediationError:
                if a[key] != b[key]:
                    return False
    return True


# --------------------------------------------------------------------------------------
# the operator resource spec

def _rw_selected(entry, index, wanted):
    if not wanted:
        return True
    for item in wanted:
        if item == str(index) or item == entry.get('name') or (entry.get('url') and item in entry['url']):
            return True
    return False


# top-level settings of the operator resource agent_tune sets as given: option -> spec key
SPEC_SETTINGS = (('scrape_interval', 'scrapeInterval'), ('scrape_timeout', 'scrapeTimeout'), ('wal_compression', 'walCompression'))
# Prometheus' defaults (the operator leaves them unset): global scrape_interval 1m, scrape_timeout 10s
SCRAPE_DEFAULTS = {'scrapeInterval': '1m', 'scrapeTimeout': '10s'}


def _spec_settings(new, params, changes):
    """Set scrapeInterval, scrapeTimeout, walCompression; a timeout above the interval is refused
    (Prometheus would not load the configuration)."""
    for option, key in SPEC_SETTINGS:
        value = params.get(option)
        if value is None or new.get(key) == value:
            continue
        if key != 'walCompression':
            try:
                units.parse_duration(value)
            except (TypeError, ValueError) as exc:
                raise RemediationError('%s %r is not a duration: %s' % (option, value, exc))
            if not str(value)[-1:].isalpha():
                raise RemediationError('%s %r needs a unit (the operator takes durations like 30s, 1m)' % (option, value))
        changes.append('%s %s -> %s' % (key, new.get(key, 'default'), value))
        new[key] = value
    interval = new.get('scrapeInterval') or SCRAPE_DEFAULTS['scrapeInterval']
    timeout = new.get('scrapeTimeout') or SCRAPE_DEFAULTS['scrapeTimeout']
    if (params.get('scrape_interval') is not None or params.get('scrape_timeout') is not None) \
            and units.parse_duration(timeout) > units.parse_duration(interval):
        raise RemediationError('scrapeTimeout %s is above scrapeInterval %s: Prometheus refuses that configuration' % (timeout, interval))


def tune_spec(spec, params, bounds=None, overridden=None):
    """The new spec and the list of changes (pure: no API calls). Raises RemediationError.

    ``params['override_guardrails']`` names the guardrails (GUARDRAILS) to let through; those a
    change needed are appended to ``overridden``."""
    new = copy.deepcopy(spec or {})
    changes = []
    overrides = tuple(params.get('override_guardrails') or ())
    _spec_settings(new, params, changes)
    entries = new.get('remoteWrite') or []
    wants_rw = params.get('drop_metrics') or any(v is not None for v in (params.get('queue') or {}).values())
    if wants_rw and not entries:
        raise RemediationError('the resource has no remoteWrite entry to tune')
    matched = 0
    for index, entry in enumerate(entries):
        if not _rw_selected(entry, index, params.get('remote_write')):
            continue
        matched += 1
        label = 'remoteWrite[%d]%s' % (index, ' (%s)' % entry['name'] if entry.get('name') else '')
        if params.get('drop_metrics'):
            rules = merge_drop_rules(entry.get('writeRelabelConfigs'), params['drop_metrics'], params.get('drop_state', 'present'),
                                     job=params.get('drop_job'), overrides=overrides, overridden=overridden)
            if rules != (entry.get('writeRelabelConfigs') or []):
                verb = 'drop' if params.get('drop_state', 'present') == 'present' else 'stop dropping'
                changes.append('%s: %s %s%s' % (label, verb, ', '.join(params['drop_metrics']),
                                                ' of job %s' % params['drop_job'] if params.get('drop_job') else ''))
                if rules:
                    entry['writeRelabelConfigs'] = rules
                else:
                    entry.pop('writeRelabelConfigs', None)
        queue = dict((k, v) for k, v in (params.get('queue') or {}).items() if v is not None)
        current = entry.get('queueConfig') or {}
        if queue and params.get('only_increase'):
            # never lower a setting (the planner raises maxShards; the live default may already be higher)
            for key in list(queue):
                camel = QUEUE_KEYS.get(key, key)
                now = units.number(current.get(camel, QUEUE_DEFAULTS.get(camel)))
                if now is not None and units.number(queue[key]) is not None and units.number(queue[key]) <= now:
                    del queue[key]
        if queue:
            merged = queue_config(current, queue, bounds, overrides, overridden)
            if merged != current:
                diffs = ['%s %s -> %s' % (k, current.get(k, 'default'), merged[k]) for k in sorted(merged) if current.get(k) != merged[k]]
                changes.append('%s.queueConfig: %s' % (label, ', '.join(diffs)))
                entry['queueConfig'] = merged
    if wants_rw and not matched:
        raise RemediationError('no remoteWrite entry matches %s' % params.get('remote_write'))
    current_res = new.get('resources') or {}
    wanted_res = None
    if params.get('resources'):
        wanted_res = check_resources(current_res, params['resources'], bounds, overrides, overridden)
    if params.get('resources_step'):
        wanted_res = step_resources(wanted_res or current_res, params['resources_step'],
                                    step_from=params.get('resources_step_from'), bounds=bounds)
    if wanted_res is not None and not same_quantities(wanted_res, current_res):
        for section in ('limits', 'requests'):
            for res in sorted(set((wanted_res.get(section) or {})) | set((current_res.get(section) or {}))):
                old = (current_res.get(section) or {}).get(res)
                val = (wanted_res.get(section) or {}).get(res)
                if old != val:
                    changes.append('resources.%s.%s %s -> %s' % (section, res, old, val))
        new['resources'] = wanted_res
    return new, changes


def tuned_parts(spec):
    parts = {'remoteWrite': copy.deepcopy((spec or {}).get('remoteWrite') or []),
             'resources': copy.deepcopy((spec or {}).get('resources') or {})}
    for _option, key in SPEC_SETTINGS:
        if (spec or {}).get(key) is not None:
            parts[key] = spec[key]
    return parts


# --------------------------------------------------------------------------------------
# plan from findings

def _text(check):
    value = check.get('value')
    return ('%s %s' % (value, check.get('message') or '')).lower()


def index_checks(checks):
    """``{id: check}`` of a list of check dicts (the last one wins)."""
    out = {}
    for check in checks or []:
        if isinstance(check, dict) and check.get('id'):
            out[check['id']] = check
    return out


def _bad(check, levels=('critical',)):
    return check is not None and check.get('status') in levels


def receiver_failing(checks):
    """True when the findings say the receiver is failing (retries with no bytes, 4xx, lag)."""
    idx = index_checks(checks)
    return (_bad(idx.get('RW-RETRY')) or _bad(idx.get('RW-SUCCESS'))
            or (_bad(idx.get('RW-LAG')) and _bad(idx.get('RW-PENDING'), ('warning', 'critical'))))


def plan(checks, allowed=None, options=None):
    """Map the findings of one cluster to remediation actions.

    ``checks``: [{id, status, value, threshold, message}]. ``allowed``: action names that may
    act (None = all). ``options``: ``receiver_managed`` (bool), ``drop_metrics`` (list of
    regexes for memory/cardinality findings), ``memory_action`` (``resources`` or ``drop``).

    Returns a list of ``{action, findings, reason, blocked, blocked_reasons, allowed, params}``,
    one per action, in the order they should run. ``blocked`` actions must not run (a
    guardrail says no); not ``allowed`` ones are only reported.
    """
    options = options or {}
    idx = index_checks(checks)
    actions = []
    rx_failing = receiver_failing(checks)

    def add(action, findings, why, **params):
        for existing in actions:
            if existing['action'] == action:
                existing['findings'] = sorted(set(existing['findings']) | set(findings))
                existing['reason'] += '; ' + why
                for key, value in params.items():
                    existing['params'].setdefault(key, value)
                return
        actions.append({'action': action, 'findings': sorted(set(findings)), 'reason': why,
                        'blocked': False, 'blocked_reasons': [], 'params': params})

    pod = idx.get('POD')
    health = idx.get('HEALTH')
    pod_text = _text(pod) if pod else ''
    if pod and pod.get('status') in ('warning', 'critical') and 'terminating' in pod_text:
        add(FORCED_RESTART, ['POD'], 'the pod is stuck Terminating', reason='stuck_terminating')
    elif _bad(pod):
        why = 'crash looping' if 'crash' in pod_text else 'not running'
        add(GRACEFUL_RESTART, ['POD'], 'the pod is %s' % why, reason='crashloop' if 'crash' in pod_text else 'unhealthy')
    if _bad(health):
        add(GRACEFUL_RESTART, ['HEALTH'], 'the agent is not healthy', reason='unhealthy')
    if _bad(idx.get('INGEST')):
        add(GRACEFUL_RESTART, ['INGEST'], 'ingest is stuck', reason='stuck_ingest')

    wal_findings = []
    if _bad(idx.get('WAL-HEALTH')):  # critical = corruption
        wal_findings.append('WAL-HEALTH')
    logs = idx.get('LOGS')
    if _bad(logs) and ('corrupt' in _text(logs) or 'repair' in _text(logs)):
        wal_findings.append('LOGS')
    if wal_findings:
        add(WAL_RECOVERY, wal_findings, 'the WAL is corrupted', reason='wal_corruption')

    memory = idx.get('MEMORY')
    if _bad(memory, ('critical',)) or (pod and 'oomkilled' in pod_text):
        findings = ['MEMORY'] if memory else ['POD']
        if options.get('memory_action') == 'drop' and options.get('drop_metrics'):
            add(DROP_RULES, findings, 'memory near its limit: drop series', drop_metrics=list(options['drop_metrics']))
        else:
            add(RESOURCES_INCREASE, findings, 'memory near its limit or OOMKilled: +%g%% memory'
                % _bounds(options.get('bounds'))['step_percent'], step=['memory'])
    elif _bad(memory, ('warning',)) and options.get('drop_metrics'):
        add(DROP_RULES, ['MEMORY'], 'memory above its warning level: drop series', drop_metrics=list(options['drop_metrics']))
    if _bad(idx.get('SERIES'), ('warning', 'critical')) and options.get('drop_metrics'):
        add(DROP_RULES, ['SERIES'], 'series growth: drop series', drop_metrics=list(options['drop_metrics']))

    shards = idx.get('RW-SHARDS')
    if _bad(shards):
        desired, current_max = _shards_from(shards)
        new_max = shards_for(desired, current_max, options.get('bounds')) if desired is not None else None
        params = {'desired_shards': desired, 'current_max_shards': current_max}
        if new_max is not None:
            params['max_shards'] = new_max
        add(QUEUE_TUNING, ['RW-SHARDS'], 'desired shards above max shards', **params)

    if rx_failing:
        ids = [i for i in ('RW-RETRY', 'RW-SUCCESS', 'RW-LAG', 'RW-PENDING') if _bad(idx.get(i), ('warning', 'critical'))]
        if options.get('receiver_managed'):
            add(RECEIVER_RESTART, ids, 'the receiver is failing')
        for act in actions:
            if act['action'] in RESTARTING_ACTIONS and act['action'] != FORCED_RESTART:
                act['blocked'] = True
                act['blocked_reasons'].append(
                    'the receiver is failing (%s): restarting now loses the unsent WAL (prometheus#13539)' % ', '.join(ids))

    if _bad(idx.get('CONFIG')):
        for act in actions:
            if act['action'] == GRACEFUL_RESTART and act['findings'] == ['CONFIG']:
                act['blocked'] = True

    # one restart per cluster: WAL recovery and forced restarts include it, a resources change restarts too
    kinds = set(a['action'] for a in actions)
    if GRACEFUL_RESTART in kinds and (kinds & set([WAL_RECOVERY, FORCED_RESTART, RESOURCES_INCREASE])):
        graceful = [a for a in actions if a['action'] == GRACEFUL_RESTART][0]
        actions.remove(graceful)
        for act in actions:
            if act['action'] in (WAL_RECOVERY, FORCED_RESTART, RESOURCES_INCREASE):
                act['findings'] = sorted(set(act['findings']) | set(graceful['findings']))
                act['reason'] += ' (also: %s)' % graceful['reason']
                break
    if WAL_RECOVERY in kinds and FORCED_RESTART in kinds:
        wal = [a for a in actions if a['action'] == WAL_RECOVERY][0]
        wal['params']['mode'] = 'forced'

    order = {RECEIVER_RESTART: 0, FORCED_RESTART: 1, WAL_RECOVERY: 2, GRACEFUL_RESTART: 3, DROP_RULES: 4,
             QUEUE_TUNING: 5, RESOURCES_INCREASE: 6}
    actions.sort(key=lambda a: order[a['action']])
    for act in actions:
        act['allowed'] = allowed is None or act['action'] in allowed
    return actions


_SHARDS_MSG = re.compile(r'desired shards ([0-9.]+) (?:vs|of) max ([0-9.]+)')


def _shards_from(check):
    """(desired, max) shards from an RW-SHARDS check: a value dict, the message, or value/threshold."""
    value = check.get('value')
    if isinstance(value, dict):
        desired = units.number(value.get('desired') or value.get('shards_desired') or value.get('desired_shards'))
        current_max = units.number(value.get('max') or value.get('shards_max') or value.get('max_shards'))
        return desired, current_max
    match = _SHARDS_MSG.search(str(check.get('message') or ''))
    if match:
        return float(match.group(1)), float(match.group(2))
    desired = units.number(value)
    threshold = check.get('threshold')
    current_max = units.number(threshold) if not isinstance(threshold, dict) else None
    if desired is not None and current_max is not None and desired > current_max:
        return desired, current_max
    return None, None


def record(action, outcome, changed=False, detail=None, when=None):
    """One entry of a cluster's ``remediation`` list in the fleet report."""
    return {
        'action': action.get('action'),
        'findings': action.get('findings', []),
        'reason': action.get('reason'),
        'outcome': outcome,
        'changed': bool(changed),
        'detail': detail or {},
        'at': (when or _now()).strftime('%Y-%m-%dT%H:%M:%SZ'),
    }
