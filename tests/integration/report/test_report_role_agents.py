"""The fleet_report role on hosts that are each one agent of a cluster (issue 15: the kubeconfig
inventory's agents make prod-1/main and prod-1/infra): a real ansible-playbook run of the role, the
hosts' variables as the inventory sets them (agent_name, agent_cluster_label); no lab. The JSON
names each host with its cluster and agent, the Prometheus text keeps cluster the cluster and
adds agent, a one-agent host keeps its name as the cluster label."""

from __future__ import annotations

import json

import yaml
from prometheus_client.parser import text_string_to_metric_families

from ansible_runner_helpers import run_playbook  # pylint: disable=import-error

PLAY = """
- name: Report the fleet
  hosts: fleet
  gather_facts: false
  roles:
    - role: fleetops.prometheus_agent.fleet_report
"""


def result(status, lag):
    return {"status": status, "facts": {"lag_seconds": lag},
            "checks": [{"id": "RW-LAG", "status": status, "value": lag, "threshold": {"warning": 60.0, "critical": 120.0},
                        "message": "remote write is %d s behind" % lag}]}


def test_agent_hosts_reported_by_name_with_cluster_and_agent_labels(tmp_path):
    hosts = {
        "prod-1/main": {"fleet_result": result("ok", 2.0), "agent_name": "main", "agent_cluster_label": "prod-1",
                        "kube_context": "prod-1"},
        "prod-1/infra": {"fleet_result": result("critical", 300.0), "agent_name": "infra", "agent_cluster_label": "prod-1",
                         "kube_context": "prod-1"},
        "stg-1": {"fleet_result": result("ok", 1.0), "kube_context": "stg-1"},
    }
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"fleet": {"vars": {"ansible_connection": "local",
                                                            "ansible_python_interpreter": "{{ ansible_playbook_python }}"},
                                                   "hosts": hosts}}))
    run = run_playbook(PLAY, str(inventory), extra_vars={"fleet_cadences": ["daily"], "fleet_report_dir": str(tmp_path / "out"),
                                                         "fleet_history_file": ""}, cwd=str(tmp_path))
    assert run.rc == 0, run.output[-5000:]
    doc = json.loads((tmp_path / "out" / "fleet-report.json").read_text())
    assert sorted(doc["clusters"]) == ["prod-1/infra", "prod-1/main", "stg-1"]
    assert {n: (c.get("cluster"), c.get("agent")) for n, c in doc["clusters"].items()} == {
        "prod-1/infra": ("prod-1", "infra"), "prod-1/main": ("prod-1", "main"), "stg-1": (None, None)}
    assert doc["summary"]["critical_clusters"] == ["prod-1/infra"]
    families = {f.name: f for f in text_string_to_metric_families((tmp_path / "out" / "fleet-report.prom").read_text())}
    status = {(s.labels["cluster"], s.labels["agent"]): s.value for s in families["fleet_cluster_status"].samples}
    assert status == {("prod-1", "main"): 0.0, ("prod-1", "infra"): 2.0, ("stg-1", ""): 0.0}
    html = (tmp_path / "out" / "fleet-report.html").read_text()
    assert 'data-cluster="prod-1/infra"' in html and 'data-cluster="prod-1/main"' in html
