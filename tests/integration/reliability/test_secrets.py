"""Secrets never leak (issue 8): bearer tokens, passwords and kubeconfig credentials are planted
and the daily playbook and every module run with ``-vvv``; none of them may appear in stdout,
stderr, the task results (what AWX stores as job events), the AWX artifacts (set_stats), the
report files (JSON, Markdown, HTML, Prometheus text), the history file or any other file the run
wrote.

Planted: a recognisable token in a copy of the lab kubeconfig (the API answers 401: the error
path), ``kube_api_key`` / ``api_key``, ``kube_password`` / ``password`` (basic auth to the API),
``proxy_headers.proxy_basic_auth`` sent to a proxy that echoes the CONNECT request's headers in
its 407, ``url_password`` and ``bearer_token`` sent to a local server that echoes the request
headers back in its answers (401 bodies, metric labels), and the lab's real tokens (the success
path).
"""

from __future__ import annotations

import base64
import json
import os
import secrets as _secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from ansible_runner_helpers import run_playbook
from reliability_helpers import ANSIBLE_ENV, derived_kubeconfig, kube_host_vars, real_clusters, run_daily, write_inventory

pytestmark = [pytest.mark.lab, pytest.mark.slow]

TAG = _secrets.token_hex(6)
KUBE_TOKEN = "fleetopsPLANTEDkubetoken%s" % TAG
API_KEY = "fleetopsPLANTEDapikey%s" % TAG
URL_USER = "fleetops-user"
URL_PASSWORD = "fleetopsPLANTEDpassword%s" % TAG
BEARER = "fleetopsPLANTEDbearer%s" % TAG
QUERY_BEARER = "fleetopsPLANTEDquerybearer%s" % TAG
KUBE_USER = "fleetops-kube-user"
KUBE_PASSWORD = "fleetopsPLANTEDkubepassword%s" % TAG
PROXY_USER = "fleetops-proxy-user"
PROXY_PASSWORD = "fleetopsPLANTEDproxypassword%s" % TAG
PLANTED = [KUBE_TOKEN, API_KEY, URL_PASSWORD, BEARER, QUERY_BEARER, KUBE_PASSWORD, PROXY_PASSWORD] + [
    base64.b64encode(("%s:%s" % pair).encode()).decode()
    for pair in ((URL_USER, URL_PASSWORD), (KUBE_USER, KUBE_PASSWORD), (PROXY_USER, PROXY_PASSWORD))]


class EchoServer:
    """Answers with the request's headers in the body: ``/deny/...`` a 401 (as a proxy that
    prints what it got), ``/echo/...`` a 200 exposition page whose label holds the Authorization
    header. A module that copies a body into a message would leak what it sent."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                pass

            def do_GET(self):  # pylint: disable=invalid-name
                auth = self.headers.get("Authorization", "")
                if self.path.startswith("/echo"):
                    if self.path.split("?")[0].endswith(("/-/healthy", "/-/ready")):
                        body = ("OK %s" % auth).encode()
                    else:
                        body = ('# HELP echo_auth what the client sent\n# TYPE echo_auth gauge\n'
                                'echo_auth{authorization="%s"} 1\nprometheus_config_last_reload_successful 1\n'
                                % auth.replace('"', "")).encode()
                    status = 200
                else:
                    body = ("denied: you sent %s" % "\n".join("%s: %s" % kv for kv in self.headers.items())).encode()
                    status = 401
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_CONNECT(self):  # pylint: disable=invalid-name
                # a proxy that refuses and prints the CONNECT request's headers (Proxy-Authorization too)
                body = ("proxy refused: you sent %s" % "\n".join("%s: %s" % kv for kv in self.headers.items())).encode()
                self.send_response(407)
                self.send_header("Proxy-Authenticate", 'Basic realm="echo"')
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d/%s" % (self.port, path)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def echo():
    server = EchoServer()
    yield server
    server.stop()


def _lab_tokens(lab):
    return [c["token"] for n, c in lab.state["clusters"].items() if not c.get("synthetic") and c.get("token")]


def _leaks(text, needles):
    return sorted({n for n in needles if n and n in text})


def _scan_dir(root, needles, skip=()):
    """{file: [secrets found]} for every file under ``root`` except ``skip`` (the inputs)."""
    found = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if path in skip:
                continue
            try:
                text = path.read_bytes().decode("utf-8", "replace")
            except OSError:
                continue
            hit = _leaks(text, needles)
            if hit:
                found[str(path)] = hit
    return found


def _everything(run):
    return "\n".join([run.stdout, run.stderr, json.dumps(run.results, default=str), json.dumps(run.custom_stats, default=str),
                      json.dumps(run.stats, default=str)])


def test_daily_playbook_vvv_leaks_no_secret(lab, tmp_path):
    """The daily playbook with -vvv over the lab plus two hosts carrying planted credentials."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    work = tmp_path / "run"
    work.mkdir()
    first = real_clusters(lab)[0]
    kubeconfig = derived_kubeconfig(lab, inputs / "kubeconfig-planted", {"planted-kubeconfig": {"from": first, "token": KUBE_TOKEN}})
    info = lab.state["clusters"][first]
    # the second host's name holds a word a secret scrubber looks for ("private"): a cluster name
    # is not a secret and must stay in the report
    extra = {
        "planted-kubeconfig": kube_host_vars(lab, kubeconfig, "planted-kubeconfig", first),
        "private-eks-planted-key": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                                    "kubeconfig": "", "kube_host": info["server"], "kube_api_key": API_KEY,
                                    "kube_ca_cert": lab.state["api"]["ca_cert"], "agent_namespace": info["namespace"],
                                    "agent_pod": info["pod"]},
        "planted-basic-auth": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                               "kubeconfig": "", "kube_host": info["server"], "kube_username": KUBE_USER,
                               "kube_password": KUBE_PASSWORD, "kube_ca_cert": lab.state["api"]["ca_cert"],
                               "agent_namespace": info["namespace"], "agent_pod": info["pod"]},
    }
    inventory = write_inventory(lab, inputs / "inventory.yml", extra_hosts=extra)
    history = work / "fleet-history.json"
    run = run_daily(inventory, work, extra_vars={"fleet_history_file": str(history)}, verbosity=3)
    needles = PLANTED + _lab_tokens(lab)
    assert run.doc is not None, run.output[-3000:]
    leaks = {"output/results/artifacts": _leaks(_everything(run.run), needles)}
    leaks.update(_scan_dir(work, needles))
    leaks = {k: v for k, v in leaks.items() if v}
    assert not leaks, "secrets leaked: %s" % json.dumps(leaks, indent=1)
    # -vvv did print the module arguments, masked
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in run.run.stdout or "********" in run.run.stdout
    # the planted credentials were used and refused: the hosts are in the report, unknown
    missing = [h for h in extra if h not in run.doc.get("clusters", {})]
    assert not missing, ("clusters missing from fleet-report.json: %s (a scrubber dropping keys that look like secrets "
                         "drops cluster names too?) rc=%s\n%s" % (missing, run.run.rc, run.output[-2500:]))
    for host in extra:
        assert run.cluster(host).get("status") == "unknown", (host, run.cluster(host))
    assert run.run.rc == 0, run.output[-3000:]


def test_modules_vvv_leak_no_secret(lab, echo, tmp_path):
    """Every module with planted secrets (-vvv, check mode for the ones that change things), against
    an echoing server and the lab API (401)."""
    first = real_clusters(lab)[0]
    info = lab.state["clusters"][first]
    kube = {"host": info["server"], "api_key": API_KEY, "ca_cert": lab.state["api"]["ca_cert"],
            "namespace": info["namespace"], "pod": info["pod"], "timeout": 20}
    basic = {"url_username": URL_USER, "url_password": URL_PASSWORD, "timeout": 20}
    bearer = {"bearer_token": BEARER, "timeout": 20}
    tasks = [
        ("agent_status basic auth, 401 echo", "agent_status", dict(basic, url=echo.url("deny"))),
        ("agent_status bearer, 401 echo", "agent_status", dict(bearer, url=echo.url("deny"))),
        ("agent_status bearer, echoed in a label", "agent_status", dict(bearer, url=echo.url("echo"))),
        ("remote_write_stats bearer, echoed in a label", "remote_write_stats", dict(bearer, url=echo.url("echo"))),
        ("remote_write_stats basic auth, 401 echo", "remote_write_stats", dict(basic, url=echo.url("deny"))),
        ("remote_write_stats query bearer, 401 echo", "remote_write_stats",
         dict(kube, source="query", query_url=echo.url("deny"), query_bearer_token=QUERY_BEARER, cluster=first)),
        ("agent_logs bearer", "agent_logs", dict(bearer, url=echo.url("deny"), log_path="/nonexistent/agent.log")),
        ("agent_status api_key", "agent_status", kube),
        ("agent_status basic auth to the API, 401", "agent_status",
         dict({k: v for k, v in kube.items() if k != "api_key"}, username=KUBE_USER, password=KUBE_PASSWORD)),
        ("agent_audit proxy basic auth, 407 echo", "agent_audit",
         dict(kube, proxy=echo.url("").rstrip("/"), proxy_headers={"proxy_basic_auth": "%s:%s" % (PROXY_USER, PROXY_PASSWORD)})),
        ("wal_inspect proxy basic auth, 407 echo", "wal_inspect",
         dict(kube, verify="tail", proxy=echo.url("").rstrip("/"), proxy_headers={"proxy_basic_auth": "%s:%s" % (PROXY_USER, PROXY_PASSWORD)})),
        ("wal_inspect api_key", "wal_inspect", dict(kube, verify="tail")),
        ("agent_logs api_key", "agent_logs", kube),
        ("rules_status api_key", "rules_status", dict(kube, expected=[])),
        ("agent_backup api_key", "agent_backup", dict(kube, dest=str(tmp_path / "backup"))),
        ("agent_restart api_key (check mode)", "agent_restart", dict(kube, lease=False)),
        ("agent_tune api_key (check mode)", "agent_tune", dict(kube, queue={"capacity": 10000})),
        ("agent_status kubeconfig with a planted token", "agent_status",
         {"kubeconfig": derived_kubeconfig(lab, tmp_path / "kubeconfig-planted", {"planted": {"from": first, "token": KUBE_TOKEN}}),
          "context": "planted", "namespace": info["namespace"], "pod": info["pod"], "timeout": 20}),
    ]
    play = [{"name": "modules with planted secrets", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": name, "fleetops.prometheus_agent." + mod: args, "ignore_errors": True,
         "check_mode": mod in ("agent_restart", "agent_tune", "agent_backup")}
        for name, mod, args in tasks]}]
    work = tmp_path / "run"
    work.mkdir()
    run = run_playbook(yaml.safe_dump(play, sort_keys=False), verbosity=3, env=ANSIBLE_ENV, timeout=900, cwd=str(work),
                       extra_vars={"ansible_python_interpreter": "{{ ansible_playbook_python }}"})
    ran = {r["task"] for r in run.results}
    missing = [name for name, _m, _a in tasks if name not in ran]
    assert not missing, "tasks that did not run: %s\n%s" % (missing, run.output[-3000:])
    needles = PLANTED + _lab_tokens(lab)
    leaks = {"output/results": _leaks(_everything(run), needles)}
    leaks.update(_scan_dir(work, needles))
    leaks = {k: v for k, v in leaks.items() if v}
    assert not leaks, "secrets leaked: %s" % json.dumps(leaks, indent=1)
    # the echo server did receive the secrets (so the test planted them where they travel)
    assert "Traceback (most recent call last)" not in run.output, run.output[-3000:]
