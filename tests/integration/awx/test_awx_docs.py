"""The user documentation says what the code does: thresholds, check ids, role variables, links.

- every default threshold of the catalog (core/checks.py) is in docs/checks.md with its value;
- every check id of every cadence is in docs/checks.md;
- every variable of every role's argument spec is documented in docs/playbooks.md or docs/inventory.md;
- every relative link of README.md and docs/*.md points to a file that exists (and to a heading
  that exists, for links with an anchor).
"""

from __future__ import annotations

import importlib.util
import re

import pytest
import yaml

from awx_helpers import REPO_ROOT

DOCS = REPO_ROOT / "docs"
USER_DOCS = ["README.md"] + ["docs/%s" % p.name for p in sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# connection and placement variables, documented once in docs/inventory.md
INVENTORY_VARS = {"kubeconfig", "kube_context", "kube_host", "kube_api_key", "kube_ca_cert", "kube_validate_certs", "agent_namespace",
                  "agent_selector", "agent_pod", "agent_container", "agent_port", "agent_url", "agent_wal_path", "agent_thresholds"}


def _role_dirs():
    return sorted(p for p in (REPO_ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file())


def _yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _threshold_defaults():
    # the one catalog (THRESHOLDS in core/checks.py, which imports nothing); the roles add none
    spec = importlib.util.spec_from_file_location("fleetops_checks", str(REPO_ROOT / "plugins" / "module_utils" / "core" / "checks.py"))
    checks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checks)
    return dict(checks.DEFAULT_THRESHOLDS)


def test_checks_md_lists_every_default_threshold_with_its_value():
    thresholds = _threshold_defaults()
    assert thresholds, "the catalog holds no threshold"
    text = (DOCS / "checks.md").read_text(encoding="utf-8")
    missing = ["%s: %s" % (k, v) for k, v in sorted(thresholds.items()) if "| `%s` | `%s`" % (k, v) not in text]
    assert not missing, "docs/checks.md does not give these defaults: %s" % missing


def test_checks_md_lists_every_check_id():
    source = REPO_ROOT / "plugins" / "plugin_utils" / "fleet_checks.py"
    if not source.is_file():
        pytest.skip("no fleet_checks.py yet")
    block = re.search(r"CADENCE_CHECKS = \{(.*?)\n\}", source.read_text(encoding="utf-8"), re.S)
    assert block, "CADENCE_CHECKS not found in fleet_checks.py"
    ids = re.findall(r'"([A-Z][A-Z0-9-]+)"', block.group(1))
    text = (DOCS / "checks.md").read_text(encoding="utf-8")
    assert ids
    missing = [cid for cid in ids if "| `%s` |" % cid not in text]
    assert not missing, "docs/checks.md has no row for %s" % missing


def test_every_role_variable_is_documented():
    docs = (DOCS / "playbooks.md").read_text(encoding="utf-8") + (DOCS / "inventory.md").read_text(encoding="utf-8")
    missing = []
    for role in _role_dirs():
        specs = _yaml(role / "meta" / "argument_specs.yml")["argument_specs"]
        for entry in specs.values():
            for name in entry.get("options") or {}:
                if name.endswith("_thresholds") or name.startswith("_"):
                    continue
                if name in INVENTORY_VARS:
                    continue
                if "`%s`" % name not in docs:
                    missing.append("%s: %s" % (role.name, name))
    assert not missing, "role variables missing from docs/playbooks.md and docs/inventory.md: %s" % missing


def _anchors(path):
    anchors = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"#{1,6}\s+(.*)", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)
        anchors.update(re.findall(r'<a id="([^"]+)"', line))
    return anchors


def test_relative_links_resolve():
    broken = []
    for rel in USER_DOCS:
        page = REPO_ROOT / rel
        if not page.is_file():
            continue
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue
            file_part, _sep, anchor = target.partition("#")
            dest = (page.parent / file_part).resolve() if file_part else page
            if not dest.exists():
                broken.append("%s -> %s (no such file)" % (rel, target))
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append("%s -> %s (no such heading)" % (rel, target))
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_playbooks_md_gives_the_defaults_of_the_argument_specs():
    rows = {}
    for line in (DOCS / "playbooks.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        single = re.fullmatch(r"`([a-z0-9_]+)`", cells[0]) if len(cells) >= 3 else None
        if single:
            rows[single.group(1)] = cells[1]
    wrong = []
    for role in _role_dirs():
        for entry in _yaml(role / "meta" / "argument_specs.yml")["argument_specs"].values():
            for name, spec in (entry.get("options") or {}).items():
                default = spec.get("default")
                if name not in rows or default is None or isinstance(default, (list, dict)) or "{{" in str(default):
                    continue
                shown = str(default).lower() if isinstance(default, bool) else str(default)
                if shown not in rows[name]:
                    wrong.append("%s: %s documented as %s, the role says %r" % (role.name, name, rows[name], default))
    assert not wrong, "\n".join(wrong)
