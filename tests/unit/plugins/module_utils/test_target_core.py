"""The shared core: target (direct HTTP, error mapping), checks, args_common (the kubeconfig
reduction is in test_kubeconfig_utils.py)."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest
import yaml

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils import args_common


from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import checks


from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import errors


SECRET = "s3cr3t-token-do-not-print"


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path == "/slow":
            time.sleep(3)
        if self.path == "/auth" and self.headers.get("Authorization") != "Bearer " + SECRET:
            self.send_response(401)
            self.end_headers()
            return
        body = b"Prometheus Agent is Ready.\n"
        self.send_response(503 if self.path == "/-/starting" else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()


def _direct(url, **extra):
    params = {"url": url, "timeout": 1.0, "validate_certs": True}
    params.update(extra)
    return args_common.target_from_params(params)


def test_direct_get_and_agent_status_passes_through(server):
    tgt = _direct(server)
    assert tgt.kind == "direct"
    assert tgt.http_get("/-/ready") == (200, b"Prometheus Agent is Ready.\n")
    status, _body = tgt.http_get("/-/starting")
    assert status == 503  # the agent's own answer is data, not an error


def test_direct_bearer_token_and_rejection(server):
    assert _direct(server + "/", bearer_token=SECRET).http_get("/auth")[0] == 200
    with pytest.raises(errors.TargetAuthError) as info:
        _direct(server, bearer_token="wrong").http_get("/auth")
    assert SECRET not in str(info.value) and "wrong" not in str(info.value)


def test_direct_timeout_and_refused(server):
    with pytest.raises(errors.TargetTimeout):
        _direct(server).http_get("/slow", timeout=0.5)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(errors.TargetUnreachable) as info:
        _direct("http://127.0.0.1:%d" % port).http_get("/-/ready")
    assert "refused" in str(info.value)


def test_bad_url_is_a_config_error():
    with pytest.raises(errors.FleetopsError):
        _direct("ftp://example.invalid")


def _kubeconfig(tmp_path, contexts=3):
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "c0", "contexts": [], "clusters": [], "users": []}
    for i in range(contexts):
        name = "c%d" % i
        doc["contexts"].append({"name": name, "context": {"cluster": name, "user": name}})
        doc["clusters"].append({"name": name, "cluster": {"server": "https://127.0.0.1:1/clusters/" + name,
                                                          "certificate-authority": "ca.crt"}})
        doc["users"].append({"name": name, "user": {"token": SECRET + str(i)}})
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    (tmp_path / "ca.crt").write_text("not used here\n")
    return path


def test_unknown_context_names_it(tmp_path):
    path = _kubeconfig(tmp_path)
    with pytest.raises(errors.FleetopsError) as info:
        args_common.target_from_params({"kubeconfig": str(path), "context": "prod-9"}).pods()
    assert "prod-9" in str(info.value)
    assert SECRET not in str(info.value)


def test_dead_api_server_is_unreachable_not_a_traceback(tmp_path):
    path = _kubeconfig(tmp_path)
    tgt = args_common.target_from_params({"kubeconfig": str(path), "context": "c1", "validate_certs": False, "timeout": 2})
    with pytest.raises(errors.TargetUnreachable) as info:
        tgt.pods()
    assert SECRET not in str(info.value)


def test_checks_worst_and_thresholds():
    assert checks.worst([]) == "ok"
    assert checks.worst(["ok", "unknown"]) == "unknown"
    assert checks.worst(["unknown", "warning", "ok"]) == "warning"
    assert checks.worst(["critical", "warning", "bogus"]) == "critical"
    merged = checks.merge_thresholds({"rw_lag_warning": "30"})
    assert merged["rw_lag_warning"] == 30 and merged["rw_lag_critical"] == checks.DEFAULT_THRESHOLDS["rw_lag_critical"]
    assert checks.level(130, 60, 120) == "critical"
    assert checks.level(60, 60, 120) == "ok"
    assert checks.level(0.98, 0.995, 0.99, above=False) == "critical"
    assert checks.level(None, 1, 2) == "unknown"
    with pytest.raises(ValueError):
        checks.Check("RW-LAG", "fine", 1, 2, "x")


def test_common_args_keep_secrets_out_of_logs():
    for name in ("api_key", "url_password", "bearer_token"):
        assert args_common.COMMON_ARGS[name].get("no_log") is True
    assert args_common.COMMON_ARGS["validate_certs"]["default"] is True
