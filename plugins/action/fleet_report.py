# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of fleet_report: build and write the fleet report on the controller."""

from __future__ import annotations

import datetime
import os
import time
from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.fleetops.prometheus_agent.plugins.modules.fleet_report import argument_spec
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.scrub import scrub
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import policy as remediation
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import report as fleet_report
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import report_merge
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import run_verdict


def _collection_checks_doc():
    """The file URL of docs/checks.md in this collection (the docs ship with it), or None."""
    page = Path(__file__).resolve().parents[2] / "docs" / "checks.md"
    return page.as_uri() if page.is_file() else None


class ActionModule(ActionBase):
    """Collect ``fleet_result`` of every play host and write the report files."""

    TRANSFERS_FILES = False

    @staticmethod
    def _agent_of(values):
        """{cluster, agent} of a host that is one agent of a cluster (``agent_name``, as the kubeconfig
        inventory's ``agents`` sets it; the cluster is its ``agent_cluster_label``, else its
        ``kube_context``), or None."""
        if values is None:
            return None
        try:
            name = values.get("agent_name")
            if not name:
                return None
            return {"agent": to_native(name), "cluster": to_native(values.get("agent_cluster_label") or values.get("kube_context") or "")}
        except Exception:  # pylint: disable=broad-except
            return None     # a variable that does not template: the host is reported by its name alone

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        started = time.monotonic()
        # the options documented in plugins/modules/fleet_report.py (AnsibleActionFail naming the option)
        _validation, args = self.validate_argument_spec(argument_spec=argument_spec())

        fail_on = args.get("fail_on") or "never"
        result_var = args.get("result_var") or "fleet_result"
        hosts = args.get("hosts")
        if hosts is None:
            hosts = task_vars.get("ansible_play_hosts_all") or []
        hostvars = task_vars.get("hostvars") or {}

        results, missing, agents = {}, {}, {}
        # merge mode: the clusters come from the slice reports, not from the hosts of this play
        merging = bool(args.get("merge_dir") or args.get("merge_reports"))
        for host in ([] if merging else hosts):
            host = str(host)
            values = hostvars.get(host) if hasattr(hostvars, "get") else None
            value = None
            if values is not None:
                try:
                    value = values.get(result_var)
                except Exception as exc:  # pylint: disable=broad-except
                    missing[host] = "its result could not be read: %s" % to_native(exc)
                if not value:
                    error = values.get("fleet_error")
                    if error:
                        missing[host] = "the checks failed: %s" % to_native(error)
            if not value and host not in missing:
                missing[host] = ("the host failed or was unreachable before its checks finished"
                                 if host not in (task_vars.get("ansible_play_hosts") or [host]) else
                                 "no check ran for this cluster")
            results[host] = value
            agent = self._agent_of(values)
            if agent:
                agents[host] = agent

        cadence, slices = args.get("cadence") or "daily", None
        if merging:
            try:
                merged = report_merge.merge(report_merge.load(report_merge.find(args.get("merge_dir"), args.get("merge_reports"))),
                                            args.get("expected_slices"), args.get("hosts"))
            except (OSError, ValueError) as exc:
                raise AnsibleActionFail("could not merge the slice reports: %s" % to_native(exc)) from exc
            results, missing, cadence, slices = merged["results"], merged["missing_reasons"], merged["cadence"], merged["slices"]

        now = datetime.datetime.now(datetime.timezone.utc)
        use_planner = args.get("remediation", True)
        doc = fleet_report.build(results, cadence, generated_at=now,
                                 planner=remediation.plan if use_planner else None, missing_reasons=missing, agents=agents)
        given = args.get("slice") or {}
        slice_record = report_merge.slice_record(given.get("id"), given.get("number"), given.get("count"))
        if slice_record and not merging:
            doc["slice"] = slice_record
        if slices is not None:
            doc["slices"] = slices
        history_file = os.path.abspath(os.path.expanduser(str(args["history_file"]))) if args.get("history_file") else None
        if history_file and not merging:
            # new, resolved and still open findings against the last report of this cadence
            doc["since_last_audit"] = fleet_report.since_last_audit(doc, fleet_report.load_history(history_file))

        dest = args.get("dest") or os.path.join("reports", now.strftime("%Y%m%dT%H%M%SZ"))
        dest = os.path.abspath(os.path.expanduser(str(dest)))
        html = args.get("html_template") or self._find_needle("templates", "fleet-report.html.j2")
        markdown = args.get("md_template") or self._find_needle("templates", "fleet-report.md.j2")
        # the report is the output of a read-only run: it is written in check mode too
        try:
            textfile_dir = args.get("textfile_dir")
            paths = fleet_report.write_report(doc, dest, html, markdown, checks_doc=args.get("checks_doc") or _collection_checks_doc(),
                                              textfile_dir=os.path.abspath(os.path.expanduser(str(textfile_dir))) if textfile_dir else None)
            if history_file:
                # the counters each daily audit read: where the next daily run's window starts
                snapshots = {str(host): value.get("snapshot") for host, value in results.items() if isinstance(value, dict)}
                fleet_report.update_history(history_file, doc, snapshots=snapshots)
        except (OSError, ValueError) as exc:
            raise AnsibleActionFail("could not write the fleet report to %s: %s" % (dest, to_native(exc))) from exc

        summary = doc["summary"]
        lines = []
        for name in summary["critical_clusters"] + summary["warning_clusters"] + summary["unknown_clusters"]:
            cluster = doc["clusters"][name]
            bad = ["%s %s" % (c["id"], c["status"]) for c in cluster["checks"] if c["status"] != "ok"]
            lines.append("%-24s %-8s %s" % (name, cluster["status"], ", ".join(bad) or cluster.get("reason", "")))
        if len(lines) > 25:
            lines = lines[:25] + ["... and %d more clusters not ok (see the report)" % (len(lines) - 25)]
        verdict = run_verdict.decide({name: entry["status"] for name, entry in doc["clusters"].items()},
                                     fail_on, args.get("fail_unknown_ratio"), run_verdict.unjudged(doc["clusters"]))
        verdict = report_merge.judge(verdict, slices)
        result.update(scrub({
            "changed": bool(paths),
            "report_dir": dest,
            "paths": paths,
            "summary": summary,
            "summary_lines": lines,
            "status": summary["status"],
            "should_fail": verdict["fail"],
            "failing_hosts": verdict["hosts"],
            "fail_reasons": verdict["reasons"],
            "elapsed_seconds": round(time.monotonic() - started, 3),
            "slice": doc.get("slice"),
            "slices": slices,
            "stats": {
                "fleet_report": {
                    "dir": dest, "cadence": doc["cadence"], "status": summary["status"],
                    "clusters": summary["clusters"], "ok": summary["ok"], "warning": summary["warning"],
                    "critical": summary["critical"], "unknown": summary["unknown"],
                    "critical_clusters": summary["critical_clusters"][:50],
                    "warning_clusters": summary["warning_clusters"][:50],
                    "unknown_clusters": summary["unknown_clusters"][:50],
                },
            },
        }))
        return result
