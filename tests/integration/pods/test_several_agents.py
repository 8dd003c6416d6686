"""Several agents in one cluster (issue 15): a lab cluster running two PrometheusAgent resources
(lab-1 and lab-1-2, each its own StatefulSet, pod, WAL and process). The kubeconfig inventory's
``agents`` makes one host per agent; agent_status on each host (its inventory variables: the
context, namespace and ``operator.prometheus.io/name=<agent>`` selector) audits that agent's pod
alone; the default selector, which matches both agents' pods, makes POD a warning naming both."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from ansible_runner_helpers import VENV_BIN, ansible_env, run_playbook  # pylint: disable=import-error
from lab_fixtures import scraping_lab  # pylint: disable=import-error

pytestmark = [pytest.mark.lab, pytest.mark.slow]

CLUSTER = "lab-1"
AGENTS = {"lab-1": "prom-agent-lab-1-0", "lab-1-2": "prom-agent-lab-1-2-0"}
HOSTS = sorted("%s/%s" % (CLUSTER, agent) for agent in AGENTS)

PLAY = """
- name: agent_status of every agent host
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Read the agent
      fleetops.prometheus_agent.agent_status:
        kubeconfig: "{{ kubeconfig }}"
        context: "{{ kube_context }}"
        namespace: "{{ agent_namespace }}"
        label_selector: "{{ agent_selector | default(omit) }}"
"""


@pytest.fixture(scope="module", name="two_agents_lab")
def fixture_two_agents_lab():
    """One cluster with two PrometheusAgent resources, every pod scraping; stopped afterwards."""
    yield from scraping_lab("fleetops-several-agents-", agents_per_cluster=2)


def write_inventory(lab, agents=True, extra=""):
    path = Path(lab.workdir) / ("agents.kubeconfig.yml" if agents else "contexts.kubeconfig.yml")
    text = """
        plugin: fleetops.prometheus_agent.kubeconfig
        kubeconfigs: [%s]
        vars:
          agent_namespace: monitoring
        """ % json.dumps(str(Path(lab.workdir) / "kubeconfig")) + extra
    if agents:
        text += """
        agents:
          '^lab-1$':
            - name: lab-1
            - name: lab-1-2
        """
    path.write_text(textwrap.dedent(text))
    return path


def plain(value):
    """A value of ``ansible-inventory --list`` (an inventory source's strings are marked unsafe)."""
    return value.get("__ansible_unsafe", value) if isinstance(value, dict) else value


def inventory_list(path):
    env = ansible_env()
    env.pop("KUBECONFIG", None)
    proc = subprocess.run([str(VENV_BIN / "ansible-inventory"), "-i", str(path), "--list"], env=env, capture_output=True,
                          text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_lab_runs_two_agents_each_its_own_statefulset_pod_and_process(two_agents_lab):
    pods = two_agents_lab.pods(CLUSTER)
    assert sorted(p["pod"] for p in pods) == sorted(AGENTS.values())
    assert {p["agent_cr"] for p in pods} == set(AGENTS)
    assert len({p["pid"] for p in pods}) == 2 and len({p["wal_dir"] for p in pods}) == 2
    assert all(p["pod_labels"]["operator.prometheus.io/name"] == p["agent_cr"] for p in pods)


def test_inventory_makes_one_host_per_agent_and_each_is_audited_by_name(two_agents_lab):
    inventory = write_inventory(two_agents_lab)
    data = inventory_list(inventory)
    hostvars = data["_meta"]["hostvars"]
    assert sorted(hostvars) == HOSTS
    assert sorted(data["context_lab_1"]["hosts"]) == HOSTS
    for agent in AGENTS:
        host = {k: plain(v) for k, v in hostvars["%s/%s" % (CLUSTER, agent)].items()}
        assert host["agent_selector"] == "operator.prometheus.io/name=" + agent
        assert host["agent_cluster_label"] == CLUSTER and host["kube_context"] == CLUSTER
    run = run_playbook(PLAY, inventory=str(inventory), env={"ANSIBLE_PYTHON_INTERPRETER": str(VENV_BIN / "python")})
    assert run.rc == 0, run.output[-3000:]
    for agent, pod_name in AGENTS.items():
        result = run.result("%s/%s" % (CLUSTER, agent), "Read the agent")
        checks = {c["id"]: c for c in result["checks"]}
        assert [p["name"] for p in result["pods"]] == [pod_name], result["pods"]
        assert [p["agent"] for p in result["pods"]] == [agent]
        assert checks["POD"]["status"] == "ok", checks["POD"]
        assert "agents" not in checks["POD"]["message"]
        assert result["agent"]["pod"] == pod_name
        assert checks["HEALTH"]["status"] == "ok", checks["HEALTH"]


def test_the_default_selector_sees_both_agents_and_pod_warns_naming_both(two_agents_lab):
    inventory = write_inventory(two_agents_lab, agents=False)
    assert sorted(inventory_list(inventory)["_meta"]["hostvars"]) == [CLUSTER]
    run = run_playbook(PLAY, inventory=str(inventory), env={"ANSIBLE_PYTHON_INTERPRETER": str(VENV_BIN / "python")})
    assert run.rc == 0, run.output[-3000:]
    result = run.result(CLUSTER, "Read the agent")
    pod = {c["id"]: c for c in result["checks"]}["POD"]
    assert sorted(p["name"] for p in result["pods"]) == sorted(AGENTS.values())
    assert pod["status"] == "warning", pod
    assert pod["message"].startswith("the selector matches the pods of 2 agents: lab-1 (1 pod), lab-1-2 (1 pod): "
                                     "give agent_selector operator.prometheus.io/name=NAME per inventory host"), pod


def test_agents_from_api_lists_the_prometheusagent_resources_of_the_cluster(two_agents_lab):
    inventory = write_inventory(two_agents_lab, agents=False, extra="""
        agents_from_api: true
        agents_from_api_timeout: 10
        """)
    hostvars = inventory_list(inventory)["_meta"]["hostvars"]
    assert sorted(hostvars) == HOSTS
    for agent in AGENTS:
        host = {k: plain(v) for k, v in hostvars["%s/%s" % (CLUSTER, agent)].items()}
        assert host["agent_selector"] == "operator.prometheus.io/name=" + agent
        assert host["agent_namespace"] == "monitoring" and host["agent_name"] == agent
        assert host["agent_cluster_label"] == CLUSTER


def test_the_daily_playbook_audits_each_agent_by_name(two_agents_lab, tmp_path):
    """The daily playbook on the agents inventory: the report has one entry per agent, each with the
    cluster and agent, its POD naming its own pod only; the Prometheus text keeps cluster lab-1."""
    inventory = write_inventory(two_agents_lab)
    out = tmp_path / "report"
    run = run_playbook("fleetops.prometheus_agent.daily", str(inventory), cwd=str(tmp_path),
                       extra_vars={"fleet_report_dir": str(out), "fleet_history_file": "", "fleet_module_timeout": 90},
                       env={"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops"})
    report = out / "fleet-report.json"
    assert report.exists(), run.output[-5000:]
    doc = json.loads(report.read_text())
    assert sorted(doc["clusters"]) == HOSTS
    for agent, pod_name in AGENTS.items():
        entry = doc["clusters"]["%s/%s" % (CLUSTER, agent)]
        assert (entry.get("cluster"), entry.get("agent")) == (CLUSTER, agent)
        pod = {c["id"]: c for c in entry["checks"]}["POD"]
        assert pod["status"] == "ok", pod
        assert pod_name in pod["message"]
        assert [p for p in AGENTS.values() if p != pod_name][0] not in pod["message"]
    prom = (out / "fleet-report.prom").read_text()
    assert 'cluster="lab-1"' in prom and 'agent="lab-1-2"' in prom and 'agent="lab-1"' in prom
