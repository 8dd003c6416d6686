"""A lab of its own for the check-role tests: they assert that healthy clusters are all ok, so they
need agents no other test restarted or broke (the session ``lab`` is shared with the remediation
tests). Set FLEETOPS_ROLES_LAB_WORKDIR to reuse a running 3-cluster lab while developing."""

from __future__ import annotations

import os

import pytest

from lab_fixtures import fresh_lab


@pytest.fixture(scope="package")
def roles_lab():
    """A fresh 3-cluster lab for tests/integration/roles (a ``labkit.client.LabClient``)."""
    yield from fresh_lab("fleetops-roles-lab-", "FLEETOPS_ROLES_LAB_WORKDIR")


@pytest.fixture(scope="package")
def roles_inventory(roles_lab):
    """The YAML inventory of the roles' lab."""
    return os.path.join(roles_lab.workdir, "inventory.yml")


@pytest.fixture(scope="package")
def roles_kubeconfig(roles_lab):
    """The kubeconfig of the roles' lab."""
    return os.path.join(roles_lab.workdir, "kubeconfig")
