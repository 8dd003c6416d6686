#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""agent_backup: export an agent's operator resource, configuration and flags, and check them (BACKUP)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: agent_backup
short_description: Export a Prometheus agent's resource, configuration and flags and prove the export (check BACKUP)
version_added: 0.1.0
author:
  - fleetops maintainers (@fleetops)
description:
  - Writes to O(dest) on the controller C(cr.json) (the C(PrometheusAgent) or C(Prometheus) resource behind the
    agent, without C(status) and C(managedFields)), C(config.yml) (from C(/api/v1/status/config), where
    Prometheus already hides secrets as C(<secret>)), C(flags.json) (C(/api/v1/status/flags)) and C(buildinfo.json).
  - Proves the export with C(promtool check config) on C(config.yml) (with C(--agent) when the agent runs in agent
    mode and promtool knows the flag, 2.42 does). Files the configuration references (TLS certificates,
    credentials files) live in the pod, so when the full check fails only on those, the module checks with
    C(--syntax-only) and says so.
  - Then proves the restore. A throwaway agent is started from the exported configuration and flags in a scratch
    directory on the controller (O(prometheus); C(--agent) on 3.x, C(--enable-feature=agent) on 2.x) and must answer
    C(/-/ready) on a free C(127.0.0.1) port within O(timeout) seconds; it is stopped and the directory removed after.
  - For that run what belongs to the pod is rewritten. The configuration file, storage path (C(--storage.agent.path)) and
    listen address are the scratch directory's and the free port, and the web flags naming the pod's files or URLs
    (external URL, route prefix, web config, consoles) are left out. Every remote write goes to a local port that is
    bound and never listened on, so the throwaway agent sends nothing, and C(--storage.remote.flush-deadline=1s).
    TLS files of the pod are left out and credential files replaced by a placeholder. Flags the controller's
    C(prometheus) does not know, and flags of the other mode, are left out. RV(backup.restore) lists all of it.
  - The BACKUP check is C(critical) when the configuration cannot be exported, promtool refuses it or the throwaway
    agent does not get ready (its last error line is in the message); C(ok) only when the throwaway agent was ready.
    Without promtool or without a C(prometheus) binary on the controller it is C(unknown) (the export is kept). A
    missing operator resource (an agent installed without the operator) is said in the message, not a failure.
  - Changes nothing in the cluster; the files it writes are reported in RV(backup) (C(changed) stays false so the
    monthly run stays idempotent).
extends_documentation_fragment:
  - fleetops.prometheus_agent.connection
  - fleetops.prometheus_agent.agent
  - fleetops.prometheus_agent.attributes
options:
  dest:
    description:
      - The directory to write to (made when missing), for example C(backups/2026-11-24/prod-eu-1).
      - When the task runs on the controller, a relative path is relative to the directory C(ansible-playbook) runs in
        (as the fleet report's), not to the playbook's directory, which for the collection's playbooks is inside the installed collection.
    type: path
    required: true
  promtool:
    description: The C(promtool) to check the configuration with; when missing, the export is kept and the check is C(unknown).
    type: str
    default: promtool
  prometheus:
    description:
      - The C(prometheus) binary that starts the throwaway agent of the restore proof (a name on C(PATH) or a path); its
        version need not be the agent's (flags it does not know are left out).
      - "When it is not found, BACKUP is C(unknown) with the message C(no prometheus binary on the controller: the restore
        is not proven)."
    type: str
    default: prometheus
  kind:
    description: The operator resource kind; default both are tried (C(PrometheusAgent) first).
    type: str
    choices: [PrometheusAgent, Prometheus]
  name:
    description: The operator resource name; default found from the pod's labels.
    type: str
attributes:
  check_mode:
    description: The export is written in check mode too; it changes nothing in the cluster.
    support: full
"""

EXAMPLES = r"""
- name: Export and check the agent's configuration
  fleetops.prometheus_agent.agent_backup:
    context: prod-eu-1
    namespace: monitoring
    dest: "backups/{{ now(utc=true, fmt='%Y-%m-%d') }}/{{ inventory_hostname }}"
  register: backup
"""

RETURN = r"""
status:
  description: The BACKUP status.
  returned: always
  type: str
  sample: ok
checks:
  description: The BACKUP check.
  returned: always
  type: list
  elements: dict
  sample: [{"id": "BACKUP", "status": "ok", "value": "restored",
            "threshold": "export, promtool check config and a throwaway agent from the backup ready",
            "message": "buildinfo, config, cr, flags exported to backups/2026-11-24/prod-eu-1; promtool check config --agent passed;
                        a throwaway agent from the backup answered /-/ready in 0.4 s"}]
backup:
  description: Where the files are, the resource found and the promtool run.
  returned: always
  type: dict
  sample: {"dir": "/srv/backups/2026-11-24/prod-eu-1", "files": {"config": "/srv/backups/2026-11-24/prod-eu-1/config.yml"},
           "cr": "PrometheusAgent/prod-eu-1", "promtool": {"rc": 0, "args": ["check", "config", "--agent"]},
           "restore": {"ok": true, "seconds": 0.4, "message": "a throwaway agent from the backup answered /-/ready in 0.4 s",
                       "argv": ["/usr/bin/prometheus", "--config.file=/tmp/fleetops-restore-x/config.yml", "..."],
                       "skipped_flags": {"web.external-url": "names the pod's files or URLs"},
                       "rewritten": ["1 remote write(s) pointed at a closed local port"], "output": "..."}}
  contains:
    restore:
      description:
        - The restore proof. C(ok) true when the throwaway agent answered C(/-/ready), false when it did not (C(message) and
          C(output), the end of its log, say why), null when there is no C(prometheus) on the controller.
        - C(argv) is the command it ran, C(skipped_flags) the exported flags left out and why, C(rewritten) what the
          configuration's scratch copy changed.
      type: dict
      returned: when promtool passed
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils import runners
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.args_common import common_argument_spec, run_and_exit


def argument_spec():
    """The shared options and this module's own (also the action plugin's)."""
    return common_argument_spec(
        dest=dict(type="path", required=True),
        promtool=dict(type="str", default="promtool"),
        prometheus=dict(type="str", default="prometheus"),
        kind=dict(type="str", choices=["PrometheusAgent", "Prometheus"]),
        name=dict(type="str"),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_and_exit(module, "agent_backup", runners.run_module)


if __name__ == "__main__":
    main()
