"""Unit tests of plugin_utils/central_store.py: the long-window figures asked once for the fleet,
against a small local HTTP server that answers as Prometheus's /api/v1/query does."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import central_store


def _vector(*series):
    result = [{"metric": labels, "value": [0, str(value)]} for labels, value in series]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


ANSWERS = {
    "up": _vector(({"cluster": "a", "instance": "0"}, 1.0), ({"cluster": "a", "instance": "1"}, 0.97),
                  ({"cluster": "b"}, 0.99), ({"job": "no-cluster-label"}, 0.5)),
    "process_resident_memory_bytes": _vector(({"cluster": "a", "instance": "0"}, 100.0),
                                             ({"cluster": "a", "instance": "1"}, 300.0)),
    "process_cpu_seconds_total": {"status": "error", "errorType": "bad_data", "error": "parse error"},
}


@pytest.fixture(name="store")
def fixture_store():
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)["query"][0]
            seen.append(query)
            body = next((answer for name, answer in ANSWERS.items() if name + "{" in query), _vector())
            status = 400 if body["status"] == "error" else 200
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1], seen
    server.shutdown()
    server.server_close()


def test_one_query_per_figure_sorted_by_cluster(store):
    url, seen = store
    clusters, reasons = central_store.by_cluster(url, "monthly", cluster_label="cluster", job="prometheus-agent", timeout=5)
    assert len(seen) == 3
    assert all('cluster!=""' in q and 'job=~"prometheus-agent"' in q for q in seen), seen
    # of two series of one cluster: the lowest availability, the highest memory
    assert clusters == {"a": {"uptime": 0.97, "memory_bytes": 300.0}, "b": {"uptime": 0.99}}
    assert list(reasons) == ["cpu_cores"] and "refused" in reasons["cpu_cores"]


def test_for_cluster_names_what_has_no_data(store):
    url, _seen = store
    values, reasons = central_store.for_cluster(url, "weekly", 'cluster="a"', timeout=5)
    assert values == {} and "no data" in reasons["series_week_ago"] and "no data" in reasons["wal_growth_bytes_per_second"]


def test_an_api_that_is_down_is_a_reason_not_an_error():
    clusters, reasons = central_store.by_cluster("http://127.0.0.1:9", "weekly", timeout=2)
    assert clusters == {} and "did not answer" in reasons["series_week_ago"]


def test_label_values_are_quoted():
    assert central_store.label_value('a"b\\c') == '"a\\"b\\\\c"'
    assert 'job=~".*agent.*"' in central_store.promql("uptime", 'job=~".*agent.*"')
    with pytest.raises(KeyError):
        central_store.promql("no-such-figure", "")
