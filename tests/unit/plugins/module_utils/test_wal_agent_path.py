"""The WAL path from the agent's own --storage.agent.path (its flags, the pod spec, the default)."""

from __future__ import annotations

import json
from pathlib import Path

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import errors
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal import agent_path as ap

CAPTURES = Path(__file__).resolve().parents[3] / "fixtures" / "captures" / "prometheus-2.42-agent"
FLAGS_PAGE = (CAPTURES / "ep_api_v1_status_flags.txt").read_bytes()
# the agent container of a Prometheus Operator PrometheusAgent pod
OPERATOR_ARGS = ["--web.console.templates=/etc/prometheus/consoles", "--config.file=/etc/prometheus/config_out/prometheus.env.yaml",
                 "--storage.agent.path=/prometheus", "--enable-feature=agent", "--web.route-prefix=/"]


def _pod(args, name="prom-agent-a-0", working_dir=None, command=None):
    container = {"name": "prometheus", "args": args}
    if working_dir:
        container["workingDir"] = working_dir
    if command:
        container["command"] = command
    reloader = {"name": "config-reloader", "args": ["--storage.agent.path=/x"]}
    return {"metadata": {"name": name}, "spec": {"containers": [reloader, container]}}


class Agent:
    """A target answering /api/v1/status/flags with ``flags`` (bytes, or an exception) and listing ``pods``."""

    container = "prometheus"

    def __init__(self, flags=None, pods=(), pod_name=None):
        self.flags, self.pod_list, self.given_pod = flags, list(pods), pod_name

    @property
    def pod_name(self):
        return self.given_pod

    def http_get(self, path, timeout=None):
        assert path == "/api/v1/status/flags"
        if isinstance(self.flags, Exception):
            raise self.flags
        return (200, self.flags) if self.flags is not None else (404, b"")

    def pods(self):
        return self.pod_list


def test_from_args_and_flags():
    assert ap.from_args(OPERATOR_ARGS) == "/prometheus"
    assert ap.from_args(["--storage.agent.path", "/data", "--x"]) == "/data"
    assert ap.from_args(["-storage.agent.path=/old"]) == "/old"
    assert ap.from_args(["--storage.tsdb.path=/prometheus"]) is None
    assert ap.from_args(["--storage.agent.path"]) is None
    assert ap.from_flags(json.loads(FLAGS_PAGE)["data"]) == "/srv/lab/agent-data"
    assert ap.from_flags({}) is None and ap.from_flags(None) is None


def test_wal_dir():
    assert ap.wal_dir("/prometheus") == "/prometheus/wal"
    assert ap.wal_dir("/prometheus/") == "/prometheus/wal"
    assert ap.wal_dir("data-agent/") == "data-agent/wal"
    assert ap.wal_dir("data-agent/", "/prometheus") == "/prometheus/data-agent/wal"
    assert ap.wal_dir("/abs", "/ignored") == "/abs/wal"


def test_discover_flags_first_then_pod_spec_then_default():
    assert ap.discover(Agent(flags=FLAGS_PAGE)) == ("/srv/lab/agent-data/wal", "flags")
    # the agent does not answer: the container's args in the pod spec (the named pod, not another one)
    unreachable = errors.TargetUnreachable("connection refused")
    pods = [_pod(["--storage.agent.path=/other"], name="prom-agent-a-1"), _pod(OPERATOR_ARGS)]
    assert ap.discover(Agent(flags=unreachable, pods=pods, pod_name="prom-agent-a-0")) == ("/prometheus/wal", "pod spec")
    assert ap.discover(Agent(flags=b"<html>", pods=[_pod([], command=["/bin/prometheus", "--storage.agent.path=/d"])])) == (
        "/d/wal", "pod spec")
    # neither says: Prometheus' default, under the container's workingDir when the spec has one
    assert ap.discover(Agent(pods=[_pod(["--enable-feature=agent"], working_dir="/work")])) == ("/work/data-agent/wal", "default")
    assert ap.discover(Agent()) == ("data-agent/wal", "default")
    assert ap.discover(None) == ("data-agent/wal", "default")


class RevokedToken(Agent):
    """A Kubernetes target whose token was revoked: every call, and its pod_name, raise."""

    def http_get(self, path, timeout=None):
        raise errors.TargetAuthError("token rejected (401)")

    def pods(self):
        raise errors.TargetAuthError("token rejected (401)")

    @property
    def pod_name(self):
        return self.pods()


def test_discover_never_raises_for_the_target():
    assert ap.discover(RevokedToken()) == ("data-agent/wal", "default")
