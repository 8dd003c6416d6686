"""Shared fixtures for the integration tests: one lab for the whole session.

``lab`` starts a 3-cluster lab (real Prometheus agents, a real receiver, the simulated
Kubernetes API) once per test session and stops it at the end. Set FLEETOPS_LAB_WORKDIR to the
workdir of a lab you started yourself (``tests/lab/fleetlab up --workdir DIR --clusters 3``) to
reuse it while developing; it is then left running.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "lab"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ansible_runner_helpers import collections_path  # noqa: E402  pylint: disable=wrong-import-position
from lab_fixtures import fresh_lab  # noqa: E402  pylint: disable=wrong-import-position

# tests that import the collection's Python (report, WAL helpers) find it as ansible_collections.*
sys.path.insert(0, str(collections_path()))

LAB_CLUSTERS = int(os.environ.get("FLEETOPS_LAB_CLUSTERS", "3"))


def pytest_configure(config):
    config.addinivalue_line("markers", "lab: needs the lab (real agents and the simulated Kubernetes API)")
    config.addinivalue_line("markers", "slow: takes more than 30 seconds")


@pytest.fixture(scope="session")
def lab():
    """The running lab: a ``labkit.client.LabClient``."""
    yield from fresh_lab("fleetops-lab-", "FLEETOPS_LAB_WORKDIR", clusters=LAB_CLUSTERS)


@pytest.fixture(scope="session")
def lab_inventory(lab):
    """Path of the lab's generated YAML inventory."""
    return os.path.join(lab.workdir, "inventory.yml")


@pytest.fixture(scope="session")
def lab_kubeconfig(lab):
    """Path of the lab's kubeconfig (one context per cluster)."""
    return os.path.join(lab.workdir, "kubeconfig")
