"""core/checks.py's threshold catalog: the only place a threshold is defined, read by every evaluator
of the collection, and the source of docs/checks.md's threshold table."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import checks
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import fleet_checks as fc

REPO = Path(__file__).resolve().parents[4]
# a threshold read from the merged dictionary: th['key'], th.get('key'), judge(..., 'key', ...)
READ = re.compile(r"""\bth(?:\[|\.get\()\s*['"]([a-z0-9_]+)['"]""")
JUDGED = re.compile(r"""_checks\.judge\(.*?\bth,([^)]*)\)""")
KEY = re.compile(r"""['"]([a-z0-9_]+)['"]""")
# the older name of memory_critical_ratio, still honoured by MEMORY when a user gives it
LEGACY_KEYS = {"memory_critical"}


def _generator():
    spec = importlib.util.spec_from_file_location("generate_checks_table", str(REPO / "docs" / "generate_checks_table.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_entry_is_complete_and_its_key_unique():
    keys = [entry.key for entry in checks.THRESHOLDS]
    assert len(keys) == len(set(keys))
    every_check = {cid for ids in fc.CADENCE_CHECKS.values() for cid in ids}
    for entry in checks.THRESHOLDS:
        assert entry.check in every_check, entry
        assert entry.unit in checks.UNITS, entry
        assert entry.description and not entry.description.endswith("."), entry
        assert isinstance(entry.default, str if entry.unit == "version" else (int, float)), entry


def test_the_defaults_are_the_catalog():
    assert checks.DEFAULT_THRESHOLDS == {entry.key: entry.default for entry in checks.THRESHOLDS}
    assert set(checks.CATALOG) == set(checks.DEFAULT_THRESHOLDS)
    # the evaluators' thresholds are the catalog's, nothing added elsewhere
    assert fc.thresholds() == checks.DEFAULT_THRESHOLDS
    assert not hasattr(fc, "LOCAL_DEFAULTS")


def test_warning_and_critical_of_a_check_compare_the_same_way():
    by_pair = {}
    for entry in checks.THRESHOLDS:
        stem = re.sub(r"_(warning|critical)(_days|_seconds)?$", "", entry.key)
        if stem != entry.key:
            by_pair.setdefault(stem, []).append(entry)
    for stem, entries in by_pair.items():
        assert len({(e.above, e.inclusive, e.unit) for e in entries}) == 1, (stem, entries)


def test_every_threshold_the_code_reads_is_in_the_catalog():
    read = set()
    for path in (REPO / "plugins").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        read.update(READ.findall(text))
        for call in JUDGED.findall(text):
            read.update(KEY.findall(call))
    assert read, "no threshold read found: the pattern no longer matches the code"
    assert read - LEGACY_KEYS <= set(checks.CATALOG), sorted(read - LEGACY_KEYS - set(checks.CATALOG))


@pytest.mark.parametrize("value, expected", [(0.9951, "ok"), (0.995, "ok"), (0.994, "warning"), (0.98, "critical"),
                                             (None, "unknown")])
def test_judge_compares_as_the_catalog_says_below(value, expected):
    th = checks.merge_thresholds({})
    assert checks.judge(value, th, "rw_success_warning", "rw_success_critical") == expected


def test_judge_inclusive_and_one_sided():
    th = checks.merge_thresholds({"wal_trend_warning_days": "7"})
    assert th["wal_trend_warning_days"] == 7
    assert checks.judge(7, th, "wal_trend_warning_days", "wal_trend_critical_days") == "warning"
    assert checks.judge(7.01, th, "wal_trend_warning_days", "wal_trend_critical_days") == "ok"
    assert checks.judge(1, th, "wal_trend_warning_days", "wal_trend_critical_days") == "critical"
    assert checks.judge(1, th, warning="ooo_warning") == "warning"
    assert checks.judge(0, th, warning="ooo_warning") == "ok"
    assert checks.judge(0.0, th, critical="ingest_critical") == "critical"


def test_user_values_go_over_the_catalog():
    th = fc.thresholds({"rw_lag_warning": "30", "uptime_warning": 0.99, "version_min_supported": "2.40.0", "none": None})
    assert th["rw_lag_warning"] == 30 and th["uptime_warning"] == 0.99 and th["version_min_supported"] == "2.40.0"
    assert th["rw_lag_critical"] == checks.CATALOG["rw_lag_critical"].default and "none" not in th


def test_docs_checks_md_has_the_catalog_table():
    generator = _generator()
    page = (REPO / "docs" / "checks.md").read_text(encoding="utf-8")
    assert generator.updated_page(page, generator.render(checks)) == page, \
        "docs/checks.md's threshold table differs from core/checks.py: run python docs/generate_checks_table.py"
    for entry in checks.THRESHOLDS:
        assert "| `%s` | `%s` |" % (entry.check, entry.key) in page


def test_the_table_changes_with_the_catalog():
    generator = _generator()
    page = (REPO / "docs" / "checks.md").read_text(encoding="utf-8")
    changed = checks.Threshold("rw_lag_warning", "RW-LAG", 61.0, "seconds", "newest appended minus newest sent")

    class Edited:
        THRESHOLDS = tuple(changed if e.key == "rw_lag_warning" else e for e in checks.THRESHOLDS)

    assert generator.updated_page(page, generator.render(Edited)) != page
