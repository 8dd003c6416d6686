# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``promtool`` on the controller: rule files (RULES) and an exported configuration (BACKUP).

The only place the collection runs ``promtool``; modules never start processes themselves.
A missing ``promtool`` is an answer (``None`` and the reason), not an error.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess
import tempfile

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import alert_rules

# what promtool says when the configuration names a file that lives in the pod, not here
MISSING_FILE_HINTS = ("no such file", "not found", "doesn't exist", "does not exist")


def _run(argv, timeout):
    """(exit code, stdout and stderr) of a promtool command."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def check_rules(promtool, objects):
    """({object: error} of the PrometheusRule objects promtool refuses, None); (None, reason) without promtool."""
    binary = shutil.which(promtool) if promtool else None
    if not binary:
        return None, "%s not found on the controller: rules not validated" % promtool
    errors = {}
    with tempfile.TemporaryDirectory(prefix="fleetops-rules-") as tmp:
        for obj in objects:
            meta = obj.get("metadata") or {}
            name = "%s/%s" % (meta.get("namespace"), meta.get("name"))
            path = os.path.join(tmp, "rules.yml")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(json.dumps({"groups": alert_rules.groups_of(obj)}))
            rc, output = _run([binary, "check", "rules", path], 60)
            if rc != 0:
                errors[name] = output.replace(path, name).strip()[-1000:]
    return errors, None


def check_config(promtool, path, agent_mode):
    """(ok, args, output) of ``promtool check config``; ok is None without promtool.

    Falls back to ``--syntax-only`` when the configuration names files that live in the pod.
    """
    binary = shutil.which(promtool) if promtool else None
    if not binary:
        return None, [], "%s not found on the controller" % promtool
    _rc, help_text = _run([binary, "check", "config", "--help"], 30)
    args = ["check", "config"]
    if agent_mode and "--agent" in help_text:
        args.append("--agent")
    rc, output = _run([binary] + args + [path], 60)
    output = output.strip()
    if rc != 0 and any(h in output.lower() for h in MISSING_FILE_HINTS) and "--syntax-only" in help_text:
        args.append("--syntax-only")
        rc, output = _run([binary] + args + [path], 60)
        output = output.strip() + " (files the config references live in the pod: syntax checked)"
    return rc == 0, args, output[-2000:]
