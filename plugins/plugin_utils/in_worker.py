# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a read-only module of the collection inside Ansible's worker when the task runs on the controller.

The modules of the collection reach their clusters through the Kubernetes API from the controller
(one inventory host per cluster, ``ansible_connection: local``). Starting a module process for such
a task costs a Python start, AnsiballZ, ``ansible.module_utils.basic`` and ``import kubernetes``
(about 0.85 CPU-s), several times what the work itself costs. The action plugins of the read-only
modules therefore run the same runner (``plugins/module_utils/runners.py``) in the worker process:

* when the task's connection is local (also when delegated to a host whose connection is local)
  and the runner's libraries import in the controller's Python: in the worker, with the module's
  own argument spec and validation, check mode, the same result and the same scrubbing of
  ``no_log`` values as ``AnsibleModule`` does;
* otherwise (a remote host, e.g. ``wal_inspect`` of a local path on an agent's own VM, or async):
  the module itself, as any module runs (``_execute_module``).

The kubernetes client is imported when this file is loaded: the linear and free strategies load
an action class in the main process before they fork a worker for a host, so the import is paid
once per play, not once per host. ``FLEETOPS_IN_WORKER=0`` in the controller's environment turns
the in-worker path off (every task then starts its module, as before).

The task's ``environment:`` (``K8S_AUTH_*`` fallbacks, ``KUBECONFIG``, ``HTTPS_PROXY``) applies in
the worker as it does to a module process: it is set in the worker's environment while the
arguments are validated and the runner runs, and the worker's own environment is restored after.
"""

from __future__ import annotations

import contextlib
import os

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase

try:
    # loaded here, in the main process, before the workers fork: one import per play, not per host
    import kubernetes.client  # noqa: F401  pylint: disable=unused-import
    import kubernetes.stream  # noqa: F401  pylint: disable=unused-import
except ImportError:  # the module path says what is missing (a local wal_inspect does not need it)
    pass

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils import runners
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.args_common import run_result
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import MissingLibrary

LOCAL_CONNECTIONS = ("local", "ansible.builtin.local")


def validated(module, spec, params):
    """Options checked the way the module's AnsibleModule checks them: (validated parameters, no_log
    values, None), or (None, no_log values, the message the module would fail with)."""
    validation = ArgumentSpecValidator(spec).validate(dict(params))
    no_log_values = getattr(validation, "_no_log_values", set())
    errors = validation.errors.errors  # (the container itself is always true)
    if errors:
        msg = validation.errors.msg
        if isinstance(errors[0], UnsupportedError):
            msg = "Unsupported parameters for (fleetops.prometheus_agent.%s) module: %s" % (module, msg)
        return None, no_log_values, msg
    return validation.validated_parameters, no_log_values, None


def in_worker_enabled():
    """False when the user turned the in-worker path off (``FLEETOPS_IN_WORKER=0``)."""
    return os.environ.get("FLEETOPS_IN_WORKER", "1").strip().lower() not in ("0", "false", "no", "off")


@contextlib.contextmanager
def environment(variables):
    """``os.environ`` with ``variables`` set (strings, as a process environment holds them), restored after."""
    saved = {name: os.environ.get(name) for name in variables}
    try:
        for name, value in variables.items():
            os.environ[name] = "" if value is None else str(value)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class InWorkerAction(ActionBase):
    """The action of one read-only module: its runner in the worker on the controller, the module elsewhere.

    A subclass names its module (``MODULE_NAME``) and gives the module's ``argument_spec`` function
    (``ARGUMENT_SPEC``), imported from the module file when the action plugin is loaded.
    """

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True
    MODULE_NAME = ""
    ARGUMENT_SPEC = None

    def on_controller(self):
        """True when the task runs on the controller (a local connection), in whichever process."""
        transport = getattr(self._connection, "transport", None) or getattr(self._connection, "_load_name", None)
        return transport in LOCAL_CONNECTIONS

    def runs_in_worker(self):
        """True when this task's work belongs to the controller's Python (a local connection, not async)."""
        return in_worker_enabled() and not self._task.async_val and self.on_controller()

    def module_args(self):
        """The task's arguments as both paths get them (a subclass may resolve some on the controller)."""
        return dict(self._task.args)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = self.module_args()
        if self.runs_in_worker():
            task_environment = {}
            self._compute_environment_string(raw_environment_out=task_environment)
            with environment(task_environment):
                outcome = self._run_in_worker(args)
            if outcome is not None:
                result.update(outcome)
                return result
        result.update(self._execute_module(module_name="fleetops.prometheus_agent." + self.MODULE_NAME,
                                           module_args=args, task_vars=task_vars,
                                           wrap_async=self._task.async_val))
        return result

    def _run_in_worker(self, args):
        """The module's result computed here, or None when the module process must do it (a missing library)."""
        # argument errors fail the task with the message the module's AnsibleModule gives
        params, no_log_values, error = validated(self.MODULE_NAME, type(self).ARGUMENT_SPEC(), args)
        if error:
            return remove_values({"failed": True, "changed": False, "msg": error}, no_log_values)
        try:
            outcome = run_result(self.MODULE_NAME, params, bool(self._task.check_mode), runners.run_module)
        except MissingLibrary:
            # the controller's Python lacks a library the module's interpreter may have: let the module run
            return None
        outcome.setdefault("changed", False)
        outcome["invocation"] = {"module_args": params}
        # what AnsibleModule.exit_json does: no value of a no_log option anywhere in the result
        return remove_values(outcome, no_log_values)
