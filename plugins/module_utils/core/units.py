# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Units: numbers, Kubernetes quantities, durations, times and RFC 3339 text.

Pure Python (no Ansible). The one place these are read and written; every other module imports
them from here.

Conventions:

* a ``parse_*`` function raises ``ValueError`` (with a message a person reads) on junk; its
  plain-noun twin (``quantity``, ``duration``, ``timestamp``) returns None for junk instead, for
  data read from an agent or a pod that may hold anything. ``parse_quantity`` and ``parse_time``
  return None for None (an unset limit, a missing timestamp); ``parse_duration`` takes None for
  junk (a duration option always has a value);
* every time is epoch seconds (a float, UTC) and every duration is seconds (a float); an aware
  ``datetime`` is only made at the edges that need one (``as_datetime``);
* quantities are floats in the base unit: bytes for memory, cores for CPU.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import math
import re
import time

# ----------------------------------------------------------------------------- numbers


def number(value, finite=True):
    """``value`` as a float, or None: None, booleans, text that is no number, and (with ``finite``)
    NaN and the infinities are None. Numeric text (``"1.5"``) is a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    if finite and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def whole(value):
    """A float with no fraction as an int (gauges such as shards, bytes, counts), else ``value``."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    return value


# ----------------------------------------------------------------------------- Kubernetes quantities

# The suffixes of a Kubernetes quantity: decimal SI (n u m "" k M G T P E; ``K`` is read as ``k``,
# as the older tools wrote it) and binary (Ki .. Ei).
QUANTITY_FACTORS = {
    'n': 1e-9, 'u': 1e-6, 'm': 1e-3, '': 1.0, 'k': 1e3, 'K': 1e3, 'M': 1e6, 'G': 1e9, 'T': 1e12, 'P': 1e15, 'E': 1e18,
    'Ki': 2.0 ** 10, 'Mi': 2.0 ** 20, 'Gi': 2.0 ** 30, 'Ti': 2.0 ** 40, 'Pi': 2.0 ** 50, 'Ei': 2.0 ** 60,
}
# a number, an optional decimal exponent (``1e3``; ``1E`` alone is the exa suffix), a suffix
_QUANTITY = re.compile(r'^\s*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:[eE]([+-]?[0-9]+))?\s*'
                       r'(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|K|M|G|T|P|E)?\s*$')


def parse_quantity(value):
    """A Kubernetes quantity (``512Mi``, ``250m``, ``1.5``, ``12345n``, ``1e3``, ``2Ei``, a number) as a
    float in the base unit (bytes, cores). None for None; ValueError for anything else."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        found = number(value)
        if found is None:
            raise ValueError('not a Kubernetes quantity: %r' % (value,))
        return found
    match = _QUANTITY.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError('not a Kubernetes quantity: %r' % (value,))
    found = float(match.group(1))
    if match.group(2):
        found *= 10.0 ** int(match.group(2))
    return found * QUANTITY_FACTORS[match.group(3) or '']


def quantity(value):
    """``parse_quantity`` that returns None for junk."""
    try:
        return parse_quantity(value)
    except (ValueError, OverflowError):
        return None


def format_quantity(value, suffix='', digits=0):
    """``value`` (base unit) as a quantity in ``suffix``, rounded to ``digits`` decimals:
    ``format_quantity(3 * 2 ** 30, 'Gi') == '3Gi'``; None for None."""
    if value is None:
        return None
    if suffix not in QUANTITY_FACTORS:
        raise ValueError('not a Kubernetes quantity suffix: %r' % (suffix,))
    return '%.*f%s' % (digits, value / QUANTITY_FACTORS[suffix], suffix)


def format_memory(num_bytes):
    """Bytes as a memory quantity, rounded up to a whole Mi (Gi when it is a whole number of Gi)."""
    mib = int(math.ceil(num_bytes / QUANTITY_FACTORS['Mi']))
    if mib % 1024 == 0 and mib:
        return '%dGi' % (mib // 1024)
    return '%dMi' % mib


def format_cpu(cores):
    """Cores as a CPU quantity, rounded up to whole millicores (``750m``; ``2`` for whole cores)."""
    milli = int(math.ceil(round(cores * 1000, 6)))
    if milli % 1000 == 0:
        return '%d' % (milli // 1000)
    return '%dm' % milli


# ----------------------------------------------------------------------------- durations

# Prometheus duration units; a duration is one or more ``<number><unit>`` (``1h30m``)
DURATION_UNITS = {'ms': 0.001, 's': 1.0, 'm': 60.0, 'h': 3600.0, 'd': 86400.0, 'w': 604800.0, 'y': 31536000.0}
_DURATION_PART = re.compile(r'(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)')
_SECONDS = re.compile(r'^\d+(?:\.\d+)?$')


def parse_duration(text):
    """``30s``, ``5m``, ``1h30m``, ``1d``, ``500ms``, ``90`` or ``90.0`` (seconds) as seconds (float).
    ValueError for junk, None, a negative number or an empty text."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text < 0 or math.isnan(text):
            raise ValueError('not a duration: %r (it must not be negative)' % (text,))
        return float(text)
    raw = str(text).strip()
    if _SECONDS.match(raw):
        return float(raw)
    parts = _DURATION_PART.findall(raw)
    if not parts or ''.join(amount + unit for amount, unit in parts) != raw:
        raise ValueError('not a duration: %r (use e.g. 30s, 5m, 1h, 1d)' % (text,))
    return sum(float(amount) * DURATION_UNITS[unit] for amount, unit in parts)


def duration(text):
    """``parse_duration`` that returns None for junk."""
    try:
        return parse_duration(text)
    except ValueError:
        return None


def span_text(seconds):
    """A window's length as a person reads it: ``11 s``, ``12.5 min``, ``23.9 h``, ``3.2 days``."""
    seconds = float(seconds)
    if seconds < 120:
        return '%.0f s' % seconds
    if seconds < 2 * 3600:
        return '%.1f min' % (seconds / 60)
    if seconds < 72 * 3600:
        return '%.1f h' % (seconds / 3600)
    return '%.1f days' % (seconds / 86400)


# ----------------------------------------------------------------------------- times

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_RFC3339 = re.compile(r'^(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(\.\d+)?([Zz]|[+-]\d\d:?\d\d)?$')


def parse_time(value):
    """A time as epoch seconds (float): RFC 3339 (``2026-11-24T07:00:00Z``, any fraction, an offset;
    no offset is UTC), epoch seconds (a number or numeric text) or a ``datetime`` (naive is UTC).
    None for None; ValueError for junk."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return (value - _EPOCH).total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    match = _RFC3339.match(text)
    if not match:
        raise ValueError('not an RFC 3339 time: %r' % (text,))
    try:
        base = datetime.datetime.strptime(match.group(1) + 'T' + match.group(2), '%Y-%m-%dT%H:%M:%S')
    except ValueError:
        raise ValueError('not an RFC 3339 time: %r' % (text,))
    seconds = (base.replace(tzinfo=datetime.timezone.utc) - _EPOCH).total_seconds()
    if match.group(3):
        seconds += float(match.group(3))
    zone = match.group(4)
    if zone and zone not in ('Z', 'z'):
        sign = 1 if zone[0] == '+' else -1
        digits = zone[1:].replace(':', '')
        seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return seconds


def timestamp(value):
    """``parse_time`` that returns None for junk."""
    try:
        return parse_time(value)
    except (ValueError, TypeError, OverflowError):
        return None


def parse_since(value, now=None):
    """A start time as epoch seconds: seconds back from ``now`` (``3600``), a duration back from
    ``now`` (``24h``, ``90m``, ``7d``) or an RFC 3339 time. None for None or an empty text;
    ValueError for anything else (a negative number included)."""
    if value is None or value == '':
        return None
    now = time.time() if now is None else now
    text = value if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value).strip()
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    if isinstance(text, str) and re.match(r'^\d{4}-\d\d-\d\d', text):
        try:
            return parse_time(text)
        except ValueError:
            pass
    raise ValueError('since must be seconds (3600), a duration (24h, 30m, 7d) or an RFC3339 time, got %r' % (value,))


def as_datetime(value):
    """A time (epoch seconds, RFC 3339 or a ``datetime``) as an aware UTC ``datetime``; None for None."""
    seconds = parse_time(value)
    if seconds is None:
        return None
    return _EPOCH + datetime.timedelta(seconds=seconds)


def rfc3339(value, digits=6):
    """A time (epoch seconds or a ``datetime``) as RFC 3339 UTC text with ``digits`` fraction digits
    (0 to 6): ``2026-11-24T07:00:00.000000Z`` by default, ``2026-11-24T07:00:00Z`` with 0.
    None for None."""
    when = as_datetime(value)
    if when is None:
        return None
    text = when.strftime('%Y-%m-%dT%H:%M:%S')
    if digits > 0:
        text += '.' + ('%06d' % when.microsecond)[:min(int(digits), 6)]
    return text + 'Z'


__all__ = ['number', 'whole', 'QUANTITY_FACTORS', 'parse_quantity', 'quantity', 'format_quantity', 'format_memory',
           'format_cpu', 'DURATION_UNITS', 'parse_duration', 'duration', 'parse_time', 'timestamp', 'parse_since',
           'as_datetime', 'rfc3339']
