"""The fleet_report role with fleet_textfile_dir (issue 16 S10): the Prometheus text file goes to a
directory of its own for node_exporter's textfile collector, one file per cadence, each series
with a cadence label; the HTML and JSON stay in the report directory; the check ids of the
page link to the installed collection's docs/checks.md. A real ansible-playbook run of the role;
no lab: the clusters' results are host variables."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import yaml
from prometheus_client.parser import text_string_to_metric_families

from ansible_runner_helpers import run_playbook

PLAY = """
- name: Report the fleet
  hosts: fleet
  gather_facts: false
  roles:
    - role: fleetops.prometheus_agent.fleet_report
"""

RESULTS = {
    "prod-1": {"status": "ok", "facts": {"lag_seconds": 2.0},
               "checks": [{"id": "RW-LAG", "status": "ok", "value": 2.0, "threshold": {"warning": 60.0, "critical": 120.0},
                           "message": "remote write is 2 s behind"}]},
    "prod-2": {"status": "critical", "facts": {"lag_seconds": 300.0},
               "checks": [{"id": "RW-LAG", "status": "critical", "value": 300.0, "threshold": {"warning": 60.0, "critical": 120.0},
                           "message": "remote write is 300 s behind"}]},
}


def _inventory(tmp_path):
    hosts = {name: {"fleet_result": result} for name, result in RESULTS.items()}
    inventory = {"fleet": {"vars": {"ansible_connection": "local",
                                    "ansible_python_interpreter": "{{ ansible_playbook_python }}"},
                           "hosts": hosts}}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    return str(path)


def _run(tmp_path, cadence, report_dir):
    run = run_playbook(PLAY, _inventory(tmp_path), extra_vars={
        "fleet_cadences": [cadence], "fleet_report_dir": str(report_dir), "fleet_textfile_dir": str(tmp_path / "textfile"),
        "fleet_history_file": ""}, cwd=str(tmp_path))
    assert run.rc == 0, run.output[-5000:]
    return run


def test_textfile_dir_of_its_own(tmp_path):
    _run(tmp_path, "daily", tmp_path / "daily")
    _run(tmp_path, "weekly", tmp_path / "weekly")
    textfile = tmp_path / "textfile"
    # node_exporter's directory: only the text files, one per cadence (no HTML, JSON, nor a temporary file)
    assert sorted(p.name for p in textfile.iterdir()) == ["fleet-report-daily.prom", "fleet-report-weekly.prom"]
    for cadence in ("daily", "weekly"):
        assert sorted(p.name for p in (tmp_path / cadence).iterdir()) == ["fleet-report.html", "fleet-report.json", "fleet-report.md"]
        families = {f.name: f for f in text_string_to_metric_families((textfile / ("fleet-report-%s.prom" % cadence)).read_text())}
        status = {s.labels["cluster"]: s.value for s in families["fleet_cluster_status"].samples}
        assert status == {"prod-1": 0.0, "prod-2": 2.0}
        for family in families.values():
            assert {s.labels["cadence"] for s in family.samples} == {cadence}, family.name
    # the check ids link to their rows of the collection's docs/checks.md (a file:// URL that exists)
    html = (tmp_path / "daily" / "fleet-report.html").read_text()
    href = re.search(r'<a href="([^"]+)">RW-LAG</a>', html).group(1)
    page, anchor = href.split("#")
    path = Path(unquote(urlparse(page).path))
    assert page.startswith("file://") and path.name == "checks.md" and path.is_file()
    assert '<a id="%s"></a>' % anchor in path.read_text(encoding="utf-8")
    assert "300 s behind" in html and "5 min; warning above 60 s, critical above 2 min" in html
    doc = json.loads((tmp_path / "daily" / "fleet-report.json").read_text())
    assert doc["summary"]["critical_clusters"] == ["prod-2"]


def test_without_textfile_dir_the_file_is_beside_the_report(tmp_path):
    run = run_playbook(PLAY, _inventory(tmp_path), extra_vars={"fleet_report_dir": str(tmp_path / "r"), "fleet_history_file": ""},
                       cwd=str(tmp_path))
    assert run.rc == 0, run.output[-5000:]
    expected = ["fleet-report.html", "fleet-report.json", "fleet-report.md", "fleet-report.prom"]
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == expected
    assert 'fleet_cluster_status{cadence="daily",cluster="prod-2"} 2.0' in (tmp_path / "r" / "fleet-report.prom").read_text()
