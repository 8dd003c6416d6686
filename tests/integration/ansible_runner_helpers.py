"""Run the real ansible / ansible-playbook against the lab, with this collection installed.

The collection is made importable as ``fleetops.prometheus_agent`` by a symlink in a temporary
``ansible_collections`` tree (never inside the repository, so nothing walks into a loop).
Results come back through the test-only ``result_dump`` callback, so tests assert on the real
task results while stdout stays what a user sees.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = REPO_ROOT / ".venv" / "bin"
CALLBACK_DIR = Path(__file__).resolve().parent / "plugins" / "callback"

_COLLECTIONS_BASE = None


def collections_path() -> Path:
    """A directory holding ansible_collections/fleetops/prometheus_agent -> the repository."""
    global _COLLECTIONS_BASE  # pylint: disable=global-statement
    if _COLLECTIONS_BASE is None:
        base = Path(tempfile.mkdtemp(prefix="fleetops-colls-"))
        link = base / "ansible_collections" / "fleetops" / "prometheus_agent"
        link.parent.mkdir(parents=True)
        link.symlink_to(REPO_ROOT)
        _COLLECTIONS_BASE = base
    return _COLLECTIONS_BASE


def ansible_env(extra: dict | None = None) -> dict:
    """The environment for ansible commands: the venv first on PATH, the collection found."""
    env = dict(os.environ)
    env["PATH"] = "%s:%s" % (VENV_BIN, env.get("PATH", ""))
    env["ANSIBLE_COLLECTIONS_PATH"] = str(collections_path())
    env["ANSIBLE_CALLBACK_PLUGINS"] = str(CALLBACK_DIR)
    env["ANSIBLE_CALLBACKS_ENABLED"] = "result_dump"
    env["ANSIBLE_HOST_KEY_CHECKING"] = "False"
    env["ANSIBLE_RETRY_FILES_ENABLED"] = "False"
    # localhost runs use the venv's Python (interpreter discovery may find a broken shim)
    env.setdefault("ANSIBLE_PYTHON_INTERPRETER", str(VENV_BIN / "python"))
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env.setdefault("ANSIBLE_FORKS", "10")
    env["PYTHONWARNINGS"] = "ignore"
    if extra:
        env.update(extra)
    return env


@dataclass
class AnsibleRun:
    """The outcome of one ansible or ansible-playbook process."""

    rc: int
    stdout: str
    stderr: str
    results: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    custom_stats: dict = field(default_factory=dict)

    def for_host(self, host: str, task: str | None = None) -> list:
        """Results of one host (optionally of one task, by name)."""
        return [r for r in self.results if r["host"] == host and (task is None or r["task"] == task)]

    def result(self, host: str, task: str | None = None) -> dict:
        """The last result of a host (optionally of one task): the thing most tests want."""
        found = self.for_host(host, task)
        assert found, "no result for host %s task %s in:\n%s\n%s" % (host, task, self.stdout[-3000:], self.stderr[-3000:])
        return found[-1]["result"]

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _run(cmd: list, env_extra: dict | None, timeout: int, cwd: str | None) -> AnsibleRun:
    with tempfile.NamedTemporaryFile(prefix="fleetops-results-", suffix=".json", delete=False) as handle:
        dump = handle.name
    env = ansible_env(extra=env_extra)
    env["FLEETOPS_RESULT_DUMP"] = dump
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False)
        data = {}
        if os.path.getsize(dump):
            with open(dump, encoding="utf-8") as handle:
                data = json.load(handle)
    finally:
        os.unlink(dump)
    return AnsibleRun(proc.returncode, proc.stdout, proc.stderr, data.get("results", []), data.get("stats", {}), data.get("custom", {}))


def run_module(module: str, args: dict, host: str = "localhost", inventory: str | None = None,
               check: bool = False, verbosity: int = 0, env: dict | None = None, timeout: int = 300) -> AnsibleRun:
    """``ansible HOST -m fleetops.prometheus_agent.MODULE -a JSON``; ``module`` may be short."""
    fqcn = module if "." in module else "fleetops.prometheus_agent." + module
    cmd = [str(VENV_BIN / "ansible"), host, "-m", fqcn, "-a", json.dumps(args)]
    if inventory:
        cmd += ["-i", str(inventory)]
    else:
        cmd += ["-i", "localhost,", "-c", "local"]
    if check:
        cmd.append("--check")
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    extra = {"ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"}
    extra.update(env or {})
    return _run(cmd, extra, timeout, None)


def run_playbook(playbook, inventory=None, extra_vars: dict | None = None, check: bool = False, diff: bool = False,
                 limit: str | None = None, verbosity: int = 0, env: dict | None = None, timeout: int = 900,
                 cwd: str | None = None) -> AnsibleRun:
    """``ansible-playbook``. ``playbook`` is a path, an FQCN playbook name, or YAML text."""
    text = str(playbook)
    tmp = None
    if "\n" in text:
        with tempfile.NamedTemporaryFile("w", prefix="fleetops-play-", suffix=".yml", delete=False) as handle:
            handle.write(text)
            tmp = text = handle.name
    cmd = [str(VENV_BIN / "ansible-playbook"), text]
    cmd += ["-i", str(inventory)] if inventory else ["-i", "localhost,", "-c", "local"]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if limit:
        cmd += ["--limit", limit]
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    try:
        return _run(cmd, env, timeout, cwd)
    finally:
        if tmp:
            os.unlink(tmp)


def play_recap(stdout: str) -> dict:
    """{host: {ok: n, changed: n, failed: n, ...}} from the PLAY RECAP of ``stdout`` (runs without
    the result_dump callback have no stats of their own)."""
    recap = {}
    for line in stdout.split("PLAY RECAP")[-1].splitlines():
        match = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
        if match:
            recap[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return recap
