"""The daily playbook as AWX job slicing runs it, then the merge node: one report, as one run gives.

A lab of one real cluster and synthetic ones. The slices run concurrently through ansible-runner,
each with a private data dir as AWX lays out a slice job: the inventory pared down to its slice
(every third host, as AWX slices), the same extra variables for every slice (fleet_slice_count,
the report directory named after ``awx_job_id``, one shared history file) and ``awx_job_id``, the
one variable AWX sets apart per slice. The merge node gets what an AWX workflow passes on: the
set_stats artifacts of the slices, merged key by key, as extra variables.

- merged report = its slices' reports, entry by entry, and = one unsliced run of the same
  inventory, check by check (TIME_VARYING checks by presence); the history after the sliced run
  holds every cluster;
- a slice that did not report is named and its clusters are unknown, the merge fails;
- a cluster in two slice reports fails the merge naming it;
- two slices killed mid-run and re-run leave whole JSON files and the same merged report.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from ansible_runner_helpers import VENV_BIN, ansible_env, collections_path, run_playbook

pytestmark = [pytest.mark.lab, pytest.mark.slow]

SYNTHETIC = int(os.environ.get("FLEETOPS_SLICING_SYNTHETIC", "23"))
SLICES = 3
OUTPUT = Path(__file__).resolve().parents[2] / "output"

DAILY = "---\n- name: Daily checks\n  ansible.builtin.import_playbook: fleetops.prometheus_agent.daily\n"
MERGE = "---\n- name: Merge the slices\n  ansible.builtin.import_playbook: fleetops.prometheus_agent.report_merge\n"


@pytest.fixture(scope="module")
def slicing_lab():
    from labkit.client import LabClient  # pylint: disable=import-outside-toplevel
    from lab_fixtures import wait_until_scraping  # pylint: disable=import-outside-toplevel
    workdir = tempfile.mkdtemp(prefix="fleetops-slicing-lab-")
    client = LabClient.up(workdir, clusters=1, synthetic=SYNTHETIC)
    try:
        wait_until_scraping(client)
        yield client, yaml.safe_load(Path(workdir, "inventory.yml").read_text(encoding="utf-8"))
    finally:
        client.down()
        shutil.rmtree(workdir, ignore_errors=True)


def _hosts(inventory):
    return sorted(inventory["all"]["children"]["fleet"]["hosts"])


def _slice_inventory(inventory, hosts):
    """The inventory of one slice, as AWX gives a slice job: only its hosts, the same group vars."""
    sliced = json.loads(json.dumps(inventory))
    fleet = sliced["all"]["children"]["fleet"]
    fleet["hosts"] = {name: fleet["hosts"][name] for name in hosts}
    return sliced


def _runner_env():
    return {
        "PATH": "%s:%s" % (VENV_BIN, os.environ.get("PATH", "/usr/bin:/bin")),
        "ANSIBLE_COLLECTIONS_PATH": str(collections_path()),
        "ANSIBLE_NOCOLOR": "1", "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_FORKS": os.environ.get("FLEETOPS_FORKS", "10"), "PYTHONWARNINGS": "ignore",
    }


def _private_data_dir(base: Path, playbook: str, inventory: dict, extravars: dict) -> Path:
    for sub in ("project", "inventory", "env"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    (base / "project" / "play.yml").write_text(playbook, encoding="utf-8")
    (base / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory), encoding="utf-8")
    (base / "env" / "extravars").write_text(yaml.safe_dump(extravars), encoding="utf-8")
    return base


def _artifacts(runner) -> dict:
    """The set_stats data of a run, as AWX reads it (artifact_data of playbook_on_stats)."""
    stats = [e for e in runner.events if e.get("event") == "playbook_on_stats"]
    return stats[-1]["event_data"].get("artifact_data") or {}


def _run_slices(base: Path, inventory: dict, report_root: Path, history: Path, numbers=None):
    """The slice jobs of one sliced job template, started at once: {number: runner}."""
    import ansible_runner  # pylint: disable=import-outside-toplevel
    hosts = _hosts(inventory)
    extravars = {"fleet_slice_count": SLICES, "fleet_report_dir": str(report_root) + "/{{ awx_job_id }}",
                 "fleet_history_file": str(history)}
    started = {}
    for number in numbers or range(1, SLICES + 1):
        job_id = 1000 + number
        pdd = _private_data_dir(base / ("slice-%d" % number), DAILY, _slice_inventory(inventory, hosts[number - 1::SLICES]),
                                dict(extravars, awx_job_id=job_id))
        started[number] = ansible_runner.run_async(private_data_dir=str(pdd), playbook="play.yml", ident="job-%d" % job_id,
                                                   envvars=_runner_env(), suppress_env_files=True, quiet=True, timeout=1200)
    runners = {}
    for number, (thread, runner) in started.items():
        thread.join()
        runners[number] = runner
    return runners


def _merge(base: Path, inventory: dict, extravars: dict):
    import ansible_runner  # pylint: disable=import-outside-toplevel
    pdd = _private_data_dir(base, MERGE, inventory, extravars)
    return ansible_runner.run(private_data_dir=str(pdd), playbook="play.yml", ident="merge", envvars=_runner_env(),
                              suppress_env_files=True, quiet=True, timeout=600)


def _stdout(runner):
    return runner.stdout.read()[-5000:]


# what the synthetic clusters change with the clock, so that two runs a minute apart may judge them
# apart: resident memory swings 5% around a per-cluster level (period about 6 minutes), across the
# 400Mi warning for some clusters; a recorded restart ages out of the last 24 h
TIME_VARYING = ("MEMORY", "RESTARTS")


def _by_check(doc):
    """{cluster: {check: status}}; the checks of TIME_VARYING are compared by their presence."""
    return {name: {c["id"]: (c["status"] if c["id"] not in TIME_VARYING else "measured") for c in cluster["checks"]}
            for name, cluster in doc["clusters"].items()}


def test_sliced_run_merges_into_the_report_of_one_run(slicing_lab, tmp_path):
    _client, inventory = slicing_lab
    hosts = _hosts(inventory)
    started = time.monotonic()
    slices = _run_slices(tmp_path / "jobs", inventory, tmp_path / "reports" / "wf-7", tmp_path / "history.json")
    sliced_seconds = time.monotonic() - started
    artifacts = {}
    for number, runner in slices.items():
        assert runner.status == "successful", _stdout(runner)
        published = _artifacts(runner)
        artifacts.update(published)  # what an AWX workflow does with the artifacts of the nodes before
        doc = json.loads((tmp_path / "reports" / "wf-7" / str(1000 + number) / "fleet-report.json").read_text())
        assert doc["slice"] == {"id": str(1000 + number), "number": None, "count": SLICES}
        assert sorted(doc["clusters"]) == hosts[number - 1::SLICES]
    assert sorted(k for k in artifacts if k.startswith("fleet_slice_report_")) == ["fleet_slice_report_%d" % (1000 + n) for n in (1, 2, 3)]

    # the history after the sliced run holds every cluster's figures and counters
    history = json.loads((tmp_path / "history.json").read_text())
    assert sorted(history) == hosts
    assert all(history[name] for name in hosts)

    # the merge node: the artifacts, no merge directory
    merge = _merge(tmp_path / "merge", inventory, dict(artifacts, fleet_report_dir=str(tmp_path / "merged")))
    assert merge.status == "successful", _stdout(merge)
    merged = json.loads((tmp_path / "merged" / "fleet-report.json").read_text())
    assert sorted(merged["clusters"]) == hosts
    assert merged["slices"]["count"] == SLICES and merged["slices"]["missing_count"] == 0
    assert len(merged["slices"]["reported"]) == SLICES
    for kind in ("md", "html", "prom"):
        assert (tmp_path / "merged" / ("fleet-report." + kind)).stat().st_size > 0
    assert _artifacts(merge)["fleet_report"]["clusters"] == len(hosts)

    # one unsliced run of the same inventory, same report check by check
    started = time.monotonic()
    whole = run_playbook("fleetops.prometheus_agent.daily", str(tmp_path / "merge" / "inventory" / "hosts.yml"),
                         extra_vars={"fleet_report_dir": str(tmp_path / "whole"), "fleet_history_file": str(tmp_path / "whole-history.json")},
                         env={"ANSIBLE_FORKS": _runner_env()["ANSIBLE_FORKS"]}, timeout=1200, cwd=str(tmp_path))
    whole_seconds = time.monotonic() - started
    assert whole.rc == 0, whole.output[-5000:]
    one = json.loads((tmp_path / "whole" / "fleet-report.json").read_text())
    assert _by_check(merged) == _by_check(one)
    assert merged["summary"]["clusters"] == one["summary"]["clusters"] == len(hosts)
    # and the merged report is its slices', check by check, every check
    for number in range(1, SLICES + 1):
        doc = json.loads((tmp_path / "reports" / "wf-7" / str(1000 + number) / "fleet-report.json").read_text())
        for name, cluster in doc["clusters"].items():
            assert merged["clusters"][name] == cluster, name
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "sliced-run.json").write_text(json.dumps({
        "clusters": len(hosts), "slices": SLICES, "sliced_seconds": round(sliced_seconds, 1),
        "unsliced_seconds": round(whole_seconds, 1)}, indent=1))

    # a slice that did not report: named, its clusters unknown, the merge fails after writing the report
    partial = {k: v for k, v in artifacts.items() if k != "fleet_slice_report_1002"}
    merge = _merge(tmp_path / "merge-partial", inventory, dict(partial, fleet_report_dir=str(tmp_path / "merged-partial")))
    assert merge.status == "failed"
    out = _stdout(merge)
    assert "1 of 3 slices did not report (2 reports found)" in out
    doc = json.loads((tmp_path / "merged-partial" / "fleet-report.json").read_text())
    lost = hosts[1::SLICES]
    assert doc["slices"]["unreported_clusters"] == lost
    assert all(doc["clusters"][n]["status"] == "unknown" and doc["clusters"][n]["reason"].startswith("no slice report has this cluster")
               for n in lost)

    # a cluster in two slice reports: the merge fails naming it (here slice 1's report copied to a second directory)
    shutil.copytree(tmp_path / "reports" / "wf-7" / "1001", tmp_path / "reports" / "wf-7" / "1001-again")
    merge = _merge(tmp_path / "merge-dup", inventory,
                   {"fleet_merge_dir": str(tmp_path / "reports" / "wf-7"), "fleet_report_dir": str(tmp_path / "merged-dup")})
    assert merge.status == "failed"
    assert "cluster %s is in two slice reports" % hosts[0] in _stdout(merge)
    assert not (tmp_path / "merged-dup").exists()


def _slice_command(inventory_path: Path, hosts, number, report_root: Path, history: Path):
    return [str(VENV_BIN / "ansible-playbook"), "fleetops.prometheus_agent.daily", "-i", str(inventory_path), "--limit", ",".join(hosts),
            "-e", json.dumps({"fleet_report_dir": "%s/slice-%d" % (report_root, number), "fleet_history_file": str(history),
                              "fleet_slice_number": number, "fleet_slice_count": SLICES})]


def _whole_json_files(root: Path):
    for path in root.rglob("*.json"):
        json.loads(path.read_text())  # never half a file
    return sorted(p.name for p in root.rglob(".tmp-*"))


def _children(pids):
    """The pids of the processes whose parent is in ``pids`` (from /proc)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry, encoding="ascii", errors="replace") as handle:
                    stat = handle.read()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) in pids:
                found.add(int(entry))
    return found


def _kill_tree(pid):
    """SIGKILL ``pid`` and everything it started, as a lost node takes them all. Ansible's workers
    start sessions of their own, so a kill of the process group alone leaves them running (seen:
    orphaned workers blocked on their dead parent's pipe for half an hour). The tree is stopped
    first, so that nothing forks while it is collected."""
    tree, todo = set(), {pid}
    while todo:
        for each in todo:
            try:
                os.kill(each, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        tree |= todo
        todo = _children(todo) - tree
    for each in tree:
        try:
            os.kill(each, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_killed_slices_rerun_leave_nothing_half_written(slicing_lab, tmp_path):
    client, inventory = slicing_lab
    inventory_path = Path(client.workdir) / "inventory.yml"
    hosts = _hosts(inventory)
    root, history = tmp_path / "reports", tmp_path / "history.json"
    env = ansible_env({"ANSIBLE_FORKS": _runner_env()["ANSIBLE_FORKS"]})
    procs = {n: subprocess.Popen(_slice_command(inventory_path, hosts[n - 1::SLICES], n, root, history), env=env, cwd=str(tmp_path),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
             for n in range(1, SLICES + 1)}
    # slices 2 and 3 are killed (the node lost, the job cancelled) the moment the first slice writes the
    # history: the slices run neck and neck, so they die in the middle of their work or of their writes
    deadline = time.monotonic() + 1200
    while not history.exists() and time.monotonic() < deadline and all(p.poll() is None for p in procs.values()):
        time.sleep(0.05)
    for number in (2, 3):
        if procs[number].poll() is None:
            _kill_tree(procs[number].pid)
    killed = [n for n in (2, 3) if procs[n].wait(timeout=60) == -signal.SIGKILL]
    assert killed, "slices 2 and 3 ended before they could be killed"
    assert procs[1].wait(timeout=1200) == 0
    _whole_json_files(tmp_path)
    assert set(hosts[0::SLICES]) <= set(json.loads(history.read_text()))  # slice 1's clusters, whatever the others did
    # re-run, as AWX relaunches the failed slice jobs, into the same directories
    for number in (2, 3):
        rerun = subprocess.run(_slice_command(inventory_path, hosts[number - 1::SLICES], number, root, history), env=env,
                               cwd=str(tmp_path), capture_output=True, text=True, timeout=1200, check=False)
        assert rerun.returncode == 0, rerun.stdout[-4000:]
    assert sorted(json.loads(history.read_text())) == hosts
    merge = run_playbook("fleetops.prometheus_agent.report_merge", str(inventory_path),
                         extra_vars={"fleet_merge_dir": str(root), "fleet_report_dir": str(tmp_path / "merged")}, cwd=str(tmp_path))
    assert merge.rc == 0, merge.output[-4000:]
    merged = json.loads((tmp_path / "merged" / "fleet-report.json").read_text())
    assert sorted(merged["clusters"]) == hosts
    assert [r["number"] for r in merged["slices"]["reported"]] == [1, 2, 3]
    assert _whole_json_files(tmp_path) == []
