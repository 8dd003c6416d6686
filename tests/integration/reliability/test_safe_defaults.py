"""Safe defaults (issue 8): TLS verification on by default, remediation only with
``remediation_approved``, destructive actions only with their own flag (``allow_data_loss``),
check mode everywhere (nothing changes: agent pid, pod uid, the PrometheusAgent's
resourceVersion and the WAL stay the same)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

from ansible_runner_helpers import REPO_ROOT, run_playbook
from labkit.faults import list_segments
from lab_fixtures import kube_core, lab_status
from reliability_helpers import ANSIBLE_ENV, derived_kubeconfig, real_clusters, write_inventory

pytestmark = [pytest.mark.lab, pytest.mark.slow]

PY = {"ansible_python_interpreter": "{{ ansible_playbook_python }}"}


def _play(tasks, check=False):
    return yaml.safe_dump([{"name": "safe defaults", "hosts": "localhost", "gather_facts": False, "tasks": [
        dict({"name": name, "fleetops.prometheus_agent." + mod: args, "ignore_errors": True},
             **({"check_mode": True} if check else {})) for name, mod, args in tasks]}], sort_keys=False)


def cr_resource_version(lab, cluster):
    """resourceVersion of the cluster's PrometheusAgent resource (through the API, as kubectl)."""
    from kubernetes import client  # pylint: disable=import-outside-toplevel
    core = kube_core(lab, cluster)
    try:
        info = lab.state["clusters"][cluster]
        obj = client.CustomObjectsApi(core.api_client).get_namespaced_custom_object(
            "monitoring.coreos.com", "v1alpha1", info["namespace"], "prometheusagents", info["agent_cr"])
        return obj["metadata"]["resourceVersion"], obj.get("spec", {})
    finally:
        core.api_client.close()


def fingerprint(lab, cluster):
    """What any action would change: process, pod, resource, WAL segments."""
    st = lab_status(lab, cluster)
    rv, spec = cr_resource_version(lab, cluster)
    segs = [p.name for p in list_segments(Path(lab.state["clusters"][cluster]["wal_dir"]))]
    return {"pid": st["pid"], "pod_uid": st["pod_uid"], "restart_count": st["restart_count"], "resourceVersion": rv,
            "spec": json.dumps(spec, sort_keys=True), "first_segment": segs[0] if segs else None}


# ----------------------------------------------------------------------------- TLS

def test_tls_verification_is_on_by_default(lab, tmp_path):
    """A kubeconfig without CA data: the default fails TLS (unknown, saying TLS), it is not silently
    insecure; only an explicit validate_certs=false reaches the cluster."""
    first = real_clusters(lab)[0]
    info = lab.state["clusters"][first]
    kubeconfig = derived_kubeconfig(lab, tmp_path / "kubeconfig-no-ca", {"no-ca": {"from": first, "no_ca": True}})
    base = {"kubeconfig": kubeconfig, "context": "no-ca", "namespace": info["namespace"], "pod": info["pod"], "timeout": 60}
    run = run_playbook(_play([("default", "agent_status", base),
                              ("explicitly insecure", "agent_status", dict(base, validate_certs=False))]),
                       env=ANSIBLE_ENV, extra_vars=PY, timeout=600, cwd=str(tmp_path))
    default = run.result("localhost", "default")
    assert not default.get("failed"), default
    assert default["status"] == "unknown", default
    pod = {c["id"]: c for c in default["checks"]}["POD"]
    assert re.search(r"TLS|SSL|certificate", pod["message"]), pod
    insecure = run.result("localhost", "explicitly insecure")
    assert {c["id"]: c for c in insecure["checks"]}["POD"]["status"] == "ok", insecure
    assert "Traceback" not in run.output


def test_validate_certs_defaults_true_in_the_argument_spec():
    """The shared argument spec and every role say validate_certs true / verify by default."""
    src = (REPO_ROOT / "plugins" / "module_utils" / "args_common.py").read_text()
    assert re.search(r"validate_certs=dict\(type='bool', default=True", src)
    for spec in sorted((REPO_ROOT / "roles").glob("*/meta/argument_specs.yml")):
        opts = {k: v for entry in yaml.safe_load(spec.read_text())["argument_specs"].values() for k, v in (entry.get("options") or {}).items()}
        for name, opt in opts.items():
            if "validate_certs" in name and "default" in opt:
                assert opt["default"] is True, (spec, name, opt)


# ----------------------------------------------------------------------------- remediation

def test_remediate_without_approval_changes_nothing(lab, tmp_path):
    """A finding remediation would act on (memory at ~93% of the limit: resources_increase, which
    patches the resource and restarts the pod); without remediation_approved the remediate
    playbook plans and reports, and the agent pid, pod uid and resourceVersion stay the same."""
    cluster = real_clusters(lab)[-1]
    lab.fault("high-memory", cluster)
    try:
        before = fingerprint(lab, cluster)
        inventory = write_inventory(lab, tmp_path / "inventory.yml", only=[cluster])
        report = tmp_path / "report"
        run = run_playbook("fleetops.prometheus_agent.remediate", inventory, env=ANSIBLE_ENV, timeout=1200, cwd=str(tmp_path),
                           extra_vars={"fleet_report_dir": str(report), "fleet_history_file": "", "remediate_cooldown_seconds": 0})
        after = fingerprint(lab, cluster)
        assert after == before, "remediate without approval changed the cluster:\nbefore %s\nafter  %s\n%s" % (
            before, after, run.output[-3000:])
        assert run.rc == 0, run.output[-4000:]
        doc = json.loads((report / "fleet-report.json").read_text())
        planned = doc["clusters"][cluster].get("remediation") or []
        assert planned, "no remediation planned for %s: %s" % (cluster, doc["clusters"][cluster])
        text = json.dumps(planned)
        assert not re.search(r'"(outcome|status)": "(done|restarted|applied|changed)"', text), text
        assert "NOT approved" in run.output or "planning only" in run.output or "approved\": false" in text, run.output[-3000:]
    finally:
        lab.heal("high-memory", cluster)


def test_destructive_actions_default_off():
    """allow_data_loss (delete WAL) and force (restart against the guardrails) default to false in
    agent_restart, and the remediate role keeps them off unless asked."""
    src = (REPO_ROOT / "plugins" / "modules" / "agent_restart.py").read_text()
    doc = None
    for node in ast.parse(src).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DOCUMENTATION":
            doc = yaml.safe_load(node.value.value)
    assert doc["options"]["allow_data_loss"].get("default") is False
    assert doc["options"]["force"].get("default") is False
    assert re.search(r"allow_data_loss=dict\(type='bool', default=False\)", src)
    defaults = yaml.safe_load((REPO_ROOT / "roles" / "remediate" / "defaults" / "main.yml").read_text())
    assert defaults["remediate_allow_data_loss"] is False
    assert defaults["remediate_force"] is False
    assert "remediation_approved | default(false)" in defaults["remediate_approved"]


# ----------------------------------------------------------------------------- check mode


def test_check_mode_everywhere_changes_nothing(lab, tmp_path):
    """Every module in check mode against a healthy lab cluster: the ones that change things say
    what they would do and change nothing; none is skipped for lacking check mode support; a WAL
    recovery without allow_data_loss deletes nothing even when not in check mode is asked."""
    cluster = real_clusters(lab)[0]
    info = lab.state["clusters"][cluster]
    kube = {"kubeconfig": str(Path(lab.workdir) / "kubeconfig"), "context": cluster, "namespace": info["namespace"],
            "pod": info["pod"], "timeout": 60}
    tasks = [
        ("agent_status", "agent_status", kube),
        ("remote_write_stats", "remote_write_stats", kube),
        ("wal_inspect", "wal_inspect", dict(kube, verify="tail")),
        ("agent_logs", "agent_logs", dict(kube, since="1h")),
        ("rules_status", "rules_status", dict(kube, expected=[])),
        ("agent_backup", "agent_backup", dict(kube, dest=str(tmp_path / "backup"))),
        ("agent_restart graceful", "agent_restart", dict(kube, mode="graceful", force=True, cooldown_seconds=0, lease=False)),
        ("agent_restart forced", "agent_restart", dict(kube, mode="forced", force=True, cooldown_seconds=0, lease=False)),
        ("agent_restart wal_corruption allow_data_loss", "agent_restart",
         dict(kube, reason="wal_corruption", allow_data_loss=True, force=True, cooldown_seconds=0, lease=False)),
        ("agent_tune queue", "agent_tune", dict(kube, queue={"capacity": 12345, "maxShards": 7})),
        ("agent_tune drop", "agent_tune", dict(kube, drop_metrics=["go_gc_duration_seconds"])),
        ("agent_tune resources", "agent_tune", dict(kube, resources_step=["memory"])),
    ]
    before = fingerprint(lab, cluster)
    run = run_playbook(_play(tasks, check=True), env=ANSIBLE_ENV, extra_vars=PY, timeout=900, cwd=str(tmp_path))
    after = fingerprint(lab, cluster)
    assert after == before, "check mode changed the cluster:\nbefore %s\nafter  %s\n%s" % (before, after, run.output[-3000:])
    problems = []
    for name, mod, _args in tasks:
        found = run.for_host("localhost", name)
        if not found:
            problems.append("%s: did not run" % name)
            continue
        res = found[-1]["result"]
        if found[-1]["status"] == "skipped" or "check mode" in str(res.get("msg", "")).lower() and res.get("skipped"):
            problems.append("%s: skipped in check mode: %s" % (name, res.get("msg")))
        if res.get("failed"):
            problems.append("%s: failed: %s" % (name, str(res.get("msg"))[:300]))
        says = res.get("changed") or res.get("diff") or res.get("plan") or res.get("msg")
        if mod in ("agent_restart", "agent_tune") and not says:
            problems.append("%s: says nothing about what it would do" % name)
    assert not (tmp_path / "backup").exists() or not any((tmp_path / "backup").iterdir()), "agent_backup wrote in check mode"
    assert not problems, "\n".join(problems) + "\n" + run.output[-3000:]
