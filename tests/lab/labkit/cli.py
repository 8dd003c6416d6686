"""``tests/lab/fleetlab``: start, inspect, break, heal and stop the lab."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from labkit.client import LabClient, down_workdir
from labkit.common import LabError
from labkit.faults import PROCESS_FAULTS

API_FAULTS = ("api-error", "api-slow", "api-auth", "api-client-cert")


def cmd_up(args) -> int:
    started = time.time()
    client = LabClient.up(args.workdir, clusters=args.clusters, synthetic=args.synthetic, layout=args.layout,
                          volume_size=args.volume_size, shards=args.shards, replicas=args.replicas, mode=args.mode,
                          nodes=args.nodes, agents_per_cluster=args.agents_per_cluster)
    state = client.state
    workdir = client.workdir
    print("lab ready in %.1fs (workdir %s)" % (time.time() - started, workdir))
    kubeconfig = workdir / "kubeconfig"
    print("kubeconfig:    %s" % (kubeconfig if kubeconfig.exists() else "(none: the Kubernetes API is not there)"))
    print("inventory:     %s" % (workdir / "inventory.yml"))
    receiver = state["receiver"]
    print("receiver:      %s (remote write %s, pid %s)" % (receiver["url"], receiver["remote_write_url"], receiver["pid"]))
    print("node_exporter: %s (pid %s)" % (state["node_exporter"]["url"], state["node_exporter"]["pid"]))
    if state.get("api"):
        print("api:           %s" % state["api"].get("base_url"))
    print("control:       %s" % state["control_url"])
    synthetic = 0
    for name, info in state["clusters"].items():
        if info.get("synthetic"):
            synthetic += 1
            continue
        print("cluster %-8s agent %s pid %s pod %s/%s context %s wal %s" % (
            name, info["agent_url"], info["pid"], info["namespace"], info["pod"], info["context"], info["wal_dir"]))
        for pod in (info.get("pods") or [])[1:]:
            print("  pod %s/%s (%s %s, shard %s, node %s) agent %s pid %s wal %s" % (
                info["namespace"], pod["pod"], pod["controller_kind"], pod["controller"], pod["shard"], pod["node"],
                pod["agent_url"], pod["pid"], pod["wal_dir"]))
    if synthetic:
        print("synthetic clusters: %d" % synthetic)
    print("stop with:     %s down --workdir %s" % (Path(sys.argv[0]), workdir))
    return 0


def cmd_down(args) -> int:
    result = down_workdir(args.workdir)
    print("daemon: %s" % (result["daemon"] or "not running"))
    for item in result["killed"]:
        print("killed %s (pid %d)" % (item["name"], item["pid"]))
    for mnt in result["unmounted"]:
        print("unmounted %s" % mnt)
    return 0


def cmd_fault(args, action: str) -> int:
    client = LabClient.attach(args.workdir)
    details = getattr(client, action)(args.name, args.cluster, args.pod)
    print(json.dumps({"fault": args.name, "action": action, "cluster": args.cluster, "pod": args.pod, "details": details},
                     indent=2, default=str))
    return 0


def cmd_status(args) -> int:
    client = LabClient.attach(args.workdir)
    status = client.status()
    if args.json:
        print(json.dumps(status, indent=2, default=str))
        return 0
    rows = [("receiver", status["receiver"]), ("node-exporter", status["node_exporter"])]
    for cluster, info in status["clusters"].items():
        pods = status.get("pods", {}).get(cluster) or {}
        if len(pods) > 1:
            rows += [("%s/%s" % (cluster, pod), pod_info) for pod, pod_info in pods.items()]
        else:
            rows.append((cluster, info))
    width = max([14] + [len(name) + 1 for name, _info in rows])
    print("%-*s %-8s %-8s %-18s %-8s %-6s %s" % (width, "NAME", "PID", "READY", "STATE", "RESTARTS", "PORT", "LAST TERMINATION"))
    for name, info in rows:
        state = info["state"] + ("/" + info["waiting_reason"] if info.get("waiting_reason") else "")
        if info.get("terminating"):
            state = "Terminating"
        last = info.get("last_termination") or {}
        last_text = "%s (%s)" % (last["reason"], last["exit_code"]) if last else ""
        print("%-*s %-8s %-8s %-18s %-8s %-6s %s" % (width, name, info["pid"], info["ready"], state, info["restart_count"], info["port"],
                                                     last_text))
    for key in sorted(status.get("active_faults", {})):
        print("fault in force: %s" % key)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetlab", description="The fleetops lab: real Prometheus agents behind a simulated Kubernetes API.")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a lab and wait until it is ready")
    up.add_argument("--workdir", required=True)
    up.add_argument("--clusters", type=int, default=3)
    up.add_argument("--synthetic", type=int, default=0)
    up.add_argument("--layout", choices=("operator", "runbook"), default="operator")
    up.add_argument("--volume-size", default="256Mi", help="size of each agent's tmpfs data volume (PVC capacity)")
    up.add_argument("--shards", type=int, default=1, help="PrometheusAgent spec.shards: one StatefulSet per shard")
    up.add_argument("--replicas", type=int, default=1, help="PrometheusAgent spec.replicas: pods per shard")
    up.add_argument("--mode", choices=("statefulset", "daemonset"), default="statefulset",
                    help="daemonset: spec.mode DaemonSet, one agent pod per node")
    up.add_argument("--nodes", type=int, default=1, help="simulated nodes per cluster (lab-node-1, ...)")
    up.add_argument("--agents-per-cluster", type=int, default=1, help="PrometheusAgent resources per cluster")
    down = sub.add_parser("down", help="stop everything the lab started (also after a crash)")
    down.add_argument("--workdir", required=True)
    for action in ("fault", "heal"):
        cmd = sub.add_parser(action, help="%s a fault: %s" % ("inject" if action == "fault" else "take back",
                                                              ", ".join(PROCESS_FAULTS + API_FAULTS)))
        cmd.add_argument("name")
        cmd.add_argument("--cluster")
        cmd.add_argument("--pod", help="the agent pod of the cluster (default: its first pod)")
        cmd.add_argument("--workdir", required=True)
    status = sub.add_parser("status", help="every process: pid, ready, state, restarts")
    status.add_argument("--workdir", required=True)
    status.add_argument("--json", action="store_true")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "up":
            return cmd_up(args)
        if args.command == "down":
            return cmd_down(args)
        if args.command in ("fault", "heal"):
            return cmd_fault(args, args.command)
        return cmd_status(args)
    except LabError as exc:
        print("fleetlab %s: %s" % (args.command, exc), file=sys.stderr)
        return 1
