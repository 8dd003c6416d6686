"""A Kubernetes API server that is there and never answers (issue 17 item 1).

Two silent servers (``reliability_helpers.SilentServer``): one accepts the TCP connection and never
starts TLS, the other completes the TLS handshake (a certificate its kubeconfig trusts) and never
sends a byte. Every read-only module has ``timeout`` as the deadline of its whole run (connect, TLS
and every read of every request: the API, the pod proxy, exec, logs), so

* agent_status, agent_audit, remote_write_stats, agent_logs and wal_inspect (pod mode, through
  exec) return ``unknown`` within ``timeout`` + 3 s (timeout 5) in Ansible's worker, more what a
  no-op task (``ansible.builtin.debug``) timed the same way took just before (the timing spans
  the two ``set_fact`` tasks around the module and the worker's fork, which cost seconds more on
  a 2-core machine at load 13 than idle); as module processes, within ``timeout`` + 3 s more than the same module took against the lab's answering
  API server just before or just after (a module process starts Python and imports the kubernetes
  client before its deadline starts, which takes 1-10 s on a loaded 2-core machine: the slower of
  the two answering runs measures that cost in the same moment);
* the daily playbook with both silent hosts among the lab's healthy clusters completes and writes
  the report, the silent hosts ``unknown`` and the lab's clusters as in the same run without them,
  and costs at most two module timeouts (its two gathering tasks) plus 20 s of noise more than
  that run.

Before, wal_inspect and agent_audit never returned (the exec WebSocket had no timeout) and the
daily play hung in its gathering task. The figures go to tests/output/deadline-figures.md.
"""

from __future__ import annotations

import json
import re
import time

import pytest
import yaml

from ansible_runner_helpers import REPO_ROOT, run_playbook
from reliability_helpers import (ANSIBLE_ENV, TIMEOUT_PATTERN, SilentServer, derived_kubeconfig, kube_host_vars, real_clusters, run_daily,
                                 write_inventory)

pytestmark = [pytest.mark.lab, pytest.mark.slow]

TIMEOUT = 5
MARGIN = 3
MODULES = {
    "agent_status": {},
    "agent_audit": {},
    "remote_write_stats": {},
    "agent_logs": {},
    "wal_inspect": {"location": "pod", "verify": "tail"},
}
SILENT = ("api-silent-tcp", "api-silent-tls")
# the lab's own API server under a context of the same kubeconfig: what a module costs when the
# server answers (the baseline of the module-process runs)
ANSWERING = "api-answering"
FIGURES = REPO_ROOT / "tests" / "output" / "deadline-figures.md"
TIMEOUT_RE = re.compile(TIMEOUT_PATTERN, re.I)
_FIGURES = []


@pytest.fixture(scope="module")
def silent(lab, tmp_path_factory):
    servers = {"api-silent-tcp": SilentServer(), "api-silent-tls": SilentServer(tls=True)}
    first = real_clusters(lab)[0]
    kubeconfig = derived_kubeconfig(lab, tmp_path_factory.mktemp("silent") / "kubeconfig", {
        **{name: {"from": first, "server": srv.url, "ca_pem": srv.ca_pem} for name, srv in servers.items()},
        ANSWERING: {"from": first}})
    yield {"kubeconfig": kubeconfig, "servers": servers, "template": first}
    for srv in servers.values():
        srv.stop()
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text("# Silent API server (issue 17 item 1)\n\n" + "\n".join(_FIGURES) + "\n", encoding="utf-8")


def _timed(key, module, args):
    """The tasks that run ``module`` (of this collection, or a full name) with ``args`` as task
    ``key`` and set ``took`` (seconds) in task ``took <key>``."""
    action = module if "." in module else "fleetops.prometheus_agent." + module
    return [
        {"name": "start %s" % key, "ansible.builtin.set_fact": {"started_" + key: "{{ now().timestamp() }}"}},
        {"name": key, action: args, "register": "result_" + key, "ignore_errors": True},
        {"name": "took %s" % key, "ansible.builtin.set_fact": {"took": "{{ now().timestamp() - (started_%s | float) }}" % key}},
    ]


def _module_play(lab, silent, baseline):
    """Every module against each silent server, each run preceded by a no-op task timed the same
    way (task ``<key>_noop``); with ``baseline``, each run is also preceded and followed by the
    same module against the lab's answering API server (tasks ``<key>_answering`` and
    ``<key>_answering_after``)."""
    info = lab.state["clusters"][silent["template"]]
    tasks = []
    for context in SILENT:
        for module, extra in MODULES.items():
            key = "%s_%s" % (module, context.replace("-", "_"))
            args = dict({"kubeconfig": silent["kubeconfig"], "context": context, "namespace": info["namespace"],
                         "pod": info["pod"], "timeout": TIMEOUT}, **extra)
            tasks += _timed(key + "_noop", "ansible.builtin.debug", {"msg": "what a task costs now"})
            if baseline:
                tasks += _timed(key + "_answering", module, dict(args, context=ANSWERING))
            tasks += _timed(key, module, args)
            if baseline:
                tasks += _timed(key + "_answering_after", module, dict(args, context=ANSWERING))
    return [{"name": "read-only modules against a silent API server", "hosts": "localhost", "gather_facts": False,
             "tasks": tasks}]


@pytest.mark.parametrize("in_worker", ["1", "0"], ids=["in-worker", "module-process"])
def test_every_module_is_unknown_within_its_timeout(lab, silent, tmp_path, in_worker):
    play = _module_play(lab, silent, baseline=in_worker == "0")
    run = run_playbook(yaml.safe_dump(play, sort_keys=False), env=dict(ANSIBLE_ENV, FLEETOPS_IN_WORKER=in_worker),
                       timeout=900, cwd=str(tmp_path),
                       extra_vars={"ansible_python_interpreter": "{{ ansible_playbook_python }}"})
    by_task = {r["task"]: r for r in run.results}

    def took(key):
        return float(((by_task.get("took %s" % key) or {}).get("result") or {}).get("ansible_facts", {}).get("took", "nan"))

    slow, wrong, rows = [], [], []
    for context in SILENT:
        for module in MODULES:
            key = "%s_%s" % (module, context.replace("-", "_"))
            result = (by_task.get(key) or {}).get("result") or {}
            # the start-up cost of a module process in the same moment: the slower of the answering
            # runs just before and just after (one sample of it swings by seconds under load); in
            # the worker, what Ansible itself costs for a task in the same moment
            answering = max(took(key + "_answering"), took(key + "_answering_after")) if in_worker == "0" else took(key + "_noop")
            bound = TIMEOUT + MARGIN + answering
            rows.append("| %s | %s | %s | %.1f | %s | %.1f |" % (
                "in the worker" if in_worker == "1" else "module process", module, context, took(key), result.get("status"),
                answering))
            # not <=: a missing time (nan) counts as slow too
            if not took(key) <= bound:  # pylint: disable=unnecessary-negation
                slow.append("%s: %.1fs (bound %.1fs)" % (key, took(key), bound))
            if in_worker == "0":
                baseline = (by_task.get(key + "_answering") or {}).get("result") or {}
                # a first reading of remote write is unknown (no window yet): only no answer is wrong here
                answered = json.dumps([c.get("message") for c in baseline.get("checks") or []] + [baseline.get("msg")])
                if baseline.get("failed") or not baseline.get("status") or TIMEOUT_RE.search(answered):
                    wrong.append("%s_answering: the answering server's run is %s, %s" % (key, baseline.get("status"), answered[:300]))
            messages = json.dumps([c.get("message") for c in result.get("checks") or []] + [result.get("msg")])
            if result.get("status") != "unknown" or result.get("failed") or not TIMEOUT_RE.search(messages):
                wrong.append("%s: status %s, %s" % (key, result.get("status"), messages[:300]))
    _FIGURES.extend(["| path | module | server | seconds (timeout %d) | status | seconds of the baseline (answering server; no-op in the worker) |" % TIMEOUT,
                     "|---|---|---|---|---|---|"] + rows + [""])
    assert run.rc == 0, run.output[-3000:]
    assert not slow, "over timeout + %ds (+ the baseline: the answering run of a module process, a no-op task in the worker): %s" % (MARGIN, slow)
    assert not wrong, wrong
    assert "Traceback (most recent call last)" not in run.output


def test_daily_playbook_with_silent_hosts_finishes_and_reports(lab, silent, tmp_path):
    lab_hosts = real_clusters(lab)
    extra = {name: dict(kube_host_vars(lab, silent["kubeconfig"], name, silent["template"]), fleet_module_timeout=TIMEOUT)
             for name in SILENT}
    (tmp_path / "healthy").mkdir()
    (tmp_path / "silent").mkdir()
    healthy = run_daily(write_inventory(lab, tmp_path / "healthy" / "inventory.yml"), tmp_path / "healthy")
    started = time.time()
    run = run_daily(write_inventory(lab, tmp_path / "silent" / "inventory.yml", extra_hosts=extra), tmp_path / "silent")
    seconds = time.time() - started
    audits = {}
    for record in run.run.results:
        if record["host"] in SILENT and (record["result"].get("seconds") or None) is not None:
            audits[record["host"]] = round(sum(record["result"]["seconds"].values()), 1)
    bound = healthy.seconds + 2 * (TIMEOUT + MARGIN) + 20
    _FIGURES.extend([
        "| daily playbook | seconds |", "|---|---|",
        "| %d lab clusters | %.0f |" % (len(lab_hosts), healthy.seconds),
        "| the same + %s (fleet_module_timeout %d) | %.0f (bound %.0f) |" % (" and ".join(SILENT), TIMEOUT, seconds, bound),
        "| agent_audit of the silent hosts (sum of its parts) | %s |" % audits, ""])
    completed, why = run.completed(lab_hosts + list(SILENT))
    assert completed, why + "\n" + run.output[-3000:]
    assert run.report_written()
    assert not run.tracebacks(), run.tracebacks()
    for host in SILENT:
        cluster = run.cluster(host)
        pod = run.checks(host).get("POD") or {}
        assert cluster.get("status") == "unknown" and pod.get("status") == "unknown", (host, cluster)
        assert TIMEOUT_RE.search(json.dumps(cluster)), cluster
        assert audits.get(host, 0) <= TIMEOUT + MARGIN, audits
    for host in lab_hosts:
        assert run.cluster(host).get("status") == healthy.cluster(host).get("status"), (
            host, run.cluster(host).get("status"), healthy.cluster(host).get("status"))
    assert seconds <= bound, "the silent hosts cost %.0fs (without them %.0fs)" % (seconds - healthy.seconds, healthy.seconds)
