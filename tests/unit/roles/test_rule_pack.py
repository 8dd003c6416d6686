"""The shipped rule pack (roles/weekly_check/files/prometheus-agent-rules.yml): promtool (Debian's
2.42 here) parses it and passes tests/rules/prometheus-agent-rules.test.yml, every alert has a
firing case there, and every alert's runbook_url is a section of docs/troubleshooting.md."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
RULES = REPO_ROOT / "roles" / "weekly_check" / "files" / "prometheus-agent-rules.yml"
RULE_TESTS = REPO_ROOT / "tests" / "rules" / "prometheus-agent-rules.test.yml"
TROUBLESHOOTING = REPO_ROOT / "docs" / "troubleshooting.md"
RUNBOOK = "https://github.com/fleetops/prometheus_agent/blob/main/docs/troubleshooting.md#"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")


def _alerts():
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r]


@needs_promtool
def test_promtool_check_rules():
    run = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS: %d rules found" % len(_alerts()) in run.stdout


@needs_promtool
def test_promtool_test_rules():
    run = subprocess.run([PROMTOOL, "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


@needs_promtool
def test_promtool_test_rules_fails_on_a_broken_rule(tmp_path):
    """The rule tests can fail: the per-queue Behind rule reading a misspelt metric is caught."""
    broken = RULES.read_text().replace("(prometheus_remote_storage_queue_highest_timestamp_seconds)",
                                       "(prometheus_remote_storage_queue_highest_timestamp_second)")
    assert broken != RULES.read_text()
    (tmp_path / "rules.yml").write_text(broken)
    tests = yaml.safe_load(RULE_TESTS.read_text())
    tests["rule_files"] = ["rules.yml"]
    (tmp_path / "test.yml").write_text(yaml.safe_dump(tests))
    run = subprocess.run([PROMTOOL, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode != 0
    assert "PrometheusAgentRemoteWriteBehind" in run.stdout + run.stderr


def test_every_alert_fires_in_a_rule_test():
    fired = {case["alertname"] for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
             for case in test.get("alert_rule_test") or [] if case.get("exp_alerts")}
    assert {r["alert"] for r in _alerts()} == fired


def test_every_alert_has_its_troubleshooting_section():
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', TROUBLESHOOTING.read_text()))
    for rule in _alerts():
        url = rule["annotations"]["runbook_url"]
        assert url == RUNBOOK + rule["alert"].lower(), rule["alert"]
        assert rule["alert"].lower() in anchors, rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]) and rule["labels"]["severity"] in ("warning", "critical")
