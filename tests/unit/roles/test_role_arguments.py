"""The roles state each default once: what meta/argument_specs.yml documents as a default is what
the role uses (defaults/main.yml, or the ``| default(...)`` where a task reads the variable); the
connection variables are documented alike in every role that has agent_connection as dependency;
and no role carries a threshold (the catalog in core/checks.py holds them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from jinja2.nativetypes import NativeEnvironment

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import checks

ROLES = Path(__file__).resolve().parents[3] / "roles"
CONNECTION_ROLE = "agent_connection"
JINJA = NativeEnvironment()


def _yaml(path):
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None


def _dependencies(role):
    meta = _yaml(ROLES / role / "meta" / "main.yml") or {}
    names = [d["role"] if isinstance(d, dict) else d for d in meta.get("dependencies") or []]
    return [n.rsplit(".", 1)[-1] for n in names]


def _defaults(role):
    found = {}
    for name in _dependencies(role) + [role]:
        found.update(_yaml(ROLES / name / "defaults" / "main.yml") or {})
    return found


def _texts(role):
    """The YAML and templates of a role and of its dependencies, without the argument specs."""
    files = []
    for name in _dependencies(role) + [role]:
        for sub in ("defaults", "tasks", "templates", "vars"):
            files.extend(sorted((ROLES / name / sub).glob("*")))
    return "\n".join(f.read_text(encoding="utf-8") for f in files if f.is_file())


def _default_arguments(text, option):
    """Every X of ``option | default(X)`` in text (balanced parentheses)."""
    found = []
    for match in re.finditer(r"\b%s\s*\|\s*default\(" % re.escape(option), text):
        depth, start = 1, match.end()
        for pos in range(start, len(text)):
            depth += {"(": 1, ")": -1}.get(text[pos], 0)
            if depth == 0:
                found.append(text[start:pos].split(",")[0] if not text[start:pos].lstrip().startswith(("[", "{")) else text[start:pos])
                break
    return found


def _render(value, context):
    if isinstance(value, str) and "{{" in value:
        return JINJA.from_string(value).render(**context)
    return value


def _expression(text, context):
    return JINJA.from_string("{{ %s }}" % text).render(**context)


def _literal_context(role):
    return {k: v for k, v in _defaults(role).items() if not (isinstance(v, str) and "{{" in v)}


def _entry_points():
    for spec_file in sorted(ROLES.glob("*/meta/argument_specs.yml")):
        role = spec_file.parent.parent.name
        for entry, spec in (_yaml(spec_file)["argument_specs"] or {}).items():
            yield role, entry, spec


ENTRY_POINTS = list(_entry_points())


@pytest.mark.parametrize("role, entry, spec", ENTRY_POINTS, ids=["%s-%s" % (r, e) for r, e, _s in ENTRY_POINTS])
def test_documented_defaults_are_the_roles(role, entry, spec):
    defaults = _defaults(role)
    context = _literal_context(role)
    text = _texts(role)
    for option, doc in (spec.get("options") or {}).items():
        if "default" not in doc:
            continue
        documented = _render(doc["default"], context)
        if option in defaults:
            assert _render(defaults[option], context) == documented, (role, option, defaults[option], doc["default"])
            continue
        used = _default_arguments(text, option)
        assert used, "%s: %s documents a default (%r) that the role never applies" % (role, option, doc["default"])
        for argument in used:
            assert _expression(argument, context) == documented, (role, option, argument, doc["default"])


def test_the_default_arguments_are_found():
    text = "a: \"{{ fleet_x | default(10) }}\"\nb: \"{{ fleet_y | default((r | default('x')) ~ '/f') }}\"\nc: \"{{ z | default([1, 2]) }}\""
    assert _default_arguments(text, "fleet_x") == ["10"]
    assert _default_arguments(text, "fleet_y") == ["(r | default('x')) ~ '/f'"]
    assert _default_arguments(text, "z") == ["[1, 2]"]
    assert _expression("(r | default('x')) ~ '/f'", {}) == "x/f"


def test_the_connection_is_documented_alike_in_every_role_that_uses_it():
    connection = (ROLES / CONNECTION_ROLE / "defaults" / "main.yml").read_text(encoding="utf-8")
    read = set(re.findall(r"\{\{\s*([a-z_]+)\s*\|", connection)) | set(re.findall(r"\bif ([a-z_]+) is", connection))
    users = [r for r, _e, _s in ENTRY_POINTS if CONNECTION_ROLE in _dependencies(r)]
    assert sorted(set(users)) == ["daily_check", "monthly_check", "remediate", "weekly_check"]
    documented = None
    for role, entry, spec in ENTRY_POINTS:
        if role not in users or entry != "main":
            continue
        options = {k: v for k, v in spec["options"].items() if k in read}
        assert set(options) == read, (role, sorted(read - set(options)))
        documented = documented or options
        assert options == documented, role


def test_the_roles_carry_no_threshold():
    for path in ROLES.glob("*/defaults/main.yml"):
        defaults = _yaml(path) or {}
        for key, value in defaults.items():
            if key.endswith("_check_thresholds"):
                assert value == {}, (path, key, value)
        text = re.sub(r"(^|\s)#.*", "", path.read_text(encoding="utf-8"))   # the comments may name a threshold
        named = sorted(k for k in checks.CATALOG if re.search(r"\b%s\b" % k, text))
        assert not named, (path, named)


def test_the_daily_window_is_the_catalogs():
    spec = _yaml(ROLES / "daily_check" / "meta" / "argument_specs.yml")["argument_specs"]["checks"]["options"]
    assert spec["fleet_rw_min_window"]["default"] == checks.DEFAULT_THRESHOLDS["rw_min_window_seconds"]
