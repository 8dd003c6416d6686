"""The lab with several agent pods per cluster: prometheus-operator's shards and replicas
(``fleetlab up --shards 2 --replicas 2``) and DaemonSet mode (``--mode daemonset --nodes 2``).

Each class starts a one-cluster lab of its own (class-scoped, so only one runs at a time) and
looks at it through the unmodified ``kubectl`` and ``kubernetes`` client, the agents' own HTTP
endpoints and the receiver.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from lab_fixtures import scraping, wait_for  # pylint: disable=import-error

LAB_DIR = Path(__file__).resolve().parents[2] / "lab"
FLEETLAB = LAB_DIR / "fleetlab"
NS = "monitoring"
CLUSTER = "lab-1"
SHARD0 = ["prom-agent-lab-1-0", "prom-agent-lab-1-1"]
SHARD1 = ["prom-agent-lab-1-shard-1-0", "prom-agent-lab-1-shard-1-1"]

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def start_lab(prefix, **options):
    """A one-cluster lab with ``options`` (LabClient.up keywords), every pod scraping; stopped afterwards."""
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus is not installed: run `make test` (it apt-installs it) or tests/scripts/bootstrap.sh")
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not installed")
    from labkit.client import LabClient  # pylint: disable=import-outside-toplevel,import-error
    client = LabClient.up(tempfile.mkdtemp(prefix=prefix), clusters=1, **options)
    try:
        wait_for(lambda: all(scraping(pod["agent_url"]) for pod in client.pods(CLUSTER)), 90, what="every agent pod scraping")
        yield client
    finally:
        client.down()


def kubectl(lab, *args, check=True):
    res = subprocess.run(["kubectl", "--kubeconfig", str(lab.workdir / "kubeconfig"), "--context", CLUSTER] + list(args),
                         capture_output=True, text=True, timeout=120, check=False)
    if check:
        assert res.returncode == 0, "kubectl %s: %s %s" % (" ".join(args), res.stdout, res.stderr)
    return res


def kubectl_json(lab, *args):
    return json.loads(kubectl(lab, *args, "-o", "json").stdout)


def core_api(lab):
    from kubernetes import client, config  # pylint: disable=import-outside-toplevel
    return client.CoreV1Api(config.new_client_from_config(config_file=str(lab.workdir / "kubeconfig"), context=CLUSTER))


def pod_uids(lab):
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in kubectl_json(lab, "get", "pods", "-n", NS)["items"]
            if p["metadata"]["name"].startswith("prom-agent-")}


def pod_status(lab, name):
    return lab.status()["pods"][CLUSTER][name]


def receiver_series(lab, promql):
    with urllib.request.urlopen(lab.receiver_url + "/api/v1/query?query=" + urllib.parse.quote(promql), timeout=10) as resp:  # nosec
        return json.load(resp)["data"]["result"]


def proxy_get(lab, pod, path):
    """GET through the API server's pod proxy (kubectl get --raw)."""
    return kubectl(lab, "get", "--raw", "/api/v1/namespaces/%s/pods/%s:9090/proxy%s" % (NS, pod, path)).stdout


def fleetlab(lab, *args):
    return subprocess.run([sys.executable, str(FLEETLAB)] + list(args) + ["--workdir", str(lab.workdir)],
                          capture_output=True, text=True, timeout=180, check=False)


# ---------------------------------------------------------------------------- StatefulSet shards x replicas
@pytest.fixture(scope="class")
def shards_lab():
    """2 shards x 2 replicas on one cluster."""
    yield from start_lab("fleetops-lab-shards-", shards=2, replicas=2, synthetic=2)


@pytest.fixture(scope="class")
def daemonset_lab():
    """DaemonSet mode on one cluster of 2 nodes, with 2 PrometheusAgents (lab-1 and lab-1-2)."""
    yield from start_lab("fleetops-lab-ds-", mode="daemonset", nodes=2, agents_per_cluster=2)


class TestShardsAndReplicas:
    """2 shards x 2 replicas: StatefulSets prom-agent-lab-1 and prom-agent-lab-1-shard-1, 4 pods."""

    @pytest.fixture
    def lab(self, shards_lab):
        return shards_lab

    def test_four_pods_four_processes_with_own_wal(self, lab):
        pods = lab.pods(CLUSTER)
        assert [p["pod"] for p in pods] == SHARD0 + SHARD1
        assert [p["shard"] for p in pods] == [0, 0, 1, 1]
        assert len({p["pid"] for p in pods}) == 4 and all(p["pid"] for p in pods)
        assert len({p["wal_dir"] for p in pods}) == 4
        assert len({p["agent_url"] for p in pods}) == 4
        for pod in pods:
            cmdline = Path("/proc/%d/cmdline" % pod["pid"]).read_bytes().split(b"\0")
            assert b"--storage.agent.path=/prometheus" in cmdline
            assert os.path.ismount(str(Path(pod["data_dir"])))          # a volume of its own
            assert [f for f in os.listdir(pod["wal_dir"]) if f.isdigit()], pod["wal_dir"]
            flags = json.loads(proxy_get(lab, pod["pod"], "/api/v1/status/flags"))["data"]
            assert flags["web.listen-address"] == "127.0.0.1:%s" % pod["agent_url"].rsplit(":", 1)[1]

    def test_operator_names_and_labels_through_kubectl(self, lab):
        out = kubectl(lab, "get", "pods", "-n", NS, "-l", "operator.prometheus.io/shard=1", "-o", "name").stdout.split()
        assert sorted(out) == ["pod/" + p for p in SHARD1]
        out = kubectl(lab, "get", "pods", "-n", NS, "-l", "operator.prometheus.io/name=lab-1,app.kubernetes.io/name=prometheus-agent",
                      "-o", "name").stdout.split()
        assert len(out) == 4
        table = kubectl(lab, "get", "statefulsets,daemonsets", "-n", NS).stdout
        assert "prom-agent-lab-1 " in table and "prom-agent-lab-1-shard-1 " in table and "2/2" in table
        for sts in ("prom-agent-lab-1", "prom-agent-lab-1-shard-1"):
            kubectl(lab, "rollout", "status", "statefulset/" + sts, "-n", NS, "--timeout=60s")
            obj = kubectl_json(lab, "get", "statefulset", sts, "-n", NS)
            assert obj["spec"]["replicas"] == 2 and obj["status"]["readyReplicas"] == 2
            assert obj["metadata"]["ownerReferences"][0]["kind"] == "PrometheusAgent"
            assert obj["metadata"]["ownerReferences"][0]["name"] == "lab-1"
        agent = kubectl_json(lab, "get", "prometheusagents", "lab-1", "-n", NS)
        assert agent["spec"]["shards"] == 2 and agent["spec"]["replicas"] == 2
        assert [(s["shardID"], s["replicas"], s["availableReplicas"]) for s in agent["status"]["shardStatuses"]] == [("0", 2, 2), ("1", 2, 2)]
        assert "lab-1" in kubectl(lab, "get", "prometheusagents", "-n", NS).stdout

    def test_python_client_sees_each_pod_with_its_owner(self, lab):
        core = core_api(lab)
        try:
            pods = core.list_namespaced_pod(NS, label_selector="operator.prometheus.io/shard=0").items
            assert sorted(p.metadata.name for p in pods) == SHARD0
            for pod in pods:
                assert pod.metadata.owner_references[0].kind == "StatefulSet"
                assert pod.metadata.owner_references[0].name == "prom-agent-lab-1"
                assert pod.metadata.labels["app.kubernetes.io/instance"] == "lab-1"
                assert pod.metadata.labels["statefulset.kubernetes.io/pod-name"] == pod.metadata.name
                assert pod.status.phase == "Running"
            one = core.read_namespaced_pod(SHARD1[1], NS)
            assert one.metadata.labels["apps.kubernetes.io/pod-index"] == "1"
            assert one.metadata.owner_references[0].name == "prom-agent-lab-1-shard-1"
            claims = [v.persistent_volume_claim.claim_name for v in one.spec.volumes if v.persistent_volume_claim]
            assert claims == ["prom-agent-lab-1-db-" + SHARD1[1]]
            body = core.connect_get_namespaced_pod_proxy_with_path(SHARD1[1] + ":9090", NS, "metrics", _preload_content=False).data
            assert b"prometheus_agent_active_series" in body
        finally:
            core.api_client.close()

    def test_shards_scrape_different_targets_and_all_reach_the_receiver(self, lab):
        targets = {}
        for pod in lab.pods(CLUSTER):
            config = json.loads(Path(pod["config_path"]).read_text(encoding="utf-8"))
            assert config["global"]["external_labels"]["prometheus_replica"] == pod["pod"]
            assert config["global"]["external_labels"]["shard"] == str(pod["shard"])
            for job in config["scrape_configs"]:
                hashmod = [r for r in job["relabel_configs"] if r["action"] == "hashmod"]
                keep = [r for r in job["relabel_configs"] if r["action"] == "keep"]
                assert hashmod[0]["modulus"] == 2 and hashmod[0]["target_label"] == "__tmp_hash"
                assert keep[0]["source_labels"] == ["__tmp_hash"] and keep[0]["regex"] == str(pod["shard"])
            active = json.loads(proxy_get(lab, pod["pod"], "/api/v1/targets"))["data"]["activeTargets"]
            targets[pod["pod"]] = sorted(t["labels"]["instance"] for t in active)
        # replicas of a shard scrape the same targets, the two shards never the same one
        assert targets[SHARD0[0]] == targets[SHARD0[1]] and targets[SHARD1[0]] == targets[SHARD1[1]]
        assert targets[SHARD0[0]] and targets[SHARD1[0]]
        assert not set(targets[SHARD0[0]]) & set(targets[SHARD1[0]])

        def every_pod_at_receiver():
            found = {(s["metric"].get("shard"), s["metric"].get("prometheus_replica"))
                     for s in receiver_series(lab, 'count by (shard, prometheus_replica) (up{cluster="lab-1"})')}
            return found if found == {("0", SHARD0[0]), ("0", SHARD0[1]), ("1", SHARD1[0]), ("1", SHARD1[1])} else None
        wait_for(every_pod_at_receiver, 60, what="series of all four pods at the receiver")
        # each shard remote-writes its own share: the instances it scrapes, and no other
        for shard, pods in (("0", SHARD0), ("1", SHARD1)):
            seen = {s["metric"]["instance"] for s in receiver_series(lab, 'up{cluster="lab-1",shard="%s"}' % shard)}
            assert seen == set(targets[pods[0]])

    def test_fault_on_one_pod_breaks_only_that_pod(self, lab):
        victim = SHARD1[1]
        before = {name: (info["pid"], info["restart_count"]) for name, info in lab.status()["pods"][CLUSTER].items()}
        lab.fault("crashloop", CLUSTER, pod=victim)
        try:
            def crash_looping():
                rows = {line.split()[0]: line for line in kubectl(lab, "get", "pods", "-n", NS).stdout.splitlines()[1:]}
                return rows if "CrashLoopBackOff" in rows[victim] else None
            rows = wait_for(crash_looping, 60, what="kubectl showing the victim in CrashLoopBackOff")
            for name in SHARD0 + SHARD1[:1]:
                assert "Running" in rows[name] and "CrashLoopBackOff" not in rows[name]
                info = pod_status(lab, name)
                assert (info["pid"], info["restart_count"]) == before[name] and info["ready"]
            assert "crashloop/lab-1/" + victim in lab.status()["active_faults"]
        finally:
            lab.heal("crashloop", CLUSTER, pod=victim)
        wait_for(lambda: pod_status(lab, victim)["ready"], 60, what="the victim ready again")

    def test_fault_cli_takes_a_pod_and_refuses_an_unknown_one(self, lab):
        victim = SHARD0[1]
        before = pod_status(lab, victim)["restart_count"]
        res = fleetlab(lab, "fault", "agent-kill", "--cluster", CLUSTER, "--pod", victim)
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["pod"] == victim
        wait_for(lambda: pod_status(lab, victim)["restart_count"] == before + 1 and pod_status(lab, victim)["ready"], 60,
                 what="the killed pod restarted")
        assert pod_status(lab, SHARD0[0])["restart_count"] == 0
        res = fleetlab(lab, "fault", "agent-kill", "--cluster", CLUSTER, "--pod", "prom-agent-lab-1-7")
        assert res.returncode != 0 and "prom-agent-lab-1-7" in res.stderr

    def test_disk_full_and_wal_corrupt_on_one_pod(self, lab):
        full, corrupt = SHARD0[1], SHARD1[0]
        volumes = {p["pod"]: p["data_dir"] for p in lab.pods(CLUSTER)}
        details = lab.fault("disk-full", CLUSTER, pod=full)
        try:
            assert details["filler"].startswith(volumes[full] + "/")
            for name, path in volumes.items():
                st = os.statvfs(path)
                assert (st.f_bavail == 0) == (name == full), name
        finally:
            lab.heal("disk-full", CLUSTER, pod=full)
        assert os.statvfs(volumes[full]).f_bavail > 0
        restarts = {name: pod_status(lab, name)["restart_count"] for name in volumes}
        details = lab.fault("wal-corrupt", CLUSTER, pod=corrupt)
        assert details["segment"].startswith(next(p["wal_dir"] for p in lab.pods(CLUSTER) if p["pod"] == corrupt))
        wait_for(lambda: "Starting corruption repair" in kubectl(lab, "logs", corrupt, "-n", NS, "-c", "prometheus").stdout, 60,
                 what="the corrupted pod repairing its WAL")
        for name in volumes:
            if name != corrupt:
                assert pod_status(lab, name)["restart_count"] == restarts[name]
                assert "encountered WAL read error" not in kubectl(lab, "logs", name, "-n", NS, "-c", "prometheus").stdout
        wait_for(lambda: pod_status(lab, corrupt)["ready"], 60, what="the corrupted pod ready again")

    def test_synthetic_clusters_have_the_same_pods(self, lab):
        res = subprocess.run(["kubectl", "--kubeconfig", str(lab.workdir / "kubeconfig"), "--context", "syn-0002", "get", "pods", "-n", NS,
                              "-l", "operator.prometheus.io/name=syn-0002", "-o", "json"], capture_output=True, text=True, timeout=60, check=True)
        pods = json.loads(res.stdout)["items"]
        names = [n.replace("lab-1", "syn-0002") for n in SHARD0 + SHARD1]
        assert sorted(p["metadata"]["name"] for p in pods) == sorted(names)
        assert len({p["metadata"]["uid"] for p in pods}) == 4
        res = subprocess.run(["kubectl", "--kubeconfig", str(lab.workdir / "kubeconfig"), "--context", "syn-0002", "get", "--raw",
                              "/api/v1/namespaces/%s/pods/%s:9090/proxy/metrics" % (NS, names[3])], capture_output=True, text=True,
                             timeout=60, check=True)
        assert "prometheus_remote_storage_samples_total" in res.stdout

    def test_delete_one_pod_leaves_the_others(self, lab):
        before = pod_uids(lab)
        assert sorted(before) == sorted(SHARD0 + SHARD1)
        victim = SHARD0[0]
        kubectl(lab, "delete", "pod", victim, "-n", NS, "--wait=true", "--timeout=60s")
        kubectl(lab, "wait", "--for=create", "pod/" + victim, "-n", NS, "--timeout=60s")
        kubectl(lab, "wait", "--for=condition=Ready", "pod/" + victim, "-n", NS, "--timeout=60s")
        after = pod_uids(lab)
        assert after[victim] != before[victim]
        assert {n: u for n, u in after.items() if n != victim} == {n: u for n, u in before.items() if n != victim}
        assert pod_status(lab, victim)["pod_uid"] == after[victim]


# ---------------------------------------------------------------------------- DaemonSet mode
class TestDaemonSetMode:
    """spec.mode DaemonSet on 2 nodes, 2 PrometheusAgents: DaemonSets prom-agent-lab-1 and
    prom-agent-lab-1-2, one pod of each per node."""

    @pytest.fixture
    def lab(self, daemonset_lab):
        return daemonset_lab

    def test_one_pod_per_node_behind_a_daemonset(self, lab):
        nodes = [n["metadata"]["name"] for n in kubectl_json(lab, "get", "nodes")["items"]]
        assert nodes == ["lab-node-1", "lab-node-2"]
        pods = kubectl_json(lab, "get", "pods", "-n", NS, "-l", "operator.prometheus.io/name=lab-1")["items"]
        assert sorted(p["spec"]["nodeName"] for p in pods) == nodes
        for pod in pods:
            name = pod["metadata"]["name"]
            assert name.startswith("prom-agent-lab-1-") and len(name) == len("prom-agent-lab-1-") + 5
            assert pod["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
            assert pod["metadata"]["labels"]["operator.prometheus.io/name"] == "lab-1"
            assert not [v for v in pod["spec"]["volumes"] if v.get("persistentVolumeClaim")]
        assert len({p["wal_dir"] for p in lab.pods(CLUSTER)}) == 4
        ds = kubectl_json(lab, "get", "daemonset", "prom-agent-lab-1", "-n", NS)
        assert ds["status"]["desiredNumberScheduled"] == 2 and ds["status"]["numberReady"] == 2
        assert ds["metadata"]["ownerReferences"][0]["kind"] == "PrometheusAgent"
        kubectl(lab, "rollout", "status", "daemonset/prom-agent-lab-1", "-n", NS, "--timeout=60s")
        assert "prom-agent-lab-1" in kubectl(lab, "get", "statefulsets,daemonsets", "-n", NS).stdout
        assert kubectl_json(lab, "get", "prometheusagents", "lab-1", "-n", NS)["spec"]["mode"] == "DaemonSet"
        for node in nodes:
            summary = json.loads(kubectl(lab, "get", "--raw", "/api/v1/nodes/%s/proxy/stats/summary" % node).stdout)
            on_node = [p["podRef"]["name"] for p in summary["pods"] if p["podRef"]["namespace"] == NS]
            assert len(on_node) == 2 and [p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == node][0] in on_node

    def test_several_prometheus_agents_per_cluster(self, lab):
        agents = kubectl_json(lab, "get", "prometheusagents", "-n", NS)["items"]
        assert [a["metadata"]["name"] for a in agents] == ["lab-1", "lab-1-2"]
        assert len({a["metadata"]["uid"] for a in agents}) == 2
        table = kubectl(lab, "get", "daemonsets", "-n", NS).stdout
        assert "prom-agent-lab-1 " in table and "prom-agent-lab-1-2 " in table
        pods = kubectl_json(lab, "get", "pods", "-n", NS, "-l", "app.kubernetes.io/instance=lab-1-2")["items"]
        assert len(pods) == 2 and all(p["metadata"]["name"].startswith("prom-agent-lab-1-2-") for p in pods)
        assert {p["metadata"]["ownerReferences"][0]["name"] for p in pods} == {"prom-agent-lab-1-2"}
        ds = kubectl_json(lab, "get", "daemonset", "prom-agent-lab-1-2", "-n", NS)
        assert ds["metadata"]["ownerReferences"][0]["name"] == "lab-1-2" and ds["status"]["numberReady"] == 2
        assert len(kubectl_json(lab, "get", "pods", "-n", NS, "-l", "app.kubernetes.io/name=prometheus-agent")["items"]) == 4

    def test_both_pods_reach_the_receiver(self, lab):
        names = {p["pod"] for p in lab.pods(CLUSTER)}

        def every_pod():
            found = {(s["metric"].get("prometheus"), s["metric"].get("prometheus_replica"))
                     for s in receiver_series(lab, 'count by (prometheus, prometheus_replica) (up{cluster="lab-1"})')}
            return {pod for _agent, pod in found} == names and {agent for agent, _pod in found} == {"monitoring/lab-1", "monitoring/lab-1-2"}
        wait_for(every_pod, 60, what="series of every DaemonSet pod of both agents at the receiver")

    def test_delete_one_pod_makes_a_new_pod_on_its_node(self, lab):
        before = {p["metadata"]["name"]: (p["metadata"]["uid"], p["spec"]["nodeName"])
                  for p in kubectl_json(lab, "get", "pods", "-n", NS)["items"] if p["metadata"]["name"].startswith("prom-agent-")}
        assert len(before) == 4
        victim = sorted(p["metadata"]["name"] for p in kubectl_json(lab, "get", "pods", "-n", NS, "-l", "operator.prometheus.io/name=lab-1")["items"])[0]
        node = before[victim][1]
        kubectl(lab, "delete", "pod", victim, "-n", NS, "--timeout=60s")

        def replaced():
            now = {p["metadata"]["name"]: (p["metadata"]["uid"], p["spec"]["nodeName"])
                   for p in kubectl_json(lab, "get", "pods", "-n", NS)["items"] if p["metadata"]["name"].startswith("prom-agent-")}
            return now if len(now) == 4 and victim not in now else None
        after = wait_for(replaced, 60, what="the DaemonSet's new pod")
        new = [n for n in after if n not in before]
        assert len(new) == 1 and after[new[0]][1] == node
        assert {n: v for n, v in after.items() if n != new[0]} == {n: v for n, v in before.items() if n != victim}
        kubectl(lab, "rollout", "status", "daemonset/prom-agent-lab-1", "-n", NS, "--timeout=60s")
        # the new pod is the lab's pod on that node, with its own name in its config
        pod = next(p for p in lab.pods(CLUSTER) if p["pod"] == new[0])
        assert pod["node"] == node
        config = json.loads(Path(pod["config_path"]).read_text(encoding="utf-8"))
        assert config["global"]["external_labels"]["prometheus_replica"] == new[0]
        lab.fault("agent-kill", CLUSTER, pod=new[0])
        wait_for(lambda: lab.status()["pods"][CLUSTER][new[0]]["restart_count"] == 1, 30, what="the new pod's container restarted")
