"""What the remediation lab tests share: the fast guardrail settings, the audit play, and helpers
that read the lab (the agent's pid, the pod, the PrometheusAgent, the Lease, the receiver's
samples) and run the roles and modules against one cluster."""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
import urllib.parse
import urllib.request

from ansible_runner_helpers import run_module, run_playbook  # pylint: disable=import-error

CLUSTER_LEASE = "fleetops-remediation"   # the one remediation Lease of a cluster (kube/lease.py)

# fast guardrail settings for the lab (the defaults are for real fleets)
FAST = {
    "remediate_rw_interval": 3,
    "remediate_wait_timeout": 90,
    "remediate_verify_timeout": 60,
    "remediate_cooldown_seconds": 0,
    "fleet_rw_min_window": 6,
    "remediate_recheck": False,
}

AUDIT_PLAY = """
- name: Audit one cluster
  hosts: "{{ fleet_hosts }}"
  gather_facts: false
  roles:
    - role: fleetops.prometheus_agent.daily_check
- name: Report
  hosts: "{{ fleet_hosts }}"
  gather_facts: false
  roles:
    - role: fleetops.prometheus_agent.fleet_report
"""


def lab_state(lab):
    with open(os.path.join(lab.workdir, "state.json"), encoding="utf-8") as handle:
        return json.load(handle)


def http_json(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # nosec - the lab on 127.0.0.1
        return json.loads(resp.read().decode())


def conn(lab, cluster, **args):
    """Module arguments reaching the cluster's agent (ad-hoc runs get no inventory defaults)."""
    info = lab_state(lab)["clusters"][cluster]
    base = {"kubeconfig": os.path.join(lab.workdir, "kubeconfig"), "context": info["context"], "namespace": info["namespace"],
            "pod": info["pod"]}
    base.update(args)
    return base


def module(name, lab, cluster, inventory, check=False, **args):
    """Run a module on one cluster: (result dict, failed?)."""
    run = run_module(name, conn(lab, cluster, **args), host=cluster, inventory=inventory, check=check)
    found = run.for_host(cluster)
    assert found, run.output[-3000:]
    return found[-1]["result"], found[-1]["status"] == "failed"


def agent_pid(lab, cluster):
    """The agent's pid now (the daemon's live status; state.json as a fallback)."""
    state = lab_state(lab)
    try:
        status = http_json(state["control_url"] + "/status")["status"]
        return status["clusters"][cluster].get("pid")
    except (OSError, KeyError, ValueError):
        return state["clusters"][cluster].get("pid")


def kube(lab, cluster):
    from kubernetes import client, config  # pylint: disable=import-outside-toplevel
    api_client = config.new_client_from_config(config_file=os.path.join(lab.workdir, "kubeconfig"), context=cluster)
    return client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)


def coordination(lab, cluster):
    from kubernetes import client  # pylint: disable=import-outside-toplevel
    core, _custom = kube(lab, cluster)
    return client.CoordinationV1Api(core.api_client)


def drop_lease(lab, cluster):
    """Delete the cluster's remediation Lease (and the change record on it), if there is one."""
    from kubernetes.client.exceptions import ApiException  # pylint: disable=import-outside-toplevel
    try:
        coordination(lab, cluster).delete_namespaced_lease(CLUSTER_LEASE, lab_state(lab)["clusters"][cluster]["namespace"])
    except ApiException as exc:
        if exc.status != 404:
            raise


def lease_record(lab, cluster):
    """The change record on the cluster's Lease: its fleetops.io/last-* annotations ({} without)."""
    from kubernetes.client.exceptions import ApiException  # pylint: disable=import-outside-toplevel
    try:
        lease = coordination(lab, cluster).read_namespaced_lease(CLUSTER_LEASE, lab_state(lab)["clusters"][cluster]["namespace"])
    except ApiException as exc:
        if exc.status == 404:
            return {}
        raise
    notes = lease.metadata.annotations or {}
    return dict((key[len("fleetops.io/last-"):], value) for key, value in notes.items() if key.startswith("fleetops.io/last-"))


def cr_of(lab, cluster):
    info = lab_state(lab)["clusters"][cluster]
    _core, custom = kube(lab, cluster)
    return custom.get_namespaced_custom_object("monitoring.coreos.com", "v1alpha1", info["namespace"], "prometheusagents",
                                               info["agent_cr"])


def pod_of(lab, cluster):
    info = lab_state(lab)["clusters"][cluster]
    core, _custom = kube(lab, cluster)
    return core.read_namespaced_pod(info["pod"], info["namespace"])


def receiver_count(lab, cluster, start, end):
    """Samples of ``up`` of the cluster at the receiver between ``start`` and ``end`` (epoch s)."""
    window = max(int(end - start), 1)
    query = 'sum(count_over_time(up{cluster="%s"}[%ds]))' % (cluster, window)
    url = "%s/api/v1/query?%s" % (lab_state(lab)["receiver"]["url"], urllib.parse.urlencode({"query": query, "time": "%.3f" % end}))
    data = http_json(url)
    result = data["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def wait_until(predicate, timeout, step=2.0, what="condition"):
    """The first true value of ``predicate``; a connection error (a process still starting, such as
    the receiver right after its heal) counts as not yet."""
    deadline = time.time() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
        except OSError as exc:      # urllib's URLError is an OSError
            value, last_error = None, exc
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError("timed out after %ss waiting for %s%s" % (
                timeout, what, " (last error: %s)" % last_error if last_error else ""))
        time.sleep(step)


def audit(lab, inventory, cluster, tmp_path, tag):
    """Run the daily check on one cluster; returns its entry of the report JSON."""
    out = tmp_path / ("audit-" + tag)
    run = run_playbook(AUDIT_PLAY, inventory, extra_vars={"fleet_hosts": cluster, "fleet_report_dir": str(out),
                                                          "fleet_history_file": "", "fleet_rw_min_window": 6}, cwd=str(tmp_path))
    assert run.rc == 0, run.output[-4000:]
    with open(out / "fleet-report.json", encoding="utf-8") as handle:
        return json.load(handle)["clusters"][cluster]


def remediate(lab, inventory, cluster, tmp_path, tag, approved, check=False, extra=None):
    """Run the remediate playbook on one cluster; returns (run, report entry of the cluster)."""
    out = tmp_path / ("remediate-" + tag)
    extra_vars = dict(FAST, fleet_hosts=cluster, fleet_report_dir=str(out), fleet_history_file="", remediation_approved=approved)
    extra_vars.update(extra or {})
    run = run_playbook("fleetops.prometheus_agent.remediate", inventory, extra_vars=extra_vars, check=check, cwd=str(tmp_path))
    path = out / "fleet-report.json"
    entry = None
    if path.exists():
        with open(path, encoding="utf-8") as handle:
            entry = json.load(handle)["clusters"][cluster]
    return run, entry


def status_of(entry, check_id):
    for check in entry["checks"]:
        if check["id"] == check_id:
            return check["status"]
    return None


def bad(entry):
    return {c["id"]: c["status"] for c in entry["checks"] if c["status"] in ("warning", "critical")}


def unchanged_in_check_mode(lab, inventory, cluster, tmp_path, tag, extra=None):
    """Remediation in check mode (--check, approved): the plan, and the same pid, pod and resourceVersion."""
    pid, rv = agent_pid(lab, cluster), cr_of(lab, cluster)["metadata"]["resourceVersion"]
    uid = pod_of(lab, cluster).metadata.uid
    run, entry = remediate(lab, inventory, cluster, tmp_path, tag + "-check", approved=True, check=True, extra=extra)
    assert run.rc == 0, run.output[-4000:]
    assert agent_pid(lab, cluster) == pid
    assert cr_of(lab, cluster)["metadata"]["resourceVersion"] == rv
    assert pod_of(lab, cluster).metadata.uid == uid
    assert entry is not None
    for record in entry["remediation"]:
        assert record["acted"] is False and record["changed"] is False
    return entry


def baseline(lab, cluster, seconds=40):
    """(t0, samples of the last ``seconds`` at the receiver) just before a fault."""
    t0 = time.time()
    time.sleep(8)  # let the newest samples reach the receiver
    count = receiver_count(lab, cluster, t0 - seconds, t0)
    assert count > 0, "no samples of %s at the receiver before the fault" % cluster
    return t0, seconds, count


def nothing_lost(lab, cluster, base):
    t0, seconds, count = base
    after = receiver_count(lab, cluster, t0 - seconds, t0)
    assert after >= count, "samples from before the fault were lost: %s before, %s now" % (count, after)


def pod_ready(lab, cluster):
    try:
        pod = pod_of(lab, cluster)
    except Exception:  # pylint: disable=broad-except
        return False
    conds = {c.type: c.status for c in (pod.status.conditions or [])}
    return conds.get("Ready") == "True" and pod.metadata.deletion_timestamp is None


class PodUids:
    """The uids the agent pod has had while watching (every 0.5 s, in a thread): one new uid per replacement."""

    def __init__(self, lab, cluster):
        self.lab, self.cluster = lab, cluster
        self.seen = [pod_of(lab, cluster).metadata.uid]
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self):
        while not self.done.wait(0.5):
            try:
                uid = pod_of(self.lab, self.cluster).metadata.uid
            except Exception:  # pylint: disable=broad-except
                continue        # between the old pod and the new one
            if uid != self.seen[-1]:
                self.seen.append(uid)

    def stop(self):
        self.done.set()
        self.thread.join()
        return self.seen


def one_step(limit):
    """The memory limit one +25 % step above ``limit`` (a whole Mi, rounded up, as policy.step_resources)."""
    mib = int(math.ceil({"Mi": 1, "Gi": 1024}[limit[-2:]] * int(limit[:-2]) * 1.25))
    return "%dGi" % (mib // 1024) if mib % 1024 == 0 else "%dMi" % mib


@contextlib.contextmanager
def memory_near_the_limit(lab, cluster):
    """The lab's high-memory fault (the agent's cgroup limit lowered to usage/0.93) with the PrometheusAgent
    set to that same limit, as on a real cluster whose limit is too low for the agent; yields the limit.
    Healed and the resources restored after."""
    info = lab_state(lab)["clusters"][cluster]
    _core, custom = kube(lab, cluster)
    original = (cr_of(lab, cluster)["spec"].get("resources") or {})
    details = lab.fault("high-memory", cluster)
    details = details.get("details", details) if isinstance(details, dict) else {}
    try:
        limit = details.get("memory_limit")
        assert limit, details
        custom.patch_namespaced_custom_object("monitoring.coreos.com", "v1alpha1", info["namespace"], "prometheusagents", info["agent_cr"],
                                              {"spec": {"resources": dict(original, limits=dict(original.get("limits") or {}, memory=limit))}})
        wait_until(lambda: pod_ready(lab, cluster) and pod_limit(lab, cluster) == limit, 120, what="the pod with the low limit")
        yield limit
    finally:
        lab.heal("high-memory", cluster)
        custom.patch_namespaced_custom_object("monitoring.coreos.com", "v1alpha1", info["namespace"], "prometheusagents", info["agent_cr"],
                                              {"spec": {"resources": original}})
        wait_until(lambda: pod_ready(lab, cluster), 120, what="the agent after restoring its resources")


def pod_limit(lab, cluster):
    for container in pod_of(lab, cluster).spec.containers:
        if container.name == "prometheus":
            return ((container.resources and container.resources.limits) or {}).get("memory")
    return None
