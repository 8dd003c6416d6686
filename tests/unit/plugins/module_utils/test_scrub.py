"""core/scrub.py: the one scrubber of results, messages and report files (issue 17 item 2)."""

from __future__ import annotations

import base64
import json

import pytest

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils import runners
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.scrub import redact, scrub
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import report

PASSWORD = "PLANTEDpw-7f3a"
BASIC = base64.b64encode(("rw-user:%s" % PASSWORD).encode()).decode()
# a Prometheus 2.42 log line of a remote-write queue whose URL carries basic auth
LOG_LINE = ("ts=2026-12-03T08:48:42.941Z caller=dedupe.go:112 component=remote level=warn remote_name=rx "
            "url=http://rw-user:%s@127.0.0.1:19392/api/v1/write msg=\"Failed to send batch, retrying\" "
            "err=\"Post \\\"http://rw-user:***@127.0.0.1:19392/api/v1/write\\\": connection refused\"" % PASSWORD)


@pytest.mark.parametrize("text", [
    LOG_LINE,
    "https://rw-user:%s@recv.example/api/v1/write" % PASSWORD,
    "https://rw-user:p@ss%s@recv.example/" % PASSWORD,           # an '@' in the password
    "Authorization: Basic %s" % BASIC,
    "authorization=Bearer %s" % PASSWORD,
    '{"Authorization": "Bearer %s"}' % PASSWORD,
    "X-Api-Key: %s" % PASSWORD,
    "x-scope-auth-token=%s" % PASSWORD,
    "sent Bearer %s to the proxy" % PASSWORD,
    "Basic %s" % BASIC,
    "password=%s" % PASSWORD,
    "basic_auth: {username: u, password: %s}" % PASSWORD,
    '"client_secret": "%s"' % PASSWORD,
    "GET /api/v1/query?query=up&access_token=%s&x=1" % PASSWORD,
])
def test_every_known_shape_is_masked(text):
    out = redact(text)
    assert PASSWORD not in out and BASIC not in out, out


@pytest.mark.parametrize("text", [
    "cluster lab-1: API server https://127.0.0.1:6443 (listing pods): token rejected (401)",
    "Bearer authentication failed; basic auth is not configured",
    "remote_write url=http://127.0.0.1:9090/api/v1/write msg=\"Done replaying WAL\"",
    "prometheus_remote_storage_samples_pending 0",
    "password: VALUE_SPECIFIED_IN_NO_LOG_PARAMETER",
    "mail the owner at ops@example.com",
])
def test_plain_text_is_left_alone(text):
    assert redact(text) == text


def test_known_secrets_and_structures():
    value = {"checks": [{"message": "got %s back" % PASSWORD, "value": 3}], "bearer_token": PASSWORD,
             "secret-store": {"up": 1}, "url_password": None, "examples": ("url=https://u:%s@h/" % PASSWORD,)}
    out = scrub(value, secrets=[PASSWORD])
    assert PASSWORD not in json.dumps(out)
    assert "bearer_token" not in out                          # a string under a secret's name: left out
    assert out["secret-store"] == {"up": 1}                   # a job or cluster with such a name: kept
    assert out["checks"][0]["message"] == "got ******** back" and out["checks"][0]["value"] == 3
    assert out["examples"] == ["url=https://***@h/"]


def test_the_report_uses_the_same_scrubber():
    assert report.scrub is scrub


def test_run_module_scrubs_what_a_runner_returns(monkeypatch):
    monkeypatch.setitem(runners.RUNNERS, "agent_logs", lambda params, target, check_mode=False, deadline=None: {
        "status": "warning", "checks": [{"id": "LOGS", "message": LOG_LINE}], "examples": [LOG_LINE]})
    result = runners.run_module("agent_logs", {"timeout": 5})
    assert PASSWORD not in json.dumps(result) and result["changed"] is False
    assert "url=http://***@127.0.0.1:19392/api/v1/write" in result["examples"][0]
