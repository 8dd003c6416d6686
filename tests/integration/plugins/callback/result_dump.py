# Copyright: fleetops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: write every task result of a run to a JSON file.

Enabled by the integration test helpers with ANSIBLE_CALLBACKS_ENABLED=result_dump and the
environment variable FLEETOPS_RESULT_DUMP naming the output file. The normal stdout callback
stays in place, so what a user would see is still printed and can be grepped.
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: result_dump
type: aggregate
short_description: dump task results to a JSON file (tests only)
description:
  - >-
    Writes every task result (host, task, action, status, result) and the play stats as JSON
    to the file named by the environment variable E(FLEETOPS_RESULT_DUMP) at the end of the run.
"""


class CallbackModule(CallbackBase):
    """Collect results in memory and write them once at the end."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "result_dump"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._results = []

    def _record(self, status, result):
        self._results.append({
            "host": result._host.get_name(),
            "task": result._task.get_name(),
            "action": result._task.action,
            "status": status,
            "result": result._result,
        })

    def v2_runner_on_ok(self, result):
        self._record("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record("ignored" if ignore_errors else "failed", result)

    def v2_runner_on_unreachable(self, result):
        self._record("unreachable", result)

    def v2_runner_on_skipped(self, result):
        self._record("skipped", result)

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("FLEETOPS_RESULT_DUMP")
        if not path:
            return
        summary = {host: stats.summarize(host) for host in sorted(stats.processed)}
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"results": self._results, "stats": summary, "custom": stats.custom},
                      handle, default=str)
