# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state of one Prometheus agent: its pods, health, build, mode, memory, CPU, config reload,
scrape targets and ingestion, and the checks POD, RESTARTS, HEALTH, MEMORY, INGEST, CONFIG and
TARGETS.

Pure Python (no Ansible). ``gather(target, now, baseline)`` reads everything through a
``target.Target`` (Kubernetes pod proxy or a direct URL) and returns the module's result; the
pieces (``pod_facts``, ``agent_facts``, ``targets_facts``, ``ingest_facts``, the ``check_*``)
work on plain data and are unit-tested alone.

Rates (samples appended per second, CPU cores) need two readings: the result's ``snapshot``
passed back later as ``baseline``. Without one the ingest rate is unknown and INGEST is judged
from the scrape targets (an up target scraped in the last three intervals while the appended
counter is above 0 means samples are coming in); CPU comes from metrics.k8s.io when the
cluster serves it. RESTARTS without a baseline counts the container's ``restartCount`` when the
pod is younger than 24 h or its last termination finished in the last 24 h.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import time

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import checks as _checks
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import events as kube_events
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import workloads as kube_workloads
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import exposition
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import monitors as _monitors
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.checks import make as _check
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.units import (
    duration as _duration, number as finite, quantity, span_text, timestamp as epoch, whole as _int)

CHECK_IDS = ('POD', 'RESTARTS', 'HEALTH', 'MEMORY', 'INGEST', 'CONFIG', 'TARGETS')
DAY = 86400.0
MI = 1024 * 1024
SNAPSHOT_VERSION = 1

# scrape limit counters (TARGETS: "sample/label/target limit hits")
LIMIT_COUNTERS = (
    'prometheus_target_scrapes_exceeded_sample_limit_total',
    'prometheus_target_scrape_pool_exceeded_target_limit_total',
    'prometheus_target_scrape_pool_exceeded_label_limits_total',
    'prometheus_target_scrapes_exceeded_body_size_limit_total',
    'prometheus_target_scrapes_exceeded_native_histogram_bucket_limit_total',
)
# WAL failure and corruption counters (WAL-HEALTH, evaluated in fleet_checks): (key, the names
# versions export, first present wins). Agent mode keeps ``prometheus_tsdb_wal_*`` for the WAL
# itself (the 2.42 capture) and ``prometheus_agent_*`` for its checkpoints and corruptions; the
# ``prometheus_agent_wal_*`` and server-mode ``prometheus_tsdb_*`` names are read as well.
WAL_COUNTERS = (
    ('writes_failed_total', ('prometheus_tsdb_wal_writes_failed_total', 'prometheus_agent_wal_writes_failed_total')),
    ('truncations_failed_total', ('prometheus_tsdb_wal_truncations_failed_total',
                                  'prometheus_agent_wal_truncations_failed_total')),
    ('checkpoint_creations_failed_total', ('prometheus_agent_checkpoint_creations_failed_total',
                                           'prometheus_tsdb_checkpoint_creations_failed_total')),
    ('checkpoint_deletions_failed_total', ('prometheus_agent_checkpoint_deletions_failed_total',
                                           'prometheus_tsdb_checkpoint_deletions_failed_total')),
    ('corruptions_total', ('prometheus_agent_corruptions_total', 'prometheus_tsdb_wal_corruptions_total')),
    ('reader_corruption_errors_total', ('prometheus_tsdb_wal_reader_corruption_errors_total',
                                        'prometheus_agent_wal_reader_corruption_errors_total')),
)


# ----------------------------------------------------------------------------- helpers

def mib(value):
    return '%.0fMi' % (value / MI) if value is not None else '?'


# ----------------------------------------------------------------------------- pods

def _container(items, name):
    for item in items or []:
        if item.get('name') == name:
            return item
    return None


def _state_name(state):
    for name in ('running', 'waiting', 'terminated'):
        if name in state:
            return name
    return None


SHARD_LABEL = 'operator.prometheus.io/shard'    # prometheus-operator's shard number of a pod
AGENT_LABEL = 'operator.prometheus.io/name'     # prometheus-operator's name of the pod's PrometheusAgent (or Prometheus)
# the prefixes of the operator's StatefulSet/DaemonSet names (PrometheusAgent, Prometheus), and its shards' suffix
OWNER_PREFIXES = ('prom-agent-', 'prometheus-')
SHARD_SUFFIX = re.compile(r'-shard-[0-9]+$')


def agent_of(meta):
    """The name of the agent (PrometheusAgent or Prometheus resource) a pod belongs to: its
    ``operator.prometheus.io/name`` label, else the name of its owner StatefulSet or DaemonSet less
    the operator's prefix and ``-shard-N``; None when neither tells."""
    name = (meta.get('labels') or {}).get(AGENT_LABEL)
    if name:
        return name
    for owner in meta.get('ownerReferences') or []:
        if owner.get('kind') in ('StatefulSet', 'DaemonSet') and owner.get('name'):
            owner_name = SHARD_SUFFIX.sub('', owner['name'])
            for prefix in OWNER_PREFIXES:
                if owner_name.startswith(prefix) and len(owner_name) > len(prefix):
                    return owner_name[len(prefix):]
            return owner_name
    return None


def agents_text(pods):
    """The warning when the selected pods belong to more than one agent, or None: a selector that
    matches two agents' pods would otherwise audit them as one agent, silently mixed."""
    counts = {}
    for pod in pods:
        if pod.get('agent'):
            counts[pod['agent']] = counts.get(pod['agent'], 0) + 1
    if len(counts) < 2:
        return None
    names = sorted(counts, key=lambda n: (-counts[n], n))
    named = _checks.names_text('%s (%d pod%s)' % (n, counts[n], '' if counts[n] == 1 else 's') for n in names)
    return ('the selector matches the pods of %d agents: %s: give agent_selector %s=NAME per inventory host'
            % (len(counts), named, AGENT_LABEL))


def pod_facts(pod, container='prometheus', now=None):
    """The ``pods`` entry of one pod dict (camelCase, as the API returns it)."""
    now = time.time() if now is None else now
    meta = pod.get('metadata') or {}
    spec = pod.get('spec') or {}
    status = pod.get('status') or {}
    statuses = status.get('containerStatuses') or []
    cs = _container(statuses, container) or (statuses[0] if statuses else {})
    cspec = _container(spec.get('containers'), container) or ((spec.get('containers') or [{}])[0])
    resources = cspec.get('resources') or {}
    conditions = status.get('conditions') or []
    ready = any(c.get('type') == 'Ready' and c.get('status') == 'True' for c in conditions)
    last = ((cs.get('lastState') or {}).get('terminated')) or {}
    state = cs.get('state') or {}
    waiting = state.get('waiting') or {}
    terminated = state.get('terminated') or {}
    created = epoch(meta.get('creationTimestamp'))
    started = epoch(status.get('startTime'))
    facts = {
        'name': meta.get('name'),
        'uid': meta.get('uid'),
        'shard': (meta.get('labels') or {}).get(SHARD_LABEL),
        'agent': agent_of(meta),
        'node': spec.get('nodeName'),
        'phase': status.get('phase'),
        'ready': ready,
        'container_ready': bool(cs.get('ready')),
        'restarts': int(cs.get('restartCount') or 0),
        'age_seconds': int(max(0, now - (created or started))) if (created or started) else None,
        'last_termination_reason': last.get('reason'),
        'last_termination_exit_code': last.get('exitCode'),
        'last_termination_at': last.get('finishedAt'),
        'waiting_reason': waiting.get('reason'),
        'state': _state_name(state),
        'terminating': meta.get('deletionTimestamp') is not None,
        'requests': dict(resources.get('requests') or {}),
        'limits': dict(resources.get('limits') or {}),
        'containers': [{'name': c.get('name'), 'ready': bool(c.get('ready')), 'restarts': int(c.get('restartCount') or 0),
                        'waiting_reason': ((c.get('state') or {}).get('waiting') or {}).get('reason')} for c in statuses],
    }
    if terminated and not facts['last_termination_reason']:
        facts['last_termination_reason'] = terminated.get('reason')
        facts['last_termination_exit_code'] = terminated.get('exitCode')
        facts['last_termination_at'] = terminated.get('finishedAt')
    return facts


def restarts_in_day(pod, now, baseline_pods=None):
    """(restarts in the last 24 h, how it was counted) of one ``pods`` entry."""
    if baseline_pods is not None and pod.get('uid') in baseline_pods:
        before = baseline_pods[pod['uid']].get('restarts') or 0
        return max(0, pod['restarts'] - before), 'since the baseline'
    if pod.get('age_seconds') is not None and pod['age_seconds'] <= DAY:
        return pod['restarts'], 'since the pod started %.1f h ago' % (pod['age_seconds'] / 3600.0)
    finished = epoch(pod.get('last_termination_at'))
    if pod['restarts'] and finished is not None and now - finished <= DAY:
        return pod['restarts'], 'restartCount; the last restart was %.1f h ago' % ((now - finished) / 3600.0)
    return 0, 'no restart in the last 24 h (restartCount %d)' % pod['restarts']


# Warning events that make POD at least a warning (when last seen within ``pod_events_recent_seconds``);
# other Warning events of the agent's objects are named in the message only
POD_EVENT_REASONS = ('FailedScheduling', 'FailedMount', 'BackOff', 'Unhealthy', 'Evicted', 'OOMKilling', 'FailedCreate')
# the count from which an event of POD_EVENT_REASONS counts (1 when not listed): a readiness probe
# fails once now and then on a busy node; three failures (the default failureThreshold) make the pod unready
POD_EVENT_MIN_COUNT = {'Unhealthy': 3}
# events a POD message names (newest first); the rest by count
MESSAGE_EVENTS = 3


def event_objects(raw_pods):
    """``{name: uid}`` of the objects whose events concern the agent: its pods (the current uid: the
    events of a replaced pod of the same name are not this pod's) and their StatefulSet/DaemonSet."""
    objects = {}
    for pod in raw_pods or ():
        meta = pod.get('metadata') or {}
        if meta.get('name'):
            objects[meta['name']] = meta.get('uid')
        for ref in meta.get('ownerReferences') or ():
            if ref.get('kind') in ('StatefulSet', 'DaemonSet') and ref.get('name'):
                objects[ref['name']] = ref.get('uid')
    return objects


def _events_refused(exc, namespace):
    status = (getattr(exc, 'details', None) or {}).get('status')
    if status == 403:
        return 'events not readable (403 Forbidden: this user may not list events in %s)' % namespace
    return 'events not read: %s' % exc


def agent_oom_events(items, raw_pods, container='prometheus'):
    """The OOMKilling events of the agent's nodes whose kernel message names the agent's process
    (``Killed process 1234 (prometheus)``): an OOM kill of another process on the node is not the agent's."""
    nodes = set((p.get('spec') or {}).get('nodeName') for p in raw_pods or ())
    found = []
    for item in items or ():
        regarding = item.get('involvedObject') or item.get('regarding') or {}
        text = item.get('message') or item.get('note') or ''
        if regarding.get('name') in nodes and ('(prometheus)' in text or '(%s)' % container in text):
            found.append(item)
    return found


def read_events(target, raw_pods, now, window_seconds=kube_events.DEFAULT_WINDOW_SECONDS):
    """(summarised Warning events of the agent's pods and controllers within the window, with the
    OOMKilling events of their nodes that name the agent's process; None) or (None, why they could
    not be read): a refused or failed events list is no failure of the audit. The nodes' events
    (namespace ``default``) refused leave the pods' and say so."""
    secrets = getattr(target, 'secrets', ()) or ()
    try:
        items = target.warning_events()
    except FleetopsError as exc:
        return None, _events_refused(exc, target.namespace)
    summary = kube_events.summarise(items, now, window_seconds, event_objects(raw_pods), secrets)
    why = None
    reader = getattr(target, 'node_oom_events', None)
    if reader is not None:
        try:
            nodes = agent_oom_events(reader(), raw_pods, getattr(target, 'container', None) or 'prometheus')
        except FleetopsError as exc:
            nodes, why = [], 'node ' + _events_refused(exc, 'default')
        if nodes:
            summary = sorted(summary + kube_events.summarise(nodes, now, window_seconds, secrets=secrets),
                             key=lambda e: (e['age_seconds'], e['object'], e['reason']))
    return summary, why


def events_text(events):
    """``events: BackOff x12 on prom-agent-x-0 (last 3 min ago); ...`` (None when there are none)."""
    if not events:
        return None
    text = 'events: ' + '; '.join(kube_events.describe(e) for e in events[:MESSAGE_EVENTS])
    if len(events) > MESSAGE_EVENTS:
        text += '; and %d more' % (len(events) - MESSAGE_EVENTS)
    return text


def _recent_seconds(th):
    """How long ago an event may have been last seen to count (``pod_events_recent_seconds``)."""
    return th.get('pod_events_recent_seconds', _checks.DEFAULT_THRESHOLDS['pod_events_recent_seconds'])


def events_status(events, th):
    """'warning' when an event of ``POD_EVENT_REASONS`` (counted ``POD_EVENT_MIN_COUNT`` times) was last seen within
    ``pod_events_recent_seconds``, else 'ok'."""
    recent = _recent_seconds(th)
    for event in events or ():
        if (event['reason'] in POD_EVENT_REASONS and event['age_seconds'] <= recent
                and event['count'] >= POD_EVENT_MIN_COUNT.get(event['reason'], 1)):
            return 'warning'
    return 'ok'


def check_pod(pods, where, events=None, th=None):
    """POD: the pods' phase, readiness, CrashLoopBackOff and termination; ``events`` (``kube.events``
    summaries) are named after the pods, and one that matters and is recent makes it at least a warning.
    Pods of more than one agent (``agents_text``) make it at least a warning that names them."""
    th = th or _checks.DEFAULT_THRESHOLDS
    check = _check_pod_state(pods, where, backing_off(events, th))
    mixed = agents_text(pods)
    if mixed:
        check['status'] = _checks.worst([check['status'], 'warning'])
        check['message'] = '%s; %s' % (mixed, check['message'])
    text = events_text(events)
    if text and pods:
        check['status'] = _checks.worst([check['status'], events_status(events, th)])
        check['message'] = '%s; %s' % (check['message'], text)
    return check


def backing_off(events, th):
    """The pods the kubelet backs off restarting (a recent ``BackOff`` event on the pod): crash-looping,
    also in the seconds between two restarts, when the container runs again and its state is no
    longer CrashLoopBackOff."""
    recent = _recent_seconds(th)
    return set(e['object'] for e in events or () if e.get('reason') == 'BackOff' and e.get('kind', 'Pod') == 'Pod'
               and e['age_seconds'] <= recent)


def _check_pod_state(pods, where, backing_off_pods=frozenset()):
    thr = {'warning': 'not Running or not Ready, or a recent Warning event (%s)' % ', '.join(POD_EVENT_REASONS),
           'critical': 'CrashLoopBackOff (or not ready with a recent BackOff event) or no pod'}
    if not pods:
        return _check('POD', 'critical', 0, thr, 'no agent pod found (%s): the agent is not running, or the selector/pod is wrong'
                      % where)
    found = []
    status = 'ok'
    for pod in pods:
        if pod.get('waiting_reason') == 'CrashLoopBackOff' or any(c.get('waiting_reason') == 'CrashLoopBackOff'
                                                                  for c in pod.get('containers') or []):
            status = 'critical'
            found.append('%s is in CrashLoopBackOff (%d restarts, last %s): read its logs (agent_logs) before anything else'
                         % (pod['name'], pod['restarts'], pod.get('last_termination_reason') or 'exit'))
        elif pod.get('terminating'):
            status = _checks.worst([status, 'warning'])
            found.append('%s is terminating' % pod['name'])
        elif pod['name'] in backing_off_pods and pod.get('restarts') and not pod.get('ready'):
            # between two restarts of a crash loop: running again, not ready, and the kubelet backs off
            status = 'critical'
            found.append('%s is crash-looping (%s now, not ready, %d restarts, last %s; the kubelet backs off restarting it): '
                         'read its logs (agent_logs) before anything else'
                         % (pod['name'], pod.get('waiting_reason') or pod.get('state') or pod.get('phase'), pod['restarts'],
                            pod.get('last_termination_reason') or 'exit'))
        elif pod.get('phase') != 'Running' or not pod.get('ready'):
            status = _checks.worst([status, 'warning'])
            why = pod.get('waiting_reason') or pod.get('state') or 'not ready'
            found.append('%s is %s, %s (%s)' % (pod['name'], pod.get('phase'), 'ready' if pod.get('ready') else 'not ready', why))
    if status == 'ok':
        if len(pods) > 1:
            return _check('POD', 'ok', len(pods), thr, '%d pods Running and Ready (%s)' % (
                len(pods), _checks.names_text(p['name'] for p in pods)))
        return _check('POD', 'ok', len(pods), thr, '%d agent pod(s) Running and Ready (%s)' % (
            len(pods), _checks.names_text(p['name'] for p in pods)))
    return _check('POD', status, len(pods), thr, _of_pods(found, pods))


def _of_pods(found, pods):
    """The message naming the bad pods: as it is for one pod, ``N of M pods: ...`` for more
    (``core.checks.of_pods``; each finding starts with its pod's name)."""
    if len(pods) <= 1:
        return '; '.join(found)
    return _checks.of_pods([(f.split(' ', 1)[0].rstrip(':'), f) for f in found], len(pods))


def check_restarts(pods, th, now, baseline_pods=None):
    thr = {'warning': th['restarts_warning'], 'critical': th['restarts_critical']}
    if not pods:
        return _checks.unknown('RESTARTS', 'no agent pod to count restarts of', thr)
    total = 0
    hows = []
    for pod in pods:
        count, how = restarts_in_day(pod, now, baseline_pods)
        total += count
        if count:
            hows.append('%s %d (%s; last %s)' % (pod['name'], count, how, pod.get('last_termination_reason') or '?'))
    status = _checks.level(total, th['restarts_warning'], th['restarts_critical'])
    if status == 'ok':
        return _check('RESTARTS', 'ok', total, thr, 'no restart in the last 24 h')
    return _check('RESTARTS', status, total, thr, '%d restart(s) in the last 24 h: %s; look at OOMKilled (MEMORY) and the '
                  'logs' % (total, '; '.join(hows)))


# ----------------------------------------------------------------------------- the agent

def _data(doc):
    if isinstance(doc, dict) and isinstance(doc.get('data'), dict):
        return doc['data']
    return {}


def mode_of(flags):
    """``agent`` or ``server`` from /api/v1/status/flags data (None when unknown)."""
    if not flags:
        return None
    feature = str(flags.get('enable-feature') or '')
    if 'agent' in [f.strip() for f in feature.split(',')]:
        return 'agent'
    if str(flags.get('agent', '')).lower() == 'true':
        return 'agent'
    return 'server'


def process_facts(metrics):
    """``memory_bytes`` (resident) and ``config_reload_ok`` of one agent process from its /metrics
    families (None each when absent): what MEMORY and CONFIG judge, of every pod."""
    rss = finite(metrics.value('process_resident_memory_bytes')) if metrics is not None else None
    reload_ok = finite(metrics.value('prometheus_config_last_reload_successful')) if metrics is not None else None
    return {'memory_bytes': _int(rss), 'config_reload_ok': None if reload_ok is None else reload_ok == 1}


def agent_facts(healthy, ready, buildinfo, flags, metrics, pod=None, now=None, cpu_cores=None):
    """The ``agent`` dict. ``healthy``/``ready``: HTTP status codes (None: no answer)."""
    now = time.time() if now is None else now
    start = finite(metrics.value('process_start_time_seconds')) if metrics is not None else None
    process = process_facts(metrics)
    reload_at = finite(metrics.value('prometheus_config_last_reload_success_timestamp_seconds')) if metrics is not None else None
    limit = quantity((pod or {}).get('limits', {}).get('memory')) if pod else None
    version = _data(buildinfo).get('version')
    return {
        'healthy': healthy == 200 if healthy is not None else False,
        'ready': ready == 200 if ready is not None else False,
        'version': version,
        'revision': _data(buildinfo).get('revision'),
        'mode': mode_of(_data(flags)),
        'uptime_seconds': int(now - start) if start else None,
        'start_time': start,
        'memory_bytes': process['memory_bytes'],
        'memory_limit_bytes': _int(limit),
        'cpu_cores': cpu_cores,
        'config_reload_ok': process['config_reload_ok'],
        'config_last_reload_success_time': reload_at,
        'storage_path': _data(flags).get('storage.agent.path') or None,
    }


def cpu_from_pod_metrics(doc, container):
    """Cores used by ``container`` from a metrics.k8s.io PodMetrics object, None when absent."""
    if not isinstance(doc, dict):
        return None
    for item in doc.get('containers') or []:
        if item.get('name') == container:
            value = quantity((item.get('usage') or {}).get('cpu'))
            return None if value is None else round(value, 4)
    return None


def check_health(agent, reason=None, pods=None):
    """HEALTH of the agent; with more than one pod (``pods`` entries with ``health``), of every
    pod: the worst of them, the pods that are not healthy and ready named."""
    thr = {'warning': 'not ready', 'critical': 'not healthy or unreachable'}
    judged = [p for p in pods or [] if p.get('health')]
    if len(judged) > 1:
        return _check_pods_health(agent, judged, thr)
    if agent is None:
        return _check('HEALTH', 'critical', None, thr, 'the agent does not answer: %s' % (reason or 'no answer'))
    value = {'healthy': agent['healthy'], 'ready': agent['ready']}
    if not agent['healthy']:
        return _check('HEALTH', 'critical', value, thr, '/-/healthy does not answer 200: the agent is unhealthy; read its logs')
    if not agent['ready']:
        return _check('HEALTH', 'warning', value, thr, '/-/ready is not 200: the agent is starting (WAL replay) or stuck; '
                      'check again in a few minutes')
    return _check('HEALTH', 'ok', value, thr, 'healthy and ready (Prometheus %s, %s mode)' % (
        agent.get('version') or '?', agent.get('mode') or '?'))


def _check_pods_health(agent, pods, thr):
    found = []
    statuses = []
    for pod in pods:
        health = pod['health']
        if health.get('error'):
            statuses.append('critical')
            found.append('%s does not answer (%s)' % (pod['name'], health['error']))
        elif not health.get('healthy'):
            statuses.append('critical')
            found.append('%s: /-/healthy does not answer 200, the agent is unhealthy; read its logs' % pod['name'])
        elif not health.get('ready'):
            statuses.append('warning')
            found.append('%s: /-/ready is not 200, the agent is starting (WAL replay) or stuck' % pod['name'])
    value = {'healthy': all(p['health'].get('healthy') for p in pods), 'ready': all(p['health'].get('ready') for p in pods),
             'pods': len(pods), 'pods_ok': len(pods) - len(found)}
    if found:
        return _check('HEALTH', _checks.worst(statuses), value, thr, _of_pods(found, pods))
    return _check('HEALTH', 'ok', value, thr, 'healthy and ready, %d pods (Prometheus %s, %s mode)' % (
        len(pods), (agent or {}).get('version') or '?', (agent or {}).get('mode') or '?'))


def _pod_health(target, name, pages=None):
    """{healthy, ready, error} of one pod, read through its pod proxy; with ``pages`` (an
    ``exposition.PodPages``) also its ``memory_bytes`` and ``config_reload_ok`` from its /metrics
    (``metrics_error`` when that page could not be read)."""
    try:
        pinned = target.for_pod(name)
        healthy, _b = pinned.http_get('/-/healthy')
        ready, _b = pinned.http_get('/-/ready')
    except FleetopsError as exc:
        return {'healthy': False, 'ready': False, 'error': str(exc)}
    found = {'healthy': healthy == 200, 'ready': ready == 200, 'error': None}
    if pages is not None:
        try:
            page = pages.get(name)
        except FleetopsError as exc:
            return dict(found, metrics_error=str(exc).splitlines()[0][:300])
        if page.families is None:
            return dict(found, metrics_error=str(page.error) if page.error is not None else '/metrics answered %s' % page.status)
        found.update(process_facts(page.families))
    return found


def read_pods_health(target, pods, known=None, workers=kube_workloads.PODS_AT_ONCE, pages=None):
    """Set ``health`` ({healthy, ready, error}) on every ``pods`` entry: ``known`` ({name: health},
    the pod already read) as it is, the others read ``workers`` at a time; with ``pages`` each
    entry also gets the ``memory_bytes`` and ``config_reload_ok`` of its process (or
    ``metrics_error``)."""
    known = dict(known or {})
    todo = [p['name'] for p in pods if p.get('name') and p['name'] not in known]
    known.update(zip(todo, kube_workloads.each_pod(lambda name: _pod_health(target, name, pages), todo, workers)))
    for pod in pods:
        health = known.get(pod.get('name'))
        pod['health'] = {k: v for k, v in health.items() if k in ('healthy', 'ready', 'error')} if health else health
        if pages is not None and health:
            for key in ('memory_bytes', 'config_reload_ok', 'metrics_error'):
                if key in health:
                    pod[key] = health[key]
    return pods


def _oom_recent(pods, now):
    for pod in pods or []:
        if pod.get('last_termination_reason') == 'OOMKilled':
            finished = epoch(pod.get('last_termination_at'))
            if finished is None or now - finished <= DAY:
                return pod
    return None


def _several(pods):
    """The pods read one by one (an agent of several pods), or None for an agent of one."""
    judged = [p for p in pods or [] if p.get('health')]
    return judged if len(judged) > 1 else None


def _not_read(pods, key):
    """'; not read on NAME (why), ...' of the pods without ``key`` ('' when every pod has it)."""
    missing = ['%s (%s)' % (p['name'], (p.get('metrics_error') or (p['health'] or {}).get('error') or 'no such metric')[:200])
               for p in pods if p.get(key) is None]
    if not missing:
        return ''
    text = '; not read on %s' % ', '.join(missing[:_checks.ROLLUP_PODS_IN_FULL])
    if len(missing) > _checks.ROLLUP_PODS_IN_FULL:
        text += ' and %d more' % (len(missing) - _checks.ROLLUP_PODS_IN_FULL)
    return text


def check_memory(agent, pods, th, now):
    """MEMORY: resident memory against the container's limit, an OOM kill of the last 24 h; of
    every pod when the agent has several (the worst, the pods over a threshold named)."""
    ratio = th['memory_critical_ratio']
    if th.get('memory_critical') is not None and th['memory_critical'] <= 1.5:   # the older key name, a ratio
        ratio = th['memory_critical']
    thr = {'warning': th['memory_warning'], 'critical': 'over %s of the limit or OOMKilled' % ratio}
    several = _several(pods)
    if several:
        return _check_pods_memory(several, th, now, thr, ratio)
    oom = _oom_recent(pods, now)
    used = (agent or {}).get('memory_bytes')
    limit = (agent or {}).get('memory_limit_bytes')
    if oom:
        return _check('MEMORY', 'critical', used, thr, '%s was OOMKilled (at %s): raise the memory limit (%s) or cut series '
                      '(write relabel drop rules)' % (oom['name'], oom.get('last_termination_at'), oom['limits'].get('memory')
                                                      or 'none'))
    if used is None:
        return _checks.unknown('MEMORY', 'the agent\'s resident memory could not be read', thr)
    if limit and ratio is not None and used > ratio * limit:
        return _check('MEMORY', 'critical', used, thr, 'resident memory %s is %.0f%% of the limit %s: an OOM kill is near; raise '
                      'the limit or cut series' % (mib(used), 100.0 * used / limit, mib(limit)))
    if used > th['memory_warning']:
        return _check('MEMORY', 'warning', used, thr, 'resident memory %s is over %s%s: watch series growth (SERIES) and the '
                      'limit' % (mib(used), mib(th['memory_warning']), ' (limit %s)' % mib(limit) if limit else ''))
    return _check('MEMORY', 'ok', used, thr, 'resident memory %s%s' % (mib(used), ' of a %s limit' % mib(limit) if limit else ''))


def _check_pods_memory(pods, th, now, thr, ratio):
    found, statuses, read = [], [], []
    for pod in pods:
        used = pod.get('memory_bytes')
        limit = quantity((pod.get('limits') or {}).get('memory'))
        if used is not None:
            read.append((used, pod['name'], limit))
        if _oom_recent([pod], now):
            statuses.append('critical')
            found.append('%s was OOMKilled (at %s): raise the memory limit (%s) or cut series (write relabel drop rules)' % (
                pod['name'], pod.get('last_termination_at'), (pod.get('limits') or {}).get('memory') or 'none'))
        elif used is not None and limit and ratio is not None and used > ratio * limit:
            statuses.append('critical')
            found.append('%s: resident memory %s is %.0f%% of the limit %s, an OOM kill is near; raise the limit or cut series' % (
                pod['name'], mib(used), 100.0 * used / limit, mib(limit)))
        elif used is not None and used > th['memory_warning']:
            statuses.append('warning')
            found.append('%s: resident memory %s is over %s%s; watch series growth (SERIES) and the limit' % (
                pod['name'], mib(used), mib(th['memory_warning']), ' (limit %s)' % mib(limit) if limit else ''))
    top = max(read) if read else None
    value = top[0] if top else None
    missing = _not_read(pods, 'memory_bytes')
    if found:
        return _check('MEMORY', _checks.worst(statuses), value, thr, _of_pods(found, pods) + missing)
    if not read:
        return _checks.unknown('MEMORY', 'the resident memory of no pod could be read' + missing, thr)
    return _check('MEMORY', 'ok', value, thr, 'resident memory at most %s (%s%s), %d pods%s' % (
        mib(top[0]), top[1], ' of a %s limit' % mib(top[2]) if top[2] else '', len(pods), missing))


def check_config(agent, pods):
    """CONFIG: the agent's last configuration reload and its config-reloader sidecar; of every pod
    when the agent has several (a pod whose reload failed named)."""
    thr = {'critical': 'last reload failed'}
    several = _several(pods)
    if several:
        return _check_pods_config(several, thr)
    ok = (agent or {}).get('config_reload_ok')
    reloader = [name for pod in pods or [] for name in _reloaders_not_ready(pod)]
    if ok is None:
        return _checks.unknown('CONFIG', 'prometheus_config_last_reload_successful could not be read', thr)
    if not ok:
        return _check('CONFIG', 'critical', 0, thr, 'the last configuration reload failed: the agent runs on its previous config; '
                      'fix the config (agent_logs shows the error) and do NOT restart the agent, it would not start')
    if reloader:
        return _check('CONFIG', 'warning', 1, thr, 'config reloader not ready in %s: configuration changes will not be applied'
                      % ', '.join(reloader))
    return _check('CONFIG', 'ok', 1, thr, 'the last configuration reload succeeded')


def _reloaders_not_ready(pod):
    return ['%s/%s' % (pod['name'], cont['name']) for cont in pod.get('containers') or []
            if 'reload' in (cont.get('name') or '') and not cont.get('ready')]


def _check_pods_config(pods, thr):
    found, statuses = [], []
    for pod in pods:
        reloaders = _reloaders_not_ready(pod)
        if pod.get('config_reload_ok') is False:
            statuses.append('critical')
            found.append('%s: the last configuration reload failed, it runs on its previous config; fix the config (agent_logs '
                         'shows the error) and do NOT restart it, it would not start' % pod['name'])
        elif reloaders:
            statuses.append('warning')
            found.append('%s: config reloader not ready (%s), configuration changes will not be applied' % (
                pod['name'], ', '.join(reloaders)))
    read = [p for p in pods if p.get('config_reload_ok') is not None]
    missing = _not_read(pods, 'config_reload_ok')
    if found:
        return _check('CONFIG', _checks.worst(statuses), 0 if 'critical' in statuses else 1, thr, _of_pods(found, pods) + missing)
    if not read:
        return _checks.unknown('CONFIG', 'prometheus_config_last_reload_successful could be read on no pod' + missing, thr)
    return _check('CONFIG', 'ok', 1, thr, 'the last configuration reload succeeded on %d pods%s' % (len(read), missing))


# ----------------------------------------------------------------------------- targets and ingest

def targets_facts(doc, now=None):
    """``targets`` from /api/v1/targets: by job up/down, the down ones with their last error."""
    now = time.time() if now is None else now
    active = _data(doc).get('activeTargets') or []
    jobs = {}
    down = []
    freshest = None
    for item in active:
        labels = item.get('labels') or {}
        job = labels.get('job') or item.get('scrapePool') or '?'
        entry = jobs.setdefault(job, {'up': 0, 'down': 0, 'unknown': 0})
        health = item.get('health') or 'unknown'
        entry[health if health in entry else 'unknown'] += 1
        if health == 'down':
            down.append({'job': job, 'instance': labels.get('instance'), 'scrape_url': item.get('scrapeUrl'),
                         'last_error': item.get('lastError'), 'last_scrape': item.get('lastScrape')})
        if health == 'up':
            scraped = epoch(item.get('lastScrape'))
            interval = _duration(item.get('scrapeInterval'))
            if scraped is not None:
                age = now - scraped
                if interval:
                    age = age / interval     # in intervals
                freshest = age if freshest is None else min(freshest, age)
    return {
        'total': len(active),
        'up': sum(j['up'] for j in jobs.values()),
        'down': sum(j['down'] for j in jobs.values()),
        'jobs': jobs,
        'down_targets': down[:50],
        'dropped': len(_data(doc).get('droppedTargets') or []),
        'freshest_scrape_intervals_ago': None if freshest is None else round(freshest, 2),
    }


def limit_hits(metrics):
    if metrics is None:
        return None
    total = 0.0
    seen = False
    for name in LIMIT_COUNTERS:
        value = metrics.sum(name)
        if value is not None and finite(value) is not None:
            total += value
            seen = True
    return total if seen else None


def check_targets(targets, hits, hits_basis):
    thr = {'warning': 'any target down or a scrape limit hit', 'critical': 'every target of a job down'}
    if targets is None:
        return _checks.unknown('TARGETS', 'the agent\'s /api/v1/targets could not be read', thr)
    whole = sorted(job for job, j in targets['jobs'].items() if j['down'] and not j['up'])
    value = {'up': targets['up'], 'down': targets['down']}
    if whole:
        first = next((d for d in targets['down_targets'] if d['job'] == whole[0]), {})
        return _check('TARGETS', 'critical', value, thr, 'every target of job(s) %s is down (e.g. %s: %s): nothing of them is '
                      'collected' % (', '.join(whole), first.get('scrape_url'), first.get('last_error') or 'no error given'))
    if targets['down']:
        first = targets['down_targets'][0] if targets['down_targets'] else {}
        return _check('TARGETS', 'warning', value, thr, '%d of %d targets down (e.g. %s: %s)' % (
            targets['down'], targets['total'], first.get('scrape_url'), first.get('last_error') or 'no error given'))
    if hits:
        return _check('TARGETS', 'warning', value, thr, 'scrapes hit a sample/label/target limit %d times %s: samples are '
                      'being dropped; raise the limit or drop series' % (hits, hits_basis))
    if not targets['total']:
        return _check('TARGETS', 'warning', value, thr, 'the agent has no active scrape target: check its scrape configs / '
                      'ServiceMonitors')
    return _check('TARGETS', 'ok', value, thr, 'all %d targets up in %d job(s)' % (targets['total'], len(targets['jobs'])))


def ingest_facts(metrics, now, baseline=None):
    """``ingest``: samples appended (total and per second with a baseline), active series."""
    if metrics is None:
        return None
    appended = metrics.sum('prometheus_agent_samples_appended_total')
    series = metrics.value('prometheus_agent_active_series')
    if appended is None:     # server mode
        appended = metrics.sum('prometheus_tsdb_head_samples_appended_total')
        series = metrics.value('prometheus_tsdb_head_series') if series is None else series
    appended = finite(appended)
    out = {
        'samples_appended_total': _int(appended),
        'samples_appended_per_second': None,
        'active_series': _int(finite(series)),
        'out_of_order_samples_total': _int(finite(metrics.sum('prometheus_agent_out_of_order_samples_total'))),
        'window_seconds': None,
    }
    base = baseline or {}
    then = finite(base.get('time'))
    if appended is not None and then is not None and now > then and finite(base.get('samples_appended_total')) is not None:
        before = base['samples_appended_total']
        start, base_start = finite(metrics.value('process_start_time_seconds')), finite(base.get('start_time'))
        restarted = start is not None and base_start is not None and abs(start - base_start) > 1
        delta = appended if (restarted or appended < before) else appended - before
        out['samples_appended_per_second'] = round(delta / (now - then), 3)
        out['window_seconds'] = round(now - then, 3)
    return out


def wal_counters(metrics):
    """{key: counter total or None} of ``WAL_COUNTERS`` from a metrics page."""
    out = {}
    for key, names in WAL_COUNTERS:
        out[key] = None
        for name in names:
            found = finite(metrics.sum(name))
            if found is not None:
                out[key] = _int(found)
                break
    return out


def wal_facts(metrics, now, baseline=None):
    """``wal``: the WAL failure and corruption counters (``counters``: totals since the process
    started) and their ``increase`` since the baseline (same process) or since the agent started
    (no baseline, or the agent restarted since); ``basis`` says which."""
    if metrics is None:
        return None
    totals = wal_counters(metrics)
    start = finite(metrics.value('process_start_time_seconds'))
    base = baseline or {}
    before = base.get('wal_counters') if isinstance(base.get('wal_counters'), dict) else None
    then = finite(base.get('time'))
    base_start = finite(base.get('start_time'))
    same = before is not None and then is not None and now > then and (
        start is None or base_start is None or abs(start - base_start) <= 1)
    increase = {}
    for key, total in totals.items():
        if total is None:
            increase[key] = None
            continue
        old = finite(before.get(key)) if same else None
        increase[key] = total - int(old) if old is not None and total >= old else total
    return {
        'counters': totals,
        'increase': increase,
        'basis': 'since the baseline' if same else 'since the agent started',
        'window_seconds': round(now - then, 3) if same else (round(now - start, 3) if start else None),
    }


def _stalled_now(targets):
    """Why nothing is being ingested right now, by the scrape targets, or None."""
    if targets is None or not targets['total']:
        return None
    if not targets['up']:
        return 'none of the %d targets is up: nothing is being ingested' % targets['total']
    fresh = targets.get('freshest_scrape_intervals_ago')
    if fresh is not None and fresh > 3:
        return 'no target was scraped for %.0f scrape intervals: scraping is stuck' % fresh
    return None


def check_ingest(ingest, targets, th):
    thr = {'critical': th['ingest_critical']}
    if ingest is None:
        return _checks.unknown('INGEST', 'the agent\'s metrics could not be read', thr)
    rate = ingest.get('samples_appended_per_second')
    have_targets = targets is not None and targets['total'] > 0
    if rate is not None:
        if rate <= thr['critical'] and (have_targets or targets is None):
            return _check('INGEST', 'critical', rate, thr, 'no sample appended in the last %s%s: scraping or the WAL is stuck; '
                          'look at TARGETS, the volume (PVC) and the logs' % (
                              span_text(ingest['window_seconds']), ' while %d targets exist' % targets['total'] if have_targets else ''))
        # a rate over a long window (since the last daily run) hides a stall of the last minutes: the
        # targets tell whether scraping goes on now
        stalled = _stalled_now(targets)
        if stalled:
            return _check('INGEST', 'critical', rate, thr, '%s (%.1f samples/s appended on average over the last %s)' % (
                stalled, rate, span_text(ingest['window_seconds'])))
        return _check('INGEST', 'ok', rate, thr, '%.1f samples/s appended over the last %s, %s active series' % (
            rate, span_text(ingest['window_seconds']), ingest.get('active_series') if ingest.get('active_series') is not None else '?'))
    if targets is None:
        return _checks.unknown('INGEST', 'no baseline and no target list: the ingest rate is unknown', thr)
    if not have_targets:
        return _checks.unknown('INGEST', 'the agent has no active scrape target, so nothing to ingest', thr)
    stalled = _stalled_now(targets)
    if stalled:
        return _check('INGEST', 'critical', 0 if not targets['up'] else None, thr, stalled)
    if not ingest.get('samples_appended_total'):
        return _check('INGEST', 'critical', 0, thr, 'no sample appended since the agent started although %d targets are up'
                      % targets['up'])
    return _check('INGEST', 'ok', None, thr, '%d of %d targets up and scraped recently, %s samples appended since start (no '
                  'baseline: pass the snapshot of an earlier call as baseline for a rate)' % (
                      targets['up'], targets['total'], ingest['samples_appended_total']))


# ----------------------------------------------------------------------------- snapshot / baseline

def snapshot(now, pods, agent, ingest, metrics, hits):
    return {
        'wal_counters': wal_counters(metrics) if metrics is not None else None,
        'version': SNAPSHOT_VERSION,
        'time': now,
        'start_time': (agent or {}).get('start_time'),
        'samples_appended_total': (ingest or {}).get('samples_appended_total'),
        'cpu_seconds_total': finite(metrics.value('process_cpu_seconds_total')) if metrics is not None else None,
        'limit_hits_total': hits,
        'pods': dict((p['uid'] or p['name'], {'name': p['name'], 'restarts': p['restarts']}) for p in pods or []),
    }


def as_baseline(value):
    """A snapshot from what a user passes as ``baseline`` (a snapshot or a whole result)."""
    if not value:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError('baseline is not a snapshot (not JSON)')
    if not isinstance(value, dict):
        raise ValueError('baseline must be the snapshot of an earlier agent_status call (a dict)')
    if 'time' not in value and isinstance(value.get('snapshot'), dict):
        value = value['snapshot']
    if finite(value.get('time')) is None:
        raise ValueError('baseline must be the snapshot of an earlier agent_status call (with its time)')
    return value


def _cpu_rate(metrics, baseline, now):
    if metrics is None or not baseline:
        return None
    cur = finite(metrics.value('process_cpu_seconds_total'))
    before = finite(baseline.get('cpu_seconds_total'))
    then = finite(baseline.get('time'))
    if cur is None or before is None or then is None or now <= then or cur < before:
        return None
    return round((cur - before) / (now - then), 4)


# ----------------------------------------------------------------------------- everything

def _json(body):
    try:
        return json.loads(body.decode('utf-8', 'replace') if isinstance(body, bytes) else body)
    except (ValueError, AttributeError):
        return None


def read_pod_metrics(target, pod_name):
    """The metrics.k8s.io PodMetrics of a pod (dict) or None when the cluster does not serve it."""
    getter = getattr(target, 'pod_metrics', None)
    if getter is None or not pod_name:
        return None
    try:
        return getter(pod_name)
    except FleetopsError:
        return None


def read_monitors(target, raw_pods, pod, targets_doc):
    """``monitors`` (``monitors.read``) of the agent's operator resource; ``{'error': ...}`` when
    it or the monitors could not be read (the other facts stand)."""
    if not hasattr(target, 'request_json'):
        return {'error': 'not reached through Kubernetes'}
    name = (pod or {}).get('name')
    raw = next((p for p in raw_pods if (p.get('metadata') or {}).get('name') == name), raw_pods[0] if raw_pods else None)
    try:
        kind, res_name, resource = kube_workloads.find_agent_resource(target, target.namespace, pod=raw)
        if resource is None:
            return {'error': 'no PrometheusAgent or Prometheus resource found for the agent (%s)' % (res_name or name)}
        return _monitors.read(target, resource, target.namespace, targets_doc, kind)
    except FleetopsError as exc:
        return {'error': str(exc).splitlines()[0][:300]}


def gather(target, now=None, baseline=None, thresholds=None, clock=time.time, page=None, read_events_too=True,
           pod_pages=None):
    """The result of ``agent_status`` for one target (no ``changed``).

    ``read_events_too``: False for a reading that is only a baseline (the events are read once a run).

    ``page``: a function returning the ``exposition.MetricsPage`` of this reading (one another part
    of an audit may already have read); without it the page is read here. ``pod_pages``: the
    ``exposition.PodPages`` of this reading for an agent of several pods (every pod's /metrics gives
    its MEMORY and CONFIG); without it they are read here.
    """
    th = _checks.merge_thresholds(thresholds or {})
    now = clock() if now is None else now
    kube = getattr(target, 'kind', None) == 'kubernetes'
    container = getattr(target, 'container', None) or 'prometheus'
    pods = []
    where = target.describe()
    events, events_error = None, None
    if kube:
        raw_pods = target.pods()    # an unreachable API raises: status unknown
        pods = [pod_facts(p, container, now) for p in raw_pods]
        if raw_pods and read_events_too and hasattr(target, 'warning_events'):
            events, events_error = read_events(target, raw_pods, now)
    pod = None
    agent = None
    metrics = None
    targets = None
    targets_doc = None
    notes = []
    why_down = None
    if kube and not pods:
        why_down = 'no pod matches %s in namespace %s' % (
            getattr(target, 'label_selector', None) or target.describe(), target.namespace)
    else:
        try:
            if kube:
                name = target.pod_name
                pod = next((p for p in pods if p['name'] == name), pods[0] if pods else None)
            healthy, _b = target.http_get('/-/healthy')
            ready, _b = target.http_get('/-/ready')
            metrics_page = page() if page is not None else exposition.MetricsPage(target, clock)
            metrics = metrics_page.families
            if metrics_page.error is not None:
                notes.append(str(metrics_page.error))
            elif metrics_page.status != 200:
                notes.append('/metrics answered %s' % metrics_page.status)
            status, body = target.http_get('/api/v1/status/buildinfo')
            buildinfo = _json(body) if status == 200 else None
            status, body = target.http_get('/api/v1/status/flags')
            flags = _json(body) if status == 200 else None
            status, body = target.http_get('/api/v1/targets')
            targets_doc = _json(body) if status == 200 else None
            targets = targets_facts(targets_doc, now) if status == 200 else None
            cpu = _cpu_rate(metrics, baseline, now)
            if cpu is None and kube and pod is not None:
                cpu = cpu_from_pod_metrics(read_pod_metrics(target, pod['name']), container)
            agent = agent_facts(healthy, ready, buildinfo, flags, metrics, pod, now, cpu)
            agent['pod'] = pod['name'] if pod else None
        except FleetopsError as exc:
            if not kube:
                raise       # direct: the agent is the only thing to reach; unreachable = unknown
            why_down = str(exc)
    ingest = ingest_facts(metrics, now, baseline)
    wal = wal_facts(metrics, now, baseline)
    hits = limit_hits(metrics)
    hits_delta, hits_basis = hits, 'since the agent started'
    if hits is not None and baseline and finite(baseline.get('limit_hits_total')) is not None:
        hits_delta, hits_basis = max(0.0, hits - baseline['limit_hits_total']), 'since the baseline'
    baseline_pods = (baseline or {}).get('pods') if baseline else None
    down = 'the agent does not answer: %s' % why_down
    if kube and pods:
        read = {}
        if pod is not None:
            read[pod['name']] = {'healthy': agent['healthy'], 'ready': agent['ready'], 'error': None,
                                 'memory_bytes': agent['memory_bytes'], 'config_reload_ok': agent['config_reload_ok']} if agent else \
                {'healthy': False, 'ready': False, 'error': why_down}
        if len(pods) > 1:
            read_pods_health(target, pods, read, pages=pod_pages or exposition.PodPages(target, clock, own=page))
        else:
            pods[0]['health'] = read.get(pods[0]['name'])
    checks = []
    if kube:    # direct mode (url): no pod, so no POD and RESTARTS (left out, not unknown)
        checks += [check_pod(pods, where, events, th), check_restarts(pods, th, now, baseline_pods)]
    checks += [
        check_health(agent, why_down, pods),
        check_memory(agent, pods, th, now),
        check_ingest(ingest, targets, th) if agent else _checks.unknown('INGEST', down),
        check_config(agent, pods) if agent or _several(pods) else _checks.unknown('CONFIG', down),
        check_targets(targets, hits_delta, hits_basis) if agent else _checks.unknown('TARGETS', down),
    ]
    result = {
        'status': _checks.result_status(checks),
        'checks': checks,
        'pods': pods,
        'agent': agent,
        'targets': targets,
        'ingest': ingest,
        'wal': wal,
        'snapshot': snapshot(now, pods, agent, ingest, metrics, hits),
        'via': 'kubernetes' if kube else 'url',
    }
    if kube:
        result['events'] = events
        if events_error:
            result['events_error'] = events_error
        if targets_doc is not None:
            result['monitors'] = read_monitors(target, raw_pods, pod, targets_doc)
    if why_down:
        result['agent_error'] = why_down
    if notes:
        result['notes'] = notes
    return result


def unknown_result(reason, kube=True):
    """The result when the cluster (or the agent, directly) cannot be reached at all."""
    ids = CHECK_IDS if kube else tuple(c for c in CHECK_IDS if c not in ('POD', 'RESTARTS'))
    return {'status': 'unknown', 'reason': reason, 'checks': [_checks.unknown(cid, reason) for cid in ids],
            'pods': [], 'agent': None, 'targets': None, 'ingest': None, 'wal': None, 'via': 'kubernetes' if kube else 'url'}
