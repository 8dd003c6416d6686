"""The kubeapi tests' handle on a lab: kubectl and the Python client against one cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request


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


# ------------------------------------------------------------------ the agent's side of the monitors
def agent_pools(lab, cluster):
    """{scrape pool: [health, ...]} of the active targets of the first agent pod of ``cluster``."""
    with urllib.request.urlopen(lab.pods(cluster)[0]["agent_url"] + "/api/v1/targets", timeout=10) as resp:
        active = json.load(resp)["data"]["activeTargets"]
    out = {}
    for item in active:
        out.setdefault(item["scrapePool"], []).append(item["health"])
    return out


def agent_config_yaml(lab, cluster):
    """The configuration the first agent pod of ``cluster`` runs (``/api/v1/status/config``)."""
    with urllib.request.urlopen(lab.pods(cluster)[0]["agent_url"] + "/api/v1/status/config", timeout=10) as resp:
        return json.load(resp)["data"]["yaml"]


def agent_status_module(lab, cluster, namespace):
    """The return of the agent_status module (its own process) for ``cluster``."""
    from ansible_runner_helpers import run_module  # pylint: disable=import-outside-toplevel,import-error
    run = run_module("agent_status", {"kubeconfig": str(lab.workdir / "kubeconfig"), "context": cluster, "namespace": namespace},
                     env={"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops", "ANSIBLE_PYTHON_INTERPRETER": sys.executable})
    assert run.rc == 0, run.output[-3000:]
    return json.loads(run.stdout[run.stdout.index("{"):])
