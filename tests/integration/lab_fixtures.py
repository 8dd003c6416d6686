"""One way to give a test package a lab: started fresh, or attached to a running one."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import urllib.request

import pytest


def scraping(agent_url: str) -> bool:
    """Whether the agent at ``agent_url`` has active scrape targets and all of them are up."""
    try:
        with urllib.request.urlopen(agent_url + "/api/v1/targets", timeout=3) as resp:  # nosec - the lab on 127.0.0.1
            active = (json.load(resp).get("data") or {}).get("activeTargets") or []
    except (OSError, ValueError):
        return False
    return bool(active) and all(t.get("health") == "up" for t in active)


def wait_until_scraping(client, timeout: float = 90):
    """Wait until every real agent of the lab scrapes its targets: a package that asserts a healthy
    fleet must not start while a new agent's first scrapes are still to come (TARGETS, INGEST)."""
    deadline = time.time() + timeout
    pending = [c for c, info in client.state["clusters"].items() if not info.get("synthetic")]
    while pending and time.time() < deadline:
        pending = [c for c in pending if not scraping(client.state["clusters"][c]["agent_url"])]
        if pending:
            time.sleep(0.5)
    if pending:
        pytest.fail("the agents of %s do not scrape their targets after %ss" % (", ".join(pending), timeout))


def lab_status(lab, cluster) -> dict:
    return lab.status()["clusters"][cluster]


def api_audit(lab, cluster, since: float = 0.0) -> list:
    """The lab API's audit log of ``cluster`` (its last requests: method, path, query, user, decision)
    from the epoch time ``since`` on."""
    import ssl  # pylint: disable=import-outside-toplevel
    api = json.loads((lab.workdir / "state.json").read_text())["api"]
    context = ssl.create_default_context(cafile=api["ca_cert"])
    with urllib.request.urlopen("%s?cluster=%s" % (api["audit_url"], cluster), context=context, timeout=30) as resp:
        return [e for e in json.load(resp)["items"] if e["time"] >= since]


def wait_for(predicate, timeout: float, what: str = "condition", interval: float = 0.5):
    """Poll ``predicate()`` until it returns something true; returns it. AssertionError on timeout."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))


def kube_core(lab, cluster):
    """A kubernetes CoreV1Api on the lab cluster (the unmodified client, the lab kubeconfig)."""
    from kubernetes import client, config  # pylint: disable=import-outside-toplevel
    api = config.new_client_from_config(config_file=os.path.join(lab.workdir, "kubeconfig"), context=cluster)
    return client.CoreV1Api(api)


def reset_pod(lab, cluster, timeout: float = 120):
    """Delete the agent pod (as ``kubectl delete pod`` does) and wait for the new one to be ready:
    restart count 0, the old container's log gone from the current log, process counters reset.
    Used to heal faults whose traces would otherwise show in the next run (RESTARTS counts the
    last 24 h, WAL-HEALTH reads the log of the last day)."""
    info = lab.state["clusters"][cluster]
    before = lab_status(lab, cluster)["pod_uid"]
    core = kube_core(lab, cluster)
    try:
        core.delete_namespaced_pod(info["pod"], info["namespace"], grace_period_seconds=5)
    finally:
        core.api_client.close()
    wait_for(lambda: lab_status(lab, cluster)["pod_uid"] != before and lab_status(lab, cluster)["pid"], timeout,
             what="a new pod of %s" % cluster)
    lab.wait_ready(cluster, timeout)
    wait_scraping(lab, cluster, timeout)


def wait_scraping(lab, cluster, timeout: float = 120):
    """Wait until a (new) agent scrapes its targets: before that INGEST is unknown ("no active
    scrape target"), which would read as a finding on a cluster that is meant to be clean."""
    wait_for(lambda: scraping(lab.state["clusters"][cluster]["agent_url"]), timeout, what="the agent of %s scraping its targets" % cluster)


def agent_metrics(agent_url: str, timeout: float = 10) -> dict:
    """name{labels} -> value of an agent's /metrics (labels kept verbatim); HTTPError unless 200."""
    with urllib.request.urlopen(agent_url + "/metrics", timeout=timeout) as resp:  # nosec - the lab on 127.0.0.1
        body = resp.read().decode()
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def agent_metric(agent_url: str, name: str) -> float:
    """Sum of every series of ``name`` on the agent's /metrics (0.0 when absent)."""
    return sum(v for k, v in agent_metrics(agent_url).items() if k == name or k.startswith(name + "{"))


def remote_write_lag(agent_url: str) -> float:
    """highest_timestamp_in_seconds - queue_highest_sent_timestamp_seconds (2.42 names): how many
    seconds the agent's remote write is behind its newest sample."""
    values = agent_metrics(agent_url)
    highest = values["prometheus_remote_storage_highest_timestamp_in_seconds"]
    sent = max(v for k, v in values.items() if k.startswith("prometheus_remote_storage_queue_highest_sent_timestamp_seconds{"))
    return highest - sent


def wait_remote_write_caught_up(lab, timeout: float = 90, bound: float = 10):
    """After a receiver fault: wait until every real agent's remote write is within ``bound``
    seconds of its newest sample again (RW-LAG of a healthy-fleet test that follows)."""
    clusters = [c for c, info in lab.state["clusters"].items() if not info.get("synthetic")]

    def caught_up():
        try:
            return all(remote_write_lag(lab.state["clusters"][c]["agent_url"]) <= bound for c in clusters)
        except (OSError, KeyError, ValueError):     # not answering yet, or no queue yet: not caught up
            return False
    wait_for(caught_up, timeout, interval=1, what="remote write catching up after the receiver came back")


def fresh_lab(prefix: str, reuse_env: str, clusters: int = 3):
    """Generator for a pytest fixture: a new ``LabClient`` (stopped afterwards), or the running lab
    whose workdir the environment variable ``reuse_env`` names (left running)."""
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus is not installed: run `make test` (it apt-installs it) or tests/scripts/bootstrap.sh")
    from labkit.client import LabClient  # pylint: disable=import-outside-toplevel

    reuse = os.environ.get(reuse_env)
    if reuse:
        yield LabClient.attach(reuse)
        return
    workdir = tempfile.mkdtemp(prefix=prefix)
    client = LabClient.up(workdir, clusters=clusters)
    try:
        wait_until_scraping(client)
        yield client
    finally:
        client.down()
        shutil.rmtree(workdir, ignore_errors=True)


def scraping_lab(prefix: str, cluster: str = "lab-1", pods: int | None = None, **lab_args):
    """Generator for a pytest fixture: a new one-cluster ``LabClient`` of ``lab_args`` (``shards``,
    ``replicas``, ``mode``, ``nodes``, ``agents_per_cluster``), yielded once every agent pod of
    ``cluster`` scrapes (and, given ``pods``, there are that many); stopped afterwards."""
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus is not installed: run `make test` (it apt-installs it) or tests/scripts/bootstrap.sh")
    from labkit.client import LabClient  # pylint: disable=import-outside-toplevel

    client = LabClient.up(tempfile.mkdtemp(prefix=prefix), clusters=1, **lab_args)
    try:
        wait_for(lambda: (pods is None or len(client.pods(cluster)) == pods)
                 and all(scraping(pod["agent_url"]) for pod in client.pods(cluster)), 90, what="every agent pod scraping")
        yield client
    finally:
        client.down()
