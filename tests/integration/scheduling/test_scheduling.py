"""The bastion recipes of docs/scheduling.md (issue 16, scheduling): the systemd service + timer
pass ``systemd-analyze verify`` (where it exists), the cron line runs the same command as the
service, and that command, with the paths of this machine put in, audits the lab and ends with
the exit status the recipe promises (non-zero when a cluster is critical or every cluster is
unknown)."""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_runner_helpers import VENV_BIN, ansible_env

pytestmark = [pytest.mark.lab]

RECIPES = Path(__file__).resolve().parents[3] / "docs" / "scheduling"
SERVICE = RECIPES / "fleetops-audit.service"
TIMER = RECIPES / "fleetops-audit.timer"
CRON = RECIPES / "fleetops-audit.cron"


def _unit(path):
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(path.read_text())
    return parser


def _service_command():
    return _unit(SERVICE)["Service"]["ExecStart"]


def _cron_command():
    lines = [line for line in CRON.read_text().splitlines() if line.strip() and not line.startswith("#") and "=" not in line.split()[0]]
    assert len(lines) == 1, lines
    fields = lines[0].split(None, 6)
    assert fields[:5] == ["0", "6", "*", "*", "*"], fields
    assert fields[5] == "fleetops", "an /etc/cron.d line names its user"
    command = fields[6]
    match = re.match(r"^cd (\S+) && (.*?) > \S+ 2>&1$", command)
    assert match, command
    assert match.group(1) == _unit(SERVICE)["Service"]["WorkingDirectory"]
    return match.group(2)


def test_cron_runs_the_command_of_the_service():
    assert _cron_command() == _service_command()


def test_timer_starts_the_service_daily():
    timer = _unit(TIMER)["Timer"]
    assert timer["OnCalendar"].startswith("*-*-* 06:00")
    assert timer["Persistent"] == "true"
    assert _unit(TIMER)["Install"]["WantedBy"] == "timers.target"


def _localised(text, tmp_path, inventory):
    return (text.replace("/opt/fleetops/venv/bin", str(VENV_BIN))
            .replace("/etc/fleetops/fleet.kubeconfig.yml", str(inventory))
            .replace("/var/lib/fleetops", str(tmp_path / "state")))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_units_pass_systemd_analyze_verify(tmp_path):
    units = tmp_path / "units"
    units.mkdir()
    for path in (SERVICE, TIMER):
        (units / path.name).write_text(path.read_text().replace("/opt/fleetops/venv/bin", str(VENV_BIN)))
    proc = subprocess.run(["systemd-analyze", "verify", str(units / TIMER.name), str(units / SERVICE.name)],
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the User= of the recipe does not exist here: anything else is a real problem
    complaints = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip() and "fleetops" not in line.split(":")[-1]]
    assert not complaints, complaints


def test_the_recipe_command_audits_the_lab(lab, lab_inventory, tmp_path):
    (tmp_path / "state").mkdir()
    argv = shlex.split(_localised(_service_command(), tmp_path, lab_inventory))
    env = ansible_env({"ANSIBLE_CALLBACK_PLUGINS": "/nonexistent-fleetops"})
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    proc = subprocess.run(argv, cwd=str(tmp_path / "state"), env=env, capture_output=True, text=True, check=False, timeout=900)
    reports = sorted((tmp_path / "state" / "reports").glob("*/fleet-report.json"))
    assert reports, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(reports[-1].read_text())["summary"]
    should_fail = summary["critical"] > 0 or summary["unknown"] == summary["clusters"]
    assert (proc.returncode != 0) == should_fail, (proc.returncode, summary, proc.stdout[-3000:], proc.stderr[-2000:])
