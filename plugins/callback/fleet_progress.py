# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A progress line for long fleet audits: clusters evaluated of the play's total, findings so far, elapsed."""

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_progress
type: aggregate
short_description: Progress of a fleet audit (clusters evaluated, findings so far, elapsed time)
version_added: 0.1.0
author:
  - fleetops maintainers (@fleetops)
description:
  - >-
    Prints one line, beside the normal output, as clusters are evaluated (each C(fleetops.prometheus_agent.fleet_evaluate)
    result, and each task result that sets the fact C(fleet_result), as M(fleetops.prometheus_agent.agent_audit) does when
    it judges the day itself), at most every O(interval) seconds and once when the last cluster of the play is evaluated, for example
    C(fleet audit - 120/500 clusters evaluated (24%), 3 critical, 9 warning, 2 unknown, 95 s elapsed).
  - The line names no secret and no check value, only counts.
  - >-
    Enable it with C(ANSIBLE_CALLBACKS_ENABLED=fleetops.prometheus_agent.fleet_progress) or with
    C(callbacks_enabled = fleetops.prometheus_agent.fleet_progress) in the C([defaults]) section of C(ansible.cfg).
requirements:
  - enabled in callbacks_enabled
options:
  interval:
    description: Seconds between two progress lines at least (a line is also printed when the last cluster is evaluated).
    type: float
    default: 10
    env:
      - name: FLEETOPS_PROGRESS_INTERVAL
    ini:
      - section: fleetops_progress
        key: interval
"""

import time

from ansible.plugins.callback import CallbackBase

EVALUATE_ACTIONS = ("fleetops.prometheus_agent.fleet_evaluate", "fleet_evaluate")


class CallbackModule(CallbackBase):
    """Counts the clusters whose fleet_result was set and the findings among them."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "fleetops.prometheus_agent.fleet_progress"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self._start = time.monotonic()
        self._total = 0
        self._status = {}
        self._last_line = 0.0

    def v2_playbook_on_play_start(self, play):
        try:
            manager = play.get_variable_manager()
            self._total = len(manager._inventory.get_hosts(play.hosts))  # pylint: disable=protected-access
        except Exception:  # pylint: disable=broad-except
            self._total = 0
        self._start = time.monotonic()
        self._status = {}
        self._last_line = 0.0

    def line(self):
        """The progress line."""
        done = len(self._status)
        counts = {}
        for status in self._status.values():
            counts[status] = counts.get(status, 0) + 1
        share = " (%d%%)" % (100 * done // self._total) if self._total else ""
        found = ", ".join("%d %s" % (counts[s], s) for s in ("critical", "warning", "unknown") if counts.get(s)) or "no findings"
        return "fleet audit: %d/%s clusters evaluated%s, %s, %.0f s elapsed" % (
            done, self._total or "?", share, found, time.monotonic() - self._start)

    def v2_runner_on_ok(self, result):
        found = result._result or {}  # pylint: disable=protected-access
        fleet_result = (found.get("ansible_facts") or {}).get("fleet_result")
        if result._task.action in EVALUATE_ACTIONS:  # pylint: disable=protected-access
            status = found.get("status") or "unknown"
        elif isinstance(fleet_result, dict):
            # agent_audit judging the day itself, fleet mode's per-host step, remediation's recheck
            status = fleet_result.get("status") or "unknown"
        else:
            return
        self._status[result._host.get_name()] = status  # pylint: disable=protected-access
        now = time.monotonic()
        last = self._total and len(self._status) >= self._total
        if last or now - self._last_line >= float(self.get_option("interval")):
            self._last_line = now
            self._display.display(self.line())
