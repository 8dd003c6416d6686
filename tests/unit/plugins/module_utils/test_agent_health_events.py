"""The Warning events of the agent's pods and StatefulSet in POD (issue 18): read with one events
LIST, the pods' current uids and their controller, named after the pod findings (capped), a recent
event of a reason that matters makes POD a warning, an old one or another reason does not, a refused
list (403) leaves the events out and says why."""

from __future__ import annotations

from test_agent_health import NOW, FakeTarget, by_id, make_pod  # pylint: disable=import-error

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.units import rfc3339
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import agent_health as ah


def _event(reason, name, age, count=1, uid="uid-1", kind="Pod", type_="Warning"):
    return {"type": type_, "reason": reason, "count": count, "message": "Back-off restarting failed container prometheus",
            "firstTimestamp": rfc3339(NOW - age - 60), "lastTimestamp": rfc3339(NOW - age),
            "involvedObject": {"kind": kind, "name": name, "namespace": "monitoring", "uid": uid}, "source": {"component": "kubelet"}}


def _owned(pod, sts="prom-agent-lab-1"):
    pod["metadata"]["ownerReferences"] = [{"kind": "StatefulSet", "name": sts, "uid": "sts-uid", "controller": True}]
    return pod


class EventsTarget(FakeTarget):
    """FakeTarget with an events LIST: its items, or the error it raises; counts the calls."""

    def __init__(self, events=None, fail_events=None, **kwargs):
        super().__init__(**kwargs)
        self.events = events or []
        self.fail_events = fail_events
        self.event_reads = 0
        self.secrets = ["s3cr3t-token"]

    def for_pod(self, name):  # pylint: disable=unused-argument
        return self  # every pod answers as the first

    def warning_events(self):
        self.event_reads += 1
        if self.fail_events:
            raise self.fail_events
        return self.events


def test_backoff_on_a_pod_is_named_in_pod_and_makes_it_a_warning():
    target = EventsTarget(pods=[_owned(make_pod())], events=[_event("BackOff", "prom-agent-lab-1-0", 180, count=12)])
    result = ah.gather(target, now=NOW)
    pod = by_id(result)["POD"]
    assert pod["status"] == "warning", pod
    assert pod["message"].endswith("; events: BackOff x12 on prom-agent-lab-1-0 (last 3 min ago)"), pod
    assert [e["reason"] for e in result["events"]] == ["BackOff"] and "events_error" not in result
    assert target.event_reads == 1


def test_one_events_list_for_many_pods_and_the_statefulset_counts():
    pods = [_owned(make_pod(name="prom-agent-lab-1-%d" % i, uid="uid-%d" % i)) for i in range(4)]
    events = [_event("FailedCreate", "prom-agent-lab-1", 60, uid="sts-uid", kind="StatefulSet"),
              _event("Unhealthy", "prom-agent-lab-1-3", 30, count=4, uid="uid-3"),
              _event("BackOff", "someone-else-0", 10, uid="x")]
    target = EventsTarget(pods=pods, events=events)
    result = ah.gather(target, now=NOW)
    assert target.event_reads == 1
    assert [(e["object"], e["reason"]) for e in result["events"]] == [("prom-agent-lab-1-3", "Unhealthy"),
                                                                      ("prom-agent-lab-1", "FailedCreate")]
    assert "someone-else-0" not in by_id(result)["POD"]["message"]


def test_a_replaced_pods_events_are_not_the_new_pods():
    target = EventsTarget(pods=[make_pod(uid="uid-new")], events=[_event("BackOff", "prom-agent-lab-1-0", 60, uid="uid-old")])
    result = ah.gather(target, now=NOW)
    assert result["events"] == [] and by_id(result)["POD"]["status"] == "ok"
    assert "events" not in by_id(result)["POD"]["message"]


def test_healthy_pods_without_events_keep_the_message():
    result = ah.gather(EventsTarget(pods=[make_pod()]), now=NOW)
    pod = by_id(result)["POD"]
    assert pod["status"] == "ok" and pod["message"] == "1 agent pod(s) Running and Ready (prom-agent-lab-1-0)"
    assert result["events"] == []


def test_old_or_unimportant_events_are_named_but_leave_pod_ok():
    events = [_event("BackOff", "prom-agent-lab-1-0", 3 * 3600, count=3), _event("DNSConfigForming", "prom-agent-lab-1-0", 60)]
    pod = by_id(ah.gather(EventsTarget(pods=[make_pod()], events=events), now=NOW))["POD"]
    assert pod["status"] == "ok", pod
    assert "DNSConfigForming x1 on prom-agent-lab-1-0 (last 1 min ago)" in pod["message"]
    assert "BackOff x3 on prom-agent-lab-1-0 (last 3 h ago)" in pod["message"]


def test_recent_window_is_a_threshold():
    events = [_event("BackOff", "prom-agent-lab-1-0", 1200)]
    assert by_id(ah.gather(EventsTarget(pods=[make_pod()], events=events), now=NOW))["POD"]["status"] == "ok"
    result = ah.gather(EventsTarget(pods=[make_pod()], events=events), now=NOW, thresholds={"pod_events_recent_seconds": 3600})
    assert by_id(result)["POD"]["status"] == "warning"


def test_a_crash_loop_stays_critical_with_its_events():
    target = EventsTarget(pods=[make_pod(waiting="CrashLoopBackOff", restarts=5)], events=[_event("BackOff", "prom-agent-lab-1-0", 5, count=5)])
    pod = by_id(ah.gather(target, now=NOW))["POD"]
    assert pod["status"] == "critical" and "CrashLoopBackOff" in pod["message"] and "events: BackOff x5" in pod["message"]


def test_a_crash_loop_between_two_restarts_is_critical():
    """Between two restarts of a crash loop the container runs again (not ready): its state is no longer
    CrashLoopBackOff, but the kubelet's recent BackOff event on the pod still says it is crash-looping."""
    last = {"reason": "Error", "exitCode": 1, "finishedAt": rfc3339(NOW - 3)}
    looping = make_pod(ready=False, restarts=3, last=last)
    backoff = [_event("BackOff", "prom-agent-lab-1-0", 10, count=3)]
    pod = by_id(ah.gather(EventsTarget(pods=[looping], events=backoff), now=NOW))["POD"]
    assert pod["status"] == "critical", pod
    assert pod["message"].startswith("prom-agent-lab-1-0 is crash-looping (running now, not ready, 3 restarts, last Error"), pod
    # not ready after restarts, but no BackOff: a warning, as before
    pod = by_id(ah.gather(EventsTarget(pods=[make_pod(ready=False, restarts=3, last=last)]), now=NOW))["POD"]
    assert pod["status"] == "warning", pod
    # ready again, the BackOff of an hour ago: no crash loop
    old = [_event("BackOff", "prom-agent-lab-1-0", 3600, count=3)]
    pod = by_id(ah.gather(EventsTarget(pods=[make_pod(restarts=3, last=last)], events=old), now=NOW))["POD"]
    assert pod["status"] == "ok", pod
    # the BackOff of another pod names nothing here
    other = [_event("BackOff", "prom-agent-lab-1-1", 10, count=3)]
    pod = by_id(ah.gather(EventsTarget(pods=[make_pod(ready=False, restarts=3, last=last)], events=other), now=NOW))["POD"]
    assert pod["status"] == "warning" and "crash-looping" not in pod["message"], pod


def test_events_are_capped_in_the_message():
    events = [_event(reason, "prom-agent-lab-1-0", 60 + i) for i, reason in enumerate(
        ("BackOff", "Unhealthy", "FailedMount", "FailedScheduling", "Evicted"))]
    pod = by_id(ah.gather(EventsTarget(pods=[make_pod()], events=events), now=NOW))["POD"]
    assert pod["message"].count(" on prom-agent-lab-1-0 ") == ah.MESSAGE_EVENTS
    assert pod["message"].endswith("; and 2 more"), pod


def test_a_refused_events_list_is_no_failure_and_says_why():
    refused = FleetopsError("cluster fake: events is forbidden", status=403)
    result = ah.gather(EventsTarget(pods=[make_pod()], fail_events=refused), now=NOW)
    pod = by_id(result)["POD"]
    assert pod["status"] == "ok" and "events" not in pod["message"]
    assert result["events"] is None and "403" in result["events_error"] and "monitoring" in result["events_error"]
    failed = ah.gather(EventsTarget(pods=[make_pod()], fail_events=FleetopsError("cluster fake: 500", status=500)), now=NOW)
    assert failed["events"] is None and failed["events_error"].startswith("events not read: ")


def test_event_messages_are_scrubbed():
    event = _event("FailedMount", "prom-agent-lab-1-0", 60)
    event["message"] = "MountVolume.SetUp failed: secret token s3cr3t-token rejected"
    result = ah.gather(EventsTarget(pods=[make_pod()], events=[event]), now=NOW)
    assert "s3cr3t-token" not in str(result["events"])


def test_no_events_are_read_without_pods():
    target = EventsTarget(pods=[])
    result = ah.gather(target, now=NOW)
    assert target.event_reads == 0 and result["events"] is None


def test_event_objects_are_the_pods_and_their_controllers():
    pods = [_owned(make_pod(name="a-0", uid="u0"), "a"), make_pod(name="b-0", uid="u1")]
    assert ah.event_objects(pods) == {"a-0": "u0", "a": "sts-uid", "b-0": "u1"}


def test_one_failed_readiness_probe_is_named_but_three_make_a_warning():
    once = [_event("Unhealthy", "prom-agent-lab-1-0", 30, count=2)]
    pod = by_id(ah.gather(EventsTarget(pods=[make_pod()], events=once), now=NOW))["POD"]
    assert pod["status"] == "ok" and "Unhealthy x2 on prom-agent-lab-1-0" in pod["message"], pod
    thrice = [_event("Unhealthy", "prom-agent-lab-1-0", 30, count=3)]
    assert by_id(ah.gather(EventsTarget(pods=[make_pod()], events=thrice), now=NOW))["POD"]["status"] == "warning"


def test_a_baseline_reading_reads_no_events():
    target = EventsTarget(pods=[make_pod()], events=[_event("BackOff", "prom-agent-lab-1-0", 60)])
    result = ah.gather(target, now=NOW, read_events_too=False)
    assert target.event_reads == 0 and result["events"] is None and "events" not in by_id(result)["POD"]["message"]


def _oom(node, age, process="prometheus"):
    event = _event("OOMKilling", node, age, uid=node, kind="Node")
    event["message"] = "Memory cgroup out of memory: Killed process 4242 (%s) total-vm:1234kB, anon-rss:99kB" % process
    event["involvedObject"].pop("namespace")
    return event


class NodeEventsTarget(EventsTarget):
    """EventsTarget with the nodes' OOMKilling list (or its error)."""

    def __init__(self, node_events=None, fail_nodes=None, **kwargs):
        super().__init__(**kwargs)
        self.node_events = node_events or []
        self.fail_nodes = fail_nodes

    def node_oom_events(self):
        self.event_reads += 1
        if self.fail_nodes:
            raise self.fail_nodes
        return self.node_events


def test_an_oom_kill_of_the_agent_on_its_node_is_named_and_a_warning():
    nodes = [_oom("node-1", 120), _oom("node-1", 60, process="java"), _oom("node-9", 30)]
    target = NodeEventsTarget(pods=[make_pod()], node_events=nodes)
    result = ah.gather(target, now=NOW)
    pod = by_id(result)["POD"]
    assert pod["status"] == "warning" and "events: OOMKilling x1 on node-1 (last 2 min ago)" in pod["message"], pod
    assert [(e["kind"], e["object"]) for e in result["events"]] == [("Node", "node-1")]
    assert target.event_reads == 2 and "events_error" not in result


def test_pod_and_node_events_merge_newest_first():
    target = NodeEventsTarget(pods=[make_pod()], events=[_event("BackOff", "prom-agent-lab-1-0", 300)], node_events=[_oom("node-1", 60)])
    assert [e["reason"] for e in ah.gather(target, now=NOW)["events"]] == ["OOMKilling", "BackOff"]


def test_refused_node_events_keep_the_pods_and_say_why():
    target = NodeEventsTarget(pods=[make_pod()], events=[_event("BackOff", "prom-agent-lab-1-0", 60)],
                              fail_nodes=FleetopsError("forbidden", status=403))
    result = ah.gather(target, now=NOW)
    assert [e["reason"] for e in result["events"]] == ["BackOff"]
    assert result["events_error"].startswith("node events not readable (403") and "default" in result["events_error"]
