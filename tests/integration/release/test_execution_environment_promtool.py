"""The execution environment's promtool: a Debian package checked by its published SHA256.

``ansible-builder create`` makes the build context as docs/awx.md says (``context/Containerfile``);
its final stage downloads Debian's ``prometheus`` .deb, checks it with ``sha256sum -c`` against the
figure pinned in execution-environment.yml, and only then takes promtool out of it. No container
engine here, so the tests run that very RUN step of the generated Containerfile with ``/bin/sh``
on the .deb of this machine's package cache (or one ``apt-get download`` fetches): the pinned
figure must be the one Debian's archive index gives, the step must produce a promtool that
runs, and a .deb with another checksum must stop the step before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from awx.awx_helpers import REPO_ROOT, build_collection, tool, tool_env

APT_ARCHIVES = Path("/var/cache/apt/archives")


def _definition():
    return yaml.safe_load((REPO_ROOT / "execution-environment.yml").read_text(encoding="utf-8"))


def _build_args():
    """The ARG defaults of the promtool step, from execution-environment.yml."""
    args = {}
    for line in _definition()["additional_build_steps"]["append_final"]:
        match = re.match(r"ARG (PROMTOOL_\w+)=(\S+)$", line)
        if match:
            args[match.group(1)] = match.group(2)
    return args


@pytest.fixture(scope="module")
def containerfile(tmp_path_factory):
    """The Containerfile that ``ansible-builder create --output-filename Containerfile`` writes."""
    work = tmp_path_factory.mktemp("ee")
    for name in ("execution-environment.yml", "requirements.txt", "bindep.txt"):
        shutil.copy(REPO_ROOT / name, work / name)
    build_collection(work / "build", work)
    proc = subprocess.run([tool("ansible-builder"), "create", "--file", str(work / "execution-environment.yml"),
                           "--context", str(work / "context"), "--output-filename", "Containerfile"],
                          capture_output=True, text=True, check=False, env=tool_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path = work / "context" / "Containerfile"
    assert path.is_file(), "docs/awx.md names context/Containerfile: %s" % sorted(p.name for p in (work / "context").iterdir())
    return path.read_text(encoding="utf-8")


def _promtool_step(containerfile):
    steps = [line for line in containerfile.splitlines() if line.startswith("RUN ") and "sha256sum -c" in line]
    assert len(steps) == 1, "expected one RUN step that checks a sha256: %s" % steps
    return steps[0][len("RUN "):]


def _deb(tmp_path):
    """This machine's copy of the pinned .deb: the apt cache, else one ``apt-get download``."""
    name = _build_args()["PROMTOOL_DEB_URL"].rsplit("/", 1)[1]
    cached = APT_ARCHIVES / name
    if cached.is_file():
        return cached
    version = name.split("_")[1]
    if shutil.which("apt-get"):
        subprocess.run(["apt-get", "download", "prometheus=%s" % version], cwd=str(tmp_path),
                       capture_output=True, text=True, check=False, timeout=300)
        for candidate in sorted(tmp_path.glob("prometheus_*_amd64.deb")):
            return candidate
    pytest.skip("%s is neither in %s nor downloadable with apt-get" % (name, APT_ARCHIVES))
    return None


def _installed_package_version():
    if not shutil.which("dpkg-query"):
        return None
    proc = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "prometheus"], capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def _run_step(step, tmp_path, deb, sha256):
    """The Containerfile's RUN step under /bin/sh, its /tmp and /usr/local/bin moved into tmp_path."""
    (tmp_path / "tmp").mkdir(parents=True)
    (tmp_path / "bin").mkdir()
    command = step.replace("/tmp/", "%s/tmp/" % tmp_path).replace("/usr/local/bin/", "%s/bin/" % tmp_path)
    env = dict(os.environ, PROMTOOL_DEB_URL="file://%s" % deb, PROMTOOL_DEB_SHA256=sha256, PYCMD=sys.executable)
    proc = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, check=False, env=env, timeout=120)
    return proc, tmp_path / "bin" / "promtool"


def test_build_args_pin_a_debian_package_and_its_sha256():
    args = _build_args()
    assert re.fullmatch(r"https://deb\.debian\.org/debian/pool/main/p/prometheus/prometheus_[^/_]+_amd64\.deb", args["PROMTOOL_DEB_URL"])
    assert re.fullmatch(r"[0-9a-f]{64}", args["PROMTOOL_DEB_SHA256"])


def test_pinned_sha256_is_the_one_of_debians_archive_index():
    args = _build_args()
    name = args["PROMTOOL_DEB_URL"].rsplit("/", 1)[1]
    version = name.split("_")[1]
    if not shutil.which("apt-cache"):
        pytest.skip("no apt-cache on this machine")
    proc = subprocess.run(["apt-cache", "show", "prometheus=%s" % version], capture_output=True, text=True, check=False)
    if proc.returncode != 0 or "SHA256:" not in proc.stdout:
        pytest.skip("the apt index here has no prometheus %s" % version)
    records = [r for r in proc.stdout.split("\n\n") if re.search(r"^Architecture: amd64$", r, re.M)]
    assert records, proc.stdout
    assert re.search(r"^Filename: \S+/%s$" % re.escape(name), records[0], re.M), records[0]
    assert re.search(r"^SHA256: %s$" % args["PROMTOOL_DEB_SHA256"], records[0], re.M), records[0]


def test_containerfile_checks_the_deb_before_it_installs_promtool(containerfile):
    final = containerfile[containerfile.index("FROM base AS final"):]
    args = _build_args()
    assert "ARG PROMTOOL_DEB_SHA256=%s" % args["PROMTOOL_DEB_SHA256"] in final
    assert "ARG PROMTOOL_DEB_URL=%s" % args["PROMTOOL_DEB_URL"] in final
    step = _promtool_step(final)
    order = [step.index(part) for part in ('curl -fsSL -o /tmp/prometheus.deb "$PROMTOOL_DEB_URL"',
                                           'echo "$PROMTOOL_DEB_SHA256  /tmp/prometheus.deb" | sha256sum -c -',
                                           "/usr/local/bin/promtool &&",
                                           "/usr/local/bin/promtool --version")]
    assert order == sorted(order), step
    # after the system packages, before the image drops root
    assert final.index("install-from-bindep") < final.index(step) < final.index("USER 1000")
    assert "github.com/prometheus" not in containerfile, "a download without a pinned checksum is back"


def test_promtool_step_installs_a_promtool_that_runs(containerfile, tmp_path):
    deb = _deb(tmp_path)
    proc, promtool = _run_step(_promtool_step(containerfile), tmp_path / "run", deb, _build_args()["PROMTOOL_DEB_SHA256"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ": OK" in proc.stdout, proc.stdout
    version = _build_args()["PROMTOOL_DEB_URL"].rsplit("/", 1)[1].split("_")[1]
    assert "promtool, version %s" % version.split("-")[0] in proc.stdout + proc.stderr
    assert os.access(promtool, os.X_OK)
    assert not (tmp_path / "run" / "tmp" / "prometheus.deb").exists(), "the .deb is left in the image"
    if _installed_package_version() == version:
        # the same bytes as the promtool that dpkg installed here from that package
        installed = Path("/usr/bin/promtool").read_bytes()
        assert hashlib.sha256(promtool.read_bytes()).hexdigest() == hashlib.sha256(installed).hexdigest()


def test_promtool_step_stops_on_a_deb_with_another_sha256(containerfile, tmp_path):
    tampered = tmp_path / "prometheus.deb"
    tampered.write_bytes(_deb(tmp_path).read_bytes() + b"\0")
    proc, promtool = _run_step(_promtool_step(containerfile), tmp_path / "run", tampered, _build_args()["PROMTOOL_DEB_SHA256"])
    assert proc.returncode != 0
    assert "FAILED" in proc.stdout + proc.stderr
    assert not promtool.exists()


def test_promtool_step_stops_on_a_file_that_is_no_deb(containerfile, tmp_path):
    not_a_deb = tmp_path / "prometheus.deb"
    not_a_deb.write_bytes(b"<html>404 Not Found</html>\n")
    sha256 = hashlib.sha256(not_a_deb.read_bytes()).hexdigest()
    proc, promtool = _run_step(_promtool_step(containerfile), tmp_path / "run", not_a_deb, sha256)
    assert proc.returncode != 0
    assert "data.tar" in proc.stderr, proc.stderr
    assert not promtool.exists()
