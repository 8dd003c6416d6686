"""Unit tests of the units (plugins/module_utils/core/units.py): numbers, quantities, durations, times."""

from __future__ import annotations

import datetime
import math

import pytest

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import units

UTC = datetime.timezone.utc


# ----------------------------------------------------------------------------- numbers

def test_number():
    assert units.number(3) == 3.0 and units.number("1.5") == 1.5 and units.number(" 2e3 ") == 2000.0
    for junk in (None, True, False, "x", "", [], {}):
        assert units.number(junk) is None
    for odd in (float("nan"), float("inf"), float("-inf"), "NaN", "+Inf"):
        assert units.number(odd) is None
    assert math.isinf(units.number(float("inf"), finite=False))
    assert math.isnan(units.number("nan", finite=False))


def test_whole():
    assert units.whole(3.0) == 3 and isinstance(units.whole(3.0), int)
    assert units.whole(2.5) == 2.5 and units.whole(None) is None and units.whole("7") == "7"
    assert units.whole(2.0 ** 60) == 2.0 ** 60  # beyond exact integers it stays a float


# ----------------------------------------------------------------------------- quantities

@pytest.mark.parametrize("text,expected", [
    ("512Mi", 512 * 2 ** 20), ("1Gi", 2 ** 30), ("500m", 0.5), ("2", 2.0), ("1.5", 1.5), ("1e3", 1000.0),
    ("128M", 128e6), (256, 256.0), ("100Ki", 102400.0), ("12345n", 12345e-9), ("250u", 250e-6), ("1k", 1000.0),
    ("1K", 1000.0), ("2G", 2e9), ("3T", 3e12), ("4P", 4e15), ("5E", 5e18), ("1Ti", 2.0 ** 40), ("1Pi", 2.0 ** 50),
    ("1Ei", 2.0 ** 60), (".5", 0.5), ("+1", 1.0), ("-1", -1.0), ("1.5e-3", 0.0015), (" 1Gi ", 2 ** 30), ("1 Gi", 2 ** 30),
    ("1E3", 1000.0), ("2.5", 2.5), (0.25, 0.25),
])
def test_parse_quantity(text, expected):
    assert units.parse_quantity(text) == pytest.approx(expected)
    assert units.quantity(text) == pytest.approx(expected)


@pytest.mark.parametrize("junk", ["lots", "", "1Xi", "Mi", "1.2.3", "1 0", True, float("nan"), "1e", [1], "1ki", "1mi"])
def test_quantity_junk(junk):
    with pytest.raises(ValueError):
        units.parse_quantity(junk)
    assert units.quantity(junk) is None


def test_quantity_none():
    assert units.parse_quantity(None) is None and units.quantity(None) is None


def test_every_suffix_round_trips():
    for suffix, factor in units.QUANTITY_FACTORS.items():
        assert units.parse_quantity(units.format_quantity(3 * factor, suffix)) == pytest.approx(3 * factor)
    assert units.format_quantity(1536 * 2 ** 20, "Gi", digits=1) == "1.5Gi"
    assert units.format_quantity(None, "Mi") is None
    with pytest.raises(ValueError):
        units.format_quantity(1, "Xi")


def test_format_memory_and_cpu():
    assert units.format_memory(640 * 2 ** 20) == "640Mi"
    assert units.format_memory(2 ** 31) == "2Gi"
    assert units.format_memory(640 * 2 ** 20 + 1) == "641Mi"
    assert units.format_cpu(0.625) == "625m"
    assert units.format_cpu(2.0) == "2"
    assert units.format_cpu(0.1 + 0.2) == "300m"  # float noise does not round up a millicore


# ----------------------------------------------------------------------------- durations

def test_parse_duration():
    assert units.parse_duration("5m") == 300 and units.parse_duration("1h30m") == 5400 and units.parse_duration("90") == 90
    assert units.parse_duration("24h") == 86400 and units.parse_duration(15) == 15 and units.parse_duration("500ms") == 0.5
    assert units.parse_duration("1d") == 86400 and units.parse_duration("2w") == 14 * 86400
    assert units.parse_duration("1y") == 365 * 86400 and units.parse_duration("1.5") == 1.5
    for junk in ("", "5 minutes", "m5", "-1", -1, None, "1h 30m", "yesterday", True):
        with pytest.raises(ValueError):
            units.parse_duration(junk)
        assert units.duration(junk) is None


# ----------------------------------------------------------------------------- times

def test_parse_time_forms():
    base = 1795478400.0  # 2026-11-24T00:00:00Z
    assert units.parse_time("2026-11-24T00:00:00Z") == base
    assert units.parse_time("2026-11-24T01:00:00+01:00") == base
    assert units.parse_time("2026-11-23T19:30:00-0430") == base
    assert units.parse_time("2026-11-24 00:00:00") == base            # no offset: UTC
    assert units.parse_time("2026-11-24T00:00:00.123456789Z") == pytest.approx(base + 0.123456789)
    assert units.parse_time(base) == base and units.parse_time(str(base)) == base and units.parse_time(int(base)) == base
    assert units.parse_time(datetime.datetime(2026, 11, 24, tzinfo=UTC)) == base
    assert units.parse_time(datetime.datetime(2026, 11, 24)) == base   # naive: UTC
    assert units.parse_time(None) is None and units.timestamp(None) is None
    for junk in ("yesterday", "2026-13-01T00:00:00Z", "2026-11-24", "24/11/2026 00:00", True):
        with pytest.raises(ValueError):
            units.parse_time(junk)
        assert units.timestamp(junk) is None


def test_parse_since_forms():
    now = 1795500000.0
    assert units.parse_since("3600", now) == now - 3600 and units.parse_since(60, now) == now - 60
    assert units.parse_since("24h", now) == now - 86400 and units.parse_since("1h30m", now) == now - 5400
    assert units.parse_since("7d", now) == now - 7 * 86400
    assert units.parse_since("2026-11-24T00:00:00Z", now) == units.parse_since("2026-11-24T01:00:00+01:00", now)
    assert units.parse_since(None, now) is None and units.parse_since("", now) is None
    for junk in ("yesterday", "24 h", "-5", -5, "2026-11-24Tnoon"):
        with pytest.raises(ValueError, match="since must be"):
            units.parse_since(junk, now)


def test_rfc3339_and_datetime():
    base = 1795478400.0
    assert units.rfc3339(base) == "2026-11-24T00:00:00.000000Z"
    assert units.rfc3339(base + 0.5, digits=3) == "2026-11-24T00:00:00.500Z"
    assert units.rfc3339(base + 0.5, digits=0) == "2026-11-24T00:00:00Z"
    assert units.rfc3339(datetime.datetime(2026, 11, 24, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))) \
        == "2026-11-24T00:00:00.000000Z"
    assert units.rfc3339(None) is None
    assert units.parse_time(units.rfc3339(base + 0.25)) == base + 0.25
    assert units.as_datetime(base) == datetime.datetime(2026, 11, 24, tzinfo=UTC)
    assert units.as_datetime("2026-11-24T00:00:00Z").tzinfo is not None and units.as_datetime(None) is None
