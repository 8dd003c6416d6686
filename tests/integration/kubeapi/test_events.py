"""Events (issue 18 item 2) on a lab of its own (one cluster, one StatefulSet of two agent pods):
the simulated API serves core/v1 and events.k8s.io/v1 events as the unmodified ``kubernetes``
client, ``kubectl get events``, ``kubectl events`` and ``kubectl describe pod`` read them; the lab's
kubelet records what happens to the real agent processes (Scheduled/Pulled/Created/Started, and a
crash loop's BackOff whose count grows); agent_status's POD names the BackOff of the crash-looping
pod and nothing on the healthy one, and no events at all while both are healthy."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import urllib.parse

import pytest
from kubernetes import client as k8s
from kubernetes import watch

from ansible_runner_helpers import run_module  # pylint: disable=import-error
from kube_helpers import Kube  # pylint: disable=import-error
from lab_fixtures import api_audit, scraping, wait_for  # pylint: disable=import-error

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NS = "monitoring"
CLUSTER = "lab-1"


@pytest.fixture(scope="module", name="events_lab")
def fixture_events_lab():
    """One cluster, one StatefulSet of 2 replicas, both scraping; stopped afterwards."""
    if shutil.which("prometheus") is None or shutil.which("kubectl") is None:
        pytest.fail("prometheus and kubectl must be installed: run tests/scripts/bootstrap.sh")
    from labkit.client import LabClient  # pylint: disable=import-outside-toplevel,import-error
    lab = LabClient.up(tempfile.mkdtemp(prefix="fleetops-events-"), clusters=1, replicas=2)
    try:
        wait_for(lambda: all(scraping(pod["agent_url"]) for pod in lab.pods(CLUSTER)), 90, what="every agent pod scraping")
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module", name="kube")
def fixture_kube(events_lab):
    return Kube(events_lab.workdir, events_lab)


@pytest.fixture(scope="module", name="api")
def fixture_api(kube):
    return kube.api_client(CLUSTER)


def pod_names(lab):
    return [p["pod"] for p in lab.pods(CLUSTER)]


def agent_status(lab):
    run = run_module("agent_status", {"kubeconfig": str(lab.workdir / "kubeconfig"), "context": CLUSTER, "namespace": NS},
                     env={"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops", "ANSIBLE_PYTHON_INTERPRETER": sys.executable})
    assert run.rc == 0, run.output[-3000:]
    result = json.loads(run.stdout[run.stdout.index("{"):])
    return result, {c["id"]: c for c in result["checks"]}


def test_healthy_pods_have_normal_events_in_both_apis_and_no_warning(events_lab, api):
    core = k8s.CoreV1Api(api)
    first = pod_names(events_lab)[0]
    pod = core.read_namespaced_pod(first, NS)
    selector = "involvedObject.name=%s,involvedObject.namespace=%s,involvedObject.kind=Pod,involvedObject.uid=%s" % (
        first, NS, pod.metadata.uid)
    mine = core.list_namespaced_event(NS, field_selector=selector).items
    reasons = [e.reason for e in mine]
    assert reasons[0] == "Scheduled" and {"Pulled", "Created", "Started"} <= set(reasons), reasons
    started = [e for e in mine if e.reason == "Started" and e.involved_object.field_path == "spec.containers{prometheus}"]
    assert len(started) == 1 and started[0].source.component == "kubelet" and started[0].type == "Normal", started
    assert started[0].message == "Started container prometheus" and started[0].count >= 1 and started[0].last_timestamp is not None
    assert core.list_namespaced_event(NS, field_selector="type=Warning").items == []
    assert {e.metadata.name for e in core.list_event_for_all_namespaces(field_selector="involvedObject.name=%s" % first).items} == \
        {e.metadata.name for e in mine}
    # events.k8s.io/v1: the same objects (same names), regarding/note/reportingController
    v1 = k8s.EventsV1Api(api).list_namespaced_event(NS, field_selector="regarding.name=%s" % first).items
    assert {e.metadata.name for e in v1} == {e.metadata.name for e in mine}
    scheduled = [e for e in v1 if e.reason == "Scheduled"][0]
    assert scheduled.regarding.uid == pod.metadata.uid and scheduled.reporting_controller == "default-scheduler"
    assert scheduled.note.startswith("Successfully assigned %s/%s to " % (NS, first)) and scheduled.event_time is not None
    # a watch starts with the current events
    seen = [ev["object"].reason for ev in watch.Watch().stream(core.list_namespaced_event, NS, field_selector=selector, timeout_seconds=2)]
    assert "Scheduled" in seen, seen


def test_healthy_pods_give_no_events_in_pod(events_lab):
    before = len(api_audit(events_lab, CLUSTER))
    result, checks = agent_status(events_lab)
    assert checks["POD"]["status"] == "ok", checks["POD"]
    assert "events" not in checks["POD"]["message"], checks["POD"]
    assert result["events"] == [] and "events_error" not in result
    # two pods, one events LIST of their namespace and one of the nodes' OOMKilling: not one per pod
    lists = [(e["path"], urllib.parse.parse_qs(e["query"]).get("fieldSelector")) for e in api_audit(events_lab, CLUSTER)[before:]
             if e["path"].endswith("/events")]
    assert lists == [("/clusters/%s/api/v1/namespaces/%s/events" % (CLUSTER, NS), ["type=Warning"]),
                     ("/clusters/%s/api/v1/namespaces/default/events" % CLUSTER, ["type=Warning,reason=OOMKilling,involvedObject.kind=Node"])], lists


def test_discovery_and_kubectl_get_events(kube):
    resources = kube.kubectl(CLUSTER, "api-resources", "--api-group=events.k8s.io").stdout
    assert "events.k8s.io/v1" in resources, resources
    out = kube.kubectl(CLUSTER, "get", "events", "-n", NS).stdout
    header = out.splitlines()[0].split()
    assert header[:4] == ["LAST", "SEEN", "TYPE", "REASON"] and "MESSAGE" in header, out
    assert "Started container prometheus" in out and "pod/prom-agent-lab-1-0" in out, out
    wide = kube.kubectl(CLUSTER, "get", "events.v1.events.k8s.io", "-n", NS, "-o", "wide").stdout
    assert "kubelet, lab-node-1" in wide and "spec.containers{prometheus}" in wide, wide
    sts = kube.kubectl(CLUSTER, "describe", "statefulset", "-n", NS, "prom-agent-lab-1").stdout
    events_part = sts[sts.index("\nEvents:"):]
    assert "SuccessfulCreate" in events_part and "create Pod prom-agent-lab-1-1 in StatefulSet prom-agent-lab-1 successful" in events_part, sts


def test_an_event_written_through_events_k8s_io_is_read_through_both(api):
    events_api, core = k8s.EventsV1Api(api), k8s.CoreV1Api(api)
    body = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "events-test.1", "namespace": "default"},
            "eventTime": "2026-12-04T18:00:00.000000Z", "reportingController": "fleetops.test/probe", "reportingInstance": "probe-1",
            "action": "Probe", "reason": "Tested", "type": "Normal", "note": "written as events.k8s.io/v1",
            "regarding": {"kind": "Pod", "namespace": "default", "name": "nothing-0"}}
    created = events_api.create_namespaced_event("default", body)
    try:
        assert created.note == "written as events.k8s.io/v1" and created.regarding.name == "nothing-0" and created.metadata.uid
        core_view = core.read_namespaced_event("events-test.1", "default")
        assert core_view.message == "written as events.k8s.io/v1" and core_view.involved_object.name == "nothing-0"
        assert core_view.reporting_component == "fleetops.test/probe" and core_view.source.component == "fleetops.test/probe"
        patched = events_api.patch_namespaced_event("events-test.1", "default",
                                                    {"series": {"count": 3, "lastObservedTime": "2026-12-04T18:05:00.000000Z"}})
        assert patched.series.count == 3 and patched.note == "written as events.k8s.io/v1"
        core_view = core.read_namespaced_event("events-test.1", "default")
        assert core_view.count == 3 and core_view.last_timestamp.isoformat().startswith("2026-12-04T18:05:00")
    finally:
        events_api.delete_namespaced_event("events-test.1", "default")
    assert [e.metadata.name for e in core.list_namespaced_event("default", field_selector="reason=Tested").items] == []


def test_a_bare_pod_gets_failed_scheduling(events_lab, api):
    core = k8s.CoreV1Api(api)
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "events-test-pending"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    created = core.create_namespaced_pod("default", body)
    try:
        found = core.list_namespaced_event("default", field_selector="involvedObject.name=events-test-pending,reason=FailedScheduling").items
        assert len(found) == 1 and found[0].type == "Warning" and found[0].involved_object.uid == created.metadata.uid, found
        assert found[0].source.component == "default-scheduler" and found[0].message.startswith("0/1 nodes are available")
    finally:
        core.delete_namespaced_pod("events-test-pending", "default")


def test_crashloop_backoff_events_and_pod_names_the_pod(events_lab, kube, api):
    victim, healthy = pod_names(events_lab)[1], pod_names(events_lab)[0]
    core = k8s.CoreV1Api(api)
    events_lab.fault("crashloop", CLUSTER, pod=victim)
    try:
        selector = "involvedObject.name=%s,reason=BackOff" % victim

        def backoff_count():
            found = core.list_namespaced_event(NS, field_selector=selector).items
            return found[0].count if found else 0

        wait_for(lambda: backoff_count() >= 2, 90, what="a BackOff event of %s counted twice" % victim)
        backoff = core.list_namespaced_event(NS, field_selector=selector).items
        assert len(backoff) == 1, backoff   # aggregated: one event, its count and lastTimestamp grow
        event = backoff[0]
        uid = core.read_namespaced_pod(victim, NS).metadata.uid
        assert event.type == "Warning" and event.involved_object.uid == uid
        assert event.message == "Back-off restarting failed container prometheus in pod %s_%s(%s)" % (victim, NS, uid)
        assert event.last_timestamp >= event.first_timestamp
        series = k8s.EventsV1Api(api).list_namespaced_event(NS, field_selector="regarding.name=%s,reason=BackOff" % victim).items
        assert len(series) == 1 and series[0].series.count >= 2 and series[0].deprecated_count == series[0].series.count, series
        restarts = [e for e in core.list_namespaced_event(NS, field_selector="involvedObject.name=%s,reason=Started" % victim).items
                    if e.involved_object.field_path == "spec.containers{prometheus}"]
        assert restarts and restarts[0].count >= 2, restarts
        described = kube.kubectl(CLUSTER, "describe", "pod", "-n", NS, victim).stdout
        events_part = described[described.index("\nEvents:"):]
        assert "Warning  BackOff" in events_part and "Back-off restarting failed container prometheus" in events_part, events_part
        assert "Normal   Scheduled" in events_part, events_part
        listed = kube.kubectl(CLUSTER, "events", "-n", NS, "--for", "pod/%s" % victim, "--types=Warning").stdout
        assert "BackOff" in listed and "Normal" not in listed, listed
        assert "BackOff" not in kube.kubectl(CLUSTER, "describe", "pod", "-n", NS, healthy).stdout

        result, checks = agent_status(events_lab)
        pod = checks["POD"]
        assert pod["status"] == "critical", pod
        assert "events: BackOff x" in pod["message"] and ("on %s (last " % victim) in pod["message"], pod
        assert healthy not in pod["message"], pod
        assert [(e["object"], e["reason"]) for e in result["events"]] == [(victim, "BackOff")], result["events"]
        assert result["events"][0]["count"] >= 2 and result["events"][0]["kind"] == "Pod"
        # agent_audit passes agent_status's result, events included
        run = run_module("agent_audit", {"kubeconfig": str(events_lab.workdir / "kubeconfig"), "context": CLUSTER, "namespace": NS,
                                         "gather": ["agent_status"]},
                         env={"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops", "ANSIBLE_PYTHON_INTERPRETER": sys.executable})
        assert run.rc == 0, run.output[-3000:]
        audit = json.loads(run.stdout[run.stdout.index("{"):])["parts"]["agent_status"]
        assert [(e["object"], e["reason"]) for e in audit["events"]] == [(victim, "BackOff")], audit.get("events")
    finally:
        events_lab.heal("crashloop", CLUSTER, pod=victim)


def test_a_frozen_agent_gets_unhealthy_events_and_pod_names_them(events_lab, kube, api):
    """agent-freeze (SIGSTOP) on the first pod: not Ready while running, a Warning Unhealthy counted
    every probe period; thawed and Ready again, POD still names it (recent, three or more
    failures: at least a warning), and no Unhealthy of the other pod."""
    victim, other = pod_names(events_lab)[0], pod_names(events_lab)[1]
    core = k8s.CoreV1Api(api)
    selector = "involvedObject.name=%s,reason=Unhealthy" % victim

    def unhealthy_count():
        found = core.list_namespaced_event(NS, field_selector=selector).items
        return found[0].count if found else 0

    events_lab.fault("agent-freeze", CLUSTER, pod=victim)
    try:
        wait_for(lambda: unhealthy_count() >= 3, 60, what="three Unhealthy events of %s" % victim)
    finally:
        events_lab.heal("agent-freeze", CLUSTER, pod=victim)
    found = core.list_namespaced_event(NS, field_selector=selector).items
    assert len(found) == 1 and found[0].type == "Warning" and found[0].involved_object.field_path == "spec.containers{prometheus}"
    assert found[0].message.startswith("Readiness probe failed: ") and found[0].source.component == "kubelet", found[0]
    assert "Unhealthy" in kube.kubectl(CLUSTER, "describe", "pod", "-n", NS, victim).stdout
    wait_for(lambda: core.read_namespaced_pod(victim, NS).status.container_statuses[0].ready, 60, what="%s Ready again" % victim)
    result, checks = agent_status(events_lab)
    pod = checks["POD"]
    assert pod["status"] == "warning" and "Unhealthy x" in pod["message"] and ("on %s (last " % victim) in pod["message"], pod
    found = [(e["reason"], e["object"]) for e in result["events"]]
    assert ("Unhealthy", victim) in found and ("Unhealthy", other) not in found, found


def test_an_oom_kill_is_an_oomkilling_event_of_the_node_named_in_pod(events_lab, kube, api):
    """oom-kill on the second pod (the kernel really kills it): an OOMKilling Warning of its node in
    ``default`` (kernel-monitor, naming the process), shown by kubectl describe node; POD names it."""
    victim = pod_names(events_lab)[1]
    core = k8s.CoreV1Api(api)
    node = core.read_namespaced_pod(victim, NS).spec.node_name
    events_lab.fault("oom-kill", CLUSTER, pod=victim)
    try:
        wait_for(lambda: core.list_namespaced_event("default", field_selector="reason=OOMKilling,involvedObject.kind=Node").items, 60,
                 what="an OOMKilling event")
    finally:
        events_lab.heal("oom-kill", CLUSTER, pod=victim)
    found = core.list_namespaced_event("default", field_selector="reason=OOMKilling,involvedObject.name=%s" % node).items
    assert len(found) == 1 and found[0].type == "Warning" and found[0].source.component == "kernel-monitor", found
    assert "Killed process" in found[0].message and "(prometheus)" in found[0].message
    assert "OOMKilling" in kube.kubectl(CLUSTER, "describe", "node", node).stdout
    wait_for(lambda: core.read_namespaced_pod(victim, NS).status.container_statuses[0].ready, 90, what="%s Ready again" % victim)
    result, checks = agent_status(events_lab)
    assert ("Node", node, "OOMKilling") in [(e["kind"], e["object"], e["reason"]) for e in result["events"]], result["events"]
    assert checks["POD"]["status"] in ("warning", "critical") and ("OOMKilling x1 on %s" % node) in checks["POD"]["message"], checks["POD"]


def test_events_refused_by_rbac_are_no_failure(events_lab, kube):
    """A user whom RBAC refuses events (the lab's group lab:no-events, impersonated): kubectl says
    Forbidden as the API server words it; agent_status's POD is judged without them and says why."""
    refused = kube.kubectl(CLUSTER, "--as=auditor", "--as-group=lab:no-events", "get", "events", "-n", NS, check=False)
    assert refused.returncode != 0 and 'User "auditor" cannot list resource "events" in API group "" in the namespace "monitoring"' in \
        refused.stderr, refused.stderr
    assert kube.kubectl(CLUSTER, "--as=auditor", "--as-group=lab:no-events", "get", "pods", "-n", NS).returncode == 0
    run = run_module("agent_status", {"kubeconfig": str(events_lab.workdir / "kubeconfig"), "context": CLUSTER, "namespace": NS,
                                      "impersonate_user": "auditor", "impersonate_groups": ["lab:no-events"]},
                     env={"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops", "ANSIBLE_PYTHON_INTERPRETER": sys.executable})
    assert run.rc == 0, run.output[-3000:]
    result = json.loads(run.stdout[run.stdout.index("{"):])
    pod = {c["id"]: c for c in result["checks"]}["POD"]
    assert pod["status"] != "unknown" and "events" not in pod["message"], pod
    assert result["events"] is None and "403" in result["events_error"] and NS in result["events_error"], result.get("events_error")
