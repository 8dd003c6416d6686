"""The fault matrix (issue 8): every fault the world can throw at the fleet, against the lab.

For each fault: the right check has the right status for that cluster, the other clusters are
unaffected (all their checks ok), the play completes, the report is written and no traceback
shows anywhere. Faults are grouped in rounds: one run of ``fleetops.prometheus_agent.daily`` per
round, with at most two lab clusters in trouble (the third is the control) plus extra inventory
hosts that need no lab change (another CA, a dead server, an unresolvable name, bad /metrics
pages served by a local HTTP server to DIRECT-mode hosts). Receiver faults hit every cluster
(one receiver): their rounds are alone and "isolated" means the agents' own checks stay ok.

Every fault is healed in ``finally``; faults that leave traces the next run would see (restart
counts, log lines of the last day, process counters) are healed by deleting the pod, as an
operator would. The matrix is printed at the end of the session and written to
tests/output/fault-matrix.md (conftest.py).
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from labkit.faults import closed_segments_with_data, list_segments, record_fragments  # the lab's own WAL helpers
from labkit.runtime import http_request
from lab_fixtures import lab_status, reset_pod, wait_for, wait_scraping
from reliability_helpers import (AGENT_SIDE_CHECKS, TIMEOUT_PATTERN, MATRIX, MatrixRow, MetricsFaultServer, SilentServer,
                                 derived_kubeconfig, describe_checks, direct_host_vars, kube_host_vars, other_ca_pem,
                                 real_clusters, run_daily, write_inventory)

pytestmark = [pytest.mark.lab, pytest.mark.slow]

SLOTS = ("a", "b", "c")  # the three lab clusters, sorted


# ============================================================================ the cases

@dataclass
class Case:
    """One row of the matrix."""

    fault: str
    round: int
    slot: str                 # a/b/c (a lab cluster), "all" (every cluster) or "extra" (an extra host)
    expected: str
    detect: Callable          # (DailyRun, host) -> (detected, observed)
    inject: Callable = None   # (Ctx, host) -> None, waits until the fault shows
    heal: Callable = None     # (Ctx, host) -> None
    host_vars: dict = None    # extra vars of the faulted lab host (e.g. fleet_wal_verify)


def _check(run, host, cid):
    return run.checks(host).get(cid) or {"status": "missing", "message": "no %s check in the report" % cid}


def expect_status(cid, statuses, pattern=None):
    """Detected when check ``cid`` of the host has one of ``statuses`` (and its message matches)."""
    def detect(run, host):
        c = _check(run, host, cid)
        ok = c["status"] in statuses and (pattern is None or re.search(pattern, str(c.get("message")), re.I))
        return bool(ok), "%s %s: %s" % (cid, c["status"], str(c.get("message"))[:160])
    return detect


def expect_unknown_cluster(pattern):
    """The cluster could not be read: status unknown, POD unknown saying why (``pattern``)."""
    def detect(run, host):
        cl = run.cluster(host)
        c = _check(run, host, "POD")
        text = " ".join([str(c.get("message"))] + [str(x) for x in cl.get("errors") or []] + [str(cl.get("reason") or "")])
        ok = cl.get("status") == "unknown" and c["status"] == "unknown" and re.search(pattern, text, re.I)
        return bool(ok), "cluster %s, POD %s: %s" % (cl.get("status"), c["status"], str(c.get("message"))[:160])
    return detect


def expect_all(*detectors):
    def detect(run, host):
        found = [d(run, host) for d in detectors]
        return all(f[0] for f in found), " / ".join(f[1] for f in found)
    return detect


def expect_any(*detectors):
    def detect(run, host):
        found = [d(run, host) for d in detectors]
        return any(f[0] for f in found), " / ".join(f[1] for f in found)
    return detect


# ---------------------------------------------------------------------------- injections

def lab_fault(name, settle=None, reset=False, wait_ready=False):
    """inject/heal of a lab fault (``fleetlab fault NAME --cluster``); ``reset``: new pods after the heal."""
    def inject(ctx, host):
        ctx.lab.fault(name, None if host == "all" else host)
        if settle:
            settle(ctx, host)

    def heal(ctx, host):
        ctx.lab.heal(name, None if host == "all" else host)
        if wait_ready:
            ctx.lab.wait_ready(host, 120)
        for _attempt in range(int(reset)):
            reset_pod(ctx.lab, host)
        if host != "all" and (wait_ready or reset):
            wait_scraping(ctx.lab, host)
    return inject, heal


def sleep_for(seconds):
    return lambda ctx, host: time.sleep(seconds)


def until_restarted(ctx, host):
    wait_for(lambda: lab_status(ctx.lab, host)["restart_count"] >= 1, 60, what="the kubelet restarting %s" % host)
    ctx.lab.wait_ready(host, 60)


def until_crashlooping(ctx, host):
    wait_for(lambda: lab_status(ctx.lab, host)["waiting_reason"] == "CrashLoopBackOff"
             and lab_status(ctx.lab, host)["restart_count"] >= 2, 60, what="%s in CrashLoopBackOff" % host)


def until_terminating(ctx, host):
    wait_for(lambda: lab_status(ctx.lab, host)["terminating"] and not lab_status(ctx.lab, host)["pid"], 60,
             what="the pod of %s stuck Terminating" % host)


def until_ready(ctx, host):
    ctx.lab.wait_ready(host, 120)


def until_receiver_ready(ctx, _host=None):
    url = ctx.lab.state["receiver"]["url"]
    wait_for(lambda: http_request(url + "/-/ready", timeout=2)[0] == 200, 60, what="the receiver ready")


def _data_segments(wal_dir):
    return [p for p in list_segments(Path(wal_dir)) if p.stat().st_size > 0]


def _ensure_closed_segment(ctx, host):
    """Every agent start opens a new segment: a new pod closes the one it was writing."""
    wal = ctx.lab.state["clusters"][host]["wal_dir"]
    if not closed_segments_with_data(Path(wal)):
        reset_pod(ctx.lab, host)
        wait_for(lambda: closed_segments_with_data(Path(wal)), 60, what="a closed WAL segment with data on %s" % host)


def torn_tail_inject(ctx, host):
    """Cut the newest closed segment in the middle of its last record (a torn write), on disk."""
    _ensure_closed_segment(ctx, host)
    seg = closed_segments_with_data(Path(ctx.lab.state["clusters"][host]["wal_dir"]))[-1]
    data = seg.read_bytes()
    frags = record_fragments(data)
    assert frags, "no record in %s" % seg
    off, _typ, length = frags[-1]
    cut = off + 7 + max(1, length // 2)
    ctx.saved[host] = ("torn", seg, data)
    seg.write_bytes(data[:cut])


def torn_tail_heal(ctx, host):
    _kind, seg, data = ctx.saved.pop(host)
    seg.write_bytes(data)


def checkpoint_inject(ctx, host):
    """A checkpoint directory whose file has a record with flipped bytes (CRC-32C mismatch)."""
    wal = Path(ctx.lab.state["clusters"][host]["wal_dir"])
    segs = _data_segments(wal)
    assert segs, "no WAL segment on %s" % host
    first = int(list_segments(wal)[0].name)
    cpdir = wal / ("checkpoint.%08d" % max(first - 1, 0))
    data = bytearray(segs[0].read_bytes())
    frags = [f for f in record_fragments(bytes(data)) if f[1] in (1, 2) and f[2] >= 8]
    assert frags, "no record to corrupt in %s" % segs[0]
    off, _typ, length = frags[len(frags) // 2]
    for i in range(off + 7 + length // 2, off + 7 + length // 2 + 4):
        data[i] ^= 0xFF
    cpdir.mkdir()
    (cpdir / "00000000").write_bytes(bytes(data))
    ctx.saved[host] = ("checkpoint", cpdir, None)


def checkpoint_heal(ctx, host):
    """Remove the corrupt checkpoint, then a new pod (a fresh log), as the wal-corrupt case does: while
    the checkpoint was there the running agent may have read it (its WAL truncation does) and logged
    the corruption, and a later round's WAL-HEALTH on this cluster then judged that log line (once
    in a CI-loaded fresh-clone run: "receiver 4xx" found lab-3's WAL-HEALTH critical)."""
    _kind, cpdir, _unused = ctx.saved.pop(host)
    shutil.rmtree(cpdir, ignore_errors=True)
    reset_pod(ctx.lab, host)
    wait_scraping(ctx.lab, host)


def nothing(ctx, host):  # pylint: disable=unused-argument
    return None


TLS_RE = r"certificate|CERTIFICATE_VERIFY_FAILED|TLS|SSL"
REFUSED_RE = r"refused|unreachable|cannot connect|could not connect|connect"
DNS_RE = r"resolv|name or service|getaddrinfo|DNS|not known|nodename|no address|Name"
TIMEOUT_RE = TIMEOUT_PATTERN

_bc = lab_fault("bad-config")
_ae = lab_fault("api-error")
# a full volume tears the WAL tail: the next start repairs it and logs the repair (WAL-HEALTH
# critical for a day); a second new pod starts from the repaired WAL with a clean log
_df = lab_fault("disk-full", settle=sleep_for(8), reset=2)
_aa = lab_fault("api-auth")
_ak = lab_fault("agent-kill", settle=until_restarted, reset=True)
_as = lab_fault("api-slow")
_cl = lab_fault("crashloop", settle=until_crashlooping, wait_ready=True, reset=True)
_wc = lab_fault("wal-corrupt", settle=until_ready, reset=True)
_st = lab_fault("stuck-terminating", settle=until_terminating, wait_ready=True)
_rd = lab_fault("receiver-down", settle=sleep_for(20))
_r4 = lab_fault("receiver-4xx", settle=lambda ctx, host: (until_receiver_ready(ctx), time.sleep(15)))

CASES = [
    # round 1: a config reload that fails, API 500s; another CA, a dead port, a name that does not resolve
    Case("bad-config reload", 1, "a", "CONFIG critical (the agent keeps its last good config)",
         expect_status("CONFIG", {"critical"}), *_bc),
    Case("API server 500s", 1, "b", "unknown: POD unknown, the API error said",
         expect_unknown_cluster(r"500|internal|server error"), *_ae),
    Case("TLS CA mismatch", 1, "extra", "unknown: POD unknown with a TLS/certificate message",
         expect_unknown_cluster(TLS_RE)),
    Case("connection refused", 1, "extra", "unknown: POD unknown, connection refused",
         expect_unknown_cluster(REFUSED_RE)),
    Case("DNS unresolvable", 1, "extra", "unknown: POD unknown, the name does not resolve",
         expect_unknown_cluster(DNS_RE)),
    # issue 17: an API server that accepts and never answers (fleet_module_timeout 5)
    Case("API silent, no TLS", 1, "extra", "unknown: POD unknown, timed out, within the timeout",
         expect_unknown_cluster(TIMEOUT_RE)),
    Case("API silent after TLS", 1, "extra", "unknown: POD unknown, timed out, within the timeout",
         expect_unknown_cluster(TIMEOUT_RE)),
    # round 2: a full volume, a revoked token; a page of garbage
    Case("disk full", 2, "b", "WAL-HEALTH critical (volume full, WAL writes failed: grow the PVC / free space)",
         expect_status("WAL-HEALTH", {"critical"}, r"full|no space left"), *_df),
    Case("token revoked (401)", 2, "c", "unknown: POD unknown, unauthorized",
         expect_unknown_cluster(r"401|unauthori[sz]ed|token|credential|forbidden|auth"), *_aa),
    Case("metrics page of garbage", 2, "extra", "CONFIG unknown (no exposition format), HEALTH ok",
         expect_all(expect_status("CONFIG", {"unknown"}), expect_status("HEALTH", {"ok"}))),
    # round 3: the agent killed, the API too slow; a 50 MB page
    Case("agent killed", 3, "c", "RESTARTS warning (restarted once)",
         expect_status("RESTARTS", {"warning", "critical"}), *_ak),
    Case("API timeout", 3, "a", "unknown: POD unknown, timed out (fleet_module_timeout 5)",
         expect_unknown_cluster(TIMEOUT_RE), *_as, host_vars={"fleet_module_timeout": 5}),
    Case("50 MB metrics page", 3, "extra", "read: CONFIG ok and MEMORY ok from the big page (or unknown: too large)",
         expect_any(expect_all(expect_status("CONFIG", {"ok"}), expect_status("MEMORY", {"ok"})),
                    expect_status("CONFIG", {"unknown"}, r"too (large|big)|size|limit|MB"))),
    # round 4: crash-looping, a torn tail; a /metrics that hangs
    Case("agent crash-looping", 4, "a", "POD critical (CrashLoopBackOff)",
         expect_status("POD", {"critical"}, r"crash|back-?off"), *_cl),
    Case("WAL torn tail", 4, "b", "WAL-HEALTH critical (last record torn), verify full",
         expect_status("WAL-HEALTH", {"critical"}, r"torn|unexpected|incomplete|EOF|trunc"), torn_tail_inject,
         torn_tail_heal, host_vars={"fleet_wal_verify": "full"}),
    # HEALTH may go unknown too: the module's time budget (fleet_module_timeout) is spent waiting on /metrics
    Case("/metrics hangs", 4, "extra", "CONFIG, MEMORY, INGEST unknown (timed out); HEALTH ok or unknown, never critical",
         expect_all(expect_status("CONFIG", {"unknown"}, TIMEOUT_RE), expect_status("MEMORY", {"unknown"}),
                    expect_status("INGEST", {"unknown"}), expect_status("HEALTH", {"ok", "unknown"}))),
    # round 5: WAL corrupt mid-segment (repaired at start), a corrupt checkpoint
    Case("WAL corrupt mid-segment", 5, "b", "WAL-HEALTH critical (corruption and repair in the logs)",
         expect_status("WAL-HEALTH", {"critical"}), *_wc, host_vars={"fleet_wal_verify": "full"}),
    Case("corrupt checkpoint", 5, "c", "WAL-HEALTH critical (checkpoint CRC mismatch), verify full",
         expect_status("WAL-HEALTH", {"critical"}, r"checkpoint"), checkpoint_inject, checkpoint_heal,
         host_vars={"fleet_wal_verify": "full"}),
    # round 6: a pod stuck Terminating
    Case("pod stuck terminating", 6, "c", "POD not ok (Terminating), HEALTH critical",
         expect_all(expect_status("POD", {"warning", "critical"}), expect_status("HEALTH", {"critical"})), *_st),
    # rounds 7 and 8: the receiver (one for the whole lab: every cluster sees it)
    Case("receiver down", 7, "all", "every cluster RW-RETRY or RW-LAG critical; agents' own checks ok",
         expect_any(expect_status("RW-RETRY", {"critical"}), expect_status("RW-LAG", {"critical"})), *_rd),
    Case("receiver 4xx", 8, "all", "every cluster RW-SUCCESS critical (non-recoverable failures)",
         expect_status("RW-SUCCESS", {"critical"}), *_r4),
]

EXTRA_HOSTS = {  # extra inventory host of each "extra" case
    "TLS CA mismatch": "tls-ca-mismatch",
    "connection refused": "conn-refused",
    "DNS unresolvable": "dns-unresolvable",
    "API silent, no TLS": "api-silent-tcp",
    "API silent after TLS": "api-silent-tls",
    "metrics page of garbage": "direct-garbage",
    "50 MB metrics page": "direct-50mb",
    "/metrics hangs": "direct-hang",
}


# ============================================================================ the rounds

class Ctx:
    """What the rounds share: the lab, a work directory, the extra kubeconfig, the metrics server."""

    def __init__(self, lab, workdir: Path):
        self.lab = lab
        self.workdir = workdir
        self.clusters = dict(zip(SLOTS, real_clusters(lab)))
        self.saved = {}
        self.silent = {"api-silent-tcp": SilentServer(), "api-silent-tls": SilentServer(tls=True)}
        self.kubeconfig = derived_kubeconfig(lab, workdir / "extra-kubeconfig", dict({
            name: {"from": self.clusters["a"], "server": srv.url, "ca_pem": srv.ca_pem} for name, srv in self.silent.items()}, **{
            "tls-ca-mismatch": {"from": self.clusters["a"], "ca_pem": other_ca_pem()},
            "conn-refused": {"from": self.clusters["a"], "server": "https://127.0.0.1:1"},
            "dns-unresolvable": {"from": self.clusters["a"], "server": "https://no-such-cluster.fleetops.invalid:6443"},
        }))
        self.server = MetricsFaultServer(lab.agent_url(self.clusters["a"])).start()
        self.results = {}

    def host_of(self, case):
        if case.slot == "extra":
            return EXTRA_HOSTS[case.fault]
        if case.slot == "all":
            return "all"
        return self.clusters[case.slot]

    def extra_host_vars(self, host, control):
        wal = self.lab.state["clusters"][control]["wal_dir"]
        if host in self.silent:
            return dict(kube_host_vars(self.lab, self.kubeconfig, host, self.clusters["a"]), fleet_module_timeout=5)
        if host in ("tls-ca-mismatch", "conn-refused", "dns-unresolvable"):
            return kube_host_vars(self.lab, self.kubeconfig, host, self.clusters["a"])
        mode = {"direct-garbage": "garbage", "direct-50mb": "big", "direct-hang": "hang"}[host]
        extra = {"fleet_module_timeout": 5} if mode == "hang" else {"fleet_module_timeout": 60}
        return direct_host_vars(self.server.url(mode), wal, **extra)

    def close(self):
        self.server.stop()
        for server in self.silent.values():
            server.stop()

    def run_round(self, number):
        """Inject the round's faults, run the daily playbook once, heal (always); one row per case."""
        if number in self.results:
            return self.results[number]
        cases = [c for c in CASES if c.round == number]
        lab_hosts = list(self.clusters.values())
        faulted = {self.host_of(c) for c in cases if c.slot in SLOTS}
        is_global = any(c.slot == "all" for c in cases)
        controls = [] if is_global else [h for h in lab_hosts if h not in faulted]
        rows = {c.fault: MatrixRow(c.fault, self.host_of(c) if c.slot != "all" else "all clusters", "R%d" % number,
                                   c.expected) for c in cases}
        injected = []
        run = None
        workdir = self.workdir / ("round-%d" % number)
        workdir.mkdir()
        try:
            if controls:
                self.server.upstream = self.lab.agent_url(controls[0])
            for case in cases:
                if case.inject:
                    case.inject(self, self.host_of(case))
                    injected.append(case)
            host_vars = {self.host_of(c): c.host_vars for c in cases if c.host_vars and c.slot in SLOTS}
            extra = {self.host_of(c): self.extra_host_vars(self.host_of(c), controls[0]) for c in cases if c.slot == "extra"}
            inventory = write_inventory(self.lab, workdir / "inventory.yml", extra_hosts=extra, host_vars=host_vars)
            run = run_daily(inventory, workdir)
        except Exception as exc:  # pylint: disable=broad-except
            for row in rows.values():
                row.observed = "the round could not run: %s: %s" % (type(exc).__name__, exc)
        finally:
            for case in reversed(injected):
                try:
                    case.heal(self, self.host_of(case))
                except Exception as exc:  # pylint: disable=broad-except
                    rows[case.fault].notes.append("HEAL FAILED: %s: %s" % (type(exc).__name__, exc))
        if run is not None:
            self._evaluate(run, cases, rows, lab_hosts, controls, list(extra))
        self.results[number] = (run, rows)
        return self.results[number]

    def _evaluate(self, run, cases, rows, lab_hosts, controls, extra_hosts):  # pylint: disable=too-many-arguments
        hosts = lab_hosts + extra_hosts
        completed, why = run.completed(hosts)
        report = run.report_written()
        tracebacks = run.tracebacks()
        for case in cases:
            row = rows[case.fault]
            row.completed, row.report, row.no_traceback = completed, report, not tracebacks
            if not completed:
                row.notes.append("play: " + why)
            if tracebacks:
                row.notes.append("traceback: " + tracebacks[0])
            if case.slot == "all":
                found = [case.detect(run, h) for h in lab_hosts]
                row.detected = all(f[0] for f in found)
                row.observed = "; ".join("%s %s" % (h, f[1]) for h, f in zip(lab_hosts, found))
                bad = {h: describe_checks(run.checks(h), AGENT_SIDE_CHECKS, only_bad=True) for h in lab_hosts}
                bad = {h: b for h, b in bad.items() if b}
                row.isolated = not bad
                if bad:
                    row.notes.append("agents' own checks not ok: %s" % bad)
            else:
                row.detected, row.observed = case.detect(run, self.host_of(case))
                bad = {h: describe_checks(run.checks(h), only_bad=True) or "status %s" % run.cluster(h).get("status")
                       for h in controls if run.cluster(h).get("status") != "ok"}
                row.isolated = bool(controls) and not bad
                if bad:
                    row.notes.append("control cluster not ok: %s" % bad)
            row.notes.append("run %.0fs" % run.seconds)


@pytest.fixture(scope="module")
def matrix_ctx(lab, tmp_path_factory):
    ctx = Ctx(lab, tmp_path_factory.mktemp("fault-matrix"))
    try:
        yield ctx
    finally:
        ctx.close()


def test_lab_is_healthy_before_the_matrix(lab):
    """Every agent of the lab ready and no fault active: the matrix starts from a clean lab."""
    status = lab.status()
    assert not status.get("active_faults"), status.get("active_faults")
    for cluster in real_clusters(lab):
        lab.wait_ready(cluster, 60)


@pytest.mark.parametrize("case", CASES, ids=[c.fault for c in CASES])
def test_fault(case, matrix_ctx):
    run, rows = matrix_ctx.run_round(case.round)
    row = rows[case.fault]
    MATRIX.add(row)
    detail = "%s on %s (round %s): expected %s\nobserved: %s\nnotes: %s" % (
        case.fault, row.where, row.round, case.expected, row.observed, "; ".join(row.notes))
    if run is not None and not row.passed:
        detail += "\n--- output tail ---\n" + run.output[-3000:]
    assert row.passed, detail


def test_matrix_counts():
    """Every row of the matrix passed: N faults, N detected, N isolated."""
    assert MATRIX.rows, "no row recorded"
    MATRIX.write()      # tests/output/fault-matrix.md (also what the end-of-run summary prints under xdist)
    n = len(MATRIX.rows)
    assert n == len(CASES), MATRIX.counts()
    assert sum(r.detected for r in MATRIX.rows) == n and sum(r.isolated for r in MATRIX.rows) == n, MATRIX.counts()
