# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release list the monthly VERSION check judges a running Prometheus against (no Ansible).

The list is data the user can replace or extend offline (the monthly role's
``fleet_release_list`` and ``fleet_release_list_extra``; the shipped file is
roles/monthly_check/files/prometheus-releases.yml). One entry per minor release (``cycle``
"MAJOR.MINOR") with ``lts``, ``eol`` (last day of support of an LTS release), ``note`` and
``known_issues`` (``severity``, optional ``versions``, ``note``).

Support as Prometheus defines it: the newest minor release, and each LTS release until its end
of support; a non-LTS minor is no longer supported once a newer minor is out.
"""

from __future__ import annotations

import datetime
import re

SEVERITIES = ("warning", "critical")


def version_tuple(text):
    """'v2.42.0+ds' -> (2, 42, 0); None when there is no number."""
    found = re.findall(r"\d+", str(text or "").split("+", maxsplit=1)[0])[:3]
    return tuple(int(x) for x in found) + (0,) * (3 - len(found)) if found else None


def _cycle_of(version):
    """'v2.42.0+ds' -> (2, 42): the minor release; None without MAJOR.MINOR."""
    found = re.findall(r"\d+", str(version or "").split("+", maxsplit=1)[0])
    return version_tuple(version)[:2] if len(found) >= 2 else None


def _date(value, where):
    if value in (None, ""):
        return None
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError("release list: %s: eol %r is not a date (YYYY-MM-DD)" % (where, value)) from exc


def normalize(entries):
    """The release list as {(major, minor): entry}, later entries replacing earlier ones of the same
    cycle. Raises ValueError naming the bad entry (the list is user data)."""
    releases = {}
    for index, entry in enumerate(entries or []):
        if not isinstance(entry, dict):
            raise ValueError("release list: entry %d is not a mapping: %r" % (index + 1, entry))
        cycle = _cycle_of(entry.get("cycle"))
        if cycle is None:
            raise ValueError("release list: entry %d: cycle %r is not MAJOR.MINOR" % (index + 1, entry.get("cycle")))
        where = "cycle %d.%d" % cycle
        issues = entry.get("known_issues") or []
        if not isinstance(issues, list):
            raise ValueError("release list: %s: known_issues must be a list" % where)
        for issue in issues:
            if not isinstance(issue, dict) or issue.get("severity", "warning") not in SEVERITIES or not issue.get("note"):
                raise ValueError("release list: %s: a known issue needs a note and a severity of %s: %r"
                                 % (where, " or ".join(SEVERITIES), issue))
        releases[cycle] = {"cycle": "%d.%d" % cycle, "lts": bool(entry.get("lts")), "eol": _date(entry.get("eol"), where),
                           "note": entry.get("note") or "", "known_issues": issues}
    return releases


def _worse(status, other):
    order = ("ok", "warning", "critical")
    return other if order.index(other) > order.index(status) else status


def judge(version, entries, today=None):
    """What the release list says of a running ``version``: None when the version is newer than
    every cycle of the list (or no version), else ``{'status': ok|warning|critical, 'reasons': [...],
    'supported': ['3.13 LTS', ...]}``. A cycle older than the newest that the list does not name is
    a non-LTS release (the list names every LTS)."""
    releases = normalize(entries)
    cycle = _cycle_of(version)
    if cycle is None or not releases or cycle > max(releases):
        return None
    today = today or datetime.datetime.now(datetime.timezone.utc).date()
    entry = releases.get(cycle) or {"cycle": "%d.%d" % cycle, "lts": False, "eol": None, "note": "", "known_issues": []}
    newest = max(releases)
    status, reasons = "ok", []
    if entry["lts"] and entry["eol"]:
        if entry["eol"] < today:
            status = "critical"
            reasons.append("its LTS support ended on %s" % entry["eol"].isoformat())
    elif cycle < newest:
        status = "critical"
        reasons.append("%s is not an LTS release and %d.%d is out, so it is no longer supported" % ((entry["cycle"],) + newest))
    plain = str(version).lstrip("v").split("+", maxsplit=1)[0]
    for issue in entry["known_issues"]:
        versions = [str(v).lstrip("v") for v in issue.get("versions") or []]
        if versions and plain not in versions:
            continue
        status = _worse(status, issue.get("severity", "warning"))
        reasons.append("known issue: %s" % issue["note"])
    supported = sorted(c for c, e in releases.items() if (e["lts"] and e["eol"] and e["eol"] >= today) or c == newest)
    return {"status": status, "reasons": reasons,
            "supported": ["%d.%d%s" % (c + (" LTS" if releases[c]["lts"] else "",)) for c in supported]}
