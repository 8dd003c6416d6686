"""The release list of the VERSION check (plugins/plugin_utils/releases.py), on the shipped file."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import yaml

from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import releases

SHIPPED = Path(__file__).resolve().parents[4] / "roles" / "monthly_check" / "files" / "prometheus-releases.yml"
TODAY = datetime.date(2026, 12, 3)


@pytest.fixture(name="shipped")
def fixture_shipped():
    return yaml.safe_load(SHIPPED.read_text())["releases"]


def test_the_shipped_file_is_valid(shipped):
    known = releases.normalize(shipped)
    assert (3, 13) in known and known[(3, 13)]["lts"]


def test_an_lts_past_its_end_of_support_is_critical(shipped):
    verdict = releases.judge("2.53.1", shipped, today=TODAY)
    assert verdict["status"] == "critical"
    assert verdict["reasons"] == ["its LTS support ended on 2025-07-31"]
    assert verdict["supported"] == ["3.13 LTS", "3.14"]


def test_a_superseded_minor_is_critical(shipped):
    verdict = releases.judge("v3.11.2", shipped, today=TODAY)
    assert verdict["status"] == "critical"
    assert "3.11 is not an LTS release and 3.14 is out" in verdict["reasons"][0]


def test_the_supported_ones_are_ok(shipped):
    assert releases.judge("3.13.2", shipped, today=TODAY)["status"] == "ok"
    assert releases.judge("3.14.0", shipped, today=TODAY)["status"] == "ok"
    # the same LTS before its end of support
    assert releases.judge("3.5.0", shipped, today=datetime.date(2026, 1, 1))["status"] == "ok"


def test_a_known_issue_is_named(shipped):
    # 3.10 is superseded (critical) and has the latency bug: both said
    verdict = releases.judge("3.10.0", shipped, today=TODAY)
    assert verdict["status"] == "critical"
    assert any("18214" in r for r in verdict["reasons"]), verdict


def test_extra_entries_replace_and_extend(shipped):
    extra = [{"cycle": "3.14", "known_issues": [{"severity": "critical", "versions": ["3.14.0"], "note": "banned here"}]},
             {"cycle": "3.15"}]
    merged = shipped + extra
    assert releases.judge("3.14.0", merged, today=TODAY)["status"] == "critical"  # superseded by 3.15, and banned
    assert releases.judge("3.15.1", merged, today=TODAY) == {"status": "ok", "reasons": [], "supported": ["3.13 LTS", "3.15"]}
    only_version = [{"cycle": "3.15", "known_issues": [{"severity": "warning", "versions": ["3.15.0"], "note": "a bad patch"}]}]
    assert releases.judge("3.15.1", only_version, today=TODAY)["status"] == "ok"
    assert releases.judge("3.15.0", only_version, today=TODAY)["status"] == "warning"


def test_newer_than_the_list_or_no_version_is_none(shipped):
    assert releases.judge("4.0.0", shipped, today=TODAY) is None
    assert releases.judge("garbage", shipped, today=TODAY) is None
    assert releases.judge("3.14.0", [], today=TODAY) is None


def test_a_cycle_the_list_does_not_name_is_a_superseded_non_lts(shipped):
    """The lab's Debian Prometheus 2.42."""
    verdict = releases.judge("2.42.0+ds", shipped, today=TODAY)
    assert verdict["status"] == "critical"
    assert verdict["reasons"] == ["2.42 is not an LTS release and 3.14 is out, so it is no longer supported"]


@pytest.mark.parametrize("entries, message", [
    (["3.1"], "entry 1 is not a mapping"),
    ([{"cycle": "three"}], "cycle 'three' is not MAJOR.MINOR"),
    ([{"cycle": "3.5", "lts": True, "eol": "July 2026"}], "is not a date"),
    ([{"cycle": "3.5", "known_issues": [{"severity": "fatal", "note": "x"}]}], "severity of warning or critical"),
    ([{"cycle": "3.5", "known_issues": "bad"}], "known_issues must be a list"),
])
def test_bad_lists_say_which_entry(entries, message):
    with pytest.raises(ValueError, match=message):
        releases.normalize(entries)
