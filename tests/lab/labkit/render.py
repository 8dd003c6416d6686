"""Files the lab writes for its users: DIR/inventory.yml (DIR/kubeconfig is the API server's)."""

from __future__ import annotations

import json
import os
from pathlib import Path


def _yaml_scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value))


def to_yaml(data, indent: int = 0) -> str:
    """A small YAML emitter for dicts, lists and scalars (the inventory needs no more)."""
    pad = "  " * indent
    lines = []
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, (dict, list)) and value:
                lines.append("%s%s:" % (pad, key))
                lines.append(to_yaml(value, indent + 1))
            elif isinstance(value, dict):
                lines.append("%s%s: {}" % (pad, key))
            elif isinstance(value, list):
                lines.append("%s%s: []" % (pad, key))
            else:
                lines.append("%s%s: %s" % (pad, key, _yaml_scalar(value)))
    elif isinstance(data, list):
        for value in data:
            if isinstance(value, (dict, list)) and value:
                body = to_yaml(value, indent + 1).lstrip()
                lines.append("%s- %s" % (pad, body))
            else:
                lines.append("%s- %s" % (pad, _yaml_scalar(value)))
    else:
        lines.append(pad + _yaml_scalar(data))
    return "\n".join(lines)


def inventory(state: dict) -> dict:
    """The Ansible inventory of a lab (group ``fleet``, one host per cluster)."""
    workdir = Path(state["workdir"])
    with_api = bool(state.get("api"))
    hosts = {}
    # an agent of several pods (shards, replicas, a DaemonSet) is audited by its selector, every pod;
    # an agent of one pod keeps its pod pinned
    one_pod = int(state.get("shards") or 1) * int(state.get("replicas") or 1) == 1 and state.get("mode", "statefulset") != "daemonset"
    for name, info in state["clusters"].items():
        host = {"kube_context": info.get("context", name), "agent_namespace": info.get("namespace", "monitoring")}
        if info.get("agent_selector"):
            host["agent_selector"] = info["agent_selector"]
        if info.get("pod") and one_pod:
            host["agent_pod"] = info["pod"]
        if not with_api and info.get("agent_url"):
            host["agent_url"] = info["agent_url"]
            host["agent_wal_path"] = info.get("wal_dir")
        host["lab_synthetic"] = bool(info.get("synthetic"))
        hosts[name] = host
    group_vars = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "fleet_query_url": state["receiver"]["url"],
        # the receiver holds the whole test session: a daily "first run" judges its own seconds unless a
        # test asks for the store's day (fleet_daily_query_window) itself
        "fleet_daily_query_window": "",
        "agent_port": 9090,
        "agent_container": "prometheus",
        "agent_wal_path": "/prometheus/wal",
    }
    if with_api:
        group_vars["kubeconfig"] = str(workdir / "kubeconfig")
    return {"all": {"children": {"fleet": {"vars": group_vars, "hosts": hosts}}}}


def write_inventory(path: Path, state: dict):
    """Write DIR/inventory.yml for the lab described by ``state``."""
    text = "# written by tests/lab/fleetlab up (the lab at %s)\n" % state["workdir"] + to_yaml(inventory(state)) + "\n"
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
