# Copyright: fleetops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's /metrics parsing against prometheus_client's parser, in one process.

    .venv/bin/python bench/metrics_parse.py              # 1 MB / 10k series page and the 2.42 capture
    .venv/bin/python bench/metrics_parse.py --quick      # fewer runs

Pages:
- ``large``: a generated ~1 MB page of ~10k series: the recorded Prometheus 2.42 agent page
  (tests/fixtures/captures/prometheus-2.42-agent/agent_metrics.txt) with 8 remote-write queues
  (every queue metric, latency histograms), plus scrape-pool, target and Go runtime families
  labelled per target, in the text format Prometheus writes (HELP, TYPE, escaped label values);
- ``capture``: the recorded 2.42 agent page as it is (42 KB, ~250 series).

Contenders, alternating within every run so all see the same machine state:
- ``prometheus_client``: ``text_string_to_metric_families(page)`` drained (every family and
  sample built): the reference parser alone, no domain work;
- ``exposition.parse``: the collection's parser (plugins/module_utils/prometheus/exposition.py);
- ``remote_write_stats domain``: parse + ``remote_write.read_queues`` + ``queue_figures`` against
  a baseline reading + ``rw_checks``: what the module does with the page;
- ``agent_status domain``: parse + ``agent_health.agent_facts`` + ``ingest_facts`` +
  ``limit_hits``: what agent_status does with the page;
- the two domain steps alone on an already parsed page (what they add to the parse).
Median CPU time of the process (``time.process_time``: the machine is shared, wall time would
measure the neighbours) of ``--runs`` (each run parses the page ``--inner`` times), throughput in MB/s,
ratios to prometheus_client, and the peak of Python allocations (tracemalloc) of one parse.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CAPTURE = REPO / "tests" / "fixtures" / "captures" / "prometheus-2.42-agent" / "agent_metrics.txt"


def _import_collection():
    """Import the collection's module_utils as Ansible would (ansible_collections.fleetops...)."""
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    import ansible_runner_helpers  # pylint: disable=import-outside-toplevel,import-error
    sys.path.insert(0, str(ansible_runner_helpers.collections_path()))
    from ansible_collections.fleetops.prometheus_agent.plugins.module_utils import (  # pylint: disable=import-outside-toplevel,import-error
        agent_health, exposition, remote_write)
    return exposition, remote_write, agent_health


# ---------------------------------------------------------------------------- the large page
def _family(out, name, kind, help_text, samples):
    out.append("# HELP %s %s" % (name, help_text))
    out.append("# TYPE %s %s" % (name, kind))
    for labels, value in samples:
        if labels:
            out.append("%s{%s} %s" % (name, ",".join('%s="%s"' % kv for kv in labels), value))
        else:
            out.append("%s %s" % (name, value))


def large_page(target_bytes=1_000_000, queues=8):
    """A deterministic page of about ``target_bytes`` (about 10k series)."""
    base = CAPTURE.read_text(encoding="utf-8").rstrip("\n").split("\n")
    out = list(base)
    rw = "prometheus_remote_storage_"
    qlabels = [[("remote_name", "queue-%d" % i), ("url", "https://receive-%d.thanos.example.com:19291/api/v1/receive" % i)]
               for i in range(queues)]
    for field, kind in (("samples_total", "counter"), ("samples_failed_total", "counter"), ("samples_retried_total", "counter"),
                        ("samples_dropped_total", "counter"), ("bytes_total", "counter"), ("samples_pending", "gauge"),
                        ("shards", "gauge"), ("shards_min", "gauge"), ("shards_max", "gauge"), ("shards_desired", "gauge"),
                        ("shard_capacity", "gauge"), ("max_samples_per_send", "gauge"),
                        ("queue_highest_sent_timestamp_seconds", "gauge")):
        _family(out, rw + field, kind, "remote write %s." % field,
                [(q, "%d" % (1000 * (i + 1) + 7)) for i, q in enumerate(qlabels)])
    buckets = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "25", "60", "120", "300", "+Inf"]
    hist = []
    for i, q in enumerate(qlabels):
        for j, le in enumerate(buckets):
            hist.append((q + [("le", le)], "%d" % (100 * (j + 1) + i)))
    _family(out, rw + "sent_batch_duration_seconds_bucket", "histogram", "Duration of send calls to the remote storage.", hist)
    series = sum(1 for line in out if line and not line.startswith("#"))
    size = sum(len(line) + 1 for line in out)
    families = [("bench_target_scrape_duration_seconds", "gauge", "Scrape duration of a target."),
                ("bench_target_samples_scraped", "gauge", "Samples the target exposed."),
                ("bench_target_requests_total", "counter", "Requests by the target's \\\"handler\\\"."),
                ("bench_target_up", "gauge", "1 when the target answered.")]
    index = 0
    while size < target_bytes:
        fam_name, kind, help_text = families[index % len(families)]
        lines = ["# HELP %s_%d %s" % (fam_name, index, help_text), "# TYPE %s_%d %s" % (fam_name, index, kind)]
        for k in range(250):
            labels = 'job="job-%02d",instance="10.%d.%d.%d:9100",pod="app-%03d-%04d"' % (
                k % 20, index, k // 256, k % 256, k % 100, (index * 250 + k) % 9973)
            if k % 10 == 0:
                labels += ',note="a \\"b\\"\\n"'
            lines.append("%s_%d{%s} %s" % (fam_name, index, labels, "%.6g" % (0.001 * ((index * 250 + k) % 99991))))
        out.extend(lines)
        size += sum(len(line) + 1 for line in lines)
        series += 250
        index += 1
    page = "\n".join(out) + "\n"
    return page, series


# ---------------------------------------------------------------------------- contenders
def contenders(exposition, remote_write, agent_health):
    """name -> callable(page)."""
    from prometheus_client.parser import text_string_to_metric_families  # pylint: disable=import-outside-toplevel

    def reference(page):
        count = 0
        for fam in text_string_to_metric_families(page):
            count += len(fam.samples)
        return count

    def parse(page):
        return exposition.parse(page)

    now = time.time()
    baselines = {}

    parsed = {}

    def rw_only(page):
        metrics = parsed.get(len(page)) or parsed.setdefault(len(page), exposition.parse(page))
        reading = remote_write.read_queues(metrics, now)
        base = baselines.setdefault(len(page), dict(reading, time=now - 60))
        queues, _window = remote_write.queue_figures(reading, base)
        return remote_write.rw_checks(queues)

    def status_only(page):
        metrics = parsed.get(len(page)) or parsed.setdefault(len(page), exposition.parse(page))
        agent = agent_health.agent_facts(200, 200, {"data": {"version": "2.42.0"}}, {"data": {"enable-feature": "agent"}}, metrics, None, now)
        return agent, agent_health.ingest_facts(metrics, now), agent_health.limit_hits(metrics)

    def rw_domain(page):
        metrics = exposition.parse(page)
        reading = remote_write.read_queues(metrics, now)
        base = baselines.setdefault(len(page), dict(reading, time=now - 60))
        queues, _window = remote_write.queue_figures(reading, base)
        return remote_write.rw_checks(queues)

    def status_domain(page):
        metrics = exposition.parse(page)
        agent = agent_health.agent_facts(200, 200, {"data": {"version": "2.42.0"}}, {"data": {"enable-feature": "agent"}}, metrics, None, now)
        return agent, agent_health.ingest_facts(metrics, now), agent_health.limit_hits(metrics)

    return [("prometheus_client", reference), ("exposition.parse", parse), ("remote_write_stats domain", rw_domain),
            ("agent_status domain", status_domain), ("remote_write domain step only (parsed page)", rw_only),
            ("agent_health domain step only (parsed page)", status_only)]


def measure(page, funcs, runs, inner):
    """Median CPU seconds (this process) per parse of each contender, alternating within each run."""
    times = {name: [] for name, _f in funcs}
    for name, func in funcs:          # warm up (imports, caches) and check they work
        func(page)
    for _run in range(runs):
        for name, func in funcs:
            gc.collect()
            start = time.process_time()
            for _i in range(inner):
                func(page)
            times[name].append((time.process_time() - start) / inner)
    peaks = {}
    for name, func in funcs:
        gc.collect()
        tracemalloc.start()
        func(page)
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {name: {"median_s": statistics.median(vals), "min_s": min(vals), "peak_alloc": peaks[name]} for name, vals in times.items()}


def machine():
    """nproc, CPU model, memory."""
    model, mem = "unknown", 0
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    load = ", ".join("%.1f" % x for x in os.getloadavg())
    return "%d CPUs (%s), %.1f GiB RAM, Python %s, load %s" % (os.cpu_count(), model, mem / 1024 ** 3, sys.version.split()[0], load)


def main(argv=None):
    """Run both pages, print and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="3 runs")
    parser.add_argument("--out", default=str(BENCH / "results" / "metrics_parse.md"))
    args = parser.parse_args(argv)
    runs = 3 if args.quick else args.runs
    exposition, remote_write, agent_health = _import_collection()
    import prometheus_client  # pylint: disable=import-outside-toplevel
    funcs = contenders(exposition, remote_write, agent_health)
    big, big_series = large_page()
    capture = CAPTURE.read_text(encoding="utf-8")
    cap_series = sum(1 for line in capture.splitlines() if line and not line.startswith("#"))
    pages = [("large (generated)", big, big_series, 3), ("capture (2.42 agent)", capture, cap_series, 50)]
    lines = ["# /metrics parsing: the collection against prometheus_client", "",
             "- date: %s" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
             "- command: `.venv/bin/python bench/metrics_parse.py%s`" % ((" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()),
             "- machine: %s" % machine(),
             "- prometheus_client %s; medians of %d runs, contenders alternating within each run; one process" % (
                 getattr(prometheus_client, "__version__", None) or _dist_version("prometheus_client"), runs), ""]
    for title, page, series, inner in pages:
        res = measure(page, funcs, runs, inner)
        ref = res["prometheus_client"]["median_s"]
        size = len(page.encode("utf-8"))
        lines += ["## %s: %.2f MB, %d series" % (title, size / 1e6, series), "",
                  "| contender | median CPU ms | MB/s | series/s | time vs prometheus_client | speed-up vs prometheus_client | peak alloc MiB |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for name, row in res.items():
            med = row["median_s"]
            cells = (name, med * 1000, size / med / 1e6, series / med, med / ref, ref / med, row["peak_alloc"] / 2 ** 20)
            lines.append("| %s | %.1f | %.1f | %.0f | %.2f | %.2fx | %.1f |" % cells)
        lines.append("")
        print("\n".join(lines[-(len(res) + 4):]), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    print("wrote %s" % out)
    return 0


def _dist_version(name):
    try:
        from importlib.metadata import version  # pylint: disable=import-outside-toplevel
        return version(name)
    except Exception:  # pylint: disable=broad-except
        return "?"


if __name__ == "__main__":
    sys.exit(main())
