"""The daily window on the lab (issue 14): a daily run judges the time since the previous daily run,
whose counters the fleet history keeps. An outage between two runs shows in the second on every
cluster it touched, with the window in the message; a first run that asks the central store
(fleet_daily_query_window) sees the outage in the store's last day; a restart between runs is said;
a first run and a corrupt history give a short-window verdict that says why, never an error."""

from __future__ import annotations

import json
import re
import time

import pytest

from lab_fixtures import remote_write_lag, reset_pod, wait_for, wait_remote_write_caught_up
from .test_daily_faults import _checks, _real, daily

pytestmark = [pytest.mark.lab, pytest.mark.slow]

# the role's default fleet_rw_min_window (roles/daily_check/defaults/main.yml)
MIN_WINDOW = 10.0
NO_EARLIER = "not since the last daily run: no earlier daily run of this cluster in the fleet history"
WINDOW = re.compile(r"over the last (\d+(?:\.\d+)?) (s|min|h)\b")


def _window_seconds(message):
    match = WINDOW.search(message)
    assert match, message
    return float(match.group(1)) * {"s": 1, "min": 60, "h": 3600}[match.group(2)]


def test_an_outage_between_two_daily_runs_shows_in_the_second(roles_lab, roles_inventory, tmp_path):
    history = tmp_path / "fleet-history.json"
    clusters = _real(roles_lab)
    wait_remote_write_caught_up(roles_lab)

    # the first run: no earlier run, a short window that says so; its counters go to the history
    first_dir = tmp_path / "first"
    first_dir.mkdir()
    first_run = time.time()
    run, doc = daily(roles_inventory, first_dir, extra={"fleet_history_file": str(history)})
    assert run.rc == 0, run.output[-5000:]
    for name in clusters:
        checks = _checks(doc, name)
        assert checks["RW-SUCCESS"]["status"] == "ok" and NO_EARLIER in checks["RW-SUCCESS"]["message"], (name, checks["RW-SUCCESS"])
        assert _window_seconds(checks["RW-SUCCESS"]["message"]) < 60
    kept = json.loads(history.read_text())
    assert all("remote_write_stats" in kept[name][-1]["snapshot"] for name in clusters), kept
    # the report's "since the last audit": nothing to compare with yet
    assert sorted(doc["since_last_audit"]["first_audit"]) == sorted(doc["clusters"]), doc["since_last_audit"]
    first_findings = {(name, c["id"]) for name in clusters for c in doc["clusters"][name]["checks"] if c["status"] != "ok"}

    # a receiver outage of 40 s that is over before the second run (the lab's one receiver: every cluster's)
    roles_lab.fault("receiver-down", clusters[0])
    try:
        time.sleep(40)
    finally:
        roles_lab.heal("receiver-down", clusters[0])
    wait_for(lambda: all(remote_write_lag(roles_lab.state["clusters"][n]["agent_url"]) < 15 for n in clusters), 120,
             what="remote write caught up after the outage")

    second_dir = tmp_path / "second"
    second_dir.mkdir()
    run, doc = daily(roles_inventory, second_dir, extra={"fleet_history_file": str(history)},
                     env={"ANSIBLE_CALLBACKS_ENABLED": "fleetops.prometheus_agent.fleet_progress"})
    assert run.rc == 0, run.output[-5000:]
    since = time.time() - first_run
    for name in clusters:
        checks = _checks(doc, name)
        retry = checks["RW-RETRY"]
        # the outage is over (lag ok again), but the window since the first run holds it
        assert retry["status"] in ("warning", "critical") and "samples retried" in retry["message"], (name, retry)
        assert 40 <= _window_seconds(retry["message"]) <= since + 5, (name, retry, since)
        assert "not since the last daily run" not in checks["RW-SUCCESS"]["message"], checks["RW-SUCCESS"]
        assert checks["RW-LAG"]["status"] == "ok", checks["RW-LAG"]
        assert "over the last" in checks["INGEST"]["message"] and checks["INGEST"]["status"] == "ok", checks["INGEST"]
    # "since the last audit": the retries are a new finding of every cluster (unless the first run
    # had them too: then still open), with the first run as the previous audit
    since = doc["since_last_audit"]
    assert since["first_audit"] == [] and since["previous"], since
    for name in clusters:
        bucket = "still_open" if (name, "RW-RETRY") in first_findings else "new"
        assert {"cluster": name, "id": "RW-RETRY"}.items() <= next(
            (f for f in since[bucket] if f["cluster"] == name and f["id"] == "RW-RETRY"), {}).items(), (name, bucket, since)
    markdown = (second_dir / "report" / "fleet-report.md").read_text()
    assert "## Since the last audit (%s)" % since["previous"] in markdown, markdown[:3000]
    assert ("**New:**" if since["new"] else "**Still open:**") in markdown and "RW-RETRY" in markdown, markdown[:3000]
    # every cluster had a window since the last run and was judged by agent_audit: its daily checks
    # ended there (meta end_role, no worker), so no wait, no second reading, no separate evaluation
    # is even started
    assert "End the daily checks of a cluster that agent_audit judged" in run.stdout, run.stdout[-3000:]
    # the progress line counts the clusters agent_audit judged itself
    assert re.search(r"fleet audit: %d/%d clusters evaluated \(100%%\)" % (len(clusters), len(clusters)), run.output), \
        run.output[-3000:]
    for task in ("Let the short remote-write window", "Read the remote-write queues again",
                 "Evaluate the daily checks into fleet_result"):
        assert task not in run.stdout, (task, run.stdout[-5000:])

    # a first run (no history) that asks the central store (the lab's receiver) for its day of remote
    # write: the retries of the outage are in it, though the run's own seconds are clean
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    run, doc = daily(roles_inventory, store_dir, extra={"fleet_history_file": "", "fleet_daily_query_window": "24h"})
    assert run.rc == 0, run.output[-5000:]
    assert "Ask the central query API once for the last day of remote write" in run.stdout
    for name in clusters:
        checks = _checks(doc, name)
        retry = checks["RW-RETRY"]
        assert retry["status"] in ("warning", "critical") and retry["message"].endswith("(the central query API)"), (name, retry)
        assert "over the last 24.0 h" in retry["message"] and "samples retried" in retry["message"], (name, retry)
        assert checks["RW-LAG"]["status"] == "ok" and "central query API" not in checks["RW-LAG"]["message"], checks["RW-LAG"]

    # a restart between runs: counted since the start, and said
    second_end = time.time()
    reset_pod(roles_lab, clusters[0])
    wait_remote_write_caught_up(roles_lab)
    # the third run's window must be longer than the minimum (fleet_rw_min_window, 10 s), or it rightly
    # refuses the second run's counters as too recent and takes a short window of its own (seen when the
    # restart and the catch-up took less than that on an idle machine)
    time.sleep(max(0.0, MIN_WINDOW + 3 - (time.time() - second_end)))
    third_dir = tmp_path / "third"
    third_dir.mkdir()
    run, doc = daily(roles_inventory, third_dir, extra={"fleet_history_file": str(history)})
    assert run.rc == 0, run.output[-5000:]
    restarted = _checks(doc, clusters[0])["RW-SUCCESS"]
    assert "the agent restarted in this window" in restarted["message"], restarted
    for name in clusters[1:]:
        assert "restarted" not in _checks(doc, name)["RW-SUCCESS"]["message"], _checks(doc, name)["RW-SUCCESS"]

    # a corrupt history: a short window that says why, the report written, the history whole again
    history.write_text('{"lab-1": [{"time": "yesterday", "snapshot": 7}')
    fourth_dir = tmp_path / "fourth"
    fourth_dir.mkdir()
    run, doc = daily(roles_inventory, fourth_dir, extra={"fleet_history_file": str(history)})
    assert run.rc == 0, run.output[-5000:]
    for name in clusters:
        assert NO_EARLIER in _checks(doc, name)["RW-SUCCESS"]["message"], _checks(doc, name)["RW-SUCCESS"]
    assert all("snapshot" in json.loads(history.read_text())[name][-1] for name in clusters)
