"""remote_write_stats through the real ``ansible-playbook`` against the lab.

Few processes on purpose (each ``ansible-playbook`` start costs seconds on a loaded machine):
one healthy play (Kubernetes mode in check mode, rates from a registered snapshot, the central
query API, direct mode with ``interval``, bad arguments) and one play during a receiver outage
(critical within ~20 s). Unreachable clusters: test_agent_status.py::test_api_faults.
"""

from __future__ import annotations

import time

import pytest

from lab_fixtures import wait_remote_write_caught_up  # pylint: disable=import-error
from .test_agent_status_helpers import assert_checks_shape, by_id, clusters, module_defaults, playbook, state

pytestmark = [pytest.mark.lab]

RW_IDS = ["RW-SUCCESS", "RW-RETRY", "RW-LAG", "RW-PENDING", "RW-SHARDS", "RW-LATENCY", "RW-DROPPED"]

DEFAULTS = module_defaults('pod: "{{ agent_pod }}"')

HEALTHY = """
- hosts: fleet
  gather_facts: false
""" + DEFAULTS + """
  tasks:
    - name: first
      fleetops.prometheus_agent.remote_write_stats:
      check_mode: true
      register: first
    - name: wait
      # two sends of a queue can be 10 s apart (a 5 s batch deadline, a scrape late under load)
      ansible.builtin.pause:
        seconds: 10
      run_once: true
    - name: second
      fleetops.prometheus_agent.remote_write_stats:
        baseline: "{{ first.snapshot }}"
    - name: query
      fleetops.prometheus_agent.remote_write_stats:
        source: query
        query_url: "{{ fleet_query_url }}"
        cluster: "{{ inventory_hostname }}"
        window: 2m
    - name: direct
      fleetops.prometheus_agent.remote_write_stats:
        url: "{{ agent_urls[inventory_hostname] }}"
        interval: 10
      when: inventory_hostname == direct_host
    - name: bad window
      fleetops.prometheus_agent.remote_write_stats:
        source: query
        query_url: "{{ fleet_query_url }}"
        cluster: "{{ inventory_hostname }}"
        window: five minutes
      ignore_errors: true
      when: inventory_hostname == direct_host
    - name: bad baseline
      fleetops.prometheus_agent.remote_write_stats:
        baseline: {foo: 1}
      ignore_errors: true
      when: inventory_hostname == direct_host
"""


def test_healthy_fleet_both_modes_rates_query_and_bad_arguments(lab):
    names = clusters(lab)
    st = state(lab)
    urls = {c: st["clusters"][c]["agent_url"] for c in names}
    run = playbook(lab, HEALTHY, extra_vars={"agent_urls": urls, "direct_host": names[1]})
    assert run.rc == 0, run.output[-3000:]
    for host in names:
        first = run.result(host, "first")
        assert_checks_shape(first)
        assert first["changed"] is False and [c["id"] for c in first["checks"]] == RW_IDS
        q = first["queues"][0]
        assert q["remote_name"] == "thanos-receive" and q["url"] == st["receiver"]["remote_write_url"]
        assert q["samples_per_second"] is None and q["since_start"]["delivered"] > 0
        assert by_id(first)["RW-SUCCESS"]["status"] == "unknown" and "baseline" in by_id(first)["RW-SUCCESS"]["message"]
        assert by_id(first)["RW-LAG"]["status"] == "ok"

        second = run.result(host, "second")
        assert_checks_shape(second)
        assert second["status"] == "ok", second["checks"]
        assert 7 < second["window_seconds"] < 200
        q = second["queues"][0]
        assert q["samples_per_second"] > 0 and q["bytes_per_second"] > 0 and q["success_ratio"] == 1.0
        assert q["retried_per_second"] == 0 and q["failed_per_second"] == 0

        query = run.result(host, "query")
        assert query["source"] == "query" and query["window_seconds"] == 120, query
        assert query["queues"][0]["samples_per_second"] > 0
        assert by_id(query)["RW-SUCCESS"]["status"] == "ok"

    direct = run.result(names[1], "direct")
    assert_checks_shape(direct)
    assert direct["status"] == "ok", direct["checks"]
    assert direct["agent"] == "agent %s" % urls[names[1]]
    assert direct["queues"][0]["samples_per_second"] > 0 and direct["window_seconds"] >= 10

    # (the result dump keeps a failed task's msg; its status says failed)
    assert run.result(names[1], "bad window")["msg"].startswith("window:")
    assert run.result(names[1], "bad baseline")["msg"].startswith("baseline:")


OUTAGE = """
- hosts: fleet
  gather_facts: false
""" + DEFAULTS + """
  tasks:
    - name: base
      fleetops.prometheus_agent.remote_write_stats:
      register: base
    - name: wait
      ansible.builtin.pause:
        seconds: 15
      run_once: true
    - name: outage
      fleetops.prometheus_agent.remote_write_stats:
        baseline: "{{ base.snapshot }}"
    - name: direct lag
      fleetops.prometheus_agent.remote_write_stats:
        url: "{{ agent_urls[inventory_hostname] }}"
        thresholds:
          rw_lag_warning: 5
          rw_lag_critical: 10
"""


def test_receiver_outage_is_critical(lab):
    """The receiver stops: retries rise, bytes stay flat, failed stays 0: RW-RETRY critical, never 100% success."""
    names = clusters(lab)
    urls = {c: state(lab)["clusters"][c]["agent_url"] for c in names}
    lab.fault("receiver-down")
    try:
        time.sleep(3)
        run = playbook(lab, OUTAGE, extra_vars={"agent_urls": urls})
        assert run.rc == 0, run.output[-3000:]
        for host in names:
            res = run.result(host, "outage")
            checks = by_id(res)
            q = res["queues"][0]
            assert res["status"] == "critical", res["checks"]
            assert checks["RW-RETRY"]["status"] == "critical", checks["RW-RETRY"]
            assert q["retried_per_second"] > 0 and q["bytes_per_second"] == 0 and q["failed_per_second"] == 0
            assert q["success_ratio"] == 0.0 and checks["RW-SUCCESS"]["status"] == "critical"
            assert "100.000%" not in checks["RW-SUCCESS"]["message"]
            assert q["lag_seconds"] >= 15
            # directly and without a baseline: no rate, but the lag alone is critical
            direct = run.result(host, "direct lag")
            assert by_id(direct)["RW-LAG"]["status"] == "critical", direct["checks"]
            assert by_id(direct)["RW-RETRY"]["status"] == "unknown"
    finally:
        lab.heal("receiver-down")
        wait_remote_write_caught_up(lab)


DROPS = """
- hosts: fleet
  gather_facts: false
""" + DEFAULTS + """
  tasks:
    - name: first
      fleetops.prometheus_agent.remote_write_stats:
      register: first
    - name: wait
      ansible.builtin.pause:
        seconds: 8
      run_once: true
    - name: second
      fleetops.prometheus_agent.remote_write_stats:
        baseline: "{{ first.snapshot }}"
"""


def _kubectl(lab, cluster, *args):
    import subprocess  # pylint: disable=import-outside-toplevel
    proc = subprocess.run(["kubectl", "--kubeconfig", str(lab.workdir / "kubeconfig"), "--context", cluster] + list(args),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_write_relabel_drops_are_counted_not_blamed(lab):
    """A drop rule in the agent's remote write (the PrometheusAgent's writeRelabelConfigs, as the operator renders
    it): the dropped samples are counted in RW-DROPPED and it stays ok (2.42 does not say why a sample was dropped;
    the check says so), RW-SUCCESS stays ok."""
    host = clusters(lab)[0]
    patch = '[{"op":"add","path":"/spec/remoteWrite/0/writeRelabelConfigs","value":[%s]}]'
    _kubectl(lab, host, "patch", "prometheusagent", host, "-n", "monitoring", "--type", "json",
             "-p", patch % '{"sourceLabels":["__name__"],"regex":"go_.*","action":"drop"}')
    try:
        time.sleep(6)   # the operator re-renders the config, the agent reloads and re-creates the queue
        run = playbook(lab, DROPS, limit=host)
        assert run.rc == 0, run.output[-3000:]
        res = run.result(host, "second")
        q = res["queues"][0]
        checks = by_id(res)
        assert q["dropped_per_second"] > 0 and q["dropped_error_per_second"] is None, q
        dropped = checks["RW-DROPPED"]
        assert dropped["status"] == "ok" and "samples dropped before sending" in dropped["message"], dropped
        assert "does not say why" in dropped["message"] and "over the last" in dropped["message"]
        assert checks["RW-SUCCESS"]["status"] == "ok", checks["RW-SUCCESS"]
    finally:
        _kubectl(lab, host, "patch", "prometheusagent", host, "-n", "monitoring", "--type", "json", "-p", patch % "")
        wait_remote_write_caught_up(lab)
