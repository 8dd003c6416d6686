# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubeconfig files, read once per process: shared by ``KubeTarget`` and the inventory plugin.

A fleet kubeconfig holds hundreds of contexts. ``load(path)`` parses it (with libyaml when
present) and keeps the result in-process by (path, mtime, size, inode), so a process that runs
many clusters' work (the inventory, an action plugin in Ansible's worker) parses each file once,
and a file rewritten meanwhile (a rotated token) is read again. Nothing here contacts a cluster.

* ``contexts(path)``: the contexts of a file (name, cluster, namespace, server, user), for the
  inventory;
* ``reduced(path, context)``: the file cut down to one context, its cluster and its user (what
  the ``kubernetes`` client's loader is handed: it would otherwise parse the whole file in pure
  Python on every call), with relative file references made absolute against the file's folder
  as the client's own loader does;
* ``signature(path)``: what the cache is keyed by, for callers that cache what they build from a
  file (the API clients of ``target.py``).

A file that cannot be read or is not a kubeconfig raises ``TargetConfigError``. The parsed
document is shared: callers get copies of what they may change.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os
import threading

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import TargetConfigError, one_line

try:
    import yaml
    _LOADER = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)
except ImportError:  # pragma: no cover - PyYAML ships with ansible-core
    yaml = None
    _LOADER = None

# the keys of a cluster and a user that name a file (relative: to the kubeconfig's folder)
FILE_KEYS = {'cluster': ('certificate-authority',), 'user': ('client-certificate', 'client-key', 'tokenFile')}

_CACHE = {}
_LOCK = threading.Lock()


def signature(path):
    """(mtime_ns, size, inode) of ``path``, None when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _read(path):
    """(doc, {kind: {name: entry}}) of the kubeconfig at ``path``, cached by its signature."""
    path = os.path.abspath(os.path.expanduser(path))
    sig = signature(path)
    with _LOCK:
        cached = _CACHE.get(path)
        if cached is not None and sig is not None and cached[0] == sig:
            return cached[1], cached[2]
    if yaml is None:  # pragma: no cover
        raise TargetConfigError('the Python library PyYAML is required to read %s' % path)
    try:
        with open(path, 'rb') as handle:
            doc = yaml.load(handle, Loader=_LOADER)  # nosec - a safe loader
    except (OSError, yaml.YAMLError) as exc:
        raise TargetConfigError('cannot read %s: %s' % (path, one_line(exc, 300)))
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise TargetConfigError('%s is not a kubeconfig (no mapping at the top)' % path)
    index = dict((kind, _named(doc.get(kind))) for kind in ('contexts', 'clusters', 'users'))
    with _LOCK:
        _CACHE[path] = (sig, doc, index)
    return doc, index


def load(path):
    """The parsed kubeconfig at ``path`` (a dict, shared: do not change it). An empty file is ``{}``."""
    return _read(path)[0]


def clear_cache():
    with _LOCK:
        _CACHE.clear()


def _named(items):
    """{name: entry} of a kubeconfig list (clusters, contexts, users); entries without a name are skipped."""
    found = {}
    for item in items or []:
        if isinstance(item, dict) and item.get('name') is not None and str(item['name']) not in found:
            found[str(item['name'])] = item
    return found


def contexts(path):
    """The contexts of the file at ``path``, in order: dicts of name, cluster (the context's cluster,
    or its own name when it has none), namespace, server (None when the cluster is not in the
    file) and user."""
    doc, index = _read(path)
    clusters = index['clusters']
    found = []
    for entry in doc.get('contexts') or []:
        if not isinstance(entry, dict) or not entry.get('name'):
            continue
        spec = entry.get('context') if isinstance(entry.get('context'), dict) else {}
        cluster = spec.get('cluster') or entry['name']
        body = (clusters.get(str(cluster)) or {}).get('cluster')
        found.append({
            'name': str(entry['name']),
            'cluster': str(cluster),
            'namespace': spec.get('namespace'),
            'server': body.get('server') if isinstance(body, dict) else None,
            'user': spec.get('user'),
        })
    return found


def current_context(path):
    """The file's ``current-context`` (None when it names none)."""
    return load(path).get('current-context') or None


def reduced(path, context=None):
    """The file cut down to ``context`` (default: its current context), that context's cluster and
    user, as a new dict for the client's ``load_kube_config_from_dict``; None when the file has no
    such context."""
    doc, index = _read(path)
    name = context or doc.get('current-context')
    wanted = index['contexts'].get(str(name)) if name else None
    if wanted is None:
        return None
    spec = wanted.get('context') if isinstance(wanted.get('context'), dict) else {}
    config = {'apiVersion': 'v1', 'kind': 'Config', 'current-context': str(name), 'contexts': [copy.deepcopy(wanted)]}
    base = os.path.dirname(os.path.abspath(os.path.expanduser(path)))
    for kind in ('cluster', 'user'):
        item = index[kind + 's'].get(str(spec.get(kind))) if spec.get(kind) is not None else None
        if item is None:
            config[kind + 's'] = []
            continue
        item = copy.deepcopy(item)
        body = item.get(kind) if isinstance(item.get(kind), dict) else {}
        for key in FILE_KEYS[kind]:
            if isinstance(body.get(key), str) and not os.path.isabs(body[key]):
                body[key] = os.path.join(base, body[key])
        item[kind] = body
        config[kind + 's'] = [item]
    return config


__all__ = ['load', 'contexts', 'current_context', 'reduced', 'signature', 'clear_cache', 'FILE_KEYS']
