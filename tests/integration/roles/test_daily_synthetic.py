"""The daily playbook on a lab of 200 synthetic clusters finishes, and reports every cluster.
Its wall time is written to tests/output/daily-synthetic.json."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from ansible_runner_helpers import run_playbook

pytestmark = [pytest.mark.lab, pytest.mark.slow]

SYNTHETIC = int(os.environ.get("FLEETOPS_SYNTHETIC", "200"))
OUTPUT = Path(__file__).resolve().parents[2] / "output"


def test_daily_on_synthetic_clusters(tmp_path):
    from labkit.client import LabClient  # pylint: disable=import-outside-toplevel
    workdir = tempfile.mkdtemp(prefix="fleetops-syn-lab-")
    lab = LabClient.up(workdir, clusters=1, synthetic=SYNTHETIC)
    try:
        inventory = os.path.join(workdir, "inventory.yml")
        started = time.monotonic()
        run = run_playbook("fleetops.prometheus_agent.daily", inventory,
                           extra_vars={"fleet_report_dir": str(tmp_path / "report"), "fleet_history_file": ""},
                           env={"ANSIBLE_FORKS": os.environ.get("FLEETOPS_FORKS", "20"), "ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops"},
                           timeout=3600, cwd=str(tmp_path))
        elapsed = time.monotonic() - started
        assert run.rc == 0, run.output[-5000:]
        doc = json.loads((tmp_path / "report" / "fleet-report.json").read_text())
        assert doc["summary"]["clusters"] == SYNTHETIC + 1
        checked = [n for n, c in doc["clusters"].items() if c["checks"]]
        assert len(checked) == SYNTHETIC + 1
        OUTPUT.mkdir(parents=True, exist_ok=True)
        (OUTPUT / "daily-synthetic.json").write_text(json.dumps({
            "clusters": SYNTHETIC + 1, "seconds": round(elapsed, 1), "summary": {k: doc["summary"][k] for k in ("ok", "warning", "critical", "unknown")},
        }, indent=1))
    finally:
        lab.down()
        shutil.rmtree(workdir, ignore_errors=True)
