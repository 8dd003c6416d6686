"""Cross-check the verifier and the repair preview against the real Prometheus (2.42 agent).

A WAL written by walgen is replayed by a real agent: clean, it loads without a repair; damaged,
Prometheus logs the corruption in the segment our verifier names and repairs it the way the
preview said (segments after the corrupted one deleted, the corrupted one cut at the record our
verifier pointed at). Skipped when the ``prometheus`` binary is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal import format as wal

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "wal"
sys.path.insert(0, str(FIXTURES))

import walgen  # noqa: E402  pylint: disable=wrong-import-position

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is not installed")

SEG = 10 * 1024 * 1024     # the smallest segment size Prometheus accepts


def replay(data_dir: Path, timeout=30.0) -> str:
    """Start an agent on ``data_dir`` until it is ready (or exits); returns its log."""
    cfg = data_dir.parent / "agent.yml"
    cfg.write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n", encoding="utf-8")
    log = data_dir.parent / "prometheus.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [PROMETHEUS, "--enable-feature=agent", "--config.file=%s" % cfg, "--storage.agent.path=%s" % data_dir,
             "--web.listen-address=127.0.0.1:0"], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + timeout
        while time.time() < deadline and proc.poll() is None:
            text = log.read_text(encoding="utf-8", errors="replace")
            if "Server is ready to receive web requests" in text:
                break
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return log.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def walset(tmp_path):
    data = tmp_path / "data"
    pool = walgen.RecordPool(seed=11, targets=16, min_series=20, max_series=40000)
    walgen.write_wal(str(data / "wal"), int(2.5 * SEG), segment_size=SEG, pool=pool, series_every=5)
    return data


def test_prometheus_replays_our_wal_without_repair(walset):
    _l, _r = wal.inspect_local(str(walset / "wal"), verify="full", live=False)
    log = replay(walset)
    assert "WAL segment loaded" in log, log[-3000:]
    assert "repair" not in log.lower() and "corruption" not in log.lower(), log[-3000:]


def test_prometheus_repair_matches_our_preview(walset):
    d = walset / "wal"
    names = sorted(p for p in os.listdir(d) if p.isdigit())
    seg = d / names[1]
    start = None
    for off, typ, length in walgen.read_fragments(seg):
        if typ & 7 in (1, 2):
            start = off
        if typ & 7 == 3 and off > 3 * 32768:
            break
    walgen.flip_byte(seg, off + 7 + length // 2)
    listing, report = wal.inspect_local(str(d), verify="full", live=False)
    facts = wal.wal_facts(listing, report)
    ours = facts["corruptions"][0]
    assert (ours["segment"], ours["offset"], ours["fragment_offset"]) == (names[1], start, off)
    preview = report.repair_preview()
    assert [x["segment"] for x in preview["would_delete"]] == names[2:]

    log = replay(walset)
    m = re.search(r"corruption in segment (\S+) at (\d+): (unexpected checksum [0-9a-f]+, expected [0-9a-f]+)", log)
    assert m, log[-3000:]
    assert os.path.basename(m.group(1)) == ours["segment"]
    # Prometheus logs its reader's position (at or after the damaged fragment); we report the record start
    assert int(m.group(2)) >= ours["fragment_offset"] >= ours["offset"]
    assert m.group(3) == ours["reason"]
    assert "successfully repaired WAL" in log or "Rewrite corrupted segment" in log

    after = sorted(p for p in os.listdir(d) if p.isdigit())
    for name in preview["would_delete"]:
        if name["segment"] in after:
            # the repair starts a fresh segment with the next number: it is new and small
            assert (d / name["segment"]).stat().st_size < name["size_bytes"]
    kept = (d / ours["segment"]).stat().st_size
    assert kept <= -(-preview["would_truncate"]["at_offset"] // 32768) * 32768 + 32768
    # and the repaired WAL verifies clean
    listing, report = wal.inspect_local(str(d), verify="full", live=False)
    assert wal.wal_facts(listing, report)["corruptions"] == []


def _records(path):
    """(offset, type) of the records in a segment (a record starts at a full or first fragment)."""
    return [(off, typ & 7) for off, typ, _n in walgen.read_fragments(path) if typ & 7 in (1, 2)]


def test_prometheus_cuts_only_the_torn_last_record_of_a_stopped_agent(walset):
    """A crash in the middle of a record: the newest segment ends inside it. Our verifier reads it
    as the torn tail of a stopped agent (not a corruption, WAL-HEALTH ok); the real agent repairs
    it at start by cutting that one partial record off, as our repair preview says."""
    d = walset / "wal"
    names = sorted(p for p in os.listdir(d) if p.isdigit())
    last = d / names[-1]
    off = walgen.tear_tail(last)
    kept_records = [r for r in _records(last) if r[0] < off]
    listing, report = wal.inspect_local(str(d), verify="full", live=False)
    facts = wal.wal_facts(listing, report)
    assert facts["corruptions"] == [] and facts["verify"]["torn_tail"]["offset"] == off
    health = next(c for c in wal.wal_checks(facts, listing.volume, verify="full") if c["id"] == "WAL-HEALTH")
    assert health["status"] == "ok" and "loses only that partial record" in health["message"]
    preview = report.repair_preview()
    assert preview["would_delete"] == [] and preview["would_truncate"]["segment"] == names[-1]

    log = replay(walset)
    m = re.search(r"corruption in segment (\S+) at (\d+): last record is torn", log)
    assert m, log[-3000:]
    assert os.path.basename(m.group(1)) == names[-1]
    # every record before the torn one is still there; the other segments are untouched
    assert [r for r in _records(last) if r[0] < off] == kept_records
    assert all((d / n).exists() for n in names)
    listing, report = wal.inspect_local(str(d), verify="full", live=False)
    facts = wal.wal_facts(listing, report)
    assert facts["corruptions"] == []
