"""runners.py without Ansible: each module's runner on a fake agent (the 2.42 captures), agent_audit
composed of the same runners with /metrics read once, unknown data for unreachable targets and
FleetopsError for refused arguments."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from conftest import CAPTURES  # pylint: disable=import-error

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils import runners
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import errors
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError, MissingLibrary
from ansible_collections.fleetops.prometheus_agent.plugins.modules import (
    agent_audit, agent_backup, agent_logs, agent_status, remote_write_stats, rules_status, wal_inspect)

WAL = Path(__file__).resolve().parents[2] / "fixtures" / "wal" / "real-2.42"
SPECS = {"agent_status": agent_status, "remote_write_stats": remote_write_stats, "wal_inspect": wal_inspect,
         "agent_logs": agent_logs, "agent_audit": agent_audit, "rules_status": rules_status, "agent_backup": agent_backup}
ENDPOINTS = {
    "/-/healthy": "ep_-_healthy.txt",
    "/-/ready": "ep_-_ready.txt",
    "/metrics": "agent_metrics.txt",
    "/api/v1/status/buildinfo": "ep_api_v1_status_buildinfo.txt",
    "/api/v1/status/flags": "ep_api_v1_status_flags.txt",
    "/api/v1/status/config": "ep_api_v1_status_config.txt",
    "/api/v1/targets": "ep_api_v1_targets.txt",
}
LOG = ("2026-11-24T06:00:00.000000000Z stderr F ts=2026-11-24T06:00:00.000Z level=info msg=\"Server is ready\"\n"
       "2099-01-01T00:00:00.000000000Z stderr F ts=2099-01-01T00:00:00.000Z level=error component=remote "
       "msg=\"non-recoverable error\" err=\"server returned HTTP status 400 Bad Request\"\n")
POD = {"metadata": {"name": "prom-agent-lab-1-0", "uid": "u1", "namespace": "monitoring",
                    "creationTimestamp": "2026-11-24T06:00:00Z", "labels": {"operator.prometheus.io/name": "lab-1"}},
       "spec": {"containers": [{"name": "prometheus", "resources": {"limits": {"memory": "512Mi"}}}]},
       "status": {"phase": "Running", "startTime": "2026-11-24T06:00:00Z",
                  "conditions": [{"type": "Ready", "status": "True"}],
                  "containerStatuses": [{"name": "prometheus", "ready": True, "restartCount": 0,
                                         "state": {"running": {}}}]}}


class FakeAgent:
    """An agent pod answering from the captures; its container's files are this machine's."""

    kind = "kubernetes"
    namespace = "monitoring"
    container = "prometheus"
    label_selector = "app.kubernetes.io/name=prometheus-agent"
    pod_name = pod_ref = "prom-agent-lab-1-0"

    def __init__(self, fail=None, resources=None):
        self.fail = fail
        self.gets = Counter()
        self.resources = resources if resources is not None else {}

    def describe(self):
        return "cluster fake pod monitoring/prom-agent-lab-1-0"

    def pods(self):
        if self.fail:
            raise self.fail
        return [POD]

    def http_get(self, path, timeout=None):
        if self.fail:
            raise self.fail
        self.gets[path] += 1
        return 200, (CAPTURES / ENDPOINTS[path]).read_bytes()

    def pod_metrics(self, pod_name=None):
        return None

    def logs(self, since_time=None, tail_lines=None, timestamps=True, previous=False):
        if self.fail:
            raise self.fail
        return LOG

    def exec(self, argv, timeout=None):
        proc = subprocess.run(argv, capture_output=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    def exec_stream(self, argv, chunk_size=None):
        yield subprocess.run(argv, capture_output=True, check=True).stdout

    def request_json(self, method, path, query=None, what=None, missing_ok=False, **_kw):
        assert method == "GET"
        if self.fail:
            raise self.fail
        if path not in self.resources and missing_ok:
            return None
        return self.resources[path]


def params(module, **options):
    """The module's parameters as its argument spec makes them (defaults), with ``options``."""
    found = {k: v.get("default") for k, v in SPECS[module].argument_spec().items()}
    found.update(options)
    return found


def statuses(result):
    return {c["id"]: c["status"] for c in result["checks"]}


@pytest.fixture
def walcopy(tmp_path):
    dest = tmp_path / "wal"
    shutil.copytree(WAL, dest)
    return str(dest)


# ----------------------------------------------------------------------------- agent_audit

def test_audit_parts_are_the_runners_and_metrics_is_read_once(walcopy):
    agent = FakeAgent()
    audit = runners.run_module("agent_audit", params("agent_audit", wal_path=walcopy, wal_location="pod", logs_since="0"),
                               target=agent)
    assert agent.gets["/metrics"] == 1, agent.gets
    assert audit["changed"] is False and list(audit["parts"]) == list(runners.AUDIT_PARTS)
    assert audit["checks"] == [c for part in runners.AUDIT_PARTS for c in audit["parts"][part]["checks"]]
    assert all("changed" not in part for part in audit["parts"].values())
    alone = {
        "remote_write_stats": runners.run_remote_write_stats(params("remote_write_stats"), FakeAgent()),
        "agent_status": runners.run_agent_status(params("agent_status"), FakeAgent()),
        "wal_inspect": runners.run_wal_inspect(params("wal_inspect", path=walcopy, location="pod", verify="tail"), FakeAgent()),
        "agent_logs": runners.run_agent_logs(params("agent_logs", since="0"), FakeAgent()),
    }
    for part, result in alone.items():
        mine = audit["parts"][part]
        assert [c["id"] for c in mine["checks"]] == [c["id"] for c in result["checks"]], part
        assert statuses(mine) == statuses(result), part
        assert set(mine) == set(result), (part, set(mine) ^ set(result))
    assert statuses(audit)["LOGS"] == "warning"
    assert audit["target"] == agent.describe()


def test_audit_of_a_target_that_cannot_be_made_is_unknown_in_every_part():
    def no_cluster():
        raise errors.TargetConfigError("cannot load the kubeconfig (context nowhere)")
    audit = runners.run_module("agent_audit", params("agent_audit", wal_location="pod"), target=no_cluster)
    assert audit["status"] == "unknown" and audit["target"] == "the agent"
    for part in runners.AUDIT_PARTS:
        assert audit["parts"][part]["status"] == "unknown", part
    assert all("context nowhere" in c["message"] for c in audit["checks"]), audit["checks"]


def no_library():
    raise MissingLibrary("kubernetes")


def test_audit_unreachable_agent_and_missing_library():
    agent = FakeAgent(fail=errors.TargetUnreachable("cluster fake: API server answered 503"))
    audit = runners.run_agent_audit(params("agent_audit", gather=["remote_write_stats", "agent_status"]), agent)
    assert audit["status"] == "unknown" and list(audit["parts"]) == ["remote_write_stats", "agent_status"]
    with pytest.raises(MissingLibrary):
        runners.run_agent_audit(params("agent_audit"), target=no_library)


@pytest.mark.parametrize("option, value", [("log_examples", -1), ("logs_since", "yesterday-ish"), ("baseline", "junk"),
                                           ("timeout", -1)])
def test_audit_refuses_arguments_naming_them(option, value):
    with pytest.raises(FleetopsError, match=option):
        runners.run_agent_audit(params("agent_audit", **{option: value}), FakeAgent())


# ----------------------------------------------------------------------------- the single parts

def test_agent_status_and_its_arguments():
    result = runners.run_module("agent_status", params("agent_status"), target=FakeAgent())
    assert result["changed"] is False and result["target"].startswith("cluster fake")
    assert list(statuses(result)) == ["POD", "RESTARTS", "HEALTH", "MEMORY", "INGEST", "CONFIG", "TARGETS"]
    with pytest.raises(FleetopsError, match="interval must not be negative"):
        runners.run_agent_status(params("agent_status", interval=-1), FakeAgent())
    with pytest.raises(FleetopsError, match="^baseline: "):
        runners.run_agent_status(params("agent_status", baseline=[1]), FakeAgent())
    broken = runners.run_agent_status(params("agent_status"), FakeAgent(fail=errors.TargetAuthError("token rejected (401)")))
    assert broken["status"] == "unknown" and "401" in broken["reason"]


def test_remote_write_stats_reading_baseline_and_query_arguments():
    first = runners.run_remote_write_stats(params("remote_write_stats"), FakeAgent())
    assert first["queues"] and first["snapshot"]["time"] > 0 and statuses(first)["RW-SUCCESS"] == "unknown"
    again = runners.run_remote_write_stats(params("remote_write_stats", baseline=first["snapshot"]), FakeAgent())
    assert again["snapshot"]["queues"] and "RW-SUCCESS" in statuses(again)
    with pytest.raises(FleetopsError, match="query_url is required"):
        runners.run_remote_write_stats(params("remote_write_stats", source="query"), FakeAgent())
    with pytest.raises(FleetopsError, match="^window"):
        runners.run_remote_write_stats(params("remote_write_stats", source="query", window="soon"), FakeAgent())


def test_agent_logs_url_without_file_state_file_and_check_mode(tmp_path):
    result = runners.run_agent_logs(params("agent_logs", url="http://user:pw@vm:9090"), None)
    assert result["status"] == "unknown" and "log_path" in result["reason"] and "pw" not in result["target"]
    state = tmp_path / "state.json"
    checked = runners.run_agent_logs(params("agent_logs", state_file=str(state)), FakeAgent(), check_mode=True)
    assert checked["state_file_updated"] is False and not state.exists()
    written = runners.run_agent_logs(params("agent_logs", state_file=str(state)), FakeAgent())
    assert written["state_file_updated"] is True and "cluster fake pod" in json.loads(state.read_text())["targets"].__repr__()
    with pytest.raises(FleetopsError, match="tail_lines must be a positive number"):
        runners.run_agent_logs(params("agent_logs", tail_lines=0), FakeAgent())
    with pytest.raises(FleetopsError, match="since must be"):
        runners.run_agent_logs(params("agent_logs", since="the day before yesterday"), FakeAgent())


RULES_PATH = "/apis/monitoring.coreos.com/v1/namespaces/monitoring/prometheusrules"
EXPECTED = {"groups": [{"name": "prometheus-agent", "rules": [{"alert": "PrometheusAgentDown", "expr": "up == 0"}]}]}


def test_rules_status_missing_type_none_deployed_and_unreachable():
    missing = runners.run_rules_status(params("rules_status", expected=EXPECTED, promtool="no-such-promtool"), FakeAgent())
    assert (missing["status"], missing["checks"][0]["value"]) == ("warning", "missing")
    none = runners.run_rules_status(params("rules_status", expected="groups: %s" % json.dumps(EXPECTED["groups"]),
                                           promtool="no-such-promtool"), FakeAgent(resources={RULES_PATH: {"items": []}}))
    assert none["checks"][0]["id"] == "RULES" and none["checks"][0]["value"] == "missing"
    assert none["rules"]["exported_names_known"] is True
    down = runners.run_rules_status(params("rules_status", expected=EXPECTED),
                                    FakeAgent(fail=errors.TargetUnreachable("cluster fake refused the connection")))
    assert down["status"] == "unknown" and "refused" in down["reason"]
    with pytest.raises(FleetopsError, match="no rule groups"):
        runners.run_rules_status(params("rules_status", expected={"groups": []}), FakeAgent())


def test_agent_backup_check_mode_writes_nothing_at_dest(tmp_path):
    dest = tmp_path / "backup"
    resource = {"metadata": {"name": "lab-1", "uid": "x", "managedFields": []}, "spec": {}, "status": {"ok": 1}}
    agent = FakeAgent(resources={"/apis/monitoring.coreos.com/v1alpha1/namespaces/monitoring/prometheusagents/lab-1": resource})
    checked = runners.run_module("agent_backup", params("agent_backup", dest=str(dest), promtool="no-such-promtool"),
                                 check_mode=True, target=agent)
    assert not dest.exists() and checked["changed"] is False
    assert checked["status"] == "unknown" and checked["checks"][0]["value"] == "exported", checked
    done = runners.run_agent_backup(params("agent_backup", dest=str(dest), promtool="no-such-promtool"), agent)
    assert sorted(done["backup"]["files"]) == ["buildinfo", "config", "cr", "flags"] and done["backup"]["cr"] == "PrometheusAgent/lab-1"
    stored = json.loads((dest / "cr.json").read_text())
    assert "status" not in stored and "uid" not in stored["metadata"]
    assert done["backup"]["promtool"]["agent_mode"] is True


def test_wal_inspect_without_path_reads_the_agents_storage_path(walcopy):
    # the captured 2.42 agent runs with --storage.agent.path=/srv/lab/agent-data (not on this machine)
    res = runners.run_wal_inspect(params("wal_inspect", location="pod", verify="none"), FakeAgent())
    assert res["wal_path_source"] == "flags"
    assert res["status"] == "unknown" and "/srv/lab/agent-data/wal not found" in res["reason"], res
    given = runners.run_wal_inspect(params("wal_inspect", path=str(walcopy), location="pod", verify="none"), FakeAgent())
    assert given["wal_path_source"] == "option" and given["wal"]["path"] == str(walcopy)


# ----------------------------------------------------------------------------- agent_audit: the window since the last run

def _day_old(snapshot, seconds=86400.0, less=None, start_shift=0.0):
    """``snapshot`` made ``seconds`` older, each remote-write queue's counters lowered by ``less``."""
    old = json.loads(json.dumps(snapshot))
    for part in old.values():
        part["time"] -= seconds
    writes = old["remote_write_stats"]
    for queue in writes["queues"].values():
        for key, amount in (less or {}).items():
            queue["counters"][key] -= amount
    if start_shift:
        writes["start_time"] -= start_shift
    return old


def test_audit_baseline_from_an_earlier_audit_gives_the_window_since_that_run():
    first = runners.run_agent_audit(params("agent_audit", gather=["remote_write_stats", "agent_status"]), FakeAgent())
    assert set(first["snapshot"]) == {"agent_status", "remote_write_stats"}
    # a day earlier the queue had 1000 attempts fewer, 100 of them retried and 50 rejected for good:
    # 850 delivered of 900 that ended (94.4%) over the day, and retries in it
    baseline = _day_old(first["snapshot"], less={"samples": 1000, "retried": 100, "failed": 50, "bytes": 50000})
    audit = runners.run_agent_audit(params("agent_audit", gather=["remote_write_stats", "agent_status"], baseline=baseline),
                                    FakeAgent())
    writes = audit["parts"]["remote_write_stats"]
    assert 86400 <= writes["window_seconds"] < 86500
    success = {c["id"]: c for c in writes["checks"]}["RW-SUCCESS"]
    assert success["status"] == "critical" and success["value"] == pytest.approx(850 / 900, abs=1e-6)
    assert "over the last 24.0 h" in success["message"], success
    retry = {c["id"]: c for c in writes["checks"]}["RW-RETRY"]
    assert retry["status"] == "warning" and "100 samples retried (0.00116/s) over the last 24.0 h" in retry["message"], retry
    assert "baseline_notes" not in audit
    # the ingest rate of agent_status is over the same day
    assert audit["parts"]["agent_status"]["ingest"]["window_seconds"] == pytest.approx(86400, abs=100)


def test_audit_baseline_across_a_restart_says_so():
    first = runners.run_agent_audit(params("agent_audit", gather=["remote_write_stats"]), FakeAgent())
    baseline = _day_old(first["snapshot"], seconds=7200, start_shift=3600)
    audit = runners.run_agent_audit(params("agent_audit", gather=["remote_write_stats"], baseline=baseline), FakeAgent())
    success = {c["id"]: c for c in audit["checks"]}["RW-SUCCESS"]
    assert "over the last 2.0 h (the agent restarted in this window" in success["message"], success


@pytest.mark.parametrize("seconds, why", [(50 * 3600, "50.0 h old, more than 48 h"), (-60, "taken after this reading")])
def test_audit_baseline_too_old_or_from_the_future_is_not_used(seconds, why):
    first = runners.run_agent_audit(params("agent_audit", gather=["remote_write_stats", "agent_status"]), FakeAgent())
    audit = runners.run_agent_audit(params("agent_audit", gather=["remote_write_stats", "agent_status"],
                                           baseline=_day_old(first["snapshot"], seconds=seconds)), FakeAgent())
    assert audit["parts"]["remote_write_stats"]["window_seconds"] is None
    assert len(audit["baseline_notes"]) == 2 and all(why in note for note in audit["baseline_notes"]), audit["baseline_notes"]


def test_audit_baseline_of_agent_status_alone_and_junk():
    status = runners.run_agent_status(params("agent_status"), FakeAgent())["snapshot"]
    audit = runners.run_agent_audit(params("agent_audit", gather=["remote_write_stats", "agent_status"],
                                           baseline=dict(status, time=status["time"] - 600)), FakeAgent())
    assert audit["parts"]["remote_write_stats"]["window_seconds"] is None
    assert audit["parts"]["agent_status"]["ingest"]["window_seconds"] == pytest.approx(600, abs=60)
    for junk in ("{not json", {"remote_write_stats": {"queues": {}}}, [1, 2]):
        with pytest.raises(FleetopsError, match="baseline"):
            runners.run_agent_audit(params("agent_audit", baseline=junk), FakeAgent())
