"""A lab of its own for the module tests: they assert that healthy clusters are all ok (no
restarts, no faults), so they need agents no other test restarted or broke. Set
FLEETOPS_MODULES_LAB_WORKDIR to reuse a running 3-cluster lab while developing."""

from __future__ import annotations

import os

import pytest

from lab_fixtures import fresh_lab


@pytest.fixture(scope="package")
def lab():  # pylint: disable=redefined-outer-name
    """A fresh 3-cluster lab for tests/integration/modules (overrides the session ``lab``)."""
    yield from fresh_lab("fleetops-modules-lab-", "FLEETOPS_MODULES_LAB_WORKDIR")


@pytest.fixture(scope="package")
def lab_inventory(lab):  # pylint: disable=redefined-outer-name
    """The YAML inventory of this package's lab."""
    return os.path.join(lab.workdir, "inventory.yml")
