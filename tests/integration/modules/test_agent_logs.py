"""agent_logs through the real ``ansible-playbook`` against the lab: pods/log and a local log file,
since and state_file (check mode does not write it), bad arguments, and the bad-config fault
(a failed reload: LOGS critical, and agent_status CONFIG critical)."""

from __future__ import annotations

import json
import os
import tempfile

import pytest

from lab_fixtures import reset_pod  # pylint: disable=import-error
from .test_agent_status_helpers import assert_checks_shape, by_id, clusters, module_defaults, playbook, state

pytestmark = [pytest.mark.lab]

DEFAULTS = module_defaults('pod: "{{ agent_pod }}"')

HEALTHY = """
- hosts: "{{ target_host }}"
  gather_facts: false
""" + DEFAULTS + """
  tasks:
    - name: since
      fleetops.prometheus_agent.agent_logs:
        since: 1h
    - name: file
      fleetops.prometheus_agent.agent_logs:
        url: "{{ agent_url }}"
        log_path: "{{ log_path }}"
        since: "2020-01-01T00:00:00Z"
    - name: state check mode
      fleetops.prometheus_agent.agent_logs:
        state_file: "{{ state_file }}"
      check_mode: true
    - name: state first
      fleetops.prometheus_agent.agent_logs:
        state_file: "{{ state_file }}"
        since: 1h
    - name: state second
      fleetops.prometheus_agent.agent_logs:
        state_file: "{{ state_file }}"
        since: 1h
    - name: bad since
      fleetops.prometheus_agent.agent_logs:
        since: last tuesday
      ignore_errors: true
    - name: url without log_path
      fleetops.prometheus_agent.agent_logs:
        url: "{{ agent_url }}"
      ignore_errors: true
"""


def test_logs_both_sources_state_file_and_bad_arguments(lab):
    host = clusters(lab)[0]
    info = state(lab)["clusters"][host]
    log_path = os.path.join(str(lab.workdir), "clusters", host, "logs", "prometheus.log")
    state_file = os.path.join(tempfile.mkdtemp(prefix="fleetops-logs-"), "state.json")
    run = playbook(lab, HEALTHY, extra_vars={"target_host": host, "agent_url": info["agent_url"], "log_path": log_path,
                                             "state_file": state_file})
    assert run.rc == 0, run.output[-3000:]
    res = run.result(host, "since")
    assert_checks_shape(res)
    assert res["source"] == "kubernetes" and res["since_from"] == "since" and res["lines_scanned"] > 0
    assert set(res["counts"]) >= {"wal_corruption", "wal_repair", "remote_write_failure", "config_reload_failure",
                                  "out_of_order", "duplicate_samples", "truncation_failure", "checkpoint_failure"}
    assert [c["id"] for c in res["checks"]] == ["LOGS"] and res["status"] in ("ok", "warning", "critical")

    local = run.result(host, "file")
    assert local["source"] == "file" and local["lines_scanned"] >= res["lines_scanned"] > 0
    assert local["last_timestamp"]

    assert run.result(host, "state check mode")["state_file_updated"] is False
    first = run.result(host, "state first")
    assert first["state_file_updated"] is True and first["since_from"] == "since"
    second = run.result(host, "state second")
    assert second["since_from"] == "state_file"
    assert second["since"][:19] == first["last_timestamp"][:19]
    assert second["lines_scanned"] < first["lines_scanned"]
    with open(state_file, encoding="utf-8") as handle:
        doc = json.load(handle)
    assert list(doc["targets"]) == [first["target"]]

    assert "since" in run.result(host, "bad since")["msg"]
    # an agent outside Kubernetes without a log file: LOGS unknown with the reason, not a failed task
    no_file = run.result(host, "url without log_path")
    assert no_file["status"] == "unknown" and "log_path" in no_file["reason"], no_file
    assert [c["status"] for c in no_file["checks"]] == ["unknown"], no_file["checks"]


BAD_CONFIG = """
- hosts: "{{ target_host }}"
  gather_facts: false
""" + DEFAULTS + """
  tasks:
    - name: logs
      fleetops.prometheus_agent.agent_logs:
        since: 2m
    - name: status
      fleetops.prometheus_agent.agent_status:
"""


def test_bad_config_reload_is_critical_in_logs_and_config(lab):
    host = clusters(lab)[1]
    lab.fault("bad-config", host)
    try:
        run = playbook(lab, BAD_CONFIG, extra_vars={"target_host": host})
    finally:
        lab.heal("bad-config", host)
        reset_pod(lab, host)  # the failed reload stays in the container's log for a day
    assert run.rc == 0, run.output[-3000:]
    logs = run.result(host, "logs")
    assert logs["counts"]["config_reload_failure"] >= 1, logs
    assert logs["status"] == "critical" and logs["examples"]["config_reload_failure"]
    status = run.result(host, "status")
    assert by_id(status)["CONFIG"]["status"] == "critical" and status["agent"]["config_reload_ok"] is False
