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
A host whose remote-write window is too short gets its second reading in the same pool as soon as its
own first reading is ``rw_min_window`` old, while the others are still read (``_read_twice``).
With ``evaluate_var``, each host is judged here too (what fleet_evaluate does, plugin_utils/evaluation), in
the main thread as soon as its readings are in, while the pool reads the others: the per-host step of
the play only takes its ``fleet_result``.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import heapq
import json
import os
import time
import traceback

from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils import runners
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError
from ansible_collections.fleetops.prometheus_agent.plugins.modules.agent_audit import argument_spec as audit_spec
from ansible_collections.fleetops.prometheus_agent.plugins.modules.fleet_evaluate import argument_spec as evaluate_spec
from ansible_collections.fleetops.prometheus_agent.plugins.modules.fleet_gather import argument_spec
from ansible_collections.fleetops.prometheus_agent.plugins.modules.remote_write_stats import argument_spec as rw_spec
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import compiled_templates, evaluation
from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils.in_worker import LOCAL_CONNECTIONS, validated

AUDIT_SPEC = audit_spec()
RW_SPEC = rw_spec()
EVALUATE_SPEC = evaluate_spec()
# the variable that holds a host's entry while its evaluate_var is templated
ENTRY_VAR = "fleet_gather_entry"
# what the second reading takes of a host's audit options: the shared options (connection, thresholds)
RW_KEYS = frozenset(AUDIT_SPEC) & frozenset(RW_SPEC) - frozenset(("baseline",))


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


def first_reading_time(audit):
    """The time of the audit's remote-write reading (the baseline of the second), or None."""
    try:
        return float(audit["parts"]["remote_write_stats"]["snapshot"]["time"])
    except (KeyError, TypeError, ValueError):
        return None


def write_entry(folder, name, entry):
    """Write one host's entry as JSON in ``folder`` (0600, named by a hash of the host name); its path."""
    path = os.path.join(folder, "%s.json" % hashlib.sha256(name.encode("utf-8")).hexdigest()[:32])
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(handle, "w") as out:
        json.dump(entry, out)
    return path


class HostGathering(object):
    """One host's options, its two readings and the values to scrub from them."""

    def __init__(self, name):
        self.name = name
        self.params = None
        self.no_log_values = set()
        self.audit = None
        self.second = None
        self.errors = []
        self.host_vars = None
        self.fleet_result = None
        self.evaluation_error = None

    def run_audit(self, check_mode):
        self.audit, error = run_part("agent_audit", self.params, check_mode)
        if error:
            self.errors.append(error)

    def needs_second_reading(self, min_window):
        """True when the audit's remote-write window (since the fleet history's baseline) is shorter than ``min_window``."""
        try:
            window = float(((self.audit.get("parts") or {}).get("remote_write_stats") or {}).get("window_seconds") or 0)
        except (TypeError, ValueError):
            window = 0.0
        return window < min_window

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
        if self.fleet_result is not None:
            found["fleet_result"] = self.fleet_result
        if self.evaluation_error is not None:
            found["evaluation_error"] = self.evaluation_error
        # what AnsibleModule.exit_json does: no value of a no_log option of this host anywhere in its results
        return remove_values(found, self.no_log_values) if self.no_log_values else found


class ActionModule(ActionBase):
    """Gather the daily figures of every host of the play's batch; the results by host."""

    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        # the same template strings for every host of the play: each compiled once
        with compiled_templates.compiled_once() as compiles:
            result = self._gather(tmp, task_vars)
        result["templates"] = dict(compiles)
        return result

    def _gather(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=argument_spec())
        if args["workers"] < 1:
            return dict(result, failed=True, msg="workers must be at least 1, got %s" % args["workers"])
        if args["rw_min_window"] < 0:
            return dict(result, failed=True, msg="rw_min_window must not be negative, got %s" % args["rw_min_window"])
        names = list(task_vars.get("ansible_play_batch") or [task_vars.get("inventory_hostname")])
        check_mode = bool(self._task.check_mode)
        start = time.time()
        seconds = {}
        hosts = [HostGathering(name) for name in names]
        evaluate_var = args.get("evaluate_var")
        judging = [0.0]

        def judge(host):
            """Judge ``host`` now (its readings are done), in the main thread while the pool reads the others."""
            if evaluate_var:
                began = time.time()
                self._evaluate(host, evaluate_var, task_vars)
                judging[0] += time.time() - began

        with concurrent.futures.ThreadPoolExecutor(max_workers=min(args["workers"], len(hosts)) or 1,
                                                   thread_name_prefix="fleet_gather") as pool:
            # the options of one host after the other, each host read as soon as they are known
            running = {}
            templating = 0.0
            for host in hosts:
                began = time.time()
                self._prepare(host, args, task_vars)
                templating += time.time() - began
                if host.params is not None:
                    running[pool.submit(host.run_audit, check_mode)] = host
            seconds["options"] = round(templating, 3)
            # a host whose window is long enough is judged as soon as its audit is in; a host that needs a
            # second reading gets it in the same pool as soon as its own first reading is rw_min_window old,
            # while the others are still being read: only the last hosts' windows are waited for
            waited, audit_end = self._read_twice(pool, running, args["rw_min_window"], check_mode, judge, seconds, start)
            seconds["second_reading"] = round(time.time() - audit_end, 3)

        for host in hosts:
            if host.params is None:
                judge(host)     # its options failed: the judgement says why
        if evaluate_var:
            seconds["evaluation"] = round(judging[0], 3)

        statuses = {}
        for host in hosts:
            status = host.audit.get("status", "unknown") if host.audit is not None else "error"
            statuses[status] = statuses.get(status, 0) + 1
        result.update(changed=False, hosts=len(hosts), statuses=statuses, waited=round(waited, 3), seconds=seconds)
        if args.get("results_dir"):
            try:
                result["results_files"] = dict((host.name, write_entry(args["results_dir"], host.name, host.entry())) for host in hosts)
            except (OSError, TypeError, ValueError) as exc:
                return dict(result, failed=True, msg="cannot write the results to %s: %s" % (args["results_dir"], to_native(exc)))
        else:
            result["results"] = dict((host.name, host.entry()) for host in hosts)
        seconds["total"] = round(time.time() - start, 3)
        return result

    @staticmethod
    def _read_twice(pool, running, min_window, check_mode, judge, seconds, start):
        """Wait for the audits of ``running`` ({future: host}) and the second readings they need, each host's
        second reading submitted to ``pool`` once its own first reading is ``min_window`` seconds old, while the
        pool still reads the others (a host whose reading has no time: with the last of them). Every host is
        judged as soon as its last reading is in. Returns (the seconds the main thread only waited for windows,
        when the last audit came in)."""
        pending = dict((future, (host, "audit")) for future, host in running.items())
        due = []        # heap of (when its second reading may start, n, host)
        untimed = []    # hosts needing a second reading whose first reading has no time
        audits_left = len(running)
        audit_end = time.time()
        waited = 0.0
        count = 0
        while pending or due:
            while due and due[0][0] <= time.time():
                host = heapq.heappop(due)[2]
                pending[pool.submit(host.run_second_reading, check_mode)] = (host, "second")
            if not pending:
                # every reading so far is in: nothing to do until the next window ends
                pause = max(0.0, due[0][0] - time.time())
                time.sleep(pause)
                waited += pause
                continue
            timeout = max(0.0, due[0][0] - time.time()) if due else None
            done = concurrent.futures.wait(list(pending), timeout=timeout, return_when=concurrent.futures.FIRST_COMPLETED)[0]
            for future in done:
                host, kind = pending.pop(future)
                if kind == "second":
                    judge(host)
                    continue
                audits_left -= 1
                if host.audit is None or not host.needs_second_reading(min_window):
                    judge(host)
                else:
                    first = first_reading_time(host.audit)
                    if first is None:
                        untimed.append(host)
                    else:
                        count += 1
                        heapq.heappush(due, (first + min_window, count, host))
                if not audits_left:
                    audit_end = time.time()
                    last = max([when for when, _n, _h in due] or [audit_end])
                    for other in untimed:
                        count += 1
                        heapq.heappush(due, (last, count, other))
                    untimed = []
        seconds["audit"] = round(audit_end - start, 3)
        seconds["wait"] = round(waited, 3)
        return waited, audit_end

    def _prepare(self, host, args, task_vars):
        """Set ``host.params`` (the validated agent_audit options of that host) or ``host.errors``."""
        try:
            host_vars = host.host_vars = self._vars_of(host.name, task_vars)
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

    def _evaluate(self, host, var, task_vars):
        """Set ``host.fleet_result`` (fleet_evaluate's, from the options in ``var`` templated for that host with its
        entry as ``fleet_gather_entry``) or ``host.evaluation_error``, the sentence fleet_evaluate would fail with."""
        try:
            host_vars = host.host_vars if host.host_vars is not None else self._vars_of(host.name, task_vars)
            if var not in host_vars:
                host.evaluation_error = "the evaluation options variable %s is not defined for %s" % (var, host.name)
                return
            entry = host.entry()    # scrubbed of the host's no_log values
            templar = self._templar.copy_with_new_env(available_variables=dict(host_vars, **{ENTRY_VAR: entry}))
            options = templar.template(host_vars[var])
            if not isinstance(options, dict):
                host.evaluation_error = "the evaluation options variable %s of %s is not a dict" % (var, host.name)
                return
            # what the options leave out is the entry's own, taken here rather than templated: the entry's
            # parts are most of a host's data, and templating copies and tags every value it returns
            given = without_omit(options, task_vars.get("omit"))
            options = dict(evaluation.audit_options(entry.get("agent_audit"), entry.get("remote_write_stats")),
                           errors=list(entry.get("errors") or []))
            options.update(given)
            params, no_log_values, error = validated("fleet_evaluate", EVALUATE_SPEC, options)
            host.no_log_values |= no_log_values
            if error:
                host.evaluation_error = "fleet_evaluate: %s" % error
                return
            host.fleet_result = evaluation.evaluate_host(params, host.name)
        except evaluation.EvaluationError as exc:
            host.evaluation_error = to_native(exc)
        except Exception as exc:  # pylint: disable=broad-except
            # an undefined variable, a template that fails: this host's error, not the play's
            host.evaluation_error = "the evaluation options of %s: %s" % (host.name, to_native(exc))

    def _vars_of(self, name, task_vars):
        """The variables this task sees on host ``name`` (what the strategy would give its worker)."""
        manager = self._task.get_variable_manager()
        host = manager._inventory.get_host(name)  # pylint: disable=protected-access
        return manager.get_vars(play=self._task.get_play(), host=host, task=self._task, include_hostvars=True,
                                _hosts=task_vars.get("ansible_play_hosts"), _hosts_all=task_vars.get("ansible_play_hosts_all"))
