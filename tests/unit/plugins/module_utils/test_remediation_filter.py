"""The remediation_plan filter of the remediate role."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.fleetops.prometheus_agent.plugins.filter.remediation_plan import FilterModule, remediation_plan


def test_filter_is_registered():
    assert FilterModule().filters()["remediation_plan"] is remediation_plan


def test_filter_plans_and_limits():
    checks = [{"id": "HEALTH", "status": "critical", "value": None, "threshold": None, "message": "down"}]
    plan = remediation_plan(checks, allowed=["queue_tuning"])
    assert plan[0]["action"] == "graceful_restart" and plan[0]["allowed"] is False
    assert remediation_plan(None) == []


def test_filter_rejects_unknown_actions_and_bad_input():
    with pytest.raises(AnsibleFilterError):
        remediation_plan([], allowed=["reboot_the_world"])
    with pytest.raises(AnsibleFilterError):
        remediation_plan({"id": "HEALTH"})
