"""Remediation modules on the lab: agent_restart's graceful restart and the cluster's Lease,
agent_tune's idempotence, check mode and named overrides, and changes that race (two runs at
once, a restart then a tune, a tune during a restart: one change, one Lease).
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from ansible_runner_helpers import run_module  # pylint: disable=import-error
from remediation_helpers import (  # pylint: disable=import-error
    CLUSTER_LEASE, lab_state, http_json, conn, module, agent_pid, kube, coordination, drop_lease, lease_record,
    cr_of, pod_of, wait_until, audit, remediate, status_of, pod_ready, PodUids, one_step, memory_near_the_limit)

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_module_graceful_restart_and_lease(lab, inventory, cluster):
    """agent_restart on a healthy agent: new uid, verified; a held lease refuses a second run."""
    info = lab_state(lab)["clusters"][cluster]
    uid = pod_of(lab, cluster).metadata.uid
    check = run_module("agent_restart", conn(lab, cluster, rw_interval=2, cooldown_seconds=0), host=cluster, inventory=inventory, check=True)
    res = check.result(cluster)
    assert res["changed"] is True and res["action"] == "graceful" and res["msg"].startswith("would"), res
    assert pod_of(lab, cluster).metadata.uid == uid

    # another run holds the cluster's lease: refused
    coord = coordination(lab, cluster)
    name = CLUSTER_LEASE
    drop_lease(lab, cluster)
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
    info = lab_state(lab)["clusters"][cluster]
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
        wait_until(lambda: pod_ready(lab, cluster), 120, what="the agent after the runs")
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
    info = lab_state(lab)["clusters"][cluster]
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
    info = lab_state(lab)["clusters"][cluster]
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
    info = lab_state(lab)["clusters"][cluster]
    original = cr_of(lab, cluster)["spec"]
    queue = {"capacity": 20000, "max_samples_per_send": 10000, "min_backoff": "30ms", "max_backoff": "5s"}
    drop = {"drop_metrics": ["go_gc_.*|go_memstats_.*"], "drop_job": "node"}

    def running():
        return http_json(lab.agent_url(cluster) + "/api/v1/status/config")["data"]["yaml"]

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
