"""The changelog stage of ``make test`` once a release is cut, and how development goes on from it.

The stage (``stage_changelog`` of tests/scripts/test.sh, run here as it is written there) lints
the fragments and changelogs/changelog.yaml and fails when CHANGELOG.rst is not what
``antsibull-changelog generate`` makes of changelog.yaml. The tests run it on the checkout and
on a copy of the release files in which development goes on: a fragment added after the release
passes, a broken one and a hand-edited CHANGELOG.rst fail, and the next release takes the new
fragment without touching the released version.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from awx.awx_helpers import REPO_ROOT, tool, tool_env

TEST_SH = REPO_ROOT / "tests" / "scripts" / "test.sh"


def _releases():
    data = yaml.safe_load((REPO_ROOT / "changelogs" / "changelog.yaml").read_text(encoding="utf-8")) or {}
    return data.get("releases") or {}


pytestmark = pytest.mark.skipif(not _releases(), reason="no release in changelogs/changelog.yaml yet")


def _stage_changelog(cwd):
    """``stage_changelog`` of tests/scripts/test.sh, taken from the script, run in ``cwd``."""
    script = TEST_SH.read_text(encoding="utf-8")
    function = re.search(r"^stage_changelog\(\) \{\n.*?^\}\n", script, re.M | re.S)
    assert function, "no stage_changelog in tests/scripts/test.sh"
    return subprocess.run(["bash", "-c", function.group(0) + "\nstage_changelog\n"], cwd=str(cwd), env=tool_env(),
                          capture_output=True, text=True, check=False, timeout=300)


@pytest.fixture
def tree(tmp_path):
    """The release files copied to ansible_collections/fleetops/prometheus_agent; the plugins linked."""
    dest = tmp_path / "ansible_collections" / "fleetops" / "prometheus_agent"
    dest.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "galaxy.yml", dest / "galaxy.yml")
    shutil.copy(REPO_ROOT / "CHANGELOG.rst", dest / "CHANGELOG.rst")
    shutil.copytree(REPO_ROOT / "changelogs", dest / "changelogs", ignore=shutil.ignore_patterns(".plugin-cache.yaml"))
    (dest / "changelogs" / "fragments").mkdir(exist_ok=True)
    for name in ("plugins", "roles", "playbooks", "meta", "README.md"):
        if (REPO_ROOT / name).exists():
            (dest / name).symlink_to(REPO_ROOT / name)
    return dest


def _fragment(tree, name, text):
    (tree / "changelogs" / "fragments" / name).write_text(text, encoding="utf-8")


def _section(changelog, version):
    """The text of one version's section of CHANGELOG.rst."""
    match = re.search(r"^v%s\n=+\n(.*?)(?=^v\d[^\n]*\n=+\n|\Z)" % re.escape(version), changelog, re.M | re.S)
    assert match, "no section v%s in CHANGELOG.rst" % version
    return match.group(1)


def test_stage_passes_on_the_checkout():
    proc = _stage_changelog(REPO_ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "CHANGELOG.rst is current" in proc.stdout


def test_fragment_added_after_the_release_passes_the_stage(tree):
    _fragment(tree, "later-fix.yml", '---\nbugfixes:\n  - "wal_inspect - a later fix, written after the release."\n')
    proc = _stage_changelog(tree)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "later fix" not in (tree / "CHANGELOG.rst").read_text(encoding="utf-8")


def test_broken_fragment_fails_the_stage(tree):
    _fragment(tree, "later-broken.yml", '---\nfixes:\n  - "wal_inspect - a section that config.yaml does not know."\n')
    proc = _stage_changelog(tree)
    assert proc.returncode != 0
    assert "later-broken.yml" in proc.stdout + proc.stderr


def test_hand_edited_changelog_fails_the_stage(tree):
    path = tree / "CHANGELOG.rst"
    path.write_text(path.read_text(encoding="utf-8").replace("Bugfixes\n--------\n", "Bugfixes\n--------\n\n- an entry added by hand.\n", 1),
                    encoding="utf-8")
    proc = _stage_changelog(tree)
    assert proc.returncode != 0
    assert "an entry added by hand" in proc.stdout
    assert "CHANGELOG.rst is not what antsibull-changelog generate makes" in proc.stderr


def test_next_release_takes_the_later_fragment_and_keeps_the_released_version(tree):
    released = sorted(_releases())[-1]
    before = _section((tree / "CHANGELOG.rst").read_text(encoding="utf-8"), released)
    _fragment(tree, "later-fix.yml", '---\nbugfixes:\n  - "wal_inspect - a later fix, written after the release."\n')
    proc = subprocess.run([tool("antsibull-changelog"), "release", "--version", "99.0.0", "--date", "2099-01-01"],
                          cwd=str(tree), env=tool_env({"ANSIBLE_COLLECTIONS_PATH": str(tree.parents[2])}),
                          capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    changelog = (tree / "CHANGELOG.rst").read_text(encoding="utf-8")
    assert "wal_inspect - a later fix, written after the release." in _section(changelog, "99.0.0")
    assert _section(changelog, released) == before
    assert not (tree / "changelogs" / "fragments" / "later-fix.yml").exists(), "the release keeps the fragment it used"
    proc = _stage_changelog(tree)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_entry_twice_in_a_release():
    for version, release in _releases().items():
        for section, entries in (release.get("changes") or {}).items():
            if not isinstance(entries, list):
                continue
            seen = [" ".join(entry.lower().split()) for entry in entries]
            twice = sorted({entry for entry in seen if seen.count(entry) > 1})
            assert not twice, "%s %s holds these entries twice: %s" % (version, section, twice)
