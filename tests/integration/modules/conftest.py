"""A lab of its own for the module tests: they assert that healthy clusters are all ok (no
restarts, no faults), so they need agents no other test restarted or broke. Set
FLEETOPS_MODULES_LAB_WORKDIR to reuse a running 3-cluster lab while developing."""

from __future__ import annotations

import pytest

from lab_fixtures import fresh_lab


@pytest.fixture(scope="package")
def lab():
    """A fresh 3-cluster lab for tests/integration/modules (overrides the session ``lab``)."""
    yield from fresh_lab("fleetops-modules-lab-", "FLEETOPS_MODULES_LAB_WORKDIR")
