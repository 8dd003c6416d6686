# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pod mode reads the WAL with one exec (``reader.PodReading``): the listing, then the files the
verification reads first, framed by a boundary. Run here on real WALs (a Prometheus 2.42 capture and
generated multi-segment ones) through the same shell script a container runs, and on outputs written
by hand for what a container can do to a reading (a file gone, a read refused, a stream cut)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import errors
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal import format as walmod
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal import reader

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "wal"
REAL = FIXTURES / "real-2.42"
sys.path.insert(0, str(FIXTURES))

import walgen  # noqa: E402  pylint: disable=wrong-import-position

SEG = 1024 * 1024


class LocalPod:
    """A pod whose container is this machine; its output arrives in pieces of ``chunk`` bytes
    (so boundaries and trailers fall across pieces); ``rewrite`` changes an argv before it runs."""

    def __init__(self, chunk=65536, rewrite=None):
        self.calls = []
        self.chunk = chunk
        self.rewrite = rewrite or (lambda argv: argv)
        self.namespace = "monitoring"
        self.pod_ref = "prom-agent-0"

    def exec(self, argv, timeout=None):
        self.calls.append(argv)
        proc = subprocess.run(self.rewrite(argv), capture_output=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    def exec_stream(self, argv, chunk_size=None):
        self.calls.append(argv)
        with subprocess.Popen(self.rewrite(argv), stdout=subprocess.PIPE) as proc:
            while True:
                data = proc.stdout.read(self.chunk)
                if not data:
                    break
                yield data


class Canned:
    """A pod whose exec prints ``output`` (bytes), in pieces of ``chunk``; then, if given, raises ``error``."""

    def __init__(self, output, chunk=7, error=None):
        self.output, self.chunk, self.error = output, chunk, error
        self.calls = []

    def exec_stream(self, argv, chunk_size=None):
        self.calls.append(argv)
        for i in range(0, len(self.output), self.chunk):
            yield self.output[i:i + self.chunk]
        if self.error:
            raise self.error

    def exec(self, argv, timeout=None):
        self.calls.append(argv)
        return 1, b"", b"not here"


def params(verify, **more):
    out = dict(path=None, verify=verify, agent_running=True, repair_preview=False, thresholds=None, timeout=None,
               debug_pod=False)
    out.update(more)
    return out


def pod_and_local(path, verify, target):
    pod = reader.inspect(params(verify, path=str(path)), "pod", target=target)
    local = reader.inspect(params(verify, path=str(path)), "local")
    return pod, local


def same_wal(pod, local):
    keys = ("segment_count", "last_segment", "size_bytes", "verified_bytes", "compression", "corruptions", "torn_tail")
    assert {k: pod["wal"].get(k) for k in keys} == {k: local["wal"].get(k) for k in keys}
    assert [(c["id"], c["status"]) for c in pod["checks"]] == [(c["id"], c["status"]) for c in local["checks"]]


@pytest.fixture
def genwal(tmp_path):
    d = tmp_path / "wal"
    pool = walgen.RecordPool(seed=11, targets=8, min_series=20, max_series=4000)
    walgen.write_wal(str(d), int(3.5 * SEG), segment_size=SEG, pool=pool, series_every=5)
    return d


@pytest.mark.parametrize("chunk", [1, 13, 4096, 1 << 20])
def test_one_exec_reads_what_local_mode_reads(chunk):
    for verify in ("tail", "none"):
        target = LocalPod(chunk=chunk)
        pod, local = pod_and_local(REAL, verify, target)
        same_wal(pod, local)
        assert [c[0] for c in target.calls] == ["sh"], verify
    assert pod["wal"]["compression"] == "snappy"


def test_one_exec_on_a_multi_segment_wal_with_a_corruption(genwal):
    seg = sorted(p for p in genwal.iterdir() if p.name.isdigit())[-2]
    size = seg.stat().st_size
    frag = next(off for off, typ, n in walgen.read_fragments(seg)
                if off >= size - walmod.TAIL_PAGES * walmod.PAGE_SIZE and typ & 7 in (1, 2) and n > 20)
    walgen.flip_byte(seg, frag + 7 + 1)
    target = LocalPod(chunk=5000)
    pod, local = pod_and_local(genwal, "tail", target)
    same_wal(pod, local)
    assert pod["wal"]["corruptions"] and pod["wal"]["corruptions"][0]["segment"] == seg.name
    assert pod["status"] == "critical" and len(target.calls) == 1


def test_full_verification_lists_in_the_one_exec_and_streams_each_file(genwal):
    target = LocalPod()
    pod, local = pod_and_local(genwal, "full", target)
    same_wal(pod, local)
    assert target.calls[0][0] == "sh" and {c[0] for c in target.calls[1:]} == {"cat"}
    assert len(target.calls) == 1 + local["wal"]["segment_count"]    # a generated WAL has no checkpoint


def test_a_file_not_the_one_planned_is_read_by_an_exec_of_its_own(genwal):
    # the container's script starts the tail one page later than the plan: the plan wins
    def one_page_less(argv):
        return argv[:-1] + ["1"] if argv[0] == "sh" else argv
    target = LocalPod(rewrite=one_page_less)
    pod, local = pod_and_local(genwal, "tail", target)
    same_wal(pod, local)
    assert [c[:2] for c in target.calls] == [["sh", "-c"], ["tail", "-c"], ["cat", str(genwal) + "/" + pod["wal"]["last_segment"]]]


def test_missing_directory_is_unknown():
    res = reader.inspect(params("tail", path="/nonexistent/wal"), "pod", target=LocalPod())
    assert res["status"] == "unknown" and "WAL directory /nonexistent/wal not found" in res["reason"]


LISTING = (b"__NOW__ 1700000100\n"
           b"65536 1700000000 regular file|00000001\n"
           b"__DF__\nFilesystem 1-blocks Used Available Capacity Mounted on\n/dev/x 1000 250 750 25% /p\n")
B = b"0123456789abcdef01234567"


def canned(*files, done=True):
    out = LISTING + B + b" files\n" + b"".join(files) + (B + b" done\n" if done else b"")
    return reader.PodReading(Canned(out), "/p/wal", "tail", boundary=B.decode())


def test_the_listing_and_a_framed_file_whatever_bytes_it_holds():
    data = b"\n" + B[:-1] + b" end \x00\n" + bytes(range(256)) * 3     # looks almost like a trailer
    reading = canned(B + b" file 0 00000001\n" + data + b"\n" + B + b" end 0 1 \n")
    assert reading.found and reading.listing == LISTING
    assert reading.take("00000002", 0) is None           # not the next file: the output is given up
    reading = canned(B + b" file 0 00000001\n" + data + b"\n" + B + b" end 0 1 \n")
    assert b"".join(reading.take("00000001", 0)) == data
    assert reading.take("00000001", 0) is None           # the end of the output


def test_a_file_gone_and_a_read_refused():
    gone = canned(B + b" file 0 00000001\n\n" + B + b" end 1 0 cat: can't open '00000001': No such file or directory\n")
    with pytest.raises(FileNotFoundError):
        b"".join(gone.take("00000001", 0))
    refused = canned(B + b" file 0 00000001\n\n" + B + b" end 1 1 cat: can't open '00000001': Permission denied\n")
    with pytest.raises(errors.FleetopsError, match="reading 00000001 in the pod failed \\(exit 1\\): .*Permission denied"):
        b"".join(refused.take("00000001", 0))


def test_a_stream_cut_inside_a_file_or_the_listing():
    cut = canned(B + b" file 0 00000001\n" + b"\x01" * 100, done=False)
    with pytest.raises(errors.TargetUnreachable, match="ended inside file 00000001"):
        b"".join(cut.take("00000001", 0))
    assert cut.take("00000001", 0) is None
    with pytest.raises(errors.TargetUnreachable, match="ended before its listing did"):
        reader.PodReading(Canned(LISTING), "/p/wal", "tail", boundary=B.decode())
    with pytest.raises(errors.TargetUnreachable, match="reset"):
        reader.PodReading(Canned(LISTING, error=errors.TargetUnreachable("connection reset")), "/p/wal", "tail")


def test_a_file_left_half_read_gives_up_the_output():
    reading = canned(B + b" file 0 00000001\n" + b"\x02" * 50 + b"\n" + B + b" end 0 1 \n")
    chunks = reading.take("00000001", 0)
    next(chunks)
    chunks.close()
    assert reading.take("00000001", 0) is None


def test_broken_reading_through_inspect_keeps_the_listing(tmp_path):
    wal = tmp_path / "wal"
    shutil.copytree(REAL, wal)

    class Cut(LocalPod):
        def exec_stream(self, argv, chunk_size=None):
            sent = 0
            for data in super().exec_stream(argv, chunk_size):
                sent += len(data)
                yield data
                if argv[0] == "sh" and sent > 70000:
                    raise errors.TargetUnreachable("stream reset by peer")
    res = reader.inspect(params("tail", path=str(wal)), "pod", target=Cut(chunk=4096))
    health = {c["id"]: c for c in res["checks"]}["WAL-HEALTH"]
    assert health["status"] == "unknown" and "stream reset by peer" in health["message"]
    assert res["wal"]["segment_count"] == 4
