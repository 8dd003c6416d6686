"""wal_inspect of a stopped agent through a debug pod (issue 17 item 7): the lab's
``wal-corrupt-stopped`` fault stops the agent (its container terminated, exec refused) with a record
of a closed segment corrupted. With ``debug_pod: true`` wal_inspect creates a pod on the agent's node
that mounts its PersistentVolumeClaim read-only, reads the WAL through exec into it (WAL-HEALTH
critical naming the segment) and deletes it; without it the result is unknown with the hint; check
mode creates nothing; a refused create (RBAC) is unknown and leaves nothing."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile

import pytest

from ansible_runner_helpers import run_module  # pylint: disable=import-error
from lab_fixtures import scraping, wait_for  # pylint: disable=import-error

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NS = "monitoring"
CLUSTER = "lab-1"
DEBUG_LABEL = "fleetops.io/created-by=wal_inspect"


@pytest.fixture(scope="module", name="stopped_lab")
def fixture_stopped_lab():
    """One cluster whose agent is stopped with a corrupt WAL (the fault's details: segment, offset)."""
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus is not installed: run `make test` (it apt-installs it) or tests/scripts/bootstrap.sh")
    from labkit.client import LabClient  # pylint: disable=import-outside-toplevel,import-error
    client = LabClient.up(tempfile.mkdtemp(prefix="fleetops-wal-debug-pod-"), clusters=1)
    try:
        wait_for(lambda: all(scraping(pod["agent_url"]) for pod in client.pods(CLUSTER)), 90, what="the agent scraping")
        details = client.fault("wal-corrupt-stopped", CLUSTER)
        client.fault_details = details.get("details", details) if isinstance(details, dict) else {}
        yield client
    finally:
        client.down()


def core_api(lab):
    from kubernetes import client, config  # pylint: disable=import-outside-toplevel
    return client.CoreV1Api(config.new_client_from_config(str(lab.workdir / "kubeconfig"), context=CLUSTER))


def debug_pods(lab):
    return [p.metadata.name for p in core_api(lab).list_namespaced_pod(NS, label_selector=DEBUG_LABEL).items]


def wal_inspect(lab, check=False, **options):
    args = {"kubeconfig": str(lab.workdir / "kubeconfig"), "context": CLUSTER, "namespace": NS, "location": "pod",
            "verify": "full", "timeout": 60}
    args.update(options)
    run = run_module("wal_inspect", args, check=check,
                     env={"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops", "ANSIBLE_PYTHON_INTERPRETER": sys.executable})
    assert run.rc == 0, run.output[-3000:]
    result = json.loads(run.stdout[run.stdout.index("{"):])
    return result, {c["id"]: c for c in result["checks"]}


def test_without_debug_pod_unknown_with_the_hint(stopped_lab):
    result, checks = wal_inspect(stopped_lab)
    assert result["status"] == "unknown", result
    assert "debug_pod: true" in result["reason"], result["reason"]
    assert "not running" in result["reason"] and "terminated" in result["reason"], result["reason"]
    assert checks["WAL-HEALTH"]["status"] == "unknown"
    assert "debug_pod" not in result
    assert debug_pods(stopped_lab) == []


def test_debug_pod_reads_the_corrupt_wal_and_is_deleted(stopped_lab):
    result, checks = wal_inspect(stopped_lab, debug_pod=True, repair_preview=True)
    details = stopped_lab.fault_details
    assert result["status"] == "critical", (result.get("reason"), result["checks"])
    health = checks["WAL-HEALTH"]
    assert health["status"] == "critical", health
    first = result["wal"]["corruptions"][0]
    assert first["reason"].startswith("unexpected checksum"), first
    assert first["segment"] == details["segment_name"] and first["offset"] == details["record_offset"], (first, details)
    assert details["segment_name"] in health["message"], health
    facts = result["debug_pod"]
    assert facts["name"].startswith(NS + "/prom-agent-lab-1-0-wal-inspect-"), facts
    assert facts["created"] is True and facts["deleted"] is True and facts["read_only"] is True, facts
    assert facts["claim"] and facts["node"], facts
    assert facts["name"] in result["read_through"]
    assert result["pod"] == NS + "/prom-agent-lab-1-0"
    assert result["changed"] is False
    assert result["repair_preview"]["would_truncate"]["segment"] == first["segment"]
    assert debug_pods(stopped_lab) == []


def test_agent_audit_passes_wal_debug_pod(stopped_lab):
    """The roles' wal_inspect_debug_pod reaches wal_inspect through agent_audit's wal_debug_pod."""
    run = run_module("agent_audit", {"kubeconfig": str(stopped_lab.workdir / "kubeconfig"), "context": CLUSTER, "namespace": NS,
                                     "gather": ["wal_inspect"], "wal_verify": "full", "wal_location": "pod",
                                     "wal_debug_pod": True, "timeout": 60},
                     env={"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops", "ANSIBLE_PYTHON_INTERPRETER": sys.executable})
    assert run.rc == 0, run.output[-3000:]
    part = json.loads(run.stdout[run.stdout.index("{"):])["parts"]["wal_inspect"]
    assert part["status"] == "critical", (part.get("reason"), part["checks"])
    assert part["debug_pod"]["deleted"] is True
    assert stopped_lab.fault_details["segment_name"] in next(c for c in part["checks"] if c["id"] == "WAL-HEALTH")["message"]
    assert debug_pods(stopped_lab) == []


def test_check_mode_creates_nothing(stopped_lab):
    before = sorted(p.metadata.name for p in core_api(stopped_lab).list_namespaced_pod(NS).items)
    result, _checks = wal_inspect(stopped_lab, check=True, debug_pod=True)
    assert result["status"] == "unknown", result
    assert "would create a debug pod" in result["reason"], result["reason"]
    assert result["debug_pod"]["would_create"] is True and result["debug_pod"]["created"] is False
    assert sorted(p.metadata.name for p in core_api(stopped_lab).list_namespaced_pod(NS).items) == before


def test_refused_create_is_unknown_and_leaves_nothing(stopped_lab):
    result, _checks = wal_inspect(stopped_lab, debug_pod=True, impersonate_user="auditor",
                                  impersonate_groups=["lab:no-pod-create"])
    assert result["status"] == "unknown", result
    assert "refused" in result["reason"] and "forbidden" in result["reason"].lower(), result["reason"]
    assert result["debug_pod"]["created"] is False
    assert debug_pods(stopped_lab) == []


def test_the_lab_mounts_the_claim_read_only(stopped_lab):
    """The lab runs a pod that mounts an agent's claim: its exec sees the WAL, a write fails (EROFS)."""
    from kubernetes.stream import stream  # pylint: disable=import-outside-toplevel
    from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal import debug_pod  # pylint: disable=import-outside-toplevel
    api = core_api(stopped_lab)
    agent = api.api_client.sanitize_for_serialization(api.read_namespaced_pod("prom-agent-lab-1-0", NS))
    body = debug_pod.manifest(agent, debug_pod.wal_volume(agent, "prometheus", "/prometheus/wal"), "lab-read-only-check")
    api.create_namespaced_pod(NS, body)
    try:
        pod = api.read_namespaced_pod("lab-read-only-check", NS)
        assert pod.status.phase == "Running" and pod.spec.node_name == agent["spec"]["nodeName"]
        listed = stream(api.connect_get_namespaced_pod_exec, "lab-read-only-check", NS, command=["ls", "/prometheus/wal"],
                        container="wal-inspect", stderr=True, stdin=False, stdout=True, tty=False)
        assert stopped_lab.fault_details["segment_name"] in listed.split()
        client = stream(api.connect_get_namespaced_pod_exec, "lab-read-only-check", NS,
                        command=["sh", "-c", "touch /prometheus/wal/written-by-debug-pod"], container="wal-inspect",
                        stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
        client.run_forever(timeout=20)
        assert client.returncode != 0
        assert "Read-only file system" in client.read_stderr()
    finally:
        api.delete_namespaced_pod("lab-read-only-check", NS, grace_period_seconds=0)
    assert "lab-read-only-check" not in [p.metadata.name for p in api.list_namespaced_pod(NS).items]
