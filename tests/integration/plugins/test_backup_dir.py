"""Where agent_backup writes (issue 16 S6): a relative ``dest`` (the monthly role's default
``backups``) is relative to the directory ansible-playbook runs in, as the report directory is,
in the worker and in the module process alike. A module started on the controller runs in the
playbook's directory, which for the collection's own playbooks is inside the installed collection:
the monthly run wrote its backups there. An unwritable directory is a sentence, not a traceback."""

from __future__ import annotations

import pytest

from ansible_runner_helpers import run_playbook

pytestmark = [pytest.mark.lab]

PLAY = """
- hosts: "{cluster}"
  gather_facts: false
  tasks:
    - name: backup
      fleetops.prometheus_agent.agent_backup:
        kubeconfig: "{{{{ kubeconfig }}}}"
        context: "{{{{ kube_context }}}}"
        namespace: "{{{{ agent_namespace }}}}"
        pod: "{{{{ agent_pod }}}}"
        dest: "{dest}"
        timeout: 60
      register: backup
"""


def _cluster(lab):
    return sorted(n for n, c in lab.state["clusters"].items() if not c.get("synthetic"))[0]


@pytest.mark.parametrize("in_worker", ["1", "0"])
def test_relative_dest_is_relative_to_where_ansible_playbook_runs(lab, lab_inventory, tmp_path, in_worker):
    cluster = _cluster(lab)
    playbooks = tmp_path / "collection" / "playbooks"
    playbooks.mkdir(parents=True)
    play = playbooks / "monthly-like.yml"
    play.write_text(PLAY.format(cluster=cluster, dest="backups/today/" + cluster))
    run = run_playbook(str(play), lab_inventory, cwd=str(tmp_path), env={"FLEETOPS_IN_WORKER": in_worker})
    result = run.result(cluster, "backup")
    assert not result.get("failed"), result
    assert result["backup"]["dir"] == str(tmp_path / "backups" / "today" / cluster), result["backup"]
    assert (tmp_path / "backups" / "today" / cluster / "config.yml").stat().st_size > 0
    assert not (playbooks / "backups").exists(), "written next to the playbook"


def test_unwritable_dest_is_a_sentence(lab, lab_inventory, tmp_path):
    cluster = _cluster(lab)
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "backups").write_text("a file where the directory should be\n")
    run = run_playbook(PLAY.format(cluster=cluster, dest=str(locked / "backups" / cluster)), lab_inventory, cwd=str(tmp_path))
    result = run.result(cluster, "backup")
    checks = {c["id"]: c for c in result.get("checks", [])}
    assert checks["BACKUP"]["status"] == "critical", result
    assert "could not be written to %s" % (locked / "backups" / cluster) in checks["BACKUP"]["message"], checks["BACKUP"]
    assert "Traceback" not in run.output
