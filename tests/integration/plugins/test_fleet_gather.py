"""The daily checks' fleet mode (``fleet_gather=fleet``): one run-once gather of every cluster, then
fleet_evaluate per cluster.

Against the lab, with the real ``ansible-playbook``: on the same inventory (the lab's clusters and
one broken cluster, an inventory host with a context its kubeconfig does not have) the daily
playbook gives the same report, check by check (ids and statuses), with ``-e fleet_gather=fleet``
as with the default per-host path; the broken cluster is unknown with its reason and the others are
read; every cluster still has its own evaluation event; no module process is started on the
controller; a no_log value of a host's options is nowhere; ``--limit`` gathers only the hosts
left.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from ansible_runner_helpers import run_playbook  # pylint: disable=import-error

pytestmark = [pytest.mark.lab]

DAILY = "fleetops.prometheus_agent.daily"
BROKEN = "broken-fleet-gather"
SECRET = "fleetops-fleet-gather-secret-51c9"
GATHER_TASK = "Gather the daily figures of every cluster of the play at once (fleet_gather=fleet)"
EVALUATE_TASK = "Evaluate the daily checks into fleet_result"
# any module process the play would start on the controller leaves its AnsiballZ_ payload in -vvv output
SPAWNED = re.compile(r"AnsiballZ_\w+\.py")


def _real(lab):
    return sorted(n for n, c in lab.state["clusters"].items() if not c.get("synthetic"))


@pytest.fixture(scope="module")
def broken_inventory(lab, lab_inventory, tmp_path_factory):
    """The lab's inventory and one more cluster whose context the kubeconfig does not have."""
    data = yaml.safe_load(open(lab_inventory, encoding="utf-8"))
    hosts = data["all"]["children"]["fleet"]["hosts"]
    broken = dict(hosts[_real(lab)[0]])
    broken.update(kube_context="no-such-context", kube_api_key=SECRET)
    hosts[BROKEN] = broken
    path = tmp_path_factory.mktemp("fleet-gather") / "inventory.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)


def _daily(inventory, tmp_path, name, fleet=False, limit=None):
    out = tmp_path / name
    extra = {"fleet_report_dir": str(out), "fleet_history_file": "", "fleet_module_timeout": 90}
    if fleet:
        extra["fleet_gather"] = "fleet"
    run = run_playbook(DAILY, inventory, extra_vars=extra, limit=limit, verbosity=3, cwd=str(tmp_path))
    assert run.rc == 0, run.output[-5000:]
    return run, json.loads((out / "fleet-report.json").read_text(encoding="utf-8")), out


def _checks(doc):
    return {host: [(c["id"], c["status"]) for c in info["checks"]] for host, info in doc["clusters"].items()}


def test_fleet_mode_gives_the_report_of_the_per_host_path(lab, broken_inventory, tmp_path):
    hosts = _real(lab) + [BROKEN]
    per_host, per_host_doc, _out = _daily(broken_inventory, tmp_path, "host")
    fleet, fleet_doc, fleet_out = _daily(broken_inventory, tmp_path, "fleet", fleet=True)

    # the same clusters, the same checks with the same statuses, check by check
    assert sorted(fleet_doc["clusters"]) == sorted(per_host_doc["clusters"]) == sorted(hosts)
    assert _checks(fleet_doc) == _checks(per_host_doc)
    assert {h: i["status"] for h, i in fleet_doc["clusters"].items()} == {h: i["status"] for h, i in per_host_doc["clusters"].items()}

    # the broken cluster is unknown with its reason, the others were read
    broken = fleet_doc["clusters"][BROKEN]
    assert broken["status"] == "unknown", broken
    assert all(c["status"] == "unknown" for c in broken["checks"]), broken["checks"]
    assert any("no-such-context" in (c.get("message") or "") for c in broken["checks"]), broken["checks"]
    for host in _real(lab):
        assert {s for _id, s in _checks(fleet_doc)[host]} != {"unknown"}, (host, _checks(fleet_doc)[host])

    # one gather for the play, then each cluster's own evaluation event, as on the per-host path
    assert len([r for r in fleet.results if r["task"] == GATHER_TASK]) == 1
    gathered = fleet.results[[r["task"] for r in fleet.results].index(GATHER_TASK)]["result"]
    assert gathered["hosts"] == len(hosts) and not gathered.get("failed"), gathered
    for host in hosts:
        mine = fleet.result(host, EVALUATE_TASK)
        theirs = per_host.result(host, EVALUATE_TASK)
        assert mine["status"] == theirs["status"] == fleet_doc["clusters"][host]["status"], (host, mine, theirs)
        assert [(c["id"], c["status"]) for c in mine["checks"]] == [(c["id"], c["status"]) for c in theirs["checks"]]

    # no module process on the controller (the same grep finds the per-host path's modules if the
    # in-worker path is off: see test_in_worker.py); the broken host's no_log value is nowhere
    assert not SPAWNED.findall(fleet.output), SPAWNED.findall(fleet.output)[:5]
    assert SECRET not in fleet.output
    assert SECRET not in json.dumps(fleet.results)
    for path in fleet_out.iterdir():
        if path.is_file():
            assert SECRET not in path.read_text(encoding="utf-8", errors="replace"), path


def test_fleet_mode_honours_limit(lab, broken_inventory, tmp_path):
    host = _real(lab)[1]
    run, doc, _out = _daily(broken_inventory, tmp_path, "limit", fleet=True, limit=host)
    assert sorted(doc["clusters"]) == [host], sorted(doc["clusters"])
    gathered = [r for r in run.results if r["task"] == GATHER_TASK]
    assert len(gathered) == 1 and gathered[0]["result"]["hosts"] == 1, gathered
    assert doc["clusters"][host]["checks"] and doc["clusters"][host]["status"] != "unknown", doc["clusters"][host]
    assert not SPAWNED.findall(run.output)
