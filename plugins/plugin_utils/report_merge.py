# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One fleet report from the reports of the slices of a sliced run (controller side, no Ansible).

A sliced job (AWX / Automation Controller job slicing, or ``ansible-playbook --limit`` runs on
disjoint parts of one inventory) writes one ``fleet-report.json`` per slice, each with a
``slice`` record: ``{"id", "number", "count"}`` (``number`` 1..``count`` when the slice knows it;
``id`` what tells the slices apart, for example AWX's job id). ``merge`` joins them:

- every cluster of every report, as its report had it (a report's cluster entry is a valid
  result for ``report.build``, which makes the merged document with the one writer);
- a cluster in two reports is an error that names it and both reports (two slices must never
  share a host; a re-run slice that wrote to a second directory is the usual cause);
- the slices expected are ``1..count`` (``count`` from the option or the reports): a number no
  report carries is missing; without numbers, fewer reports than ``count`` are missing;
- a cluster of the inventory (``clusters``) in no report is in the merged report as unknown,
  "no slice report has this cluster", never silently absent.
"""

from __future__ import annotations

import glob
import json
import os

REPORT_FILE = "fleet-report.json"


def _int(value):
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def slice_record(slice_id=None, number=None, count=None):
    """The ``slice`` record a slice's report carries; None unless a number or a count says it is a
    slice (0 and empty mean not given: AWX's job id alone is in every job, sliced or not)."""
    number, count = _int(number), _int(count)
    if not number and not count:
        return None
    slice_id = str(slice_id) if slice_id not in (None, "") else (str(number) if number else None)
    return {"id": slice_id, "number": number or None, "count": count or None}


def find(merge_dir=None, reports=None):
    """The report files to merge: ``reports`` (files, or directories holding fleet-report.json;
    from the slices' set_stats artifacts) and every ``*/fleet-report.json`` under ``merge_dir``."""
    paths = []
    for entry in reports or []:
        entry = os.path.abspath(os.path.expanduser(str(entry)))
        paths.append(os.path.join(entry, REPORT_FILE) if os.path.isdir(entry) or not entry.endswith(".json") else entry)
    if merge_dir:
        root = os.path.abspath(os.path.expanduser(str(merge_dir)))
        if not os.path.isdir(root):
            raise ValueError("fleet_merge_dir %s is not a directory" % root)
        paths.extend(sorted(glob.glob(os.path.join(glob.escape(root), "*", REPORT_FILE))))
    unique, seen = [], set()
    for path in paths:
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            unique.append(path)
    if not unique:
        raise ValueError("no slice report to merge: no */%s under %s%s" % (
            REPORT_FILE, merge_dir or "(no fleet_merge_dir)", " and none of the reports given" if reports else ""))
    return unique


def load(paths):
    """[(path, document)] of the report files; an unreadable one is an error naming it."""
    out = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                doc = json.load(handle)
        except (OSError, ValueError) as exc:
            raise ValueError("slice report %s cannot be read: %s" % (path, exc)) from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("clusters"), dict):
            raise ValueError("%s is not a fleet report (no clusters)" % path)
        out.append((path, doc))
    return out


def _expected_numbers(reports, expected_slices):
    count = _int(expected_slices) or None  # 0: not given
    counts = {_int((doc.get("slice") or {}).get("count")) for _path, doc in reports} - {None}
    if len(counts) > 1:
        raise ValueError("the slice reports disagree on the number of slices: %s" % ", ".join(str(c) for c in sorted(counts)))
    if count is None and counts:
        count = counts.pop()
    elif counts and count != next(iter(counts)):
        raise ValueError("fleet_merge_expected_slices is %d but the slice reports say %d slices" % (count, next(iter(counts))))
    return count


def merge(reports, expected_slices=None, clusters=None):
    """Join the slice reports ``[(path, doc)]``.

    ``expected_slices``: how many slices the run had (default: the ``count`` of the reports'
    ``slice`` records). ``clusters``: every cluster of the run (the inventory), for the ones no
    report has. Returns ``{results, missing_reasons, cadence, slices}`` for ``report.build``;
    raises ValueError for a cluster in two reports, a slice number reported twice or out of
    range, or reports of different cadences."""
    count = _expected_numbers(reports, expected_slices)
    owner, results, by_number, reported = {}, {}, {}, []
    cadences = set()
    for path, doc in reports:
        record = doc.get("slice") or {}
        number = _int(record.get("number"))
        if number is not None:
            if count and not 1 <= number <= count:
                raise ValueError("%s is slice %d, outside 1..%d" % (path, number, count))
            if number in by_number:
                raise ValueError("slice %d reported twice: %s and %s (give each slice one directory of its own)"
                                 % (number, by_number[number], path))
            by_number[number] = path
        cadences.add(str(doc.get("cadence") or "daily"))
        for name, entry in doc["clusters"].items():
            if name in owner:
                raise ValueError("cluster %s is in two slice reports, %s and %s: every cluster belongs to one slice "
                                 "(a re-run slice must write to the directory of its first run)" % (name, owner[name], path))
            owner[name] = path
            results[name] = entry
        reported.append({"id": record.get("id"), "number": number, "path": path,
                         "generated_at": doc.get("generated_at"), "clusters": len(doc["clusters"])})
    if len(cadences) > 1:
        raise ValueError("the slice reports are of different cadences (%s): merge one run at a time" % ", ".join(sorted(cadences)))
    if count and by_number:
        missing = [n for n in range(1, count + 1) if n not in by_number]
        missing_count = len(missing)
    else:
        missing = []
        missing_count = max(0, (count or 0) - len(reports))
    unreported = sorted(str(c) for c in (clusters or []) if str(c) not in results)
    why = "no slice report has this cluster"
    if missing:
        why += " (missing: slice %s of %d)" % (", ".join(str(n) for n in missing), count)
    elif missing_count:
        why += " (%d of %d slices did not report)" % (missing_count, count)
    for name in unreported:
        results[name] = None
    slices = {"count": count, "reported": reported, "missing": missing, "missing_count": missing_count,
              "unreported_clusters": unreported}
    return {"results": results, "missing_reasons": {name: why for name in unreported},
            "cadence": cadences.pop() if cadences else "daily", "slices": slices}


def missing_reason(slices):
    """The line that fails a merge whose slices did not all report (None when they did)."""
    if not slices or not (slices.get("missing_count") or slices.get("unreported_clusters")):
        return None
    parts = []
    if slices.get("missing"):
        parts.append("slice %s of %d did not report" % (", ".join(str(n) for n in slices["missing"]), slices["count"]))
    elif slices.get("missing_count"):
        parts.append("%d of %d slices did not report (%d reports found)" % (
            slices["missing_count"], slices["count"], len(slices.get("reported") or [])))
    unreported = slices.get("unreported_clusters") or []
    if unreported:
        shown = ", ".join(unreported[:20]) + (" and %d more" % (len(unreported) - 20) if len(unreported) > 20 else "")
        parts.append("%d clusters in no slice report: %s" % (len(unreported), shown))
    return "; ".join(parts)


def judge(verdict, slices):
    """``verdict`` (run_verdict.decide of the merged report) with the missing slices added: a
    slice that did not report fails the merge whatever fleet_fail_on says, on the clusters it
    should have reported."""
    reason = missing_reason(slices)
    if reason is None:
        return verdict
    return {"fail": True, "hosts": sorted(set(verdict["hosts"]) | set(slices.get("unreported_clusters") or [])),
            "reasons": verdict["reasons"] + [reason]}
