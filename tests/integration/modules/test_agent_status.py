"""agent_status through the real ``ansible-playbook`` against the lab: both modes, rates from a
baseline, bad arguments, agent-kill (RESTARTS), and the API faults api-error / api-slow /
api-auth for all three inspection modules (status unknown with the reason, the play goes on)."""

from __future__ import annotations

import pytest

from lab_fixtures import reset_pod  # pylint: disable=import-error
from .test_agent_status_helpers import assert_checks_shape, by_id, clusters, module_defaults, playbook, state

pytestmark = [pytest.mark.lab]

KUBE_IDS = ["POD", "RESTARTS", "HEALTH", "MEMORY", "INGEST", "CONFIG", "TARGETS"]

DEFAULTS = module_defaults()

HEALTHY = """
- hosts: fleet
  gather_facts: false
""" + DEFAULTS + """
  tasks:
    - name: first
      fleetops.prometheus_agent.agent_status:
      check_mode: true
      register: first
    - name: wait
      ansible.builtin.pause:
        seconds: 6
      run_once: true
    - name: second
      fleetops.prometheus_agent.agent_status:
        baseline: "{{ first.snapshot }}"
    - name: direct
      fleetops.prometheus_agent.agent_status:
        url: "{{ agent_urls[inventory_hostname] }}"
      when: inventory_hostname == direct_host
    - name: bad interval
      fleetops.prometheus_agent.agent_status:
        interval: -1
      ignore_errors: true
      when: inventory_hostname == direct_host
    - name: bad url
      fleetops.prometheus_agent.agent_status:
        url: ftp://nowhere
      ignore_errors: true
      when: inventory_hostname == direct_host
"""


def test_healthy_fleet_both_modes(lab):
    names = clusters(lab)
    urls = {c: state(lab)["clusters"][c]["agent_url"] for c in names}
    run = playbook(lab, HEALTHY, extra_vars={"agent_urls": urls, "direct_host": names[0]})
    assert run.rc == 0, run.output[-3000:]
    for host in names:
        res = run.result(host, "first")
        assert_checks_shape(res)
        assert res["changed"] is False
        assert [c["id"] for c in res["checks"]] == KUBE_IDS
        assert res["status"] == "ok", [c for c in res["checks"] if c["status"] != "ok"]
        pod = res["pods"][0]
        assert pod["name"] == "prom-agent-%s-0" % host and pod["phase"] == "Running" and pod["ready"] is True
        assert pod["limits"].get("memory") and pod["requests"]
        agent = res["agent"]
        assert agent["healthy"] and agent["ready"] and agent["mode"] == "agent" and agent["version"].startswith("2.42")
        assert agent["memory_bytes"] > 0 and agent["memory_limit_bytes"] > agent["memory_bytes"]
        assert agent["uptime_seconds"] >= 0 and agent["config_reload_ok"] is True
        assert res["targets"]["up"] >= 2 and res["targets"]["down"] == 0
        assert set(res["targets"]["jobs"]) >= {"node", "prometheus-agent"}
        assert res["ingest"]["active_series"] > 0 and res["ingest"]["samples_appended_total"] > 0

        second = run.result(host, "second")
        assert second["ingest"]["samples_appended_per_second"] > 0, second["ingest"]
        assert second["agent"]["cpu_cores"] is not None
        assert by_id(second)["INGEST"]["status"] == "ok" and by_id(second)["RESTARTS"]["value"] == 0

    direct = run.result(names[0], "direct")
    assert_checks_shape(direct)
    assert [c["id"] for c in direct["checks"]] == ["HEALTH", "MEMORY", "INGEST", "CONFIG", "TARGETS"]
    assert direct["status"] == "ok" and direct["pods"] == [] and direct["agent"]["mode"] == "agent"

    assert "interval" in run.result(names[0], "bad interval")["msg"]
    assert "url" in run.result(names[0], "bad url")["msg"]


KILLED = """
- hosts: "{{ killed }}"
  gather_facts: false
""" + DEFAULTS + """
  tasks:
    - name: status
      fleetops.prometheus_agent.agent_status:
"""


def test_agent_kill_counts_a_restart(lab):
    host = clusters(lab)[-1]
    lab.fault("agent-kill", host)
    try:
        lab.wait_ready(host, 90)
        run = playbook(lab, KILLED, extra_vars={"killed": host})
    finally:
        reset_pod(lab, host)  # restart count 0 again for the other tests of this package's lab
    assert run.rc == 0, run.output[-3000:]
    res = run.result(host, "status")
    checks = by_id(res)
    assert checks["RESTARTS"]["status"] in ("warning", "critical"), checks["RESTARTS"]
    assert checks["RESTARTS"]["value"] >= 1
    pod = res["pods"][0]
    assert pod["restarts"] >= 1 and pod["last_termination_reason"] in ("Error", "OOMKilled")
    assert pod["last_termination_exit_code"] == 137
    assert res["agent"]["uptime_seconds"] < 600


API_FAULTS = """
- hosts: fleet
  gather_facts: false
""" + DEFAULTS + """
      timeout: 4
  tasks:
    - name: status
      fleetops.prometheus_agent.agent_status:
      register: status
    - name: rw
      fleetops.prometheus_agent.remote_write_stats:
    - name: logs
      fleetops.prometheus_agent.agent_logs:
        since: 10m
    - name: after
      ansible.builtin.debug:
        msg: "{{ status.status }}"
"""


def test_api_faults_are_unknown_and_the_play_goes_on(lab):
    names = clusters(lab)
    faults = dict(zip(names, ["api-error", "api-slow", "api-auth"]))
    for host, fault in faults.items():
        lab.fault(fault, host)
    try:
        run = playbook(lab, API_FAULTS)
    finally:
        for host, fault in faults.items():
            lab.heal(fault, host)
    assert run.rc == 0, run.output[-3000:]
    for host, fault in faults.items():
        for task in ("status", "rw", "logs"):
            res = run.result(host, task)
            assert not res.get("failed"), res
            assert res["status"] == "unknown" and res["changed"] is False, (fault, task, res)
            assert res["reason"] and all(c["status"] == "unknown" for c in res["checks"])
            if fault == "api-auth":
                assert "401" in res["reason"], res["reason"]
            elif fault == "api-slow":
                assert "time" in res["reason"], res["reason"]
            else:
                assert "500" in res["reason"] or "etcd" in res["reason"], res["reason"]
        assert run.result(host, "after")["msg"] == "unknown"
