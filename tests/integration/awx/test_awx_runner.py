"""The audit playbook run the way AWX / Automation Controller runs it: through ansible-runner.

Each test lays out a private data dir as AWX does for a job: ``project/`` with the playbook of the
job template (it imports the collection's ``audit`` playbook), ``inventory/``, ``env/extravars``
with the survey answers, and the credential's environment passed as ``envvars`` with
``suppress_env_files`` (AWX's default), then asserts on what AWX keeps: the status, stdout, the job
events and, in the ``playbook_on_stats`` event, the ``set_stats`` data (``artifact_data``).

- one-cluster template: the Kubernetes credential as AWX injects it (``K8S_AUTH_HOST``,
  ``K8S_AUTH_API_KEY``, ``K8S_AUTH_SSL_CA_CERT``, ``K8S_AUTH_VERIFY_SSL``), an inventory of one host
  and no kubeconfig anywhere;
- fleet template: the lab's inventory, one host per cluster with its kubeconfig context.

The bearer tokens must not show in stdout, in the job events, in the fact cache or in the report.
ansible-runner itself records the whole process environment in ``artifacts/<ident>/command``
(mode 0600); that file is checked apart: the token may be in its ``env`` and nowhere else.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from ansible_runner_helpers import VENV_BIN, collections_path

pytestmark = [pytest.mark.lab, pytest.mark.slow]

PROJECT_PLAYBOOK = """---
# What an AWX project holds for the job template: the collection's audit playbook.
- name: Fleet audit
  ansible.builtin.import_playbook: fleetops.prometheus_agent.audit
"""


def _runner_env(extra=None):
    """The environment of the job: the venv first (the EE's python), the collection installed."""
    env = {
        "PATH": "%s:%s" % (VENV_BIN, os.environ.get("PATH", "/usr/bin:/bin")),
        "ANSIBLE_COLLECTIONS_PATH": str(collections_path()),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "PYTHONWARNINGS": "ignore",
    }
    env.update(extra or {})
    return env


def _private_data_dir(base: Path, inventory: dict, extravars: dict) -> Path:
    pdd = base / "pdd"
    for sub in ("project", "inventory", "env"):
        (pdd / sub).mkdir(parents=True, exist_ok=True)
    (pdd / "project" / "audit.yml").write_text(PROJECT_PLAYBOOK, encoding="utf-8")
    (pdd / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory, default_flow_style=False), encoding="utf-8")
    (pdd / "env" / "extravars").write_text(yaml.safe_dump(extravars, default_flow_style=False), encoding="utf-8")
    return pdd


def _run(pdd: Path, ident: str, envvars: dict):
    import ansible_runner  # pylint: disable=import-outside-toplevel

    saved = {name: os.environ.pop(name) for name in list(os.environ) if name == "KUBECONFIG" or name.startswith("K8S_AUTH_")}
    try:
        return ansible_runner.run(private_data_dir=str(pdd), playbook="audit.yml", ident=ident, envvars=envvars,
                                  suppress_env_files=True, quiet=True, timeout=1200)
    finally:
        os.environ.update(saved)


def _events(artifact_dir: Path) -> list:
    events = []
    for path in sorted((artifact_dir / "job_events").glob("*.json")):
        with open(path, encoding="utf-8") as handle:
            events.append(json.load(handle))
    return events


def _set_stats(artifact_dir: Path) -> dict:
    """The ``set_stats`` data of the run, as AWX reads it: ``artifact_data`` of ``playbook_on_stats``."""
    stats = [e for e in _events(artifact_dir) if e.get("event") == "playbook_on_stats"]
    assert stats, "no playbook_on_stats event in %s" % artifact_dir
    return stats[-1]["event_data"].get("artifact_data") or {}


def _files_holding(root: Path, secret: str) -> list:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and secret.encode() in path.read_bytes():
            found.append(str(path.relative_to(root)))
    return found


def _report(report_dir: Path) -> dict:
    path = report_dir / "fleet-report.json"
    assert path.is_file(), "no fleet-report.json in %s: %s" % (report_dir, sorted(str(p) for p in report_dir.rglob("*")))
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _reached(report: dict, host: str) -> bool:
    """The cluster's API and its agent answered: POD (Kubernetes API) and HEALTH (pod proxy) are known.

    Other checks may still be ``unknown`` on a loaded machine (an ``exec`` that times out), which
    says nothing about the credential.
    """
    checks = {c["id"]: c["status"] for c in report["clusters"][host]["checks"]}
    return checks.get("POD") not in (None, "unknown") and checks.get("HEALTH") not in (None, "unknown")


def _assert_run_ok(runner, pdd: Path, ident: str, hosts: list, report_dir: Path):
    artifact_dir = pdd / "artifacts" / ident
    stdout = (artifact_dir / "stdout").read_text(encoding="utf-8")
    assert runner.status == "successful", "status %s rc %s\n%s" % (runner.status, runner.rc, stdout[-6000:])
    assert runner.rc == 0
    assert (artifact_dir / "status").read_text(encoding="utf-8").strip() == "successful"
    for host in hosts:
        assert runner.stats["failures"].get(host, 0) == 0, stdout[-6000:]
        assert host not in runner.stats.get("dark", {}), stdout[-6000:]

    report = _report(report_dir)
    assert report["cadence"] == "daily"
    assert sorted(report["clusters"]) == sorted(hosts)
    stats = _set_stats(artifact_dir)
    assert "fleet_report" in stats, "the run published no fleet_report set_stats data (%s); stdout:\n%s" % (stats, stdout[-4000:])
    published = stats["fleet_report"]
    summary = report["summary"]
    for key in ("status", "clusters", "ok", "warning", "critical", "unknown", "critical_clusters", "warning_clusters", "unknown_clusters"):
        assert published.get(key) == summary[key], "set_stats fleet_report.%s = %r, the report says %r" % (key, published.get(key), summary[key])
    assert published["cadence"] == report["cadence"]
    assert Path(published["dir"]).resolve() == report_dir.resolve()
    return artifact_dir, stdout, report


def _assert_secret_kept(secret: str, pdd: Path, artifact_dir: Path, stdout: str, report_dir: Path, env_may_hold: bool):
    assert secret not in stdout
    leaked = [p for p in _files_holding(pdd, secret) if p != "artifacts/%s/command" % artifact_dir.name]
    assert not leaked, "the token is in %s" % leaked
    assert not _files_holding(report_dir, secret)
    with open(artifact_dir / "command", encoding="utf-8") as handle:
        command = json.load(handle)
    assert secret not in json.dumps(command["command"]) and secret not in command["cwd"]
    if not env_may_hold:
        assert secret not in json.dumps(command["env"])


def test_one_cluster_template_with_the_awx_kubernetes_credential(lab, tmp_path):
    name, cluster = sorted(lab.state["clusters"].items())[0]
    with open(os.path.join(lab.workdir, "inventory.yml"), encoding="utf-8") as handle:
        lab_inventory = yaml.safe_load(handle)
    host_vars = dict(_find_host(lab_inventory, name))
    for key in ("kubeconfig", "kube_context"):
        host_vars.pop(key, None)
    host_vars["ansible_connection"] = "local"
    host_vars["ansible_python_interpreter"] = "{{ ansible_playbook_python }}"
    inventory = {"fleet": {"hosts": {name: host_vars}}}
    report_dir = tmp_path / "reports"
    pdd = _private_data_dir(tmp_path, inventory, {"cadence": "daily", "fleet_fail_on": "never", "fleet_report_dir": str(report_dir)})
    credential = {
        "K8S_AUTH_HOST": cluster["server"],
        "K8S_AUTH_API_KEY": cluster["token"],
        "K8S_AUTH_SSL_CA_CERT": lab.state["api"]["ca_cert"],
        "K8S_AUTH_VERIFY_SSL": "true",
    }
    runner = _run(pdd, "one-cluster", _runner_env(credential))
    artifact_dir, stdout, report = _assert_run_ok(runner, pdd, "one-cluster", [name], report_dir)
    assert _reached(report, name), "the cluster was not reached with the K8S_AUTH_* credential: %s" % json.dumps(report["clusters"][name], indent=1)[:4000]
    assert not list(pdd.rglob("kubeconfig*"))
    _assert_secret_kept(cluster["token"], pdd, artifact_dir, stdout, report_dir, env_may_hold=True)


def test_fleet_template_with_kubeconfig_contexts(lab, tmp_path):
    with open(os.path.join(lab.workdir, "inventory.yml"), encoding="utf-8") as handle:
        lab_inventory = yaml.safe_load(handle)
    report_dir = tmp_path / "reports"
    pdd = _private_data_dir(tmp_path, lab_inventory, {"cadence": "daily", "fleet_fail_on": "never", "fleet_report_dir": str(report_dir)})
    hosts = sorted(lab.state["clusters"])
    runner = _run(pdd, "fleet", _runner_env())
    artifact_dir, stdout, report = _assert_run_ok(runner, pdd, "fleet", hosts, report_dir)
    missed = [h for h in hosts if not _reached(report, h)]
    assert not missed, "clusters not reached through their kubeconfig context: %s" % json.dumps({h: report["clusters"][h] for h in missed})[:4000]
    for cluster in lab.state["clusters"].values():
        _assert_secret_kept(cluster["token"], pdd, artifact_dir, stdout, report_dir, env_may_hold=False)


def _find_host(inventory: dict, name: str) -> dict:
    """The variables of one host of a YAML inventory, group vars of its groups under it."""
    def walk(group: dict, inherited: dict):
        merged = dict(inherited)
        merged.update(group.get("vars") or {})
        hosts = group.get("hosts") or {}
        if name in hosts:
            found = dict(merged)
            found.update(hosts[name] or {})
            return found
        for child in (group.get("children") or {}).values():
            result = walk(child or {}, merged)
            if result is not None:
                return result
        return None

    for group in inventory.values():
        result = walk(group or {}, {})
        if result is not None:
            return result
    raise AssertionError("host %s is not in the lab inventory %s" % (name, inventory))
