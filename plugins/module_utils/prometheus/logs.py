# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The agent's log lines: error and warning lines by known pattern, and the LOGS check.

Pure Python (no Ansible). Reads the formats an agent's log comes in: Kubernetes pod logs with
``timestamps=true`` (``<RFC3339Nano> <line>``), CRI files (``<RFC3339Nano> stderr F <line>``),
plain Prometheus output; the line itself logfmt (2.x ``level=error``, 3.x slog
``level=ERROR``), JSON (``--log.format=json``) or free text (a Go panic, kingpin's
``prometheus: error: ...``).

Error and warning lines are counted by pattern (``PATTERNS``, first match wins), with a few
example lines each. WAL corruption and repair lines are counted whatever their level (Prometheus
logs ``successfully repaired WAL`` at info). LOGS: corruption, repair or a failed config reload
is critical; any other error line or known trouble pattern a warning.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import tempfile
import time

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import checks as _checks
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.units import parse_time, rfc3339

# (name, regex); the first that matches names the line. Corruption and repair come first.
PATTERNS = (
    ('wal_repair', re.compile(r'starting corruption repair|successfully repaired|deleting all segments newer than corrupted'
                              r'|rewrite corrupted segment|repair(?:ing|ed)? (?:the )?wal|wal repair', re.I)),
    ('wal_corruption', re.compile(r'corruption in segment|unexpected checksum|invalid record size|last record is torn'
                                  r'|non-zero byte in padded page|wal read error|backfill checkpoint|corrupt(?:ed|ion)?\b'
                                  r'|unexpected full record|unexpected (?:first|middle|last) record', re.I)),
    ('checkpoint_failure', re.compile(r'checkpoint', re.I)),
    ('truncation_failure', re.compile(r'truncat', re.I)),
    ('disk_full', re.compile(r'no space left on device|disk quota exceeded', re.I)),
    ('config_reload_failure', re.compile(r'error reloading config|error loading config|failed to apply configuration'
                                         r'|unable to (?:re)?load (?:yaml )?config|loading configuration file failed'
                                         r'|couldn.t load configuration|config(?:uration)? reload failed', re.I)),
    ('remote_write_failure', re.compile(r'failed to send batch|non-recoverable error|remote[ _]write|remote_storage'
                                        r'|error sending samples|failed to flush|error tailing wal|skipping resharding'
                                        r'|queue_manager|failed to send', re.I)),
    ('out_of_order', re.compile(r'out[ -]of[ -]order|out of bounds|too old sample', re.I)),
    ('duplicate_samples', re.compile(r'duplicate sample|duplicate series|duplicate label|duplicate timestamp'
                                     r'|different value but same timestamp', re.I)),
)
PATTERN_NAMES = tuple(name for name, _rx in PATTERNS) + ('other',)
# a repair Prometheus gave up on (counted as wal_corruption above): agent_restart tells it from a done repair
WAL_REPAIR_FAILED = re.compile(r'repair corrupted wal', re.I)
ANY_LEVEL = ('wal_repair', 'wal_corruption')
CRITICAL_PATTERNS = ('wal_corruption', 'wal_repair', 'config_reload_failure')
LEVELS = {'error': 'error', 'err': 'error', 'fatal': 'error', 'panic': 'error', 'dpanic': 'error', 'crit': 'error',
          'critical': 'error', 'emerg': 'error', 'alert': 'error', 'warn': 'warn', 'warning': 'warn',
          'info': 'info', 'debug': 'debug', 'trace': 'debug', 'notice': 'info'}

_CRI = re.compile(r'^(\d{4}-\d\d-\d\dT\S+) (?:stdout|stderr) [FP] ?(.*)$')
_STAMP = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)) (.*)$')
_LOGFMT = re.compile(r'([A-Za-z_][A-Za-z0-9_.\-]*)=("(?:[^"\\]|\\.)*"|\S*)')
_FREE_ERROR = re.compile(r'^(?:panic:|fatal error:|\S+: error:)|\berror\b', re.I)
MAX_EXAMPLE_CHARS = 500


# ----------------------------------------------------------------------------- one line

def _unquote(value):
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        try:
            return json.loads(value)
        except ValueError:
            return value[1:-1]
    return value


def parse_line(raw):
    """{time, level, msg, text, fields} of one log line; None for a blank line."""
    line = raw.rstrip('\r\n')
    if not line.strip():
        return None
    when = None
    match = _CRI.match(line) or _STAMP.match(line)
    body = line
    if match:
        try:
            when = parse_time(match.group(1))
        except ValueError:
            when = None
        body = match.group(2)
    fields = {}
    stripped = body.strip()
    if stripped.startswith('{'):
        try:
            doc = json.loads(stripped)
            if isinstance(doc, dict):
                fields = dict((str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in doc.items())
        except ValueError:
            fields = {}
    if not fields and '=' in body:
        fields = dict((k, _unquote(v)) for k, v in _LOGFMT.findall(body))
    level = LEVELS.get(str(fields.get('level') or fields.get('lvl') or fields.get('severity') or '').lower())
    if level is None and not fields.get('level'):
        level = 'error' if _FREE_ERROR.search(body) and not fields.get('msg') else None
    if when is None:
        for key in ('ts', 'time', 'timestamp', 't'):
            if fields.get(key):
                try:
                    when = parse_time(fields[key])
                    break
                except ValueError:
                    continue
    msg = fields.get('msg') or fields.get('message') or (body.strip() if not fields else '')
    text = ' '.join(str(fields[k]) for k in ('msg', 'message', 'err', 'error', 'component', 'caller', 'source', 'file')
                    if fields.get(k)) or body
    return {'time': when, 'level': level, 'msg': msg, 'text': text + ' ' + body, 'body': body}


def classify(entry):
    """The pattern name of a parsed line, or None when the line does not count."""
    for name, rx in PATTERNS:
        if rx.search(entry['text']):
            if name in ANY_LEVEL or entry['level'] in ('error', 'warn'):
                return name
            return None
    if entry['level'] in ('error', 'warn'):
        return 'other'
    return None


# ----------------------------------------------------------------------------- a whole log

def scan(text, since=None, after=None, examples=3):
    """Counts of error/warning lines by pattern.

    ``since``: keep lines at or after this epoch; ``after``: keep lines strictly after it (the
    last timestamp of an earlier run). Lines without a time are kept.
    """
    counts = dict((name, 0) for name in PATTERN_NAMES)
    samples = {}
    levels = {'error': 0, 'warn': 0}
    first_seen = {}
    last_seen = {}
    scanned = untimed = 0
    newest = None
    for raw in (text or '').splitlines():
        entry = parse_line(raw)
        if entry is None:
            continue
        when = entry['time']
        if when is not None:
            if since is not None and when < since:
                continue
            if after is not None and when <= after:
                continue
            newest = when if newest is None else max(newest, when)
        else:
            untimed += 1
        scanned += 1
        name = classify(entry)
        if name is None:
            continue
        counts[name] += 1
        if entry['level'] in levels:
            levels[entry['level']] += 1
        stamp = rfc3339(when) if when is not None else None
        if stamp:
            first_seen.setdefault(name, stamp)
            last_seen[name] = stamp
        found = samples.setdefault(name, [])
        if len(found) < examples:
            found.append(entry['body'][:MAX_EXAMPLE_CHARS])
    return {
        'counts': counts,
        'examples': samples,
        'first_seen': first_seen,
        'last_seen': last_seen,
        'error_lines': levels['error'],
        'warning_lines': levels['warn'],
        'lines_scanned': scanned,
        'lines_without_time': untimed,
        'last_timestamp': rfc3339(newest),
        'last_epoch': newest,
    }


def check_logs(summary, period):
    """LOGS from a ``scan`` summary; ``period`` says which lines were read (for the message)."""
    counts = summary['counts']
    thr = {'warning': 'any error line or known trouble pattern', 'critical': list(CRITICAL_PATTERNS)}
    found = dict((k, v) for k, v in counts.items() if v)
    text = ', '.join('%s %d' % (k, v) for k, v in sorted(found.items()))
    critical = [k for k in CRITICAL_PATTERNS if counts.get(k)]
    value = sum(found.values())
    if critical:
        advice = []
        if 'wal_corruption' in critical or 'wal_repair' in critical:
            advice.append('the WAL was corrupted and repaired (data after the corruption is lost): check the disk and OOM kills')
        if 'config_reload_failure' in critical:
            advice.append('a configuration reload failed: fix the config; a restart now would not start')
        return _checks.Check('LOGS', 'critical', value, thr, '%s %s: %s' % (period, text, '; '.join(advice))).as_dict()
    known = [k for k in found if k != 'other']
    if summary['error_lines'] or known:
        return _checks.Check('LOGS', 'warning', value, thr, '%s %s (%d error, %d warning lines): see examples' % (
            period, text, summary['error_lines'], summary['warning_lines'])).as_dict()
    if found:
        return _checks.Check('LOGS', 'ok', value, thr, '%s only %d unclassified warning line(s)' % (period, found['other'])).as_dict()
    return _checks.Check('LOGS', 'ok', 0, thr, '%s no error or warning line (%d lines read)' % (period, summary['lines_scanned'])).as_dict()


# ----------------------------------------------------------------------------- state file

def read_log(target, log_path=None, since=None, tail_lines=None, previous=False):
    """The log text: the local file ``log_path`` when given, else the container's log through
    ``target`` from ``since`` (epoch). A file that cannot be read raises ``FleetopsError`` saying so."""
    if log_path:
        try:
            return read_file(log_path, tail_lines=tail_lines)
        except (IOError, OSError) as exc:
            raise FleetopsError('cannot read the log file %s: %s' % (log_path, exc))
    kwargs = dict(since_time=since, tail_lines=tail_lines, timestamps=True)
    if previous:
        kwargs['previous'] = True
    return target.logs(**kwargs)


def no_log_file_reason(where):
    """Why the log of an agent outside Kubernetes (``url``) was not read."""
    return ('the log of the %s was not read: an agent outside Kubernetes (url) has its log read from a local file, and no '
            'log_path was given (set agent_log_path for the host)' % where)


def unknown_result(result, reason):
    """``result`` (a dict) made the answer of a log that could not be read (LOGS unknown)."""
    result.update(status='unknown', reason=reason, checks=[_checks.unknown('LOGS', reason)])
    return result


def logs_result(result, text, since=None, after=None, examples=3):
    """``result`` (a dict) completed with the counts of ``text`` and the LOGS check; returns the
    time of the newest line (for a state file). ``after`` (a state file's time) wins over ``since``."""
    start = after if after is not None else since
    summary = scan(text, since=None if after is not None else since, after=after, examples=examples)
    period = 'since %s:' % rfc3339(start) if start is not None else 'in the whole log:'
    check = check_logs(summary, period)
    last_epoch = summary.pop('last_epoch')
    result.update(summary)
    result.update(checks=[check], status=check['status'])
    return last_epoch


def pods_result(result, entries, examples=3):
    """``result`` (a dict) completed for an agent of several pods from ``entries``, one per pod (in
    the pods' order): ``{'name': pod}`` completed by ``logs_result`` or ``unknown_result``. The
    counts and line totals are summed, the examples are the pods' own prefixed with the pod's name
    (at most ``examples`` per pattern), LOGS is the worst of the pods' with the pods that are not ok
    named (``1 of 4 pods: NAME: ...``), and ``pods`` keeps one line per pod."""
    read = [e for e in entries if 'counts' in e]
    counts = dict((name, sum(e['counts'].get(name, 0) for e in read)) for name in PATTERN_NAMES)
    samples, first_seen, last_seen = {}, {}, {}
    for entry in read:
        for pattern, lines in (entry.get('examples') or {}).items():
            kept = samples.setdefault(pattern, [])
            kept.extend('%s: %s' % (entry['name'], line) for line in lines[:max(0, examples - len(kept))])
        for pattern, stamp in (entry.get('first_seen') or {}).items():
            first_seen[pattern] = min(stamp, first_seen.get(pattern, stamp))
        for pattern, stamp in (entry.get('last_seen') or {}).items():
            last_seen[pattern] = max(stamp, last_seen.get(pattern, stamp))
    stamps = [e['last_timestamp'] for e in read if e.get('last_timestamp')]
    checks = _checks.rollup_pods(entries)
    result.update(
        counts=counts, examples=samples, first_seen=first_seen, last_seen=last_seen,
        error_lines=sum(e['error_lines'] for e in read), warning_lines=sum(e['warning_lines'] for e in read),
        lines_scanned=sum(e['lines_scanned'] for e in read), lines_without_time=sum(e['lines_without_time'] for e in read),
        last_timestamp=max(stamps) if stamps else None, checks=checks, status=checks[0]['status'], pod_count=len(entries),
        pods=[dict((k, e[k]) for k in ('name', 'status', 'reason', 'error_lines', 'warning_lines', 'lines_scanned', 'last_timestamp')
                   if k in e) for e in entries])
    if not read:
        result['reason'] = 'the log of no pod could be read'
    return result


def load_state(path, key):
    """The last timestamp (epoch) stored for ``key`` in the state file, or None."""
    if not path or not os.path.exists(path):
        return None
    try:
        with open(path) as handle:
            doc = json.load(handle)
    except (IOError, OSError, ValueError):
        return None
    entry = ((doc or {}).get('targets') or {}).get(key) if isinstance(doc, dict) else None
    if not isinstance(entry, dict):
        return None
    try:
        return parse_time(entry.get('last_timestamp')) if entry.get('last_timestamp') else None
    except ValueError:
        return None


def save_state(path, key, last_epoch, now=None):
    """Store ``last_epoch`` for ``key`` (atomically; other keys kept). Returns True when written."""
    now = time.time() if now is None else now
    doc = {'version': 1, 'targets': {}}
    if os.path.exists(path):
        try:
            with open(path) as handle:
                old = json.load(handle)
            if isinstance(old, dict) and isinstance(old.get('targets'), dict):
                doc['targets'] = old['targets']
        except (IOError, OSError, ValueError):
            pass
    doc['targets'][key] = {'last_timestamp': rfc3339(last_epoch), 'updated_at': rfc3339(now)}
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        os.makedirs(folder)
    fd, tmp = tempfile.mkstemp(prefix='.agent_logs-', dir=folder)
    try:
        with os.fdopen(fd, 'w') as handle:
            json.dump(doc, handle, indent=1, sort_keys=True)
        os.rename(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


# ----------------------------------------------------------------------------- reading

def read_file(path, since=None, tail_lines=None):
    """A local log file's text (lines older than ``since`` dropped later by ``scan``)."""
    with open(path, 'rb') as handle:
        data = handle.read()
    text = data.decode('utf-8', 'replace')
    if tail_lines:
        lines = text.splitlines()
        text = '\n'.join(lines[-int(tail_lines):])
    return text
