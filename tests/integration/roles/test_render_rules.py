"""weekly_check's render_rules entry point: the rules are written with `validate: promtool check
rules %s` (Debian's promtool 2.42), so a refusal or a missing promtool writes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from ansible_runner_helpers import run_playbook

PLAIN = {"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops"}
SHIPPED = Path(__file__).resolve().parents[3] / "roles" / "weekly_check" / "files" / "prometheus-agent-rules.yml"
PLAY = ("- hosts: localhost\n  gather_facts: false\n  tasks:\n    - ansible.builtin.include_role:\n"
        "        name: fleetops.prometheus_agent.weekly_check\n        tasks_from: render_rules\n")

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")


def test_rule_file_and_manifest_validated(tmp_path):
    manifest, rule_file = tmp_path / "rules.yaml", tmp_path / "agent.rules.yml"
    run = run_playbook(PLAY, extra_vars={"fleet_rules_manifest": str(manifest), "fleet_rules_file": str(rule_file)}, env=PLAIN)
    assert run.rc == 0, run.output[-3000:]
    assert yaml.safe_load(rule_file.read_text()) == yaml.safe_load(SHIPPED.read_text())
    doc = yaml.safe_load(manifest.read_text())
    assert doc["kind"] == "PrometheusRule" and doc["spec"] == yaml.safe_load(SHIPPED.read_text())


def test_without_rule_file_no_scratch_is_left(tmp_path):
    manifest, scratch = tmp_path / "rules.yaml", tmp_path / "tmp"
    scratch.mkdir()
    run = run_playbook(PLAY, extra_vars={"fleet_rules_manifest": str(manifest)}, env=dict(PLAIN, TMPDIR=str(scratch)))
    assert run.rc == 0, run.output[-3000:]
    assert manifest.exists()
    assert "Make a scratch file" in run.output and "Remove the scratch rule file" in run.output
    assert not list(scratch.glob("*.rules.yml"))


@pytest.mark.parametrize("promtool", ["/bin/false", "/nonexistent/promtool"])
def test_refused_or_missing_promtool_writes_nothing(tmp_path, promtool):
    manifest, rule_file = tmp_path / "rules.yaml", tmp_path / "agent.rules.yml"
    run = run_playbook(PLAY, extra_vars={"fleet_rules_manifest": str(manifest), "fleet_rules_file": str(rule_file),
                                         "fleet_rules_promtool": promtool}, env=PLAIN)
    assert run.rc != 0
    assert "failed to validate" in run.output or "validat" in run.output.lower(), run.output[-3000:]
    assert not manifest.exists() and not rule_file.exists()
