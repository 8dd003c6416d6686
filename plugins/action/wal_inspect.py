# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of wal_inspect: the module's runner inside Ansible's worker when the task runs on the controller."""

from __future__ import annotations

from ansible_collections.fleetops.prometheus_agent.plugins.modules.wal_inspect import argument_spec
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils.in_worker import InWorkerAction


class ActionModule(InWorkerAction):
    """fleetops.prometheus_agent.wal_inspect (documented in plugins/modules/wal_inspect.py)."""

    MODULE_NAME = "wal_inspect"
    ARGUMENT_SPEC = staticmethod(argument_spec)
