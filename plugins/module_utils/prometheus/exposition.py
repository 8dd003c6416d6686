# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Prometheus text exposition format (0.0.4) into samples, by metric name.

Fast (one pass; label sets parsed with one regex call; no per-sample objects), tolerant
(a bad line is counted and skipped; a duplicate series keeps its last value and is counted;
unknown ``# TYPE`` values are kept and counted; NaN, +Inf, -Inf and timestamps are read) and
strict where it matters: a page that is not a metrics page at all (HTML, JSON, binary junk,
mostly garbage) raises ``ParseError`` with the line number instead of reading as "no data".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re
import threading
import time

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError, ParseError
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.units import whole

KNOWN_TYPES = frozenset(('counter', 'gauge', 'histogram', 'summary', 'untyped', 'gaugehistogram', 'info', 'stateset', 'unknown'))
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')
_SIMPLE_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\]*)"')
_NAME_RE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*$')
_ESCAPE_RE = re.compile(r'\\(.)')
_ESCAPES = {'\\': '\\', '"': '"', 'n': '\n'}

# a page with more bad lines than this share (and more than MAX_EXAMPLES) is not a metrics page
BAD_SHARE = 0.5
MAX_EXAMPLES = 5


def _unescape(value):
    if '\\' not in value:
        return value
    return _ESCAPE_RE.sub(lambda m: _ESCAPES.get(m.group(1), '\\' + m.group(1)), value)


def parse_labels(text):
    """``a="1",b="x\\"y"`` into a dict; None when malformed."""
    if '\\' not in text:
        found = _SIMPLE_LABEL_RE.findall(text)
        # every '=' must have been consumed by a pair, else the text is malformed
        if len(found) == text.count('="') and (found or not text.strip(' ,')):
            stripped = _SIMPLE_LABEL_RE.sub('', text).replace(',', '').strip()
            if not stripped:
                return dict(found)
    labels = {}
    pos = 0
    end = len(text)
    while pos < end:
        if not text[pos:].strip(' ,'):
            break
        match = _LABEL_RE.match(text, pos)
        if not match:
            return None
        labels[match.group(1)] = _unescape(match.group(2))
        pos = match.end()
    return labels


def _split_labelled(line, brace):
    """``name{labels} rest`` -> (name, labels text, rest) honouring quoted braces; None if unclosed."""
    close = line.rfind('}')
    if close < brace:
        return None
    if '\\' in line or line.count('}') > 1 or line.count('{') > 1:
        close = -1
        in_quotes = False
        i = brace + 1
        n = len(line)
        while i < n:
            ch = line[i]
            if ch == '\\' and in_quotes:
                i += 2
                continue
            if ch == '"':
                in_quotes = not in_quotes
            elif ch == '}' and not in_quotes:
                close = i
                break
            i += 1
        if close < 0:
            return None
    return line[:brace].strip(), line[brace + 1:close], line[close + 1:]


class MetricFamilies(object):
    """The samples of one page, by metric name (sample names: ``_bucket``, ``_sum`` are their own)."""

    def __init__(self):
        self.by_name = {}       # name -> {label text: (labels, value, timestamp ms or None)}
        self.types = {}         # family -> type as written
        self.help = {}
        self.bad_lines = 0
        self.bad_examples = []  # [(line number, line)]
        self.duplicates = 0
        self.unknown_types = 0
        self.sample_count = 0
        self.lines = 0

    # -- reading
    def names(self):
        return sorted(self.by_name)

    def has(self, name):
        return name in self.by_name

    def __contains__(self, name):
        return name in self.by_name

    def samples(self, name):
        """[(labels, value)] of one metric name (empty when absent)."""
        series = self.by_name.get(name)
        if not series:
            return []
        return [(lab, val) for lab, val, _ts in series.values()]

    get = samples

    def samples_with_timestamps(self, name):
        series = self.by_name.get(name) or {}
        return list(series.values())

    def select(self, name, **labels):
        """The samples of ``name`` whose labels include ``labels``."""
        if not labels:
            return self.samples(name)
        items = labels.items()
        return [(lab, val) for lab, val in self.samples(name) if all(lab.get(k) == v for k, v in items)]

    def value(self, name, default=None, **labels):
        """The value of the first sample of ``name`` matching ``labels``."""
        for lab, val in self.select(name, **labels):
            return val
        return default

    def sum(self, name, default=None, **labels):
        """Sum of the samples of ``name`` matching ``labels`` (default when none)."""
        found = self.select(name, **labels)
        if not found:
            return default
        return sum(val for _lab, val in found)

    def first(self, names, default=None, **labels):
        """(name, samples) of the first of ``names`` present on the page."""
        for name in names:
            found = self.select(name, **labels)
            if found:
                return name, found
        return None, default if default is not None else []

    def label_values(self, name, label):
        return sorted(set(lab[label] for lab, _val in self.samples(name) if label in lab))

    def stats(self):
        return {'samples': self.sample_count, 'bad_lines': self.bad_lines, 'duplicates': self.duplicates,
                'unknown_types': self.unknown_types, 'names': len(self.by_name),
                'bad_examples': [{'line': n, 'text': t} for n, t in self.bad_examples]}

    def to_dict(self):
        """JSON-able: {name: [{"labels": {...}, "value": v}]} (NaN/Inf as the strings Prometheus uses)."""
        return dict((name, [{'labels': lab, 'value': json_number(val)} for lab, val in self.samples(name)])
                    for name in self.by_name)


Metrics = MetricFamilies


def json_number(value):
    """Floats JSON can carry: NaN and infinities as strings, integral floats as ints."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return 'NaN'
    if value in (float('inf'), float('-inf')):
        return '+Inf' if value > 0 else '-Inf'
    return whole(value)


def _not_a_page(lineno, line, source, why):
    raise ParseError('%s is not a Prometheus metrics page (%s): %r' % (source, why, line[:80]), line=lineno)


def parse(page, source='the metrics page'):
    """Parse a page (str or bytes) into ``MetricFamilies``.

    Raises ``ParseError`` with the line number when the page is not a metrics page: its first
    line is HTML or JSON, it holds no sample and something else, or most of its lines are bad.
    Otherwise bad lines are counted (``bad_lines``, ``bad_examples``) and skipped.
    """
    if isinstance(page, (bytes, bytearray)):
        if b'\x00' in page[:4096]:
            _not_a_page(1, repr(page[:40]), source, 'binary data')
        page = page.decode('utf-8', 'replace')
    fams = MetricFamilies()
    by_name = fams.by_name
    types = fams.types
    bad_examples = fams.bad_examples
    bad = dup = count = considered = 0
    lineno = 0
    first_checked = False
    for raw in page.split('\n'):
        lineno += 1
        line = raw.strip()
        if not line:
            continue
        if not first_checked:
            first_checked = True
            head = line[:1]
            if head in ('<', '{', '['):
                _not_a_page(lineno, line, source, 'it looks like HTML or JSON')
        if line[0] == '#':
            parts = line.split(None, 3)
            if len(parts) >= 3:
                if parts[1] == 'TYPE':
                    kind = parts[3].strip().lower() if len(parts) > 3 else 'untyped'
                    types[parts[2]] = kind
                    if kind not in KNOWN_TYPES:
                        fams.unknown_types += 1
                elif parts[1] == 'HELP':
                    fams.help[parts[2]] = parts[3] if len(parts) > 3 else ''
            continue
        considered += 1
        brace = line.find('{')
        try:
            if brace < 0:
                fields = line.split()
                name = fields[0]
                label_text = ''
                labels = {}
                fields = fields[1:]
            else:
                split = _split_labelled(line, brace)
                if split is None:
                    raise ValueError('unclosed label set')
                name, label_text, rest = split
                labels = parse_labels(label_text)
                if labels is None:
                    raise ValueError('malformed labels')
                fields = rest.split()
            nfields = len(fields)
            if nfields == 0 or nfields > 2 or not _NAME_RE.match(name):
                raise ValueError('not a sample')
            value = float(fields[0])
            stamp = int(float(fields[1])) if nfields == 2 else None
        except (ValueError, IndexError):
            bad += 1
            if len(bad_examples) < MAX_EXAMPLES:
                bad_examples.append((lineno, raw[:200]))
            continue
        series = by_name.get(name)
        if series is None:
            by_name[name] = {label_text: (labels, value, stamp)}
        else:
            if label_text in series:
                dup += 1
            else:
                count += 1
                series[label_text] = (labels, value, stamp)
                continue
            series[label_text] = (labels, value, stamp)
            continue
        count += 1
    fams.bad_lines = bad
    fams.duplicates = dup
    fams.sample_count = count
    fams.lines = lineno
    if bad and (count == 0 or (bad > MAX_EXAMPLES and bad > considered * BAD_SHARE)):
        first_line, first = bad_examples[0]
        raise ParseError('%s is not in the Prometheus text format: %d of %d sample lines are bad (first: %r)'
                         % (source, bad, considered, first[:80]), line=first_line)
    return fams


class MetricsPage(object):
    """One GET of an agent's ``/metrics`` through a ``Target``, parsed once: what
    ``agent_status`` and ``remote_write_stats`` read of the same reading (``agent_audit`` shares it).

    ``status`` (the agent's HTTP status), ``families`` (None unless a 200 that parses), ``error``
    (the ``ParseError`` of a page that is not a metrics page), ``time`` (when it was read). An
    unreachable agent raises the error of the target.
    """

    def __init__(self, target, clock=time.time):
        self.status, body = target.http_get('/metrics')
        self.time = clock()
        self.source = '%s /metrics' % target.describe()
        self.families = self.error = None
        if self.status == 200:
            try:
                self.families = parse(body, source=self.source)
            except ParseError as exc:
                self.error = exc


class PodPages(object):
    """The ``MetricsPage`` of each pod of an agent of several pods (shards, replicas, a DaemonSet),
    read once per reading: agent_status's MEMORY and CONFIG and remote_write_stats's queues of the
    same pods (``agent_audit`` shares one ``PodPages`` between them) each GET a pod's ``/metrics``
    once, not once per part.

    ``get(name)`` reads pod ``name``'s page through ``target.for_pod(name)`` (the same client and
    deadline) on its first call and gives that page, or raises that error, on every call; several
    threads may ask at once. ``own``: a callable giving the page of the target's own pod
    (``target.pod_name``), which agent_audit reads once for all its parts.
    """

    def __init__(self, target, clock=time.time, own=None):
        self.target = target
        self.clock = clock
        self.own = own
        self.lock = threading.Lock()
        self.entries = {}

    def get(self, name):
        """The ``MetricsPage`` of pod ``name`` (its target's error when it cannot be read)."""
        with self.lock:
            entry = self.entries.get(name)
            if entry is None:
                read = self.own if self.own is not None and name == self._own_name() else \
                    (lambda: MetricsPage(self.target.for_pod(name), self.clock))
                entry = self.entries[name] = read if isinstance(read, PageOnce) else PageOnce(read)
        return entry()

    def _own_name(self):
        try:
            return self.target.pod_name
        except FleetopsError:
            return None


class PageOnce(object):
    """``read()``'s page, or its ``FleetopsError``, from its first call on (one read under a lock)."""

    def __init__(self, read):
        self.read = read
        self.lock = threading.Lock()
        self.done = False
        self.page = self.error = None

    def __call__(self):
        with self.lock:
            if not self.done:
                try:
                    self.page = self.read()
                except FleetopsError as exc:
                    self.error = exc
                self.done = True
        if self.error is not None:
            raise self.error
        return self.page


def histogram(fams, name, **labels):
    """``{'buckets': [(le, cumulative count)], 'sum': s, 'count': c}`` of histogram ``name`` over the
    series matching ``labels`` (summed across the other labels); None when absent."""
    buckets = {}
    for lab, val in fams.select(name + '_bucket', **labels):
        le = lab.get('le')
        if le is None:
            continue
        try:
            bound = float(le)
        except ValueError:
            continue
        buckets[bound] = buckets.get(bound, 0.0) + val
    total = fams.sum(name + '_sum', None, **labels)
    count = fams.sum(name + '_count', None, **labels)
    if not buckets and total is None and count is None:
        return None
    return {'buckets': sorted(buckets.items()), 'sum': total, 'count': count}


def bucket_quantile(q, buckets):
    """Prometheus's ``histogram_quantile`` over cumulative ``[(le, count)]`` (sorted, +Inf last)."""
    if not buckets:
        return None
    buckets = sorted(buckets)
    if buckets[-1][0] != float('inf'):
        return None
    total = buckets[-1][1]
    if not total or math.isnan(total) or total <= 0:
        return None
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float('inf'):
                return prev_bound if len(buckets) > 1 else None
            if bound <= 0:
                return bound
            inside = count - prev_count
            if inside <= 0:
                return bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / inside
        prev_bound, prev_count = bound, count
    return buckets[-2][0] if len(buckets) > 1 else None
