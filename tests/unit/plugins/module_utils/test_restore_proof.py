"""The restore proof of BACKUP with the real prometheus (Debian's 2.42) on the exported
configuration and flags of a real 2.42 agent (the captures)."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import restore_proof as rp

CAPTURES = Path(__file__).resolve().parents[3] / "fixtures" / "captures" / "prometheus-2.42-agent"
CONFIG = json.loads((CAPTURES / "ep_api_v1_status_config.txt").read_text())["data"]["yaml"]
FLAGS = json.loads((CAPTURES / "ep_api_v1_status_flags.txt").read_text())["data"]
PROMETHEUS = shutil.which("prometheus")
needs_prometheus = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is not installed")


def _help():
    run = subprocess.run([PROMETHEUS, "--help"], capture_output=True, text=True, check=False, timeout=30)
    return run.stdout + run.stderr


def _scratch_dirs():
    return {d for d in os.listdir("/tmp") if d.startswith("fleetops-restore-")}


def _refused(argv):
    port = int(next(a for a in argv if a.startswith("--web.listen-address=")).rsplit(":", 1)[1])
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@needs_prometheus
def test_help_of_2_42():
    known = rp.parse_help(_help())
    assert known["config.file"] == {"bool": False, "default": "/etc/prometheus/prometheus.yml",
                                    "help": "Prometheus configuration file path."}
    assert known["web.enable-lifecycle"]["bool"] is True
    assert known["web.read-timeout"]["default"] == "5m" and known["web.external-url"]["default"] is None
    assert "server mode only" in " ".join(known["storage.tsdb.path"]["help"].split())
    assert "agent" not in known          # 2.x: --enable-feature=agent


@needs_prometheus
def test_scratch_flags_of_a_2_42_agent():
    argv, skipped = rp.scratch_flags(FLAGS, rp.parse_help(_help()), agent_mode=True)
    # its own settings, pod paths and server-only flags left out, booleans as --x / --no-x
    assert "--storage.agent.wal-compression" in argv and "--no-web.enable-lifecycle" in argv
    assert not [a for a in argv if a.startswith(("--config.file", "--storage.agent.path", "--web.listen-address",
                                                 "--storage.tsdb.", "--query.", "--rules.", "--web.console"))]
    assert not [a for a in argv if "agent" == a.split("=")[-1]]
    assert skipped["web.console.templates"] == "names the pod's files or URLs"
    assert "web.external-url" not in skipped      # empty: nothing left out


def test_scratch_config_sends_nothing_and_drops_pod_files(tmp_path):
    ca_here = tmp_path / "ca.pem"
    ca_here.write_text("x")
    config = yaml.safe_load(CONFIG)
    config["remote_write"][0]["tls_config"] = {"ca_file": "/etc/prometheus/certs/ca.crt", "insecure_skip_verify": False}
    config["remote_write"][0]["authorization"] = {"credentials_file": "/var/run/secrets/token"}
    config["scrape_configs"][0]["tls_config"] = {"ca_file": str(ca_here)}
    text, notes = rp.scratch_config(yaml.safe_dump(config), "http://127.0.0.1:1/api/v1/write", "/scratch/placeholder")
    out = yaml.safe_load(text)
    assert [r["url"] for r in out["remote_write"]] == ["http://127.0.0.1:1/api/v1/write"]
    assert out["remote_write"][0]["tls_config"] == {"insecure_skip_verify": False}
    assert out["remote_write"][0]["authorization"] == {"credentials_file": "/scratch/placeholder"}
    assert out["scrape_configs"][0]["tls_config"] == {"ca_file": str(ca_here)}     # a file that is here is kept
    assert notes == ["1 remote write(s) pointed at a closed local port", "1 TLS file(s) of the pod left out",
                     "1 credential file(s) of the pod replaced by a placeholder"]
    with pytest.raises(ValueError, match="not YAML"):
        rp.scratch_config("a: [", "u", "p")


@needs_prometheus
def test_a_2_42_export_restores_and_sends_nothing():
    received = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # pylint: disable=invalid-name
            received.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = CONFIG.replace("http://127.0.0.1:19090/api/v1/write", "http://127.0.0.1:%d/api/v1/write" % server.server_port)
    config = config.replace("batch_send_deadline: 5s", "batch_send_deadline: 100ms")
    before = _scratch_dirs()
    try:
        result = rp.prove("prometheus", config, FLAGS, True, 20)
    finally:
        server.shutdown()
        server.server_close()
    assert result["ok"] is True, result
    assert result["message"].startswith("a throwaway agent from the backup answered /-/ready in ")
    assert "--enable-feature=agent" in result["argv"] and "--storage.remote.flush-deadline=1s" in result["argv"]
    assert received == []
    assert _refused(result["argv"]) and _scratch_dirs() <= before


@needs_prometheus
def test_a_broken_export_does_not_restore():
    broken = CONFIG.replace("  scrape_timeout: 4s\n  evaluation_interval", "  scrape_timeout: 40s\n  evaluation_interval", 1)
    assert broken != CONFIG
    before = _scratch_dirs()
    result = rp.prove("prometheus", broken, FLAGS, True, 20)
    assert result["ok"] is False
    assert "exited with" in result["message"] and "global scrape timeout greater than scrape interval" in result["message"]
    assert "fleetops-restore-" not in result["message"]       # the scratch path is not in the message
    assert _refused(result["argv"]) and _scratch_dirs() <= before


@needs_prometheus
def test_not_ready_in_time_is_stopped(tmp_path):
    result = rp.prove("prometheus", CONFIG, FLAGS, True, 0.01)
    assert result["ok"] is False and "was not ready within 0.01 s" in result["message"], result
    assert _refused(result["argv"])


def test_no_prometheus_here():
    result = rp.prove("/nonexistent/prometheus", CONFIG, FLAGS, True, 5)
    assert result["ok"] is None and result["message"] == "no prometheus binary on the controller: the restore is not proven"


@needs_prometheus
def test_promtool_passes_a_broken_ca_file_the_restore_does_not(tmp_path):
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    config = CONFIG.replace("  name: recv\n", "  name: recv\n  tls_config:\n    ca_file: %s\n" % ca_file)
    (tmp_path / "config.yml").write_text(config)
    checked = subprocess.run(["promtool", "check", "config", "--agent", str(tmp_path / "config.yml")],
                             capture_output=True, text=True, check=False, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = rp.prove("prometheus", config, FLAGS, True, 20)
    assert result["ok"] is False
    assert result["message"] == ("a throwaway agent from the backup exited with 1 before it was ready: "
                                 "Failed to apply configuration: unable to use specified CA cert %s" % ca_file)


def test_first_error_of_a_log():
    log = ('ts=1 level=info msg="Starting"\n'
           'ts=2 level=error msg="Failed to apply configuration" err="unable to use specified CA cert /x"\n'
           'ts=3 level=error err="error loading config from \\"config.yml\\": one or more errors"\n')
    assert rp.first_error(log) == "Failed to apply configuration: unable to use specified CA cert /x"
    assert rp.first_error('ts=3 level=error err="error loading \\"config.yml\\""') == 'error loading "config.yml"'
    assert rp.first_error("level=info msg=ok") == ""
