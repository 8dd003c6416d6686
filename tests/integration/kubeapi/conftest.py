"""Fixtures for the simulated Kubernetes API tests: kubectl and the kubernetes client against the lab.

They use the session ``lab`` fixture of tests/integration/conftest.py. While developing, set
KUBEAPI_TEST_WORKDIR to the workdir of any running lab (only its state.json and kubeconfig are
read; fault tests are skipped then).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab


class Kube:
    """The lab as the API tests see it."""

    def __init__(self, workdir, lab=None):
        self.workdir = str(workdir)
        self.lab = lab
        self.kubeconfig = os.path.join(self.workdir, "kubeconfig")
        self.cache_dir = tempfile.mkdtemp(prefix="kubectl-cache-")

    @property
    def state(self):
        """state.json, read fresh."""
        with open(os.path.join(self.workdir, "state.json"), encoding="utf-8") as handle:
            return json.load(handle)

    @property
    def real_clusters(self):
        """Names of the clusters with real processes."""
        return sorted(n for n, c in self.state["clusters"].items() if not c.get("synthetic"))

    @property
    def synthetic_clusters(self):
        """Names of the synthetic clusters."""
        return sorted(n for n, c in self.state["clusters"].items() if c.get("synthetic"))

    def kubectl(self, context, *args, check=True, timeout=120, stdin=None, binary=False):
        """Run kubectl against one context; returns the CompletedProcess."""
        argv = ["kubectl", "--kubeconfig", self.kubeconfig, "--cache-dir", self.cache_dir, "--context", context] + list(args)
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, input=stdin, check=False, text=not binary)
        if check and proc.returncode != 0:
            raise AssertionError("%s failed (%d): %s" % (" ".join(argv), proc.returncode, proc.stderr))
        return proc

    def fault(self, name, cluster, action="fault"):
        """Inject (or heal) a fault through the lab's control endpoint."""
        if self.lab is not None and hasattr(self.lab, action):
            return getattr(self.lab, action)(name, cluster)
        body = json.dumps({"name": name, "cluster": cluster}).encode()
        req = urllib.request.Request(self.state["control_url"] + "/" + action, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.loads(resp.read())

    def heal(self, name, cluster):
        """Take a fault back."""
        return self.fault(name, cluster, action="heal")

    def api_client(self, context):
        """A kubernetes.client.ApiClient for one context of the lab's kubeconfig."""
        from kubernetes import config  # pylint: disable=import-outside-toplevel
        return config.new_client_from_config(config_file=self.kubeconfig, context=context)


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
