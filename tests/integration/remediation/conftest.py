"""Fixtures of the remediation lab tests: the session lab's inventory, a healthy cluster to work
on, and a cluster without the remediation Lease."""

from __future__ import annotations

import os

import pytest

from lab_fixtures import wait_remote_write_caught_up  # pylint: disable=import-error
from remediation_helpers import drop_lease, pod_ready, lab_state, wait_until  # pylint: disable=import-error


@pytest.fixture(scope="module")
def inventory(lab):
    return os.path.join(lab.workdir, "inventory.yml")


@pytest.fixture
def cluster(lab):
    """A cluster that is healthy at the start of the test (the last real one): its pod Ready and every
    agent's remote write caught up (a queueConfig change of the test before re-creates the queue, which
    then lags for a while: the restart guard rightly refuses a restart then)."""
    name = sorted(c for c, v in lab_state(lab)["clusters"].items() if not v.get("synthetic"))[-1]
    wait_until(lambda: pod_ready(lab, name), 120, what="%s Ready before the test" % name)
    wait_remote_write_caught_up(lab)
    return name


@pytest.fixture
def clean_lease(lab, cluster):
    """No remediation Lease (nor change record) on the cluster before and after the test."""
    drop_lease(lab, cluster)
    yield
    drop_lease(lab, cluster)
