"""Probe and ScrapeConfig in the lab (issue 18 item 1, the rest of it) and MONITORS on them: a
one-cluster lab of its own serves ``monitoring.coreos.com/v1`` probes and ``v1alpha1``
scrapeconfigs (kubectl, the kubernetes client); its PrometheusAgent selects those labelled
``fleetops.test/select=yes`` (``probeSelector``, ``scrapeConfigSelector``), and the operator part
of the API renders one job per selected resource, named as prometheus-operator does
(``probe/<ns>/<name>``, ``scrapeConfig/<ns>/<name>``). The lab has no prober (no blackbox
exporter): the Probe's ``prober.url`` is the agent's own web port with path ``/metrics``, which
answers ``/metrics?target=...&module=...`` with the agent's metrics, so each static target is an up
target. agent_status reads each selected resource with its targets and MONITORS names the ones
that produced none; the unselected ones appear nowhere.

The fixture sets everything up once; the tests only read, in any order (and on any xdist worker).
"""

from __future__ import annotations

import json
import urllib.request

import pytest
from kubernetes import client as k8s

from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import fleet_checks
from kube_helpers import Kube, agent_config_yaml, agent_pools, agent_status_module  # pylint: disable=import-error
from lab_fixtures import scraping_lab, wait_for  # pylint: disable=import-error

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NS = "monitoring"
CLUSTER = "lab-1"
GROUP = "monitoring.coreos.com"
SELECTED = {"fleetops.test/select": "yes"}
PROBE_POOL = "probe/monitoring/agent-self"
PROBE_NONE_POOL = "probe/monitoring/no-ingress"
SCFG_POOL = "scrapeConfig/monitoring/node-static"
SCFG_NONE_POOL = "scrapeConfig/monitoring/no-targets"
PROBED = ["http://probed-1.example.invalid", "http://probed-2.example.invalid"]


def probe(name, labels, targets, prober_url):
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "Probe", "metadata": {"name": name, "namespace": NS, "labels": labels},
            "spec": {"prober": {"url": prober_url, "path": "/metrics"}, "module": "http_2xx", "targets": targets,
                     "metricRelabelings": [{"action": "keep", "sourceLabels": ["__name__"], "regex": "prometheus_build_info"}]}}


def scrape_config(name, labels, static_configs):
    return {"apiVersion": "monitoring.coreos.com/v1alpha1", "kind": "ScrapeConfig", "metadata": {"name": name, "namespace": NS, "labels": labels},
            "spec": {"staticConfigs": static_configs,
                     "metricRelabelings": [{"action": "keep", "sourceLabels": ["__name__"], "regex": "node_uname_info"}]}}


@pytest.fixture(scope="module", name="probe_lab")
def fixture_probe_lab():
    """One cluster, scraping, whose agent selects the labelled Probes and ScrapeConfigs; stopped afterwards."""
    labs = scraping_lab("fleetops-probes-", CLUSTER)
    try:
        for lab in labs:  # one lab
            custom = k8s.CustomObjectsApi(Kube(lab.workdir, lab).api_client(CLUSTER))
            agent = lab.pods(CLUSTER)[0]["agent_url"].split("://", 1)[1].rstrip("/")
            node = lab.state["node_exporter"]["url"].split("://", 1)[1].rstrip("/")
            for body in (probe("agent-self", SELECTED, {"staticConfig": {"static": PROBED}}, agent),
                         probe("no-ingress", SELECTED, {"ingress": {"selector": {"matchLabels": {"app": "no-such-ingress"}}}}, agent),
                         probe("not-selected", {}, {"staticConfig": {"static": PROBED}}, agent)):
                custom.create_namespaced_custom_object(GROUP, "v1", NS, "probes", body)
            for body in (scrape_config("node-static", SELECTED, [{"targets": [node], "labels": {"team": "lab"}}]),
                         scrape_config("no-targets", SELECTED, []),
                         scrape_config("not-selected", {}, [{"targets": [node]}])):
                custom.create_namespaced_custom_object(GROUP, "v1alpha1", NS, "scrapeconfigs", body)
            custom.patch_namespaced_custom_object(GROUP, "v1alpha1", NS, "prometheusagents", CLUSTER,
                                                  {"spec": {"probeSelector": {"matchLabels": SELECTED},
                                                            "scrapeConfigSelector": {"matchLabels": SELECTED}}})
            wait_for(lambda: agent_pools(lab, CLUSTER).get(PROBE_POOL) == ["up", "up"] and agent_pools(lab, CLUSTER).get(SCFG_POOL) == ["up"], 60,
                     what="the Probe's and the ScrapeConfig's jobs scraped")
            yield lab
    finally:
        labs.close()  # the lab stops, also when the set-up failed


@pytest.fixture(scope="module", name="custom")
def fixture_custom(probe_lab):
    return k8s.CustomObjectsApi(Kube(probe_lab.workdir, probe_lab).api_client(CLUSTER))


def monitors_check(result):
    return {c["id"]: c for c in fleet_checks.evaluate("weekly", {"agent_status": result})["checks"]}["MONITORS"]


def test_served_by_kubectl_and_the_client(probe_lab, custom):
    kube = Kube(probe_lab.workdir, probe_lab)
    probes = custom.list_namespaced_custom_object(GROUP, "v1", NS, "probes")
    assert probes["kind"] == "ProbeList" and probes["apiVersion"] == "monitoring.coreos.com/v1", probes
    assert sorted(p["metadata"]["name"] for p in probes["items"]) == ["agent-self", "no-ingress", "not-selected"]
    scfgs = custom.list_cluster_custom_object(GROUP, "v1alpha1", "scrapeconfigs")
    assert scfgs["kind"] == "ScrapeConfigList" and scfgs["apiVersion"] == "monitoring.coreos.com/v1alpha1", scfgs
    assert sorted(s["metadata"]["name"] for s in scfgs["items"]) == ["no-targets", "node-static", "not-selected"]
    one = custom.get_namespaced_custom_object(GROUP, "v1alpha1", NS, "scrapeconfigs", "node-static")
    assert (one["kind"], one["metadata"]["namespace"], one["spec"]["staticConfigs"][0]["labels"]) == ("ScrapeConfig", NS, {"team": "lab"})
    out = kube.kubectl(CLUSTER, "get", "probes,scrapeconfigs", "-A").stdout
    assert out.split()[:3] == ["NAMESPACE", "NAME", "AGE"], out
    for name in ("probe.monitoring.coreos.com/agent-self", "probe.monitoring.coreos.com/no-ingress",
                 "scrapeconfig.monitoring.coreos.com/node-static", "scrapeconfig.monitoring.coreos.com/no-targets"):
        assert name in out, out
    assert sorted(kube.kubectl(CLUSTER, "get", "prb,scfg", "-n", NS, "-o", "name").stdout.split()) == [
        "probe.monitoring.coreos.com/agent-self", "probe.monitoring.coreos.com/no-ingress", "probe.monitoring.coreos.com/not-selected",
        "scrapeconfig.monitoring.coreos.com/no-targets", "scrapeconfig.monitoring.coreos.com/node-static",
        "scrapeconfig.monitoring.coreos.com/not-selected"]
    resources = kube.kubectl(CLUSTER, "api-resources", "--api-group", GROUP, "-o", "name").stdout.split()
    assert {"probes.monitoring.coreos.com", "scrapeconfigs.monitoring.coreos.com"} <= set(resources), resources


def test_the_agent_scrapes_the_selected_ones_as_the_operator_names_them(probe_lab):
    got = agent_pools(probe_lab, CLUSTER)
    assert got[PROBE_POOL] == ["up", "up"] and got[SCFG_POOL] == ["up"], got
    config = agent_config_yaml(probe_lab, CLUSTER)
    # the selected ones without targets are jobs without targets; the unselected ones are no job
    assert PROBE_NONE_POOL in config and SCFG_NONE_POOL in config, config
    assert PROBE_NONE_POOL not in got and SCFG_NONE_POOL not in got, got
    assert "not-selected" not in config and not [p for p in got if "not-selected" in p], got
    assert {"node", "prometheus-agent"} <= set(got)      # the lab's own jobs stay
    # the probe's targets are the probed addresses (instance), scraped through the prober
    with urllib.request.urlopen(probe_lab.pods(CLUSTER)[0]["agent_url"] + "/api/v1/targets", timeout=10) as resp:
        active = [t for t in json.load(resp)["data"]["activeTargets"] if t["scrapePool"] == PROBE_POOL]
    assert sorted(t["labels"]["instance"] for t in active) == PROBED, active
    assert all("module=http_2xx" in t["scrapeUrl"] and "/metrics?" in t["scrapeUrl"] for t in active), active
    assert all(t["labels"]["namespace"] == NS for t in active), active


def test_status_bindings(custom):
    def cond(plural, version, name):
        status = custom.get_namespaced_custom_object(GROUP, version, NS, plural, name).get("status") or {}
        bindings = status.get("bindings") or []
        return bindings[0]["conditions"][0]["status"] if bindings else None
    wait_for(lambda: cond("probes", "v1", "agent-self") == "True", 30, what="the Probe's binding")
    assert cond("scrapeconfigs", "v1alpha1", "node-static") == "True"
    assert cond("probes", "v1", "not-selected") is None and cond("scrapeconfigs", "v1alpha1", "not-selected") is None


def test_monitors_names_each_selected_one(probe_lab):
    result = agent_status_module(probe_lab, CLUSTER, NS)
    got = {(e["kind"], e["name"]): (e["state"], e["active"], e["up"], e["pools"]) for e in result["monitors"]["selected"]}
    assert got == {("Probe", "agent-self"): ("ok", 2, 2, [PROBE_POOL]), ("Probe", "no-ingress"): ("none", 0, 0, [PROBE_NONE_POOL]),
                   ("ScrapeConfig", "node-static"): ("ok", 1, 1, [SCFG_POOL]),
                   ("ScrapeConfig", "no-targets"): ("none", 0, 0, [SCFG_NONE_POOL])}, got
    check = monitors_check(result)
    assert check["status"] == "warning", check
    assert check["message"].startswith("4 monitor(s) selected, 2 with active targets (3 targets); no active target: "), check
    problem = check["message"].split(";", 1)[1]
    assert "Probe monitoring/no-ingress" in problem and "ScrapeConfig monitoring/no-targets" in problem, check
    assert "agent-self" not in problem and "node-static" not in problem and "not-selected" not in check["message"], check
    assert check["value"]["by_kind"] == {"Probe": {"selected": 2, "with_targets": 1, "none": 1, "rejected": 0},
                                         "ScrapeConfig": {"selected": 2, "with_targets": 1, "none": 1, "rejected": 0}}, check
