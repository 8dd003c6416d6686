"""Helpers of the AWX / ecosystem tests: the tools of the venv, and a clean copy of the collection.

pytest plugins (pytest-ansible) may set ANSIBLE_COLLECTIONS_PATH for the test process and leave a
``collections/`` symlink tree in the checkout; the tools run here get an environment without the
former, and the collection is built from a copy of what git lists, without the latter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = REPO_ROOT / ".venv" / "bin"


def tool(name: str) -> str:
    """The venv's copy of a command when there is one."""
    path = VENV_BIN / name
    if path.exists():
        return str(path)
    return shutil.which(name) or name


def tool_env(extra: dict | None = None) -> dict:
    """The environment for the tools: the venv first on PATH, no inherited collection path."""
    env = {k: v for k, v in os.environ.items() if k not in ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS")}
    env["PATH"] = "%s:%s" % (VENV_BIN, env.get("PATH", "/usr/bin:/bin"))
    env["ANSIBLE_NOCOLOR"] = "1"
    env.update(extra or {})
    return env


def clean_tree(dest: Path) -> Path:
    """Copy the files git lists (tracked, and untracked but not ignored) to ``dest``; return it."""
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=str(REPO_ROOT),
                            capture_output=True, check=True).stdout.decode("utf-8", "surrogateescape")
    for rel in filter(None, listed.split("\0")):
        if rel.split("/", 1)[0] == "collections":
            continue
        src = REPO_ROOT / rel
        if src.is_symlink() or not src.is_file():
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    return dest


def build_collection(output: Path, work: Path) -> Path:
    """``ansible-galaxy collection build`` of a clean copy; the path of the tarball."""
    tree = clean_tree(work / "src")
    subprocess.run([tool("ansible-galaxy"), "collection", "build", "--force", "--output-path", str(output), str(tree)],
                   check=True, capture_output=True, text=True, env=tool_env())
    return next(output.glob("fleetops-prometheus_agent-*.tar.gz"))


def install_collection(tarball: Path, colls: Path) -> Path:
    """Install the tarball under ``colls``; the collection's directory."""
    subprocess.run([tool("ansible-galaxy"), "collection", "install", "--offline", "--force", "-p", str(colls), str(tarball)],
                   check=True, capture_output=True, text=True, env=tool_env())
    return colls / "ansible_collections" / "fleetops" / "prometheus_agent"
