"""A lab of its own for the check-role tests: they assert that healthy clusters are all ok, so they
need agents no other test restarted or broke (the session ``lab`` is shared with the remediation
tests). Set FLEETOPS_ROLES_LAB_WORKDIR to reuse a running 3-cluster lab while developing."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest


@pytest.fixture(scope="package")
def roles_lab():
    """A fresh 3-cluster lab for tests/integration/roles (a ``labkit.client.LabClient``)."""
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus is not installed: run `make test` (it apt-installs it) or tests/scripts/bootstrap.sh")
    from labkit.client import LabClient  # pylint: disable=import-outside-toplevel

    reuse = os.environ.get("FLEETOPS_ROLES_LAB_WORKDIR")
    if reuse:
        yield LabClient.attach(reuse)
        return
    workdir = tempfile.mkdtemp(prefix="fleetops-roles-lab-")
    client = LabClient.up(workdir, clusters=3)
    try:
        yield client
    finally:
        client.down()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="package")
def roles_inventory(roles_lab):
    """The YAML inventory of the roles' lab."""
    return os.path.join(roles_lab.workdir, "inventory.yml")


@pytest.fixture(scope="package")
def roles_kubeconfig(roles_lab):
    """The kubeconfig of the roles' lab."""
    return os.path.join(roles_lab.workdir, "kubeconfig")
