"""UPTIME against a real TSDB (issue 14): 30 days of an agent's ``up`` backfilled with
``promtool tsdb create-blocks-from openmetrics`` into a real Prometheus, one cluster clean, one with
a 12-hour hole (the agent down: it sent nothing), one added 10 days ago. fleet_evaluate's PromQL
must count the hole as downtime (about 98.3%, critical), where ``avg_over_time(up[30d])`` reads
100%; a query API that is down is unknown with the reason. RIGHTSIZE takes the month's peak
memory from the same store: an hour at 490 MiB of a 512 MiB limit twelve days ago is critical
though the agent uses 250 MiB now. The weekly WAL-TREND takes the WAL's growth from the same store:
a WAL that grows 2 GiB a day under the saw-tooth of its truncations every two hours is found, one
that only saw-tooths is not."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from ansible_runner_helpers import run_playbook

pytestmark = [pytest.mark.slow]

DAY = 86400
STEP = 60          # the agent's self-scrape interval
MI = 2 ** 20
GI = 2 ** 30
WAL_GROWTH_PER_DAY = 2 * GI
HOLE = (10 * DAY, 10 * DAY + 12 * 3600)   # seconds before now: a 12-hour outage ten days ago


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _openmetrics(now):
    """``up`` of three clusters' agents every minute for 30 days (ending a minute ago)."""
    lines = ["# TYPE up gauge"]
    end = int(now) - 60
    start = end - 30 * DAY
    for cluster, since in (("clean", start), ("holey", start), ("new", end - 10 * DAY)):
        for ts in range(since, end + 1, STEP):
            if cluster == "holey" and end - HOLE[1] <= ts < end - HOLE[0]:
                continue
            lines.append('up{cluster="%s",job="prometheus-agent"} 1 %d' % (cluster, ts))
    # the agent's resident memory every 5 minutes: 240 MiB, and an hour at 490 MiB twelve days ago
    lines.append("# TYPE process_resident_memory_bytes gauge")
    for ts in range(start, end + 1, 300):
        spike = end - 12 * DAY <= ts < end - 12 * DAY + 3600
        lines.append('process_resident_memory_bytes{cluster="clean",job="prometheus-agent"} %d %d' % ((490 if spike else 240) * MI, ts))
    # the WAL's size every 5 minutes for 8 days, truncated every two hours (a saw-tooth of 0 to 600 MiB):
    # on "clean" growing 2 GiB a day beneath it, on "holey" not growing
    lines.append("# TYPE prometheus_tsdb_wal_storage_size_bytes gauge")
    for ts in range(end - 8 * DAY, end + 1, 300):
        tooth = (ts % 7200) / 7200.0 * 600 * MI
        for cluster, per_day in (("clean", WAL_GROWTH_PER_DAY), ("holey", 0)):
            size = 20 * GI + per_day * (ts - end) / DAY + tooth
            lines.append('prometheus_tsdb_wal_storage_size_bytes{cluster="%s",job="prometheus-agent"} %d %d' % (cluster, size, ts))
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A real Prometheus serving the backfilled month: its query URL."""
    if not (shutil.which("promtool") and shutil.which("prometheus")):
        pytest.fail("promtool and prometheus are installed by make test (apt-get install prometheus)")
    base = tmp_path_factory.mktemp("uptime-store")
    now = time.time()
    source = base / "up.om"
    source.write_text(_openmetrics(now))
    data = base / "data"
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=24h", str(source), str(data)],
                   check=True, capture_output=True, timeout=300)
    config = base / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\n")
    port = _free_port()
    log = open(base / "prometheus.log", "wb")  # pylint: disable=consider-using-with
    proc = subprocess.Popen(["prometheus", "--config.file=%s" % config, "--storage.tsdb.path=%s" % data,  # pylint: disable=consider-using-with
                             "--storage.tsdb.retention.time=90d", "--web.listen-address=127.0.0.1:%d" % port],
                            stdout=log, stderr=subprocess.STDOUT)
    url = "http://127.0.0.1:%d" % port
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/-/ready", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert time.time() < deadline and proc.poll() is None, (base / "prometheus.log").read_text()[-3000:]
            time.sleep(0.5)
        # a first read of every backfilled block: under a loaded CI machine the first 30-day queries
        # took more than fleet_query's 30 s deadline while the store loaded its blocks
        _instant(url, "count_over_time(up[30d])")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _instant(url, promql):
    with urllib.request.urlopen(url + "/api/v1/query?" + urllib.parse.urlencode({"query": promql}), timeout=60) as resp:
        return [float(r["value"][1]) for r in json.load(resp)["data"]["result"]]


PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Evaluate UPTIME of one cluster from the central store
      fleetops.prometheus_agent.fleet_evaluate:
        cadence: monthly
        results: "{{ results | default({}) }}"
        query_url: "{{ url }}"
        query_selector: 'cluster="{{ cluster }}"'
        query_timeout: 120
    - name: Keep the result
      ansible.builtin.copy:
        content: "{{ fleet_result | to_json }}"
        dest: "{{ out }}"
        mode: "0644"
"""


def _uptime(url, cluster, tmp_path):
    out = tmp_path / ("%s.json" % cluster)
    run = run_playbook(PLAY, extra_vars={"url": url, "cluster": cluster, "out": str(out)})
    assert run.rc == 0, run.output[-3000:]
    return {c["id"]: c for c in json.loads(out.read_text())["checks"]}["UPTIME"]


def test_a_twelve_hour_hole_is_downtime(store, tmp_path):
    # what the old query read: the hole is not in the average of the samples that exist
    assert _instant(store, 'avg_over_time(up{cluster="holey"}[30d])') == [1.0]
    holey = _uptime(store, "holey", tmp_path)
    assert holey["status"] == "critical", holey
    assert holey["value"] == pytest.approx(1 - 0.5 / 30, abs=0.001), holey      # about 98.3%
    assert "98.3" in holey["message"], holey


def test_a_clean_month_and_a_cluster_added_this_month_are_ok(store, tmp_path):
    for cluster in ("clean", "new"):
        check = _uptime(store, cluster, tmp_path)
        assert check["status"] == "ok" and check["value"] >= 0.999, (cluster, check)


def test_rightsize_judges_the_months_peak_from_the_store(store, tmp_path):
    out = tmp_path / "rightsize.json"
    agent = {"status": "ok", "checks": [], "agent": {"memory_bytes": 250 * MI, "cpu_cores": 0.05},
             "pods": [{"name": "prom-agent-0", "requests": {"memory": "256Mi", "cpu": "50m"}, "limits": {"memory": "512Mi"}}]}
    run = run_playbook(PLAY, extra_vars={"url": store, "cluster": "clean", "out": str(out), "results": {"agent_status": agent}})
    assert run.rc == 0, run.output[-3000:]
    check = {c["id"]: c for c in json.loads(out.read_text())["checks"]}["RIGHTSIZE"]
    assert check["status"] == "critical" and "490" in check["message"] and "query API" in check["message"], check
    assert check["value"]["memory_bytes"] == 490 * MI, check


def test_a_query_api_that_is_down_is_unknown(tmp_path):
    check = _uptime("http://127.0.0.1:%d" % _free_port(), "clean", tmp_path)
    assert check["status"] == "unknown" and "did not answer" in check["message"], check


FLEET_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Ask once for every cluster
      fleetops.prometheus_agent.fleet_query:
        query_url: "{{ url }}"
        cadence: monthly
        agent_job: prometheus-agent
        timeout: 120
      register: answer
    - name: Evaluate the holey cluster from its part of the answer
      fleetops.prometheus_agent.fleet_evaluate:
        cadence: monthly
        results: {}
        query_answer:
          cluster: holey
          values: "{{ answer.clusters.holey | default({}) }}"
          reasons: "{{ answer.reasons }}"
    - name: Keep both
      ansible.builtin.copy:
        content: "{{ {'answer': answer, 'result': fleet_result} | to_json }}"
        dest: "{{ out }}"
        mode: "0644"
"""


def _fleet(url, tmp_path):
    out = tmp_path / "fleet.json"
    run = run_playbook(FLEET_PLAY, extra_vars={"url": url, "out": str(out)})
    assert run.rc == 0, run.output[-3000:]
    return json.loads(out.read_text())


def test_one_query_per_figure_answers_for_every_cluster(store, tmp_path):
    """fleet_query: three queries for the whole fleet, the same figures as the per-cluster queries."""
    found = _fleet(store, tmp_path)
    answer = found["answer"]
    assert answer["queries"] == 3 and answer["reasons"] == {}, answer
    assert sorted(answer["clusters"]) == ["clean", "holey", "new"], answer["clusters"]
    assert answer["clusters"]["holey"]["uptime"] == pytest.approx(1 - 0.5 / 30, abs=0.001)
    assert answer["clusters"]["clean"]["uptime"] >= 0.999 and answer["clusters"]["new"]["uptime"] >= 0.999
    assert answer["clusters"]["clean"]["memory_bytes"] == 490 * MI
    # the holey cluster judged from its part: what the per-cluster query gives
    uptime = {c["id"]: c for c in found["result"]["checks"]}["UPTIME"]
    alone = _uptime(store, "holey", tmp_path)
    assert (uptime["status"], uptime["value"]) == (alone["status"], alone["value"]) == ("critical", alone["value"]), (uptime, alone)


def test_a_fleet_query_to_an_api_that_is_down_is_a_reason_per_figure(tmp_path):
    found = _fleet("http://127.0.0.1:%d" % _free_port(), tmp_path)
    answer = found["answer"]
    assert answer["clusters"] == {} and sorted(answer["reasons"]) == ["cpu_cores", "memory_bytes", "uptime"], answer
    assert "did not answer" in answer["reasons"]["uptime"]
    uptime = {c["id"]: c for c in found["result"]["checks"]}["UPTIME"]
    assert uptime["status"] == "unknown" and "did not answer" in uptime["message"], uptime


WEEKLY_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Ask once for every cluster (weekly figures)
      fleetops.prometheus_agent.fleet_query:
        query_url: "{{ url }}"
        cadence: weekly
        agent_job: prometheus-agent
        timeout: 120
      register: answer
    - name: Evaluate the weekly checks of each cluster from its part of the answer
      fleetops.prometheus_agent.fleet_evaluate:
        cadence: weekly
        results: {wal_inspect: "{{ wal }}"}
        query_answer:
          cluster: "{{ item }}"
          values: "{{ answer.clusters[item] | default({}) }}"
          reasons: "{{ answer.reasons }}"
        result_var: "result_{{ item }}"
      loop: [clean, holey, new]
    - name: Keep them
      ansible.builtin.copy:
        content: "{{ {'answer': answer, 'clean': result_clean, 'holey': result_holey, 'new': result_new} | to_json }}"
        dest: "{{ out }}"
        mode: "0644"
"""


def test_wal_trend_takes_the_weeks_growth_from_the_store(store, tmp_path):
    """The WAL volume (50 GiB, 40 GiB used) as wal_inspect measured it now; the growth from the store."""
    out = tmp_path / "weekly.json"
    wal = {"status": "ok", "checks": [], "wal": {"size_bytes": 20 * GI}, "volume": {"capacity": 50 * GI, "used": 40 * GI}}
    run = run_playbook(WEEKLY_PLAY, extra_vars={"url": store, "out": str(out), "wal": wal})
    assert run.rc == 0, run.output[-3000:]
    found = json.loads(out.read_text())
    answer = found["answer"]
    assert answer["queries"] == 2 and sorted(answer["clusters"]) == ["clean", "holey"], answer
    # the slope over the week, saw-tooth and all: 2 GiB a day on clean, about none on holey
    assert answer["clusters"]["clean"]["wal_growth_bytes_per_second"] * DAY == pytest.approx(WAL_GROWTH_PER_DAY, rel=0.05), answer
    assert abs(answer["clusters"]["holey"]["wal_growth_bytes_per_second"] * DAY) < 0.05 * WAL_GROWTH_PER_DAY, answer
    trend = {name: {c["id"]: c for c in found[name]["checks"]}["WAL-TREND"] for name in ("clean", "holey", "new")}
    # 10 GiB free at 2 GiB a day: full in about 5 days, under the 7-day warning
    assert trend["clean"]["status"] == "warning" and trend["clean"]["value"] == pytest.approx(5.0, rel=0.06), trend["clean"]
    assert "over the last 7 days (the query API)" in trend["clean"]["message"], trend["clean"]
    assert trend["holey"]["status"] == "ok" or trend["holey"]["value"] > 30, trend["holey"]
    # no WAL series for this cluster in the store and no history: unknown, saying what is missing
    assert trend["new"]["status"] == "unknown" and "growth from the query API" in trend["new"]["message"], trend["new"]
