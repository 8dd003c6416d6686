"""README's "Audit your own fleet", run as written: its fenced blocks, in order, in a fresh venv
(ansible-core at the pinned version, nothing else), HOME a temporary directory, the working
directory a `git archive HEAD` copy of the checkout, against the lab. Fails when the README drifts
from what the collection does."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import io
import time
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[3]
SECTION = "## Audit your own fleet"
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>\w*)\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)
# lab context -> the name the README's include pattern is meant for (the last must be excluded)
RENAMES = {"lab-1": "prod-lab-1", "lab-2": "staging-lab-2", "lab-3": "dev-lab-3"}
INCLUDED = ["prod-lab-1", "staging-lab-2"]


def readme_blocks():
    """(language, text) of every fenced block of the section, in order."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start:end if end != -1 else None]
    blocks = []
    for match in FENCE.finditer(section):
        indent = len(match.group("indent"))
        body = "\n".join(line[indent:] for line in match.group("body").splitlines())
        blocks.append((match.group("lang"), body))
    return blocks


def commands(body):
    """The command lines of a bash block (continuations joined, comments kept for bash to drop)."""
    return [line.strip() for line in body.replace("\\\n", " ").splitlines() if line.strip() and not line.strip().startswith("#")]


def pinned_ansible_core():
    for line in (REPO_ROOT / "requirements-dev.txt").read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("ansible-core"):
            return line.strip()
    raise AssertionError("requirements-dev.txt pins no ansible-core")


def test_readme_blocks_parse():
    """The section has the blocks the run below relies on: bash, the inventory YAML, bash."""
    langs = [block[0] for block in readme_blocks()]
    assert langs[:3] == ["bash", "yaml", "bash"], langs


@pytest.fixture(name="user")
def fixture_user(lab, lab_kubeconfig, tmp_path):
    """A new user's machine: fresh venv with ansible-core, HOME, a copy of the checkout."""
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    config = yaml.safe_load(Path(lab_kubeconfig).read_text(encoding="utf-8"))
    seen = [ctx["name"] for ctx in config["contexts"]]
    assert set(RENAMES) <= set(seen), seen
    for ctx in config["contexts"]:
        ctx["name"] = RENAMES.get(ctx["name"], ctx["name"])
    config["current-context"] = RENAMES.get(config.get("current-context"), config.get("current-context"))
    (home / ".kube" / "fleet.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(checkout, filter="data")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ANSIBLE_", "VIRTUAL_ENV", "PYTHON", "FLEETOPS_", "K8S_AUTH_"))}
    env.update(HOME=str(home), PATH="%s:%s" % (venv / "bin", env.get("PATH", "")),
               VIRTUAL_ENV=str(venv), KUBECONFIG=str(home / ".kube" / "fleet.yaml"))
    env.setdefault("PIP_CACHE_DIR", str(Path(os.environ.get("HOME", "/root")) / ".cache" / "pip"))
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", pinned_ansible_core()],
                   env=env, check=True, timeout=240)
    return {"env": env, "cwd": checkout, "home": home}


def run(user, command, timeout=300):
    proc = subprocess.run(["bash", "-c", command], cwd=user["cwd"], env=user["env"],
                          capture_output=True, text=True, timeout=timeout, check=False)
    return proc


def test_readme_audit_your_own_fleet(user):
    started = time.monotonic()
    blocks = readme_blocks()
    playbook_commands = []
    for lang, body in blocks:
        if lang == "yaml":
            first = body.splitlines()[0]
            assert first.startswith("# "), "the YAML block names its file on its first line: %r" % first
            (user["cwd"] / first[2:].strip()).write_text(body + "\n", encoding="utf-8")
            continue
        if lang != "bash":
            continue
        for command in commands(body):
            if command.startswith("ansible-playbook"):
                playbook_commands.append(command)
                continue
            proc = run(user, command)
            assert proc.returncode == 0, "README command failed: %s\n%s\n%s" % (command, proc.stdout[-3000:], proc.stderr[-3000:])

    inventory = user["cwd"] / "fleet.kubeconfig.yml"
    assert inventory.is_file()
    graph = run(user, "ansible-inventory -i fleet.kubeconfig.yml --graph")
    assert graph.returncode == 0, graph.stderr
    for name in INCLUDED:
        assert name in graph.stdout, graph.stdout
    assert "dev-lab-3" not in graph.stdout, graph.stdout
    assert "@prod:" in graph.stdout, graph.stdout

    daily = [c for c in playbook_commands if ".daily " in c + " "]
    weekly = [c for c in playbook_commands if "cadence=weekly" in c]
    assert daily and weekly, playbook_commands
    proc = run(user, daily[0])
    assert proc.returncode == 0, "%s\n%s\n%s" % (daily[0], proc.stdout[-4000:], proc.stderr[-3000:])

    reports = user["cwd"] / "reports"
    runs = sorted(p for p in reports.iterdir() if p.is_dir())
    assert runs, list(reports.iterdir())
    for ext in ("html", "md", "json", "prom"):
        assert (runs[-1] / ("fleet-report." + ext)).is_file(), ext
    report = json.loads((runs[-1] / "fleet-report.json").read_text(encoding="utf-8"))
    assert sorted(report["clusters"]) == sorted(INCLUDED), sorted(report["clusters"])
    for name, cluster in report["clusters"].items():
        # reached: the interpreter the inventory plugin sets has the kubernetes client (README step 1)
        assert cluster["status"] != "unknown", (name, cluster.get("reason"), cluster.get("errors"))
        assert cluster["checks"], name
        for check in cluster["checks"]:
            assert check.get("status") in ("ok", "warning", "critical", "unknown"), (name, check)
    assert (reports / "fleet-history.json").is_file()

    proc = run(user, weekly[0])
    assert proc.returncode == 0, "%s\n%s\n%s" % (weekly[0], proc.stdout[-4000:], proc.stderr[-3000:])
    assert time.monotonic() - started < 360
