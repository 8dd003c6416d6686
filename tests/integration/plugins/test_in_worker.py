"""The read-only modules' action plugins run their runner inside Ansible's worker on the controller.

Against the lab, with the real ``ansible-playbook``: the in-worker path and the module path
(``FLEETOPS_IN_WORKER=0``) give the same checks and statuses for the same cluster; the daily
playbook starts no module process of the collection's read-only modules on the controller (and
the same assertion finds them when the in-worker path is off, so it can fail); check mode; a
broken cluster among healthy ones; ``--limit``; secrets of no_log options not in the result.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from ansible_runner_helpers import run_playbook  # pylint: disable=import-error
from lab_fixtures import fresh_lab  # pylint: disable=import-error

pytestmark = [pytest.mark.lab]


@pytest.fixture(scope="module")
def lab():
    """A lab of its own: the tests compare two runs, so no other test may restart or break its agents."""
    yield from fresh_lab("fleetops-inworker-lab-", "FLEETOPS_INWORKER_LAB_WORKDIR")


@pytest.fixture(scope="module")
def lab_inventory(lab):
    """The inventory of that lab."""
    return os.path.join(lab.workdir, "inventory.yml")


READ_ONLY = ("agent_audit", "agent_status", "remote_write_stats", "wal_inspect", "agent_logs", "rules_status", "agent_backup")
SPAWNED = re.compile(r"AnsiballZ_(%s)\.py" % "|".join(READ_ONLY))
PLAIN = {"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops", "ANSIBLE_SHOW_CUSTOM_STATS": "1"}
SECRET = "fleetops-in-worker-secret-7f3a"

AUDIT = """
- hosts: fleet
  gather_facts: false
  module_defaults:
    group/fleetops.prometheus_agent.prometheus_agent:
      kubeconfig: "{{ kubeconfig }}"
      context: "{{ kube_context }}"
      namespace: "{{ agent_namespace }}"
      pod: "{{ agent_pod }}"
      timeout: 60
  tasks:
    - name: audit
      fleetops.prometheus_agent.agent_audit:
        logs_since: 1h
      register: audit
    - name: status
      fleetops.prometheus_agent.agent_status:
      register: status
    - name: wal
      fleetops.prometheus_agent.wal_inspect:
        path: /prometheus/wal
      register: wal
    - name: broken
      fleetops.prometheus_agent.agent_status:
        context: no-such-context
      register: broken
      when: inventory_hostname == first_host
    - name: secret
      fleetops.prometheus_agent.agent_status:
        url: http://127.0.0.1:9
        url_username: fleetops
        url_password: "%s"
        timeout: 5
      register: secret
      when: inventory_hostname == first_host
""" % SECRET


def _real(lab):
    return sorted(n for n, c in lab.state["clusters"].items() if not c.get("synthetic"))


def _shape(result):
    """What must not depend on the path: the checks (id, status) and the result's keys."""
    return {"keys": sorted(k for k in result if k not in ("invocation", "_ansible_no_log", "seconds")),
            "checks": [(c["id"], c["status"]) for c in result.get("checks") or []],
            "status": result.get("status")}


def _audit(lab_inventory, first, in_worker, check=False):
    return run_playbook(AUDIT, lab_inventory, extra_vars={"first_host": first}, check=check, verbosity=3,
                        env={"FLEETOPS_IN_WORKER": "1" if in_worker else "0"})


def test_in_worker_and_module_return_the_same(lab, lab_inventory):
    hosts = _real(lab)
    worker = _audit(lab_inventory, hosts[0], True)
    module = _audit(lab_inventory, hosts[0], False)
    assert worker.rc == 0, worker.output[-3000:]
    assert module.rc == 0, module.output[-3000:]
    # the in-worker run started no module process of ours; the module run did, for every task
    assert not SPAWNED.findall(worker.output), SPAWNED.findall(worker.output)[:5]
    assert {"agent_audit", "agent_status", "wal_inspect"} <= set(SPAWNED.findall(module.output))
    for host in hosts:
        for task in ("audit", "status", "wal"):
            a, b = worker.result(host, task), module.result(host, task)
            assert _shape(a) == _shape(b), (host, task, _shape(a), _shape(b))
        # the audit's parts are the single modules' results, on both paths
        assert sorted(worker.result(host, "audit")["parts"]) == sorted(module.result(host, "audit")["parts"])
    # one broken cluster is data on both paths, the others are not affected
    for run in (worker, module):
        broken = run.result(hosts[0], "broken")
        assert broken["status"] == "unknown" and "no-such-context" in broken.get("reason", ""), broken
        assert not broken.get("failed"), broken
    # a no_log option's value appears nowhere: not in the result, not in -vvv output
    for run in (worker, module):
        assert run.result(hosts[0], "secret")["status"] == "unknown"
        assert SECRET not in run.output
        assert SECRET not in json.dumps(run.results)


def test_check_mode_in_worker(lab, lab_inventory):
    hosts = _real(lab)
    run = _audit(lab_inventory, hosts[0], True, check=True)
    assert run.rc == 0, run.output[-3000:]
    assert not SPAWNED.findall(run.output)
    for host in hosts:
        res = run.result(host, "audit")
        # one reading: the rates are unknown, nothing is wrong
        assert res["changed"] is False and not res.get("failed"), res
        assert res["status"] in ("ok", "unknown") and {c["status"] for c in res["checks"]} <= {"ok", "unknown"}, res["checks"]
        assert {"POD", "HEALTH", "WAL-HEALTH", "RW-LAG"} <= {c["id"] for c in res["checks"]}


def test_bad_argument_fails_the_task_naming_the_option(lab, lab_inventory):
    play = AUDIT.split("  tasks:", maxsplit=1)[0] + """  tasks:
    - name: bad
      fleetops.prometheus_agent.agent_status:
        no_such_option: 1
      ignore_errors: true
      register: bad
    - name: negative
      fleetops.prometheus_agent.agent_status:
        timeout: -1
      ignore_errors: true
      register: negative
"""
    run = run_playbook(play, lab_inventory, limit=_real(lab)[0])
    host = _real(lab)[0]
    for task, option in (("bad", "no_such_option"), ("negative", "timeout")):
        found = run.for_host(host, task)
        # ansible-core 2.19 keeps "failed" out of an ignored result: the callback's status says it
        assert found and found[-1]["status"] in ("failed", "ignored"), found
        assert option in found[-1]["result"]["msg"] and "Traceback" not in found[-1]["result"]["msg"], found[-1]


def test_daily_playbook_spawns_no_read_only_module(lab, lab_inventory, tmp_path):
    hosts = _real(lab)
    out = tmp_path / "report"
    extra = {"fleet_report_dir": str(out), "fleet_history_file": "", "fleet_module_timeout": 90}
    env = dict(PLAIN, ANSIBLE_CALLBACKS_ENABLED="fleetops.prometheus_agent.fleet_progress")
    run = run_playbook("fleetops.prometheus_agent.daily", lab_inventory, extra_vars=extra, limit=hosts[0], verbosity=3,
                       cwd=str(tmp_path), env=env)
    doc = json.loads((out / "fleet-report.json").read_text())
    # --limit: only that cluster was audited
    assert sorted(doc["clusters"]) == [hosts[0]], sorted(doc["clusters"])
    assert not SPAWNED.findall(run.output), SPAWNED.findall(run.output)[:5]
    # the progress callback's last line: every cluster of the play evaluated
    assert re.search(r"fleet audit: 1/1 clusters evaluated \(100%\), .*, \d+ s elapsed", run.output), run.output[-2000:]


FLEET_SECRET = "fleetops-fleet-gather-secret-2c9d"
# task names as the callback sees them (a role's tasks: "ROLE : NAME")
GATHER_TASK = "fleetops.prometheus_agent.daily_check : Gather the daily figures of every cluster of the play at once (fleet_gather=fleet)"
TAKE_TASK = "fleetops.prometheus_agent.daily_check : Take each cluster's fleet_result from its judgement in the gathering"
DAILY_ROLE = "fleetops.prometheus_agent.daily_check : "
# the checks whose status does not depend on a few seconds of timing on a healthy lab
STABLE = ("POD", "RESTARTS", "HEALTH", "RW-SUCCESS", "RW-LAG", "WAL-SIZE", "WAL-HEALTH", "CONFIG")


def _daily(inventory, tmp_path, name, gather, limit=None):
    out = tmp_path / name
    extra = {"fleet_report_dir": str(out), "fleet_history_file": "", "fleet_module_timeout": 60,
             "fleet_hosts": "fleet:broken"}
    if gather:
        extra["fleet_gather"] = gather
    # the result_dump callback on (the task events are asserted), custom stats shown
    run = run_playbook("fleetops.prometheus_agent.daily", inventory, extra_vars=extra, limit=limit, verbosity=3,
                       cwd=str(tmp_path), env={"ANSIBLE_SHOW_CUSTOM_STATS": "1"})
    assert run.rc == 0, run.output[-4000:]
    return run, json.loads((out / "fleet-report.json").read_text())


def test_fleet_mode_judges_as_the_host_mode(lab, lab_inventory, tmp_path):
    """fleet_gather=fleet: one gathering task for the play, one evaluation per host, the same checks as
    the per-host path; a broken cluster is unknown and the others go on; its no_log password is in no
    output; no module process; --limit honoured."""
    hosts = _real(lab)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(open(lab_inventory, encoding="utf-8").read() +
                         "    broken:\n      hosts:\n        broken-1:\n          kube_context: no-such-context\n"
                         "          ansible_connection: local\n"
                         "          ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n"
                         "          kubeconfig: /nonexistent/kubeconfig\n"
                         "          kube_username: fleetops\n          kube_password: %s\n" % FLEET_SECRET, encoding="utf-8")
    fleet_run, fleet = _daily(inventory, tmp_path, "fleet", "fleet")
    host_run, host = _daily(inventory, tmp_path, "host", None)

    assert sorted(fleet["clusters"]) == sorted(hosts + ["broken-1"]) == sorted(host["clusters"])
    # one gathering task, run once; every host has its own evaluation event
    assert len([r for r in fleet_run.results if r["task"] == GATHER_TASK]) == 1
    gathered = fleet_run.results[[r["task"] for r in fleet_run.results].index(GATHER_TASK)]["result"]
    assert gathered["hosts"] == len(hosts) + 1, gathered.get("statuses")
    assert gathered["seconds"]["evaluation"] >= 0, gathered["seconds"]
    # every cluster judged in the gathering (the broken one too: unknown, with its reason), each host
    # taking its own fleet_result in its own event; nothing of the role runs for a host after it
    for name in hosts + ["broken-1"]:
        taken = fleet_run.for_host(name, TAKE_TASK)
        assert taken and taken[0]["result"]["ansible_facts"]["fleet_result"]["checks"], (name, taken)
        assert taken[0]["result"]["judged"] is True and "msg" not in taken[0]["result"], (name, taken)
        role_tasks = [r["task"] for r in fleet_run.for_host(name) if r["task"].startswith(DAILY_ROLE)
                      and "Remove the folder" not in r["task"]]    # run once, on the first host, after every host's step
        assert role_tasks[-1] == TAKE_TASK, (name, role_tasks)
    # no per-host meta task after the gathering either (each one a task banner per host)
    assert "TASK [%sEnd the daily checks" % DAILY_ROLE not in fleet_run.stdout, fleet_run.stdout[-3000:]
    assert not SPAWNED.findall(fleet_run.output), SPAWNED.findall(fleet_run.output)[:5]
    for name in hosts:
        by_fleet = [(c["id"], c["status"]) for c in fleet["clusters"][name]["checks"]]
        by_host = [(c["id"], c["status"]) for c in host["clusters"][name]["checks"]]
        assert [c[0] for c in by_fleet] == [c[0] for c in by_host], (name, by_fleet, by_host)
        assert [s for s in by_fleet if s[0] in STABLE] == [s for s in by_host if s[0] in STABLE], (name, by_fleet, by_host)
        assert fleet["clusters"][name]["status"] != "unknown", fleet["clusters"][name]
    broken = fleet["clusters"]["broken-1"]
    assert broken["status"] == "unknown" and host["clusters"]["broken-1"]["status"] == "unknown", broken
    assert "no-such-context" in json.dumps(broken) or "/nonexistent/kubeconfig" in json.dumps(broken), broken
    for run in (fleet_run, host_run):
        assert FLEET_SECRET not in run.output
    assert FLEET_SECRET not in (tmp_path / "fleet" / "fleet-report.json").read_text()

    limited_run, limited = _daily(inventory, tmp_path, "limited", "fleet", limit=hosts[0])
    assert sorted(limited["clusters"]) == [hosts[0]], sorted(limited["clusters"])
    gathered = limited_run.results[[r["task"] for r in limited_run.results].index(GATHER_TASK)]["result"]
    assert sorted(gathered["results_files"]) == [hosts[0]] and "results" not in gathered
    # each cluster's entry was in its own file of a private folder, removed at the end of the role
    assert not os.path.exists(os.path.dirname(gathered["results_files"][hosts[0]]))
