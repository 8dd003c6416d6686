"""fleet_gather_result through ansible-playbook: each host takes its own judgement from its entry file
of a gathering; a host without one (no file, an unreadable or corrupt file, an entry whose evaluation
was refused) gets judged false and the reason, never a failure, and an unknown fleet_result whose
every daily check says that reason, over the fleet_result it had (its other keys and checks stay)."""

from __future__ import annotations

import json

from ansible_runner_helpers import run_playbook

TASK = "Take each host's judgement"


def test_each_host_takes_its_own_judgement_and_a_bad_entry_is_a_reason(tmp_path):
    judged = {"status": "warning", "checks": [{"id": "RW-LAG", "status": "warning"}], "facts": {}, "cadences": ["daily"]}
    files = {
        "good": tmp_path / "good.json",
        "refused": tmp_path / "refused.json",
        "corrupt": tmp_path / "corrupt.json",
        "listed": tmp_path / "listed.json",
        "gone": tmp_path / "gone.json",
    }
    files["good"].write_text(json.dumps({"errors": [], "agent_audit": {"status": "warning"}, "fleet_result": judged}), encoding="utf-8")
    files["refused"].write_text(json.dumps({"errors": [], "evaluation_error": "fleet_evaluate: thresholds must be a dict"}),
                                encoding="utf-8")
    files["corrupt"].write_text('{"fleet_result": {"status": "ok"', encoding="utf-8")
    files["listed"].write_text("[1, 2]", encoding="utf-8")
    inventory = tmp_path / "inventory.yml"
    hosts = "".join("        %s: {}\n" % name for name in list(files) + ["unseen"]) + "        notadict: {fleet_result: garbage}\n"
    # fleet_result of an earlier run in the inventory (a weekly check among its checks): what the unknown
    # judgement of a host without one is made over; a host whose earlier value is no dict gets it alone
    inventory.write_text("all:\n  vars:\n    ansible_connection: local\n    ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n"
                         "    fleet_result: {status: ok, earlier: true, checks: [{id: WAL-GROWTH, status: ok, message: weekly}]}\n"
                         "  children:\n    fleet:\n      hosts:\n" + hosts, encoding="utf-8")
    files_var = dict((name, str(path)) for name, path in files.items())
    play = """
- hosts: fleet
  gather_facts: false
  tasks:
    - name: %s
      fleetops.prometheus_agent.fleet_gather_result:
        file: "{{ gathered_files[inventory_hostname] | default('') }}"
      register: taken
    - name: Show what each host holds
      ansible.builtin.debug:
        var: fleet_result
""" % TASK
    run = run_playbook(play, inventory, extra_vars={"gathered_files": files_var})
    assert run.rc == 0, run.output[-3000:]
    good = run.result("good", TASK)
    assert good["judged"] is True and good["status"] == "warning" and good["ansible_facts"] == {"fleet_result": judged}, good
    assert run.result("good", "Show what each host holds")["fleet_result"] == judged
    reasons = {
        "refused": "fleet_evaluate: thresholds must be a dict",
        "corrupt": "cannot read the entry of corrupt",
        "listed": "the entry of listed (%s) is not a JSON object" % files["listed"],
        "gone": "cannot read the entry of gone",
        "unseen": "fleet_gather: no result for unseen",
        "notadict": "fleet_gather: no result for notadict",
    }
    for name, why in reasons.items():
        taken = run.result(name, TASK)
        assert taken["judged"] is False and why in taken["msg"] and not taken.get("failed"), (name, taken)
        held = run.result(name, "Show what each host holds")["fleet_result"]
        assert taken["ansible_facts"] == {"fleet_result": held} and taken["status"] == held["status"] == "unknown", (name, taken)
        daily = [c for c in held["checks"] if c["id"] != "WAL-GROWTH"]
        # every daily check unknown, saying why
        assert len(daily) >= 9 and all(c["status"] == "unknown" and why in c["message"] for c in daily), (name, daily)
        assert held["cadences"] == ["daily"] and why in held["errors"][-1], (name, held)
        if name == "notadict":
            assert "earlier" not in held and [c["id"] for c in held["checks"]] == [c["id"] for c in daily], held
        else:
            # made over the earlier result: its keys and its weekly check stay
            assert held["earlier"] is True and held["checks"][0] == {"id": "WAL-GROWTH", "status": "ok", "message": "weekly"}, held
    assert run.stats.get("good", {}).get("failures", 0) == 0 and all(
        not run.stats.get(name, {}).get("failures") for name in reasons), run.stats


def test_a_wrong_option_fails_with_its_name(tmp_path):
    run = run_playbook("""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: An option fleet_gather_result does not have
      fleetops.prometheus_agent.fleet_gather_result:
        path: /tmp/x.json
""")
    assert run.rc != 0
    assert "path" in run.result("localhost", "An option fleet_gather_result does not have")["msg"], run.output[-2000:]
