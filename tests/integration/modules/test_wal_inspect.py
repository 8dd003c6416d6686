"""wal_inspect through the real ``ansible`` / ``ansible-playbook`` against the lab.

Local mode reads a lab agent's WAL directory on this machine (like an agent on a VM); pod mode
goes through the lab's Kubernetes API (pods/exec: ``sh``/``stat``/``df`` and ``cat`` streaming)
with the lab inventory's connection variables. Faults: ``wal-corrupt-stopped`` (bytes flipped in
a record of a middle segment of a stopped agent) must come out critical with the segment and the
offset of the record; a missing path and an unreachable cluster come out ``unknown`` (not a failed
task).
"""

from __future__ import annotations

import json
import os
import re
import sys

import pytest

from ansible_runner_helpers import run_module, run_playbook  # pylint: disable=import-error
from lab_fixtures import reset_pod  # pylint: disable=import-error

pytestmark = [pytest.mark.lab]

POD_ARGS = {
    "kubeconfig": "{{ kubeconfig }}",
    "context": "{{ kube_context }}",
    "namespace": "{{ agent_namespace | default('monitoring') }}",
    "label_selector": "{{ agent_selector | default(omit) if agent_pod is not defined else omit }}",
    "pod": "{{ agent_pod | default(omit) }}",
    "ca_cert": "{{ ca_cert | default(omit) }}",
    "timeout": 60,      # a shared, loaded test machine: the default 10 s per call is tight
}


def _state(lab):
    with open(os.path.join(lab.workdir, "state.json"), encoding="utf-8") as handle:
        return json.load(handle)


def _clusters(lab):
    return sorted(c for c, v in _state(lab)["clusters"].items() if not v.get("synthetic"))


def _ok_result(run, host):
    res = run.result(host)
    assert not res.get("failed"), json.dumps(res)[:3000]
    return res


# localhost has no inventory: run the module with this Python (the venv, with crc32c), not a discovered one
LOCAL_ENV = {"ANSIBLE_PYTHON_INTERPRETER": sys.executable}


def local(lab_inventory, args, check=False):
    args = dict(args, location="local")
    return run_module("wal_inspect", args, host="localhost", check=check, env=LOCAL_ENV)


def pod(lab_inventory, host, args, check=False):
    merged = dict(POD_ARGS)
    merged.update(args, location="pod")
    return run_module("wal_inspect", merged, host=host, inventory=lab_inventory, check=check)


def test_local_mode_healthy(lab, lab_inventory):
    cluster = _clusters(lab)[0]
    wal_dir = _state(lab)["clusters"][cluster]["wal_dir"]
    run = local(lab_inventory, {"path": wal_dir, "verify": "full", "repair_preview": True})
    res = _ok_result(run, "localhost")
    assert res["changed"] is False
    assert res["location"] == "local"
    assert res["status"] == "ok", res["checks"]
    w = res["wal"]
    assert w["path"] == wal_dir and w["segment_count"] >= 1 and w["corruptions"] == []
    assert w["verified_bytes"] > 0 and w["compression"] == "snappy"
    assert w["crc_implementation"].startswith("crc32c")
    assert w["verify"]["agent_running"] is True
    assert {c["id"] for c in res["checks"]} == {"WAL-SIZE", "WAL-HEALTH", "PVC", "WAL-ROTATION"}
    assert all(set(c) >= {"id", "status", "value", "threshold", "message"} for c in res["checks"])
    assert 0 < res["volume"]["used_ratio"] < 1
    assert res["repair_preview"]["needed"] is False


def test_pod_mode_healthy_and_check_mode(lab, lab_inventory):
    cluster = _clusters(lab)[0]
    run = pod(lab_inventory, cluster, {"verify": "tail"}, check=True)
    res = _ok_result(run, cluster)
    assert res["location"] == "pod" and res["status"] == "ok", res
    w = res["wal"]
    # no path given: the agent's own --storage.agent.path (the lab's pods run with /prometheus, as the operator's)
    assert w["path"] == "/prometheus/wal" and res["wal_path_source"] == "flags"
    assert w["segment_count"] >= 1 and w["verified_bytes"] > 0 and w["corruptions"] == []
    assert res["volume"]["capacity"] > 0
    wal_size = next(c for c in res["checks"] if c["id"] == "WAL-SIZE")
    assert re.search(r"WAL is .* in \d+ segment\(s\), \d+\.\d% of its .* volume", wal_size["message"]), wal_size
    assert wal_size["threshold"]["volume_warning"] == 0.8
    # the same WAL as seen on the lab's disk
    local_segments = sorted(p for p in os.listdir(_state(lab)["clusters"][cluster]["wal_dir"]) if p.isdigit())
    assert w["first_segment"] in local_segments


def test_playbook_both_modes_every_cluster(lab, lab_inventory):
    play = """
- name: WAL of every lab agent
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Through the Kubernetes API
      fleetops.prometheus_agent.wal_inspect:
        kubeconfig: "{{ kubeconfig }}"
        context: "{{ kube_context }}"
        namespace: "{{ agent_namespace | default('monitoring') }}"
        pod: "{{ agent_pod | default(omit) }}"
        ca_cert: "{{ ca_cert | default(omit) }}"
        label_selector: "{{ agent_selector | default(omit) if agent_pod is not defined else omit }}"
        verify: full
        timeout: 60
      register: walpod
"""
    run = run_playbook(play, inventory=lab_inventory, extra_vars=None, limit=",".join(_clusters(lab)))
    assert run.rc == 0, run.output[-3000:]
    for cluster in _clusters(lab):
        res = run.result(cluster, "Through the Kubernetes API")
        assert res["status"] in ("ok", "warning"), (res.get("reason"), res["checks"])
        assert res["wal"]["corruptions"] == []


def test_wal_corrupt_is_critical_with_segment_and_offset(lab, lab_inventory):
    cluster = _clusters(lab)[-1]
    wal_dir = _state(lab)["clusters"][cluster]["wal_dir"]
    details = lab.fault("wal-corrupt-stopped", cluster)
    try:
        details = details.get("details", details) if isinstance(details, dict) else {}
        run = local(lab_inventory, {"path": wal_dir, "verify": "full", "repair_preview": True})
        res = _ok_result(run, "localhost")
        assert res["status"] == "critical"
        health = next(c for c in res["checks"] if c["id"] == "WAL-HEALTH")
        assert health["status"] == "critical"
        first = res["wal"]["corruptions"][0]
        assert first["reason"].startswith("unexpected checksum")
        if details.get("segment_name") is not None:
            assert first["segment"] == details["segment_name"]
            assert first["offset"] == details["record_offset"]
            assert details["segment_name"] in health["message"]
        preview = res["repair_preview"]
        assert preview["needed"] is True
        assert preview["would_truncate"]["segment"] == first["segment"]
        assert preview["would_truncate"]["at_offset"] == first["offset"]
        later = [s for s in sorted(p for p in os.listdir(wal_dir) if p.isdigit()) if int(s) > int(first["segment"])]
        assert [d["segment"] for d in preview["would_delete"]] == later
        # the agent is stopped: a pod exec is refused, which is "unknown", not a failure
        run = pod(lab_inventory, cluster, {"verify": "full"})
        res = _ok_result(run, cluster)
        assert res["status"] in ("unknown", "critical")
        if res["status"] == "unknown":
            assert res["reason"]
    finally:
        lab.heal("wal-corrupt-stopped", cluster)
        # a new pod: the stop and the repair at start-up would show in RESTARTS and the logs
        # of the healthy-fleet tests of this package's lab
        reset_pod(lab, cluster)


def test_missing_local_path_is_unknown(lab, lab_inventory, tmp_path):
    run = local(lab_inventory, {"path": str(tmp_path / "no-such-wal"), "verify": "tail"})
    res = _ok_result(run, "localhost")
    assert res["status"] == "unknown"
    assert "no-such-wal" in res["reason"]
    assert {c["status"] for c in res["checks"]} == {"unknown"}


def test_missing_pod_path_is_unknown(lab, lab_inventory):
    cluster = _clusters(lab)[0]
    run = pod(lab_inventory, cluster, {"path": "/prometheus/no-such-wal"})
    res = _ok_result(run, cluster)
    assert res["status"] == "unknown" and "/prometheus/no-such-wal" in res["reason"]
    assert res["wal_path_source"] == "option"


def test_unreachable_cluster_is_unknown(lab, lab_inventory):
    run = run_module("wal_inspect", {"location": "pod", "host": "https://127.0.0.1:9", "api_key": "x",
                                     "validate_certs": False, "namespace": "monitoring", "pod": "prom-agent-x-0",
                                     "timeout": 5}, host="localhost", env=LOCAL_ENV)
    res = _ok_result(run, "localhost")
    assert res["status"] == "unknown" and res["reason"]
