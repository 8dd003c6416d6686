# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each read-only module does, once: ``run_<module>(params, target=None, check_mode=False)``.

Shared by the module files (through ``args_common.run_and_exit``), by ``agent_audit`` (which
composes the runners of the parts it gathers) and by the action plugins that run the same work
inside Ansible's worker. A runner

* takes the parameters as the module's argument spec made them (defaults filled in) and checks
  what the spec cannot express (the shared checks of ``args_common.validate_common`` first);
* takes ``target``: a ``kube.target.Target``, a function that makes one (called here, so that a
  connection that cannot even be set up becomes data), or None for the target the shared
  options describe;
* takes ``deadline``: the ``core.http.Deadline`` of the run (``run_module`` makes one of ``timeout``
  seconds), shared by every request of the target it makes and of the query API: a server that
  accepts the connection and never answers costs the run ``timeout`` once, whatever the number of
  requests; None: a deadline of its own of ``timeout``;
* returns the module's result without ``changed`` (``run_module`` adds it and scrubs it:
  ``core.scrub``, no credential in any returned string);
* raises ``FleetopsError`` for arguments it refuses (``MissingLibrary`` for a library that is
  needed and missing); an unreachable cluster or agent, a timeout or rejected credentials are
  ``status: unknown`` with the reason, never an exception.

No AnsibleModule here: the module files and the action plugins turn the exceptions into
``fail_json`` / a failed result.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import json
import os
import shutil
import tempfile
import time

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.args_common import (
    target_from_params, uses_kubernetes, validate_common)
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import checks as checksmod
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError, MissingLibrary
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.http import Deadline, QueryClient, without_userinfo
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.scrub import scrub
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.units import parse_duration, parse_since, rfc3339
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import workloads
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import agent_health
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import alert_rules
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import exposition
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import logs as logmod
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import promtool
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import remote_write as rw
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import restore_proof
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal import agent_path as wal_agent_path
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal import reader as wal_reader

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - ansible-core requires PyYAML
    HAS_YAML = False

AUDIT_PARTS = ('remote_write_stats', 'agent_status', 'wal_inspect', 'agent_logs')
BACKUP_THRESHOLD = 'export, promtool check config and a throwaway agent from the backup ready'
RULES_THRESHOLD = 'deployed, current and valid'
RULES_API = '/apis/%s/v1' % workloads.OPERATOR_GROUP


# ----------------------------------------------------------------------------- shared steps

def _check_common(params):
    problem = validate_common(params)
    if problem:
        raise FleetopsError(problem)


def _not_negative(params, name):
    if (params.get(name) or 0) < 0:
        raise FleetopsError('%s must not be negative, got %s' % (name, params[name]))


def _parsed(parse, value, option):
    """``parse(value)``, None for an empty value; a ValueError names ``option``."""
    if value in (None, '', {}):
        return None
    try:
        return parse(value)
    except ValueError as exc:
        raise FleetopsError('%s: %s' % (option, exc))


def run_deadline(params, deadline=None):
    """``deadline``, or a new one of the run's ``timeout`` seconds."""
    return deadline if deadline is not None else Deadline.of(params.get('timeout'), default=10.0)


def _connect(target, params, deadline=None):
    """(the Target to read, None) or (None, why it cannot be reached): ``target``, what it makes
    when it is a function, or the one of the shared options (under ``deadline``). A missing
    library raises."""
    try:
        if target is None:
            return target_from_params(params, deadline=run_deadline(params, deadline)), None
        return (target() if callable(target) else target), None
    except MissingLibrary:
        raise
    except FleetopsError as exc:
        return None, exc


def _failing(exc):
    """A target factory that raises ``exc``: every part of an audit reports the same reason."""
    def connect():
        raise exc
    return connect


def _where(target):
    if target is None or callable(target):
        return 'the agent'
    try:
        return target.describe()
    except FleetopsError:
        return 'the agent'


# ----------------------------------------------------------------------------- agent_status

def run_agent_status(params, target=None, check_mode=False, page=None, deadline=None, pod_pages=None):
    """agent_status: pods, health, memory, ingest, config, targets (``page``: the /metrics of this
    reading, ``pod_pages``: the other pods' pages of this reading, both shared in agent_audit)."""
    _check_common(params)
    _not_negative(params, 'interval')
    baseline = _parsed(agent_health.as_baseline, params.get('baseline'), 'baseline')
    kube = uses_kubernetes(params)
    deadline = run_deadline(params, deadline)
    target, problem = _connect(target, params, deadline)
    if problem:
        return dict(agent_health.unknown_result(str(problem), kube), target='the agent')
    thresholds = params.get('thresholds')
    try:
        if (params.get('interval') or 0) > 0 and baseline is None:
            baseline = agent_health.gather(target, thresholds=thresholds, page=page, read_events_too=False)['snapshot']
            deadline.pause(params['interval'])      # the wait asked for is not the server's time
            page = pod_pages = None     # the second reading reads its own pages
        result = agent_health.gather(target, baseline=baseline, thresholds=thresholds, page=page, pod_pages=pod_pages)
    except MissingLibrary:
        raise
    except FleetopsError as exc:
        result = agent_health.unknown_result(str(exc), kube)
    result['target'] = target.describe()
    return result


# ----------------------------------------------------------------------------- remote_write_stats

def _query_stats(params, result, th, deadline):
    """remote_write_stats with source=query: the figures of the central query API."""
    window = _parsed(parse_duration, params['window'], 'window')
    if not window or window <= 0:
        raise FleetopsError('window must be longer than 0 seconds')
    if not params.get('query_url'):
        raise FleetopsError('query_url is required with source=query (for example the inventory\'s fleet_query_url)')
    if not params.get('cluster') and not params.get('query_selector'):
        raise FleetopsError('cluster (or query_selector) is required with source=query: without it the whole fleet is summed')
    try:
        client = QueryClient(params['query_url'], timeout=params['timeout'], validate_certs=params['query_validate_certs'],
                             ca_cert=params.get('ca_cert'), bearer_token=params.get('query_bearer_token'), deadline=deadline)
    except ValueError as exc:
        raise FleetopsError(str(exc))
    result['agent'] = '%s=%s at %s' % (params['cluster_label'], params.get('cluster'), client.url)
    try:
        reading = rw.query_reading(client, window, cluster=params.get('cluster'), cluster_label=params['cluster_label'],
                                   extra_selector=params.get('query_selector'), now=time.time())
    except FleetopsError as exc:
        return rw.unknown_result(result, str(exc))
    reason = 'the query API has no remote-write series for %s="%s" over %s' % (
        params['cluster_label'], params.get('cluster'), params['window'])
    return rw.stats_result(result, reading, th, empty_reason=reason)


def run_remote_write_stats(params, target=None, check_mode=False, page=None, deadline=None, pod_pages=None):
    """remote_write_stats: the queues of /metrics (rates against a baseline) or of the query API
    (``page``, ``pod_pages``: the pages of this reading that another part of agent_audit read)."""
    _check_common(params)
    th = rw.thresholds(params.get('thresholds'))
    result = dict(source=params.get('source') or 'metrics', window_seconds=None, queues=[])
    baseline = _parsed(rw.as_reading, params.get('baseline'), 'baseline')
    deadline = run_deadline(params, deadline)
    if result['source'] == 'query':
        return _query_stats(params, result, th, deadline)
    _not_negative(params, 'interval')
    target, problem = _connect(target, params, deadline)
    if problem:
        result['agent'] = 'the agent'
        return rw.unknown_result(result, str(problem))
    result['agent'] = target.describe()
    pods = _several_pods(params, target)
    if pods:
        return _pods_stats(params, target, pods, result, th, baseline, page, deadline, pod_pages)
    try:
        reading = rw.read_target(target, page=page() if page is not None else None)
        if (params.get('interval') or 0) > 0 and baseline is None:
            baseline = reading
            deadline.pause(params['interval'])
            reading = rw.read_target(target)
    except MissingLibrary:
        raise
    except FleetopsError as exc:
        return rw.unknown_result(result, str(exc))
    result['agent'] = target.describe()
    return rw.stats_result(result, reading, th, rw.one_pod_baseline(baseline, getattr(target, 'pod_name', None)))


def _several_pods(params, target):
    """The pods of the agent's selector when it has several (each is read), else None (one reading:
    ``pod`` given, an agent by ``url``, one pod, or pods that cannot be listed: that reading says why)."""
    if params.get('pod') or params.get('url') or callable(target) or not hasattr(target, 'for_pod'):
        return None
    try:
        pods = target.pods()
    except FleetopsError:
        return None
    return pods if len(pods) > 1 else None


def _pods_stats(params, target, pods, result, th, baseline, page, deadline, pod_pages=None):
    """remote_write_stats of every pod of an agent (shards, replicas, DaemonSet): each pod's /metrics
    through its own pod proxy under the run's deadline; ``pod_pages`` (agent_audit's, shared with
    agent_status) or ``page`` (the target's own pod) give pages another part already read."""
    order = [((p.get('metadata') or {}).get('name'), ((p.get('metadata') or {}).get('labels') or {}).get(
        agent_health.SHARD_LABEL)) for p in pods]
    names = [name for name, _shard in order if name]
    readings = rw.read_pods(target, names, pages=pod_pages or exposition.PodPages(target, own=page))
    if (params.get('interval') or 0) > 0 and baseline is None:
        baseline = rw.pods_reading(dict((n, r) for n, (r, _e) in readings.items() if r is not None))
        deadline.pause(params['interval'])
        readings = rw.read_pods(target, names)
    result['agent'] = 'cluster %s pods %s/(%s): %d pods' % (
        getattr(target, 'cluster', '?'), target.namespace, getattr(target, 'label_selector', None), len(names))
    return rw.pods_stats_result(result, [(n, s) for n, s in order if n], readings, th, baseline)


# ----------------------------------------------------------------------------- wal_inspect

def run_wal_inspect(params, target=None, check_mode=False, deadline=None):
    """wal_inspect: the WAL where it is (a local directory, or in the pod, always through Kubernetes).
    Without ``path`` the WAL is where the agent's ``--storage.agent.path`` says (wal/agent_path)."""
    _check_common(params)
    location = wal_reader.choose_location(params)
    if target is None:
        target = functools.partial(target_from_params, dict(params, url=None), deadline=run_deadline(params, deadline))
    source = 'option'
    if not params.get('path'):
        asked = target
        if location == 'local':
            asked = functools.partial(target_from_params, params, deadline=run_deadline(params, deadline)) if params.get('url') else None
        try:
            asked = asked() if callable(asked) else asked
        except FleetopsError:
            asked = None      # unreachable: the default path, and the reading says why
        if location == 'pod' and asked is not None:
            target = asked
        path, source = wal_agent_path.discover(asked, params.get('container') or 'prometheus')
        params = dict(params, path=path)
    if location == 'pod' and not params.get('pod') and not callable(target) and hasattr(target, 'for_pod'):
        try:
            pods = target.pods()
        except FleetopsError:
            pods = []       # the single-pod reading says why
        if len(pods) > 1:   # every pod of the selector, rolled up
            result = wal_reader.inspect_pods(params, target, pods, check_mode=check_mode)
            result['wal_path_source'] = source
            return _debug_pod_left(result)
    result = wal_reader.inspect(params, location, target=target, check_mode=check_mode)
    result['wal_path_source'] = source
    return _debug_pod_left(result)


def _debug_pod_left(result):
    """``changed`` is false after a debug pod (created and deleted: the cluster is as it was), true
    with a warning when one could not be deleted (it ends by itself after its activeDeadlineSeconds)."""
    left = [e['debug_pod'] for e in [result] + list(result.get('pods') or [])
            if (e.get('debug_pod') or {}).get('created') and not e['debug_pod'].get('deleted')]
    if left:
        result['changed'] = True
        result.setdefault('warnings', []).extend(d.get('delete_error') or 'debug pod %s left' % d.get('name') for d in left)
    return result


# ----------------------------------------------------------------------------- agent_logs

def run_agent_logs(params, target=None, check_mode=False, deadline=None):
    """agent_logs: the log's errors and warnings by pattern since a time (or a state file's last line)."""
    _check_common(params)
    now = time.time()
    _not_negative(params, 'examples')
    if params.get('tail_lines') is not None and params['tail_lines'] <= 0:
        raise FleetopsError('tail_lines must be a positive number of lines (> 0), got %s' % params['tail_lines'])
    try:
        since = parse_since(params.get('since'), now)
    except ValueError as exc:
        raise FleetopsError(str(exc))
    log_path = params.get('log_path')
    result = dict(source='file' if log_path else 'kubernetes', state_file_updated=False, since=None, since_from='none')
    if params.get('url') and not log_path:
        # an agent outside Kubernetes has no pods/log: without a local file its log cannot be read
        where = 'agent %s' % without_userinfo(params['url'])
        result.update(source='file', target=where)
        return logmod.unknown_result(result, logmod.no_log_file_reason(where))
    if log_path:
        target, key = None, 'file:%s' % os.path.abspath(log_path)
        result['target'] = log_path
    else:
        target, problem = _connect(target, params, deadline)
        if problem:
            result['target'] = 'the agent'
            return logmod.unknown_result(result, str(problem))
        result['target'] = key = target.describe()
    pods = _several_pods(params, target) if target is not None else None
    if pods:
        return _pods_logs(params, target, pods, result, since, now, check_mode)
    after = logmod.load_state(params['state_file'], key) if params.get('state_file') else None
    start = after if after is not None else since
    result['since'] = rfc3339(start)
    result['since_from'] = 'state_file' if after is not None else ('since' if since is not None else 'none')
    try:
        text = logmod.read_log(target, log_path, start, tail_lines=params.get('tail_lines'), previous=params.get('previous'))
    except FleetopsError as exc:
        return logmod.unknown_result(result, str(exc))
    if target is not None:
        result['target'] = target.describe()
    last_epoch = logmod.logs_result(result, text, since, after, params.get('examples', 3))
    newest = last_epoch if last_epoch is not None else after
    if params.get('state_file') and not check_mode and newest is not None and newest != after:
        try:
            result['state_file_updated'] = logmod.save_state(params['state_file'], key, newest, now)
        except (IOError, OSError) as exc:
            raise FleetopsError('state_file %s cannot be written: %s' % (params['state_file'], exc))
    return result


def _pods_logs(params, target, pods, result, since, now, check_mode):
    """agent_logs of every pod of an agent (shards, replicas, DaemonSet): each pod's log through its
    own target, a few at a time, each with its own place in the state file (its ``describe()``)."""
    names = [(p.get('metadata') or {}).get('name') for p in pods if (p.get('metadata') or {}).get('name')]
    state_file = params.get('state_file')

    def one(name):
        pinned = target.for_pod(name)
        key = pinned.describe()
        after = logmod.load_state(state_file, key) if state_file else None
        entry = {'name': name}
        try:
            text = logmod.read_log(pinned, None, after if after is not None else since, tail_lines=params.get('tail_lines'),
                                   previous=params.get('previous'))
        except MissingLibrary:
            raise
        except FleetopsError as exc:
            logmod.unknown_result(entry, str(exc))
            return entry, key, after, None
        newest = logmod.logs_result(entry, text, since, after, params.get('examples', 3))
        return entry, key, after, newest

    done = workloads.each_pod(one, names)
    afters = [after for _e, _k, after, _n in done if after is not None]
    result['since'] = rfc3339(min(afters) if afters else since)
    result['since_from'] = 'state_file' if afters else ('since' if since is not None else 'none')
    result['target'] = 'cluster %s pods %s/(%s): %d pods' % (
        getattr(target, 'cluster', '?'), target.namespace, getattr(target, 'label_selector', None), len(names))
    logmod.pods_result(result, [entry for entry, _k, _a, _n in done], params.get('examples', 3))
    if state_file and not check_mode:
        for _entry, key, after, newest in done:
            if newest is not None and newest != after:
                try:
                    result['state_file_updated'] = logmod.save_state(state_file, key, newest, now) or result['state_file_updated']
                except (IOError, OSError) as exc:
                    raise FleetopsError('state_file %s cannot be written: %s' % (state_file, exc))
    return result


# ----------------------------------------------------------------------------- agent_audit

# an audit's own snapshot older than this does not start a window (a daily run's window is about a day)
BASELINE_MAX_AGE_SECONDS = 48 * 3600


def audit_baseline(value):
    """(agent_status baseline, remote-write baseline) of agent_audit's ``baseline``: the ``snapshot``
    of an earlier agent_audit call (both parts), or an agent_status snapshot (that part only)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError('baseline is not a snapshot (not JSON)')
    if isinstance(value, dict) and isinstance(value.get('snapshot'), dict) and 'time' not in value:
        value = value['snapshot']       # a whole registered agent_audit result
    if isinstance(value, dict) and ('agent_status' in value or 'remote_write_stats' in value):
        status, writes = value.get('agent_status'), value.get('remote_write_stats')
        return (agent_health.as_baseline(status) if status else None), (rw.as_reading(writes) if writes else None)
    return agent_health.as_baseline(value), None


def _fresh(baseline, now, part):
    """(``baseline`` or None, why it is not used): a snapshot from the future or older than
    BASELINE_MAX_AGE_SECONDS does not start a window."""
    if baseline is None:
        return None, None
    age = now - float(baseline['time'])
    if age <= 0:
        return None, 'the %s baseline was taken after this reading (a clock or a file from elsewhere): not used' % part
    if age > BASELINE_MAX_AGE_SECONDS:
        return None, 'the %s baseline is %.1f h old, more than %d h, not used' % (part, age / 3600, BASELINE_MAX_AGE_SECONDS // 3600)
    return baseline, None


def run_agent_audit(params, target=None, check_mode=False, deadline=None):
    """agent_audit: the runners of the parts in ``gather`` on one target, /metrics read once, all
    under one deadline (a silent server costs ``timeout`` once, not once per part).

    ``baseline``: the ``snapshot`` this returns, from an earlier run (the daily role keeps it in the
    fleet history): the rates, ratios and increases of both remote write and agent_status are then
    over the time since that run."""
    _check_common(params)
    _not_negative(params, 'log_examples')
    gather = params.get('gather') or list(AUDIT_PARTS)
    if 'agent_logs' in gather:
        _parsed(parse_since, params.get('logs_since'), 'logs_since')
    status_baseline, rw_baseline = _parsed(audit_baseline, params.get('baseline'), 'baseline') or (None, None)
    notes = []
    now = time.time()
    for part, base in (('agent_status', status_baseline), ('remote_write_stats', rw_baseline)):
        kept, why = _fresh(base, now, part)
        if why:
            notes.append(why)
        if part == 'agent_status':
            status_baseline = kept
        else:
            rw_baseline = kept
    deadline = run_deadline(params, deadline)
    target, problem = _connect(target, params, deadline)
    if hasattr(target, 'keep_pods'):
        target.keep_pods()    # the parts read; one listing of the pods serves them all
    page = exposition.PageOnce(functools.partial(exposition.MetricsPage, target)) if target is not None else None
    # every pod's /metrics once for both parts (an agent of several pods)
    pod_pages = exposition.PodPages(target, own=page) if target is not None else None
    if problem:
        target = _failing(problem)
    kube = uses_kubernetes(params)
    calls = {
        'remote_write_stats': lambda: run_remote_write_stats(
            dict(params, source='metrics', baseline=rw_baseline, interval=0), target, page=page, deadline=deadline,
            pod_pages=pod_pages),
        'agent_status': lambda: run_agent_status(dict(params, baseline=status_baseline, interval=0), target, page=page,
                                                 deadline=deadline, pod_pages=pod_pages),
        # an agent given by url whose WAL is read in its pod: the Kubernetes options make that target
        'wal_inspect': lambda: run_wal_inspect(dict(
            params, path=params['wal_path'], verify=params['wal_verify'], location=params['wal_location'],
            repair_preview=False, agent_running=None, debug_pod=params.get('wal_debug_pod'),
            debug_pod_image=params.get('wal_debug_pod_image')), target if kube else None, check_mode, deadline=deadline),
        'agent_logs': lambda: run_agent_logs(dict(
            params, since=params.get('logs_since'), examples=params['log_examples'], state_file=None, tail_lines=None,
            previous=False), target, check_mode, deadline=deadline),
    }
    parts, seconds, checks = {}, {}, []
    for part in AUDIT_PARTS:
        if part in gather:
            start = time.time()
            parts[part] = calls[part]()
            parts[part].pop('changed', None)
            seconds[part] = round(time.time() - start, 3)
            checks.extend(parts[part].get('checks') or [])
    snapshot = dict((part, parts[part]['snapshot']) for part in ('agent_status', 'remote_write_stats')
                    if isinstance((parts.get(part) or {}).get('snapshot'), dict))
    result = dict(status=checksmod.result_status(checks), checks=checks, parts=parts, seconds=seconds, target=_where(target),
                  snapshot=snapshot)
    if notes:
        result['baseline_notes'] = notes
    return result


# ----------------------------------------------------------------------------- rules_status

def _prometheus_rules(target, namespaces, selector):
    """The PrometheusRule objects of ``namespaces``; None when the cluster has no such resource type."""
    if getattr(target, 'request_json', None) is None:
        raise FleetopsError('%s is not reached through Kubernetes, where PrometheusRule objects live' % target.describe())
    found = []
    for namespace in namespaces:
        items = workloads.list_items(target, workloads.namespaced_path(RULES_API, namespace, 'prometheusrules'),
                                     query=[('labelSelector', selector)] if selector else None, what='listing PrometheusRules',
                                     missing_ok=True)
        if items is None:
            return None
        found.extend(items)
    return found


def _expected_groups(expected):
    if isinstance(expected, str):
        if not HAS_YAML:
            raise MissingLibrary('PyYAML')
        try:
            expected = yaml.safe_load(expected)
        except yaml.YAMLError as exc:
            raise FleetopsError('expected is not YAML: %s' % exc)
    groups = alert_rules.groups_of(expected)
    if not groups:
        raise FleetopsError('expected holds no rule groups')
    return groups


def _exported_names(target, params):
    """The metric names the agent exports (None when not asked or not read)."""
    if not params['check_metrics']:
        return None
    try:
        status, body = target.http_get('/metrics', timeout=params.get('timeout'))
    except FleetopsError:
        return None
    if status != 200:
        return None
    return alert_rules.exported_names(body.decode('utf-8', 'replace') if isinstance(body, bytes) else body)


def run_rules_status(params, target=None, check_mode=False, deadline=None):
    """rules_status: are the expected alert rules deployed, current and valid (RULES)."""
    _check_common(params)
    expected_groups = _expected_groups(params['expected'])
    result = {'rules': {}, 'promtool': {'ran': False}}
    namespaces = params.get('rules_namespaces') or [params.get('namespace') or 'monitoring']
    target, problem = _connect(target, params, deadline)
    objects = None
    try:
        objects = None if problem else _prometheus_rules(target, namespaces, params.get('rules_selector'))
    except FleetopsError as exc:
        problem = exc
    if problem:
        reason = 'the PrometheusRule objects could not be listed: %s' % str(problem).splitlines()[0][:300]
        check = checksmod.unknown('RULES', reason, RULES_THRESHOLD)
        return dict(result, status='unknown', checks=[check], reason=reason)
    if objects is None:
        check = checksmod.make('RULES', 'warning', 'missing', RULES_THRESHOLD, 'the cluster has no PrometheusRule resource '
                               'type (the Prometheus Operator CRDs are missing)')
        return dict(result, status='warning', checks=[check])
    exported = _exported_names(target, params)
    expected_alerts = set(alert_rules.alerts_of(expected_groups))
    ours = [o for o in objects if params['group_name'] in {g.get('name') for g in alert_rules.groups_of(o)}
            or set(alert_rules.alerts_of(alert_rules.groups_of(o))) & expected_alerts]
    errors, why = promtool.check_rules(params['promtool'], ours)
    result['promtool'] = {'ran': errors is not None, 'errors': errors or {}, 'reason': why}
    check = alert_rules.evaluate(objects, expected_groups, exported, errors, params['group_name'])
    details = check.pop('details', {})
    details['exported_names_known'] = exported is not None
    if exported is None and params['check_metrics']:
        check['message'] += ' (the agent\'s /metrics could not be read: metric names not compared)'
    check['id'] = 'RULES'
    return dict(result, rules=details, status=check['status'], checks=[check])


# ----------------------------------------------------------------------------- agent_backup

def _status_data(target, path):
    """(the ``data`` of an agent's /api/v1/status/... answer, None) or (None, why not)."""
    try:
        status, body = target.http_get(path)
    except FleetopsError as exc:
        return None, '%s: %s' % (path, exc)
    if status != 200:
        return None, '%s: HTTP %s' % (path, status)
    try:
        return (json.loads(body.decode('utf-8', 'replace') if isinstance(body, bytes) else body) or {}).get('data'), None
    except ValueError as exc:
        return None, '%s: not JSON (%s)' % (path, exc)


def _operator_resource(params, target, backup):
    """(the agent's PrometheusAgent/Prometheus object made restorable, note for the message)."""
    if not uses_kubernetes(params):
        return None, ''
    try:
        pods = target.pods()
        kind, name, found = workloads.find_agent_resource(target, params.get('namespace') or 'monitoring',
                                                          pod=pods[0] if pods else None, name=params.get('name'),
                                                          kind=params.get('kind'))
    except FleetopsError as exc:
        return None, '; the operator resource could not be read: %s' % str(exc).splitlines()[0][:200]
    if found is None:
        return None, '; no PrometheusAgent/Prometheus resource found (not an operator install?)'
    backup['cr'] = '%s/%s' % (kind, name)
    for key in ('managedFields', 'resourceVersion', 'uid', 'generation', 'creationTimestamp'):
        (found.get('metadata') or {}).pop(key, None)
    found.pop('status', None)
    return found, ''


def _write(path, text):
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(text)
    return path


def _backup(params, target, backup, dest, deadline):
    """(status, value, message) of BACKUP; writes the files under ``dest``."""
    target, problem = _connect(target, params, deadline)
    if problem:
        return 'unknown', None, 'the agent could not be reached: %s' % str(problem).splitlines()[0][:300]
    config, why = _status_data(target, '/api/v1/status/config')
    if config is None or not config.get('yaml'):
        return 'critical', 'export failed', 'the configuration could not be exported (%s): no restorable backup' % (why or 'empty')
    flags, _why = _status_data(target, '/api/v1/status/flags')
    buildinfo, _why = _status_data(target, '/api/v1/status/buildinfo')
    resource, cr_note = _operator_resource(params, target, backup)
    try:
        os.makedirs(dest, exist_ok=True)
        backup['files']['config'] = _write(os.path.join(dest, 'config.yml'), config['yaml'])
        for key, doc in (('flags', flags), ('buildinfo', buildinfo), ('cr', resource)):
            if doc is not None:
                backup['files'][key] = _write(os.path.join(dest, key + '.json'), json.dumps(doc, indent=1, sort_keys=True) + '\n')
    except OSError as exc:
        return 'critical', 'export failed', 'the backup could not be written to %s: %s' % (dest, exc)
    agent_mode = agent_health.mode_of(flags) == 'agent'     # 2.x: --enable-feature=agent, 3.x: --agent
    ok, args, output = promtool.check_config(params['promtool'], backup['files']['config'], agent_mode)
    backup['promtool'] = {'rc': None if ok is None else (0 if ok else 1), 'args': args, 'output': output, 'agent_mode': agent_mode}
    if ok is None:
        return 'unknown', 'exported', 'exported to %s%s, but %s: the export is not proven' % (dest, cr_note, output)
    if not ok:
        return 'critical', 'check failed', 'promtool %s refuses the exported configuration: %s' % (
            ' '.join(args), output.splitlines()[-1] if output else '')
    exported = '%s exported to %s; promtool %s passed%s' % (', '.join(sorted(backup['files'])), dest, ' '.join(args), cr_note)
    proof = restore_proof.prove(params['prometheus'], config['yaml'], flags or {}, agent_mode, params.get('timeout') or 10.0)
    backup['restore'] = proof
    if proof['ok'] is None:
        return 'unknown', 'exported and checked', '%s; but %s' % (exported, proof['message'])
    if not proof['ok']:
        return 'critical', 'restore failed', '%s; but %s' % (exported, proof['message'])
    return 'ok', 'restored', '%s; %s' % (exported, proof['message'])


def run_agent_backup(params, target=None, check_mode=False, deadline=None):
    """agent_backup: export the configuration, flags, build and operator resource, prove it with promtool and a
    throwaway agent started from it (restore_proof) (BACKUP).

    In check mode nothing is written at ``dest``: the export is made and proven in a scratch directory.
    """
    _check_common(params)
    backup = {'dir': os.path.abspath(params['dest']), 'files': {}, 'cr': None, 'promtool': {}, 'restore': {}}
    scratch = tempfile.mkdtemp(prefix='fleetops-backup-check-') if check_mode else None
    try:
        status, value, message = _backup(params, target, backup, scratch or backup['dir'], deadline)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    check = checksmod.make('BACKUP', status, value, BACKUP_THRESHOLD, message)
    return dict(status=status, checks=[check], backup=backup)


# ----------------------------------------------------------------------------- by module name

RUNNERS = {
    'agent_status': run_agent_status,
    'remote_write_stats': run_remote_write_stats,
    'wal_inspect': run_wal_inspect,
    'agent_logs': run_agent_logs,
    'agent_audit': run_agent_audit,
    'rules_status': run_rules_status,
    'agent_backup': run_agent_backup,
}


def run_module(name, params, check_mode=False, target=None):
    """What module ``name`` returns for its validated ``params`` (with ``changed``, always false),
    scrubbed (``core.scrub``: no URL user information, header, token or password field in any
    string of it). Every request of the run is under one deadline of ``timeout`` seconds.

    Raises ``FleetopsError`` for arguments the module refuses (``MissingLibrary``: a missing library).
    """
    result = RUNNERS[name](params, target, check_mode=check_mode, deadline=run_deadline(params))
    result.setdefault('changed', False)
    return scrub(result)
