"""The merge of slice reports: the same report as one unsliced run, duplicates and missing slices named."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import policy as remediation
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import report
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import report_merge
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import run_verdict

REPO_ROOT = Path(__file__).resolve().parents[4]
SCHEMA = json.loads((REPO_ROOT / "docs" / "report-schema.json").read_text())
TEMPLATES = REPO_ROOT / "roles" / "fleet_report" / "templates"


def _result(status, lag):
    return {
        "checks": [
            {"id": "RW-LAG", "status": status, "value": lag, "threshold": {"warning": 60, "critical": 120}, "message": "lag %.0f s" % lag},
            {"id": "POD", "status": "ok", "value": "Running", "threshold": "Running and Ready", "message": "running"},
        ],
        "facts": {"lag_seconds": lag, "wal_bytes": 1000 + lag},
    }


FLEET = {"c%02d" % i: _result(("ok", "warning", "critical", "ok")[i % 4], float(i * 20)) for i in range(12)}
FLEET["c12"] = None  # a cluster whose checks did not run
MISSING = {"c12": "the host failed or was unreachable before its checks finished"}


def _write_slices(root, count, skip=()):
    """The reports of ``count`` slices (as AWX slices the inventory: every count-th host), except ``skip``."""
    names = sorted(FLEET)
    for number in range(1, count + 1):
        if number in skip:
            continue
        mine = names[number - 1::count]
        doc = report.build({n: FLEET[n] for n in mine}, "daily", planner=remediation.plan,
                           missing_reasons={n: MISSING[n] for n in mine if n in MISSING})
        doc["slice"] = report_merge.slice_record("job-%d" % (100 + number), number, count)
        jsonschema.validate(doc, SCHEMA)
        report.write_report(doc, str(root / ("slice-%d" % number)), str(TEMPLATES / "fleet-report.html.j2"), str(TEMPLATES / "fleet-report.md.j2"))


def _merged(root, expected=None, clusters=None):
    merged = report_merge.merge(report_merge.load(report_merge.find(str(root))), expected, clusters)
    doc = report.build(merged["results"], merged["cadence"], planner=remediation.plan, missing_reasons=merged["missing_reasons"])
    doc["slices"] = merged["slices"]
    return doc


def test_merged_slices_equal_one_unsliced_run(tmp_path):
    _write_slices(tmp_path, 3)
    merged = _merged(tmp_path, expected=0, clusters=sorted(FLEET))  # 0: the count the reports carry
    whole = report.build(FLEET, "daily", planner=remediation.plan, missing_reasons=MISSING)
    assert merged["clusters"] == whole["clusters"]  # check by check, facts, reasons, remediation
    assert merged["summary"] == whole["summary"]
    assert merged["slices"]["count"] == 3 and merged["slices"]["missing"] == [] and merged["slices"]["missing_count"] == 0
    assert [r["number"] for r in merged["slices"]["reported"]] == [1, 2, 3]
    jsonschema.validate(merged, SCHEMA)
    assert report_merge.missing_reason(merged["slices"]) is None
    # written by the one writer, all four files
    paths = report.write_report(merged, str(tmp_path / "out"), str(TEMPLATES / "fleet-report.html.j2"), str(TEMPLATES / "fleet-report.md.j2"))
    assert sorted(paths) == ["html", "json", "md", "prom"]
    assert "Merged from 3 slice reports of a run in 3 slices." in Path(paths["md"]).read_text()


def test_a_slice_that_did_not_report_is_named(tmp_path):
    _write_slices(tmp_path, 3, skip=(2,))
    merged = _merged(tmp_path, clusters=sorted(FLEET))
    slices = merged["slices"]
    assert slices["missing"] == [2] and slices["missing_count"] == 1
    lost = sorted(FLEET)[1::3]
    assert slices["unreported_clusters"] == lost
    for name in lost:
        assert merged["clusters"][name]["status"] == "unknown"
        assert merged["clusters"][name]["reason"] == "no slice report has this cluster (missing: slice 2 of 3)"
    reason = report_merge.missing_reason(slices)
    assert reason.startswith("slice 2 of 3 did not report; 4 clusters in no slice report: c01, c04, c07, c10")
    # the merge fails whatever fleet_fail_on says, on the clusters the slice should have reported
    verdict = report_merge.judge(run_verdict.decide({n: c["status"] for n, c in merged["clusters"].items()}, "never"), slices)
    assert verdict["fail"] and verdict["hosts"] == lost and verdict["reasons"] == [reason]
    html = report.render_template(str(TEMPLATES / "fleet-report.html.j2"), report.template_context(merged), autoescape=True)
    assert "Missing: slice 2</b>" in html


def test_missing_slices_by_count_without_numbers(tmp_path):
    _write_slices(tmp_path, 2)
    for number in (1, 2):
        path = tmp_path / ("slice-%d" % number) / "fleet-report.json"
        doc = json.loads(path.read_text())
        doc["slice"] = {"id": "job-%d" % number, "number": None, "count": None}
        path.write_text(json.dumps(doc))
    slices = _merged(tmp_path, expected=3)["slices"]
    assert slices["missing"] == [] and slices["missing_count"] == 1
    assert report_merge.missing_reason(slices) == "1 of 3 slices did not report (2 reports found)"
    assert _merged(tmp_path)["slices"]["missing_count"] == 0  # nothing says how many there were


def test_a_cluster_in_two_slices_is_an_error_naming_it(tmp_path):
    _write_slices(tmp_path, 2)
    first = json.loads((tmp_path / "slice-1" / "fleet-report.json").read_text())
    second_path = tmp_path / "slice-2" / "fleet-report.json"
    second = json.loads(second_path.read_text())
    second["clusters"]["c00"] = first["clusters"]["c00"]  # c00 is slice 1's
    second_path.write_text(json.dumps(second))
    with pytest.raises(ValueError, match=r"cluster c00 is in two slice reports, .*slice-1/fleet-report.json and .*slice-2/fleet-report.json"):
        _merged(tmp_path)


def test_a_slice_reported_twice_and_other_bad_input(tmp_path):
    _write_slices(tmp_path, 2)
    doc = json.loads((tmp_path / "slice-2" / "fleet-report.json").read_text())
    (tmp_path / "slice-2" / "fleet-report.json").write_text(json.dumps(dict(doc, slice=dict(doc["slice"], number=1))))
    with pytest.raises(ValueError, match="slice 1 reported twice"):
        _merged(tmp_path)
    (tmp_path / "slice-2" / "fleet-report.json").write_text(json.dumps(dict(doc, slice=dict(doc["slice"], number=5))))
    with pytest.raises(ValueError, match="is slice 5, outside 1..2"):
        _merged(tmp_path)
    (tmp_path / "slice-2" / "fleet-report.json").write_text(json.dumps(dict(doc, cadence="weekly")))
    with pytest.raises(ValueError, match="different cadences"):
        _merged(tmp_path)
    with pytest.raises(ValueError, match="fleet_merge_expected_slices is 4 but the slice reports say 2 slices"):
        _merged(tmp_path, expected=4)
    (tmp_path / "slice-2" / "fleet-report.json").write_text('{"clusters": {')
    with pytest.raises(ValueError, match="slice-2/fleet-report.json cannot be read"):
        _merged(tmp_path)
    with pytest.raises(ValueError, match="no slice report to merge"):
        report_merge.find(str(tmp_path / "slice-1"))
    with pytest.raises(ValueError, match="is not a directory"):
        report_merge.find(str(tmp_path / "nowhere"))


def test_reports_given_by_directory_or_file(tmp_path):
    _write_slices(tmp_path, 2)
    found = report_merge.find(None, [str(tmp_path / "slice-1"), str(tmp_path / "slice-2" / "fleet-report.json")])
    assert found == [str(tmp_path / "slice-1" / "fleet-report.json"), str(tmp_path / "slice-2" / "fleet-report.json")]
    # the same report named twice (an artifact and the merge directory) is read once
    assert len(report_merge.find(str(tmp_path), [str(tmp_path / "slice-1")])) == 2


def test_slice_record():
    assert report_merge.slice_record("123", 0, 0) is None  # AWX's job id alone: no slice
    assert report_merge.slice_record("", 2, 3) == {"id": "2", "number": 2, "count": 3}
    assert report_merge.slice_record("123", "", "3") == {"id": "123", "number": None, "count": 3}
