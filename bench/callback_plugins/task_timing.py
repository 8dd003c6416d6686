# Copyright: fleetops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark-only callback: how long every task took on every host, written as JSON.

Enabled by bench/fleet_audit.py with ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins,
ANSIBLE_CALLBACKS_ENABLED=task_timing and FLEETOPS_TASK_TIMING naming the output file. Per task:
the hosts it ran on, the sum / max of the per-host durations (worker start to result: fork,
templating, module transfer and run, result processing in the worker) and the task's span
(first start to last result, what the play waited for it); for a task whose result names its own
phases in seconds (fleet_gather's ``seconds``: options, audit, wait, second_reading, evaluation,
total), those phases as ``phases_s``.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: task_timing
type: aggregate
short_description: per-task, per-host durations to a JSON file (benchmarks only)
description:
  - Writes the durations to the file named by the environment variable E(FLEETOPS_TASK_TIMING).
"""


class CallbackModule(CallbackBase):
    """Keep start times per (task, host); add up durations per task; write once at the end."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._started = {}
        self._tasks = {}
        self._order = []
        self._t0 = time.time()

    def _entry(self, task):
        key = task._uuid  # pylint: disable=protected-access
        if key not in self._tasks:
            self._tasks[key] = {"name": task.get_name(), "action": task.action, "hosts": 0, "sum_s": 0.0, "max_s": 0.0,
                                "first_start": None, "last_end": None, "statuses": {}}
            self._order.append(key)
        return self._tasks[key]

    def v2_runner_on_start(self, host, task):
        """A worker starts the task for a host."""
        now = time.time()
        self._started[(task._uuid, host.get_name())] = now  # pylint: disable=protected-access
        entry = self._entry(task)
        if entry["first_start"] is None:
            entry["first_start"] = now

    def _done(self, result, status):
        now = time.time()
        task = result._task  # pylint: disable=protected-access
        host = result._host.get_name()  # pylint: disable=protected-access
        entry = self._entry(task)
        start = self._started.pop((task._uuid, host), None)  # pylint: disable=protected-access
        if start is not None:
            took = now - start
            entry["hosts"] += 1
            entry["sum_s"] += took
            entry["max_s"] = max(entry["max_s"], took)
        entry["last_end"] = now
        entry["statuses"][status] = entry["statuses"].get(status, 0) + 1
        phases = result._result.get("seconds")  # pylint: disable=protected-access
        if isinstance(phases, dict):
            entry["phases_s"] = dict((str(k), v) for k, v in phases.items() if isinstance(v, (int, float)))

    def v2_runner_on_ok(self, result):
        self._done(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._done(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._done(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        """Write the file."""
        path = os.environ.get("FLEETOPS_TASK_TIMING")
        if not path:
            return
        tasks = []
        for key in self._order:
            entry = dict(self._tasks[key])
            first, last = entry.pop("first_start"), entry.pop("last_end")
            entry["span_s"] = round(last - first, 3) if first is not None and last is not None else 0.0
            entry["start_s"] = round(first - self._t0, 3) if first is not None else None
            entry["sum_s"] = round(entry["sum_s"], 3)
            entry["max_s"] = round(entry["max_s"], 3)
            tasks.append(entry)
        recap = {}
        for host in sorted(stats.processed):
            summary = stats.summarize(host)
            for key in ("ok", "failures", "unreachable", "skipped", "rescued"):
                recap[key] = recap.get(key, 0) + summary.get(key, 0)
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"tasks": tasks, "recap": recap, "hosts": len(stats.processed), "elapsed_s": round(time.time() - self._t0, 3)},
                      handle, indent=1)
