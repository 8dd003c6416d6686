"""The kubeconfig inventory plugin on the lab's kubeconfig: one host per lab cluster, whose
variables reach that cluster (kubectl with them lists the cluster's agent pod), and the check
modules run through it."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from ansible_runner_helpers import ansible_env, run_module, VENV_BIN

pytestmark = pytest.mark.lab


def _plain(value):
    return value.get("__ansible_unsafe", value) if isinstance(value, dict) else value


@pytest.fixture(scope="module", name="plugin_inventory")
def fixture_plugin_inventory(lab, lab_kubeconfig, tmp_path_factory):
    path = tmp_path_factory.mktemp("inv") / "lab.kubeconfig.yml"
    path.write_text(
        "plugin: fleetops.prometheus_agent.kubeconfig\n"
        "kubeconfigs: [%s]\n"
        "include: ['^lab-']\n"
        "groups:\n  first: '-1$'\n"
        "vars:\n  agent_namespace: monitoring\n  ansible_python_interpreter: '{{ ansible_playbook_python }}'\n"
        "compose:\n  agent_pod: \"'prom-agent-' ~ kube_context ~ '-0'\"\n" % lab_kubeconfig)
    return path


def test_hosts_and_variables(lab, plugin_inventory):
    proc = subprocess.run([str(VENV_BIN / "ansible-inventory"), "-i", str(plugin_inventory), "--list"],
                          env=ansible_env(), capture_output=True, text=True, check=True)
    data = json.loads(proc.stdout)
    hostvars = data["_meta"]["hostvars"]
    real = sorted(name for name, c in lab.state["clusters"].items() if not c.get("synthetic"))
    assert sorted(hostvars) == real
    assert data["first"]["hosts"] == ["lab-1"]
    assert sorted(data["fleet"]["hosts"]) == real
    for name in real:
        hv = {k: _plain(v) for k, v in hostvars[name].items()}
        assert hv["kube_context"] == name and hv["ansible_connection"] == "local"
        assert hv["agent_pod"] == lab.state["clusters"][name]["pod"]
        if shutil.which("kubectl"):
            out = subprocess.run(["kubectl", "--kubeconfig", hv["kubeconfig"], "--context", hv["kube_context"],
                                  "-n", hv["agent_namespace"], "get", "pods", "-o", "name"],
                                 capture_output=True, text=True, check=True, timeout=60).stdout
            assert "pod/%s" % hv["agent_pod"] in out


def test_module_runs_through_the_plugin_inventory(lab, plugin_inventory):
    run = run_module("agent_status", {"context": "{{ kube_context }}", "kubeconfig": "{{ kubeconfig }}",
                                      "namespace": "{{ agent_namespace }}", "pod": "{{ agent_pod }}"},
                     host="lab-1", inventory=plugin_inventory, env={"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops"})
    assert run.rc == 0, run.output[-3000:]
    result = json.loads(run.stdout[run.stdout.index("{"):])
    assert result.get("status") in ("ok", "warning", "critical"), run.output[-3000:]
    assert result["agent"]["healthy"] is True
