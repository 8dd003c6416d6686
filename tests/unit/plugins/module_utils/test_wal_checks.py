"""The WAL checks of wal.py: WAL-SIZE, WAL-HEALTH, PVC, WAL-ROTATION (statuses come from checks.py)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import checks as core_checks
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal import format as wal

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "wal"
REAL = FIXTURES / "real-2.42"
sys.path.insert(0, str(FIXTURES))

import walgen  # noqa: E402  pylint: disable=wrong-import-position

GIB = 1024 ** 3
H = 3600


def by_id(checks):
    return {c["id"]: c for c in checks}


def facts(**kw):
    base = {"size_bytes": 10 * GIB, "segment_count": 80, "first_segment": "00000100", "oldest_segment_age_seconds": 2 * H,
            "checkpoint": {"name": "checkpoint.00000099", "index": 99, "size_bytes": 1000, "age_seconds": 1800},
            "checkpoints_in_progress": [], "non_sequential_segments": [], "corruptions": [], "corruptions_total": 0,
            "verified_bytes": 128 * 1024 * 1024, "verify": {"torn_tail": None, "error": None}}
    base.update(kw)
    return base


VOLUME = {"capacity": 50 * GIB, "used": 10 * GIB, "available": 40 * GIB, "used_ratio": 0.2}


def test_defaults_are_the_catalog():
    th = wal.wal_thresholds()
    assert th["wal_size_warning"] == 40 * GIB and th["wal_size_critical"] == 45 * GIB
    assert th["pvc_warning"] == 0.8 and th["pvc_critical"] == 0.9
    assert th["wal_rotation_warning_seconds"] == 6 * H and th["wal_rotation_critical_seconds"] == 24 * H


def test_all_ok_shape():
    checks = wal.wal_checks(facts(), VOLUME, verify="tail")
    assert [c["id"] for c in checks] == ["WAL-SIZE", "WAL-HEALTH", "PVC", "WAL-ROTATION"]
    for c in checks:
        assert set(c) == {"id", "status", "value", "threshold", "message"}
        assert c["status"] == "ok", c
        assert c["message"]
    assert core_checks.result_status(checks) == "ok"


@pytest.mark.parametrize("size,status", [(39 * GIB, "ok"), (41 * GIB, "warning"), (46 * GIB, "critical")])
def test_wal_size(size, status):
    c = by_id(wal.wal_checks(facts(size_bytes=size), VOLUME))["WAL-SIZE"]
    assert c["status"] == status and c["value"] == size
    assert c["threshold"] == {"warning": 40 * GIB, "critical": 45 * GIB, "volume_warning": 0.8, "volume_critical": 0.9}


def test_wal_size_user_thresholds():
    th = wal.wal_thresholds({"wal_size_warning": 1 * GIB, "wal_size_critical": 2 * GIB, "rw_lag_warning": 5})
    c = by_id(wal.wal_checks(facts(size_bytes=3 * GIB), VOLUME, th))["WAL-SIZE"]
    assert c["status"] == "critical" and c["threshold"]["critical"] == 2 * GIB


@pytest.mark.parametrize("ratio,status", [(0.5, "ok"), (0.85, "warning"), (0.95, "critical")])
def test_pvc(ratio, status):
    vol = dict(VOLUME, used_ratio=ratio)
    assert by_id(wal.wal_checks(facts(), vol))["PVC"]["status"] == status


def test_pvc_unknown_without_volume():
    assert by_id(wal.wal_checks(facts(), None))["PVC"]["status"] == "unknown"


@pytest.mark.parametrize("age,status", [(5 * H, "ok"), (7 * H, "warning"), (25 * H, "critical")])
def test_wal_rotation(age, status):
    c = by_id(wal.wal_checks(facts(oldest_segment_age_seconds=age), VOLUME))["WAL-ROTATION"]
    assert c["status"] == status and c["value"] == age


def test_wal_rotation_empty_wal_and_no_checkpoint_message():
    c = by_id(wal.wal_checks(facts(segment_count=0, oldest_segment_age_seconds=None), VOLUME))["WAL-ROTATION"]
    assert c["status"] == "ok"
    c = by_id(wal.wal_checks(facts(checkpoint=None, oldest_segment_age_seconds=8 * H), VOLUME))["WAL-ROTATION"]
    assert c["status"] == "warning" and "no checkpoint" in c["message"]


def test_wal_health_not_verified_is_ok_without_value():
    c = by_id(wal.wal_checks(facts(), VOLUME, verify="none"))["WAL-HEALTH"]
    assert c["status"] == "ok" and c["value"] is None and "not verified" in c["message"]


def test_wal_health_corruption_is_critical_with_place():
    corr = [{"segment": "00000120", "offset": 4096, "fragment_offset": 4096, "reason": "unexpected checksum 1, expected 2",
             "kind": "segment"}]
    c = by_id(wal.wal_checks(facts(corruptions=corr, corruptions_total=1), VOLUME, verify="full"))["WAL-HEALTH"]
    assert c["status"] == "critical" and c["value"] == 1
    assert "00000120" in c["message"] and "4096" in c["message"]


def test_wal_health_checkpoint_corruption():
    corr = [{"segment": "checkpoint.00000099/00000000", "offset": 0, "fragment_offset": 0, "reason": "x", "kind": "checkpoint"}]
    c = by_id(wal.wal_checks(facts(corruptions=corr, corruptions_total=1), VOLUME, verify="full"))["WAL-HEALTH"]
    assert c["status"] == "critical" and "does not repair checkpoints" in c["message"]


def test_wal_health_gaps_stale_tmp_torn_tail_and_error():
    c = by_id(wal.wal_checks(facts(non_sequential_segments=["00000101"]), VOLUME))["WAL-HEALTH"]
    assert c["status"] == "critical"
    stale = [{"name": "checkpoint.00000150.tmp", "index": 150, "size_bytes": 5, "age_seconds": 3 * H}]
    c = by_id(wal.wal_checks(facts(checkpoints_in_progress=stale), VOLUME))["WAL-HEALTH"]
    assert c["status"] == "warning" and "checkpoint.00000150.tmp" in c["message"]
    fresh = [dict(stale[0], age_seconds=60)]
    assert by_id(wal.wal_checks(facts(checkpoints_in_progress=fresh), VOLUME))["WAL-HEALTH"]["status"] == "ok"
    torn = {"torn_tail": {"segment": "00000179", "offset": 5, "bytes": 3, "reason": "x"}, "error": None}
    c = by_id(wal.wal_checks(facts(verify=torn), VOLUME, verify="tail"))["WAL-HEALTH"]
    assert c["status"] == "ok" and "being written" in c["message"]
    err = {"torn_tail": None, "error": "connection reset"}
    c = by_id(wal.wal_checks(facts(verify=err), VOLUME, verify="tail"))["WAL-HEALTH"]
    assert c["status"] == "unknown" and "connection reset" in c["message"]


def test_unknown_checks():
    checks = wal.unknown_checks("pod not found")
    assert [c["status"] for c in checks] == ["unknown"] * 4
    assert all(c["message"] == "pod not found" for c in checks)


def test_checks_on_real_and_damaged_wal(tmp_path):
    d = tmp_path / "wal"
    shutil.copytree(REAL, d)
    listing, report = wal.inspect_local(str(d), verify="full", live=False)
    checks = by_id(wal.wal_checks(wal.wal_facts(listing, report), listing.volume, verify="full"))
    assert checks["WAL-HEALTH"]["status"] == "ok" and checks["WAL-SIZE"]["status"] == "ok"
    seg = d / sorted(p for p in os.listdir(d) if p.isdigit())[1]
    frag = next(off for off, typ, n in walgen.read_fragments(seg) if typ & 7 == 1 and n > 20)
    walgen.flip_byte(seg, frag + 7 + 3)
    listing, report = wal.inspect_local(str(d), verify="full", live=False)
    checks = by_id(wal.wal_checks(wal.wal_facts(listing, report), listing.volume, verify="full"))
    assert checks["WAL-HEALTH"]["status"] == "critical" and seg.name in checks["WAL-HEALTH"]["message"]


@pytest.mark.parametrize("size,capacity,status,limit", [
    (1 * GIB, 10 * GIB, "ok", None),
    (int(8.5 * GIB), 10 * GIB, "warning", "over 80% of the volume"),
    (int(9.5 * GIB), 10 * GIB, "critical", "over 90% of the volume"),
    # absolute and relative: the worse one, named
    (41 * GIB, 100 * GIB, "warning", "over 40.0 GiB"),
    (41 * GIB, 44 * GIB, "critical", "over 90% of the volume"),
])
def test_wal_size_relative_to_the_volume(size, capacity, status, limit):
    volume = {"capacity": capacity, "used": size, "available": capacity - size, "used_ratio": float(size) / capacity}
    c = by_id(wal.wal_checks(facts(size_bytes=size), volume))["WAL-SIZE"]
    assert c["status"] == status, c
    assert "%.1f%% of its" % (100.0 * size / capacity) in c["message"]
    if limit:
        assert limit in c["message"], c["message"]


def test_wal_size_without_a_volume_is_absolute_only():
    c = by_id(wal.wal_checks(facts(size_bytes=41 * GIB), None))["WAL-SIZE"]
    assert c["status"] == "warning" and "of its" not in c["message"] and "over 40.0 GiB" in c["message"]
    th = wal.wal_thresholds({"wal_size_volume_warning": 0.05, "wal_size_volume_critical": 0.5})
    small = {"capacity": 100 * GIB, "used": 10 * GIB, "available": 90 * GIB, "used_ratio": 0.1}
    c = by_id(wal.wal_checks(facts(size_bytes=10 * GIB), small, th))["WAL-SIZE"]
    assert c["status"] == "warning" and "over 5% of the volume" in c["message"]
