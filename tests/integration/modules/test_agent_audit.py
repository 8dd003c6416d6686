"""agent_audit through the real ``ansible-playbook`` against the lab: one call gives what the four
read-only modules give (the same checks, the same verdicts), its remote-write snapshot is a
baseline remote_write_stats turns into rates, an unreachable cluster or a revoked token is
``unknown`` in every part (no failed task), a direct agent without a log file has LOGS unknown
and the rest read, and wrong arguments fail naming the option."""

from __future__ import annotations

import pytest

from .test_agent_status_helpers import assert_checks_shape, clusters, module_defaults, playbook, state

pytestmark = [pytest.mark.lab]

PARTS = ["remote_write_stats", "agent_status", "wal_inspect", "agent_logs"]

DEFAULTS = module_defaults()

PLAY = """
- hosts: fleet
  gather_facts: false
""" + DEFAULTS + """
  tasks:
    - name: audit
      fleetops.prometheus_agent.agent_audit:
        logs_since: 1h
      check_mode: true
      register: audit
    - name: status alone
      fleetops.prometheus_agent.agent_status:
    - name: wal alone
      fleetops.prometheus_agent.wal_inspect:
        verify: tail
    - name: logs alone
      fleetops.prometheus_agent.agent_logs:
        since: 1h
    - name: wait
      # two sends of a queue can be 10 s apart (a 5 s batch deadline, a scrape late under load): a
      # window that holds at least one whatever the load
      ansible.builtin.pause:
        seconds: 10
      run_once: true
    - name: rates
      fleetops.prometheus_agent.remote_write_stats:
        baseline: "{{ audit.parts.remote_write_stats.snapshot }}"
    - name: direct
      fleetops.prometheus_agent.agent_audit:
        url: "{{ agent_urls[inventory_hostname] }}"
        gather: [agent_status, remote_write_stats, agent_logs]
      when: inventory_hostname == direct_host
    - name: wrong context
      fleetops.prometheus_agent.agent_audit:
        context: no-such-context
      when: inventory_hostname == direct_host
    - name: bad gather
      fleetops.prometheus_agent.agent_audit:
        gather: [agent_status, everything]
      ignore_errors: true
      when: inventory_hostname == direct_host
    - name: bad examples
      fleetops.prometheus_agent.agent_audit:
        log_examples: -2
      ignore_errors: true
      when: inventory_hostname == direct_host
    - name: bad since
      fleetops.prometheus_agent.agent_audit:
        logs_since: yesterday-ish
      ignore_errors: true
      when: inventory_hostname == direct_host
"""


def _statuses(result):
    return {c["id"]: c["status"] for c in result["checks"]}


def test_one_call_gives_what_the_four_modules_give(lab):
    names = clusters(lab)
    urls = {c: state(lab)["clusters"][c]["agent_url"] for c in names}
    direct = names[0]
    run = playbook(lab, PLAY, extra_vars={"agent_urls": urls, "direct_host": direct})
    assert run.rc == 0, run.output[-3000:]
    for host in names:
        audit = run.result(host, "audit")
        assert_checks_shape(audit)
        assert audit["changed"] is False
        assert list(audit["parts"]) == PARTS and set(audit["seconds"]) == set(PARTS)
        assert audit["target"].startswith("cluster %s" % host), audit["target"]
        # every part carries the checks its own module returns, with the same verdicts on a healthy agent
        for part, alone in (("agent_status", "status alone"), ("wal_inspect", "wal alone"), ("agent_logs", "logs alone")):
            mine, theirs = audit["parts"][part], run.result(host, alone)
            assert [c["id"] for c in mine["checks"]] == [c["id"] for c in theirs["checks"]], part
            assert _statuses(mine) == _statuses(theirs), (part, mine["checks"], theirs["checks"])
        assert audit["parts"]["agent_status"]["agent"]["mode"] == "agent"
        assert audit["parts"]["wal_inspect"]["wal"]["verified_bytes"] > 0
        assert audit["parts"]["wal_inspect"]["wal"]["corruptions"] == []
        # the counters are read first: without a baseline the rates are unknown, with it they are measured
        rw_first = audit["parts"]["remote_write_stats"]
        assert rw_first["snapshot"]["time"] > 0 and rw_first["queues"], rw_first
        assert _statuses(rw_first)["RW-SUCCESS"] == "unknown"
        rates = run.result(host, "rates")
        assert rates["status"] == "ok", rates["checks"]
        assert rates["window_seconds"] >= 5 and rates["queues"][0]["samples_per_second"] > 0, rates["queues"]
        assert audit["checks"] == [c for part in PARTS for c in audit["parts"][part]["checks"]]

    via_url = run.result(direct, "direct")
    assert list(via_url["parts"]) == ["remote_write_stats", "agent_status", "agent_logs"]
    assert via_url["parts"]["agent_status"]["agent"]["healthy"] is True
    assert via_url["parts"]["remote_write_stats"]["queues"]
    logs = via_url["parts"]["agent_logs"]
    assert logs["status"] == "unknown" and "log_path" in logs["reason"], logs
    assert "POD" not in _statuses(via_url)      # direct: no pod

    wrong = run.result(direct, "wrong context")
    assert not wrong.get("failed") and wrong["status"] == "unknown"
    assert {c["status"] for c in wrong["checks"]} == {"unknown"}
    assert all("no-such-context" in c["message"] for c in wrong["checks"]), wrong["checks"]
    for part in PARTS:
        assert wrong["parts"][part]["status"] == "unknown", part

    for task, option in (("bad gather", "gather"), ("bad examples", "log_examples"), ("bad since", "logs_since")):
        found = run.for_host(direct, task)[-1]
        res = found["result"]
        # ansible-core 2.19 keeps "failed" out of an ignored result: the callback's status says it
        assert res.get("failed") or found["status"] in ("failed", "ignored"), (task, found)
        assert "checks" not in res, (task, res)
        assert option in res["msg"] and "Traceback" not in res["msg"], (task, res["msg"])


def test_revoked_token_is_unknown_everywhere_and_the_others_go_on(lab):
    names = clusters(lab)
    broken = names[-1]
    lab.fault("api-auth", broken)
    try:
        run = playbook(lab, """
- hosts: fleet
  gather_facts: false
""" + DEFAULTS + """
  tasks:
    - name: audit
      fleetops.prometheus_agent.agent_audit:
""")
    finally:
        lab.heal("api-auth", broken)
    assert run.rc == 0, run.output[-3000:]
    res = run.result(broken, "audit")
    assert res["status"] == "unknown" and not res.get("failed")
    for part in PARTS:
        assert res["parts"][part]["status"] == "unknown", (part, res["parts"][part])
    assert any("401" in c["message"] or "token" in c["message"] for c in res["checks"]), res["checks"]
    for host in names:
        if host != broken:
            other = run.result(host, "audit")
            assert other["parts"]["agent_status"]["status"] == "ok", other["parts"]["agent_status"]["checks"]
