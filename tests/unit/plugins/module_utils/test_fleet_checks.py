"""fleet_checks: one cluster's fleet_result from its module results, and the checks computed there."""

from __future__ import annotations

from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import fleet_checks as fc

NOW = 1_800_000_000.0
DAY = 86400.0


def _check(cid, status="ok", value=1, message="fine"):
    return {"id": cid, "status": status, "value": value, "threshold": None, "message": message}


def _daily_results(rw_status="ok"):
    return {
        "agent_status": {"status": "ok", "checks": [_check(c) for c in ("POD", "RESTARTS", "HEALTH", "MEMORY", "INGEST", "CONFIG", "TARGETS")],
                         "agent": {"version": "2.42.0", "memory_bytes": 8e7}, "pods": [{"name": "p-0", "restarts": 0}],
                         "ingest": {"active_series": 1200}},
        "remote_write_stats": {"status": rw_status, "checks": [_check(c, rw_status) for c in
                                                               ("RW-SUCCESS", "RW-RETRY", "RW-LAG", "RW-PENDING", "RW-SHARDS", "RW-LATENCY", "RW-DROPPED")],
                               "queues": [{"lag_seconds": 2.0, "success_ratio": 1.0, "pending_samples": 3}],
                               "snapshot": {"time": NOW + 12}},
        "wal_inspect": {"status": "ok", "checks": [_check("WAL-SIZE"), _check("WAL-HEALTH")],
                        "wal": {"size_bytes": 5e6, "segment_count": 3}, "volume": {"capacity": 1e9, "used": 1e8}},
        "agent_logs": {"status": "ok", "checks": [_check("LOGS")]},
    }


def test_daily_keeps_the_cadence_and_extracts_facts():
    result = fc.evaluate("daily", _daily_results(), context={"baseline": {"snapshot": {"time": NOW}}, "now": NOW})
    ids = [c["id"] for c in result["checks"]]
    assert ids == list(fc.CADENCE_CHECKS["daily"])
    assert "TARGETS" not in ids and "LOGS" not in ids
    assert result["status"] == "ok"
    facts = result["facts"]
    assert facts["lag_seconds"] == 2.0 and facts["wal_bytes"] == 5e6 and abs(facts["wal_used_ratio"] - 0.1) < 1e-9
    assert facts["version"] == "2.42.0" and facts["active_series"] == 1200


def test_missing_module_makes_its_checks_unknown_with_reason():
    results = _daily_results()
    results["remote_write_stats"] = {"failed": True, "msg": "connection refused"}
    result = fc.evaluate("daily", results, errors=["Read the remote-write queues: connection refused"])
    rw = {c["id"]: c for c in result["checks"] if c["id"].startswith("RW-")}
    assert len(rw) == 7 and all(c["status"] == "unknown" for c in rw.values())
    assert "connection refused" in rw["RW-LAG"]["message"]
    assert result["status"] == "unknown"


def test_short_window_makes_rates_unknown_but_keeps_criticals():
    results = _daily_results()
    results["remote_write_stats"]["snapshot"]["time"] = NOW + 2
    result = fc.evaluate("daily", results, {"rw_min_window_seconds": 10}, context={"baseline": {"snapshot": {"time": NOW}}})
    by_id = {c["id"]: c for c in result["checks"]}
    assert by_id["RW-SUCCESS"]["status"] == "unknown" and "2.0 s apart" in by_id["RW-SUCCESS"]["message"]
    assert by_id["RW-LAG"]["status"] == "ok"
    results = _daily_results("critical")
    results["remote_write_stats"]["snapshot"]["time"] = NOW + 2
    result = fc.evaluate("daily", results, {"rw_min_window_seconds": 10}, context={"baseline": {"snapshot": {"time": NOW}}})
    assert {c["id"]: c for c in result["checks"]}["RW-RETRY"]["status"] == "critical"


def test_same_check_from_two_modules_worst_wins():
    results = _daily_results()
    results["agent_logs"]["checks"].append(_check("WAL-HEALTH", "critical", 2, "2 WAL repairs in the logs"))
    result = fc.evaluate("daily", results)
    wal = {c["id"]: c for c in result["checks"]}["WAL-HEALTH"]
    assert wal["status"] == "critical" and "repairs" in wal["message"]


def test_previous_cadence_is_kept():
    daily = fc.evaluate("daily", _daily_results())
    weekly = fc.evaluate("weekly", {"agent_status": _daily_results()["agent_status"]}, previous=daily, context={"now": NOW})
    ids = [c["id"] for c in weekly["checks"]]
    assert "POD" in ids and "TARGETS" in ids and weekly["cadences"] == ["daily", "weekly"]


def test_wal_trend():
    th = fc.thresholds()
    facts = {"volume_used_bytes": 60e9, "volume_capacity_bytes": 100e9}
    growing = [{"time": NOW - 2 * DAY, "volume_used_bytes": 40e9}]          # 10 GB/day, 40 GB free: 4 days
    assert fc.check_wal_trend(facts, growing, NOW, th)["status"] == "warning"
    fast = [{"time": NOW - DAY, "volume_used_bytes": 10e9}]                  # 50 GB/day: < 1 day
    assert fc.check_wal_trend(facts, fast, NOW, th)["status"] == "critical"
    flat = [{"time": NOW - 3 * DAY, "volume_used_bytes": 60e9}]
    assert fc.check_wal_trend(facts, flat, NOW, th)["status"] == "ok"
    assert fc.check_wal_trend(facts, [], NOW, th)["status"] == "unknown"


def test_wal_trend_from_the_central_store_before_the_history():
    th = fc.thresholds()
    facts = {"volume_used_bytes": 60e9, "volume_capacity_bytes": 100e9}
    flat = [{"time": NOW - 3 * DAY, "volume_used_bytes": 60e9}]
    # the store's week-long slope: 20 GB/day against 40 GB free is 2 days, a warning, whatever the history says
    check = fc.check_wal_trend(facts, flat, NOW, th, query_rate=20e9 / DAY)
    assert check["status"] == "warning" and check["value"] == 2.0, check
    assert "over the last 7 days (the query API)" in check["message"], check
    shrinking = fc.check_wal_trend(facts, [], NOW, th, query_rate=-1.0)
    assert shrinking["status"] == "ok" and "did not grow over the last 7 days (the query API)" in shrinking["message"]
    # no slope (an agent before 2.43 exports no WAL size): the history, and its window in the message
    from_history = fc.check_wal_trend(facts, [{"time": NOW - 2 * DAY, "volume_used_bytes": 40e9}], NOW, th, query_rate=None)
    assert from_history["status"] == "warning" and "over the last 2.0 days" in from_history["message"], from_history
    # evaluate passes the weekly context's figure through
    wal = {"status": "ok", "checks": [], "wal": {"size_bytes": 60e9}, "volume": {"capacity": 100e9, "used": 60e9}}
    weekly = fc.evaluate("weekly", {"wal_inspect": wal}, context={"now": NOW, "wal_growth_bytes_per_second": 50e9 / DAY})
    assert {c["id"]: c for c in weekly["checks"]}["WAL-TREND"]["status"] == "critical", weekly["checks"]


def test_series_week_over_week():
    th = fc.thresholds()
    week = [{"time": NOW - 7 * DAY, "active_series": 1000}]
    assert fc.check_series({"active_series": 1100}, week, NOW, th)["status"] == "ok"
    assert fc.check_series({"active_series": 1300}, week, NOW, th)["status"] == "warning"
    assert fc.check_series({"active_series": 1600}, week, NOW, th)["status"] == "critical"
    assert fc.check_series({"active_series": 1600}, [], NOW, th, query_value=1500)["status"] == "ok"
    assert fc.check_series({"active_series": 1600}, [], NOW, th)["status"] == "unknown"


def test_ooo():
    th = fc.thresholds()
    assert fc.check_ooo({"ingest": {"out_of_order_samples_total": 0}}, [], th)["status"] == "ok"
    assert fc.check_ooo({"ingest": {"out_of_order_samples_total": 5}}, [], th)["status"] == "warning"
    twin = fc.check_ooo({"ingest": {"out_of_order_samples_total": 0}}, ["lab-2"], th)
    assert twin["status"] == "warning" and "lab-2" in twin["message"]


def test_version():
    th = fc.thresholds()
    assert fc.check_version({"version": "2.42.0"}, None, ["2.42.0", "2.53.1"], th)["status"] == "warning"
    assert fc.check_version({"version": "2.53.1"}, None, ["2.42.0", "2.53.1"], th)["status"] == "ok"
    assert fc.check_version({"version": "2.30.0"}, None, [], th)["status"] == "critical"
    assert fc.check_version({"version": "3.5.0"}, "3.5.0", [], th)["status"] == "ok"
    assert fc.check_version({}, None, [], th)["status"] == "unknown"


def test_rightsize():
    th = fc.thresholds()
    agent = {"agent": {"memory_bytes": 480 * 2 ** 20, "cpu_cores": 0.1},
             "pods": [{"requests": {"memory": "256Mi", "cpu": "100m"}, "limits": {"memory": "512Mi"}}]}
    assert fc.check_rightsize(agent, th)["status"] == "critical"
    agent["agent"]["memory_bytes"] = 250 * 2 ** 20
    assert fc.check_rightsize(agent, th)["status"] == "ok"
    agent["agent"]["memory_bytes"] = 50 * 2 ** 20
    assert fc.check_rightsize(agent, th)["status"] == "warning"


def test_rightsize_judges_the_months_peak_not_one_reading():
    th = fc.thresholds()
    agent = {"agent": {"memory_bytes": 250 * 2 ** 20, "cpu_cores": 0.1},
             "pods": [{"requests": {"memory": "256Mi", "cpu": "100m"}, "limits": {"memory": "512Mi"}}]}
    day = 86400
    history = [{"time": NOW - 40 * day, "memory_bytes": 510 * 2 ** 20},      # older than the month: not counted
               {"time": NOW - 12 * day, "memory_bytes": 490 * 2 ** 20, "cpu_cores": 0.3},
               {"time": NOW - 2 * day, "memory_bytes": 260 * 2 ** 20}, {"time": NOW - day}]
    peaks = fc.usage_peaks(history, NOW)
    assert peaks["memory_bytes"] == 490 * 2 ** 20 and peaks["cpu_cores"] == 0.3 and "2 reading(s)" in peaks["basis"]
    check = fc.check_rightsize(agent, th, peaks)
    # now 250Mi of a 256Mi request is fine; 12 days ago 490Mi was 96% of the 512Mi limit
    assert check["status"] == "critical" and "490" in check["message"] and "fleet history" in check["message"], check
    assert check["value"]["memory_bytes"] == 490 * 2 ** 20
    # the query API's figures win over the history; now is a floor
    peaks = fc.usage_peaks(history, NOW, {"memory_bytes": 200 * 2 ** 20, "cpu_cores": 0.09})
    check = fc.check_rightsize(agent, th, peaks)
    assert check["status"] == "ok" and "query API" in check["message"] and check["value"]["memory_bytes"] == 250 * 2 ** 20
    # no history, no query: one reading, said so
    assert fc.usage_peaks([], NOW) is None and fc.usage_peaks(None, NOW, {"memory_bytes": None}) is None
    assert "one reading" in fc.check_rightsize(agent, th, None)["message"]


def test_uptime():
    th = fc.thresholds()
    assert fc.check_uptime(1.0, None, th)["status"] == "ok"
    assert fc.check_uptime(0.998, None, th)["status"] == "warning"
    assert fc.check_uptime(0.99, None, th)["status"] == "critical"
    assert fc.check_uptime(None, "no query API", th)["message"] == "no query API"


def test_wal_repair_in_the_logs_makes_wal_health_critical():
    results = _daily_results()
    results["agent_logs"]["counts"] = {"wal_repair": 1, "remote_write_failure": 3}
    result = fc.evaluate("daily", results)
    wal = {c["id"]: c for c in result["checks"]}["WAL-HEALTH"]
    assert wal["status"] == "critical" and "wal_repair 1" in wal["message"]
    results["agent_logs"]["counts"] = [{"pattern": "checkpoint_failed", "count": 2}]
    assert {c["id"]: c for c in fc.evaluate("daily", results)["checks"]}["WAL-HEALTH"]["status"] == "warning"
    results["agent_logs"]["counts"] = {"remote_write_failure": 3}
    assert {c["id"]: c for c in fc.evaluate("daily", results)["checks"]}["WAL-HEALTH"]["status"] == "ok"


def test_an_agent_reached_by_url_has_no_pod_checks():
    """agent_status via=url returns no POD and RESTARTS: they are left out, not unknown; a Kubernetes
    agent that did not report them still gets them unknown."""
    results = _daily_results()
    results["agent_status"]["checks"] = [c for c in results["agent_status"]["checks"] if c["id"] not in ("POD", "RESTARTS")]
    results["agent_status"]["via"] = "url"
    result = fc.evaluate("daily", results, context={"baseline": {"snapshot": {"time": NOW}}, "now": NOW})
    ids = [c["id"] for c in result["checks"]]
    assert "POD" not in ids and "RESTARTS" not in ids
    assert result["status"] == "ok"
    results["agent_status"]["via"] = "kubernetes"
    result = fc.evaluate("daily", results, context={"baseline": {"snapshot": {"time": NOW}}, "now": NOW})
    by_id = {c["id"]: c for c in result["checks"]}
    assert by_id["POD"]["status"] == "unknown" and "did not report" in by_id["POD"]["message"]


def test_the_central_stores_day_of_remote_write_fills_in_and_never_hides():
    def store(status):
        return {"status": status, "checks": [dict(_check(c, status), message="store %s" % status)
                                             for c in ("RW-SUCCESS", "RW-RETRY", "RW-LAG", "RW-LATENCY", "RW-DROPPED")]}

    def by_id(result):
        return {c["id"]: c for c in result["checks"]}

    # a first run: the agent's own short window could not judge RW-SUCCESS (unknown): the store's day does
    first = _daily_results()
    first["remote_write_stats"]["checks"][0] = _check("RW-SUCCESS", "unknown")
    checks = by_id(fc.evaluate("daily", first, context={"now": NOW, "window_note": "no earlier daily run", "store_remote_write": store("ok")}))
    assert checks["RW-SUCCESS"]["status"] == "ok" and checks["RW-SUCCESS"]["message"] == "store ok (the central query API)"
    # the agent fails now (a receiver outage the store cannot see yet): the agent's verdict stays
    failing = fc.evaluate("daily", _daily_results("critical"), context={"now": NOW, "window_note": "no earlier daily run", "store_remote_write": store("ok")})
    assert all(by_id(failing)[c]["status"] == "critical" and "store" not in by_id(failing)[c]["message"]
               for c in ("RW-SUCCESS", "RW-RETRY", "RW-LATENCY", "RW-DROPPED"))
    # a bad day in the store, a good moment now: the store's, for the checks over a window only (RW-LAG is now)
    day = by_id(fc.evaluate("daily", _daily_results(), context={"now": NOW, "window_note": "no earlier daily run", "store_remote_write": store("warning")}))
    assert [day[c]["status"] for c in ("RW-SUCCESS", "RW-RETRY", "RW-LATENCY", "RW-DROPPED")] == ["warning"] * 4
    assert day["RW-LAG"]["status"] == "ok" and "store" not in day["RW-LAG"]["message"]
    # the store has nothing to say (unknown): nothing changes
    same = fc.evaluate("daily", _daily_results(), context={"now": NOW, "window_note": "no earlier daily run", "store_remote_write": store("unknown")})
    assert same["status"] == "ok" and not any("store" in c["message"] for c in same["checks"])
    # a window since the last daily run: judged over exactly that window, the store's last 24 h not taken
    windowed = fc.evaluate("daily", _daily_results(), context={"now": NOW, "store_remote_write": store("critical")})
    assert windowed["status"] == "ok" and not any("store" in c["message"] for c in windowed["checks"])
