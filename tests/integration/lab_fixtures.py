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
