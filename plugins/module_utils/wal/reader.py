# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a WAL where it is: a local directory, or inside the agent pod through exec.

What ``wal_inspect`` (and ``agent_audit``) return, free of Ansible: ``inspect(params, location,
target)``. The page and record logic is in ``format.py``; this module gets the bytes there: a local
listing and files, or one exec in the pod that lists the directory and streams the files the
verification reads first (``PodReading``; ``FlatStream`` reads the exec WebSocket's frames itself so
memory stays flat whatever the segment size).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
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


# pod mode reads the WAL with one exec: the listing (the directory, the pod's clock, the volume; busybox
# or GNU userland), then the files that ``verify`` reads first, each between a header and a trailer line
# that carry this exec's random boundary ($2). ``tail``: the last TAIL_PAGES pages ($5) of the segment
# before the newest and the whole newest; ``none``: the newest segment's first page (its compression);
# ``full``: no file (each is read by an exec of its own, see ``walmod.pod_opener``). The two highest
# numbered regular files named by digits are the newest segments (Prometheus names them %08d).
POD_READ_SCRIPT = r'''
b=$2
cd "$1" || { echo "$b nodir"; exit 0; }
echo "__NOW__ $(date +%s)"
for f in * */*; do
  [ -e "$f" ] || continue
  stat -c '%s %Y %F|%n' "$f" 2>/dev/null || ls -ld --time-style=+%s "$f"
done
echo "__DF__"
df -P -B1 . 2>/dev/null || df -P -k .
echo "$b files"
send() {
  echo "$b file $2 $1"
  if [ -n "$3" ]; then
    { err=$(head -c "$3" "$1" 2>&1 >&3); rc=$?; } 3>&1
  elif [ "$2" -gt 0 ]; then
    { err=$(tail -c +$(($2 + 1)) "$1" 2>&1 >&3); rc=$?; } 3>&1
  else
    { err=$(cat "$1" 2>&1 >&3); rc=$?; } 3>&1
  fi
  there=0
  [ -e "$1" ] && there=1
  [ "$rc" = 0 ] || err=$(printf '%s' "$err" | tr '\n' ' ' | head -c 300)
  printf '\n%s end %s %s %s\n' "$b" "$rc" "$there" "$err"
}
prev=
last=
for f in [0-9]*; do
  case $f in *[!0-9]*) continue ;; esac
  [ -f "$f" ] || continue
  prev=$last
  last=$f
done
if [ -n "$last" ]; then
  case $3 in
  tail)
    if [ -n "$prev" ] && size=$(stat -c %s "$prev" 2>/dev/null); then
      start=$(( (size / $4 - $5) * $4 ))
      [ "$start" -gt 0 ] || start=0
      send "$prev" "$start"
    fi
    send "$last" 0 ;;
  none)
    send "$last" 0 "$4" ;;
  esac
fi
echo "$b done"
'''


def pod_read_argv(path, verify, boundary):
    return ['sh', '-c', POD_READ_SCRIPT, 'wal_inspect', path, boundary, verify, str(walmod.PAGE_SIZE),
            str(walmod.TAIL_PAGES)]


class PodReading(object):
    """The WAL of a pod read by one exec of ``POD_READ_SCRIPT`` (three before: the listing, then a
    ``tail`` and a ``cat``; each exec in a real cluster goes through the API server and the kubelet and
    starts a process in the container).

    Made, it has read the listing (``found``: the directory is there; ``listing``: its text for
    ``walmod.parse_pod_listing``); ``take(rel, start)`` then hands on the next file of the output as an
    iterator of chunks, memory flat, when it is the one asked for. The verification's plan is made in
    Python from the listing and stays the authority: when the next file is not the one asked for (a
    segment cut between the listing and the read, a file the listing could not tell), the output is
    given up and ``take`` returns None, for an exec of its own. The boundary is 24 random hex digits,
    new for each exec, so no WAL byte sequence can end a file early; a file's end is where its trailer
    starts, whatever its size became while it was read.
    """

    def __init__(self, target, path, verify, boundary=None):
        self.boundary = boundary or binascii.hexlify(os.urandom(12)).decode('ascii')
        self._mark = self.boundary.encode('ascii')
        self._chunks = iter(FlatStream(target).exec_stream(pod_read_argv(path, verify, self.boundary)))
        self._buf = b''
        self._open = True
        self.where = 'the WAL reading of %s' % path
        while self._mark not in self._buf:
            if not self._more():
                raise TargetUnreachable('%s ended before its listing did' % self.where)
        at = self._buf.index(self._mark)
        self.listing, self._buf = self._buf[:at], self._buf[at:]
        self.found = self._line().split(b' ')[1:2] == [b'files']
        self._open = self.found

    def _more(self):
        try:
            chunk = next(self._chunks)
        except StopIteration:
            return False
        self._buf = self._buf + chunk if self._buf else chunk
        return True

    def _line(self):
        while b'\n' not in self._buf:
            if not self._more():
                raise TargetUnreachable('%s ended inside a line' % self.where)
        line, self._buf = self._buf.split(b'\n', 1)
        return line

    def take(self, rel, start):
        """The bytes of ``rel`` from byte ``start`` (an iterator of chunks) when they come next in
        the output; None when they do not (the output is then closed). At the file's end the
        iterator raises ``FileNotFoundError`` when the file was gone before it could be read, and
        ``FleetopsError`` when reading it failed (with the command's message)."""
        if self._open:
            header = self._line().split(b' ', 3)
            if header == [self._mark, b'file', str(start).encode('ascii'), rel.encode('utf-8', 'surrogateescape')]:
                return self._file(rel)
        self.close()
        return None

    def _file(self, rel):
        end = b'\n' + self._mark + b' end '
        keep = len(end) - 1
        trailer = None
        try:
            while True:
                at = self._buf.find(end)
                if at >= 0:
                    piece, self._buf = self._buf[:at], self._buf[at + 1:]
                    if piece:
                        yield piece
                    break
                if len(self._buf) > keep:
                    piece, self._buf = self._buf[:-keep], self._buf[-keep:]
                    yield piece
                if not self._more():
                    raise TargetUnreachable('%s ended inside file %s' % (self.where, rel))
            trailer = self._line().split(b' ', 4)[2:]
        finally:
            if trailer is None:     # closed before its end, or broken: the output cannot go on
                self.close()
        rc, there, err = (trailer + [b'', b'', b''])[:3]
        if rc != b'0':
            if there == b'0':
                raise FileNotFoundError('%s: No such file (gone before it could be read)' % rel)
            raise FleetopsError('reading %s in the pod failed (exit %s): %s' % (
                rel, rc.decode('ascii', 'replace'), err.decode('utf-8', 'replace').strip()))

    def close(self):
        """Give up the rest of the output (closes the exec)."""
        self._open = False
        close = getattr(self._chunks, 'close', None)
        if close is not None:
            close()


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
        reading = PodReading(target, path, params['verify'])
    except MissingLibrary:
        raise
    except FleetopsError as exc:
        if callable(target):
            raise Unknown('cannot reach the agent pod: %s' % exc)
        return _read_stopped(params, target, path, exc, check_mode)
    return _read_exec(params, target, path, reading=reading)


def _read_exec(params, target, path, reading=None, where='the agent container'):
    if reading is None:
        try:
            reading = PodReading(target, path, params['verify'])
        except FleetopsError as exc:
            raise Unknown('cannot reach %s: %s' % (where, exc))
    try:
        return _read_listed(params, target, path, reading, where)
    finally:
        reading.close()


def _read_listed(params, target, path, reading, where):
    extra = {}
    pod = _pod_name(target)
    if pod:
        extra['pod'] = pod
    if not reading.found:
        raise Unknown('WAL directory %s not found in %s%s' % (path, where, ' of %s' % pod if pod else ''))
    listing = walmod.parse_pod_listing(path, reading.listing)
    live = params['agent_running']
    if live is None:
        live = True
    streamed = walmod.pod_opener(FlatStream(target), path)

    def opener(rel, start):
        chunks = reading.take(rel, start)
        return streamed(rel, start) if chunks is None else chunks
    try:
        report = walmod.verify_listing(listing, params['verify'], opener, live=live)
    except FleetopsError as exc:
        # the listing stands; the verification could not finish (connection lost, container gone)
        report = walmod.WalReport(listing, params['verify'], live).finish()
        report.error = 'streaming the segments out of the pod failed: %s' % exc
    compression = None
    if params['verify'] == 'none' and listing.segments:
        compression = _pod_compression(target, path, listing, reading)
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


def _pod_compression(target, path, listing, reading):
    """The compression of the newest segment's first page: from the reading when it holds that page,
    else through an exec of ``head`` of its own; None when it cannot be told."""
    name = listing.segments[-1][1]
    try:
        chunks = reading.take(name, 0)
        if chunks is None:
            rc, out, _err = target.exec(['head', '-c', str(walmod.PAGE_SIZE), path + '/' + name])
            if rc not in (0, None):
                return None
        else:
            out = b''.join(chunks)
    except (FleetopsError, OSError):
        return None
    if not out:
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
