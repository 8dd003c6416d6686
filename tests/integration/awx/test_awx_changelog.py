"""The release procedure of docs/releasing.md works on the current tree.

``antsibull-changelog release`` runs on an installed copy of the collection (the fragments, which
the artifact leaves out, copied in): it must succeed, and the release must announce every module,
the inventory plugin, every role and every playbook, which catches a module without
``version_added`` and a role or playbook without its ``add object`` fragment.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from awx_helpers import REPO_ROOT, build_collection, install_collection, tool, tool_env


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    work = tmp_path_factory.mktemp("release")
    tree = install_collection(build_collection(work / "build", work), work / "colls")
    shutil.copy(REPO_ROOT / "galaxy.yml", tree / "galaxy.yml")
    shutil.rmtree(tree / "changelogs", ignore_errors=True)
    shutil.copytree(REPO_ROOT / "changelogs", tree / "changelogs", ignore=shutil.ignore_patterns(".plugin-cache.yaml"))
    version = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text(encoding="utf-8"))["version"]
    env = tool_env({"ANSIBLE_COLLECTIONS_PATH": str(work / "colls")})
    proc = subprocess.run([tool("antsibull-changelog"), "release", "--version", version, "--date", "2026-01-01"],
                          cwd=str(tree), env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lint = subprocess.run([tool("antsibull-changelog"), "lint-changelog-yaml", "changelogs/changelog.yaml"],
                          cwd=str(tree), env=env, capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    return (tree / "CHANGELOG.rst").read_text(encoding="utf-8"), yaml.safe_load((tree / "changelogs" / "changelog.yaml").read_text(encoding="utf-8"))


def _names(folder, pattern):
    return sorted(p.stem for p in (REPO_ROOT / folder).glob(pattern) if not p.name.startswith("_"))


def test_release_announces_every_module_and_plugin(released):
    changelog, data = released
    release = next(iter(data["releases"].values()))
    announced = sorted(m["name"] for m in release.get("modules", []))
    assert announced == _names("plugins/modules", "*.py"), "modules without version_added of this release? %s" % announced
    inventory = sorted(p["name"] for p in release.get("plugins", {}).get("inventory", []))
    assert inventory == _names("plugins/inventory", "*.py")
    for module in announced:
        assert "fleetops.prometheus_agent.%s - " % module in changelog


def test_release_announces_every_role_and_playbook(released):
    _changelog, data = released
    release = next(iter(data["releases"].values()))
    objects = release.get("objects", {})
    roles = sorted(p.name for p in (REPO_ROOT / "roles").iterdir() if p.is_dir()) if (REPO_ROOT / "roles").is_dir() else []
    assert sorted(r["name"] for r in objects.get("role", [])) == roles
    assert sorted(p["name"] for p in objects.get("playbook", [])) == _names("playbooks", "*.yml")
