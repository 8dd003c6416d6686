"""The execution environment: ``ansible-builder create`` makes a build context holding the collection.

Building the image needs a container engine (podman or docker), which the test machines lack, so
these tests stop at the build context and then run, outside a container, the one step of the
build that reads this collection: ansible-builder's own introspection script over the installed
collection (what the image build runs after ``ansible-galaxy collection install``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from awx_helpers import REPO_ROOT, build_collection, install_collection, tool, tool_env


def _requirement_lines(path):
    """Requirement lines of a pip or bindep file, comments and blank lines dropped."""
    lines = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = re.sub(r"(^|\s+)#.*$", "", line).strip()
        if line:
            lines.append(line)
    return lines


def _galaxy_version():
    return yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text(encoding="utf-8"))["version"]


@pytest.fixture(scope="module")
def ee_context(tmp_path_factory):
    """The collection tarball built into build/ next to a copy of the EE definition, and the context made from it."""
    work = tmp_path_factory.mktemp("ee")
    for name in ("execution-environment.yml", "requirements.txt", "bindep.txt"):
        shutil.copy(REPO_ROOT / name, work / name)
    build_collection(work / "build", work)
    proc = subprocess.run([tool("ansible-builder"), "create", "--file", str(work / "execution-environment.yml"),
                           "--context", str(work / "context"), "--output-filename", "Containerfile", "-v", "3"],
                          capture_output=True, text=True, check=False, env=tool_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return work, proc.stdout + proc.stderr


def test_meta_execution_environment_names_the_requirement_files():
    meta = yaml.safe_load((REPO_ROOT / "meta" / "execution-environment.yml").read_text(encoding="utf-8"))
    assert meta["version"] == 1
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}
    for name in meta["dependencies"].values():
        assert _requirement_lines(REPO_ROOT / name), "%s is empty" % name


def test_bindep_parses_and_keeps_build_tools_out_of_the_final_image():
    from bindep.depends import Depends  # pylint: disable=import-outside-toplevel

    depends = Depends((REPO_ROOT / "bindep.txt").read_text(encoding="utf-8"))
    runtime = {rule[0] for rule in depends.active_rules(["platform:rpm", "platform:centos", "platform:redhat"])}
    compile_time = {rule[0] for rule in depends.active_rules(["platform:rpm", "platform:centos", "compile"])}
    assert "gcc" not in runtime
    assert "gcc" in compile_time


def test_ee_definition_installs_the_version_of_galaxy_yml():
    definition = yaml.safe_load((REPO_ROOT / "execution-environment.yml").read_text(encoding="utf-8"))
    assert definition["version"] == 3
    tarball = "fleetops-prometheus_agent-%s.tar.gz" % _galaxy_version()
    names = [entry["name"] for entry in definition["dependencies"]["galaxy"]["collections"]]
    assert names == ["collections/" + tarball]
    assert [entry["src"] for entry in definition["additional_build_files"]] == ["build/" + tarball]
    assert definition["dependencies"]["python"] == "requirements.txt"
    assert definition["dependencies"]["system"] == "bindep.txt"


def test_build_context_holds_the_collection_and_its_requirements(ee_context):
    work, output = ee_context
    build = work / "context" / "_build"
    assert "No matches" not in output, output
    tarball = build / "collections" / ("fleetops-prometheus_agent-%s.tar.gz" % _galaxy_version())
    assert tarball.is_file(), output
    assert _requirement_lines(build / "requirements.txt") == _requirement_lines(REPO_ROOT / "requirements.txt")
    assert _requirement_lines(build / "bindep.txt") == _requirement_lines(REPO_ROOT / "bindep.txt")
    galaxy = yaml.safe_load((build / "requirements.yml").read_text(encoding="utf-8"))
    assert galaxy["collections"] == [{"name": "collections/" + tarball.name, "type": "file"}]

    containerfile = (work / "context" / "Containerfile").read_text(encoding="utf-8")
    assert "ansible-galaxy collection install" in containerfile
    assert "introspect" in containerfile
    assert "quay.io/centos/centos:stream9" in containerfile
    assert re.search(r"ansible-core>=2\.19", containerfile)
    # promtool for the RULES and BACKUP checks, after the system packages (tar) are installed
    assert containerfile.index("install-from-bindep") < containerfile.index("/promtool")


def test_introspection_of_the_installed_collection_finds_its_requirements(ee_context, tmp_path):
    """What the image build does after installing the collection: read meta/execution-environment.yml."""
    work, _output = ee_context
    build = work / "context" / "_build"
    tarball = build / "collections" / ("fleetops-prometheus_agent-%s.tar.gz" % _galaxy_version())
    colls = tmp_path / "colls"
    installed = install_collection(tarball, colls)
    for name in ("meta/execution-environment.yml", "requirements.txt", "bindep.txt"):
        assert (installed / name).is_file(), "%s is not in the collection artifact" % name

    proc = subprocess.run([sys.executable, str(build / "scripts" / "introspect.py"), "introspect", str(colls),
                           "--write-pip", str(tmp_path / "pip.txt"), "--write-bindep", str(tmp_path / "bindep.txt")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pip = _requirement_lines(tmp_path / "pip.txt")
    system = _requirement_lines(tmp_path / "bindep.txt")
    assert pip == _requirement_lines(REPO_ROOT / "requirements.txt")
    assert system == _requirement_lines(REPO_ROOT / "bindep.txt")
    assert "from collection fleetops.prometheus_agent" in (tmp_path / "pip.txt").read_text(encoding="utf-8")
