# -*- coding: utf-8 -*-
# Copyright: fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes side of remediation: read a workload's state, restart it, wait, verify.

Used by the ``agent_restart`` and ``agent_tune`` modules. The decisions (what is allowed)
live in ``remediation.py``; this file only observes and acts, through a ``target.KubeTarget``
(``.core``, ``.apps``, ``.custom``, ``.http_get``, ``.logs``, ``.exec``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import re
import time

from ansible.module_utils.urls import open_url
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError

try:
    from kubernetes.client.rest import ApiException
except ImportError:  # pragma: no cover - the import sanity test runs without it
    ApiException = Exception

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import policy as rem

RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt'

OPERATOR_GROUP = 'monitoring.coreos.com'
KINDS = {
    'PrometheusAgent': {'version': 'v1alpha1', 'plural': 'prometheusagents', 'prefix': 'prom-agent-'},
    'Prometheus': {'version': 'v1', 'plural': 'prometheuses', 'prefix': 'prometheus-'},
}


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def rfc3339(when=None):
    return (when or now_utc()).strftime('%Y-%m-%dT%H:%M:%SZ')


def api_message(exc):
    """The message of a Kubernetes Status in an ApiException body (or its reason)."""
    try:
        return json.loads(getattr(exc, 'body', '') or '{}').get('message') or getattr(exc, 'reason', '')
    except (ValueError, AttributeError):
        return str(getattr(exc, 'reason', exc))


def to_dict(api_client, obj):
    """A client object as the API's JSON (camelCase) dict."""
    if obj is None or isinstance(obj, dict):
        return obj
    return api_client.sanitize_for_serialization(obj)


# ------------------------------------------------------------------------------- pods

def list_pods(target, namespace, selector=None, name=None):
    """Pods as camelCase dicts: the named one, or those matching ``selector``."""
    core = target.core
    if name:
        try:
            return [to_dict(core.api_client, core.read_namespaced_pod(name, namespace))]
        except ApiException as exc:
            if getattr(exc, 'status', None) == 404:
                return []
            raise
    found = core.list_namespaced_pod(namespace, label_selector=selector or None)
    return [to_dict(core.api_client, pod) for pod in found.items]


def container_status(pod, container=None):
    statuses = ((pod.get('status') or {}).get('containerStatuses')) or []
    for status in statuses:
        if container is None or status.get('name') == container:
            return status
    return statuses[0] if statuses else {}


def pod_ready(pod):
    for cond in (pod.get('status') or {}).get('conditions') or []:
        if cond.get('type') == 'Ready':
            return cond.get('status') == 'True'
    return False


def pod_summary(pod, container=None):
    """What the module returns about a pod: name, uid, phase, ready, restarts, reason."""
    if not pod:
        return {'name': None, 'uid': None, 'phase': None, 'ready': False, 'restarts': None, 'terminating': False}
    meta = pod.get('metadata') or {}
    cstat = container_status(pod, container)
    state = cstat.get('state') or {}
    waiting = (state.get('waiting') or {}).get('reason')
    last = ((cstat.get('lastState') or {}).get('terminated') or {}).get('reason')
    return {
        'name': meta.get('name'),
        'uid': meta.get('uid'),
        'phase': (pod.get('status') or {}).get('phase'),
        'ready': pod_ready(pod),
        'restarts': cstat.get('restartCount'),
        'waiting_reason': waiting,
        'last_termination_reason': last,
        'terminating': meta.get('deletionTimestamp') is not None,
        'deletion_timestamp': meta.get('deletionTimestamp'),
        'created': meta.get('creationTimestamp'),
    }


def owner_statefulset(pod):
    for ref in ((pod or {}).get('metadata') or {}).get('ownerReferences') or []:
        if ref.get('kind') == 'StatefulSet':
            return ref.get('name')
    return None


def statefulset_from_pod_name(pod_name):
    """``prom-agent-x-0`` -> ``prom-agent-x`` (the StatefulSet naming rule)."""
    if pod_name and '-' in pod_name and pod_name.rsplit('-', 1)[1].isdigit():
        return pod_name.rsplit('-', 1)[0]
    return None


# ------------------------------------------------------------------------------- health

def http_text(target, path, timeout=None):
    """(status, text) of an agent endpoint; (None, error) when unreachable."""
    try:
        status, body = target.http_get(path, timeout=timeout)
    except Exception as exc:  # pylint: disable=broad-except
        return None, str(exc)
    if isinstance(body, bytes):
        body = body.decode('utf-8', 'replace')
    return status, body


def health(target, timeout=None):
    """``{'healthy': bool, 'ready': bool, 'error': str|None}`` from /-/healthy and /-/ready."""
    h_status, h_body = http_text(target, '/-/healthy', timeout)
    r_status, r_body = http_text(target, '/-/ready', timeout)
    error = None
    if h_status is None:
        error = h_body
    elif r_status != 200:
        error = 'ready: HTTP %s %s' % (r_status, (r_body or '')[:80].strip())
    return {'healthy': h_status == 200, 'ready': r_status == 200, 'error': error}


def targets_health(target, timeout=None):
    """``{'up': n, 'down': n, 'error': str|None}`` from /api/v1/targets."""
    status, body = http_text(target, '/api/v1/targets?state=active', timeout)
    if status != 200:
        return {'up': 0, 'down': 0, 'unknown': 0, 'error': 'HTTP %s' % status if status else body}
    try:
        active = json.loads(body)['data']['activeTargets']
    except (ValueError, KeyError, TypeError) as exc:
        return {'up': 0, 'down': 0, 'unknown': 0, 'error': 'bad targets answer: %s' % exc}
    counts = {'up': 0, 'down': 0, 'unknown': 0, 'error': None}
    for item in active:
        key = item.get('health') if item.get('health') in ('up', 'down') else 'unknown'
        counts[key] += 1
    return counts


# ------------------------------------------------------------------------------- remote write

def rw_reading(target, timeout=None):
    """One reading of the remote-write counters: ``{'time', 'queues': [...], 'newest_appended'}``.

    Queues carry ``samples_total``, ``bytes_total``, ``retried_total``, ``failed_total``,
    ``pending_samples``, ``highest_sent_timestamp``, ``remote_name``. None when /metrics
    cannot be read.
    """
    status, body = http_text(target, '/metrics', timeout)
    if status != 200:
        return None
    return parse_rw(body)


def parse_rw(text):
    """The remote-write counters out of a /metrics page (every name since 2.0)."""
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    return reading_from_families(parse_metric_lines(text, RW_NAMES))


# the names the restart guardrail reads, old and new (shared/domain/prometheus-agent.md)
RW_KEYS = (
    ('samples_total', ('prometheus_remote_storage_samples_total', 'prometheus_remote_storage_succeeded_samples_total')),
    ('bytes_total', ('prometheus_remote_storage_bytes_total', 'prometheus_remote_storage_sent_bytes_total',
                     'prometheus_remote_storage_samples_bytes_total')),
    ('retried_total', ('prometheus_remote_storage_samples_retried_total', 'prometheus_remote_storage_retried_samples_total')),
    ('failed_total', ('prometheus_remote_storage_samples_failed_total', 'prometheus_remote_storage_failed_samples_total')),
    ('pending_samples', ('prometheus_remote_storage_samples_pending', 'prometheus_remote_storage_pending_samples')),
    ('highest_sent_timestamp', ('prometheus_remote_storage_queue_highest_sent_timestamp_seconds',)),
    ('queue_highest_timestamp', ('prometheus_remote_storage_queue_highest_timestamp_seconds',)),
)
NEWEST_APPENDED = 'prometheus_remote_storage_highest_timestamp_in_seconds'
RW_NAMES = frozenset([name for _key, names in RW_KEYS for name in names] + [NEWEST_APPENDED])

_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metric_lines(text, names):
    """``{name: [(labels, value)]}`` for the sample lines of ``names`` (a small reader for the
    handful of remote-write series the guardrail needs; comments and other names are skipped)."""
    out = {}
    for line in text.splitlines():
        if not line or line[0] == '#':
            continue
        match = _LINE.match(line)
        if not match or match.group(1) not in names:
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        labels = dict(_LABEL.findall(match.group(2) or ''))
        out.setdefault(match.group(1), []).append((labels, value))
    return out


def reading_from_families(families):
    """The reading shape (see ``rw_reading``) from parsed families."""
    queues = {}
    newest = None

    def qkey(labels):
        return labels.get('remote_name') or labels.get('queue') or labels.get('url') or 'default'

    for key, candidates in RW_KEYS:
        for name in candidates:
            samples = exposition_samples(families, name)
            if not samples:
                continue
            for labels, value in samples:
                queue = queues.setdefault(qkey(labels), {'remote_name': qkey(labels), 'url': labels.get('url')})
                queue[key] = queue.get(key, 0.0) + value if key.endswith('_total') else value
            break
    for _labels, value in exposition_samples(families, NEWEST_APPENDED):
        newest = value if newest is None else max(newest, value)
    for queue in queues.values():
        own = queue.get('queue_highest_timestamp')
        if own is not None:
            newest = own if newest is None else max(newest, own)
    return {'time': time.time(), 'queues': list(queues.values()), 'newest_appended': newest}


def exposition_samples(families, name):
    """[(labels, value)] of one metric name."""
    return list(families.get(name) or [])


def rw_rates(first, second):
    """Queues with per-second rates and lag from two readings (the ``remote_write_stats`` keys)."""
    span = max(second['time'] - first['time'], 1e-6)
    before = dict((q['remote_name'], q) for q in first['queues'])
    out = []
    for queue in second['queues']:
        prev = before.get(queue['remote_name'], {})

        def rate(key, queue=queue, prev=prev):
            if queue.get(key) is None or prev.get(key) is None:
                return None
            return max(queue[key] - prev[key], 0.0) / span
        newest = queue.get('queue_highest_timestamp') or second.get('newest_appended')
        sent = queue.get('highest_sent_timestamp')
        lag = None
        if newest is not None and sent is not None:
            lag = max(newest - sent, 0.0)
        out.append({'remote_name': queue['remote_name'], 'url': queue.get('url'),
                    'samples_per_second': rate('samples_total'), 'bytes_per_second': rate('bytes_total'),
                    'retried_per_second': rate('retried_total'), 'failed_per_second': rate('failed_total'),
                    'pending_samples': queue.get('pending_samples'), 'lag_seconds': lag})
    return out


def probe_receiver(url, timeout=5.0, validate_certs=True):
    """``(ok, detail)``: can the remote-write receiver at ``url`` be reached (any answer < 500)?"""
    try:
        resp = open_url(url, method='GET', timeout=timeout, validate_certs=validate_certs)
        return True, 'HTTP %s' % resp.getcode()
    except HTTPError as exc:
        if exc.code >= 500:
            return False, 'HTTP %s' % exc.code
        return True, 'HTTP %s' % exc.code
    except (URLError, OSError, ValueError) as exc:
        return False, str(getattr(exc, 'reason', exc))


def restart_guard(target, params, remote_write_urls=None, interval=None):
    """Read the remote-write state twice and decide (``remediation.restart_guard``).

    Returns the guard dict plus ``queues`` (rates) and ``receiver_probe``. When /metrics cannot
    be read (agent down), the receiver URLs of the agent's config are probed instead.
    """
    interval = params.get('rw_interval', 5) if interval is None else interval
    timeout = params.get('timeout')
    first = rw_reading(target, timeout)
    queues = []
    probes = []
    readable = first is not None
    if readable:
        time.sleep(max(interval, 0))
        second = rw_reading(target, timeout)
        if second is None:
            readable = False
        else:
            queues = rw_rates(first, second)
    extra = []
    # probe the receiver when the metrics cannot tell: agent down, or no bytes sent in the window
    ambiguous = any((q.get('bytes_per_second') or 0) <= 0 for q in queues)
    if (not readable or ambiguous) and remote_write_urls:
        readable = True
        for url in remote_write_urls:
            ok, detail = probe_receiver(url, timeout=timeout or 5.0, validate_certs=params.get('validate_certs', True))
            probes.append({'url': url, 'ok': ok, 'detail': detail})
            if not ok:
                extra.append('the receiver %s does not answer (%s)' % (url, detail))
    guard = rem.restart_guard(queues, force=params.get('force', False), max_lag_seconds=params.get('max_lag_seconds'),
                              max_pending_samples=params.get('max_pending_samples'), readable=readable)
    if extra:
        guard['reasons'] = guard['reasons'] + extra
        guard['allowed'] = bool(params.get('force'))
        guard['overridden'] = bool(params.get('force'))
    guard['queues'] = queues
    guard['receiver_probe'] = probes
    guard['metrics_readable'] = first is not None
    return guard


# ------------------------------------------------------------------------------- operator resources

def get_cr(target, kind, namespace, name):
    info = KINDS[kind]
    try:
        return target.custom.get_namespaced_custom_object(OPERATOR_GROUP, info['version'], namespace, info['plural'], name)
    except ApiException as exc:
        if getattr(exc, 'status', None) == 404:
            return None
        raise


def patch_cr(target, kind, namespace, name, patch):
    info = KINDS[kind]
    return target.custom.patch_namespaced_custom_object(OPERATOR_GROUP, info['version'], namespace, info['plural'], name, patch)


def find_cr(target, namespace, pod=None, name=None, kind=None):
    """(kind, name, object) of the operator resource behind the agent, or (kind, None, None)."""
    kinds = [kind] if kind else ['PrometheusAgent', 'Prometheus']
    labels = ((pod or {}).get('metadata') or {}).get('labels') or {}
    guesses = [name] if name else []
    if labels.get('operator.prometheus.io/name'):
        guesses.append(labels['operator.prometheus.io/name'])
    if labels.get('app.kubernetes.io/instance'):
        guesses.append(labels['app.kubernetes.io/instance'])
    sts = owner_statefulset(pod) or statefulset_from_pod_name(((pod or {}).get('metadata') or {}).get('name'))
    for knd in kinds:
        for guess in guesses + ([sts[len(KINDS[knd]['prefix']):]] if sts and sts.startswith(KINDS[knd]['prefix']) else []):
            if not guess:
                continue
            obj = get_cr(target, knd, namespace, guess)
            if obj is not None:
                return knd, guess, obj
    return kinds[0], name, None


def remote_write_urls(cr):
    return [item.get('url') for item in ((cr or {}).get('spec') or {}).get('remoteWrite') or [] if item.get('url')]


# ------------------------------------------------------------------------------- restarts

def rollout_restart(target, namespace, statefulset, when=None):
    """Patch the pod template annotation (``kubectl rollout restart``). Returns the stamp."""
    stamp = rfc3339(when)
    body = {'spec': {'template': {'metadata': {'annotations': {RESTARTED_AT: stamp}}}}}
    target.apps.patch_namespaced_stateful_set(statefulset, namespace, body)
    return stamp


def delete_pod(target, namespace, name, grace_seconds=0):
    body = {'apiVersion': 'v1', 'kind': 'DeleteOptions', 'gracePeriodSeconds': int(grace_seconds)}
    try:
        target.core.delete_namespaced_pod(name, namespace, body=body, grace_period_seconds=int(grace_seconds))
    except ApiException as exc:
        if getattr(exc, 'status', None) != 404:
            raise


def wait_new_pod_ready(target, namespace, name, old_uid, timeout, container=None, poll=1.0, clock=time.monotonic):
    """Wait until pod ``name`` exists with a uid other than ``old_uid`` and is Ready.

    Returns ``(pod_dict or None, waited_seconds, last_summary)``.
    """
    start = clock()
    last = None
    while True:
        pods = list_pods(target, namespace, name=name)
        pod = pods[0] if pods else None
        last = pod_summary(pod, container)
        if pod and last['uid'] != old_uid and last['ready'] and not last['terminating']:
            return pod, clock() - start, last
        if clock() - start > timeout:
            return None, clock() - start, last
        time.sleep(poll)


def wait_healthy(target, timeout, poll=1.0):
    """Wait until /-/ready answers 200 (through the pod proxy). Returns the last health dict."""
    start = time.monotonic()
    while True:
        state = health(target, timeout=5)
        if state['ready'] and state['healthy']:
            return state
        if time.monotonic() - start > timeout:
            return state
        time.sleep(poll)


def wait_targets_up(target, timeout, poll=2.0):
    start = time.monotonic()
    while True:
        counts = targets_health(target, timeout=5)
        if counts['up'] > 0 and counts['down'] == 0:
            return counts
        if time.monotonic() - start > timeout:
            return counts
        time.sleep(poll)


def wait_sending(target, timeout, max_lag_seconds=None, poll=3.0):
    """Wait until remote write is flowing: samples and bytes rising, no retries, lag small.

    Returns ``{'ok', 'reasons', 'samples_delta', 'bytes_delta', 'lag_seconds'}``.
    """
    start = time.monotonic()
    first = rw_reading(target, 5)
    reasons = ['/metrics unreadable']
    while True:
        time.sleep(poll)
        second = rw_reading(target, 5)
        if first is None:
            first = second
            continue
        if second is None:
            reasons = ['/metrics unreadable']
        else:
            if not second['queues']:
                return {'ok': True, 'reasons': [], 'queues': 0, 'samples_delta': 0, 'bytes_delta': 0, 'lag_seconds': None}
            one, two = rem.rw_counters(first['queues']), rem.rw_counters(second['queues'])
            ok, reasons = rem.sending_again(one, two, max_lag_seconds=max_lag_seconds,
                                            newest_appended=second.get('newest_appended'))
            lag = None
            if second.get('newest_appended') is not None and two.get('highest_sent_timestamp') is not None:
                lag = max(second['newest_appended'] - two['highest_sent_timestamp'], 0.0)
            result = {'ok': ok, 'reasons': reasons, 'queues': len(second['queues']),
                      'samples_delta': two['samples_total'] - one['samples_total'],
                      'bytes_delta': two['bytes_total'] - one['bytes_total'], 'lag_seconds': lag}
            if ok:
                return result
            first = second
        if time.monotonic() - start > timeout:
            out = {'ok': False, 'reasons': reasons}
            return out
