# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of fleet_gather: every host of the play's batch audited from one worker, with a bounded thread pool.

Run once for the play (``run_once: true``). For each host of ``ansible_play_batch`` the options are
what that host's own task would get: the variables this task sees on that host (the variable
manager's ``get_vars`` for host and task, so role defaults, task vars, inventory, registered and
extra vars with their usual precedence), of which the connection dict and the audit options dict
are templated in that host's context. The main thread templates one host after the other and hands
each to the pool as soon as its options are known, so the templating overlaps the clusters' answers.
Then one wait for what remains of the remote-write window and the second readings, in the same pool.

The work is CPU-bound in Python (templating, TLS, parsing /metrics), so one process holds one core
whatever its threads: the hosts are split among ``processes`` forks of this worker (each with its share
of the ``workers`` threads), each writing its hosts' entries as JSON files into one private directory
under Ansible's local temporary directory of the run (removed when ansible-playbook exits). With
``store: files`` the entries stay there for a per-host task to read (the task result then holds no
per-host data: a registered dict of thousands of hosts makes every later task of every host slower,
its worker templating it and copying the main process's pages); with ``store: result`` they are read
back into ``results``.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import shutil
import tempfile
import time
import traceback

from ansible import constants as C

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils import runners
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError
from ansible_collections.fleetops.prometheus_agent.plugins.modules.agent_audit import argument_spec as audit_spec
from ansible_collections.fleetops.prometheus_agent.plugins.modules.fleet_gather import argument_spec
from ansible_collections.fleetops.prometheus_agent.plugins.modules.remote_write_stats import argument_spec as rw_spec
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils.in_worker import LOCAL_CONNECTIONS

AUDIT_SPEC = audit_spec()
RW_SPEC = rw_spec()
# what the second reading takes of a host's audit options: the shared options (connection, thresholds)
RW_KEYS = frozenset(AUDIT_SPEC) & frozenset(RW_SPEC) - frozenset(("baseline",))


def validated(module, spec, params):
    """(validated parameters, no_log values, None) or (None, no_log values, the message the module would fail with)."""
    validation = ArgumentSpecValidator(spec).validate(dict(params))
    no_log_values = getattr(validation, "_no_log_values", set())
    errors = validation.errors.errors
    if errors:
        msg = validation.errors.msg
        if isinstance(errors[0], UnsupportedError):
            msg = "Unsupported parameters for (fleetops.prometheus_agent.%s) module: %s" % (module, msg)
        return None, no_log_values, msg
    return validation.validated_parameters, no_log_values, None


def run_part(module, params, check_mode):
    """(the runner's result, None) or (None, why it stopped): a refused argument or an error is data, never a raise."""
    try:
        return runners.run_module(module, params, check_mode=check_mode), None
    except FleetopsError as exc:  # also MissingLibrary: this host's kind of target needs a library the controller lacks
        return None, "%s: %s" % (module, to_native(exc))
    except Exception as exc:  # pylint: disable=broad-except
        return None, "%s failed: %s (%s)" % (module, to_native(exc), traceback.format_exc(limit=3).splitlines()[-1])


def without_omit(options, omit):
    """``options`` without the values that are the omit placeholder (ansible-core before 2.19 leaves them in)."""
    return dict((key, value) for key, value in options.items() if omit is None or value != omit)


def entry_file(results_dir, host):
    """The file of one host's entry: the SHA-1 of its name (``inventory_hostname | hash('sha1')``), any name is a file name."""
    return os.path.join(results_dir, hashlib.sha1(host.encode("utf-8")).hexdigest() + ".json")


def write_json(path, data):
    """``data`` as JSON at ``path``, written whole (a reader never sees half a file)."""
    partial = path + ".part"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(data, handle, separators=(",", ":"), default=str)
    os.rename(partial, path)


def read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def process_count(asked, hosts):
    """The processes to gather ``hosts`` hosts: ``asked``, or the controller's CPUs (at most 8) when 0."""
    count = asked or min(os.cpu_count() or 1, 8)
    return max(1, min(count, hosts))


def first_reading_time(audit):
    """The time of the audit's remote-write reading (the baseline of the second), or None."""
    try:
        return float(audit["parts"]["remote_write_stats"]["snapshot"]["time"])
    except (KeyError, TypeError, ValueError):
        return None


class HostGathering(object):
    """One host's options, its two readings and the values to scrub from them."""

    def __init__(self, name):
        self.name = name
        self.params = None
        self.no_log_values = set()
        self.audit = None
        self.second = None
        self.errors = []

    def run_audit(self, check_mode):
        self.audit, error = run_part("agent_audit", self.params, check_mode)
        if error:
            self.errors.append(error)

    def run_second_reading(self, check_mode):
        snapshot = ((self.audit.get("parts") or {}).get("remote_write_stats") or {}).get("snapshot")
        options = dict((key, value) for key, value in self.params.items() if key in RW_KEYS)
        if snapshot is not None:
            options["baseline"] = snapshot
        params, no_log_values, error = validated("remote_write_stats", RW_SPEC, options)
        self.no_log_values |= no_log_values
        if error is None:
            self.second, error = run_part("remote_write_stats", params, check_mode)
        if error:
            self.errors.append(error)

    def entry(self):
        found = {"errors": self.errors}
        if self.audit is not None:
            found["agent_audit"] = self.audit
        if self.second is not None:
            found["remote_write_stats"] = self.second
        # what AnsibleModule.exit_json does: no value of a no_log option of this host anywhere in its results
        return remove_values(found, self.no_log_values) if self.no_log_values else found


class ActionModule(ActionBase):
    """Gather the daily figures of every host of the play's batch; the results by host."""

    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=argument_spec())
        for name, least in (("workers", 1), ("processes", 0), ("rw_min_window", 0)):
            if args[name] < least:
                return dict(result, failed=True, msg="%s must be at least %s, got %s" % (name, least, args[name]))
        names = list(task_vars.get("ansible_play_batch") or [task_vars.get("inventory_hostname")])
        start = time.time()
        processes = process_count(args["processes"], len(names))
        threads = max(1, args["workers"] // processes)
        results_dir = tempfile.mkdtemp(prefix="fleet_gather-", dir=self._local_tmp())
        # host i to process i % processes: each has its share of the slow and the quick clusters
        shares = [names[index::processes] for index in range(processes)]
        children = []
        for index, share in enumerate(shares[1:], 1):
            children.append((self._fork(share, args, task_vars, threads, results_dir, index), index, share))
        summaries = [self._gather(shares[0], args, task_vars, threads, results_dir)]
        for pid, index, share in children:
            _pid, status = os.waitpid(pid, 0)
            try:
                summaries.append(read_json(os.path.join(results_dir, "summary-%d.json" % index)))
            except (IOError, OSError, ValueError):
                why = "fleet_gather: the process gathering %d hosts ended with status %s before its results" % (len(share), status)
                for name in share:
                    if not os.path.exists(entry_file(results_dir, name)):
                        write_json(entry_file(results_dir, name), {"errors": [why]})
                summaries.append({"statuses": {"error": len(share)}, "seconds": {}, "waited": 0.0})

        statuses, seconds = {}, {}
        for summary in summaries:
            for status, count in summary["statuses"].items():
                statuses[status] = statuses.get(status, 0) + count
            for phase, took in summary["seconds"].items():
                seconds[phase] = max(seconds.get(phase, 0.0), took)
        seconds["total"] = round(time.time() - start, 3)
        result.update(changed=False, hosts=len(names), statuses=statuses, processes=processes, seconds=seconds,
                      waited=max(summary["waited"] for summary in summaries))
        if args["store"] == "files":
            result["results_dir"] = results_dir
        else:
            result["results"] = dict((name, read_json(entry_file(results_dir, name))) for name in names)
            shutil.rmtree(results_dir, ignore_errors=True)
        return result

    @staticmethod
    def _local_tmp():
        """Ansible's local temporary directory of this run (removed at its end), else the system's."""
        path = getattr(C, "DEFAULT_LOCAL_TMP", None)
        return path if path and os.path.isdir(path) else None

    def _fork(self, share, args, task_vars, threads, results_dir, index):
        """A process gathering ``share``: its entries and its summary go to ``results_dir``; its pid."""
        pid = os.fork()
        if pid:
            return pid
        code = 1
        try:
            write_json(os.path.join(results_dir, "summary-%d.json" % index),
                       self._gather(share, args, task_vars, threads, results_dir))
            code = 0
        finally:
            # nothing of the worker's own exit (its queues, atexit) runs in this copy of it
            os._exit(code)  # pylint: disable=protected-access

    def _gather(self, names, args, task_vars, threads, results_dir):
        """Both readings of the hosts ``names``, each host's entry written to its file; the summary."""
        check_mode = bool(self._task.check_mode)
        start = time.time()
        seconds = {}
        hosts = [HostGathering(name) for name in names]
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(threads, len(hosts))),
                                                   thread_name_prefix="fleet_gather") as pool:
            # the options of one host after the other, each host read as soon as they are known
            running = []
            templating = 0.0
            for host in hosts:
                began = time.time()
                self._prepare(host, args, task_vars)
                templating += time.time() - began
                if host.params is not None:
                    running.append(pool.submit(host.run_audit, check_mode))
            seconds["options"] = round(templating, 3)
            concurrent.futures.wait(running)
            seconds["audit"] = round(time.time() - start, 3)

            # one wait: what remains of the window after the latest first reading
            audited = [host for host in hosts if host.audit is not None]
            times = [t for t in (first_reading_time(host.audit) for host in audited) if t is not None]
            waited = max(0.0, args["rw_min_window"] - (time.time() - max(times))) if times else 0.0
            if waited:
                time.sleep(waited)
            seconds["wait"] = round(waited, 3)

            began = time.time()
            concurrent.futures.wait([pool.submit(host.run_second_reading, check_mode) for host in audited])
            seconds["second_reading"] = round(time.time() - began, 3)

        statuses = {}
        for host in hosts:
            status = host.audit.get("status", "unknown") if host.audit is not None else "error"
            statuses[status] = statuses.get(status, 0) + 1
            write_json(entry_file(results_dir, host.name), host.entry())
        return {"statuses": statuses, "seconds": seconds, "waited": round(waited, 3)}

    def _prepare(self, host, args, task_vars):
        """Set ``host.params`` (the validated agent_audit options of that host) or ``host.errors``."""
        try:
            host_vars = self._vars_of(host.name, task_vars)
            templar = self._templar.copy_with_new_env(available_variables=host_vars)
            connection = templar.template(host_vars["ansible_connection"]) if "ansible_connection" in host_vars \
                else self._play_context.connection
            if connection not in LOCAL_CONNECTIONS:
                host.errors.append("fleet_gather=fleet reads every cluster from the controller, and %s has ansible_connection %s: "
                                   "use fleet_gather=host for it" % (host.name, connection))
                return
            options = {}
            for kind, var in (("connection", args["connection_var"]), ("audit", args.get("options_var"))):
                if not var:
                    continue
                if var not in host_vars:
                    host.errors.append("the %s options variable %s is not defined for %s" % (kind, var, host.name))
                    return
                value = templar.template(host_vars[var])
                if not isinstance(value, dict):
                    host.errors.append("the %s options variable %s of %s is not a dict" % (kind, var, host.name))
                    return
                options.update(without_omit(value, task_vars.get("omit")))
        except Exception as exc:  # pylint: disable=broad-except
            # an undefined variable, a template that fails: this host's error, not the play's
            host.errors.append("the options of %s: %s" % (host.name, to_native(exc)))
            return
        host.params, host.no_log_values, error = validated("agent_audit", AUDIT_SPEC, options)
        if error:
            host.errors.append("agent_audit: %s" % error)

    def _vars_of(self, name, task_vars):
        """The variables this task sees on host ``name`` (what the strategy would give its worker)."""
        manager = self._task.get_variable_manager()
        host = manager._inventory.get_host(name)  # pylint: disable=protected-access
        return manager.get_vars(play=self._task.get_play(), host=host, task=self._task, include_hostvars=True,
                                _hosts=task_vars.get("ansible_play_hosts"), _hosts_all=task_vars.get("ansible_play_hosts_all"))
