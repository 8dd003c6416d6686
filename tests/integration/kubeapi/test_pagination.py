"""A crowded namespace (issue 17): 1,500 bystander pods and 300 more with the agent's own label
beside the agent, as clients create bare pods. The simulated API chunks a LIST as the real one
does (``limit``, ``continue``, ``remainingItemCount``; a bad token is a 400), kubectl's
``--chunk-size`` pages through it, and the collection's own list (``workloads.list_items``) reads
every page, 500 items at a time; agent_status on the 301 pods that match the agent's selector
finishes, reads every one of them and keeps its messages a person reads."""

from __future__ import annotations

import concurrent.futures
import json
import sys
import time
import urllib.parse

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from ansible_runner_helpers import run_module  # pylint: disable=import-error
from lab_fixtures import api_audit  # pylint: disable=import-error

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import target as kube_target
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import workloads

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NS = "monitoring"
BYSTANDERS = 1500
LOOKALIKES = 300
AGENT_SELECTOR = "app.kubernetes.io/name=prometheus-agent"


def _pod(name, labels):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "prometheus", "image": "quay.io/prometheus/prometheus:v2.42.0"}]}}


@pytest.fixture(scope="module", name="crowd")
def fixture_crowd(kube, cluster, client):
    """The pods created in the cluster's agent namespace for this module, deleted afterwards."""
    if kube.lab is None:
        pytest.skip("needs the lab fixture (its audit log), not KUBEAPI_TEST_WORKDIR")
    core = k8s.CoreV1Api(client)
    pods = [("bystander-%04d" % i, {"fleetops-test": "crowd", "app": "bystander"}) for i in range(BYSTANDERS)]
    pods += [("lookalike-%04d" % i, {"fleetops-test": "crowd", "app.kubernetes.io/name": "prometheus-agent"}) for i in range(LOOKALIKES)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: core.create_namespaced_pod(NS, _pod(*p)), pods))
    try:
        yield sorted(name for name, _labels in pods)
    finally:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda p: core.delete_namespaced_pod(p[0], NS, grace_period_seconds=0), pods))


def _list_requests(kube, cluster, since):
    return [dict(urllib.parse.parse_qsl(e.get("query") or "")) for e in api_audit(kube.lab, cluster, since)
            if e["method"] == "GET" and e["path"].endswith("/namespaces/%s/pods" % NS)]


def test_bare_pods_are_pending_and_unschedulable(crowd, client):
    pod = k8s.CoreV1Api(client).read_namespaced_pod(crowd[0], NS)
    assert pod.status.phase == "Pending"
    assert pod.status.conditions[0].type == "PodScheduled" and pod.status.conditions[0].reason == "Unschedulable"


def test_client_pages_with_limit_and_continue(crowd, client):
    core = k8s.CoreV1Api(client)
    first = core.list_namespaced_pod(NS, label_selector="fleetops-test=crowd", limit=400)
    assert len(first.items) == 400 and first.metadata._continue  # pylint: disable=protected-access
    assert first.metadata.remaining_item_count == len(crowd) - 400
    names = [p.metadata.name for p in first.items]
    token = first.metadata._continue  # pylint: disable=protected-access
    while token:
        page = core.list_namespaced_pod(NS, label_selector="fleetops-test=crowd", limit=400, _continue=token)
        names += [p.metadata.name for p in page.items]
        token = page.metadata._continue  # pylint: disable=protected-access
    assert names == crowd  # every pod once, in order
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod(NS, limit=10, _continue="not-a-token")
    assert err.value.status == 400 and "continue key is not valid" in err.value.body


def test_kubectl_chunk_size(kube, cluster, crowd):
    since = time.time()
    out = kube.kubectl(cluster, "get", "pods", "-n", NS, "-l", "fleetops-test=crowd", "--chunk-size=250", "-o", "name").stdout
    assert sorted(line.split("/", 1)[1] for line in out.split()) == crowd
    requests = _list_requests(kube, cluster, since)
    # the pages kubectl asked for: a request of one page sent again (client-go retries a request whose
    # connection dropped, on a loaded machine) is the same page, not one more
    pages = list({p.get("continue", ""): p for p in requests}.values())
    assert len(pages) == -(-len(crowd) // 250), requests
    assert all(p.get("limit") == "250" for p in requests) and sum(1 for p in pages if p.get("continue")) == len(pages) - 1


def test_collection_list_reads_every_page(kube, cluster, crowd):
    target = kube_target.KubeTarget(kubeconfig=str(kube.kubeconfig), context=cluster, namespace=NS, timeout=20)
    since = time.time()
    pods = workloads.list_pods(target, NS, selector="fleetops-test=crowd")
    assert sorted(p["metadata"]["name"] for p in pods) == crowd
    pages = _list_requests(kube, cluster, since)
    assert len(pages) == -(-len(crowd) // workloads.LIST_PAGE_SIZE), pages
    assert all(p.get("limit") == str(workloads.LIST_PAGE_SIZE) for p in pages)


def test_agent_status_on_hundreds_of_agent_pods(kube, cluster, crowd):
    """301 pods match the agent's selector (the agent and 300 look-alikes that no node runs)."""
    started = time.time()
    run = run_module("agent_status", {"kubeconfig": str(kube.kubeconfig), "context": cluster, "namespace": NS,
                                      "label_selector": AGENT_SELECTOR, "timeout": 30},
                     env={"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops", "ANSIBLE_PYTHON_INTERPRETER": sys.executable})
    seconds = time.time() - started
    assert run.rc in (0, 2), run.output[-3000:]
    result = json.loads(run.stdout[run.stdout.index("{"):])
    assert len(result["pods"]) == LOOKALIKES + 1, len(result["pods"])
    checks = {c["id"]: c for c in result["checks"]}
    pod = checks["POD"]
    assert pod["status"] == "warning", pod
    assert pod["message"].startswith("%d of %d pods: " % (LOOKALIKES, LOOKALIKES + 1)), pod["message"][:300]
    assert "and %d more: " % (LOOKALIKES - 5) in pod["message"] and len(pod["message"]) < 1000, pod["message"][:2000]
    assert checks["HEALTH"]["status"] == "critical" and len(checks["HEALTH"]["message"]) < 2000, checks["HEALTH"]["message"][:2000]
    assert seconds < 90, seconds
