"""BACKUP proves a restore on the lab: the monthly run starts a throwaway agent (Debian's
prometheus 2.42) from the exported configuration and flags. A backup that promtool passes but an
agent cannot start from (a CA file the running agent loaded, broken since) is critical; without a
prometheus binary on the controller BACKUP is unknown, not ok."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request

import pytest

from .test_weekly_monthly import _audit, _kubectl

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def _agent_resource(roles_kubeconfig, cluster):
    got = _kubectl(roles_kubeconfig, cluster, "-n", "monitoring", "get", "prometheusagents", "-o", "json")
    assert got.returncode == 0, got.stderr
    items = json.loads(got.stdout)["items"]
    assert items
    return items[0]


def _set_remote_write(roles_kubeconfig, cluster, name, remote_write):
    patch = json.dumps({"spec": {"remoteWrite": remote_write}})
    done = _kubectl(roles_kubeconfig, cluster, "-n", "monitoring", "patch", "prometheusagent", name, "--type=merge", "-p", patch)
    assert done.returncode == 0, done.stderr


def _running_config(roles_lab, cluster):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(roles_lab.agent_url(cluster) + "/api/v1/status/config", timeout=10) as response:
        return json.loads(response.read())["data"]["yaml"]


def _scratch_dirs():
    return {d for d in os.listdir("/tmp") if d.startswith("fleetops-restore-")}


def test_backup_restores_and_a_broken_backup_is_critical(roles_lab, roles_inventory, roles_kubeconfig, tmp_path):
    cluster = sorted(roles_lab.clusters)[0]
    before = _scratch_dirs()
    run, checks, _doc = _audit(roles_inventory, tmp_path, "monthly", cluster)
    assert run.rc == 0, run.output[-5000:]
    backup = checks["BACKUP"]
    assert (backup["status"], backup["value"]) == ("ok", "restored"), backup
    assert "a throwaway agent from the backup answered /-/ready" in backup["message"], backup
    assert _scratch_dirs() <= before          # the scratch directory is gone

    # no prometheus on the controller: unknown with that sentence, the export kept
    _run, checks, _doc = _audit(roles_inventory, tmp_path, "monthly", cluster,
                                extra={"fleet_backup_prometheus": "/nonexistent/prometheus"})
    assert checks["BACKUP"]["status"] == "unknown", checks["BACKUP"]
    assert "no prometheus binary on the controller: the restore is not proven" in checks["BACKUP"]["message"]

    # the running agent loads a CA file for its remote write; the file is broken afterwards (a bad
    # rotation): the agent runs on (its sends fail), promtool only sees that the file exists, a
    # restore fails
    ca_cert, ca_key = tmp_path / "ca.pem", tmp_path / "ca.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca_cert),
                    "-days", "1", "-subj", "/CN=fleetops-test-ca"], capture_output=True, check=True, timeout=60)
    good_ca = ca_cert.read_text()
    resource = _agent_resource(roles_kubeconfig, cluster)
    name, original = resource["metadata"]["name"], resource["spec"]["remoteWrite"]
    with_ca = [dict(original[0], tlsConfig={"caFile": str(ca_cert)})] + original[1:]
    _set_remote_write(roles_kubeconfig, cluster, name, with_ca)
    try:
        deadline = time.monotonic() + 60
        while "ca_file" not in _running_config(roles_lab, cluster):
            assert time.monotonic() < deadline, "the agent did not load the CA file"
            time.sleep(1)
        ca_cert.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
        _run, checks, _doc = _audit(roles_inventory, tmp_path, "monthly", cluster)
        backup = checks["BACKUP"]
        assert (backup["status"], backup["value"]) == ("critical", "restore failed"), backup
        assert "promtool check config" in backup["message"] and "passed" in backup["message"], backup
        assert "exited with 1 before it was ready: Failed to apply configuration: unable to use specified CA cert %s" % ca_cert \
            in backup["message"], backup
        day_dirs = list((tmp_path / "backups").iterdir())
        exported = (day_dirs[0] / cluster / "config.yml").read_text()
        assert str(ca_cert) in exported
    finally:
        # the running agent reads the CA again for its sends: with it broken, a reload waits out the
        # flush deadline; put the good one back first
        ca_cert.write_text(good_ca)
        removed = _kubectl(roles_kubeconfig, cluster, "-n", "monitoring", "patch", "prometheusagent", name, "--type=json",
                           "-p", json.dumps([{"op": "remove", "path": "/spec/remoteWrite/0/tlsConfig"}]))
        assert removed.returncode == 0, removed.stderr
        deadline = time.monotonic() + 120
        while "ca_file" in _running_config(roles_lab, cluster):
            assert time.monotonic() < deadline, "the agent kept the CA file"
            time.sleep(1)
    assert _agent_resource(roles_kubeconfig, cluster)["spec"]["remoteWrite"] == original
    assert _scratch_dirs() <= before
