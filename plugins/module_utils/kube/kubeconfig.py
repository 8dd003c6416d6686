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

Ansible forks a new worker process for every task and host, so an in-process cache alone would
still parse the whole file once per task and cluster (0.3 CPU-s for 2,000 contexts: a fleet's
total growing with its square). ``reduced`` therefore keeps, beside the file, an *offset index*
in the user's cache folder (``$FLEETOPS_CACHE_DIR``, else ``$XDG_CACHE_HOME/fleetops`` or
``~/.cache/fleetops``, mode 0700): for the file's signature, where each context, cluster and user
entry lies in the text. It holds names and offsets only, never a credential. A later process
reads the file, parses just the three entries it needs and checks their names; any doubt (another
signature, a moved entry, an alias) is a full parse, which writes the index again. A process that
reads many contexts of one file this way (fleet_gather's pool) keeps the index and the text for the
file's signature, so it reads and decodes them once, not once per context.

A file that cannot be read or is not a kubeconfig raises ``TargetConfigError``. The parsed
document is shared: callers get copies of what they may change.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json
import os
import tempfile
import textwrap
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
# path -> (signature, offset index, text) of the last read through the offset index: a process that
# reads many contexts of one file (fleet_gather's pool, the in-worker actions) reads and decodes the
# index and the text once, not once per context
_OFFSETS = {}
_LOCK = threading.Lock()


def signature(path):
    """(mtime_ns, size, inode) of ``path``, None when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


KINDS = ('contexts', 'clusters', 'users')


def _cached(path):
    """(signature, doc, index) of the in-process cache when still current, else (signature, None, None)."""
    sig = signature(path)
    with _LOCK:
        cached = _CACHE.get(path)
    if cached is not None and sig is not None and cached[0] == sig:
        return cached
    return sig, None, None


def _parse(path):
    """(text, doc, top node) of the file; the node holds where each entry lies in the text."""
    if yaml is None:  # pragma: no cover
        raise TargetConfigError('the Python library PyYAML is required to read %s' % path)
    try:
        with open(path, 'rb') as handle:
            text = handle.read().decode('utf-8-sig')
        loader = _LOADER(text)
        try:
            node = loader.get_single_node()
            doc = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise TargetConfigError('cannot read %s: %s' % (path, one_line(exc, 300)))
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise TargetConfigError('%s is not a kubeconfig (no mapping at the top)' % path)
    return text, doc, node


def _read(path):
    """(doc, {kind: {name: entry}}) of the kubeconfig at ``path``, cached by its signature; the
    offset index of ``reduced`` written on the way."""
    path = os.path.abspath(os.path.expanduser(path))
    sig, doc, index = _cached(path)
    if doc is not None:
        return doc, index
    _text, doc, node = _parse(path)
    index = dict((kind, _named(doc.get(kind))) for kind in KINDS)
    with _LOCK:
        _CACHE[path] = (sig, doc, index)
    if sig is not None:
        _write_offsets(path, sig, doc, node)
    return doc, index


# ----------------------------------------------------------------------------- the offset index

def cache_dir():
    """The folder of the offset indexes (created 0700 on first write)."""
    found = os.environ.get('FLEETOPS_CACHE_DIR')
    if not found:
        found = os.path.join(os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache'), 'fleetops')
    return found


def _offsets_path(path):
    return os.path.join(cache_dir(), 'kubeconfig-%s.json' % hashlib.sha256(path.encode('utf-8')).hexdigest()[:32])


def _entry_span(item):
    """[start, end, block] of a list entry's node: where its text lies, and whether it is block style."""
    return [item.start_mark.index, item.end_mark.index, 0 if item.flow_style else item.start_mark.column + 1]


def _write_offsets(path, sig, doc, node):
    """Write the offset index of ``path`` (best effort: a folder that cannot be written only costs speed)."""
    offsets = {'signature': list(sig), 'current-context': doc.get('current-context')}
    try:
        lists = dict((key.value, value) for key, value in node.value if isinstance(key.value, str))
        for kind in KINDS:
            found = {}
            items = lists.get(kind)
            for item, entry in zip(getattr(items, 'value', None) or [], doc.get(kind) or []):
                if isinstance(entry, dict) and entry.get('name') is not None and str(entry['name']) not in found:
                    found[str(entry['name'])] = _entry_span(item)
            offsets[kind] = found
        folder = cache_dir()
        os.makedirs(folder, mode=0o700, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=folder, prefix='.kubeconfig-')
        with os.fdopen(handle, 'w') as out:
            json.dump(offsets, out)
        os.replace(tmp, _offsets_path(path))
    except (OSError, TypeError, ValueError, AttributeError):
        pass


def _entry_at(text, span, name):
    """The entry whose text lies at ``span``, or None when it is not the entry called ``name``."""
    start, end, block = span
    if block:
        line = text.rfind('\n', 0, start) + 1
        if start - line != block - 1:
            return None
        snippet = textwrap.dedent(' ' * (start - line) + text[start:end])
    else:
        snippet = text[start:end]
    try:
        entry = yaml.load(snippet, Loader=_LOADER)  # nosec - a safe loader
    except yaml.YAMLError:
        return None
    return entry if isinstance(entry, dict) and str(entry.get('name')) == name else None


def _from_offsets(path, context, sig):
    """(name, {kind: {name: entry}}) of ``context`` and its cluster and user, read through the offset
    index of the file's version ``sig`` (its ``signature``, just taken); None when the index is
    missing, stale or does not fit the file."""
    if sig is None:
        return None
    with _LOCK:
        cached = _OFFSETS.get(path)
    if cached is not None and cached[0] == sig:
        offsets, text = cached[1], cached[2]
    else:
        try:
            with open(_offsets_path(path)) as handle:
                offsets = json.load(handle)
            if not isinstance(offsets, dict) or offsets.get('signature') != list(sig):
                return None
            with open(path, 'rb') as handle:
                text = handle.read().decode('utf-8-sig')
        except (OSError, ValueError):
            return None
        if signature(path) != sig:
            return None
        with _LOCK:
            _OFFSETS[path] = (sig, offsets, text)
    name = context or offsets.get('current-context')
    if not name:
        return None
    index = dict((kind, {}) for kind in KINDS)
    span = (offsets.get('contexts') or {}).get(str(name))
    wanted = _entry_at(text, span, str(name)) if span else None
    if wanted is None:
        return None if span or not offsets.get('contexts') else (str(name), index)
    index['contexts'][str(name)] = wanted
    spec = wanted.get('context') if isinstance(wanted.get('context'), dict) else {}
    for kind in ('cluster', 'user'):
        other = spec.get(kind)
        span = (offsets.get(kind + 's') or {}).get(str(other)) if other is not None else None
        if span:
            entry = _entry_at(text, span, str(other))
            if entry is None:
                return None
            index[kind + 's'][str(other)] = entry
    return str(name), index


def load(path):
    """The parsed kubeconfig at ``path`` (a dict, shared: do not change it). An empty file is ``{}``."""
    return _read(path)[0]


def clear_cache():
    with _LOCK:
        _CACHE.clear()
        _OFFSETS.clear()


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
    path = os.path.abspath(os.path.expanduser(path))
    sig, doc, index = _cached(path)
    found = _from_offsets(path, context, sig) if doc is None else None
    if found is not None:
        name, index = found
    else:
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


__all__ = ['load', 'contexts', 'current_context', 'reduced', 'signature', 'clear_cache', 'cache_dir', 'FILE_KEYS']
