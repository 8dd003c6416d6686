"""ServiceMonitor and PodMonitor in the lab (issue 18 item 1) and MONITORS on them: a one-cluster
lab of its own serves both kinds (kubectl, the kubernetes client), its default monitors
(ServiceMonitor monitoring/node-exporter, PodMonitor monitoring/prometheus-agent) become real
scrape jobs once the PrometheusAgent selects them, and agent_status reads each with its targets;
a ServiceMonitor that selects nothing, created through the API, is a job without targets that
MONITORS names (warning), the others not.

The fixture reads the agent as the lab starts it (no monitor selector) and then selects the
monitors, so that each test holds in any order and on any xdist worker (each worker starts the
module's lab of its own)."""

from __future__ import annotations


import pytest
from kubernetes import client as k8s

from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import fleet_checks
from kube_helpers import Kube, agent_config_yaml, agent_pools, agent_status_module  # pylint: disable=import-error
from lab_fixtures import scraping_lab, wait_for  # pylint: disable=import-error

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NS = "monitoring"
CLUSTER = "lab-1"
GROUP, VERSION = "monitoring.coreos.com", "v1"
NODE_POOL = "serviceMonitor/monitoring/node-exporter/0"
AGENT_POOL = "podMonitor/monitoring/prometheus-agent/0"
EMPTY = "selects-nothing"
# the agent as the lab starts it, read by the fixture before it selects the monitors
DEFAULTS = {}


@pytest.fixture(scope="module", name="mon_lab")
def fixture_mon_lab():
    """One cluster, scraping; stopped afterwards."""
    labs = scraping_lab("fleetops-monitors-", CLUSTER)
    try:
        for lab in labs:  # one lab
            DEFAULTS.update(pools=agent_pools(lab, CLUSTER), status=agent_status_module(lab, CLUSTER, NS))
            k8s.CustomObjectsApi(Kube(lab.workdir, lab).api_client(CLUSTER)).patch_namespaced_custom_object(
                "monitoring.coreos.com", "v1alpha1", NS, "prometheusagents", CLUSTER, {"spec": {"serviceMonitorSelector": {}, "podMonitorSelector": {}}})
            wait_for(lambda: agent_pools(lab, CLUSTER).get(NODE_POOL) == ["up"] and agent_pools(lab, CLUSTER).get(AGENT_POOL) == ["up"], 60,
                     what="the monitors' jobs scraped")
            yield lab
    finally:
        labs.close()  # the lab stops, also when the set-up failed


@pytest.fixture(scope="module", name="custom")
def fixture_custom(mon_lab):
    return k8s.CustomObjectsApi(Kube(mon_lab.workdir, mon_lab).api_client(CLUSTER))


def monitors_check(result):
    return fleet_checks.evaluate("weekly", {"agent_status": result})["checks"]


def by_id(checks):
    return {c["id"]: c for c in checks}


def test_served_by_kubectl_and_the_client(mon_lab, custom):
    kube = Kube(mon_lab.workdir, mon_lab)
    smons = custom.list_namespaced_custom_object(GROUP, VERSION, NS, "servicemonitors")["items"]
    pmons = custom.list_namespaced_custom_object(GROUP, VERSION, NS, "podmonitors")["items"]
    assert [m["metadata"]["name"] for m in smons] == ["node-exporter"]
    assert [m["metadata"]["name"] for m in pmons] == ["prometheus-agent"]
    out = kube.kubectl(CLUSTER, "get", "servicemonitors", "-n", NS).stdout
    assert out.split()[:2] == ["NAME", "AGE"] and "node-exporter" in out, out
    assert "prometheus-agent" in kube.kubectl(CLUSTER, "get", "pmon", "-n", NS, "-o", "name").stdout
    resources = kube.kubectl(CLUSTER, "api-resources", "--api-group", GROUP, "-o", "name").stdout.split()
    assert {"servicemonitors.monitoring.coreos.com", "podmonitors.monitoring.coreos.com"} <= set(resources), resources


def test_not_selected_by_default_then_selected(mon_lab, custom):
    # the lab's PrometheusAgent has no monitor selector (nil: none, as the operator reads it): read before the fixture selected them
    assert not [p for p in DEFAULTS["pools"] if "/" in p]
    result = DEFAULTS["status"]
    assert result["monitors"]["selected"] == [], result["monitors"]
    assert by_id(monitors_check(result))["MONITORS"]["status"] == "ok"
    # then the fixture patched in serviceMonitorSelector: {} and podMonitorSelector: {}
    wait_for(lambda: agent_pools(mon_lab, CLUSTER).get(NODE_POOL) == ["up"] and agent_pools(mon_lab, CLUSTER).get(AGENT_POOL) == ["up"], 60,
             what="the monitors' jobs scraped")
    assert {"node", "prometheus-agent"} <= set(agent_pools(mon_lab, CLUSTER))      # the lab's own jobs stay
    result = agent_status_module(mon_lab, CLUSTER, NS)
    got = {(e["kind"], e["name"]): (e["state"], e["active"], e["up"]) for e in result["monitors"]["selected"]}
    assert got == {("ServiceMonitor", "node-exporter"): ("ok", 1, 1), ("PodMonitor", "prometheus-agent"): ("ok", 1, 1)}, got
    check = by_id(monitors_check(result))["MONITORS"]
    assert check["status"] == "ok" and check["message"] == "2 monitor(s) selected, 2 with active targets (2 targets)", check
    smon = custom.get_namespaced_custom_object(GROUP, VERSION, NS, "servicemonitors", "node-exporter")
    wait_for(lambda: custom.get_namespaced_custom_object(GROUP, VERSION, NS, "servicemonitors", "node-exporter").get("status"), 30,
             what="the monitor's status bindings")
    smon = custom.get_namespaced_custom_object(GROUP, VERSION, NS, "servicemonitors", "node-exporter")
    assert smon["status"]["bindings"][0]["conditions"][0]["status"] == "True", smon


def test_a_monitor_selecting_nothing_is_named(mon_lab, custom):
    body = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": EMPTY, "namespace": NS},
            "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "nothing-has-this"}}, "endpoints": [{"port": "metrics"}]}}
    custom.create_namespaced_custom_object(GROUP, VERSION, NS, "servicemonitors", body)
    try:
        wait_for(lambda: "serviceMonitor/monitoring/%s/0" % EMPTY in agent_config_yaml(mon_lab, CLUSTER), 60, what="its job in the agent's config")
        assert "serviceMonitor/monitoring/%s/0" % EMPTY not in agent_pools(mon_lab, CLUSTER)        # a job without targets
        result = agent_status_module(mon_lab, CLUSTER, NS)
        states = {e["name"]: e["state"] for e in result["monitors"]["selected"]}
        assert states == {EMPTY: "none", "node-exporter": "ok", "prometheus-agent": "ok"}, states
        check = by_id(monitors_check(result))["MONITORS"]
        assert check["status"] == "warning", check
        problem = check["message"].split(";", 1)[1]
        assert "no active target: ServiceMonitor monitoring/%s" % EMPTY in problem, check
        assert "node-exporter" not in problem and "prometheus-agent" not in problem, check
    finally:
        custom.delete_namespaced_custom_object(GROUP, VERSION, NS, "servicemonitors", EMPTY)
    wait_for(lambda: "serviceMonitor/monitoring/%s/0" % EMPTY not in agent_config_yaml(mon_lab, CLUSTER), 60, what="its job gone")


def test_a_rejected_monitor_is_named(mon_lab, custom):
    body = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor", "metadata": {"name": "no-port", "namespace": NS},
            "spec": {"selector": {}, "podMetricsEndpoints": [{"path": "/metrics"}]}}
    custom.create_namespaced_custom_object(GROUP, VERSION, NS, "podmonitors", body)
    try:
        wait_for(lambda: (custom.get_namespaced_custom_object(GROUP, VERSION, NS, "podmonitors", "no-port").get("status") or {}).get("bindings"),
                 30, what="the operator's binding of the monitor")
        cond = custom.get_namespaced_custom_object(GROUP, VERSION, NS, "podmonitors", "no-port")["status"]["bindings"][0]["conditions"][0]
        assert (cond["type"], cond["status"], cond["reason"]) == ("Accepted", "False", "InvalidConfiguration"), cond
        assert "podMonitor/monitoring/no-port/0" not in agent_config_yaml(mon_lab, CLUSTER)      # rejected: no job
        result = agent_status_module(mon_lab, CLUSTER, NS)
        states = {e["name"]: e["state"] for e in result["monitors"]["selected"]}
        assert states == {"no-port": "rejected", "node-exporter": "ok", "prometheus-agent": "ok"}, states
        check = by_id(monitors_check(result))["MONITORS"]
        assert check["status"] == "warning", check
        assert "rejected by the operator: PodMonitor monitoring/no-port (PodMonitor no-port: podMetricsEndpoints[0] names no port)" \
            in check["message"], check
    finally:
        custom.delete_namespaced_custom_object(GROUP, VERSION, NS, "podmonitors", "no-port")
