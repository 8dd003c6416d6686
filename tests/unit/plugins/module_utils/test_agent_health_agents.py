"""agent_health with a selector that matches the pods of several agents (two PrometheusAgent
resources in one namespace): POD says so, naming each agent and its pod count, instead of
auditing the pods of both as one agent."""

from __future__ import annotations

from test_agent_health import NOW, by_id, make_pod  # pylint: disable=import-error
from test_agent_health_pods import ShardsTarget  # pylint: disable=import-error

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import checks as core_checks
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import agent_health as ah

WARNING = ("the selector matches the pods of 2 agents: main (2 pods), infra (1 pod): "
           "give agent_selector operator.prometheus.io/name=NAME per inventory host")


def labelled(name, agent):
    pod = make_pod(name=name, uid="uid-" + name)
    pod["metadata"]["labels"] = {ah.AGENT_LABEL: agent, "app.kubernetes.io/name": "prometheus-agent"}
    return pod


def owned(name, owner, kind="StatefulSet"):
    pod = make_pod(name=name, uid="uid-" + name)
    pod["metadata"]["ownerReferences"] = [{"kind": kind, "name": owner, "controller": True}]
    return pod


def test_pods_of_two_agents_by_label_warn_naming_both_with_their_pod_counts():
    pods = [labelled("prom-agent-main-0", "main"), labelled("prom-agent-infra-0", "infra"),
            labelled("prom-agent-main-1", "main")]
    res = ah.gather(ShardsTarget(pods), now=NOW)
    pod = by_id(res)["POD"]
    assert pod["status"] == "warning"
    assert pod["message"].startswith(WARNING + "; ")
    assert "3 pods Running and Ready" in pod["message"]
    assert [p["agent"] for p in res["pods"]] == ["main", "infra", "main"]


def test_pods_of_two_agents_by_owner_statefulset_shards_of_one_agent_counted_together():
    pods = [owned("prom-agent-main-0", "prom-agent-main"), owned("prom-agent-main-shard-1-0", "prom-agent-main-shard-1"),
            owned("prom-agent-infra-0", "prom-agent-infra")]
    check = ah.check_pod([ah.pod_facts(p, now=NOW) for p in pods], "here")
    assert check["status"] == "warning"
    assert check["message"].startswith(WARNING)


def test_one_agent_of_four_pods_shards_and_replicas_is_ok_without_the_warning():
    names = ("prom-agent-main-0", "prom-agent-main-1", "prom-agent-main-shard-1-0", "prom-agent-main-shard-1-1")
    pods = [labelled(n, "main") for n in names]
    pod = by_id(ah.gather(ShardsTarget(pods), now=NOW))["POD"]
    assert pod["status"] == "ok"
    assert "agents" not in pod["message"]


def test_pods_telling_no_agent_are_not_a_mix():
    pods = [make_pod(name="a-0", uid="1"), labelled("prom-agent-main-0", "main")]
    check = ah.check_pod([ah.pod_facts(p, now=NOW) for p in pods], "here")
    assert check["status"] == "ok"


def test_a_crash_looping_pod_stays_critical_and_the_mix_is_named_first():
    pods = [labelled("prom-agent-main-0", "main"), labelled("prom-agent-infra-0", "infra")]
    pods[1]["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
    check = ah.check_pod([ah.pod_facts(p, now=NOW) for p in pods], "here")
    assert check["status"] == "critical"
    assert check["message"].startswith("the selector matches the pods of 2 agents: infra (1 pod), main (1 pod)")
    assert "prom-agent-infra-0 is in CrashLoopBackOff" in check["message"]


def test_agent_of_prometheus_in_agent_mode_daemonset_and_plain_statefulset():
    assert ah.agent_of({"ownerReferences": [{"kind": "StatefulSet", "name": "prometheus-infra-shard-2"}]}) == "infra"
    assert ah.agent_of({"ownerReferences": [{"kind": "DaemonSet", "name": "prom-agent-nodes"}]}) == "nodes"
    assert ah.agent_of({"ownerReferences": [{"kind": "StatefulSet", "name": "my-agent"}]}) == "my-agent"
    assert ah.agent_of({"ownerReferences": [{"kind": "ReplicaSet", "name": "x-123"}]}) is None
    assert ah.agent_of({"labels": {ah.AGENT_LABEL: "main"}, "ownerReferences": [
        {"kind": "StatefulSet", "name": "prom-agent-other"}]}) == "main"


def test_many_agents_named_within_the_message_cap():
    pods = [labelled("prom-agent-a%02d-0" % i, "a%02d" % i) for i in range(25)]
    text = ah.agents_text([ah.pod_facts(p, now=NOW) for p in pods])
    assert text.startswith("the selector matches the pods of 25 agents: a00 (1 pod), ")
    assert "(and %d more)" % (25 - core_checks.ROLLUP_NAMES) in text
    assert "a24" not in text
