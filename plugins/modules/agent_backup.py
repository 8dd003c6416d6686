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
  - The BACKUP check is C(critical) when the configuration cannot be exported or promtool refuses it; a missing
    operator resource (an agent installed without the operator) is said in the message, not a failure.
  - Changes nothing in the cluster; the files it writes are reported in RV(backup) (C(changed) stays false so the
    monthly run stays idempotent).
extends_documentation_fragment:
  - fleetops.prometheus_agent.common
options:
  dest:
    description: The directory to write to (made when missing), for example C(backups/2026-11-24/prod-eu-1).
    type: path
    required: true
  promtool:
    description: The C(promtool) to check the configuration with; when missing, the export is kept and the check is C(unknown).
    type: str
    default: promtool
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
  diff_mode:
    description: Changes nothing, so there is no diff.
    support: none
requirements:
  - kubernetes >= 29.0.0
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
  sample: [{"id": "BACKUP", "status": "ok", "value": "exported and checked", "threshold": "export and promtool check config pass",
            "message": "CR, config and flags exported to backups/2026-11-24/prod-eu-1; promtool check config --agent passed"}]
backup:
  description: Where the files are, the resource found and the promtool run.
  returned: always
  type: dict
  sample: {"dir": "/srv/backups/2026-11-24/prod-eu-1", "files": {"config": "/srv/backups/2026-11-24/prod-eu-1/config.yml"},
           "cr": "PrometheusAgent/prod-eu-1", "promtool": {"rc": 0, "args": ["check", "config", "--agent"]}}
"""

import json
import tempfile
import os
import shutil
import subprocess

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.remediation import ops
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.args_common import (
    check_kubernetes_library, common_argument_spec, target_from_params, validate_common)

THRESHOLD = "export and promtool check config pass"
MISSING_FILE_HINTS = ("no such file", "not found", "doesn't exist", "does not exist")


def _json(target, path, timeout):
    status, text = ops.http_text(target, path, timeout)
    if status != 200:
        return None, "%s: %s" % (path, ("HTTP %s" % status) if status else text)
    try:
        return (json.loads(text) or {}).get("data"), None
    except ValueError as exc:
        return None, "%s: not JSON (%s)" % (path, exc)


def _write(path, text):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def promtool_check_config(promtool, path, agent_mode):
    """(ok, args, output) of promtool check config; falls back to --syntax-only for files that live in the pod."""
    binary = shutil.which(promtool) if promtool else None
    if not binary:
        return None, [], "%s not found on the controller" % promtool
    help_text = subprocess.run([binary, "check", "config", "--help"], capture_output=True, text=True, timeout=30, check=False)
    args = ["check", "config"]
    if agent_mode and "--agent" in (help_text.stdout + help_text.stderr):
        args.append("--agent")
    proc = subprocess.run([binary] + args + [path], capture_output=True, text=True, timeout=60, check=False)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 and any(h in output.lower() for h in MISSING_FILE_HINTS) and \
            "--syntax-only" in (help_text.stdout + help_text.stderr):
        args.append("--syntax-only")
        proc = subprocess.run([binary] + args + [path], capture_output=True, text=True, timeout=60, check=False)
        output = (proc.stdout + proc.stderr).strip() + " (files the config references live in the pod: syntax checked)"
    return proc.returncode == 0, args, output[-2000:]


def main():
    spec = common_argument_spec(
        dest=dict(type="path", required=True),
        promtool=dict(type="str", default="promtool"),
        kind=dict(type="str", choices=["PrometheusAgent", "Prometheus"]),
        name=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    error = validate_common(module.params)
    if error:
        module.fail_json(msg=error)
    check_kubernetes_library(module)
    p = module.params
    dest = os.path.abspath(p["dest"])
    timeout = p.get("timeout")
    backup = {"dir": dest, "files": {}, "cr": None, "promtool": {}}

    scratch = []

    def done(status, value, message):
        for path in scratch:
            shutil.rmtree(path, ignore_errors=True)
        check = {"id": "BACKUP", "status": status, "value": value, "threshold": THRESHOLD, "message": message}
        module.exit_json(changed=False, status=status, checks=[check], backup=backup)

    try:
        target = target_from_params(p)
        config, why = _json(target, "/api/v1/status/config", timeout)
    except Exception as exc:  # pylint: disable=broad-except
        done("unknown", None, "the agent could not be reached: %s" % str(exc).splitlines()[0][:300])
    if config is None or not config.get("yaml"):
        done("critical", "export failed", "the configuration could not be exported (%s): no restorable backup" % (why or "empty"))
    flags, _why = _json(target, "/api/v1/status/flags", timeout)
    buildinfo, _why = _json(target, "/api/v1/status/buildinfo", timeout)
    cr_note = ""
    cr = None
    try:
        namespace = p.get("namespace") or "monitoring"
        pods = ops.list_pods(target, namespace, selector=p.get("label_selector"), name=p.get("pod")) if not p.get("url") else []
        if not p.get("url"):
            kind, name, cr = ops.find_cr(target, namespace, pod=pods[0] if pods else None, name=p.get("name"), kind=p.get("kind"))
            if cr is not None:
                backup["cr"] = "%s/%s" % (kind, name)
                meta = cr.get("metadata") or {}
                for key in ("managedFields", "resourceVersion", "uid", "generation", "creationTimestamp"):
                    meta.pop(key, None)
                cr.pop("status", None)
            else:
                cr_note = "; no PrometheusAgent/Prometheus resource found (not an operator install?)"
    except Exception as exc:  # pylint: disable=broad-except
        cr_note = "; the operator resource could not be read: %s" % str(exc).splitlines()[0][:200]

    if module.check_mode:
        # check mode writes nothing at dest: the export is made and proven in a scratch directory
        dest = tempfile.mkdtemp(prefix="fleetops-backup-check-")
        scratch.append(dest)
    try:
        os.makedirs(dest, exist_ok=True)
        backup["files"]["config"] = _write(os.path.join(dest, "config.yml"), config["yaml"])
        if flags is not None:
            backup["files"]["flags"] = _write(os.path.join(dest, "flags.json"), json.dumps(flags, indent=1, sort_keys=True) + "\n")
        if buildinfo is not None:
            backup["files"]["buildinfo"] = _write(os.path.join(dest, "buildinfo.json"), json.dumps(buildinfo, indent=1, sort_keys=True) + "\n")
        if cr is not None:
            backup["files"]["cr"] = _write(os.path.join(dest, "cr.json"), json.dumps(cr, indent=1, sort_keys=True) + "\n")
    except OSError as exc:
        done("critical", "export failed", "the backup could not be written to %s: %s" % (dest, exc))

    # 2.x runs agent mode with --enable-feature=agent, 3.x with --agent
    agent_mode = bool(flags) and ("agent" in str(flags.get("enable-feature", "")).split(",") or str(flags.get("agent", "")).lower() == "true")
    ok, args, output = promtool_check_config(p["promtool"], backup["files"]["config"], agent_mode)
    backup["promtool"] = {"rc": None if ok is None else (0 if ok else 1), "args": args, "output": output, "agent_mode": agent_mode}
    if ok is None:
        done("unknown", "exported", "exported to %s%s, but %s: the export is not proven" % (dest, cr_note, output))
    if not ok:
        done("critical", "check failed", "promtool %s refuses the exported configuration: %s" % (" ".join(args), output.splitlines()[-1] if output else ""))
    done("ok", "exported and checked", "%s exported to %s; promtool %s passed%s" % (
        ", ".join(sorted(backup["files"])), dest, " ".join(args), cr_note))


if __name__ == "__main__":
    main()
