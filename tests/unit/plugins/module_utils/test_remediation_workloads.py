"""The Kubernetes objects of remediation (plugins/module_utils/kube/workloads.py): pod facts, and the
raw requests it makes of a KubeTarget (paths, bodies, content types, 404s)."""

from __future__ import annotations

import pytest

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import TargetUnreachable
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import workloads


class Recorder:
    """``request_json`` that records each request and answers from ``answers`` (path -> object; missing: a 404)."""

    def __init__(self, answers=None):
        self.answers = answers or {}
        self.requests = []

    def request_json(self, method, path, body=None, query=None, what=None, missing_ok=False, content_type=None):
        self.requests.append({'method': method, 'path': path, 'body': body, 'query': query, 'content_type': content_type})
        if path in self.answers:
            return self.answers[path]
        if missing_ok:
            return None
        error = TargetUnreachable('not found (404)')
        error.details['status'] = 404
        raise error


@pytest.mark.parametrize("name,expected", [("prom-agent-lab-1-0", "prom-agent-lab-1"), ("prometheus-k8s-12", "prometheus-k8s"),
                                           ("noindex", None), (None, None)])
def test_statefulset_from_pod_name(name, expected):
    assert workloads.statefulset_from_pod_name(name) == expected


def test_pod_summary():
    pod = {"metadata": {"name": "p-0", "uid": "u", "deletionTimestamp": "2026-11-24T08:00:00Z",
                        "ownerReferences": [{"kind": "StatefulSet", "name": "p"}]},
           "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
                      "containerStatuses": [{"name": "prometheus", "restartCount": 4,
                                             "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                                             "lastState": {"terminated": {"reason": "OOMKilled"}}}]}}
    summary = workloads.pod_summary(pod, "prometheus")
    assert summary["ready"] is False and summary["restarts"] == 4 and summary["terminating"] is True
    assert summary["waiting_reason"] == "CrashLoopBackOff" and summary["last_termination_reason"] == "OOMKilled"
    assert workloads.owner_statefulset(pod) == "p"
    assert workloads.pod_summary(None)["uid"] is None


def test_remote_write_urls():
    assert workloads.remote_write_urls({"spec": {"remoteWrite": [{"url": "http://a"}, {"name": "x"}]}}) == ["http://a"]
    assert workloads.remote_write_urls(None) == []


def test_container_limits():
    pod = {"spec": {"containers": [{"name": "reloader"}, {"name": "prometheus", "resources": {"limits": {"memory": "1Gi"}}}]}}
    assert workloads.container_limits(pod, "prometheus") == {"memory": "1Gi"}
    assert workloads.container_limits(pod, "reloader") == {} and workloads.container_limits(None, "x") == {}


def test_list_pods_by_name_and_selector():
    api = Recorder({"/api/v1/namespaces/mon/pods/p-0": {"metadata": {"name": "p-0"}},
                    "/api/v1/namespaces/mon/pods": {"items": [{"metadata": {"name": "a"}}]}})
    assert workloads.list_pods(api, "mon", name="p-0") == [{"metadata": {"name": "p-0"}}]
    assert workloads.list_pods(api, "mon", name="gone-0") == []
    assert workloads.list_pods(api, "mon", selector="app=x") == [{"metadata": {"name": "a"}}]
    assert api.requests[-1]["query"] == [("labelSelector", "app=x"), ("limit", "500")]


def test_rollout_restart_is_a_strategic_merge_of_the_template():
    api = Recorder({"/apis/apps/v1/namespaces/mon/statefulsets/sts": {}})
    stamp = workloads.rollout_restart(api, "mon", "sts", when=1795503000)
    assert stamp == "2026-11-24T06:50:00Z"
    req = api.requests[0]
    assert req["method"] == "PATCH" and req["content_type"] == "application/strategic-merge-patch+json"
    assert req["body"] == {"spec": {"template": {"metadata": {"annotations": {workloads.RESTARTED_AT: stamp}}}}}
    assert workloads.restarted_at(req["body"]) == stamp and workloads.restarted_at(None) is None


def test_delete_pod_with_no_grace_and_a_pod_already_gone():
    api = Recorder()
    workloads.delete_pod(api, "mon", "p-0", 0)
    req = api.requests[0]
    assert req["method"] == "DELETE" and req["path"] == "/api/v1/namespaces/mon/pods/p-0"
    assert req["body"]["gracePeriodSeconds"] == 0 and req["query"] == [("gracePeriodSeconds", "0")]


def test_resources_of_the_operator():
    path = "/apis/monitoring.coreos.com/v1alpha1/namespaces/mon/prometheusagents/lab-1"
    api = Recorder({path: {"metadata": {"name": "lab-1"}}})
    pod = {"metadata": {"name": "prom-agent-lab-1-0", "labels": {}}}
    assert workloads.find_agent_resource(api, "mon", pod=pod) == ("PrometheusAgent", "lab-1", {"metadata": {"name": "lab-1"}})
    assert workloads.find_agent_resource(api, "mon", pod=pod, kind="Prometheus") == ("Prometheus", None, None)
    workloads.patch_resource(api, "PrometheusAgent", "mon", "lab-1", {"spec": {}})
    assert api.requests[-1]["method"] == "PATCH" and api.requests[-1]["content_type"] == "application/merge-patch+json"
    with pytest.raises(TargetUnreachable) as raised:
        workloads.patch_resource(api, "Prometheus", "mon", "lab-1", {"spec": {}})
    assert workloads.api_status(raised.value) == 404 and workloads.api_status(ValueError()) is None


def test_wait_new_pod_ready_times_out_with_the_last_state():
    api = Recorder({"/api/v1/namespaces/mon/pods/p-0": {"metadata": {"name": "p-0", "uid": "old"}}})
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds
    pod, waited, last = workloads.wait_new_pod_ready(api, "mon", "p-0", "old", 5, poll=1.0, clock=lambda: now[0], sleep=sleep)
    assert pod is None and waited > 5 and last["uid"] == "old"


class Pager:
    """``request_json`` of a LIST served in pages of ``limit`` items, as the API server chunks it;
    ``expire``: continue tokens that answer 410 Expired (once each, or always when ``always``)."""

    def __init__(self, names, expire=(), always=False):
        self.names = names
        self.expire = set(expire)
        self.always = always
        self.requests = []

    def request_json(self, method, path, body=None, query=None, what=None, missing_ok=False, content_type=None):
        params = dict(query or [])
        self.requests.append(params)
        token = params.get("continue")
        if token in self.expire:
            if not self.always:
                self.expire.discard(token)
            error = TargetUnreachable("The provided continue parameter is too old (410)")
            error.details["status"] = 410
            raise error
        start = int(token) if token else 0
        limit = int(params["limit"])
        page = self.names[start:start + limit]
        meta = {"resourceVersion": "7"}
        if start + limit < len(self.names):
            meta.update({"continue": str(start + limit), "remainingItemCount": len(self.names) - start - limit})
        return {"metadata": meta, "items": [{"metadata": {"name": n}} for n in page]}


def test_list_items_reads_every_page():
    names = ["p-%04d" % i for i in range(1234)]
    api = Pager(names)
    items = workloads.list_items(api, "/api/v1/namespaces/mon/pods", [("labelSelector", "app=x")], page_size=500)
    assert [i["metadata"]["name"] for i in items] == names
    assert [r.get("continue") for r in api.requests] == [None, "500", "1000"]
    assert all(r["limit"] == "500" and r["labelSelector"] == "app=x" for r in api.requests)


def test_list_items_restarts_once_on_an_expired_token():
    names = ["p-%d" % i for i in range(25)]
    api = Pager(names, expire={"10"})
    items = workloads.list_items(api, "/x", page_size=10)
    assert [i["metadata"]["name"] for i in items] == names  # no page twice, none missing
    assert [r.get("continue") for r in api.requests] == [None, "10", None, "10", "20"]
    stale = Pager(names, expire={"10"}, always=True)
    with pytest.raises(TargetUnreachable, match="410"):
        workloads.list_items(stale, "/x", page_size=10)


def test_list_items_missing_type():
    assert workloads.list_items(Recorder(), "/apis/monitoring.coreos.com/v1/namespaces/x/prometheusrules", missing_ok=True) is None
    with pytest.raises(TargetUnreachable):
        workloads.list_items(Recorder(), "/x")


def _pod(name, uid, kind="StatefulSet", owner="p", node="n1", ready=True, restarts=0, deleting=False):
    meta = {"name": name, "uid": uid, "ownerReferences": [{"kind": kind, "name": owner}]}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-24T08:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": node},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [{"name": "prometheus", "restartCount": restarts}]}}


def test_owner_controller_and_pod_count():
    assert workloads.owner_controller(_pod("p-0", "u")) == ("StatefulSet", "p")
    assert workloads.owner_controller(_pod("ds-x", "u", kind="DaemonSet", owner="ds")) == ("DaemonSet", "ds")
    assert workloads.owner_controller(_pod("r", "u", kind="ReplicaSet")) == (None, None)
    assert workloads.controller_pod_count("StatefulSet", {"spec": {"replicas": 2}}) == 2
    assert workloads.controller_pod_count("StatefulSet", {"spec": {}}) == 1
    assert workloads.controller_pod_count("DaemonSet", {"status": {"desiredNumberScheduled": 3}}) == 3
    assert workloads.controller_pod_count("DaemonSet", {"status": {}}) is None
    assert workloads.controller_pod_count("StatefulSet", None) is None


def test_grace_period_is_the_pods_own():
    assert workloads.grace_period({"spec": {"terminationGracePeriodSeconds": 600}}) == 600
    assert workloads.grace_period({"spec": {}}) == 30


def test_least_healthy_pod():
    pods = [_pod("p-0", "a"), _pod("p-1", "b", restarts=3), _pod("p-2", "c", ready=False)]
    assert workloads.least_healthy(pods)["metadata"]["name"] == "p-2"
    assert workloads.least_healthy(pods[:2])["metadata"]["name"] == "p-1"
    assert workloads.least_healthy([_pod("p-0", "a"), _pod("p-1", "b", deleting=True)])["metadata"]["name"] == "p-1"
    assert workloads.least_healthy([]) is None


def test_replacement_of_a_statefulset_pod_is_its_name_and_of_a_daemonset_pod_its_node():
    old = _pod("p-1", "old")
    assert workloads.replacement_of(old, [_pod("p-0", "x"), old]) is None
    assert workloads.replacement_of(old, [_pod("p-0", "x"), _pod("p-1", "new")])["metadata"]["uid"] == "new"
    ds_old = _pod("ds-aaaaa", "old", kind="DaemonSet", owner="ds", node="n2")
    others = [_pod("ds-bbbbb", "b", kind="DaemonSet", owner="ds", node="n1"),
              _pod("other-ccccc", "c", kind="DaemonSet", owner="other", node="n2")]
    assert workloads.replacement_of(ds_old, others + [ds_old]) is None
    fresh = _pod("ds-zzzzz", "new", kind="DaemonSet", owner="ds", node="n2")
    assert workloads.replacement_of(ds_old, others + [fresh]) is fresh


def test_delete_pod_with_a_uid_precondition():
    api = Recorder({"/api/v1/namespaces/mon/pods/p-0": {}})
    workloads.delete_pod(api, "mon", "p-0", 600, uid="u-1")
    assert api.requests[-1]["body"] == {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 600,
                                        "preconditions": {"uid": "u-1"}}


def test_each_pod_keeps_the_order_and_runs_them_together():
    import threading  # pylint: disable=import-outside-toplevel
    barrier = threading.Barrier(3, timeout=10)
    threads = set()

    def read(name):
        barrier.wait()          # only passes when three readings run at once
        threads.add(threading.get_ident())
        return name.upper()
    assert workloads.each_pod(read, ["c", "a", "b"]) == ["C", "A", "B"]
    assert len(threads) == 3
    assert workloads.each_pod(lambda n: threading.get_ident(), ["only"]) == [threading.get_ident()]
    assert workloads.each_pod(read, []) == []


def test_each_pod_raises_what_a_reading_raises():
    def read(name):
        if name == "bad":
            raise TargetUnreachable("cluster x: gone")
        return name
    with pytest.raises(TargetUnreachable, match="gone"):
        workloads.each_pod(read, ["ok", "bad", "ok2"])
    assert workloads.each_pod(read, ["a", "b"], workers=1) == ["a", "b"]
