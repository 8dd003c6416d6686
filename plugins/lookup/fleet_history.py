# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lookup fleet_history: what the fleet history file keeps, read once on the controller."""

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_history
short_description: Read the fleet history file once (the start of each cluster's daily window)
version_added: 0.1.0
author:
  - fleetops maintainers (@fleetops)
description:
  - Reads the history file the C(fleet_report) role keeps (C(fleet_history_file)) and returns, per cluster, the
    C(snapshot) of its newest daily audit (the counters that run read), or the whole history.
  - The C(daily_check) role reads it once per play (C(run_once)) and passes each cluster's snapshot to
    M(fleetops.prometheus_agent.agent_audit) as I(baseline), so that remote write, ingest, restarts and the WAL
    failure counters are judged over the time since the last daily run.
  - A missing, empty or unreadable file is an empty history (the first run), never an error.
options:
  _terms:
    description: The history file (one path).
    required: true
    type: list
    elements: path
  part:
    description:
      - "V(snapshots) for the newest snapshot of each cluster (C({cluster: snapshot}))."
      - "V(all) for the whole history (C({cluster: [points]}))."
    type: str
    default: snapshots
    choices: [snapshots, all]
"""

EXAMPLES = r"""
- name: The counters of the previous daily run, per cluster
  ansible.builtin.set_fact:
    daily_baselines: "{{ lookup('fleetops.prometheus_agent.fleet_history', 'reports/fleet-history.json') }}"
  run_once: true
"""

RETURN = r"""
_raw:
  description: "One dict per file: C({cluster: snapshot}), or C({cluster: [points]}) with O(part=all)."
  type: list
  elements: dict
"""

import os

from ansible.plugins.lookup import LookupBase

from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import report


class LookupModule(LookupBase):
    """lookup('fleetops.prometheus_agent.fleet_history', path)"""

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        part = self.get_option("part")
        found = []
        for term in terms:
            history = report.load_history(os.path.abspath(os.path.expanduser(str(term)))) if term else {}
            found.append(report.latest_snapshots(history) if part == "snapshots" else history)
        return found
