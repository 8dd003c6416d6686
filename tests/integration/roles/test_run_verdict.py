"""The exit status a scheduler sees (issue 16 S4): a fleet whose every cluster is unknown (here:
every API server refuses the connection) must not end as a green run, and the clusters that fail
are the unknown ones. No lab: nothing answers on the addresses of this inventory."""

from __future__ import annotations

import json
import textwrap

from ansible_runner_helpers import play_recap, run_playbook

PLAIN = {"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops"}

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters:
- name: dead-1
  cluster: {server: "https://127.0.0.1:1"}
- name: dead-2
  cluster: {server: "https://127.0.0.1:2"}
contexts:
- name: dead-1
  context: {cluster: dead-1, user: ops}
- name: dead-2
  context: {cluster: dead-2, user: ops}
users:
- name: ops
  user: {token: not-a-real-token}
"""


def _inventory(tmp_path):
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(textwrap.dedent("""
        fleet:
          vars:
            ansible_connection: local
            ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
            kubeconfig: {kubeconfig}
          hosts:
            dead-1: {{kube_context: dead-1}}
            dead-2: {{kube_context: dead-2}}
        """).format(kubeconfig=tmp_path / "kubeconfig"))
    return str(inventory)


def _daily(tmp_path, extra):
    out = tmp_path / "report"
    extra_vars = {"fleet_report_dir": str(out), "fleet_history_file": "", "fleet_module_timeout": 10}
    extra_vars.update(extra)
    run = run_playbook("fleetops.prometheus_agent.daily", _inventory(tmp_path), extra_vars=extra_vars, cwd=str(tmp_path), env=PLAIN)
    doc = json.loads((out / "fleet-report.json").read_text())
    return run, doc


def test_every_cluster_unknown_fails_the_run_by_default(tmp_path):
    run, doc = _daily(tmp_path, {})
    assert doc["summary"]["unknown"] == 2, doc["summary"]
    assert run.rc != 0, run.output[-3000:]
    assert "2 of 2 clusters unknown (every cluster)" in run.output, run.output[-3000:]
    recap = play_recap(run.stdout)
    assert recap["dead-1"]["failed"] == 1 and recap["dead-2"]["failed"] == 1, recap


def test_unknown_rule_can_be_turned_off(tmp_path):
    run, doc = _daily(tmp_path, {"fleet_fail_unknown_ratio": 2})
    assert doc["summary"]["unknown"] == 2
    assert run.rc == 0, run.output[-3000:]
