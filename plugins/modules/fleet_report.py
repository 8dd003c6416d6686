#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the fleet_report action (the work is done by the action plugin)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_report
short_description: Write the fleet report (JSON, Markdown, HTML, Prometheus text) on the controller
version_added: 0.1.0
author:
  - fleetops maintainers (@fleetops)
description:
  - Collects the per-cluster result (the C(fleet_result) variable set by the check roles) of every
    host of the play and writes C(fleet-report.json), C(fleet-report.md), C(fleet-report.html) and
    C(fleet-report.prom) to one directory on the controller.
  - The JSON follows C(docs/report-schema.json). A host without a result (it failed, or was unreachable)
    is reported with status C(unknown) and the reason.
  - Secrets never reach the report, keys that name one are dropped and URL credentials are masked.
  - Runs as an action plugin on the controller; use it once per play (C(run_once)).
extends_documentation_fragment:
  - fleetops.prometheus_agent.attributes
options:
  cadence:
    description: The cadence or cadences the report covers (a list or a comma-separated string).
    type: raw
    default: daily
  dest:
    description: Directory to write to; made when missing. Default C(reports/<UTC timestamp>) under the current directory.
    type: path
  hosts:
    description: The inventory hosts to report; default every host of the play (C(ansible_play_hosts_all)).
    type: list
    elements: str
  result_var:
    description: The host variable holding each cluster's result.
    type: str
    default: fleet_result
  history_file:
    description:
      - A JSON file where each report appends per-cluster figures (WAL size, volume use, active series,
        version); the weekly checks read it for WAL-TREND and SERIES.
    type: path
  fail_on:
    description:
      - Sets RV(should_fail) when a cluster is C(critical) (V(critical)), C(warning) or worse (V(warning)),
        or C(unknown), C(warning) or C(critical) (V(unknown)), and lists those clusters in RV(failing_hosts).
      - The module itself never fails for a finding; the C(fleet_report) role fails exactly the
        hosts of RV(failing_hosts), so the clusters that caused it show C(failed) in PLAY RECAP and AWX.
    type: str
    choices: [never, critical, warning, unknown]
    default: never
  fail_unknown_ratio:
    description:
      - Whatever O(fail_on) says, RV(should_fail) is true when every cluster is C(unknown), or more
        than this fraction of them (wrong credentials, a broken interpreter or a dead API for the
        whole fleet must not end as a green run); those clusters are in RV(failing_hosts).
      - The default V(1.0) fails only when every cluster is unknown; above V(1) the rule is off.
    type: float
    default: 1.0
  html_template:
    description: A Jinja2 template for the HTML page instead of the role's C(templates/fleet-report.html.j2).
    type: path
  md_template:
    description: A Jinja2 template for the Markdown instead of the role's C(templates/fleet-report.md.j2).
    type: path
  remediation:
    description: Add, per cluster, what the remediation role would do about its findings (a plan; nothing is done).
    type: bool
    default: true
  textfile_dir:
    description:
      - A directory of its own for node_exporter's textfile collector (C(--collector.textfile.directory)); the
        Prometheus text file goes there as C(fleet-report-<cadence>.prom) (one file per cadence) instead of
        C(fleet-report.prom) beside the other files, so the collector never reads HTML or JSON.
      - The file is written with prometheus_client's C(write_to_textfile), a temporary file renamed over the old one,
        so the collector never reads half a file. Every series has a C(cadence) label.
      - Made when missing. Default none, the file is written beside the report.
    type: path
  checks_doc:
    description:
      - Where the check ids of the HTML and Markdown report link to, each to its row (anchor C(check-<id>)) of the
        check catalog, for example the URL of C(docs/checks.md) on your documentation site.
      - Default the C(docs/checks.md) of the installed collection (a C(file://) URL).
    type: str
  slice:
    description:
      - Which slice of a sliced run this report is (AWX job slicing, or C(--limit) runs on disjoint parts of one
        inventory); recorded as C(slice) in the JSON so that a merge (O(merge_dir)) finds the slices that did not report.
      - C(id) tells the slices apart (for example AWX's C(awx_job_id)); C(number) is 1..C(count) when the slice knows it.
    type: dict
    suboptions:
      id:
        description: What tells this slice from the others.
        type: str
      number:
        description: The slice's number, 1..O(slice.count).
        type: int
      count:
        description: How many slices the run has.
        type: int
  merge_dir:
    description:
      - Merge mode. Every C(*/fleet-report.json) under this directory is a slice report; the clusters of all of them
        make one report written to O(dest) (the history is not touched, each slice kept its own clusters').
      - A cluster in two slice reports fails the task, naming it. O(hosts) are the clusters expected (the inventory);
        one in no report is C(unknown) (no slice report has this cluster). A slice that did not report (a number of
        1..count that no report carries, or fewer reports than O(expected_slices)) sets RV(should_fail) and is named in RV(fail_reasons).
    type: path
  merge_reports:
    description: Merge mode, with these slice reports (files, or directories holding C(fleet-report.json)) in addition to O(merge_dir).
    type: list
    elements: path
  expected_slices:
    description: In merge mode, how many slices the run had; default the C(count) of the slice reports' C(slice) records.
    type: int
attributes:
  check_mode:
    description: The report is written in check mode too; it changes nothing in the clusters.
    support: full
notes:
  - Writes files on the controller only.
"""

EXAMPLES = r"""
- name: Write the fleet report
  fleetops.prometheus_agent.fleet_report:
    cadence: daily
    dest: /var/lib/fleetops/reports/today
    fail_on: critical
    # node_exporter --collector.textfile.directory=/var/lib/node_exporter/textfile
    textfile_dir: /var/lib/node_exporter/textfile
  run_once: true
  delegate_to: localhost
  register: fleet_report_result
"""

RETURN = r"""
report_dir:
  description: The directory the files were written to.
  returned: always
  type: str
  sample: /home/ops/reports/20261124T072500Z
paths:
  description: The written files by kind (json, md, html, prom; prom is in O(textfile_dir) when it is set).
  returned: always
  type: dict
  sample: {"json": "/home/ops/reports/20261124T072500Z/fleet-report.json"}
summary:
  description: Counts of clusters by status, per-check counts, and the lists of clusters not ok.
  returned: always
  type: dict
  sample: {"clusters": 3, "ok": 2, "warning": 0, "critical": 1, "unknown": 0, "status": "critical"}
summary_lines:
  description: One line per cluster that is not ok (at most 25), its status and its checks that are not ok.
  returned: always
  type: list
  elements: str
  sample: ["lab-2                    critical RW-RETRY critical, RW-LAG critical"]
status:
  description: The worst status of the fleet.
  returned: always
  type: str
  sample: critical
should_fail:
  description: Whether O(fail_on) or O(fail_unknown_ratio) asks the play to fail.
  returned: always
  type: bool
  sample: false
failing_hosts:
  description: The clusters (inventory hosts) that make the run fail; empty when RV(should_fail) is false.
  returned: always
  type: list
  elements: str
  sample: [prod-eu-2]
fail_reasons:
  description: One line per rule that fails the run, naming the clusters.
  returned: always
  type: list
  elements: str
  sample: ["fleet_fail_on=critical: 1 critical (prod-eu-2)"]
stats:
  description: A short summary for C(ansible.builtin.set_stats) (AWX job artifacts).
  returned: always
  type: dict
  sample: {"fleet_report": {"dir": "/home/ops/reports/20261124T072500Z", "critical": 1}}
slice:
  description: The O(slice) record of this report, when it is a slice's.
  returned: always
  type: dict
  sample: {"id": "2", "number": 2, "count": 3}
slices:
  description:
    - In merge mode, the slices merged (C(count), C(reported) with each report's path, slice and clusters), the slice
      numbers C(missing), C(missing_count), and the C(unreported_clusters) of O(hosts) in no report; null otherwise.
  returned: always
  type: dict
  sample: {"count": 3, "missing": [3], "missing_count": 1, "unreported_clusters": ["prod-eu-3"]}
elapsed_seconds:
  description: Time spent building and writing the report.
  returned: always
  type: float
  sample: 0.12
"""

from ansible.module_utils.basic import AnsibleModule


def argument_spec():
    """The argument spec of the options documented above, for the action plugin (which validates the task's
    arguments with it) and for ``main`` (so the sanity test compares it with the documentation)."""
    return dict(
        cadence=dict(type="raw", default="daily"),
        dest=dict(type="path"),
        hosts=dict(type="list", elements="str"),
        result_var=dict(type="str", default="fleet_result"),
        history_file=dict(type="path"),
        fail_on=dict(type="str", choices=["never", "critical", "warning", "unknown"], default="never"),
        fail_unknown_ratio=dict(type="float", default=1.0),
        html_template=dict(type="path"),
        md_template=dict(type="path"),
        remediation=dict(type="bool", default=True),
        textfile_dir=dict(type="path"),
        checks_doc=dict(type="str"),
        slice=dict(type="dict", options=dict(id=dict(type="str"), number=dict(type="int"), count=dict(type="int"))),
        merge_dir=dict(type="path"),
        merge_reports=dict(type="list", elements="path"),
        expected_slices=dict(type="int"),
    )


def main():
    """Only reached when the action plugin is bypassed: say so."""
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.fail_json(msg="fleet_report runs as an action plugin on the controller; it cannot run as a module")


if __name__ == "__main__":
    main()
