# Copyright: fleetops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet audit at scale: the daily playbook against Ansible's floor and the naive runbook.

    .venv/bin/python bench/fleet_audit.py                         # 50, 200, 500 synthetic clusters
    .venv/bin/python bench/fleet_audit.py --sizes 20,50 --forks 20  # quicker
    .venv/bin/python bench/fleet_audit.py --lab /tmp/lab            # reuse a running lab (>= max size)

One lab of max(sizes) synthetic clusters (tests/lab/fleetlab, no agent processes) serves every
size: each size is an inventory of the first N hosts of the lab's inventory. For every size the
playbooks run one after the other, alternating, with the same forks:

- ``floor``: bench/floor/ping.yml, one ``ansible.builtin.ping`` per host (Ansible's own floor);
- ``floor_x6``: bench/floor/ping_x6.yml, six pings per host (the daily playbook's module count:
  a diagnostic, what Ansible alone costs for that many module tasks);
- ``floor_set_fact``: bench/floor/set_fact.yml, one ``ansible.builtin.set_fact`` per host (a
  diagnostic: the floor of fleet mode's per-host step, a task per host without a module process);
- ``daily``: ``fleetops.prometheus_agent.daily`` (roles/daily_check + roles/fleet_report);
- ``naive``: bench/naive/runbook.yml, kubectl + jq as ``ansible.builtin.command`` tasks.

Measured for the controller process tree (ansible-playbook and everything it starts):
wall time; CPU seconds (user + system of the process and its reaped descendants, ``os.wait4``);
peak memory, sampled every 0.2 s over the tree from /proc: the sum of RSS, the sum of PSS
(shared pages counted once, what the tree really holds) and the main process's RSS. Also the
lab API server's CPU seconds over the run (the "clusters'" side, not the controller). Per-task
costs come from bench/callback_plugins/task_timing.py.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENV_BIN = REPO / ".venv" / "bin"
FLEETLAB = REPO / "tests" / "lab" / "fleetlab"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

PLAYBOOKS = {
    "floor": str(BENCH / "floor" / "ping.yml"),
    "floor_x6": str(BENCH / "floor" / "ping_x6.yml"),
    "floor_set_fact": str(BENCH / "floor" / "set_fact.yml"),
    "daily": "fleetops.prometheus_agent.daily",
    "daily_module": "fleetops.prometheus_agent.daily",
    "daily_window": "fleetops.prometheus_agent.daily",
    "daily_fleet": "fleetops.prometheus_agent.daily",
    "naive": str(BENCH / "naive" / "runbook.yml"),
}
DAILY_KINDS = ("daily", "daily_module", "daily_window", "daily_fleet")
DESCRIPTIONS = {
    "floor": "1 x ansible.builtin.ping per host",
    "floor_x6": "6 x ansible.builtin.ping per host (diagnostic)",
    "floor_set_fact": "1 x ansible.builtin.set_fact per host (diagnostic: the floor of fleet mode's per-host step)",
    "daily": "fleetops.prometheus_agent.daily",
    "daily_module": "the daily playbook with FLEETOPS_IN_WORKER=0 (a module process per task, as before the action plugins)",
    "daily_window": "the daily playbook after an earlier daily run (its fleet history: every cluster has its window, no wait, no second read)",
    "daily_fleet": "the daily playbook with -e fleet_gather=fleet (one run-once gathering of every cluster, a thread pool)",
    "naive": "kubectl + jq command tasks (bench/naive/runbook.yml)",
}


# ---------------------------------------------------------------------------- machine
def machine():
    """nproc, CPU model, memory, kernel, Python and Ansible versions, load."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        ansible = subprocess.run([str(VENV_BIN / "ansible"), "--version"], capture_output=True, text=True, check=False).stdout.splitlines()[0]
    except (OSError, IndexError):
        ansible = "unknown"
    return {"nproc": os.cpu_count(), "cpu": model, "memory_gib": round(mem / 1024 ** 3, 1), "kernel": platform.release(),
            "python": platform.python_version(), "ansible": ansible, "loadavg": os.getloadavg()}


# ---------------------------------------------------------------------------- /proc
def _children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def tree(pid):
    """pid and all its descendants."""
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        cur = todo.pop()
        out.append(cur)
        todo.extend(kids.get(cur, ()))
    return out


def rss_pss(pid):
    """(RSS, PSS) in bytes of one process, (0, 0) when it is gone."""
    try:
        with open("/proc/%d/smaps_rollup" % pid, "rb") as handle:
            rss = pss = 0
            for line in handle:
                if line.startswith(b"Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith(b"Pss:"):
                    pss = int(line.split()[1]) * 1024
            return rss, pss
    except (OSError, ValueError):
        return 0, 0


def cpu_seconds(pid):
    """utime + stime of a live process (its own, not its children's)."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            stat = handle.read()
        fields = stat[stat.rindex(b")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return 0.0


class TreeSampler(threading.Thread):
    """Peak RSS sum, PSS sum, main-process RSS and process count of a process tree."""

    def __init__(self, pid, interval=0.2):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.stop = threading.Event()
        self.peak = {"rss_sum": 0, "pss_sum": 0, "main_rss": 0, "procs": 0}

    def run(self):
        while not self.stop.is_set():
            pids = tree(self.pid)
            rss_sum = pss_sum = 0
            for pid in pids:
                rss, pss = rss_pss(pid)
                rss_sum += rss
                pss_sum += pss
                if pid == self.pid:
                    self.peak["main_rss"] = max(self.peak["main_rss"], rss)
            self.peak["rss_sum"] = max(self.peak["rss_sum"], rss_sum)
            self.peak["pss_sum"] = max(self.peak["pss_sum"], pss_sum)
            self.peak["procs"] = max(self.peak["procs"], len(pids))
            self.stop.wait(self.interval)


# ---------------------------------------------------------------------------- ansible
def collections_path():
    """The collection on ANSIBLE_COLLECTIONS_PATH the way the integration tests do it."""
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    import ansible_runner_helpers  # pylint: disable=import-outside-toplevel,import-error
    return str(ansible_runner_helpers.collections_path())


def ansible_env(forks, timing_file):
    """Environment of every measured ansible-playbook: the same for all playbooks."""
    env = dict(os.environ)
    env["PATH"] = "%s:%s" % (VENV_BIN, env.get("PATH", ""))
    env["ANSIBLE_COLLECTIONS_PATH"] = collections_path()
    env["ANSIBLE_FORKS"] = str(forks)
    env["ANSIBLE_CALLBACK_PLUGINS"] = str(BENCH / "callback_plugins")
    env["ANSIBLE_CALLBACKS_ENABLED"] = "task_timing"
    env["FLEETOPS_TASK_TIMING"] = timing_file
    env["ANSIBLE_HOST_KEY_CHECKING"] = "False"
    env["ANSIBLE_RETRY_FILES_ENABLED"] = "False"
    env["ANSIBLE_NOCOLOR"] = "1"
    env["PYTHONWARNINGS"] = "ignore"
    return env


def run_playbook(kind, inventory, forks, workdir, daemon_pid, module_timeout=None, extra_vars=None):
    """Run one playbook; return its measurements."""
    workdir.mkdir(parents=True, exist_ok=True)
    timing_file = str(workdir / "timing.json")
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), PLAYBOOKS[kind]]
    if kind in DAILY_KINDS:
        cmd += ["-e", "fleet_report_dir=%s" % (workdir / "report")]
        if kind == "daily_fleet":
            cmd += ["-e", "fleet_gather=fleet"]
        if module_timeout:
            cmd += ["-e", "fleet_module_timeout=%d" % module_timeout]
    for key, value in (extra_vars or {}).items():
        cmd += ["-e", "%s=%s" % (key, value)]
    env = ansible_env(forks, timing_file)
    env["FLEETOPS_IN_WORKER"] = "0" if kind == "daily_module" else "1"
    load_before = os.getloadavg()[0]
    api_cpu0 = cpu_seconds(daemon_pid) if daemon_pid else 0.0
    with open(workdir / "stdout.log", "wb") as out:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(workdir))  # pylint: disable=consider-using-with
        sampler = TreeSampler(proc.pid)
        sampler.start()
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        sampler.stop.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    api_cpu = (cpu_seconds(daemon_pid) - api_cpu0) if daemon_pid else 0.0
    timing = {}
    try:
        timing = json.loads(Path(timing_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    return {"kind": kind, "rc": proc.returncode, "wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "cpu_user_s": round(usage.ru_utime, 2), "cpu_sys_s": round(usage.ru_stime, 2),
            "max_single_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "peak_rss_sum_mib": round(sampler.peak["rss_sum"] / 2 ** 20, 1), "peak_pss_sum_mib": round(sampler.peak["pss_sum"] / 2 ** 20, 1),
            "peak_main_rss_mib": round(sampler.peak["main_rss"] / 2 ** 20, 1), "peak_procs": sampler.peak["procs"],
            "api_server_cpu_s": round(api_cpu, 2), "load_before": round(load_before, 1), "load_after": round(os.getloadavg()[0], 1),
            "recap": timing.get("recap", {}), "tasks": timing.get("tasks", []), "log": str(workdir / "stdout.log"),
            "report_summary": _report_summary(workdir / "report") if kind in DAILY_KINDS else None}


def _report_summary(report_dir):
    try:
        data = json.loads((report_dir / "fleet-report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    statuses = {}
    for info in data.get("clusters", {}).values():
        statuses[info.get("status")] = statuses.get(info.get("status"), 0) + 1
    return {"clusters": len(data.get("clusters", {})), "statuses": statuses}


# ---------------------------------------------------------------------------- lab
def lab_up(workdir, synthetic, shards=1, replicas=1):
    """A lab of synthetic clusters only (no agent processes), each agent of ``shards`` x ``replicas`` pods."""
    subprocess.run([str(VENV_BIN / "python"), str(FLEETLAB), "up", "--workdir", str(workdir), "--clusters", "0",
                    "--synthetic", str(synthetic), "--shards", str(shards), "--replicas", str(replicas)],
                   check=True, stdout=subprocess.DEVNULL)


def lab_down(workdir):
    """Stop the lab (by its pids)."""
    subprocess.run([str(VENV_BIN / "python"), str(FLEETLAB), "down", "--workdir", str(workdir)], check=False,
                   stdout=subprocess.DEVNULL)


def subset_inventory(lab, size, dest):
    """The lab's inventory restricted to its first ``size`` synthetic hosts."""
    data = yaml.safe_load((Path(lab) / "inventory.yml").read_text(encoding="utf-8"))
    fleet = data["all"]["children"]["fleet"]
    hosts = sorted(fleet["hosts"])
    if len(hosts) < size:
        raise SystemExit("the lab at %s has %d clusters, %d asked" % (lab, len(hosts), size))
    fleet["hosts"] = {name: fleet["hosts"][name] for name in hosts[:size]}
    dest.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return dest


# ---------------------------------------------------------------------------- analysis
def fit(points):
    """Least squares y = a + b * n over [(n, y)]: (a, b)."""
    if len(points) < 2:
        n, y = points[0]
        return 0.0, y / n
    count = len(points)
    mean_n = sum(p[0] for p in points) / count
    mean_y = sum(p[1] for p in points) / count
    var = sum((p[0] - mean_n) ** 2 for p in points)
    slope = sum((p[0] - mean_n) * (p[1] - mean_y) for p in points) / var if var else 0.0
    return mean_y - slope * mean_n, slope


def ratio(num, den):
    """num / den rounded, None when den is 0."""
    return round(num / den, 2) if den else None


def analyse(results, sizes, kinds):
    """Ratios per size and per-host fits per playbook."""
    ratios = {}
    for size in sizes:
        by = {r["kind"]: r for r in results if r["size"] == size and r["rc"] >= 0}
        row = {}
        if "daily" in by and "floor" in by:
            row["daily_vs_floor_wall"] = ratio(by["daily"]["wall_s"], by["floor"]["wall_s"])
            row["daily_vs_floor_cpu"] = ratio(by["daily"]["cpu_s"], by["floor"]["cpu_s"])
        if "daily" in by and "floor_x6" in by:
            row["daily_vs_floor_x6_wall"] = ratio(by["daily"]["wall_s"], by["floor_x6"]["wall_s"])
        if "daily" in by and "daily_module" in by:
            row["module_vs_daily_wall"] = ratio(by["daily_module"]["wall_s"], by["daily"]["wall_s"])
            row["module_vs_daily_cpu"] = ratio(by["daily_module"]["cpu_s"], by["daily"]["cpu_s"])
        if "daily_window" in by and "floor" in by:
            row["daily_window_vs_floor_wall"] = ratio(by["daily_window"]["wall_s"], by["floor"]["wall_s"])
            row["daily_window_vs_floor_cpu"] = ratio(by["daily_window"]["cpu_s"], by["floor"]["cpu_s"])
        if "daily" in by and "daily_window" in by:
            row["daily_window_vs_daily_wall"] = ratio(by["daily_window"]["wall_s"], by["daily"]["wall_s"])
            row["daily_window_vs_daily_cpu"] = ratio(by["daily_window"]["cpu_s"], by["daily"]["cpu_s"])
        if "daily_fleet" in by and "floor" in by:
            row["daily_fleet_vs_floor_wall"] = ratio(by["daily_fleet"]["wall_s"], by["floor"]["wall_s"])
            row["daily_fleet_vs_floor_cpu"] = ratio(by["daily_fleet"]["cpu_s"], by["floor"]["cpu_s"])
        if "daily" in by and "naive" in by:
            row["naive_vs_daily_wall"] = ratio(by["naive"]["wall_s"], by["daily"]["wall_s"])
            row["naive_vs_daily_cpu"] = ratio(by["naive"]["cpu_s"], by["daily"]["cpu_s"])
        ratios[size] = row
    fits = {}
    for kind in kinds:
        rows = [r for r in results if r["kind"] == kind and r["rc"] >= 0]
        if not rows:
            continue
        wall_a, wall_b = fit([(r["size"], r["wall_s"]) for r in rows])
        cpu_a, cpu_b = fit([(r["size"], r["cpu_s"]) for r in rows])
        pss_a, pss_b = fit([(r["size"], r["peak_pss_sum_mib"]) for r in rows])
        if len({r["size"] for r in rows}) < 2:
            pss_a, pss_b = max(r["peak_pss_sum_mib"] for r in rows), 0.0
        fits[kind] = {"sizes": sorted({r["size"] for r in rows}), "wall_fixed_s": round(wall_a, 2), "wall_per_host_s": round(wall_b, 4),
                      "cpu_fixed_s": round(cpu_a, 2), "cpu_per_host_s": round(cpu_b, 4), "pss_fixed_mib": round(pss_a, 1), "pss_per_host_mib": round(pss_b, 3)}
    return ratios, fits


def task_table(result):
    """Markdown rows of the per-task costs of one run."""
    lines = ["| task | action | hosts | sum of per-host s | per host s | max s | span s |", "|---|---|---:|---:|---:|---:|---:|"]
    for task in result["tasks"]:
        per = task["sum_s"] / task["hosts"] if task["hosts"] else 0
        cells = (task["name"][:70].replace("|", "/"), task["action"], task["hosts"], task["sum_s"], per, task["max_s"], task["span_s"])
        lines.append("| %s | %s | %d | %.1f | %.3f | %.2f | %.1f |" % cells)
    return lines


def markdown(meta, results, ratios, fits, forks):
    """The results file."""
    out = ["# Fleet audit at scale", "",
           "- date: %s" % meta["date"], "- command: `%s`" % meta["command"],
           "- machine: %(nproc)s CPUs (%(cpu)s), %(memory_gib)s GiB RAM, kernel %(kernel)s, Python %(python)s, %(ansible)s" % meta["machine"],
           "- load average at start: %s (the machine is shared: other engineers' runs compete for the 2 cores)" % (
               ", ".join("%.1f" % x for x in meta["machine"]["loadavg"])),
           "- forks: %d for every playbook; lab: synthetic clusters of tests/lab/fleetlab (no agent processes), %d agent pod(s) each, "
           "one API server process" % (forks, meta.get("pods_per_cluster", 1)),
           "", "## Runs", "",
           "| clusters | playbook | rc | wall s | CPU s (tree) | peak PSS MiB (tree) | peak RSS sum MiB | main RSS MiB | procs "
           "| API server CPU s | load before/after |",
           "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        if r["rc"] < 0:
            out.append("| %d | %s | killed | (after %.0f s: %s) | | | | | | | |" % (r["size"], r["kind"], r["wall_s"], r.get("note") or "interrupted"))
            continue
        out.append("| %d | %s | %d | %.1f | %.1f | %.0f | %.0f | %.0f | %d | %.1f | %.1f / %.1f |" % (
            r["size"], r["kind"], r["rc"], r["wall_s"], r["cpu_s"], r["peak_pss_sum_mib"], r["peak_rss_sum_mib"], r["peak_main_rss_mib"],
            r["peak_procs"], r["api_server_cpu_s"], r["load_before"], r["load_after"]))
    out += ["", "Playbooks: " + "; ".join("`%s` = %s" % (k, v) for k, v in DESCRIPTIONS.items()), "",
            "## Ratios", "", "| clusters | daily / floor (wall) | daily / floor (CPU) | daily / floor_x6 (wall) | naive / daily (wall) "
            "| naive / daily (CPU) | module path / daily (wall) | module path / daily (CPU) | daily_window / floor (wall) "
            "| daily_window / floor (CPU) | daily_window / daily (wall) | daily_window / daily (CPU) "
            "| daily_fleet / floor (wall) | daily_fleet / floor (CPU) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for size, row in ratios.items():
        if not row:
            continue
        out.append("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % tuple([size] + [row.get(k, "-") for k in (
            "daily_vs_floor_wall", "daily_vs_floor_cpu", "daily_vs_floor_x6_wall", "naive_vs_daily_wall", "naive_vs_daily_cpu",
            "module_vs_daily_wall", "module_vs_daily_cpu", "daily_window_vs_floor_wall", "daily_window_vs_floor_cpu",
            "daily_window_vs_daily_wall", "daily_window_vs_daily_cpu", "daily_fleet_vs_floor_wall", "daily_fleet_vs_floor_cpu")]))
    per = {k: v["cpu_per_host_s"] for k, v in fits.items()}
    if "daily" in per:
        out += ["", "Per-cluster CPU (the slopes below): daily / floor %s, naive / daily %s; daily / floor_x6 %s." % (
            ratio(per["daily"], per.get("floor", 0)), ratio(per.get("naive", 0), per["daily"]), ratio(per["daily"], per.get("floor_x6", 0)))]
    out += ["", "## Growth with the cluster count (least squares, cost = fixed + per_host x clusters)", "",
            "| playbook | wall fixed s | wall per host s | CPU fixed s | CPU per host s | PSS fixed MiB | PSS per host MiB |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for kind, row in fits.items():
        if len(row.get("sizes", [])) < 2:
            out.append("| %s (one size: %s) | - | %.3f | - | %.3f | %.0f (peak) | - |" % (
                kind, row["sizes"][0], row["wall_per_host_s"], row["cpu_per_host_s"], row["pss_fixed_mib"]))
            continue
        cells = (kind, row["wall_fixed_s"], row["wall_per_host_s"], row["cpu_fixed_s"], row["cpu_per_host_s"], row["pss_fixed_mib"],
                 row["pss_per_host_mib"])
        out.append("| %s | %.1f | %.3f | %.1f | %.3f | %.0f | %.2f |" % cells)
    for r in results:
        if r["kind"] in ("daily", "naive") and r["rc"] >= 0 and r["size"] == max(x["size"] for x in results if x["kind"] == r["kind"] and x["rc"] >= 0):
            out += ["", "## Per-task cost: %s, %d clusters (bench/callback_plugins/task_timing.py)" % (r["kind"], r["size"]), ""]
            out += task_table(r)
            if r.get("report_summary"):
                out += ["", "Fleet report: %s" % json.dumps(r["report_summary"])]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------- main
def main(argv=None):
    """Run the sizes and playbooks, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="50,200,500", help="cluster counts, comma-separated")
    parser.add_argument("--forks", type=int, default=20)
    parser.add_argument("--playbooks", default="floor,floor_x6,daily,naive", help="which of: " + ", ".join(PLAYBOOKS))
    parser.add_argument("--max", action="append", default=[], metavar="PLAYBOOK=N",
                        help="run PLAYBOOK only up to N clusters (repeatable), e.g. --max naive=200; the fit extrapolates")
    parser.add_argument("--lab", help="a running lab to use (its inventory has at least max(sizes) clusters); default: start one")
    parser.add_argument("--workdir", default="/tmp/fleetops-bench-audit", help="lab, inventories, logs and reports")
    parser.add_argument("--keep-lab", action="store_true", help="leave the lab it started running")
    parser.add_argument("--module-timeout", type=int, default=60,
                        help="fleet_module_timeout of the daily playbook (its default 20 s times out on a loaded 2-core machine)")
    parser.add_argument("--out", default=str(BENCH / "results" / "fleet_audit.md"))
    parser.add_argument("--quick", action="store_true", help="sizes 5,15 (a smoke run)")
    parser.add_argument("--shards", type=int, default=1, help="agent shards per synthetic cluster (the lab it starts)")
    parser.add_argument("--replicas", type=int, default=1, help="agent replicas per shard (the lab it starts)")
    parser.add_argument("--extra-var", action="append", default=[], metavar="KEY=VALUE",
                        help="an extra variable of every measured playbook run (repeatable), e.g. fleet_gather_workers=32")
    parser.add_argument("--render", metavar="JSON", help="only write --out again from the fleet_audit.json of an earlier run")
    args = parser.parse_args(argv)
    if args.render:
        data = json.loads(Path(args.render).read_text(encoding="utf-8"))
        done = [r for r in data["results"] if r["rc"] >= 0]
        kinds = [k for k in PLAYBOOKS if any(r["kind"] == k for r in done)]
        sizes = sorted({r["size"] for r in done})
        ratios, fits = analyse(done, sizes, kinds)
        Path(args.out).write_text(markdown(data["meta"], data["results"], ratios, fits, data["forks"]), encoding="utf-8")
        print("wrote %s" % args.out)
        return 0
    sizes = [5, 15] if args.quick else sorted(int(x) for x in args.sizes.split(","))
    kinds = [k for k in args.playbooks.split(",") if k]
    for kind in kinds:
        if kind not in PLAYBOOKS:
            parser.error("unknown playbook %s" % kind)
    limits = {}
    for item in args.max:
        kind, _sep, num = item.partition("=")
        if kind not in PLAYBOOKS or not num.isdigit():
            parser.error("--max wants PLAYBOOK=N, got %s" % item)
        limits[kind] = int(num)
    given = {}
    for item in args.extra_var:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error("--extra-var wants KEY=VALUE, got %s" % item)
        given[key] = value
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "pods_per_cluster": args.shards * args.replicas,
            "command": " ".join([".venv/bin/python", "bench/fleet_audit.py"] + (argv if argv is not None else sys.argv[1:])),
            "machine": machine()}
    lab = Path(args.lab) if args.lab else work / "lab"
    started = False
    if not args.lab:
        print("starting a lab of %d synthetic clusters of %d x %d pods in %s" % (max(sizes), args.shards, args.replicas, lab), flush=True)
        lab_up(lab, max(sizes), args.shards, args.replicas)
        started = True
    results = []
    try:
        daemon_pid = json.loads((lab / "state.json").read_text(encoding="utf-8")).get("daemon_pid")
        for size in sizes:
            inventory = subset_inventory(lab, size, work / ("inventory-%d.yml" % size))
            for kind in kinds:
                if size > limits.get(kind, size):
                    continue
                rundir = Path(tempfile.mkdtemp(prefix="%s-%d-" % (kind, size), dir=str(work)))
                extra = dict(given)
                if kind == "daily_window":
                    # an unmeasured daily run first: its fleet history is where the measured run's windows start
                    extra["fleet_history_file"] = str(rundir / "fleet-history.json")
                    run_playbook("daily", inventory, args.forks, rundir / "prime", daemon_pid, args.module_timeout, extra)
                res = run_playbook(kind, inventory, args.forks, rundir, daemon_pid, args.module_timeout, extra)
                res["size"] = size
                results.append(res)
                (work / "fleet_audit.json").write_text(json.dumps({"meta": meta, "forks": args.forks, "results": results}, indent=1, default=str),
                                                       encoding="utf-8")
                print("%4d clusters %-9s rc=%d wall %7.1f s  CPU %7.1f s  PSS %6.0f MiB  (load %.1f)" % (
                    size, kind, res["rc"], res["wall_s"], res["cpu_s"], res["peak_pss_sum_mib"], res["load_before"]), flush=True)
    finally:
        if started and not args.keep_lab:
            lab_down(lab)
    ratios, fits = analyse(results, sizes, kinds)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown(meta, results, ratios, fits, args.forks), encoding="utf-8")
    summary = {"meta": meta, "forks": args.forks, "results": results, "ratios": ratios, "fits": fits}
    (work / "fleet_audit.json").write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    print("wrote %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
