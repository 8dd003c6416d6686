"""Where the integration suite's CPU goes: a pytest plugin, and the table of what it wrote.

The integration stage is CPU-bound on a 2-core machine (``CPU busy`` 93-96 %), so its wall time is
its CPU seconds over two cores, and what makes it shorter is less CPU, not other scheduling. The
plugin writes, for every test, its wall time and the CPU seconds of the pytest worker and of the
processes the test waited for (``ansible``, ``ansible-playbook`` and what they ran: the
``RUSAGE_CHILDREN`` difference); and, for every lab stopped, the CPU seconds of the lab's processes
(the daemon with what it ran, the agents, the receiver) just before it stops, with the test that
stopped it. A lab is a child of the worker that started it, so its CPU is also in the children
figure of the test that stopped it: the lab column says how much of a file's CPU its labs were.

    FLEETOPS_CPU_DIR=/tmp/cpu PYTHONPATH=bench PYTEST_ADDOPTS="-p integration_cpu" tests/scripts/test.sh integration
    .venv/bin/python bench/integration_cpu.py /tmp/cpu

Measured with it (2026-12-07, 4 workers): 2,660 CPU-s for the stage, 1,181 of them in labs, of
which the labs scoped to the session or to a package (up until the end of the session) were 960.
"""

from __future__ import annotations

import collections
import glob
import json
import os
import resource
import sys
import time

import pytest

_CURRENT = {"test": "(session)"}
_TICKS = os.sysconf("SC_CLK_TCK")


def _out_path():
    directory = os.environ.get("FLEETOPS_CPU_DIR", "/tmp/fleetops-cpu")
    os.makedirs(directory, exist_ok=True)
    return os.path.join(directory, "%s.jsonl" % os.environ.get("PYTEST_XDIST_WORKER", "main"))


def _write(record):
    with open(_out_path(), "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def _process_cpu(pid):
    """utime + stime + the waited-for children's of ``pid`` (seconds); 0 when it is gone."""
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / _TICKS


def _lab_cpu(workdir):
    """CPU seconds of every process whose command line names ``workdir`` (the lab's)."""
    total = 0.0
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as handle:
                cmdline = handle.read().decode("utf-8", "replace")
        except OSError:
            continue
        if str(workdir) in cmdline:
            total += _process_cpu(int(name))
    return total


def pytest_configure(config):  # pylint: disable=unused-argument
    """Wrap labkit.client.down_workdir: the lab's CPU is read just before it stops."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "lab"))
    try:
        from labkit import client  # pylint: disable=import-outside-toplevel,import-error
    except ImportError:
        return
    down = client.down_workdir

    def down_workdir(workdir, *args, **kwargs):
        _write({"lab": str(workdir), "test": _CURRENT["test"], "cpu": _lab_cpu(workdir)})
        return down(workdir, *args, **kwargs)
    client.down_workdir = down_workdir


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):  # pylint: disable=unused-argument
    """Wall and CPU seconds of one test (setup, call and teardown)."""
    _CURRENT["test"] = item.nodeid
    own, children, started = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    yield
    own_after, children_after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    _write({"test": item.nodeid, "wall": time.time() - started,
            "self": own_after.ru_utime + own_after.ru_stime - own.ru_utime - own.ru_stime,
            "children": children_after.ru_utime + children_after.ru_stime - children.ru_utime - children.ru_stime})


def table(directory, top=40):
    """The lines of the per-file table of what the plugin wrote to ``directory``."""
    files = collections.defaultdict(lambda: {"wall": 0.0, "self": 0.0, "children": 0.0, "tests": 0, "lab": 0.0, "labs": 0})
    for path in glob.glob(os.path.join(directory, "*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                row = files[record["test"].split("::")[0].split("@")[0]]
                if "lab" in record:
                    row["lab"] += record["cpu"]
                    row["labs"] += 1
                    continue
                for key in ("wall", "self", "children"):
                    row[key] += record[key]
                row["tests"] += 1
    rows = sorted(files.items(), key=lambda kv: -(kv[1]["self"] + kv[1]["children"]))
    total = {key: sum(row[key] for _f, row in rows) for key in ("wall", "self", "children", "lab")}
    lines = ["CPU-s of the tests %.0f (pytest workers %.0f, what they waited for %.0f), of which labs %.0f; wall of the tests %.0f s"
             % (total["self"] + total["children"], total["self"], total["children"], total["lab"], total["wall"]),
             "", "| file | tests | CPU-s | of which labs (stopped) | wall s |", "|---|---:|---:|---:|---:|"]
    for name, row in rows[:top]:
        lines.append("| %s | %d | %.1f | %.1f (%d) | %.1f |" % (
            name.replace("tests/integration/", ""), row["tests"], row["self"] + row["children"], row["lab"], row["labs"], row["wall"]))
    return lines


def main(argv):
    print("\n".join(table(argv[1] if len(argv) > 1 else "/tmp/fleetops-cpu")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
