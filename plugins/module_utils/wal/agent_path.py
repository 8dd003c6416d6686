# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where an agent keeps its WAL, from the agent's own flags.

An agent's WAL is ``<--storage.agent.path>/wal``. The flag's value is read, in this order, from
the running agent (``/api/v1/status/flags``), from the arguments of the agent container in the pod
spec (``--storage.agent.path=X`` or ``--storage.agent.path X``), and else Prometheus' default
``data-agent/``. The Prometheus Operator passes ``--storage.agent.path=/prometheus``; a plain 2.x
or 3.x agent started without the flag writes ``data-agent/wal`` under its working directory (a
pod's ``workingDir``, else the image's, which ``exec`` in the container starts in too: a relative
path is kept relative then).

Pure Python, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import posixpath

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError

FLAG = 'storage.agent.path'
DEFAULT_STORAGE_PATH = 'data-agent/'


def from_flags(flags):
    """The storage path of /api/v1/status/flags ``data`` (None when it does not say)."""
    value = (flags or {}).get(FLAG) if isinstance(flags, dict) else None
    return str(value) if value else None


def from_args(args):
    """The storage path of a container's command and args (None when the flag is not there)."""
    args = [str(a) for a in args or []]
    for pos, arg in enumerate(args):
        for prefix in ('--' + FLAG, '-' + FLAG):
            if arg.startswith(prefix + '='):
                return arg[len(prefix) + 1:] or None
            if arg == prefix and pos + 1 < len(args):
                return args[pos + 1]
    return None


def from_pod(pod, container='prometheus'):
    """(storage path or None, the container's workingDir or None) of a pod (the API's JSON)."""
    for spec in ((pod or {}).get('spec') or {}).get('containers') or []:
        if spec.get('name') == container:
            return from_args(list(spec.get('command') or []) + list(spec.get('args') or [])), spec.get('workingDir')
    return None, None


def wal_dir(storage_path, working_dir=None):
    """``<storage path>/wal``; a relative storage path under ``working_dir`` when it is known."""
    path = storage_path.rstrip('/') or '/'
    if not posixpath.isabs(path) and working_dir:
        path = posixpath.join(working_dir, path)
    return posixpath.join(path, 'wal')


def _flags_of(target):
    if not hasattr(target, 'http_get'):
        return None
    status, body = target.http_get('/api/v1/status/flags')
    if status != 200:
        return None
    text = body.decode('utf-8', 'replace') if isinstance(body, bytes) else body
    try:
        return (json.loads(text) or {}).get('data')
    except ValueError:
        return None


def discover(target, container='prometheus'):
    """(WAL directory, where the storage path came from) of an agent ``target``: ``flags``,
    ``pod spec`` or ``default``. A target that cannot answer (or has no HTTP or pod list: a bare exec
    target) falls through to the next source."""
    working_dir = None
    if target is not None:
        try:
            path = from_flags(_flags_of(target))
        except (FleetopsError, NotImplementedError):
            path = None
        if path:
            return wal_dir(path), 'flags'
        try:
            pods = target.pods() if hasattr(target, 'pods') else []
            name = getattr(target, 'pod_name', None)     # a Kubernetes target resolves it from the pods
        except (FleetopsError, NotImplementedError):
            pods, name = [], None
        pod = next((p for p in pods if (p.get('metadata') or {}).get('name') == name), pods[0] if pods else None)
        path, working_dir = from_pod(pod, getattr(target, 'container', None) or container)
        if path:
            return wal_dir(path, working_dir), 'pod spec'
    return wal_dir(DEFAULT_STORAGE_PATH, working_dir), 'default'
