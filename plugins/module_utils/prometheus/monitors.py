# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ServiceMonitors, PodMonitors, Probes and ScrapeConfigs an agent selects, and what each
produced (runbook section 4, weekly): its active targets (up, down) or none, or the operator's
rejection.

Which monitors the operator gives the agent, from its PrometheusAgent (or Prometheus) spec:
``serviceMonitorSelector`` / ``podMonitorSelector`` / ``probeSelector`` / ``scrapeConfigSelector``
nil selects none, ``{}`` every one; their ``...NamespaceSelector`` nil means the agent's own
namespace, ``{}`` every namespace. A monitor's endpoint N is the scrape pool
``serviceMonitor/<namespace>/<name>/<N>`` (``podMonitor/...`` for a PodMonitor) of the agent's
/api/v1/targets; a Probe is the one pool ``probe/<namespace>/<name>``, a ScrapeConfig
(``monitoring.coreos.com/v1alpha1``) the one pool ``scrapeConfig/<namespace>/<name>``
(``scrapeconfig/...`` from older operators, counted as well), as prometheus-operator's
promcfg.go names the jobs. A monitor is rejected when its ``status.bindings`` condition
``Accepted`` is ``False`` for this agent's resource. No Ansible here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import workloads

API = '/apis/monitoring.coreos.com/v1'
API_V1ALPHA1 = '/apis/monitoring.coreos.com/v1alpha1'
# resource plural -> (kind, scrape pool prefix = spec field prefix, the endpoints field: one scrape
# pool per endpoint; None: the resource is one scrape pool, without an index)
MONITOR_KINDS = (
    ('servicemonitors', 'ServiceMonitor', 'serviceMonitor', 'endpoints'),
    ('podmonitors', 'PodMonitor', 'podMonitor', 'podMetricsEndpoints'),
    ('probes', 'Probe', 'probe', None),
    ('scrapeconfigs', 'ScrapeConfig', 'scrapeConfig', None),
)
# the API group version of each kind (the others: API)
API_OF = {'scrapeconfigs': API_V1ALPHA1}
# the selector fields of the agent's spec, in MONITOR_KINDS order
SELECTOR_FIELDS = tuple(prefix + 'Selector' for _plural, _kind, prefix, _field in MONITOR_KINDS)
# the monitors named in a message, at most
MESSAGE_NAMES = 5
# why a selected, accepted monitor has no active target, by kind
NONE_REASONS = {
    'ServiceMonitor': 'no active target (its selector, namespaceSelector or port matches nothing)',
    'PodMonitor': 'no active target (its selector, namespaceSelector or port matches nothing)',
    'Probe': 'no active target (its targets: no static target, or its ingress selector matches nothing)',
    'ScrapeConfig': 'no active target (its staticConfigs and service discovery give no target)',
}


def selects(selector, labels):
    """True when a LabelSelector (matchLabels, matchExpressions) matches ``labels``; a nil
    selector matches nothing, an empty one everything (as the operator reads them)."""
    if selector is None:
        return False
    labels = labels or {}
    for key, value in (selector.get('matchLabels') or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get('matchExpressions') or []:
        key, op, values = expr.get('key'), expr.get('operator'), expr.get('values') or []
        if op == 'In' and labels.get(key) not in values:
            return False
        if op == 'NotIn' and key in labels and labels[key] in values:
            return False
        if op == 'Exists' and key not in labels:
            return False
        if op == 'DoesNotExist' and key in labels:
            return False
    return True


def namespace_selected(selector, namespace, own_namespace, namespace_labels=None):
    """True when a monitor in ``namespace`` is in the agent's monitor namespaces (nil: its own)."""
    if selector is None:
        return namespace == own_namespace
    labels = dict((namespace_labels or {}).get(namespace) or {})
    labels.setdefault('kubernetes.io/metadata.name', namespace)
    return selects(selector, labels)


def _rejection(monitor, resource_kind, resource_name):
    """The message of an ``Accepted=False`` condition of the binding to this agent (None: accepted)."""
    for binding in ((monitor.get('status') or {}).get('bindings') or []):
        if binding.get('name') != resource_name or (binding.get('resource') or '').lower() not in (
                '', resource_kind.lower() + 's', resource_kind.lower() + 'es', 'prometheusagents', 'prometheuses'):
            continue
        for cond in binding.get('conditions') or []:
            if cond.get('type') == 'Accepted' and cond.get('status') == 'False':
                return cond.get('message') or cond.get('reason') or 'not accepted'
    return None


def pool_counts(targets_doc):
    """{scrape pool: {'up', 'down', 'unknown'}} of the active targets of /api/v1/targets."""
    data = (targets_doc or {}).get('data') if isinstance((targets_doc or {}).get('data'), dict) else (targets_doc or {})
    pools = {}
    for item in (data or {}).get('activeTargets') or []:
        entry = pools.setdefault(item.get('scrapePool') or (item.get('labels') or {}).get('job') or '?', {'up': 0, 'down': 0, 'unknown': 0})
        health = item.get('health') or 'unknown'
        entry[health if health in entry else 'unknown'] += 1
    return pools


def pool_names(prefix, field, obj):
    """The scrape pools the operator makes of a monitor: one per endpoint (``<prefix>/<ns>/<name>/<N>``),
    or the one ``<prefix>/<ns>/<name>`` of a Probe or ScrapeConfig (``field`` None)."""
    meta = obj.get('metadata') or {}
    if field is None:
        return ['%s/%s/%s' % (prefix, meta.get('namespace'), meta.get('name'))]
    count = max(len(((obj.get('spec') or {}).get(field)) or []), 1)
    return ['%s/%s/%s/%d' % (prefix, meta.get('namespace'), meta.get('name'), i) for i in range(count)]


def _pool_aliases(names):
    """The pools to count for ``names``: a ScrapeConfig's job was ``scrapeconfig/<ns>/<name>`` before
    prometheus-operator named it ``scrapeConfig/<ns>/<name>``."""
    out = list(names)
    for name in names:
        if name.startswith('scrapeConfig/'):
            out.append('scrapeconfig/' + name[len('scrapeConfig/'):])
    return out


def selected(spec, monitors_by_plural, own_namespace, namespace_labels=None):
    """The monitors ``spec`` selects: [(plural, kind, prefix, endpoints field, object)] in name order."""
    out = []
    for plural, kind, prefix, field in MONITOR_KINDS:
        selector = (spec or {}).get(prefix + 'Selector')
        ns_selector = (spec or {}).get(prefix + 'NamespaceSelector')
        for obj in monitors_by_plural.get(plural) or []:
            meta = obj.get('metadata') or {}
            if selects(selector, meta.get('labels')) and namespace_selected(ns_selector, meta.get('namespace'), own_namespace, namespace_labels):
                out.append((plural, kind, prefix, field, obj))
    out.sort(key=lambda x: (x[1], (x[4].get('metadata') or {}).get('namespace') or '', (x[4].get('metadata') or {}).get('name') or ''))
    return out


def summarize(spec, monitors_by_plural, own_namespace, targets_doc, resource_kind='PrometheusAgent', resource_name=None,
              namespace_labels=None):
    """``monitors``: one entry per selected monitor: ``kind``, ``namespace``, ``name``,
    ``pools`` (its scrape pools), ``active``/``up``/``down`` target counts, ``state`` ('ok',
    'down': every target down, 'none': no active target, 'rejected') and ``reason``."""
    pools = pool_counts(targets_doc)
    entries = []
    for _plural, kind, prefix, field, obj in selected(spec, monitors_by_plural, own_namespace, namespace_labels):
        meta = obj.get('metadata') or {}
        names = pool_names(prefix, field, obj)
        counted = _pool_aliases(names)
        up = sum(pools.get(n, {}).get('up', 0) for n in counted)
        down = sum(pools.get(n, {}).get('down', 0) for n in counted)
        active = sum(sum(pools.get(n, {}).values()) for n in counted)
        why = _rejection(obj, resource_kind, resource_name)
        if why:
            state, reason = 'rejected', why
        elif not active:
            state, reason = 'none', NONE_REASONS.get(kind, NONE_REASONS['ServiceMonitor'])
        elif not up and down:
            state, reason = 'down', 'all %d targets down' % down
        else:
            state, reason = 'ok', '%d of %d targets up' % (up, active)
        entries.append({'kind': kind, 'namespace': meta.get('namespace'), 'name': meta.get('name'), 'pools': names,
                        'active': active, 'up': up, 'down': down, 'state': state, 'reason': reason})
    return entries


def read(target, resource, own_namespace, targets_doc, resource_kind='PrometheusAgent'):
    """The ``monitors`` of agent_status: {'selected': [...summarize...], 'resource': '<kind> <ns>/<name>',
    'served': False when the cluster does not serve a kind the agent selects (ServiceMonitor,
    PodMonitor, Probe, ScrapeConfig)}. Reads: one LIST per kind with a selector (the agent's
    namespace, or every namespace when its namespace selector is not nil) and the namespaces when
    a namespace selector has labels."""
    spec = (resource or {}).get('spec') or {}
    meta = (resource or {}).get('metadata') or {}
    by_plural, served, labels_needed = {}, True, False
    for plural, _kind, prefix, _field in MONITOR_KINDS:
        if spec.get(prefix + 'Selector') is None:
            by_plural[plural] = []
            continue
        ns_selector = spec.get(prefix + 'NamespaceSelector')
        labels_needed = labels_needed or bool(ns_selector)
        api = API_OF.get(plural, API)
        path = workloads.namespaced_path(api, own_namespace, plural) if ns_selector is None else '%s/%s' % (api, plural)
        items = workloads.list_items(target, path, what='listing %s' % plural, missing_ok=True)
        if items is None:
            served = False
        by_plural[plural] = items or []
    namespace_labels = None
    if labels_needed:
        namespace_labels = dict(((n.get('metadata') or {}).get('name'), (n.get('metadata') or {}).get('labels') or {})
                                for n in workloads.list_items(target, '/api/v1/namespaces', what='listing namespaces') or [])
    result = {'resource': '%s %s/%s' % (resource_kind, meta.get('namespace') or own_namespace, meta.get('name')),
              'selected': summarize(spec, by_plural, own_namespace, targets_doc, resource_kind, meta.get('name'), namespace_labels),
              'served': served}
    if all(spec.get(field) is None for field in SELECTOR_FIELDS):
        result['note'] = ('the %s has no serviceMonitorSelector, podMonitorSelector, probeSelector or scrapeConfigSelector: '
                          'it selects no monitor' % resource_kind)
    return result


def names_of(entries, most=MESSAGE_NAMES):
    """'ServiceMonitor ns/name, ...' of entries (the first ``most``, then how many more)."""
    shown = ['%s %s/%s' % (e['kind'], e['namespace'], e['name']) for e in entries[:most]]
    if len(entries) > most:
        shown.append('%d more' % (len(entries) - most))
    return ', '.join(shown)
