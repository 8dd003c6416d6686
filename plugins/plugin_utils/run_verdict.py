# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which clusters make a run fail, and the one line that says why (controller side, no Ansible).

A scheduler (cron, a systemd timer, an AWX schedule) sees only the exit status of the run and the
hosts that failed. Two rules decide them:

- ``fail_on``: ``never``; ``critical`` (a critical cluster fails the run); ``warning`` (warning or
  worse); ``unknown`` (unknown, warning or critical: a cluster that could not be judged counts).
- ``unknown_ratio``: whatever ``fail_on`` says, a run in which no check could be judged on every
  cluster (each check unknown, or no result at all), or on more than this fraction of them,
  fails: wrong credentials, a broken interpreter or a dead API for the whole fleet must not end
  as a green job. A cluster with one unknown check among judged ones does not count here. Above
  1 the rule is off.

The hosts that fail are the clusters that caused it (a critical cluster, never the first host of
the play), so PLAY RECAP and AWX show ``failed`` on the right clusters.
"""

from __future__ import annotations

FAIL_ON = ("never", "critical", "warning", "unknown")

_FAILING_STATUSES = {
    "never": (),
    "critical": ("critical",),
    "warning": ("critical", "warning"),
    "unknown": ("critical", "warning", "unknown"),
}


def _named(names, limit=20):
    shown = ", ".join(names[:limit])
    return shown + (" and %d more" % (len(names) - limit) if len(names) > limit else "")


def unjudged(clusters):
    """The clusters of a report document's ``clusters`` where nothing was judged: no check, or
    every check unknown."""
    return sorted(name for name, entry in clusters.items()
                  if not entry.get("checks") or all(c.get("status") == "unknown" for c in entry["checks"]))


def decide(statuses, fail_on="never", unknown_ratio=1.0, not_judged=None):
    """``statuses``: {cluster (inventory host): ok|warning|critical|unknown}; ``not_judged``: the
    clusters where nothing was judged (default: every unknown one).

    Returns ``{'fail': bool, 'hosts': [clusters that fail, sorted], 'reasons': [one line each]}``.
    """
    if fail_on not in _FAILING_STATUSES:
        raise ValueError("fail_on must be one of %s, not %r" % (", ".join(FAIL_ON), fail_on))
    failing, reasons = set(), []
    bad = _FAILING_STATUSES[fail_on]
    if bad:
        found = sorted(name for name, status in statuses.items() if status in bad)
        if found:
            counts = ", ".join("%d %s" % (sum(1 for n in found if statuses[n] == s), s)
                               for s in bad if any(statuses[n] == s for n in found))
            reasons.append("fleet_fail_on=%s: %s (%s)" % (fail_on, counts, _named(found)))
            failing.update(found)
    total = len(statuses)
    unknown = sorted(not_judged if not_judged is not None else (n for n, s in statuses.items() if s == "unknown"))
    if total and unknown and unknown_ratio is not None and unknown_ratio <= 1 and \
            (len(unknown) == total or float(len(unknown)) / total > unknown_ratio):
        share = "every cluster" if len(unknown) == total else "more than %g%% of the clusters" % (unknown_ratio * 100)
        reasons.append("%d of %d clusters unknown (%s): no check could be judged there; look for a common cause "
                       "(credentials, the Python interpreter, the API servers): %s"
                       % (len(unknown), total, share, _named(unknown)))
        failing.update(unknown)
    return {"fail": bool(failing), "hosts": sorted(failing), "reasons": reasons}
