# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of agent_backup: the module's runner inside Ansible's worker when the task runs on the controller."""

from __future__ import annotations

import os

from ansible_collections.fleetops.prometheus_agent.plugins.modules.agent_backup import argument_spec
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils.in_worker import InWorkerAction


class ActionModule(InWorkerAction):
    """fleetops.prometheus_agent.agent_backup (documented in plugins/modules/agent_backup.py)."""

    MODULE_NAME = "agent_backup"
    ARGUMENT_SPEC = staticmethod(argument_spec)

    def module_args(self):
        """A relative ``dest`` is relative to the directory ansible-playbook runs in, as the report
        directory is: a module started on the controller runs in the playbook's directory, which
        for the collection's playbooks is inside the installed collection."""
        args = dict(self._task.args)
        dest = args.get("dest")
        if isinstance(dest, str) and dest and self.on_controller():
            dest = os.path.expanduser(dest)
            if not os.path.isabs(dest):
                args["dest"] = os.path.join(os.getcwd(), dest)
        return args
