"""End-to-end remediation on the lab, one test per fault.

Each test: inject the fault, audit (the finding is there), remediate in check mode (nothing
changes: the agent's pid and the PrometheusAgent resourceVersion stay), remediate for real,
audit again (the finding is gone), and nothing lost (the receiver still has every sample the
agent had scraped before the fault; for a receiver outage, also the samples of the outage).
A test that injects a fault heals it in ``finally``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
import urllib.parse
import urllib.request

import pytest

from ansible_runner_helpers import run_module, run_playbook  # pylint: disable=import-error
from lab_fixtures import wait_remote_write_caught_up  # pylint: disable=import-error

CLUSTER_LEASE = "fleetops-remediation"   # the one remediation Lease of a cluster (kube/lease.py)

pytestmark = [pytest.mark.lab, pytest.mark.slow]

# fast guardrail settings for the lab (the defaults are for real fleets)
FAST = {
    "remediate_rw_interval": 3,
    "remediate_wait_timeout": 90,
    "remediate_verify_timeout": 60,
    "remediate_cooldown_seconds": 0,
    "fleet_rw_min_window": 6,
    "remediate_recheck": False,
}

AUDIT_PLAY = """
- name: Audit one cluster
  hosts: "{{ fleet_hosts }}"
  gather_facts: false
  roles:
    - role: fleetops.prometheus_agent.daily_check
- name: Report
  hosts: "{{ fleet_hosts }}"
  gather_facts: false
  roles:
    - role: fleetops.prometheus_agent.fleet_report
"""


# ------------------------------------------------------------------------------------ helpers

def _state(lab):
    with open(os.path.join(lab.workdir, "state.json"), encoding="utf-8") as handle:
        return json.load(handle)


def _http_json(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # nosec - the lab on 127.0.0.1
        return json.loads(resp.read().decode())


def conn(lab, cluster, **args):
    """Module arguments reaching the cluster's agent (ad-hoc runs get no inventory defaults)."""
    info = _state(lab)["clusters"][cluster]
    base = {"kubeconfig": os.path.join(lab.workdir, "kubeconfig"), "context": info["context"], "namespace": info["namespace"],
            "pod": info["pod"]}
    base.update(args)
    return base


def module(name, lab, cluster, inventory, check=False, **args):
    """Run a module on one cluster: (result dict, failed?)."""
    run = run_module(name, conn(lab, cluster, **args), host=cluster, inventory=inventory, check=check)
    found = run.for_host(cluster)
    assert found, run.output[-3000:]
    return found[-1]["result"], found[-1]["status"] == "failed"


def agent_pid(lab, cluster):
    """The agent's pid now (the daemon's live status; state.json as a fallback)."""
    state = _state(lab)
    try:
        status = _http_json(state["control_url"] + "/status")["status"]
        return status["clusters"][cluster].get("pid")
    except (OSError, KeyError, ValueError):
        return state["clusters"][cluster].get("pid")


def kube(lab, cluster):
    from kubernetes import client, config  # pylint: disable=import-outside-toplevel
    api_client = config.new_client_from_config(config_file=os.path.join(lab.workdir, "kubeconfig"), context=cluster)
    return client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)


def coordination(lab, cluster):
    from kubernetes import client  # pylint: disable=import-outside-toplevel
    core, _custom = kube(lab, cluster)
    return client.CoordinationV1Api(core.api_client)


def _drop_lease(lab, cluster):
    """Delete the cluster's remediation Lease (and the change record on it), if there is one."""
    from kubernetes.client.exceptions import ApiException  # pylint: disable=import-outside-toplevel
    try:
        coordination(lab, cluster).delete_namespaced_lease(CLUSTER_LEASE, _state(lab)["clusters"][cluster]["namespace"])
    except ApiException as exc:
        if exc.status != 404:
            raise


def lease_record(lab, cluster):
    """The change record on the cluster's Lease: its fleetops.io/last-* annotations ({} without)."""
    from kubernetes.client.exceptions import ApiException  # pylint: disable=import-outside-toplevel
    try:
        lease = coordination(lab, cluster).read_namespaced_lease(CLUSTER_LEASE, _state(lab)["clusters"][cluster]["namespace"])
    except ApiException as exc:
        if exc.status == 404:
            return {}
        raise
    notes = lease.metadata.annotations or {}
    return dict((key[len("fleetops.io/last-"):], value) for key, value in notes.items() if key.startswith("fleetops.io/last-"))


def cr_of(lab, cluster):
    info = _state(lab)["clusters"][cluster]
    _core, custom = kube(lab, cluster)
    return custom.get_namespaced_custom_object("monitoring.coreos.com", "v1alpha1", info["namespace"], "prometheusagents",
                                               info["agent_cr"])


def pod_of(lab, cluster):
    info = _state(lab)["clusters"][cluster]
    core, _custom = kube(lab, cluster)
    return core.read_namespaced_pod(info["pod"], info["namespace"])


def receiver_count(lab, cluster, start, end):
    """Samples of ``up`` of the cluster at the receiver between ``start`` and ``end`` (epoch s)."""
    window = max(int(end - start), 1)
    query = 'sum(count_over_time(up{cluster="%s"}[%ds]))' % (cluster, window)
    url = "%s/api/v1/query?%s" % (_state(lab)["receiver"]["url"], urllib.parse.urlencode({"query": query, "time": "%.3f" % end}))
    data = _http_json(url)
    result = data["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def wait_until(predicate, timeout, step=2.0, what="condition"):
    """The first true value of ``predicate``; a connection error (a process still starting, such as
    the receiver right after its heal) counts as not yet."""
    deadline = time.time() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
        except OSError as exc:      # urllib's URLError is an OSError
            value, last_error = None, exc
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError("timed out after %ss waiting for %s%s" % (
                timeout, what, " (last error: %s)" % last_error if last_error else ""))
        time.sleep(step)


def audit(lab, inventory, cluster, tmp_path, tag):
    """Run the daily check on one cluster; returns its entry of the report JSON."""
    out = tmp_path / ("audit-" + tag)
    run = run_playbook(AUDIT_PLAY, inventory, extra_vars={"fleet_hosts": cluster, "fleet_report_dir": str(out),
                                                          "fleet_history_file": "", "fleet_rw_min_window": 6}, cwd=str(tmp_path))
    assert run.rc == 0, run.output[-4000:]
    with open(out / "fleet-report.json", encoding="utf-8") as handle:
        return json.load(handle)["clusters"][cluster]


def remediate(lab, inventory, cluster, tmp_path, tag, approved, check=False, extra=None):
    """Run the remediate playbook on one cluster; returns (run, report entry of the cluster)."""
    out = tmp_path / ("remediate-" + tag)
    extra_vars = dict(FAST, fleet_hosts=cluster, fleet_report_dir=str(out), fleet_history_file="", remediation_approved=approved)
    extra_vars.update(extra or {})
    run = run_playbook("fleetops.prometheus_agent.remediate", inventory, extra_vars=extra_vars, check=check, cwd=str(tmp_path))
    path = out / "fleet-report.json"
    entry = None
    if path.exists():
        with open(path, encoding="utf-8") as handle:
            entry = json.load(handle)["clusters"][cluster]
    return run, entry


def status_of(entry, check_id):
    for check in entry["checks"]:
        if check["id"] == check_id:
            return check["status"]
    return None


def bad(entry):
    return {c["id"]: c["status"] for c in entry["checks"] if c["status"] in ("warning", "critical")}


def unchanged_in_check_mode(lab, inventory, cluster, tmp_path, tag, extra=None):
    """Remediation in check mode (--check, approved): the plan, and the same pid, pod and resourceVersion."""
    pid, rv = agent_pid(lab, cluster), cr_of(lab, cluster)["metadata"]["resourceVersion"]
    uid = pod_of(lab, cluster).metadata.uid
    run, entry = remediate(lab, inventory, cluster, tmp_path, tag + "-check", approved=True, check=True, extra=extra)
    assert run.rc == 0, run.output[-4000:]
    assert agent_pid(lab, cluster) == pid
    assert cr_of(lab, cluster)["metadata"]["resourceVersion"] == rv
    assert pod_of(lab, cluster).metadata.uid == uid
    assert entry is not None
    for record in entry["remediation"]:
        assert record["acted"] is False and record["changed"] is False
    return entry


def baseline(lab, cluster, seconds=40):
    """(t0, samples of the last ``seconds`` at the receiver) just before a fault."""
    t0 = time.time()
    time.sleep(8)  # let the newest samples reach the receiver
    count = receiver_count(lab, cluster, t0 - seconds, t0)
    assert count > 0, "no samples of %s at the receiver before the fault" % cluster
    return t0, seconds, count


def nothing_lost(lab, cluster, base):
    t0, seconds, count = base
    after = receiver_count(lab, cluster, t0 - seconds, t0)
    assert after >= count, "samples from before the fault were lost: %s before, %s now" % (count, after)


# ------------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def inventory(lab):
    return os.path.join(lab.workdir, "inventory.yml")


def _ready(lab, cluster):
    try:
        pod = pod_of(lab, cluster)
    except Exception:  # pylint: disable=broad-except
        return False
    conds = {c.type: c.status for c in (pod.status.conditions or [])}
    return conds.get("Ready") == "True" and pod.metadata.deletion_timestamp is None


@pytest.fixture
def cluster(lab):
    """A cluster that is healthy at the start of the test (the last real one): its pod Ready and every
    agent's remote write caught up (a queueConfig change of the test before re-creates the queue, which
    then lags for a while: the restart guard rightly refuses a restart then)."""
    name = sorted(c for c, v in _state(lab)["clusters"].items() if not v.get("synthetic"))[-1]
    wait_until(lambda: _ready(lab, name), 120, what="%s Ready before the test" % name)
    wait_remote_write_caught_up(lab)
    return name


# ------------------------------------------------------------------------------------ tests

def test_receiver_down_restart_is_refused(lab, inventory, cluster, tmp_path):
    """prometheus#13539: never restart while the receiver is down; the outage's samples arrive after."""
    base = baseline(lab, cluster)
    pid = agent_pid(lab, cluster)
    t_fault = time.time()
    lab.fault("receiver-down", None)
    try:
        time.sleep(15)
        # the module refuses, in check mode and for real, even with a restart asked for explicitly
        for check in (True, False):
            res, failed = module("agent_restart", lab, cluster, inventory, check=check, reason="unhealthy", rw_interval=3)
            assert failed and res.get("refused"), res
            assert any("receiver" in r or "lag" in r for r in res["refusal_reasons"]), res["refusal_reasons"]
            assert res["changed"] is False
        assert agent_pid(lab, cluster) == pid
        # the role plans nothing that restarts the agent (or blocks it) and restarts nothing
        run, entry = remediate(lab, inventory, cluster, tmp_path, "rx-down", approved=True, extra={"remediate_recheck": False})
        assert entry is not None, run.output[-4000:]
        assert set(bad(entry)) & {"RW-RETRY", "RW-LAG", "RW-PENDING", "RW-SUCCESS"}, entry["checks"]
        for record in entry["remediation"]:
            assert record["changed"] is False, record
        assert agent_pid(lab, cluster) == pid
    finally:
        lab.heal("receiver-down", None)
    t_heal = time.time()
    # the WAL held the outage: after the backlog drains the receiver has those samples too
    rate = base[2] / base[1]
    wait_until(lambda: receiver_count(lab, cluster, t_fault + 2, t_heal - 2) >= 0.8 * rate * (t_heal - t_fault - 4), 300,
               step=5, what="the outage's samples at the receiver")
    nothing_lost(lab, cluster, base)


def test_agent_kill(lab, inventory, cluster, tmp_path):
    """The kubelet restarts a killed agent; remediation verifies and restarts nothing needlessly."""
    base = baseline(lab, cluster)
    lab.fault("agent-kill", cluster)
    try:
        entry = audit(lab, inventory, cluster, tmp_path, "kill-1")
        assert set(bad(entry)) & {"RESTARTS", "HEALTH", "POD"}, entry["checks"]
        wait_until(lambda: _ready(lab, cluster), 120, what="the kubelet restarting the agent")
        unchanged_in_check_mode(lab, inventory, cluster, tmp_path, "kill")
        run, entry = remediate(lab, inventory, cluster, tmp_path, "kill-go", approved=True)
        assert run.rc == 0, run.output[-4000:]
        assert all(r["outcome"] in ("done", "planned") for r in entry["remediation"]), entry["remediation"]
        after = audit(lab, inventory, cluster, tmp_path, "kill-2")
        assert status_of(after, "HEALTH") == "ok" and status_of(after, "POD") == "ok", after["checks"]
        assert "critical" not in bad(after).values(), after["checks"]
    finally:
        lab.heal("agent-kill", cluster)
    nothing_lost(lab, cluster, base)


def test_wal_corrupt(lab, inventory, cluster, tmp_path):
    """WAL corruption: restart first (Prometheus repairs at start-up), verify, delete nothing."""
    base = baseline(lab, cluster)
    lab.fault("wal-corrupt", cluster)
    try:
        wait_until(lambda: _ready(lab, cluster), 120, what="the agent after the WAL corruption")
        entry = audit(lab, inventory, cluster, tmp_path, "wal-1")
        assert status_of(entry, "WAL-HEALTH") == "critical" or status_of(entry, "LOGS") == "critical", entry["checks"]
        plan = unchanged_in_check_mode(lab, inventory, cluster, tmp_path, "wal")
        assert [r["action"] for r in plan["remediation"]] == ["wal_recovery"], plan["remediation"]
        uid = pod_of(lab, cluster).metadata.uid
        run, entry = remediate(lab, inventory, cluster, tmp_path, "wal-go", approved=True, extra={"remediate_recheck": True})
        assert run.rc == 0, run.output[-4000:]
        record = entry["remediation"][0]
        assert record["action"] == "wal_recovery" and record["outcome"] == "done", record
        assert record["detail"]["wal"]["deleted"] == [] and not record["detail"]["wal"]["data_loss"]
        assert record["detail"]["wal"]["corruptions_after"] == []
        assert pod_of(lab, cluster).metadata.uid != uid
        # the role checked again after acting: the report holds the state after remediation
        assert status_of(entry, "WAL-HEALTH") in ("ok", "warning"), entry["checks"]
        assert "critical" not in bad(entry).values(), entry["checks"]
    finally:
        lab.heal("wal-corrupt", cluster)
    nothing_lost(lab, cluster, base)


def test_high_memory_resources_step(lab, inventory, cluster, tmp_path):
    """Memory near the limit: +25% memory through the PrometheusAgent, pod rolled, finding gone.

    The lab's high-memory fault lowers the agent's cgroup limit to usage/0.9; the PrometheusAgent is
    set to that same limit, as it would be on a real cluster whose limit is too low for the agent.
    """
    base = baseline(lab, cluster)
    with memory_near_the_limit(lab, cluster) as limit:
        entry = audit(lab, inventory, cluster, tmp_path, "mem-1")
        assert status_of(entry, "MEMORY") == "critical", entry["checks"]
        plan = unchanged_in_check_mode(lab, inventory, cluster, tmp_path, "mem")
        assert "resources_increase" in [r["action"] for r in plan["remediation"]], plan["remediation"]
        run, entry = remediate(lab, inventory, cluster, tmp_path, "mem-go", approved=True)
        assert run.rc == 0, run.output[-4000:]
        record = [r for r in entry["remediation"] if r["action"] == "resources_increase"][0]
        assert record["outcome"] == "done" and record["changed"], record
        assert record["detail"]["changes"][0].startswith("resources.limits.memory %s -> " % limit), record["detail"]
        wait_until(lambda: _ready(lab, cluster), 120, what="the agent after the resources step")
        after = audit(lab, inventory, cluster, tmp_path, "mem-2")
        assert status_of(after, "MEMORY") != "critical", after["checks"]
    nothing_lost(lab, cluster, base)


@contextlib.contextmanager
def memory_near_the_limit(lab, cluster):
    """The lab's high-memory fault (the agent's cgroup limit lowered to usage/0.93) with the PrometheusAgent
    set to that same limit, as on a real cluster whose limit is too low for the agent; yields the limit.
    Healed and the resources restored after."""
    info = _state(lab)["clusters"][cluster]
    _core, custom = kube(lab, cluster)
    original = (cr_of(lab, cluster)["spec"].get("resources") or {})
    details = lab.fault("high-memory", cluster)
    details = details.get("details", details) if isinstance(details, dict) else {}
    try:
        limit = details.get("memory_limit")
        assert limit, details
        custom.patch_namespaced_custom_object("monitoring.coreos.com", "v1alpha1", info["namespace"], "prometheusagents", info["agent_cr"],
                                              {"spec": {"resources": dict(original, limits=dict(original.get("limits") or {}, memory=limit))}})
        wait_until(lambda: _ready(lab, cluster) and _pod_limit(lab, cluster) == limit, 120, what="the pod with the low limit")
        yield limit
    finally:
        lab.heal("high-memory", cluster)
        custom.patch_namespaced_custom_object("monitoring.coreos.com", "v1alpha1", info["namespace"], "prometheusagents", info["agent_cr"],
                                              {"spec": {"resources": original}})
        wait_until(lambda: _ready(lab, cluster), 120, what="the agent after restoring its resources")


def _pod_limit(lab, cluster):
    for container in pod_of(lab, cluster).spec.containers:
        if container.name == "prometheus":
            return ((container.resources and container.resources.limits) or {}).get("memory")
    return None


def test_crashloop(lab, inventory, cluster, tmp_path):
    """A crash-looping agent: a graceful restart is tried, and reported failed when the new pod crashes too."""
    base = baseline(lab, cluster)
    lab.fault("crashloop", cluster)
    healed = False
    try:
        wait_until(lambda: not _ready(lab, cluster), 60, what="the agent to crash")
        time.sleep(10)
        entry = audit(lab, inventory, cluster, tmp_path, "crash-1")
        assert status_of(entry, "POD") == "critical" or status_of(entry, "HEALTH") == "critical", entry["checks"]
        plan = unchanged_in_check_mode(lab, inventory, cluster, tmp_path, "crash")
        assert "graceful_restart" in [r["action"] for r in plan["remediation"]], plan["remediation"]
        run, entry = remediate(lab, inventory, cluster, tmp_path, "crash-go", approved=True,
                               extra={"remediate_wait_timeout": 30, "remediate_recheck": False})
        # in the lab the crash comes from a bad flag that survives a new pod: the restart is
        # done and reported as failed (the host fails, the play records it)
        record = [r for r in entry["remediation"] if r["action"] == "graceful_restart"][0] if entry else None
        assert record is not None, run.output[-4000:]
        assert record["outcome"] in ("failed", "done"), record
        lab.heal("crashloop", cluster)
        healed = True
        wait_until(lambda: _ready(lab, cluster), 120, what="the agent after healing")
        after = audit(lab, inventory, cluster, tmp_path, "crash-2")
        assert status_of(after, "HEALTH") == "ok", after["checks"]
    finally:
        if not healed:
            lab.heal("crashloop", cluster)
    nothing_lost(lab, cluster, base)


def test_stuck_terminating_forced(lab, inventory, cluster, tmp_path):
    """A pod stuck Terminating: a forced delete (grace 0) brings a new pod."""
    base = baseline(lab, cluster)
    uid = pod_of(lab, cluster).metadata.uid
    lab.fault("stuck-terminating", cluster)
    try:
        wait_until(lambda: pod_of(lab, cluster).metadata.deletion_timestamp is not None, 60, what="the pod Terminating")
        entry = audit(lab, inventory, cluster, tmp_path, "stuck-1")
        assert status_of(entry, "POD") in ("warning", "critical"), entry["checks"]
        plan = unchanged_in_check_mode(lab, inventory, cluster, tmp_path, "stuck")
        assert "forced_restart" in [r["action"] for r in plan["remediation"]], plan["remediation"]
        # stuck means past the grace period (deletionTimestamp is the deadline the API set):
        # the audits above may be quicker than the fault's 30 s grace
        deadline = pod_of(lab, cluster).metadata.deletion_timestamp.timestamp()
        wait_until(lambda: time.time() > deadline + 1, 60, what="the pod past its grace period")
        run, entry = remediate(lab, inventory, cluster, tmp_path, "stuck-go", approved=True,
                               extra={"remediate_stuck_after_seconds": 0})
        record = [r for r in entry["remediation"] if r["action"] == "forced_restart"][0]
        assert record["outcome"] == "done", repr(record)
        assert pod_of(lab, cluster).metadata.uid != uid
        after = audit(lab, inventory, cluster, tmp_path, "stuck-2")
        assert status_of(after, "POD") == "ok", after["checks"]
    finally:
        lab.heal("stuck-terminating", cluster)
    nothing_lost(lab, cluster, base)


def test_module_graceful_restart_and_lease(lab, inventory, cluster):
    """agent_restart on a healthy agent: new uid, verified; a held lease refuses a second run."""
    info = _state(lab)["clusters"][cluster]
    uid = pod_of(lab, cluster).metadata.uid
    check = run_module("agent_restart", conn(lab, cluster, rw_interval=2, cooldown_seconds=0), host=cluster, inventory=inventory, check=True)
    res = check.result(cluster)
    assert res["changed"] is True and res["action"] == "graceful" and res["msg"].startswith("would"), res
    assert pod_of(lab, cluster).metadata.uid == uid

    # another run holds the cluster's lease: refused
    coord = coordination(lab, cluster)
    name = CLUSTER_LEASE
    _drop_lease(lab, cluster)
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    coord.create_namespaced_lease(info["namespace"], {"metadata": {"name": name}, "spec": {
        "holderIdentity": "someone-else", "leaseDurationSeconds": 300, "acquireTime": now, "renewTime": now}})
    try:
        held, failed = module("agent_restart", lab, cluster, inventory, rw_interval=2)
        assert failed and held.get("refused") and "someone-else" in held["msg"], held
        assert pod_of(lab, cluster).metadata.uid == uid
    finally:
        coord.delete_namespaced_lease(name, info["namespace"])

    run = run_module("agent_restart", conn(lab, cluster, rw_interval=2, wait_timeout=90, verify_timeout=60, cooldown_seconds=0),
                     host=cluster, inventory=inventory)
    res = run.result(cluster)
    assert not res.get("failed"), res
    assert res["changed"] is True and res["action"] == "graceful"
    assert res["before"]["uid"] == uid and res["after"]["uid"] != uid
    assert res["verification"]["remote_write"]["ok"] and res["verification"]["targets"]["ok"], res["verification"]
    # given back: no holder, and the record of the restart (what the cooldown of other runs reads)
    assert res["lease"]["held"] is False
    kept = coord.read_namespaced_lease(name, info["namespace"])
    assert not kept.spec.holder_identity
    assert kept.metadata.annotations["fleetops.io/last-action"] == "graceful_restart"
    assert kept.metadata.annotations["fleetops.io/last-change"] == "rollout restart of StatefulSet %s/%s" % (
        info["namespace"], info["statefulset"])


def test_module_tune_idempotent_and_check_mode(lab, inventory, cluster):
    """agent_tune: check mode changes nothing, a drop rule is added once, protected names are refused.
    (Its own changes one after the other: no cooldown, which test_restart_then_tune_the_tune_plans_nothing covers.)"""
    args = {"drop_metrics": ["node_softnet_.*"], "cooldown_seconds": 0}
    module("agent_tune", lab, cluster, inventory, drop_state="absent", **args)  # a clean start
    rv = cr_of(lab, cluster)["metadata"]["resourceVersion"]
    check, failed = module("agent_tune", lab, cluster, inventory, check=True, **args)
    assert not failed and check["changed"] is True, check
    assert cr_of(lab, cluster)["metadata"]["resourceVersion"] == rv
    first, failed = module("agent_tune", lab, cluster, inventory, **args)
    assert not failed and first["changed"] is True, first
    assert cr_of(lab, cluster)["metadata"]["resourceVersion"] != rv
    second, failed = module("agent_tune", lab, cluster, inventory, **args)
    assert not failed and second["changed"] is False, second
    refused, failed = module("agent_tune", lab, cluster, inventory, drop_metrics=["prometheus_remote_.*"])
    assert failed and refused.get("refused") and "prometheus_" in refused["msg"], refused
    bounds, failed = module("agent_tune", lab, cluster, inventory, queue={"capacity": 100, "max_samples_per_send": 500})
    assert failed and "3-10x" in bounds["msg"], bounds
    back, failed = module("agent_tune", lab, cluster, inventory, drop_state="absent", **args)
    assert not failed and back["changed"] is True, back


def test_shards_above_max_queue_tuning(lab, inventory, cluster, tmp_path):
    """desired shards above max: the plan raises maxShards (bounded, never lowered) through queueConfig.

    Three lab agents at a few hundred samples/s never need more than one shard, so the finding
    comes from a report file (remediate_report), the way a scheduled audit hands its findings over.
    """
    info = _state(lab)["clusters"][cluster]
    report = tmp_path / "findings.json"
    report.write_text(json.dumps({"clusters": {cluster: {"status": "critical", "checks": [
        {"id": "RW-SHARDS", "status": "critical", "value": {"desired": 64, "max": 50}, "threshold": None,
         "message": "desired shards 64 above max 50"}]}}}), encoding="utf-8")
    rv = cr_of(lab, cluster)["metadata"]["resourceVersion"]
    pid = agent_pid(lab, cluster)
    run, entry = remediate(lab, inventory, cluster, tmp_path, "shards-plan", approved=False, extra={"remediate_report": str(report)})
    assert run.rc == 0, run.output[-4000:]
    assert [r["action"] for r in entry["remediation"]] == ["queue_tuning"], entry["remediation"]
    assert entry["remediation"][0]["detail"]["would_change"] is True
    assert cr_of(lab, cluster)["metadata"]["resourceVersion"] == rv and agent_pid(lab, cluster) == pid
    run, entry = remediate(lab, inventory, cluster, tmp_path, "shards-go", approved=True,
                           extra={"remediate_report": str(report), "remediate_recheck": False})
    assert run.rc == 0, run.output[-4000:]
    record = entry["remediation"][0]
    assert record["outcome"] == "done" and record["changed"], record
    queue = cr_of(lab, cluster)["spec"]["remoteWrite"][0]["queueConfig"]
    assert queue["maxShards"] == 80, queue
    # a second run changes nothing (idempotent), the agent kept running (a reload, not a restart)
    run, entry = remediate(lab, inventory, cluster, tmp_path, "shards-again", approved=True,
                           extra={"remediate_report": str(report), "remediate_recheck": False})
    assert entry["remediation"][0]["changed"] is False, entry["remediation"]
    assert agent_pid(lab, cluster) == pid
    _core, custom = kube(lab, cluster)
    custom.patch_namespaced_custom_object("monitoring.coreos.com", "v1alpha1", info["namespace"], "prometheusagents", info["agent_cr"],
                                          {"spec": {"remoteWrite": [dict(cr_of(lab, cluster)["spec"]["remoteWrite"][0], queueConfig={})]}})


def test_two_runs_at_once_restart_once(lab, inventory, cluster):
    """Issue 8 item 5: two remediation runs on one cluster at the same time restart it once."""
    import threading  # pylint: disable=import-outside-toplevel
    uid = pod_of(lab, cluster).metadata.uid
    results = {}

    def go(i):
        args = conn(lab, cluster, rw_interval=2, wait_timeout=90, verify_timeout=60, lease_holder="run-%d" % i, cooldown_seconds=0)
        run = run_module("agent_restart", args, host=cluster, inventory=inventory)
        results[i] = run.result(cluster)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    changed = [r for r in results.values() if r.get("changed")]
    assert len(changed) == 1, results
    other = [r for r in results.values() if not r.get("changed")][0]
    assert other.get("refused") or "not restarting" in other.get("msg", ""), other
    assert pod_of(lab, cluster).metadata.uid != uid


# ------------------------------------------------------------------------------------ racing changes (issue 17 item 3)

@pytest.fixture
def clean_lease(lab, cluster):
    """No remediation Lease (nor change record) on the cluster before and after the test."""
    _drop_lease(lab, cluster)
    yield
    _drop_lease(lab, cluster)


class PodUids:
    """The uids the agent pod has had while watching (every 0.5 s, in a thread): one new uid per replacement."""

    def __init__(self, lab, cluster):
        self.lab, self.cluster = lab, cluster
        self.seen = [pod_of(lab, cluster).metadata.uid]
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self):
        while not self.done.wait(0.5):
            try:
                uid = pod_of(self.lab, self.cluster).metadata.uid
            except Exception:  # pylint: disable=broad-except
                continue        # between the old pod and the new one
            if uid != self.seen[-1]:
                self.seen.append(uid)

    def stop(self):
        self.done.set()
        self.thread.join()
        return self.seen


def one_step(limit):
    """The memory limit one +25 % step above ``limit`` (a whole Mi, rounded up, as policy.step_resources)."""
    mib = int(math.ceil({"Mi": 1, "Gi": 1024}[limit[-2:]] * int(limit[:-2]) * 1.25))
    return "%dGi" % (mib // 1024) if mib % 1024 == 0 else "%dMi" % mib


def test_two_approved_runs_8s_apart_change_once(lab, inventory, cluster, tmp_path, clean_lease):
    """Two approved remediate runs started 8 s apart on one cluster with memory near its limit: exactly one
    limit raise (one +25 % step, not two) and one pod replacement; the second run says why it did nothing.

    Both act on the findings of one audit (remediate_report), so both plan the resources_increase."""
    with memory_near_the_limit(lab, cluster) as limit:
        entry = audit(lab, inventory, cluster, tmp_path, "race-audit")
        assert status_of(entry, "MEMORY") == "critical", entry["checks"]
        report = tmp_path / "findings.json"
        report.write_text(json.dumps({"clusters": {cluster: entry}}), encoding="utf-8")
        extra = {"remediate_report": str(report), "remediate_cooldown_seconds": 300}
        uids = PodUids(lab, cluster)
        runs = {}

        def go(tag):
            runs[tag] = remediate(lab, inventory, cluster, tmp_path, tag, approved=True, extra=extra)

        first = threading.Thread(target=go, args=("race-1",))
        second = threading.Thread(target=go, args=("race-2",))
        first.start()
        time.sleep(8)
        second.start()
        first.join()
        second.join()
        wait_until(lambda: _ready(lab, cluster), 120, what="the agent after the runs")
        time.sleep(3)
        seen = uids.stop()
        records = {}
        for tag, (run, found) in sorted(runs.items()):
            assert run.rc == 0 and found is not None, run.output[-4000:]
            records[tag] = [r for r in found["remediation"] if r["action"] == "resources_increase"][0]
        acted = [r for r in records.values() if r["changed"]]
        assert len(acted) == 1, records
        done = acted[0]
        other = [r for r in records.values() if r is not done][0]
        stepped = one_step(limit)
        assert done["outcome"] == "done" and done["detail"]["changes"][0] == "resources.limits.memory %s -> %s" % (limit, stepped), done
        assert other["outcome"] == "cooldown" and other["changed"] is False, other
        said = other["detail"]["msg"]
        assert said.startswith("planned nothing: tune (") and ", cooldown until " in said, said
        assert "resources.limits.memory %s -> %s" % (limit, stepped) in said, said
        assert cr_of(lab, cluster)["spec"]["resources"]["limits"]["memory"] == stepped
        assert len(seen) == 2, "the pod was replaced %d times: %s" % (len(seen) - 1, seen)
        record = lease_record(lab, cluster)
        assert record["action"] == "tune" and "-> %s" % stepped in record["change"], record


def test_restart_then_tune_the_tune_plans_nothing(lab, inventory, cluster, clean_lease):
    """A restart followed at once by a tune of the same cluster (another run): the tune changes nothing
    within the cooldown and says what was changed when; check mode says the same and takes no lease."""
    info = _state(lab)["clusters"][cluster]
    restarted, failed = module("agent_restart", lab, cluster, inventory, rw_interval=2, wait_timeout=90, verify=False,
                               lease_holder="run-restart", cooldown_seconds=0)
    assert not failed and restarted["changed"] is True, restarted
    spec = cr_of(lab, cluster)["spec"]   # the status may move with the pods
    said = "planned nothing: graceful_restart (rollout restart of StatefulSet %s/%s) by run-restart at " % (
        info["namespace"], info["statefulset"])
    for check in (True, False):
        tuned, failed = module("agent_tune", lab, cluster, inventory, check=check, drop_metrics=["node_softnet_.*"])
        assert not failed and tuned["changed"] is False, tuned
        assert tuned["msg"].startswith(said) and ", cooldown until " in tuned["msg"], tuned["msg"]
        assert cr_of(lab, cluster)["spec"] == spec
    assert lease_record(lab, cluster)["holder"] == "run-restart"


def test_a_tune_during_a_restart_waits_for_the_lease_then_plans_nothing(lab, inventory, cluster, clean_lease):
    """A tune started while another run restarts the agent (holding the cluster's Lease) waits for it
    (lease_wait), then sees the restart's record and changes nothing."""
    info = _state(lab)["clusters"][cluster]
    results = {}
    restart = threading.Thread(target=lambda: results.update(restart=module(
        "agent_restart", lab, cluster, inventory, rw_interval=2, wait_timeout=90, verify_timeout=60, lease_holder="run-restart",
        cooldown_seconds=0)))     # not held back by an earlier test's restart (the tune keeps the catalog's cooldown)
    restart.start()
    try:
        coord = coordination(lab, cluster)
        wait_until(lambda: _held_by(coord, info["namespace"]) == "run-restart", 60, step=0.5, what="the restart holding the lease")
        spec = cr_of(lab, cluster)["spec"]   # the status may move with the pods
        tuned, failed = module("agent_tune", lab, cluster, inventory, drop_metrics=["node_softnet_.*"], lease_wait=240)
    finally:
        restart.join()
    restarted, failed_restart = results["restart"]
    assert not failed_restart and restarted["changed"] is True, restarted
    assert not failed and tuned["changed"] is False, tuned
    assert tuned["msg"].startswith("planned nothing: graceful_restart (") and "by run-restart" in tuned["msg"], tuned["msg"]
    assert cr_of(lab, cluster)["spec"] == spec


def _held_by(coord, namespace):
    from kubernetes.client.exceptions import ApiException  # pylint: disable=import-outside-toplevel
    try:
        return coord.read_namespaced_lease(CLUSTER_LEASE, namespace).spec.holder_identity
    except ApiException:
        return None


def test_module_tune_runbook_settings_through_named_overrides(lab, inventory, cluster):
    """Issue 18 item 6: the runbook's own settings reach the agent. Its queue (capacity 20000 with
    maxSamplesPerSend 10000, backoff) and its go_gc_/go_memstats_ drop rule are refused as before,
    and made with the guardrail named (reported); the drop rule scoped to the node job; the scrape
    interval. The lab agent's running configuration and the receiver show each."""
    info = _state(lab)["clusters"][cluster]
    original = cr_of(lab, cluster)["spec"]
    queue = {"capacity": 20000, "max_samples_per_send": 10000, "min_backoff": "30ms", "max_backoff": "5s"}
    drop = {"drop_metrics": ["go_gc_.*|go_memstats_.*"], "drop_job": "node"}

    def running():
        return _http_json(lab.agent_url(cluster) + "/api/v1/status/config")["data"]["yaml"]

    refused, failed = module("agent_tune", lab, cluster, inventory, queue=queue, cooldown_seconds=0)
    assert failed and refused["refused"] and "capacity 20000 must be 3-10x" in refused["msg"], refused
    refused, failed = module("agent_tune", lab, cluster, inventory, cooldown_seconds=0, **drop)
    assert failed and refused["refused"] and "of job node" in refused["msg"], refused
    try:
        tuned, failed = module("agent_tune", lab, cluster, inventory, queue=queue, scrape_interval="10s", cooldown_seconds=0,
                               override_guardrails=["capacity_bounds", "protected_metrics"], **drop)
        assert not failed and tuned["changed"] is True, tuned
        assert [g.split(":")[0] for g in tuned["guardrails_overridden"]] == ["protected_metrics", "capacity_bounds"], tuned
        config = wait_until(lambda: "capacity: 20000" in running() and running(), 60, what="the agent to load the tuned queue")
        assert "max_samples_per_send: 10000" in config and "min_backoff: 30ms" in config and "max_backoff: 5s" in config
        assert "scrape_interval: 10s" in config
        assert "source_labels: [job, __name__]" in config and "regex: node;(?:go_gc_.*|go_memstats_.*)" in config, config
        # the receiver stops getting the node job's Go series, the agent's own keep coming
        node_go = 'count_over_time(go_memstats_alloc_bytes{job="node",cluster="%s"}[15s])' % cluster
        agent_go = 'count_over_time(go_memstats_alloc_bytes{job="prometheus-agent",cluster="%s"}[15s])' % cluster
        wait_until(lambda: not lab.query(node_go), 90, what="the node job's go_ series to stop at the receiver")
        # the reload and the new queue (backoff 30ms-5s) can leave a 15 s gap at the receiver right
        # after the drop took effect: the agent's own series must come back into that window
        wait_until(lambda: lab.query(agent_go), 60, what="the agent's own go_ series at the receiver (they must not be dropped)")
        again, failed = module("agent_tune", lab, cluster, inventory, queue=queue, scrape_interval="10s", cooldown_seconds=0,
                               override_guardrails=["capacity_bounds", "protected_metrics"], **drop)
        assert not failed and again["changed"] is False, again
        timeout, failed = module("agent_tune", lab, cluster, inventory, scrape_timeout="20s", cooldown_seconds=0)
        assert failed and "scrapeTimeout 20s is above scrapeInterval 10s" in timeout["msg"], timeout
    finally:
        _core, custom = kube(lab, cluster)
        custom.patch_namespaced_custom_object("monitoring.coreos.com", "v1alpha1", info["namespace"], "prometheusagents",
                                              info["agent_cr"], {"spec": {"remoteWrite": original["remoteWrite"],
                                                                          "scrapeInterval": original.get("scrapeInterval")}})
    wait_until(lambda: "capacity: 20000" not in running(), 60, what="the agent back on its own queue")
