# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of rules_status: the module's runner inside Ansible's worker when the task runs on the controller."""

from __future__ import annotations

from ansible_collections.fleetops.prometheus_agent.plugins.modules.rules_status import argument_spec
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils.in_worker import InWorkerAction


class ActionModule(InWorkerAction):
    """fleetops.prometheus_agent.rules_status (documented in plugins/modules/rules_status.py)."""

    MODULE_NAME = "rules_status"
    ARGUMENT_SPEC = staticmethod(argument_spec)
