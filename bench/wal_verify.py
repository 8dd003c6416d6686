"""Benchmark: ``wal_inspect verify: full`` against ``cat`` of the same files, and its peak memory.

Builds (once, cached under --cache) WALs of real-format segments (tests/unit/fixtures/wal/walgen.py:
Prometheus's wlog writer and record encoding, snappy, 128 MiB segments) of each --sizes GiB,
then, per size, in the same run and alternating so both see the same page cache and load:

* ``cat <segments> > /dev/null``                    (the floor: reading the bytes)
* the domain function (``wal.inspect_local(verify='full')``) in a child process
* the module process (``plugins/modules/wal_inspect.py`` run as Ansible runs it, args file)

Each is timed --runs times (the median is reported); peak RSS is the child's ``ru_maxrss``
(``os.wait4``). Prints a table and writes bench/results/wal_verify.md with the machine and the
command. Not part of ``make test``; run it on a quiet machine (the 4 GiB case reads 4 GiB per
run: it needs that much free page cache to measure CPU, not the disk).

    .venv/bin/python bench/wal_verify.py                    # 1 and 4 GiB, 3 runs
    .venv/bin/python bench/wal_verify.py --sizes 1 --runs 5 --profile small
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "unit", "fixtures", "wal"))
GIB = 1024 ** 3
SEGMENT = 128 * 1024 * 1024

PROFILES = {
    # scrape targets of 20 .. 5,000 series (log-uniform): one samples record per scrape, a series
    # record now and then; mean record ~5.7 KB after snappy, about 1.2 fragments per record
    "realistic": {"min_series": 20, "max_series": 5000, "series_every": 50},
    # the worst case for a per-fragment loop: small scrapes (5 .. 300 series), ~0.6 KB records
    "small": {"min_series": 5, "max_series": 300, "series_every": 50},
}


def collections_root():
    base = os.path.join(tempfile.gettempdir(), "fleetops-bench-colls")
    link = os.path.join(base, "ansible_collections", "fleetops", "prometheus_agent")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(REPO, link)
    return base


def build(cache, gib, profile):
    """The WAL directory of ``gib`` GiB for ``profile``, built once."""
    import walgen  # pylint: disable=import-outside-toplevel
    d = os.path.join(cache, "%s-%dgib" % (profile, gib), "wal")
    marker = os.path.join(os.path.dirname(d), "built.json")
    want = {"gib": gib, "profile": PROFILES[profile], "segment": SEGMENT, "format": 1}
    if os.path.exists(marker):
        with open(marker, encoding="utf-8") as fh:
            if json.load(fh) == want:
                return d
    shutil.rmtree(os.path.dirname(d), ignore_errors=True)
    t = time.time()
    p = PROFILES[profile]
    pool = walgen.RecordPool(seed=42, targets=96, min_series=p["min_series"], max_series=p["max_series"])
    w = walgen.write_wal(d, gib * GIB, segment_size=SEGMENT, pool=pool, series_every=p["series_every"])
    print("built %s: %d records, %d fragments in %.1f s" % (d, w.records, w.fragments, time.time() - t), flush=True)
    with open(marker, "w", encoding="utf-8") as fh:
        json.dump(want, fh)
    return d


def run_child(argv, env=None):
    """(seconds, peak RSS bytes, stdout) of one child process."""
    t = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)  # pylint: disable=consider-using-with
    out = proc.stdout.read()
    err = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s %s" % (argv[:3], proc.returncode, out[-2000:], err[-2000:]))
    return seconds, usage.ru_maxrss * 1024, out


DOMAIN_CHILD = r'''
import json, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.wal import format as wal
t = time.perf_counter()
listing, report = wal.inspect_local(sys.argv[2], verify="full", live=False)
facts = wal.wal_facts(listing, report)
v = facts["verify"]
print(json.dumps({"seconds": time.perf_counter() - t, "bytes": v["verified_bytes"], "records": v["records"],
                  "fragments": v["fragments"], "corruptions": facts["corruptions_total"], "crc": facts["crc_implementation"]}))
'''


def module_argv(path, tmp):
    args = os.path.join(tmp, "args.json")
    with open(args, "w", encoding="utf-8") as fh:
        json.dump({"ANSIBLE_MODULE_ARGS": {"path": path, "verify": "full", "location": "local", "agent_running": False}}, fh)
    return [sys.executable, os.path.join(REPO, "plugins", "modules", "wal_inspect.py"), args]


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            mem = "%.1f GiB" % (int(fh.readline().split()[1]) / 1024 / 1024)
    except (OSError, ValueError, IndexError):
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "memory": mem, "python": platform.python_version(),
            "kernel": platform.release(), "load": "%.2f %.2f %.2f" % os.getloadavg()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,4", help="GiB, comma separated (default 1,4)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", default="realistic", choices=sorted(PROFILES))
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "fleetops-walbench"))
    ap.add_argument("--no-module", action="store_true", help="skip the module process")
    ap.add_argument("--output", default=os.path.join(REPO, "bench", "results", "wal_verify.md"))
    ap.add_argument("--append", action="store_true", help="append to the results file instead of replacing it")
    ap.add_argument("--lab", metavar="WORKDIR", help="also measure pod mode through a running lab (fleetlab up --workdir WORKDIR)")
    ap.add_argument("--lab-cluster", default="lab-1")
    ap.add_argument("--lab-segments", type=int, default=1, help="segments (128 MiB each) copied into the lab pod's volume")
    opts = ap.parse_args()

    colls = collections_root()
    env = dict(os.environ, PYTHONPATH=colls)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        startup = None
        if not opts.no_module:
            # the module's fixed cost: Python, Ansible's module_utils and the shared imports, on an empty WAL
            empty = os.path.join(tmp, "empty-wal")
            os.makedirs(empty)
            startup = statistics.median(run_child(module_argv(empty, tmp), env=env)[0] for _run in range(max(3, opts.runs)))
            print("module process on an empty WAL (fixed cost): %.2f s" % startup, flush=True)
        for gib in [int(s) for s in opts.sizes.split(",") if s]:
            d = build(opts.cache, gib, opts.profile)
            files = sorted(glob.glob(os.path.join(d, "[0-9]*")))
            nbytes = sum(os.path.getsize(f) for f in files)
            cat = ["sh", "-c", 'exec cat "$@" > /dev/null', "cat"] + files
            run_child(cat)                        # warm the page cache
            times = {"cat": [], "domain": [], "module": []}
            rss = {"cat": 0, "domain": 0, "module": 0}
            info = {}
            for _run in range(opts.runs):
                s, r, _o = run_child(cat)
                times["cat"].append(s)
                rss["cat"] = max(rss["cat"], r)
                s, r, out = run_child([sys.executable, "-c", DOMAIN_CHILD, colls, d])
                info = json.loads(out)
                times["domain"].append(info["seconds"])
                rss["domain"] = max(rss["domain"], r)
                if not opts.no_module:
                    s, r, out = run_child(module_argv(d, tmp), env=env)
                    res = json.loads(out)
                    assert res["wal"]["verified_bytes"] == nbytes and not res["wal"]["corruptions"], res.get("msg")
                    times["module"].append(s)
                    rss["module"] = max(rss["module"], r)
            med = {k: statistics.median(v) for k, v in times.items() if v}
            row = {"gib": gib, "bytes": nbytes, "segments": len(files), "records": info["records"], "startup": startup,
                   "fragments": info["fragments"], "crc": info["crc"], "times": times, "median": med, "rss": rss}
            rows.append(row)
            print(fmt_row(row), flush=True)
        write_results(opts, rows)          # written before the pod part, which needs a lab
        pod_row = None
        if opts.lab:
            try:
                pod_row = bench_pod(opts, tmp, env)
            except Exception as exc:  # pylint: disable=broad-except
                print("pod mode not measured: %s" % str(exc)[:500], flush=True)
        if pod_row:
            opts.append = True
            write_results(opts, [], pod_row)


def bench_pod(opts, tmp, env):
    """Pod mode through the lab's Kubernetes API: segments copied into the pod's volume (outside
    its WAL, at /prometheus/benchwal), ``kubectl exec cat`` (the transport's floor) against the
    module in pod mode (``cat`` streamed through pods/exec, verified as it arrives)."""
    with open(os.path.join(opts.lab, "state.json"), encoding="utf-8") as fh:
        state = json.load(fh)
    c = state["clusters"][opts.lab_cluster]
    src = sorted(glob.glob(os.path.join(build(opts.cache, 1, opts.profile), "[0-9]*")))[:opts.lab_segments]
    dest = os.path.join(c["data_dir"], "benchwal")
    os.makedirs(dest, exist_ok=True)
    try:
        for f in src:
            shutil.copyfile(f, os.path.join(dest, os.path.basename(f)))
        nbytes = sum(os.path.getsize(f) for f in src)
        kubeconfig = os.path.join(opts.lab, "kubeconfig")
        kubectl = ["kubectl", "--kubeconfig", kubeconfig, "--context", c["context"], "-n", c["namespace"], "exec", c["pod"], "--",
                   "sh", "-c", 'cat /prometheus/benchwal/* > /dev/null']
        kubectl_stream = ["sh", "-c", 'exec "$@" > /dev/null', "kubectl", "kubectl", "--kubeconfig", kubeconfig, "--context", c["context"],
                          "-n", c["namespace"], "exec", c["pod"], "--", "sh", "-c", "cat /prometheus/benchwal/*"]
        args = os.path.join(tmp, "pod-args.json")
        with open(args, "w", encoding="utf-8") as fh:
            json.dump({"ANSIBLE_MODULE_ARGS": {"location": "pod", "kubeconfig": kubeconfig, "context": c["context"],
                                               "namespace": c["namespace"], "pod": c["pod"], "path": "/prometheus/benchwal",
                                               "verify": "full", "agent_running": False, "timeout": 120}}, fh)
        module = [sys.executable, os.path.join(REPO, "plugins", "modules", "wal_inspect.py"), args]
        times = {"cat_in_pod": [], "kubectl_stream": [], "module_pod": []}
        rss = 0
        for _run in range(opts.runs):
            times["cat_in_pod"].append(run_child(kubectl)[0])
            times["kubectl_stream"].append(run_child(kubectl_stream)[0])
            s, r, out = run_child(module, env=env)
            res = json.loads(out)
            assert res["wal"]["verified_bytes"] == nbytes, res
            times["module_pod"].append(s)
            rss = max(rss, r)
        med = {k: statistics.median(v) for k, v in times.items()}
        row = {"bytes": nbytes, "segments": len(src), "times": times, "median": med, "rss": rss}
        print("pod mode, %d MB: kubectl exec cat (in the pod) %.2f s, kubectl exec streaming out %.2f s, module %.2f s "
              "(%.2f x the kubectl stream), peak RSS %.1f MiB" % (
                  nbytes / 1e6, med["cat_in_pod"], med["kubectl_stream"], med["module_pod"], med["kubectl_stream"] / med["module_pod"],
                  rss / 2 ** 20), flush=True)
        return row
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def fmt_row(row):
    med = row["median"]
    mb = row["bytes"] / 1e6
    parts = ["%d GiB: cat %.2f s (%.0f MB/s)" % (row["gib"], med["cat"], mb / med["cat"]),
             "domain %.2f s (%.0f MB/s, %.2f x cat, peak RSS %.1f MiB)" % (
                 med["domain"], mb / med["domain"], med["cat"] / med["domain"], row["rss"]["domain"] / 2 ** 20)]
    if "module" in med:
        parts.append("module %.2f s (%.2f x cat, peak RSS %.1f MiB)" % (
            med["module"], med["cat"] / med["module"], row["rss"]["module"] / 2 ** 20))
    return "; ".join(parts)


def write_results(opts, rows, pod_row=None):
    m = machine()
    lines = []
    if not rows and pod_row:
        lines += [""]
    elif not opts.append:
        lines += ["# WAL verification benchmark (bench/wal_verify.py)", ""]
    lines += [
        "## %s, profile `%s`" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), opts.profile), "",
        "- machine: %d CPU (%s), %s RAM, Linux %s, Python %s; load average at the end %s"
        % (m["nproc"], m["cpu"], m["memory"], m["kernel"], m["python"], m["load"]),
        "- command: `%s`" % " ".join(
            [os.path.relpath(sys.executable, REPO) if sys.executable.startswith(REPO) else sys.executable]
            + [os.path.relpath(os.path.abspath(__file__), REPO)] + sys.argv[1:]),
        "- WAL: real-format segments (walgen: Prometheus 2.42 wlog writer, snappy, 128 MiB segments), profile %s %s"
        % (opts.profile, json.dumps(PROFILES[opts.profile])),
        "- CRC-32C: %s; %d run(s) each, medians; page cache warm for every reader (cat ran first)"
        % (rows[0]["crc"] if rows else "?", opts.runs),
        "",
        "| WAL | segments | records | fragments | cat | verify (domain) | vs cat | verify (module process) | vs cat | peak RSS domain | peak RSS module |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    startup = rows[0].get("startup") if rows else None
    for r in rows:
        med = r["median"]
        mb = r["bytes"] / 1e6
        mod = med.get("module")
        lines.append("| %d GiB (%d B) | %d | %d | %d | %.2f s (%.0f MB/s) | %.2f s (%.0f MB/s) | %.2f | %s | %s | %.1f MiB | %s |" % (
            r["gib"], r["bytes"], r["segments"], r["records"], r["fragments"], med["cat"], mb / med["cat"],
            med["domain"], mb / med["domain"], med["cat"] / med["domain"],
            "%.2f s (%.0f MB/s)" % (mod, mb / mod) if mod else "-", "%.2f" % (med["cat"] / mod) if mod else "-",
            r["rss"]["domain"] / 2 ** 20, "%.1f MiB" % (r["rss"]["module"] / 2 ** 20) if mod else "-"))
    if startup is not None:
        lines += ["", "The module process includes a fixed cost of %.2f s (median, the module on an empty WAL: Python, Ansible's "
                  "module_utils, and the shared module_utils, which import the kubernetes client even in local mode). Without it the "
                  "module verifies at: %s." % (startup, "; ".join(
                      "%d GiB %.0f MB/s (%.2f x cat)" % (
                          r["gib"], r["bytes"] / 1e6 / max(1e-6, r["median"]["module"] - startup),
                          r["median"]["cat"] / max(1e-6, r["median"]["module"] - startup))
                      for r in rows if "module" in r["median"]))]
    if pod_row:
        med = pod_row["median"]
        mb = pod_row["bytes"] / 1e6
        lines += ["", "Pod mode through the lab's Kubernetes API (pods/exec over WebSocket, %d segment(s), %d B, copied into the pod's "
                  "volume outside its WAL):" % (pod_row["segments"], pod_row["bytes"]), "",
                  "| reader | seconds | MB/s |", "|---|---|---|",
                  "| `kubectl exec -- cat > /dev/null` inside the pod (no transfer) | %.2f | %.0f |" % (med["cat_in_pod"], mb / med["cat_in_pod"]),
                  "| `kubectl exec -- cat` streamed out to /dev/null (the transport's floor) | %.2f | %.0f |"
                  % (med["kubectl_stream"], mb / med["kubectl_stream"]),
                  "| wal_inspect module, pod mode, verify full | %.2f | %.0f (%.2f x the kubectl stream; peak RSS %.1f MiB) |"
                  % (med["module_pod"], mb / med["module_pod"], med["kubectl_stream"] / med["module_pod"], pod_row["rss"] / 2 ** 20)]
    lines += ["", "All runs (seconds): " + "; ".join(
        "%d GiB %s" % (r["gib"], ", ".join("%s %s" % (k, "/".join("%.2f" % x for x in v)) for k, v in r["times"].items() if v))
        for r in rows), ""]
    os.makedirs(os.path.dirname(opts.output), exist_ok=True)
    with open(opts.output, "a" if opts.append else "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    print("wrote %s" % opts.output)


if __name__ == "__main__":
    main()
