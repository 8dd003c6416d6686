"""Fixtures for the simulated Kubernetes API tests: kubectl and the kubernetes client against the lab.

They use the session ``lab`` fixture of tests/integration/conftest.py. While developing, set
KUBEAPI_TEST_WORKDIR to the workdir of any running lab (only its state.json and kubeconfig are
read; fault tests are skipped then).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kube_helpers import Kube

pytestmark = pytest.mark.lab


@pytest.fixture(scope="session")
def kube(request):
    """The lab (a ``Kube``)."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    dev = os.environ.get("KUBEAPI_TEST_WORKDIR")
    if dev:
        return Kube(Path(dev))
    lab = request.getfixturevalue("lab")
    return Kube(lab.workdir, lab)


@pytest.fixture(scope="session")
def cluster(kube):
    """The first real cluster's name."""
    return kube.real_clusters[0]


@pytest.fixture(scope="session")
def client(kube, cluster):
    """An ApiClient for the first real cluster."""
    return kube.api_client(cluster)
