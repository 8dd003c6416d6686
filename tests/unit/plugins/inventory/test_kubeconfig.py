"""Unit tests of the kubeconfig inventory plugin (no cluster is contacted)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ansible_collections.fleetops.prometheus_agent.plugins.inventory import kubeconfig as plugin

REPO_ROOT = Path(__file__).resolve().parents[4]
VENV_BIN = Path(sys.executable).parent

KUBECONFIG_A = """
apiVersion: v1
kind: Config
clusters:
- name: c-prod-1
  cluster: {server: "https://10.0.0.1:6443"}
- name: c-stg-1
  cluster: {server: "https://10.0.0.2:6443"}
contexts:
- name: prod-eu-1
  context: {cluster: c-prod-1, user: admin, namespace: mon}
- name: stg-eu-1
  context: {cluster: c-stg-1, user: admin}
- name: old-decommissioned
  context: {cluster: c-stg-1, user: admin}
users:
- name: admin
  user: {token: sekret}
"""

KUBECONFIG_B = """
apiVersion: v1
kind: Config
clusters:
- name: c-prod-2
  cluster: {server: "https://10.0.0.3:6443"}
contexts:
- name: prod-us-1
  context: {cluster: c-prod-2, user: admin}
- name: prod-eu-1
  context: {cluster: c-prod-2, user: admin}
users: []
"""


@pytest.fixture(name="kube_dir")
def fixture_kube_dir(tmp_path):
    (tmp_path / "a.yaml").write_text(KUBECONFIG_A)
    (tmp_path / "b.yaml").write_text(KUBECONFIG_B)
    return tmp_path


def test_read_contexts(kube_dir):
    contexts = plugin.read_contexts(str(kube_dir / "a.yaml"))
    assert [c["name"] for c in contexts] == ["prod-eu-1", "stg-eu-1", "old-decommissioned"]
    assert contexts[0]["cluster"] == "c-prod-1"
    assert contexts[0]["server"] == "https://10.0.0.1:6443"
    assert contexts[0]["namespace"] == "mon"


def test_read_contexts_rejects_non_mapping(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(Exception, match="not a kubeconfig"):
        plugin.read_contexts(str(bad))


def test_select_include_exclude():
    names = ["prod-eu-1", "prod-us-1", "stg-eu-1", "prod-old-decommissioned"]
    include = plugin._compile(["^prod-"], "include")  # pylint: disable=protected-access
    exclude = plugin._compile(["decommissioned$"], "exclude")  # pylint: disable=protected-access
    assert plugin.select(names, include, exclude) == ["prod-eu-1", "prod-us-1"]
    assert plugin.select(names, [], []) == names


def test_invalid_regex_is_a_parser_error():
    with pytest.raises(Exception, match="invalid regular expression"):
        plugin._compile(["("], "include")  # pylint: disable=protected-access


def _inventory(tmp_path, config, with_stderr=False):
    """Run the real ansible-inventory on a plugin config; returns the parsed --list output
    (and its stderr with ``with_stderr``)."""
    import json  # pylint: disable=import-outside-toplevel
    coll = tmp_path / "colls" / "ansible_collections" / "fleetops"
    if not coll.exists():
        coll.mkdir(parents=True)
        (coll / "prometheus_agent").symlink_to(REPO_ROOT)
    inv = tmp_path / "fleet.kubeconfig.yml"
    inv.write_text(textwrap.dedent(config))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "colls"), ANSIBLE_INVENTORY_UNPARSED_FAILED="1")
    env.pop("KUBECONFIG", None)
    proc = subprocess.run([str(VENV_BIN / "ansible-inventory"), "-i", str(inv), "--list"], env=env,
                          capture_output=True, text=True, check=False, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    return (data, proc.stderr) if with_stderr else data


def _plain(value):
    return value.get("__ansible_unsafe", value) if isinstance(value, dict) else value


def test_inventory_end_to_end(kube_dir):
    data = _inventory(kube_dir, """
        plugin: fleetops.prometheus_agent.kubeconfig
        kubeconfigs: [a.yaml, b.yaml]
        exclude: ['decommissioned']
        groups:
          prod: '^prod-'
        keyed_groups:
          - key: kube_context.split('-')[1]
            prefix: region
        compose:
          agent_pod: >-
            'prom-agent-' ~ kube_context ~ '-0'
        vars:
          agent_namespace: monitoring
        """)
    hostvars = data["_meta"]["hostvars"]
    assert sorted(hostvars) == ["prod-eu-1", "prod-us-1", "stg-eu-1"]
    eu1 = {k: _plain(v) for k, v in hostvars["prod-eu-1"].items()}
    assert eu1["ansible_connection"] == "local"
    assert eu1["kube_context"] == "prod-eu-1"
    # the first file wins for a context defined twice
    assert eu1["kubeconfig"] == str(kube_dir / "a.yaml")
    assert eu1["cluster_name"] == "c-prod-1"
    assert eu1["agent_namespace"] == "monitoring"
    assert eu1["agent_pod"] == "prom-agent-prod-eu-1-0"
    assert "sekret" not in str(hostvars)
    assert sorted(data["prod"]["hosts"]) == ["prod-eu-1", "prod-us-1"]
    assert sorted(data["region_eu"]["hosts"]) == ["prod-eu-1", "stg-eu-1"]
    assert sorted(data["fleet"]["hosts"]) == ["prod-eu-1", "prod-us-1", "stg-eu-1"]


def test_inventory_include_and_context_namespace(kube_dir):
    data = _inventory(kube_dir, """
        plugin: fleetops.prometheus_agent.kubeconfig
        kubeconfigs: [a.yaml]
        include: ['^prod-', '^stg-']
        use_context_namespace: true
        group: clusters
        """)
    hostvars = data["_meta"]["hostvars"]
    assert sorted(hostvars) == ["prod-eu-1", "stg-eu-1"]
    assert _plain(hostvars["prod-eu-1"]["agent_namespace"]) == "mon"
    assert "agent_namespace" not in hostvars["stg-eu-1"]
    assert sorted(data["clusters"]["hosts"]) == ["prod-eu-1", "stg-eu-1"]


def test_include_that_matches_nothing_is_a_warning_naming_the_contexts(kube_dir):
    """A new user's pattern that matches none of their contexts must not silently audit nothing."""
    data, stderr = _inventory(kube_dir, """
        plugin: fleetops.prometheus_agent.kubeconfig
        kubeconfigs: [a.yaml]
        include: '^production-|^staging-'
        """, with_stderr=True)
    assert data["_meta"]["hostvars"] == {}
    flat = " ".join(stderr.split())
    assert "include pattern '^production-|^staging-' matches none of the 3 context(s) read" in flat, stderr
    assert "prod-eu-1, stg-eu-1, old-decommissioned" in flat, stderr
    assert "no host" in flat, stderr


def test_include_that_matches_gives_no_warning(kube_dir):
    data, stderr = _inventory(kube_dir, """
        plugin: fleetops.prometheus_agent.kubeconfig
        kubeconfigs: [a.yaml]
        include: '^prod-|^staging-'
        """, with_stderr=True)
    assert sorted(data["_meta"]["hostvars"]) == ["prod-eu-1"]
    assert "WARNING" not in stderr, stderr


def test_python_interpreter_is_the_playbook_python_at_group_level(kube_dir):
    """Set on the group (lowest precedence), as a template ansible-core resolves at run time."""
    data = _inventory(kube_dir, """
        plugin: fleetops.prometheus_agent.kubeconfig
        kubeconfigs: [a.yaml]
        """)
    assert _plain(data["_meta"]["hostvars"]["prod-eu-1"]["ansible_python_interpreter"]) == "{{ ansible_playbook_python }}"
    # group_vars of the group override it (it is the lowest precedence there is)
    (kube_dir / "group_vars").mkdir()
    (kube_dir / "group_vars" / "fleet.yml").write_text("ansible_python_interpreter: /usr/bin/python3\n")
    data = _inventory(kube_dir, """
        plugin: fleetops.prometheus_agent.kubeconfig
        kubeconfigs: [a.yaml]
        """)
    assert _plain(data["_meta"]["hostvars"]["prod-eu-1"]["ansible_python_interpreter"]) == "/usr/bin/python3"


def test_python_interpreter_resolves_when_a_module_runs(kube_dir):
    """A real module run through the inventory starts under the playbook's own Python."""
    coll = kube_dir / "colls" / "ansible_collections" / "fleetops"
    coll.mkdir(parents=True)
    (coll / "prometheus_agent").symlink_to(REPO_ROOT)
    (kube_dir / "fleet.kubeconfig.yml").write_text("plugin: fleetops.prometheus_agent.kubeconfig\nkubeconfigs: [a.yaml]\ninclude: ['^prod-']\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(kube_dir / "colls"))
    env.pop("KUBECONFIG", None)
    proc = subprocess.run([str(VENV_BIN / "ansible"), "all", "-i", "fleet.kubeconfig.yml", "-m", "ansible.builtin.command",
                           "-a", "echo done"], env=env, capture_output=True, text=True, check=False, cwd=str(kube_dir), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "done" in proc.stdout


def test_python_interpreter_can_be_left_to_discovery(kube_dir):
    data = _inventory(kube_dir, """
        plugin: fleetops.prometheus_agent.kubeconfig
        kubeconfigs: [a.yaml]
        set_python_interpreter: false
        group: ''
        """)
    assert "ansible_python_interpreter" not in str(data)


def test_agents_make_one_host_per_agent_of_the_contexts_they_match(kube_dir):
    """Two PrometheusAgent resources in the prod clusters: one host each, selecting its own pods."""
    data = _inventory(kube_dir, """
        plugin: fleetops.prometheus_agent.kubeconfig
        kubeconfigs: [a.yaml, b.yaml]
        exclude: ['decommissioned']
        groups:
          prod: '^prod-'
        agents:
          '^prod-eu-':
            - name: main
              namespace: monitoring
            - name: infra
        vars:
          agent_namespace: mon-default
        """)
    hostvars = data["_meta"]["hostvars"]
    assert sorted(hostvars) == ["prod-eu-1/infra", "prod-eu-1/main", "prod-us-1", "stg-eu-1"]
    main = {k: _plain(v) for k, v in hostvars["prod-eu-1/main"].items()}
    infra = {k: _plain(v) for k, v in hostvars["prod-eu-1/infra"].items()}
    assert main["kube_context"] == infra["kube_context"] == "prod-eu-1"
    assert main["cluster_name"] == "c-prod-1"
    assert main["agent_name"] == "main" and infra["agent_name"] == "infra"
    assert main["agent_selector"] == "operator.prometheus.io/name=main"
    assert infra["agent_selector"] == "operator.prometheus.io/name=infra"
    assert main["agent_namespace"] == "monitoring"
    assert infra["agent_namespace"] == "mon-default"      # the entry names none: the common vars'
    assert main["agent_cluster_label"] == infra["agent_cluster_label"] == "prod-eu-1"
    us1 = {k: _plain(v) for k, v in hostvars["prod-us-1"].items()}
    assert "agent_name" not in us1 and "agent_selector" not in us1 and "agent_cluster_label" not in us1
    assert sorted(data["context_prod_eu_1"]["hosts"]) == ["prod-eu-1/infra", "prod-eu-1/main"]
    assert sorted(data["prod"]["hosts"]) == ["prod-eu-1/infra", "prod-eu-1/main", "prod-us-1"]
    assert sorted(data["fleet"]["hosts"]) == ["prod-eu-1/infra", "prod-eu-1/main", "prod-us-1", "stg-eu-1"]


def test_agents_lists_names_and_groups():
    lists = plugin.agent_lists({"^prod-": ["main", {"name": "infra", "namespace": "x"}]})
    assert plugin.agents_of("prod-1", lists) == [{"name": "main", "namespace": None}, {"name": "infra", "namespace": "x"}]
    assert plugin.agents_of("stg-1", lists) is None
    assert plugin.agent_host_name("arn:aws:eks:eu-west-1:1:cluster/prod", "main") == "arn:aws:eks:eu-west-1:1:cluster/prod/main"
    assert plugin.context_group_name("arn:aws:eks:eu-west-1:1:cluster/prod") == "context_arn_aws_eks_eu_west_1_1_cluster_prod"


@pytest.mark.parametrize("option, message", [
    ({"^prod-": []}, "a non-empty list of agents"),
    ({"^prod-": [{"name": "Main"}]}, "not a Kubernetes object name"),
    ({"^prod-": [{"name": "a/b"}]}, "not a Kubernetes object name"),
    ({"^prod-": ["main", "main"]}, "agent main listed twice"),
    ({"^prod-": [{"name": "main", "selector": "x"}]}, "a mapping of name and namespace"),
    ({"(": ["main"]}, "invalid regular expression"),
])
def test_agents_bad_option_is_a_clear_parser_error(option, message):
    with pytest.raises(Exception, match=message):
        plugin.agent_lists(option)


def test_agents_cluster_label_set_in_vars_wins(kube_dir):
    data = _inventory(kube_dir, """
        plugin: fleetops.prometheus_agent.kubeconfig
        kubeconfigs: [a.yaml]
        include: ['^prod-']
        agents:
          '.': [main, infra]
        vars:
          agent_cluster_label: "{{ kube_context }}"
        """)
    hostvars = data["_meta"]["hostvars"]
    assert sorted(hostvars) == ["prod-eu-1/infra", "prod-eu-1/main"]
    assert "kube_context" in str(hostvars["prod-eu-1/main"]["agent_cluster_label"])


def test_agents_from_api_unreachable_context_keeps_its_host_with_a_warning(tmp_path):
    """A cluster whose API server does not answer (a closed port) keeps its one host; the
    contexts the agents option lists are not asked."""
    (tmp_path / "down.yaml").write_text(textwrap.dedent("""
        apiVersion: v1
        kind: Config
        clusters:
        - name: down
          cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}
        contexts:
        - name: down-1
          context: {cluster: down, user: u}
        - name: listed-1
          context: {cluster: down, user: u}
        users:
        - name: u
          user: {token: sekret-token}
        """))
    data, stderr = _inventory(tmp_path, """
        plugin: fleetops.prometheus_agent.kubeconfig
        kubeconfigs: [down.yaml]
        agents_from_api: true
        agents_from_api_timeout: 3
        agents:
          '^listed-': [main, infra]
        """, with_stderr=True)
    assert sorted(data["_meta"]["hostvars"]) == ["down-1", "listed-1/infra", "listed-1/main"]
    flat = " ".join(stderr.split())
    assert "agents_from_api: context down-1 kept as one host: its PrometheusAgent resources could not be listed" in flat
    assert "listed-1 kept" not in flat
    assert "sekret-token" not in stderr


def test_agent_host_name_with_a_namespace_for_twins():
    assert plugin.agent_host_name("prod-1", "main", "team-a") == "prod-1/team-a/main"
