"""plugins/module_utils/wal/format.py: listing, the streaming verifier, corruption cases, repair preview.

Real data: tests/unit/fixtures/wal/real-2.42/ (written by a Prometheus 2.42 agent, see its
README). Bigger and damaged WALs are written in the test with walgen (the real record format).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal import format as wal
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal import reader as wal_reader

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "wal"
REAL = FIXTURES / "real-2.42"
sys.path.insert(0, str(FIXTURES))

import walgen  # noqa: E402  pylint: disable=wrong-import-position

SEG = 1024 * 1024   # small segments so a few MiB make several of them


@pytest.fixture(scope="module")
def pool():
    return walgen.RecordPool(seed=7, targets=24, min_series=20, max_series=40000)


@pytest.fixture
def genwal(tmp_path, pool):
    """A clean, closed 4-segment WAL with multi-fragment records."""
    d = tmp_path / "wal"
    walgen.write_wal(str(d), int(3.5 * SEG), segment_size=SEG, pool=pool, series_every=5)
    return d


def inspect(path, mode="full", live=False):
    listing, report = wal.inspect_local(str(path), verify=mode, live=live)
    return listing, report, wal.wal_facts(listing, report)


def segs(d):
    return sorted(p for p in os.listdir(d) if p.isdigit())


# ------------------------------------------------------------------ CRC


def test_crc32c_known_vectors():
    assert wal.crc32c_python(b"123456789") == 0xE3069283
    assert wal.crc32c_python(b"") == 0
    assert wal.crc32c(b"123456789") == 0xE3069283
    data = os.urandom(5000)
    assert wal.crc32c_python(data) == wal.crc32c(data)
    assert wal.crc32c_python(memoryview(data)[10:20]) == wal.crc32c(data[10:20])


def test_crc_implementation_reported():
    assert wal.CRC_IMPLEMENTATION.startswith("crc32c") or wal.CRC_IMPLEMENTATION == "python"
    _l, _r, facts = inspect(REAL, "tail")
    assert facts["crc_implementation"] == wal.CRC_IMPLEMENTATION
    assert facts["verify"]["crc_implementation"] == wal.CRC_IMPLEMENTATION


def test_pure_python_crc_fallback_gives_same_result(monkeypatch):
    _l, _r, fast = inspect(REAL, "full")
    monkeypatch.setattr(wal, "crc32c", wal.crc32c_python)
    _l, _r, slow = inspect(REAL, "full")
    for key in ("corruptions", "verified_bytes", "compression"):
        assert fast[key] == slow[key]
    assert fast["verify"]["records"] == slow["verify"]["records"]


# ------------------------------------------------------------------ real segments


def test_real_agent_wal_is_clean():
    listing, _r, facts = inspect(REAL, "full")
    assert facts["corruptions"] == [] and facts["corruptions_total"] == 0
    assert facts["segment_count"] == len(segs(REAL))
    assert facts["first_segment"] == segs(REAL)[0]
    assert facts["last_segment"] == segs(REAL)[-1]
    assert facts["compression"] == "snappy"
    cp = facts["checkpoint"]
    assert cp["name"].startswith("checkpoint.") and cp["index"] == int(cp["name"].split(".")[1])
    assert cp["size_bytes"] > 0
    assert facts["size_bytes"] == sum(f.stat().st_size for f in REAL.rglob("*") if f.is_file())
    assert facts["verified_bytes"] == facts["size_bytes"]
    v = facts["verify"]
    assert v["record_types"].get("samples", 0) > 0 and v["record_types"].get("series", 0) > 0
    assert "unknown" not in v["record_types"]
    assert v["fragments"] > v["records"], "the fixture has multi-fragment records"
    assert listing.volume is not None and 0 <= listing.volume["used_ratio"] <= 1


def test_real_agent_wal_streamed_in_odd_chunks_matches_file_read():
    v = wal.Verifier()
    for name in segs(REAL):
        path = REAL / name
        data = path.read_bytes()
        direct = wal.verify_file(str(path))
        for step in (1, 7, 1000, 32768, 100000):
            chunks = (data[i:i + step] for i in range(0, len(data), step))
            res = v.verify(chunks, name)
            assert (res.bytes, res.records, res.fragments, res.corruptions) == (direct.bytes, direct.records, direct.fragments, direct.corruptions)


# ------------------------------------------------------------------ generated WALs


def test_generated_wal_is_clean_and_multi_segment(genwal):
    _l, _r, facts = inspect(genwal, "full")
    assert facts["segment_count"] >= 4
    assert facts["corruptions"] == []
    v = facts["verify"]
    assert v["fragments"] > v["records"]
    assert set(v["record_types"]) == {"series", "samples"}


def test_zstd_records_named_with_and_without_cramjam(tmp_path, monkeypatch):
    d = tmp_path / "wal"
    w = walgen.WalWriter(str(d), segment_size=SEG, compression="zstd")
    w.log(walgen.encode_series([(i, walgen.series_labels(i, "j", "i:1")) for i in range(1, 3000)]))
    w.log(walgen.encode_samples([(i, 1000 + i, 1.0) for i in range(1, 3000)]))
    w.close()
    _l, _r, facts = inspect(d, "full")
    assert facts["compression"] == "zstd" and facts["corruptions"] == []
    assert facts["verify"]["record_types"] == {"series": 1, "samples": 1}
    monkeypatch.setattr(wal, "_cramjam", None)
    _l, _r, facts = inspect(d, "full")
    assert facts["corruptions"] == [] and facts["verify"]["record_types"] == {"unknown": 2}


def test_uncompressed_wal(tmp_path):
    d = tmp_path / "wal"
    w = walgen.WalWriter(str(d), segment_size=SEG, compression="none")
    for k in range(50):
        w.log(walgen.encode_samples([(i, 1000 * k, float(i)) for i in range(1, 500)]))
    w.close()
    _l, _r, facts = inspect(d, "full")
    assert facts["compression"] == "none" and facts["verify"]["record_types"] == {"samples": 50}


# ------------------------------------------------------------------ corruption cases


def _record_of(path, frag_pred):
    """(record start offset, fragment offset) of the first fragment matching frag_pred."""
    start = None
    for off, typ, length in walgen.read_fragments(path):
        kind = typ & 7
        if kind in (1, 2):
            start = off
        if frag_pred(kind, length):
            return start, off, length
    raise AssertionError("no such fragment")


def test_flipped_payload_byte_in_full_record(genwal):
    seg = genwal / segs(genwal)[1]
    start, frag, _length = _record_of(seg, lambda k, n: k == 1 and n > 100)
    walgen.flip_byte(seg, frag + 7 + 50)
    _l, report, facts = inspect(genwal, "full")
    assert facts["corruptions_total"] == 1
    c = facts["corruptions"][0]
    assert (c["segment"], c["offset"], c["fragment_offset"]) == (seg.name, start, frag)
    assert c["reason"].startswith("unexpected checksum")
    preview = report.repair_preview()
    names = segs(genwal)
    assert preview["needed"]
    assert [d["segment"] for d in preview["would_delete"]] == names[2:]
    assert [d["segment"] for d in preview["would_keep"]] == names[:1]
    t = preview["would_truncate"]
    assert t["segment"] == seg.name and t["at_offset"] == start and t["bytes_lost"] == seg.stat().st_size - start
    assert preview["bytes_lost"] == t["bytes_lost"] + sum(d["size_bytes"] for d in preview["would_delete"])


def test_flipped_byte_in_middle_fragment_reports_record_start(genwal):
    seg = genwal / segs(genwal)[0]
    start, frag, _length = _record_of(seg, lambda k, n: k == 3)
    assert start < frag
    walgen.flip_byte(seg, frag + 7 + 3)
    _l, _r, facts = inspect(genwal, "full")
    c = facts["corruptions"][0]
    assert (c["offset"], c["fragment_offset"]) == (start, frag)


def test_flipped_header_crc_byte(genwal):
    seg = genwal / segs(genwal)[0]
    start, frag, _l = _record_of(seg, lambda k, n: k == 1)
    walgen.flip_byte(seg, frag + 4)
    _l, _r, facts = inspect(genwal, "full")
    assert facts["corruptions"][0]["offset"] == start
    assert "checksum" in facts["corruptions"][0]["reason"]


def test_invalid_length(genwal):
    seg = genwal / segs(genwal)[0]
    _s, frag, _l = _record_of(seg, lambda k, n: k == 1)
    with open(seg, "r+b") as fh:
        fh.seek(frag + 1)
        fh.write(b"\xff\xf0")
    _l, _r, facts = inspect(genwal, "full")
    assert facts["corruptions"][0]["reason"].startswith("invalid record size")
    assert facts["corruptions"][0]["fragment_offset"] == frag


def wal_health(listing, report, mode="full"):
    facts = wal.wal_facts(listing, report)
    return next(c for c in wal.wal_checks(facts, listing.volume, verify=mode) if c["id"] == "WAL-HEALTH")


def test_torn_tail_of_last_segment_live_vs_stopped(genwal):
    last = genwal / segs(genwal)[-1]
    off = walgen.tear_tail(last)
    _l, report, facts = inspect(genwal, "full", live=True)
    assert facts["corruptions"] == []
    tt = facts["verify"]["torn_tail"]
    assert tt["segment"] == last.name and tt["offset"] == off
    assert report.repair_preview()["needed"] is False
    # a stopped agent (an ordinary crash): Prometheus cuts the partial record off at start, nothing else
    listing, report, facts = inspect(genwal, "full", live=False)
    assert facts["corruptions"] == [] and facts["corruptions_total"] == 0
    tt = facts["verify"]["torn_tail"]
    assert (tt["segment"], tt["offset"], tt["reason"]) == (last.name, off, "last record is torn")
    assert tt["bytes"] == last.stat().st_size - off
    health = wal_health(listing, report)
    assert health["status"] == "ok"
    assert "the agent stopped while writing it" in health["message"]
    assert "loses only that partial record" in health["message"] and last.name in health["message"]
    preview = report.repair_preview()
    assert preview["would_truncate"]["at_offset"] == off and preview["would_delete"] == []
    assert preview["bytes_lost"] == tt["bytes"] and "only its torn last record" in preview["message"]
    assert [k["segment"] for k in preview["would_keep"]] == segs(genwal)[:-1]


def test_torn_record_in_earlier_segment_is_corruption_even_live(genwal):
    seg = genwal / segs(genwal)[1]
    off = walgen.tear_tail(seg)
    for live in (True, False):
        listing, report, facts = inspect(genwal, "full", live=live)
        expected = {"segment": seg.name, "offset": off, "reason": "last record is torn", "fragment_offset": off,
                    "kind": "segment"}
        assert facts["corruptions"] == [expected]
        assert facts["verify"]["torn_tail"] is None
        assert wal_health(listing, report)["status"] == "critical"


def test_truncated_header(genwal):
    last = genwal / segs(genwal)[-1]
    off = walgen.truncate_in_header(last)
    for live in (True, False):
        _l, _r, facts = inspect(genwal, "full", live=live)
        assert facts["corruptions"] == [] and facts["verify"]["torn_tail"]["offset"] <= off
        assert facts["verify"]["torn_tail"]["fragment_offset"] == off
    closed = genwal / segs(genwal)[1]
    off = walgen.truncate_in_header(closed)
    _l, _r, facts = inspect(genwal, "full", live=False)
    c = facts["corruptions"][0]
    assert c["segment"] == closed.name
    assert c["fragment_offset"] == off and "truncated fragment header" in c["reason"]


def test_truncated_payload(genwal):
    names = segs(genwal)
    for name in (names[-1], names[1]):
        seg = genwal / name
        off, _t, length = walgen.read_fragments(seg)[-1]
        with open(seg, "r+b") as fh:
            fh.truncate(off + 7 + length // 2)
    listing, report, facts = inspect(genwal, "full", live=False)
    # the closed segment: a corruption; the newest one of the stopped agent: its torn tail
    assert [c["segment"] for c in facts["corruptions"]] == [names[1]]
    assert "truncated fragment payload" in facts["corruptions"][0]["reason"]
    assert facts["verify"]["torn_tail"]["segment"] == names[-1]
    assert "truncated fragment payload" in facts["verify"]["torn_tail"]["reason"]
    assert wal_health(listing, report)["status"] == "critical"


def test_non_zero_padding(genwal):
    seg = genwal / segs(genwal)[0]
    term = walgen.dirty_padding(seg)
    _l, _r, facts = inspect(genwal, "full")
    c = facts["corruptions"][0]
    assert c["reason"] == "unexpected non-zero byte in padded page"
    assert c["fragment_offset"] == term


def test_bad_fragment_sequence(genwal):
    seg = genwal / segs(genwal)[0]
    start, frag, _l = _record_of(seg, lambda k, n: k in (3, 4))
    walgen.break_sequence(seg)
    _l, _r, facts = inspect(genwal, "full")
    c = facts["corruptions"][0]
    assert c["reason"] == "unexpected full record"
    assert (c["offset"], c["fragment_offset"]) == (start, frag)


def test_unknown_fragment_type(genwal):
    seg = genwal / segs(genwal)[0]
    _s, frag, _l = _record_of(seg, lambda k, n: k == 1)
    with open(seg, "r+b") as fh:
        fh.seek(frag)
        fh.write(b"\x0e")       # snappy bit + type 6
    _l, _r, facts = inspect(genwal, "full")
    assert facts["corruptions"][0]["reason"] == "unexpected record type 6"


def test_every_damaged_page_is_listed_and_first_one_drives_repair(genwal):
    names = segs(genwal)
    hits = []
    for name in (names[2], names[0]):
        seg = genwal / name
        frags = [f for f in walgen.read_fragments(seg) if f[1] & 7 == 1 and f[2] > 20]
        for off, _t, _n in (frags[1], frags[-2]):
            walgen.flip_byte(seg, off + 7 + 10)
            hits.append((name, off))
    _l, report, facts = inspect(genwal, "full")
    found = {(c["segment"], c["fragment_offset"]) for c in facts["corruptions"]}
    assert set(hits) <= found
    preview = report.repair_preview()
    assert preview["would_truncate"]["segment"] == names[0]
    assert [d["segment"] for d in preview["would_delete"]] == names[1:]


def test_corrupted_checkpoint_is_not_repairable(tmp_path):
    d = tmp_path / "wal"
    shutil.copytree(REAL, d)
    cp = next(p for p in d.iterdir() if p.name.startswith("checkpoint."))
    f = cp / "00000000"
    frag = next(off for off, typ, n in walgen.read_fragments(f) if n > 20)
    walgen.flip_byte(f, frag + 7 + 5)
    _l, report, facts = inspect(d, "full")
    assert facts["corruptions"][0]["kind"] == "checkpoint"
    assert facts["corruptions"][0]["segment"] == cp.name + "/00000000"
    preview = report.repair_preview()
    assert preview["needed"] is False and preview["checkpoint_corrupted"]["file"] == cp.name + "/00000000"
    assert "does not repair checkpoints" in preview["message"]
    # tail does not read checkpoints
    _l, _r, facts = inspect(d, "tail")
    assert facts["corruptions"] == []


# ------------------------------------------------------------------ hostile input


@pytest.mark.parametrize("maker", [
    lambda: os.urandom(3 * 32768 + 123),
    lambda: b"\xff" * 70000,
    lambda: bytes(65536),
    lambda: b"",
    lambda: b"\x01",
    lambda: b"\x01\x7f\xff",
    lambda: bytes([1, 0, 3, 0, 0, 0, 0]) + b"abc",
])
def test_hostile_segments_never_raise(tmp_path, maker):
    d = tmp_path / "wal"
    d.mkdir()
    data = maker()
    (d / "00000000").write_bytes(data)
    for live in (True, False):
        _l, _r, facts = inspect(d, "full", live=live)
        assert facts["verified_bytes"] == len(data)
        for c in facts["corruptions"]:
            assert 0 <= c["offset"] <= len(data) and c["segment"] == "00000000"


def test_zero_filled_segment_is_clean(tmp_path):
    d = tmp_path / "wal"
    d.mkdir()
    (d / "00000000").write_bytes(bytes(2 * 32768))
    _l, _r, facts = inspect(d, "full")
    assert facts["corruptions"] == [] and facts["compression"] == "unknown"


def test_corruption_list_is_capped(tmp_path):
    d = tmp_path / "wal"
    d.mkdir()
    rnd = random.Random(3)
    (d / "00000000").write_bytes(bytes(rnd.getrandbits(8) | 1 for _i in range(300 * 32768 // 64)) * 64)
    _l, _r, facts = inspect(d, "full")
    assert len(facts["corruptions"]) == wal.MAX_CORRUPTIONS
    assert facts["corruptions_total"] > wal.MAX_CORRUPTIONS


# ------------------------------------------------------------------ modes, listing, memory


def test_tail_plan_reads_last_segment_and_last_pages_of_previous(genwal):
    listing = wal.list_local(str(genwal))
    plan = wal.plan_verification(listing, "tail")
    names = segs(genwal)
    assert [p[1] for p in plan] == names[-2:]
    prev = plan[0]
    size = (genwal / names[-2]).stat().st_size
    assert prev[3] == size - wal.TAIL_PAGES * wal.PAGE_SIZE and prev[6] is True
    assert plan[1][3] == 0 and plan[1][5] is True
    # damage in the last pages of the previous segment is found by tail; earlier damage is not
    seg = genwal / names[-2]
    frags = walgen.read_fragments(seg)
    late = [f for f in frags if f[0] >= prev[3] and f[2] > 20][-1]
    early = [f for f in frags if f[0] < prev[3] - 32768 and f[2] > 20][0]
    walgen.flip_byte(seg, late[0] + 7 + 5)
    walgen.flip_byte(seg, early[0] + 7 + 5)
    _l, _r, facts = inspect(genwal, "tail")
    assert [c["fragment_offset"] for c in facts["corruptions"]] == [late[0]]
    _l, _r, facts = inspect(genwal, "full")
    assert [c["fragment_offset"] for c in facts["corruptions"]] == [early[0], late[0]]


def test_none_mode_reads_nothing(genwal):
    _l, report, facts = inspect(genwal, "none")
    assert report.results == [] and facts["verified_bytes"] == 0 and facts["compression"] is None
    assert wal.detect_compression_local(wal.list_local(str(genwal)), str(genwal)) == "snappy"


def test_listing_checkpoints_tmp_gaps_and_other_files(tmp_path):
    d = tmp_path / "wal"
    shutil.copytree(REAL, d)
    (d / "README.md").unlink(missing_ok=True)
    (d / "checkpoint.00000099.tmp").mkdir()
    (d / "checkpoint.00000099.tmp" / "00000000").write_bytes(b"x" * 100)
    names = segs(d)
    (d / ("%08d" % (int(names[-1]) + 3))).write_bytes(b"")
    (d / "junk.txt").write_bytes(b"12345")
    os.utime(d / names[0], (1_000_000, 1_000_000))
    listing = wal.list_local(str(d), now=1_000_100)
    s = listing.summary()
    assert s["checkpoint"]["name"] != "checkpoint.00000099.tmp"
    assert s["checkpoints_in_progress"][0]["name"] == "checkpoint.00000099.tmp"
    assert s["checkpoints_in_progress"][0]["size_bytes"] == 100
    assert s["non_sequential_segments"] == ["%08d-%08d" % (int(names[-1]) + 1, int(names[-1]) + 2)]
    assert s["oldest_segment_age_seconds"] == 100
    assert s["size_bytes"] == sum(f.stat().st_size for f in d.rglob("*") if f.is_file())


def test_missing_and_not_a_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        wal.list_local(str(tmp_path / "nope"))
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        wal.list_local(str(tmp_path / "f"))


def test_empty_wal_dir(tmp_path):
    _l, report, facts = inspect(tmp_path, "full")
    assert facts["segment_count"] == 0 and facts["first_segment"] is None and facts["corruptions"] == []
    assert report.repair_preview()["needed"] is False


def test_segment_vanishing_during_verify_is_a_note(genwal):
    listing = wal.list_local(str(genwal))
    (genwal / segs(genwal)[0]).unlink()
    report = wal.verify_listing(listing, "full", wal.local_opener(str(genwal)))
    assert any("vanished" in n for n in report.notes)
    assert report.corruptions() == []


def test_guess_live_from_open_segment_or_mtime(genwal, tmp_path):
    listing = wal.list_local(str(genwal))
    assert wal.writer_pids(str(genwal), listing) == []
    assert wal.guess_live(listing) is False          # nobody holds a segment open
    last = genwal / segs(genwal)[-1]
    with open(last, "ab"):
        assert wal.writer_pids(str(genwal), listing) == [os.getpid()]
        assert wal.guess_live(listing) is True
    # no /proc to look at: the last segment's age decides
    assert wal.guess_live(listing, proc=str(tmp_path / "noproc")) is True
    listing.now += 3600
    assert wal.guess_live(listing, proc=str(tmp_path / "noproc")) is False


def test_memory_stays_flat(tmp_path, pool):
    d = tmp_path / "wal"
    walgen.write_wal(str(d), 48 * SEG, segment_size=8 * SEG, pool=pool)
    tracemalloc.start()
    try:
        _l, _r, facts = inspect(d, "full")
        _cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert facts["verified_bytes"] >= 48 * SEG and facts["corruptions"] == []
    assert peak < 3 * 1024 * 1024, peak


# ------------------------------------------------------------------ pod listing


def test_pod_list_script_runs_here_and_matches_local_listing(tmp_path):
    d = tmp_path / "wal"
    shutil.copytree(REAL, d)
    (d / "checkpoint.00000099.tmp").mkdir()
    reading = wal_reader.PodReading(FakeTarget(), str(d), "none")
    assert reading.found
    pod = wal.parse_pod_listing(str(d), reading.listing)
    loc = wal.list_local(str(d), now=pod.now)
    assert pod.segments == [(i, n, s, int(m)) for i, n, s, m in loc.segments]
    ps, ls_ = pod.summary(), loc.summary()
    for key in ("size_bytes", "segment_count", "first_segment", "last_segment", "checkpoint", "checkpoints_in_progress"):
        if key == "checkpoint":
            assert ps[key]["name"] == ls_[key]["name"] and ps[key]["size_bytes"] == ls_[key]["size_bytes"]
        elif key == "checkpoints_in_progress":
            assert [c["name"] for c in ps[key]] == [c["name"] for c in ls_[key]]
        else:
            assert ps[key] == ls_[key], key
    assert pod.volume["capacity"] == loc.volume["capacity"]
    assert abs(pod.volume["used_ratio"] - loc.volume["used_ratio"]) < 0.01


def test_pod_list_script_missing_dir():
    reading = wal_reader.PodReading(FakeTarget(), "/nonexistent/wal", "tail")
    assert reading.found is False and reading.take("00000001", 0) is None


def test_parse_busybox_style_output():
    out = (
        "__NOW__ 1700000100\n"
        "134217728 1700000000 regular file|00000010\n"
        "2000 1700000050 regular file|00000011\n"
        "4096 1699990000 directory|checkpoint.00000009\n"
        "5000 1699990000 regular file|checkpoint.00000009/00000000\n"
        "__DF__\n"
        "Filesystem           1024-blocks    Used Available Capacity Mounted on\n"
        "/dev/sdb                 51290592 10485760  40804832  20% /prometheus\n"
    )
    listing = wal.parse_pod_listing("/prometheus/wal", out)
    s = listing.summary()
    assert (s["first_segment"], s["last_segment"], s["segment_count"]) == ("00000010", "00000011", 2)
    assert s["oldest_segment_age_seconds"] == 100
    assert s["checkpoint"] == {"name": "checkpoint.00000009", "index": 9, "size_bytes": 5000, "age_seconds": 10100}
    assert listing.volume["capacity"] == 51290592 * 1024
    assert listing.volume["used_ratio"] == round(10485760 / 51290592, 6)


def test_parse_gnu_ls_fallback_output():
    out = (
        "__NOW__ 100\n"
        "-rw-r--r-- 1 1000 1000 32768 50 00000001\n"
        "drwxr-xr-x 2 1000 1000 4096 60 checkpoint.00000000\n"
        "__DF__\n"
        "Filesystem 1-blocks Used Available Capacity Mounted on\n"
        "overlay 1000 250 750 25% /\n"
    )
    listing = wal.parse_pod_listing("/prometheus/wal", out)
    assert listing.segments == [(1, "00000001", 32768, 50.0)]
    assert listing.checkpoint["name"] == "checkpoint.00000000"
    assert listing.volume == {"capacity": 1000, "used": 250, "available": 750, "used_ratio": 0.25}


class FakeTarget:
    """exec/exec_stream on the local machine, like a pod's container would run them."""

    def __init__(self, chunk=65536):
        self.calls = []
        self.chunk = chunk

    def exec(self, argv, timeout=None):
        self.calls.append(argv)
        proc = subprocess.run(argv, capture_output=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    def exec_stream(self, argv, chunk_size=None):
        self.calls.append(argv)
        with subprocess.Popen(argv, stdout=subprocess.PIPE) as proc:
            while True:
                data = proc.stdout.read(self.chunk)
                if not data:
                    break
                yield data


def test_pod_opener_streams_with_cat_and_tail(genwal):
    target = FakeTarget(chunk=5000)
    listing = wal.parse_pod_listing(str(genwal), wal_reader.PodReading(target, str(genwal), "full").listing)
    report = wal.verify_listing(listing, "tail", wal.pod_opener(target, str(genwal)), live=True)
    local = wal.verify_listing(wal.list_local(str(genwal)), "tail", wal.local_opener(str(genwal)), live=True)
    assert report.verify_facts()["verified_bytes"] == local.verify_facts()["verified_bytes"]
    assert target.calls[1][:2] == ["tail", "-c"] and target.calls[2][0] == "cat"


def test_empty_first_fragment_when_seven_bytes_are_left(tmp_path):
    d = tmp_path / "wal"
    w = walgen.WalWriter(str(d), segment_size=SEG, compression="none")
    w.log(b"\x02" + bytes(32754 - 1))        # leaves exactly 7 bytes in the page
    w.log(b"\x01" + b"x" * 99)               # an empty first fragment, then the last one on the next page
    w.close()
    frags = walgen.read_fragments(d / "00000000")
    assert [(f[1], f[2]) for f in frags] == [(1, 32754), (2, 0), (4, 100)]
    _l, _r, facts = inspect(d, "full")
    assert facts["corruptions"] == []
    assert facts["verify"]["record_types"] == {"samples": 1, "series": 1}
    assert (facts["verify"]["records"], facts["verify"]["fragments"]) == (2, 3)
