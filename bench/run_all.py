# Copyright: fleetops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run every benchmark of bench/ (``make bench``); ``--quick`` for small sizes.

    .venv/bin/python bench/run_all.py            # full sizes (about 1.5 h on a 2-core machine)
    .venv/bin/python bench/run_all.py --quick    # small sizes (a few minutes): a smoke run
    .venv/bin/python bench/run_all.py --only metrics_parse,wal_verify

Each benchmark writes its own bench/results/<name>.md (machine, command, date, figures);
bench/results/index.md lists them
(``--quick`` writes bench/results/<name>-quick.md and index-quick.md, so it never replaces the
figures of a full run) with how long each took and its exit status. Benchmarks are
never part of ``make test``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable

# name -> (full arguments, quick arguments)
BENCHMARKS = {
    "metrics_parse": ([], ["--quick", "--out", str(BENCH / "results" / "metrics_parse-quick.md")]),
    "wal_verify": ([], ["--sizes", "1", "--runs", "1", "--output", str(BENCH / "results" / "wal_verify-quick.md")]),
    "fleet_audit": (["--sizes", "50,200,500"], ["--quick", "--out", str(BENCH / "results" / "fleet_audit-quick.md")]),
}


def machine():
    """One line: nproc, CPU model, memory."""
    model, mem = "unknown", 0
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), model)
        with open("/proc/meminfo", encoding="utf-8") as handle:
            mem = next((int(line.split()[1]) * 1024 for line in handle if line.startswith("MemTotal:")), 0)
    except OSError:
        pass
    return "%d CPUs (%s), %.1f GiB RAM" % (os.cpu_count(), model, mem / 1024 ** 3)


def main(argv=None):
    """Run the benchmarks one after the other, write bench/results/index.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--only", help="comma-separated subset of: " + ", ".join(BENCHMARKS))
    args = parser.parse_args(argv)
    names = [n for n in (args.only.split(",") if args.only else BENCHMARKS) if n]
    for name in names:
        if name not in BENCHMARKS:
            parser.error("unknown benchmark %s" % name)
    rows = []
    worst = 0
    for name in names:
        full, quick = BENCHMARKS[name]
        cmd = [PYTHON, str(BENCH / (name + ".py"))] + (quick if args.quick else full)
        result_name = name + ("-quick.md" if args.quick else ".md")
        print("== %s: %s" % (name, " ".join(cmd[1:])), flush=True)
        start = time.monotonic()
        rc = subprocess.call(cmd, cwd=str(REPO))
        took = time.monotonic() - start
        worst = worst or rc
        rows.append("| %s | `%s` | %d | %.0f s | [%s](%s) |" % (
            name, " ".join([".venv/bin/python"] + [os.path.relpath(c, str(REPO)) if c.startswith(str(REPO)) else c for c in cmd[1:]]),
            rc, took, result_name, result_name))
    lines = ["# Benchmark runs", "",
             "- date: %s" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
             "- command: `.venv/bin/python bench/run_all.py%s`" % ((" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()),
             "- machine: %s, load average at the end %s" % (machine(), ", ".join("%.1f" % x for x in os.getloadavg())), "",
             "| benchmark | command | rc | took | results |", "|---|---|---:|---:|---|"] + rows
    out = BENCH / "results" / ("index-quick.md" if args.quick else "index.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("wrote %s" % out)
    return worst


if __name__ == "__main__":
    sys.exit(main())
