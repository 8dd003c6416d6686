"""Helpers of the agent_status / remote_write_stats / agent_logs lab tests (no tests here).

Every module runs through the real ``ansible`` against the session lab, in Kubernetes mode
(the lab inventory's kubeconfig/context/namespace/pod) or directly (``url`` = the agent's
address from the lab state, on an inventory host so the interpreter is the venv's).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import tempfile
from pathlib import Path

import yaml

from ansible_runner_helpers import CALLBACK_DIR, run_module, run_playbook  # pylint: disable=import-error

KUBE_ARGS = {
    "kubeconfig": "{{ kubeconfig }}",
    "context": "{{ kube_context }}",
    "namespace": "{{ agent_namespace | default('monitoring') }}",
    "pod": "{{ agent_pod | default(omit) }}",
    "label_selector": "{{ agent_selector | default(omit) }}",
}

_ENV = None


def callback_env() -> dict:
    """Environment for the helpers: the result_dump callback, with its DOCUMENTATION made valid YAML
    in a private copy when the repository's copy does not parse (ansible-core 2.19 refuses it)."""
    global _ENV  # pylint: disable=global-statement
    if _ENV is not None:
        return _ENV
    source = Path(CALLBACK_DIR) / "result_dump.py"
    text = source.read_text(encoding="utf-8")
    doc = None
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "DOCUMENTATION" for t in node.targets):
            doc = node.value.value
    try:
        yaml.safe_load(doc or "")
        _ENV = {}
    except yaml.YAMLError:
        fixed = Path(tempfile.mkdtemp(prefix="fleetops-cb-"))
        lines = []
        for line in doc.splitlines():
            stripped = line.strip()
            if stripped.startswith("- ") and ("{" in stripped or ":" in stripped[2:]):
                indent = line[:len(line) - len(line.lstrip())]
                line = indent + "- " + json.dumps(stripped[2:])
            lines.append(line)
        new_doc = "\n".join(lines)
        try:
            yaml.safe_load(new_doc)
        except yaml.YAMLError:
            new_doc = "\nname: result_dump\ntype: aggregate\nshort_description: dump task results (tests only)\n" \
                      "description: [dump task results to a JSON file]\n"
        (fixed / "result_dump.py").write_text(text.replace(doc, new_doc), encoding="utf-8")
        _ENV = {"ANSIBLE_CALLBACK_PLUGINS": str(fixed)}
        shutil.copystat(source, fixed / "result_dump.py")
    return _ENV


def module_defaults(select: str = 'label_selector: "{{ agent_selector }}"') -> str:
    """The ``module_defaults`` of a play's header: the lab host's cluster, and the pod by ``select``."""
    return """
  module_defaults:
    group/fleetops.prometheus_agent.prometheus_agent:
      kubeconfig: "{{ kubeconfig }}"
      context: "{{ kube_context }}"
      namespace: "{{ agent_namespace }}"
      %s
""" % select


def state(lab) -> dict:
    with open(os.path.join(str(lab.workdir), "state.json"), encoding="utf-8") as handle:
        return json.load(handle)


def clusters(lab) -> list:
    return sorted(c for c, v in state(lab)["clusters"].items() if not v.get("synthetic"))


def inventory(lab) -> str:
    return os.path.join(str(lab.workdir), "inventory.yml")


def kube(lab, module, host, args=None, check=False):
    """One module on one cluster through the Kubernetes API; returns the task result."""
    merged = dict(KUBE_ARGS)
    merged.update(args or {})
    run = run_module(module, merged, host=host, inventory=inventory(lab), check=check, env=callback_env(), timeout=180)
    return run.result(host)


def direct(lab, module, host, args=None, check=False):
    """One module on one cluster's agent reached at its URL (no Kubernetes)."""
    merged = {"url": state(lab)["clusters"][host]["agent_url"]}
    merged.update(args or {})
    run = run_module(module, merged, host=host, inventory=inventory(lab), check=check, env=callback_env(), timeout=180)
    return run.result(host)


def playbook(lab, text, limit=None, extra_vars=None):
    return run_playbook(text, inventory=inventory(lab), limit=limit, extra_vars=extra_vars, env=callback_env(), timeout=300)


def by_id(result) -> dict:
    return {c["id"]: c for c in result.get("checks") or []}


def assert_checks_shape(result):
    assert not result.get("failed"), json.dumps(result)[:3000]
    assert result["status"] in ("ok", "warning", "critical", "unknown")
    for check in result["checks"]:
        assert set(check) >= {"id", "status", "value", "threshold", "message"}, check
        assert check["message"]
