# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a WAL where it is: a local directory, or inside the agent pod through exec.

What ``wal_inspect`` (and ``agent_audit``) return, free of Ansible: ``inspect(params, location,
target)``. The page and record logic is in ``format.py``; this module gets the bytes there: a local
listing and files, or ``ls``/``du``/``df`` and ``cat`` through the exec WebSocket (``FlatStream``
reads the frames itself so memory stays flat whatever the segment size).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import socket

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import checks as _checks
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.checks import result_status
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.http import Deadline
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus.agent_health import SHARD_LABEL
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import workloads
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal import debug_pod
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal import format as walmod
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import (
    FleetopsError, MissingLibrary, TargetTimeout, TargetUnreachable)


KUBE_OPTIONS = ('kubeconfig', 'context', 'host', 'api_key', 'pod')
KUBE_ENV = ('K8S_AUTH_KUBECONFIG', 'K8S_AUTH_CONTEXT', 'K8S_AUTH_HOST', 'K8S_AUTH_API_KEY', 'KUBECONFIG')


def choose_location(params, environ=None, home=None):
    """``auto``: local for an agent outside Kubernetes (``url``) or with no Kubernetes configured."""
    if params.get('location') in ('local', 'pod'):
        return params['location']
    if params.get('url'):
        return 'local'
    environ = os.environ if environ is None else environ
    if any(params.get(k) for k in KUBE_OPTIONS) or any(environ.get(k) for k in KUBE_ENV):
        return 'pod'
    home = environ.get('HOME', '') if home is None else home
    return 'pod' if os.path.exists(os.path.join(home, '.kube', 'config')) else 'local'


class Unknown(Exception):
    """The WAL could not be read: the result is ``status: unknown`` with this reason (and the
    result's fields in ``extra``, e.g. ``debug_pod``)."""

    def __init__(self, reason, extra=None):
        super(Unknown, self).__init__(reason)
        self.extra = extra or {}


def read_local(params, deadline=None):
    """The WAL directory ``params['path']`` on this machine; ``deadline`` (a ``core.http.Deadline``)
    bounds the reads of the verification."""
    path = params['path']
    try:
        listing = walmod.list_local(path)
    except FileNotFoundError:
        raise Unknown('WAL directory %s does not exist on %s' % (path, os.uname()[1]))
    except NotADirectoryError:
        raise Unknown('%s is not a directory' % path)
    except walmod.UnreadableFile as exc:
        raise Unknown('WAL directory %s %s' % (path, exc.reason))
    except OSError as exc:
        raise Unknown('WAL directory %s %s' % (path, walmod.os_error_reason(exc)))
    live = params['agent_running']
    if live is None:
        live = walmod.guess_live(listing)
    report = walmod.verify_listing(listing, params['verify'], walmod.local_opener(path), live=live, deadline=deadline)
    compression = None
    if params['verify'] == 'none':
        compression = walmod.detect_compression_local(listing, path)
    return listing, report, compression, {}


def _pod_name(target):
    for attr in ('pod_ref', 'pod_name', 'pod'):
        try:
            value = getattr(target, attr, None)
        except FleetopsError:
            return None
        if isinstance(value, str) and value:
            namespace = getattr(target, 'namespace', None)
            return '%s/%s' % (namespace, value) if namespace and '/' not in value else value
    return None


class FlatStream(object):
    """``exec_stream`` with flat memory and full speed for big outputs (``cat`` of a segment).

    The kubernetes client's ``WSClient.update()`` appends every frame to the channel buffer and to
    a copy of the whole output (``_all``): streaming a 128 MiB segment through it costs memory in
    proportion to the segment and time in proportion to its square. websocket-client's own frame
    reader is also slow on big frames (many small reads). So this opens the exec WebSocket with the
    kubernetes client (authentication, TLS, protocol negotiation as usual) and then reads the frames
    off the TLS socket itself, into one reused 1 MiB buffer, handing each piece of stdout on as it
    arrives. Falls back to the target's own ``exec_stream`` for targets without a Kubernetes API.
    """

    BUFFER = 1024 * 1024

    def __init__(self, target):
        self.target = target

    def exec(self, argv, timeout=None):
        return self.target.exec(argv, timeout=timeout)

    def exec_stream(self, argv, chunk_size=None):
        if getattr(self.target, 'open_exec', None) is None:
            return self.target.exec_stream(argv) if chunk_size is None else self.target.exec_stream(argv, chunk_size=chunk_size)
        return self._frames(list(argv))

    def _frames(self, argv):
        # pylint: disable=too-many-locals,too-many-branches,too-many-statements
        target = self.target
        where = 'exec %s in pod %s/%s' % (' '.join(argv[:2]), target.namespace, target.pod_name)
        timeout = float(getattr(target, 'timeout', None) or 30)
        arm = getattr(target, 'socket_timeout', None)
        try:
            client = target.open_exec(argv, binary=True)
        except FleetopsError:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            raise TargetUnreachable('%s: %s' % (where, exc))
        raw = client.sock.sock
        buf = bytearray(self.BUFFER)
        view = memoryview(buf)
        state = {'start': 0, 'end': 0}

        def fill(need):
            """Make ``need`` bytes available at buf[start:]; False at the end of the stream."""
            start, end = state['start'], state['end']
            if end - start >= need:
                return True
            if start:
                buf[:end - start] = buf[start:end]
                end -= start
                start = 0
            while end - start < need:
                if arm is not None:
                    raw.settimeout(arm(timeout, where))     # the time the run's deadline leaves
                try:
                    n = raw.recv_into(view[end:])
                except socket.timeout:
                    raise TargetTimeout('%s: nothing received for %ss' % (where, timeout))
                if not n:
                    state['start'], state['end'] = start, end
                    return False
                end += n
            state['start'], state['end'] = start, end
            return True

        status = b''
        err = b''
        channel = None
        try:
            raw.settimeout(timeout)
            while fill(2):
                short = buf[state['start'] + 1] & 0x7F
                head = 4 if short == 126 else 10 if short == 127 else 2
                if not fill(head):      # may move the buffered bytes: read the header after it
                    break
                start = state['start']
                b0, b1 = buf[start], buf[start + 1]
                opcode = b0 & 0x0F
                length = short if head == 2 else int.from_bytes(buf[start + 2:start + head], 'big')
                if b1 & 0x80:
                    raise TargetUnreachable('%s: the server sent a masked frame' % where)
                state['start'] += head
                if opcode == 0x8:       # close
                    break
                data_frame = opcode in (0x0, 0x1, 0x2)
                left = length
                first = True
                while left:
                    if not fill(1):
                        raise TargetUnreachable('%s: the stream ended inside a frame' % where)
                    start, end = state['start'], state['end']
                    take = min(left, end - start)
                    piece = view[start:start + take]
                    state['start'] = start + take
                    left -= take
                    if not data_frame:
                        continue
                    if first and opcode != 0x0:
                        channel = piece[0]
                        piece = piece[1:]
                    first = False
                    if not len(piece):
                        continue
                    if channel == 1:
                        yield bytes(piece)
                    elif channel == 2:
                        err = (err + bytes(piece))[-4096:]
                    elif channel == 3:
                        status += bytes(piece)
                if opcode == 0x9:       # ping: answer so the server keeps the stream
                    try:
                        client.sock.pong(b'')
                    except Exception:  # pylint: disable=broad-except
                        pass
        except FleetopsError:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            raise TargetUnreachable('%s: %s' % (where, exc))
        finally:
            try:
                client.close()
            except Exception:  # pylint: disable=broad-except
                pass
        rc = _exit_code(status)
        if rc:
            raise FleetopsError('%s exited %s: %s' % (where, rc, err.decode('utf-8', 'replace').strip()[-300:]))


def _exit_code(status):
    """The exit code from the exec error channel's Status (``Success``, or ``ExitCode`` causes)."""
    if not status:
        return 0
    try:
        doc = json.loads(status.decode('utf-8', 'replace'))
    except ValueError:
        return 1
    if doc.get('status') == 'Success':
        return 0
    for cause in (doc.get('details') or {}).get('causes') or []:
        if cause.get('reason') == 'ExitCode':
            try:
                return int(cause.get('message'))
            except (TypeError, ValueError):
                return 1
    return 1


def read_pod(params, target=None, check_mode=False):
    """The WAL in the agent's container through exec; when the container is not running (exec is
    refused), through a short-lived pod that mounts its volume read-only if ``debug_pod`` is true."""
    path = params['path'].rstrip('/') or '/'
    try:
        if callable(target):
            target = target()
        listed = target.exec(walmod.pod_list_argv(path))
    except MissingLibrary:
        raise
    except FleetopsError as exc:
        if callable(target):
            raise Unknown('cannot reach the agent pod: %s' % exc)
        return _read_stopped(params, target, path, exc, check_mode)
    return _read_exec(params, target, path, listed)


def _read_exec(params, target, path, listed=None, where='the agent container'):
    if listed is None:
        try:
            listed = target.exec(walmod.pod_list_argv(path))
        except FleetopsError as exc:
            raise Unknown('cannot reach %s: %s' % (where, exc))
    rc, out, err = listed
    extra = {}
    pod = _pod_name(target)
    if pod:
        extra['pod'] = pod
    if isinstance(err, bytes):
        err = err.decode('utf-8', 'replace')
    if rc == 3:
        raise Unknown('WAL directory %s not found in %s%s' % (path, where, ' of %s' % pod if pod else ''))
    if rc not in (0, None):
        raise Unknown('listing %s in %s failed (exit %s): %s' % (path, where, rc, (err or '').strip()[:300]))
    listing = walmod.parse_pod_listing(path, out)
    live = params['agent_running']
    if live is None:
        live = True
    try:
        report = walmod.verify_listing(listing, params['verify'], walmod.pod_opener(FlatStream(target), path), live=live)
    except FleetopsError as exc:
        # the listing stands; the verification could not finish (connection lost, container gone)
        report = walmod.WalReport(listing, params['verify'], live).finish()
        report.error = 'streaming the segments out of the pod failed: %s' % exc
    compression = None
    if params['verify'] == 'none' and listing.segments:
        compression = _pod_compression(target, path, listing)
    return listing, report, compression, extra


def _agent_pod(target):
    get = getattr(target, 'get_json', None)
    if get is None:
        return None
    try:
        name = target.pod_name
        return get('/api/v1/namespaces/%s/pods/%s' % (target.namespace, name), what='reading pod %s' % name, missing_ok=True)
    except FleetopsError:
        return None


def _read_stopped(params, target, path, exc, check_mode):
    """The exec into the agent container failed: when the pod shows the container not running,
    ``debug_pod`` reads the WAL through a debug pod (``wal/debug_pod``); otherwise the reason says so."""
    reason = 'cannot reach the agent pod: %s' % exc
    agent = _agent_pod(target)
    container = getattr(target, 'container', None) or 'prometheus'
    if agent is None or debug_pod.container_running(agent, container) is not False:
        raise Unknown(reason)
    name = agent['metadata']['name']
    state = 'container %s of pod %s/%s is %s (no exec into a container that is not running)' % (
        container, agent['metadata'].get('namespace'), name, debug_pod.container_state(agent, container))
    if not params.get('debug_pod'):
        raise Unknown('%s; %s' % (state, debug_pod.HINT))
    try:
        volume = debug_pod.wal_volume(agent, container, path)
    except debug_pod.NoVolume as why:
        raise Unknown('%s; no debug pod can read the WAL: %s' % (state, why))
    image = params.get('debug_pod_image') or debug_pod.DEFAULT_IMAGE
    if check_mode:
        facts = dict(name=None, would_create=True, node=(agent.get('spec') or {}).get('nodeName'), claim=volume['claim'],
                     mount_path=volume['mount_path'], image=image, read_only=True, created=False, deleted=False)
        raise Unknown('%s; check mode: would create a debug pod on node %s mounting claim %s read-only at %s to read '
                      'the WAL (nothing created)' % (state, facts['node'], volume['claim'], volume['mount_path']),
                      {'debug_pod': facts, 'pod': '%s/%s' % (agent['metadata'].get('namespace'), name)})
    deadline = getattr(target, 'deadline', None)
    left = deadline.remaining() if deadline is not None else float(params.get('timeout') or 30)
    params = dict(params, agent_running=False if params.get('agent_running') is None else params['agent_running'])

    def read(pod_target):
        return _read_exec(params, pod_target, path, where='debug pod %s' % pod_target.pod_name)
    try:
        (listing, report, compression, extra), facts = debug_pod.read_through(
            target, agent, volume, read, image=image, seconds=left / 2)
    except debug_pod.DebugPodFailed as why:
        raise Unknown('%s; %s' % (state, why), {'debug_pod': why.facts})
    except Unknown as why:
        raise Unknown(str(why), {'debug_pod': getattr(why, 'facts', None)})
    extra = dict(extra, pod='%s/%s' % (agent['metadata'].get('namespace'), name), debug_pod=facts,
                 read_through='debug pod %s (%s)' % (facts['name'], state))
    return listing, report, compression, extra


def _pod_compression(target, path, listing):
    name = listing.segments[-1][1]
    try:
        rc, out, _err = target.exec(['head', '-c', str(walmod.PAGE_SIZE), path + '/' + name])
    except FleetopsError:
        return None
    if rc not in (0, None) or not out:
        return None
    res = walmod.Verifier(read_size=walmod.PAGE_SIZE).verify([out], name, last=True, live=True)
    found = walmod.compression_name(res.compression)
    return None if found == 'unknown' else found


def inspect(params, location, target=None, deadline=None, check_mode=False):
    """The result of ``wal_inspect`` (no ``changed``): ``location`` is ``local`` or ``pod``;
    ``target`` the pod's ``target.Target``, or a function that makes one (called here, so that a
    connection problem becomes the ``unknown`` result). ``params`` holds the module's options
    (path, verify, repair_preview, agent_running, thresholds, timeout and the connection options).
    ``deadline``: a ``core.http.Deadline`` over the local reads; by default one of ``timeout``
    seconds from now (none without a timeout)."""
    result = dict(location=location)
    thresholds = walmod.wal_thresholds(params.get('thresholds'))
    if deadline is None and params.get('timeout'):
        deadline = Deadline(params['timeout'])
    try:
        if location == 'local':
            listing, report, compression, extra = read_local(params, deadline)
        else:
            listing, report, compression, extra = read_pod(params, target, check_mode=check_mode)
    except Unknown as exc:
        reason = str(exc)
        result.update({k: v for k, v in exc.extra.items() if v is not None})
        result.update(status='unknown', reason=reason, wal={'path': params['path']}, volume=None,
                      checks=walmod.unknown_checks(reason, thresholds))
        return result
    result.update(extra)
    facts = walmod.wal_facts(listing, report)
    if compression is not None and facts.get('compression') is None:
        facts['compression'] = compression
    checks = walmod.wal_checks(facts, listing.volume, thresholds, verify=params['verify'])
    result.update(wal=facts, volume=listing.volume, checks=checks, status=result_status(checks))
    if params['repair_preview']:
        result['repair_preview'] = report.repair_preview()
    return result


def _pod_entry(pod, one):
    meta = pod.get('metadata') or {}
    return dict(name=meta.get('name'), shard=(meta.get('labels') or {}).get(SHARD_LABEL), status=one['status'],
                reason=one.get('reason'), wal=one.get('wal'), volume=one.get('volume'), checks=one['checks'],
                **({'debug_pod': one['debug_pod']} if one.get('debug_pod') else {}))


# the cluster's checks of per-pod entries: each the worst of its pods, the bad pods named (core.checks)
rollup_checks = _checks.rollup_pods


def inspect_pods(params, target, pods, check_mode=False, workers=workloads.PODS_AT_ONCE):
    """``wal_inspect`` of every pod of ``pods`` (the API's pod dicts of ``target``'s selector), each
    through ``target.for_pod`` under the run's one deadline, ``workers`` pods at a time (each pod's
    reading is a listing and a read of each file, every one an exec that waits on the pod):
    ``pods`` the per-pod results (name, shard, status, wal, volume, checks) in the order of
    ``pods``, ``checks`` their roll-up (``rollup_checks``), ``wal`` the figures of the first pod that
    is worst."""
    def one(pod):
        return _pod_entry(pod, inspect(params, 'pod', target=target.for_pod(pod['metadata']['name']), check_mode=check_mode))
    entries = workloads.each_pod(one, pods, workers)
    checks = rollup_checks(entries)
    status = result_status(checks)
    shown = [e for e in entries if e['status'] == status] or entries
    return dict(location='pod', pods=entries, pod_count=len(entries), checks=checks, status=status,
                wal=shown[0]['wal'], volume=shown[0]['volume'], pod=shown[0]['name'])
