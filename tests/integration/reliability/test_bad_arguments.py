"""Bad arguments to every module and role (issue 8): a clear message naming the option.

Everything goes through the real ``ansible-playbook`` with the collection installed: one
playbook holds every module case (a task each, ``ignore_errors``), another every role case
(``include_role`` in a block whose rescue keeps the message), so the suite costs two ansible
runs, not a hundred. No lab: a kubeconfig whose only context points at a closed port stands in
for a cluster (argument errors are found before any connection; the "context not in the
kubeconfig" case must say so, not time out).
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from ansible_runner_helpers import run_playbook
from reliability_helpers import ANSIBLE_ENV

# modules with the shared options (the `common` doc fragment)
TARGET_MODULES = ("agent_status", "remote_write_stats", "wal_inspect", "agent_logs", "agent_restart", "agent_tune",
                  "agent_backup", "rules_status")
# what a module needs besides the bad argument, so that only the bad argument is wrong
REQUIRED = {
    "agent_backup": {"dest": "/tmp/fleetops-bad-args-backup"},
    # a rules file with one group (the module's `expected`), so the kubeconfig/context cases reach the cluster
    "rules_status": {"expected": {"groups": [{"name": "prometheus-agent",
                                              "rules": [{"alert": "PrometheusAgentDown", "expr": "up == 0"}]}]}},
    "agent_tune": {"queue": {"capacity": 10000}},
    "fleet_evaluate": {"cadence": "daily", "results": {}},
}

SHARED_CASES_EVERYWHERE = ("unknown-option", "timeout-negative", "threshold-negative", "kubeconfig-missing",
                           "context-missing")

KUBECONFIG = {
    "apiVersion": "v1", "kind": "Config", "current-context": "only-context",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
    "users": [{"name": "u", "user": {"token": "not-a-secret"}}],
    "contexts": [{"name": "only-context", "context": {"cluster": "c", "user": "u"}}],
}


def module_cases():
    """(id, module, args, option the message must name, extra pattern or None, accept_unknown)."""
    cases = []
    for mod in TARGET_MODULES:
        base = dict(REQUIRED.get(mod, {}), kubeconfig="@KUBECONFIG@", context="only-context")
        generic = [
            ("%s-unknown-option" % mod, mod, dict(base, no_such_option=1), "no_such_option", r"unsupported", False),
            ("%s-timeout-type" % mod, mod, dict(base, timeout="soon"), "timeout", r"float|type", False),
            ("%s-timeout-negative" % mod, mod, dict(base, timeout=-1), "timeout", r"positive|negative|> ?0", False),
            ("%s-port-type" % mod, mod, dict(base, port="http"), "port", r"int|type", False),
            ("%s-port-range" % mod, mod, dict(base, port=70000), "port", r"65535|range|between", False),
            ("%s-threshold-negative" % mod, mod, dict(base, thresholds={"rw_lag_warning": -5}),
             "rw_lag_warning", r"negative", False),
            ("%s-threshold-type" % mod, mod, dict(base, thresholds={"rw_lag_warning": "high"}),
             "rw_lag_warning", r"number", False),
            ("%s-thresholds-not-dict" % mod, mod, dict(base, thresholds="fast"), "thresholds", r"dict|type", False),
            ("%s-url-scheme" % mod, mod, dict(REQUIRED.get(mod, {}), url="127.0.0.1:9090"), "url", r"http", False),
            ("%s-validate-certs-type" % mod, mod, dict(base, validate_certs="perhaps"), "validate_certs", r"bool", False),
            # paths that do not exist / a context not in the kubeconfig: a message naming it
            # (fail_json, or the status unknown with the reason: both name the option and the value)
            ("%s-kubeconfig-missing" % mod, mod, dict(REQUIRED.get(mod, {}), kubeconfig="/nonexistent/fleetops/kubeconfig"),
             "kubeconfig", r"/nonexistent/fleetops/kubeconfig", True),
            ("%s-context-missing" % mod, mod, dict(base, context="no-such-context"), "context", r"no-such-context", True),
        ]
        # the shared options are one argument spec (args_common): every case on the first module,
        # the ones a module could get wrong on its own (its spec, its use of the target) on the others
        if mod != TARGET_MODULES[0]:
            generic = [c for c in generic if c[0].split("-", 1)[1] in SHARED_CASES_EVERYWHERE]
        cases += generic
    cases += [
        ("wal_inspect-verify-choice", "wal_inspect", {"verify": "everything", "location": "local", "path": "/tmp"},
         "verify", r"none, tail, full|one of", False),
        ("wal_inspect-path-missing", "wal_inspect", {"location": "local", "path": "/nonexistent/fleetops/wal"},
         "path", r"/nonexistent/fleetops/wal", True),
        ("wal_inspect-location-choice", "wal_inspect", {"location": "moon"}, "location", r"one of", False),
        ("agent_restart-mode-choice", "agent_restart", {"mode": "violent", "kubeconfig": "@KUBECONFIG@"}, "mode",
         r"graceful, forced|one of", False),
        ("agent_restart-wait-negative", "agent_restart", {"wait_timeout": -5, "kubeconfig": "@KUBECONFIG@"}, "wait_timeout",
         r"negative|positive|>", False),
        ("agent_restart-max-lag-negative", "agent_restart", {"max_lag_seconds": -1, "kubeconfig": "@KUBECONFIG@"},
         "max_lag_seconds", r"negative|positive|>", False),
        ("agent_restart-cooldown-type", "agent_restart", {"cooldown_seconds": "later", "kubeconfig": "@KUBECONFIG@"},
         "cooldown_seconds", r"int|type", False),
        ("agent_tune-queue-type", "agent_tune", {"queue": "bigger", "kubeconfig": "@KUBECONFIG@"}, "queue", r"dict|type", False),
        ("agent_tune-step-negative", "agent_tune", {"step_percent": -10, "resources_step": ["memory"],
                                                    "kubeconfig": "@KUBECONFIG@"}, "step_percent", r"negative|positive|>", False),
        ("agent_tune-drop-state-choice", "agent_tune", {"drop_state": "maybe", "drop_metrics": ["x"],
                                                        "kubeconfig": "@KUBECONFIG@"}, "drop_state", r"one of", False),
        ("agent_tune-resources-step-choice", "agent_tune", {"resources_step": ["disk"], "kubeconfig": "@KUBECONFIG@"},
         "resources_step", r"one of|memory, cpu", False),
        ("remote_write_stats-source-choice", "remote_write_stats", {"source": "crystal-ball", "kubeconfig": "@KUBECONFIG@"},
         "source", r"one of", False),
        ("remote_write_stats-interval-negative", "remote_write_stats", {"interval": -3, "kubeconfig": "@KUBECONFIG@"},
         "interval", r"negative|positive|>", False),
        ("remote_write_stats-query-without-url", "remote_write_stats", {"source": "query", "kubeconfig": "@KUBECONFIG@"},
         "query_url", None, False),
        ("agent_status-interval-negative", "agent_status", {"interval": -1, "kubeconfig": "@KUBECONFIG@"}, "interval",
         r"negative|positive|>", False),
        ("agent_logs-since-garbage", "agent_logs", {"since": "the day before yesterday", "kubeconfig": "@KUBECONFIG@"},
         "since", None, False),
        ("agent_logs-tail-negative", "agent_logs", {"tail_lines": -3, "kubeconfig": "@KUBECONFIG@"}, "tail_lines",
         r"negative|positive|>", False),
        ("agent_logs-log-path-missing", "agent_logs", {"url": "http://127.0.0.1:1", "log_path": "/nonexistent/fleetops/agent.log"},
         "log_path", r"/nonexistent/fleetops/agent.log", True),
        ("agent_backup-dest-required", "agent_backup", {"kubeconfig": "@KUBECONFIG@"}, "dest", r"missing required", False),
        ("agent_backup-kind-choice", "agent_backup", {"dest": "/tmp/x", "kind": "Deployment", "kubeconfig": "@KUBECONFIG@"},
         "kind", r"one of", False),
        ("rules_status-expected-required", "rules_status", {"kubeconfig": "@KUBECONFIG@"}, "expected", r"missing required", False),
        ("fleet_evaluate-cadence-choice", "fleet_evaluate", {"cadence": "hourly", "results": {}}, "cadence", r"one of", False),
        ("fleet_evaluate-results-required", "fleet_evaluate", {"cadence": "daily"}, "results", r"missing required", False),
        ("fleet_evaluate-results-type", "fleet_evaluate", {"cadence": "daily", "results": "all good"}, "results",
         r"dict|type", False),
        ("fleet_evaluate-unknown-option", "fleet_evaluate", dict(REQUIRED["fleet_evaluate"], colour="red"), "colour",
         r"unsupported", False),
        ("fleet_report-fail-on-choice", "fleet_report", {"fail_on": "sometimes", "dest": "/tmp/fleetops-bad-args-report"},
         "fail_on", r"one of", False),
        ("fleet_report-unknown-option", "fleet_report", {"colour": "red", "dest": "/tmp/fleetops-bad-args-report"},
         "colour", r"unsupported", False),
        ("fleet_report-hosts-type", "fleet_report", {"hosts": {"a": 1}, "dest": "/tmp/fleetops-bad-args-report"},
         "hosts", r"list|type", False),
    ]
    return cases


MODULE_CASES = module_cases()

ROLE_CASES = [
    # (id, role, vars, option the message must name)
    ("daily_check-verify-choice", "daily_check", {"fleet_wal_verify": "everything"}, "fleet_wal_verify"),
    ("daily_check-timeout-type", "daily_check", {"fleet_module_timeout": "soon"}, "fleet_module_timeout"),
    ("daily_check-thresholds-type", "daily_check", {"agent_thresholds": "fast"}, "agent_thresholds"),
    ("daily_check-port-type", "daily_check", {"agent_port": "http"}, "agent_port"),
    ("daily_check-validate-certs-type", "daily_check", {"kube_validate_certs": "perhaps"}, "kube_validate_certs"),
    ("weekly_check-timeout-type", "weekly_check", {"fleet_module_timeout": "soon"}, "fleet_module_timeout"),
    ("weekly_check-query-certs-type", "weekly_check", {"fleet_query_validate_certs": "perhaps"}, "fleet_query_validate_certs"),
    ("weekly_check-namespaces-type", "weekly_check", {"fleet_rules_namespaces": {"a": 1}}, "fleet_rules_namespaces"),
    ("monthly_check-thresholds-type", "monthly_check", {"agent_thresholds": [1, 2]}, "agent_thresholds"),
    ("monthly_check-port-type", "monthly_check", {"agent_port": "http"}, "agent_port"),
    ("remediate-approved-type", "remediate", {"remediate_approved": "perhaps"}, "remediate_approved"),
    ("remediate-memory-action-choice", "remediate", {"remediate_memory_action": "pray"}, "remediate_memory_action"),
    ("remediate-allowed-choice", "remediate", {"remediate_allowed": ["reboot_the_world"]}, "remediate_allowed"),
    ("remediate-timeout-type", "remediate", {"remediate_wait_timeout": "long"}, "remediate_wait_timeout"),
    ("fleet_report-fail-on-choice", "fleet_report", {"fleet_fail_on": "sometimes"}, "fleet_fail_on"),
    ("fleet_report-remediation-type", "fleet_report", {"fleet_report_remediation": "perhaps"}, "fleet_report_remediation"),
]


def _subst(value, kubeconfig):
    return json.loads(json.dumps(value).replace("@KUBECONFIG@", kubeconfig))


@pytest.fixture(scope="module")
def module_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("bad-args")
    kubeconfig = work / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(KUBECONFIG))
    tasks = []
    for cid, mod, args, _opt, _pat, _unk in MODULE_CASES:
        tasks.append({"name": cid, "fleetops.prometheus_agent." + mod: _subst(args, str(kubeconfig)), "ignore_errors": True})
    play = [{"name": "bad module arguments", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    run = run_playbook(yaml.safe_dump(play, sort_keys=False), env=dict(ANSIBLE_ENV, ANSIBLE_PYTHON_INTERPRETER="auto_silent"),
                       extra_vars={"ansible_python_interpreter": "{{ ansible_playbook_python }}"}, timeout=2700, cwd=str(work))
    return run


@pytest.fixture(scope="module")
def role_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("bad-role-args")
    tasks = []
    for cid, role, rvars, _opt in ROLE_CASES:
        tasks.append({"name": cid, "block": [
            {"name": "include " + role, "ansible.builtin.include_role": {"name": "fleetops.prometheus_agent." + role},
             "vars": rvars},
            {"name": "%s was not refused" % cid, "ansible.builtin.set_fact": {"role_case_result": "accepted"}},
        ], "rescue": [
            {"name": "%s refused" % cid, "ansible.builtin.debug": {"msg": "{{ ansible_failed_result.msg | default('') }}"}},
        ]})
    play = [{"name": "bad role arguments", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    return run_playbook(yaml.safe_dump(play, sort_keys=False), env=ANSIBLE_ENV, timeout=900, cwd=str(work),
                        extra_vars={"ansible_python_interpreter": "{{ ansible_playbook_python }}"})


def _no_traceback(text):
    return not re.search(r"Traceback \(most recent call last\)|MODULE FAILURE", text)


# Bugs this suite found and that are not fixed yet (each case still runs; strict: a fix makes it XPASS
# and fails the run until the entry is removed here).
KNOWN_BUGS = {
}


def _case_param(case):
    marks = [pytest.mark.xfail(reason="known bug: " + KNOWN_BUGS[case[0]], strict=True)] if case[0] in KNOWN_BUGS else []
    return pytest.param(case, id=case[0], marks=marks)


@pytest.mark.parametrize("case", [_case_param(c) for c in MODULE_CASES])
def test_module_bad_argument(case, module_run):
    cid, mod, args, option, pattern, accept_unknown = case
    found = [r for r in module_run.results if r["task"] == cid]
    assert found, "task %s did not run (rc=%s):\n%s" % (cid, module_run.rc, module_run.output[-3000:])
    res = found[-1]["result"]
    msg = str(res.get("msg") or "")
    # ansible-core 2.19 keeps "failed" out of an ignored result: the callback's status says it
    if not (res.get("failed") or found[-1]["status"] in ("failed", "ignored")):
        # a path that does not exist / a context not in the kubeconfig may be a result: unknown with the reason
        texts = [msg] + [str(c.get("message")) for c in res.get("checks") or []] + [str(res.get("reason") or "")]
        assert accept_unknown and res.get("status") == "unknown", (
            "%s %s was accepted: %s" % (mod, json.dumps(args)[:200], json.dumps(res)[:800]))
        msg = " ".join(texts)
    # a path that does not exist: naming the path given is as clear as naming the option
    named = option in msg or (accept_unknown and pattern and re.search(pattern, msg))
    assert named, "%s: the message does not name %r: %s" % (cid, option, msg[:500])
    if pattern:
        assert re.search(pattern, msg, re.I), "%s: message %r does not match %r" % (cid, msg[:500], pattern)
    assert _no_traceback(json.dumps(res)), "%s: %s" % (cid, json.dumps(res)[:1500])
    assert "exception" not in res or "Traceback" not in str(res.get("exception")), res.get("exception")


@pytest.mark.parametrize("case", ROLE_CASES, ids=[c[0] for c in ROLE_CASES])
def test_role_bad_argument(case, role_run):
    cid, role, rvars, option = case
    accepted = role_run.for_host("localhost", "%s was not refused" % cid)
    refused = role_run.for_host("localhost", "%s refused" % cid)
    assert not accepted, "%s: role %s accepted %s" % (cid, role, rvars)
    assert refused, "%s: no result (rc=%s):\n%s" % (cid, role_run.rc, role_run.output[-3000:])
    msg = str(refused[-1]["result"].get("msg"))
    assert option in msg, "%s: the message does not name %r: %s" % (cid, option, msg[:500])
    assert re.search(r"argument|spec|valid", msg, re.I), msg[:500]


def test_no_traceback_in_bad_argument_runs(module_run, role_run):
    """Wrong arguments are fail_json with a message, never a crash of the module."""
    for run in (module_run, role_run):
        assert _no_traceback(run.output), run.output[-3000:]
