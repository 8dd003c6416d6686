"""Helpers of the reliability suite (issue 8): inventories with extra broken hosts, kubeconfigs
with another CA / a dead server, a local HTTP server that serves bad /metrics pages, the pod
reset used to heal faults that leave traces (restart counts, log lines, counters), the
checks of one daily run (play completed, report written, no traceback) and the fault matrix.

Nothing here edits the repository: every file goes to a temporary directory, the matrix to
tests/output/fault-matrix.md.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from ansible_runner_helpers import REPO_ROOT, run_playbook

# extra environment of the suite's ansible runs (the shared helpers already load the
# result_dump callback of tests/integration/plugins/callback)
ANSIBLE_ENV = {}
MATRIX_FILE = REPO_ROOT / "tests" / "output" / "fault-matrix.md"
DAILY_CHECKS = ("POD", "RESTARTS", "HEALTH", "RW-SUCCESS", "RW-RETRY", "RW-LAG", "RW-PENDING", "RW-SHARDS", "RW-LATENCY", "RW-DROPPED",
                "WAL-SIZE", "WAL-HEALTH", "MEMORY", "INGEST", "CONFIG")
# the checks an agent answers for itself: a receiver outage must leave them ok
# what a timed-out reading says: "timed out", or "did not answer in time (the deadline of 5s passed)"
TIMEOUT_PATTERN = r"time(d)?[ -]?out|in time"
AGENT_SIDE_CHECKS = ("POD", "RESTARTS", "HEALTH", "WAL-SIZE", "WAL-HEALTH", "MEMORY", "INGEST", "CONFIG")
# what a broken run leaves in the output: a Python traceback, a module that crashed
TRACEBACK_PATTERNS = (
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r"MODULE FAILURE"),
    re.compile(r"\"module_stderr\""),
    re.compile(r"An exception occurred during task execution"),
)
REPORT_FILES = ("fleet-report.json", "fleet-report.md", "fleet-report.html", "fleet-report.prom")


# ----------------------------------------------------------------------------- lab helpers

def real_clusters(lab) -> list:
    return sorted(n for n, c in lab.state["clusters"].items() if not c.get("synthetic"))


# ----------------------------------------------------------------------------- inventories

def lab_inventory_data(lab) -> dict:
    with open(os.path.join(lab.workdir, "inventory.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def write_inventory(lab, path, extra_hosts: dict | None = None, host_vars: dict | None = None,
                    only: list | None = None) -> str:
    """A copy of the lab inventory (group ``fleet``) with ``extra_hosts`` added to it and
    ``host_vars`` merged into the lab hosts. ``only``: keep only these lab hosts."""
    data = lab_inventory_data(lab)
    fleet = data["all"]["children"]["fleet"]
    hosts = fleet.setdefault("hosts", {})
    if only is not None:
        for name in list(hosts):
            if name not in only:
                del hosts[name]
    for name, hv in (host_vars or {}).items():
        hosts.setdefault(name, {}).update(hv)
    for name, hv in (extra_hosts or {}).items():
        hosts[name] = dict(hv)
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)


def load_kubeconfig(lab) -> dict:
    with open(os.path.join(lab.workdir, "kubeconfig"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def other_ca_pem() -> bytes:
    """A CA certificate the lab's API server was not signed by (trustme, else cryptography)."""
    try:
        import trustme  # pylint: disable=import-outside-toplevel
        return trustme.CA(organization_name="not the fleetops lab").cert_pem.bytes()
    except ImportError:  # pragma: no cover - trustme is in requirements-dev.txt
        import datetime  # pylint: disable=import-outside-toplevel
        from cryptography import x509  # pylint: disable=import-outside-toplevel
        from cryptography.hazmat.primitives import hashes, serialization  # pylint: disable=import-outside-toplevel
        from cryptography.hazmat.primitives.asymmetric import ec  # pylint: disable=import-outside-toplevel
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(x509.oid.NameOID.ORGANIZATION_NAME, "not the fleetops lab")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM)


def derived_kubeconfig(lab, path, contexts: dict) -> str:
    """Write a kubeconfig of new contexts derived from the lab's.

    ``contexts``: {new name: {"from": lab context, "server": URL (optional), "ca_pem": bytes
    (optional: replaces the CA data), "no_ca": True (optional: drop the CA data), "token": str
    (optional)}}."""
    base = load_kubeconfig(lab)
    clusters = {c["name"]: c for c in base["clusters"]}
    users = {u["name"]: u for u in base["users"]}
    ctxs = {c["name"]: c for c in base["contexts"]}
    out = {"apiVersion": "v1", "kind": "Config", "preferences": {}, "clusters": [], "users": [], "contexts": [],
           "current-context": next(iter(contexts))}
    for name, spec in contexts.items():
        src = ctxs[spec.get("from", real_clusters(lab)[0])]["context"]
        cluster = copy.deepcopy(clusters[src["cluster"]]["cluster"])
        user = copy.deepcopy(users[src["user"]]["user"])
        if spec.get("server"):
            cluster["server"] = spec["server"]
        if spec.get("ca_pem"):
            cluster["certificate-authority-data"] = base64.b64encode(spec["ca_pem"]).decode("ascii")
        if spec.get("no_ca"):
            cluster.pop("certificate-authority-data", None)
            cluster.pop("certificate-authority", None)
        if spec.get("token"):
            user["token"] = spec["token"]
        out["clusters"].append({"name": name, "cluster": cluster})
        out["users"].append({"name": name, "user": user})
        out["contexts"].append({"name": name, "context": {"cluster": name, "user": name,
                                                          "namespace": src.get("namespace", "monitoring")}})
    Path(path).write_text(yaml.safe_dump(out, sort_keys=False), encoding="utf-8")
    os.chmod(path, 0o600)
    return str(path)


def kube_host_vars(lab, kubeconfig, context, template_host=None) -> dict:
    """Host vars of an extra inventory host reached through ``context`` of ``kubeconfig``,
    looking for the agent of ``template_host`` (a lab cluster)."""
    template_host = template_host or real_clusters(lab)[0]
    info = lab.state["clusters"][template_host]
    return {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "kubeconfig": str(kubeconfig), "kube_context": context, "agent_namespace": info["namespace"],
            "agent_pod": info["pod"]}


def direct_host_vars(url, wal_path, **extra) -> dict:
    """Host vars of a DIRECT-mode host (an agent outside Kubernetes: ``agent_url``)."""
    hv = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
          "agent_url": url, "agent_wal_path": str(wal_path)}
    hv.update(extra)
    return hv


# ----------------------------------------------------------------------------- bad /metrics pages

GARBAGE_PAGE = (b"<html><body><h1>502 Bad Gateway</h1></body></html>\n"
                b"\x00\xff\xfe binary \x89PNG\r\n\x1a\n"
                b"prometheus_build_info{version=\"2.42.0\" 1\n"
                b"}}}{{{ not = a metric\n" * 40)


def padding_page(size: int) -> bytes:
    """``size`` bytes of valid exposition text: many series of one gauge family."""
    lines = [b"# HELP fleetops_padding_series Padding that makes the page big.\n",
             b"# TYPE fleetops_padding_series gauge\n"]
    total = sum(len(x) for x in lines)
    i = 0
    while total < size:
        line = b'fleetops_padding_series{shard="%d",series="%09d",pad="xxxxxxxxxxxxxxxxxxxx"} %d\n' % (i % 64, i, i)
        lines.append(line)
        total += len(line)
        i += 1
    return b"".join(lines)


class MetricsFaultServer:
    """A tiny local HTTP server standing in for agents reached directly (``agent_url``).

    Every path is proxied to ``upstream`` (a real lab agent) except ``/<mode>/metrics``:
    ``garbage`` answers a page that is no exposition format, ``big`` the real page followed by
    ``big_size`` bytes of valid series (about 50 MB), ``hang`` never answers (until stop)."""

    def __init__(self, upstream: str, big_size: int = 50 * 1024 * 1024):
        self.upstream = upstream.rstrip("/")
        self.padding = padding_page(big_size)
        self.stopping = threading.Event()
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                pass

            def do_GET(self):  # pylint: disable=invalid-name
                outer.requests.append(self.path)
                parts = self.path.split("/", 2)
                mode, rest = (parts[1], "/" + parts[2]) if len(parts) == 3 else ("", self.path)
                if rest.split("?")[0] == "/metrics" and mode == "hang":
                    outer.stopping.wait(600)
                    return
                if rest.split("?")[0] == "/metrics" and mode == "garbage":
                    self._send(200, GARBAGE_PAGE, "text/plain; version=0.0.4")
                    return
                status, body, ctype = outer.fetch(rest)
                if rest.split("?")[0] == "/metrics" and mode == "big" and status == 200:
                    body = body + outer.padding
                self._send(status, body, ctype)

            def _send(self, status, body, ctype):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="metrics-fault-server", daemon=True)

    def url(self, mode: str) -> str:
        return "http://127.0.0.1:%d/%s" % (self.port, mode)

    def fetch(self, path):
        try:
            with urllib.request.urlopen(self.upstream + path, timeout=10) as resp:
                return resp.status, resp.read(), resp.headers.get("Content-Type", "text/plain")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), "text/plain"
        except OSError as exc:
            return 502, ("upstream: %s" % exc).encode(), "text/plain"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


# ----------------------------------------------------------------------------- silent servers

class SilentServer:
    """A server on 127.0.0.1 that accepts every connection and never sends a byte (issue 17): with
    ``tls`` it first completes the TLS handshake (a certificate for 127.0.0.1 signed by ``ca_pem``,
    a trustme CA), else it does not even do that. Put its ``url`` as the ``server`` of a kubeconfig
    (with ``ca_pem`` as its CA) to make an API server that is there and never answers."""

    def __init__(self, tls: bool = False):
        import trustme  # pylint: disable=import-outside-toplevel
        ca = trustme.CA(organization_name="fleetops silent server")
        self.ca_pem = ca.cert_pem.bytes()
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH) if tls else None
        if tls:
            ca.issue_cert("127.0.0.1").configure_cert(self._tls)
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(256)
        self.port = self._sock.getsockname()[1]
        self.url = "https://127.0.0.1:%d" % self.port
        self.accepted = 0
        self._held = []
        threading.Thread(target=self._accept, name="silent-server", daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _addr = self._sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self._tls is not None:
                threading.Thread(target=self._handshake, args=(conn,), daemon=True).start()
            else:
                self._held.append(conn)

    def _handshake(self, conn):
        try:
            conn.settimeout(30)
            self._held.append(self._tls.wrap_socket(conn, server_side=True))
        except (OSError, ssl.SSLError):
            conn.close()

    def stop(self):
        for sock in [self._sock] + self._held:
            try:
                sock.close()
            except OSError:
                pass


# ----------------------------------------------------------------------------- the daily run

@dataclass
class DailyRun:
    """One run of the daily playbook and what it left."""

    run: object
    report_dir: Path
    doc: dict | None
    seconds: float

    @property
    def output(self) -> str:
        return self.run.output

    def checks(self, host) -> dict:
        return {c["id"]: c for c in ((self.doc or {}).get("clusters", {}).get(host, {}).get("checks") or [])}

    def cluster(self, host) -> dict:
        return (self.doc or {}).get("clusters", {}).get(host) or {}

    def report_written(self) -> bool:
        return self.doc is not None and all((self.report_dir / f).is_file() and (self.report_dir / f).stat().st_size
                                            for f in REPORT_FILES)

    def tracebacks(self) -> list:
        """Lines of the output (and of the report files) that show a crash."""
        found = []
        texts = [("output", self.run.output)]
        for name in REPORT_FILES:
            path = self.report_dir / name
            if path.is_file():
                texts.append((name, path.read_text(encoding="utf-8", errors="replace")))
        for where, text in texts:
            for pat in TRACEBACK_PATTERNS:
                for m in pat.finditer(text):
                    start = text.rfind("\n", 0, m.start()) + 1
                    found.append("%s: %s" % (where, text[start:start + 300].strip()))
        return found

    def completed(self, hosts) -> tuple:
        """The play ran to its end: rc 0, the report task ran, no host failed or unreachable,
        every host in the report. Returns (bool, why not)."""
        why = []
        if self.run.rc != 0:
            why.append("rc=%s" % self.run.rc)
        for host, st in (self.run.stats or {}).items():
            if st.get("failures") or st.get("unreachable"):
                why.append("%s failed=%s unreachable=%s" % (host, st.get("failures"), st.get("unreachable")))
        if self.doc is not None:
            missing = [h for h in hosts if h not in self.doc.get("clusters", {})]
            if missing:
                why.append("not in the report: %s" % ", ".join(missing))
        else:
            why.append("no fleet-report.json")
        return (not why, "; ".join(why))


def run_daily(inventory, workdir, extra_vars: dict | None = None, verbosity: int = 0, timeout: int = 600,
              env: dict | None = None) -> DailyRun:
    """``ansible-playbook fleetops.prometheus_agent.daily`` with the report in workdir/report."""
    workdir = Path(workdir)
    report_dir = workdir / "report"
    ev = {"fleet_report_dir": str(report_dir), "fleet_history_file": ""}
    ev.update(extra_vars or {})
    start = time.time()
    run = run_playbook("fleetops.prometheus_agent.daily", inventory, extra_vars=ev, verbosity=verbosity,
                       timeout=timeout, cwd=str(workdir), env=dict(ANSIBLE_ENV, **(env or {})))
    seconds = time.time() - start
    (workdir / "ansible-output.log").write_text(
        "rc=%s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (run.rc, run.stdout, run.stderr), encoding="utf-8")
    doc = None
    path = report_dir / "fleet-report.json"
    if path.is_file():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            doc = None
    return DailyRun(run, report_dir, doc, seconds)


def describe_checks(checks: dict, ids=None, only_bad=False, width=110) -> str:
    out = []
    for cid in ids or sorted(checks):
        c = checks.get(cid)
        if c is None:
            out.append("%s missing" % cid)
            continue
        if only_bad and c.get("status") == "ok":
            continue
        out.append("%s %s: %s" % (cid, c.get("status"), str(c.get("message"))[:width]))
    return "; ".join(out)


# ----------------------------------------------------------------------------- the matrix

@dataclass
class MatrixRow:
    """One fault of the matrix and what the run showed."""

    fault: str
    where: str
    round: str
    expected: str
    observed: str = "not run"
    detected: bool = False
    isolated: bool = False
    completed: bool = False
    report: bool = False
    no_traceback: bool = False
    notes: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.detected and self.isolated and self.completed and self.report and self.no_traceback


class FaultMatrix:
    """The rows recorded by the fault-matrix tests, printed at the end of the session."""

    def __init__(self):
        self.rows = []

    def add(self, row: MatrixRow):
        self.rows = [r for r in self.rows if r.fault != row.fault] + [row]

    def counts(self) -> str:
        n = len(self.rows)
        return "%d faults, %d detected, %d isolated, %d passed" % (
            n, sum(r.detected for r in self.rows), sum(r.isolated for r in self.rows), sum(r.passed for r in self.rows))

    def markdown(self) -> str:
        def yes(flag):
            return "yes" if flag else "**NO**"
        lines = ["# Fault matrix", "",
                 "Written by tests/integration/reliability (issue 8) at %s UTC." % time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
                 "", "| # | fault | where | round | expected | observed | detected | isolated | play completed | report | no traceback |",
                 "|---|---|---|---|---|---|---|---|---|---|---|"]
        for i, r in enumerate(self.rows, 1):
            obs = r.observed.replace("|", "/").replace("\n", " ")
            if r.notes:
                obs += " (" + "; ".join(r.notes).replace("|", "/").replace("\n", " ") + ")"
            lines.append("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                i, r.fault, r.where, r.round, r.expected, obs, yes(r.detected), yes(r.isolated), yes(r.completed),
                yes(r.report), yes(r.no_traceback)))
        lines += ["", self.counts(), ""]
        return "\n".join(lines)

    def text(self, width=200) -> str:
        def yes(flag):
            return "yes" if flag else "NO"
        head = "%-3s %-22s %-18s %-5s %-4s %-4s %-4s %-4s %-4s %s" % (
            "#", "fault", "where", "round", "det", "iso", "play", "rep", "tb", "observed")
        lines = [head, "-" * min(width, 160)]
        for i, r in enumerate(self.rows, 1):
            obs = r.observed.replace("\n", " ")
            if r.notes:
                obs += " (" + "; ".join(r.notes) + ")"
            line = "%-3d %-22s %-18s %-5s %-4s %-4s %-4s %-4s %-4s %s" % (
                i, r.fault, r.where, r.round, yes(r.detected), yes(r.isolated), yes(r.completed), yes(r.report),
                yes(r.no_traceback), obs)
            lines.append(line[:width])
        lines.append(self.counts())
        return "\n".join(lines)

    def write(self, path=MATRIX_FILE):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.markdown(), encoding="utf-8")
        return path


MATRIX = FaultMatrix()
