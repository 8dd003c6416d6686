"""The connection options of kubernetes.core's shared set on the lab, through the real
``ansible-playbook`` (the in-worker path) and the lab API's audit log: a client certificate of the
lab CA (the API requiring it: fault ``api-client-cert``), basic auth, impersonation (a user that
may, one that may not: 403), a local CONNECT proxy (every connection of the run through it, exec
included; ``no_proxy`` bypasses it; a refusing proxy and a 407 are a clear ``unknown``), each also
from its ``K8S_AUTH_*`` variable, and bad combinations: a clear message, that cluster unknown, the
other clusters unaffected."""

from __future__ import annotations

import pytest

from connection_helpers import ClosedPort, ConnectProxy, audit, cluster_args, run_tasks, started  # pylint: disable=import-error

pytestmark = [pytest.mark.lab]

EXEC_PATH = "/exec"


def _clusters(lab):
    names = sorted(n for n, c in lab.state["clusters"].items() if not c.get("synthetic"))
    assert len(names) >= 2, "these tests need two real clusters"
    return names[0], names[1]


def _reached(result):
    """True when the module read the cluster (not unknown, no failure)."""
    return not result.get("failed") and result.get("status") not in (None, "unknown")


def _reason(result):
    return result.get("reason") or result.get("msg") or ""


def _cert(lab):
    return {"client_cert": lab.state["api"]["client_cert"], "client_key": lab.state["api"]["client_key"]}


def test_client_certificate_required_by_the_api(lab):
    first, second = _clusters(lab)
    token = lab.state["clusters"][first]["token"]
    api = lab.state["api"]
    since = started()
    lab.fault("api-client-cert", first)
    try:
        run, res = run_tasks([
            ("token only", "agent_status", cluster_args(lab, first, api_key=token), None),
            ("certificate", "agent_status", cluster_args(lab, first, **_cert(lab)), None),
            ("certificate exec", "wal_inspect", cluster_args(lab, first, verify="tail", **_cert(lab)), None),
            ("certificate without key", "agent_status", cluster_args(lab, first, client_cert=api["client_cert"]), None),
            ("key without certificate", "agent_status", cluster_args(lab, first, client_key=api["client_key"]), None),
            ("other cluster", "agent_status", cluster_args(lab, second, api_key=lab.state["clusters"][second]["token"]), None),
        ])
    finally:
        lab.heal("api-client-cert", first)
    assert res["token only"]["status"] == "unknown" and "401" in _reason(res["token only"]), res["token only"]
    assert _reached(res["certificate"]), res["certificate"]
    assert _reached(res["certificate exec"]), res["certificate exec"]
    assert res["certificate without key"]["status"] == "unknown", res["certificate without key"]
    assert "holds no private key and client_key is not set" in _reason(res["certificate without key"])
    assert "client_key is set without client_cert" in _reason(res["key without certificate"])
    assert _reached(res["other cluster"]), res["other cluster"]
    entries = [e for e in audit(lab, first, since) if e["decision"] == "allowed"]
    assert entries and all(e["authn"] == "x509" and e["user"] == "lab-cert-user" for e in entries), entries
    assert any(e["path"].endswith(EXEC_PATH) for e in entries), [e["path"] for e in entries]
    assert any(e["decision"] == "401" for e in audit(lab, first, since))
    assert run.rc == 0, run.output[-3000:]


def test_client_certificate_from_the_environment(lab):
    first, _second = _clusters(lab)
    api = lab.state["api"]
    since = started()
    _run, res = run_tasks([("certificate from K8S_AUTH_CERT_FILE", "agent_status", cluster_args(lab, first), None)],
                          env={"K8S_AUTH_CERT_FILE": api["client_cert"], "K8S_AUTH_KEY_FILE": api["client_key"]})
    assert _reached(res["certificate from K8S_AUTH_CERT_FILE"]), res
    entries = audit(lab, first, since)
    assert entries and all(e["authn"] == "x509" for e in entries), entries


def test_options_from_the_tasks_environment(lab):
    """A task's ``environment:`` reaches the option fallbacks on the in-worker path as it reaches a
    module process, and only that task: the next task has no credentials (401)."""
    first, _second = _clusters(lab)
    api = lab.state["api"]
    since = started()
    env = {"K8S_AUTH_CERT_FILE": api["client_cert"], "K8S_AUTH_KEY_FILE": api["client_key"]}
    _run, res = run_tasks([
        ("certificate from the task's environment", "agent_status", cluster_args(lab, first), env),
        ("next task without it", "agent_status", cluster_args(lab, first), None),
    ])
    assert _reached(res["certificate from the task's environment"]), res
    assert res["next task without it"]["status"] == "unknown" and "401" in _reason(res["next task without it"]), res
    entries = audit(lab, first, since)
    assert any(e["authn"] == "x509" for e in entries), entries


def test_basic_auth(lab):
    first, _second = _clusters(lab)
    info = lab.state["clusters"][first]
    since = started()
    _run, res = run_tasks([
        ("basic", "agent_logs", cluster_args(lab, first, username=info["basic_username"], password=info["basic_password"]), None),
        ("wrong password", "agent_status", cluster_args(lab, first, username=info["basic_username"], password="not-it"), None),
        ("username alone", "agent_status", cluster_args(lab, first, username=info["basic_username"]), None),
        ("with api_key too", "agent_status", cluster_args(lab, first, username="someone", password="some-password", api_key=info["token"]), None),
    ])
    assert not res["basic"].get("failed"), res["basic"]
    assert res["wrong password"]["status"] == "unknown" and "401" in _reason(res["wrong password"])
    assert "username is set without password" in _reason(res["username alone"]), res["username alone"]
    assert "api_key and username/password are both set" in _reason(res["with api_key too"]), res["with api_key too"]
    allowed = [e for e in audit(lab, first, since) if e["decision"] == "allowed"]
    assert allowed and all(e["authn"] == "basic" and e["user"] == "lab-basic" for e in allowed), allowed
    assert any(e["path"].endswith("/log") for e in allowed), [e["path"] for e in allowed]

    since = started()
    _run, res = run_tasks([("basic from K8S_AUTH_USERNAME", "agent_status", cluster_args(lab, first), None)],
                          env={"K8S_AUTH_USERNAME": info["basic_username"], "K8S_AUTH_PASSWORD": info["basic_password"]})
    assert _reached(res["basic from K8S_AUTH_USERNAME"]), res
    assert {e["authn"] for e in audit(lab, first, since)} == {"basic"}


def test_impersonation(lab):
    first, second = _clusters(lab)
    info = lab.state["clusters"][first]
    since = started()
    _run, res = run_tasks([
        ("impersonating", "agent_status", cluster_args(lab, first, api_key=info["token"], impersonate_user="audit-bot",
                                                       impersonate_groups=["fleet:auditors", "fleet:readers"]), None),
        ("impersonating exec", "wal_inspect", cluster_args(lab, first, api_key=info["token"], verify="tail",
                                                           impersonate_user="audit-bot", impersonate_groups=["fleet:auditors"]), None),
        ("not allowed to", "agent_status", cluster_args(lab, first, api_key=info["viewer_token"], impersonate_user="audit-bot"), None),
        ("groups without user", "agent_status", cluster_args(lab, first, api_key=info["token"], impersonate_groups=["g"]), None),
        ("other cluster", "agent_status", cluster_args(lab, second, api_key=lab.state["clusters"][second]["token"]), None),
    ])
    assert _reached(res["impersonating"]), res["impersonating"]
    assert _reached(res["impersonating exec"]), res["impersonating exec"]
    refused = res["not allowed to"]
    assert refused["status"] == "unknown" and "403" in _reason(refused) and "impersonate" in _reason(refused), refused
    assert "impersonate_groups needs impersonate_user" in _reason(res["groups without user"]), res["groups without user"]
    assert _reached(res["other cluster"]), res["other cluster"]
    entries = audit(lab, first, since)
    allowed = [e for e in entries if e["decision"] == "allowed"]
    assert allowed and all(e["impersonated_user"] == "audit-bot" for e in allowed), allowed
    assert any(e["impersonated_groups"] == ["fleet:auditors", "fleet:readers"] for e in allowed), allowed
    assert any(e["path"].endswith(EXEC_PATH) and e["impersonated_groups"] == ["fleet:auditors"] for e in allowed)
    assert any(e["decision"] == "403" and e["user"] == "lab-viewer" for e in entries), entries
    assert not [e for e in audit(lab, second, since) if e["impersonated_user"]]

    since = started()
    _run, res = run_tasks([("impersonating from K8S_AUTH_IMPERSONATE_USER", "agent_status",
                            cluster_args(lab, first, api_key=info["token"]), None)],
                          env={"K8S_AUTH_IMPERSONATE_USER": "env-bot", "K8S_AUTH_IMPERSONATE_GROUPS": "g1,g2"})
    assert _reached(res["impersonating from K8S_AUTH_IMPERSONATE_USER"]), res
    entries = audit(lab, first, since)
    assert entries and all(e["impersonated_user"] == "env-bot" and e["impersonated_groups"] == ["g1", "g2"] for e in entries)


def test_proxy(lab):
    first, second = _clusters(lab)
    info = lab.state["clusters"][first]
    proxy = ConnectProxy(credentials="fleet:proxy-secret")
    bypassed = ConnectProxy()
    closed = ClosedPort()   # bound, not listening: the proxy refuses
    through = {"proxy": proxy.url, "proxy_headers": {"proxy_basic_auth": "fleet:proxy-secret", "user_agent": "fleet-audit/1.0"}}
    since = started()
    try:
        run, res = run_tasks([
            ("through the proxy", "agent_status", cluster_args(lab, first, api_key=info["token"], **through), None),
            ("exec through the proxy", "wal_inspect", cluster_args(lab, first, api_key=info["token"], verify="tail", **through), None),
            ("logs through the proxy", "agent_logs", cluster_args(lab, first, api_key=info["token"], **through), None),
        ])
        tunnels = proxy.tunnels()
        entries = audit(lab, first, since)
        _run, other = run_tasks([
            ("no_proxy", "agent_status", cluster_args(lab, first, api_key=info["token"], proxy=bypassed.url, no_proxy="localhost,127.0.0.1"), None),
            ("refusing proxy", "agent_status", cluster_args(lab, first, api_key=info["token"], proxy=closed.url), None),
            ("proxy without its credentials", "agent_status", cluster_args(lab, first, api_key=info["token"], proxy=proxy.url), None),
            ("proxy headers without proxy", "agent_status", cluster_args(lab, first, api_key=info["token"],
                                                                         proxy_headers={"user_agent": "x/1"}), None),
            ("other cluster", "agent_status", cluster_args(lab, second, api_key=lab.state["clusters"][second]["token"]), None),
        ])
    finally:
        proxy.stop()
        bypassed.stop()
        closed.close()
    for name in ("through the proxy", "exec through the proxy"):
        assert _reached(res[name]), res[name]
    assert not res["logs through the proxy"].get("failed"), res["logs through the proxy"]
    assert tunnels, proxy.connects
    port = lab.state["api"]["port"]
    assert all(t["target"] == "127.0.0.1:%d" % port for t in tunnels), tunnels
    # the CONNECTs of the client's pool carry the user agent (the exec WebSocket's sends none of its own)
    assert any(t["headers"].get("user-agent") == "fleet-audit/1.0" for t in tunnels), tunnels
    # every request the runs made came through one of the proxy's tunnels, exec and log included
    assert entries and all(tuple(e["peer"]) in proxy.upstream_addresses for e in entries), (entries, proxy.upstream_addresses)
    assert any(e["path"].endswith(EXEC_PATH) for e in entries) and any(e["path"].endswith("/log") for e in entries)

    assert _reached(other["no_proxy"]), other["no_proxy"]
    assert not bypassed.connects, bypassed.connects
    refused = other["refusing proxy"]
    assert refused["status"] == "unknown" and "the proxy %s refused the connection" % closed.url in _reason(refused), refused
    denied = other["proxy without its credentials"]
    assert denied["status"] == "unknown" and "407" in _reason(denied) and "proxy" in _reason(denied), denied
    assert "proxy_headers is set without proxy" in _reason(other["proxy headers without proxy"])
    assert _reached(other["other cluster"]), other["other cluster"]
    assert "proxy-secret" not in run.output


def test_proxy_from_the_environment(lab):
    first, _second = _clusters(lab)
    info = lab.state["clusters"][first]
    proxy = ConnectProxy(credentials="envuser:env-secret")
    since = started()
    try:
        _run, res = run_tasks([("proxy from K8S_AUTH_PROXY", "agent_status", cluster_args(lab, first, api_key=info["token"]), None)],
                              env={"K8S_AUTH_PROXY": proxy.url, "K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH": "envuser:env-secret"})
    finally:
        proxy.stop()
    assert _reached(res["proxy from K8S_AUTH_PROXY"]), res
    entries = audit(lab, first, since)
    assert proxy.tunnels() and entries and all(tuple(e["peer"]) in proxy.upstream_addresses for e in entries)
