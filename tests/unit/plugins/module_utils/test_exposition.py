"""exposition.py: the real 2.42 page, odd but valid input, and hostile input."""

from __future__ import annotations

import math
import time

import pytest

from conftest import CAPTURES  # pylint: disable=import-error

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import exposition
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import ParseError


def test_capture_page():
    text = (CAPTURES / "agent_metrics.txt").read_text()
    fams = exposition.parse(text)
    assert fams.bad_lines == 0 and fams.duplicates == 0
    assert fams.value("prometheus_agent_active_series") == 772
    assert fams.value("prometheus_remote_storage_samples_total", remote_name="recv") == 10500
    assert fams.sum("prometheus_agent_samples_appended_total") == 10772
    assert fams.types["prometheus_remote_storage_sent_batch_duration_seconds"] == "histogram"
    assert fams.value("prometheus_remote_storage_highest_timestamp_in_seconds") == 1.795503182e9
    # summaries with NaN quantiles are read as NaN, not dropped, not a failure
    nan = fams.value("prometheus_sd_file_scan_duration_seconds", quantile="0.5")
    assert nan is not None and math.isnan(nan)
    hist = exposition.histogram(fams, "prometheus_remote_storage_sent_batch_duration_seconds", remote_name="recv")
    assert hist["count"] == 22 and hist["buckets"][-1] == (float("inf"), 22)
    assert 0.005 < exposition.bucket_quantile(0.99, hist["buckets"]) < 0.01
    assert fams.value("no_such_metric", default=-1) == -1


def test_bytes_and_escapes_and_timestamps():
    page = (b'# TYPE x gauge\n'
            b'x{path="C:\\\\dir",msg="say \\"hi\\"\\n",empty=""} 1.5 1700000000000\n'
            b'y 2e3\n'
            b'z{a="}{"} 3\n')
    fams = exposition.parse(page)
    labels, value = fams.samples("x")[0]
    assert labels == {"path": "C:\\dir", "msg": 'say "hi"\n', "empty": ""} and value == 1.5
    assert fams.value("y") == 2000
    assert fams.value("z", a="}{") == 3


def test_nan_inf_duplicates_unknown_types():
    page = "\n".join([
        "# TYPE weird_thing fancytype",
        "weird_thing 1",
        "a NaN",
        "b +Inf",
        "c -Inf",
        'd{x="1"} 1',
        'd{x="1"} 2',     # duplicate series: the last value wins, counted
        "",
    ])
    fams = exposition.parse(page)
    assert math.isnan(fams.value("a")) and fams.value("b") == float("inf") and fams.value("c") == float("-inf")
    assert fams.value("d", x="1") == 2 and fams.duplicates == 1 and len(fams.samples("d")) == 1
    assert fams.unknown_types == 1 and fams.value("weird_thing") == 1
    assert exposition.json_number(float("nan")) == "NaN" and exposition.json_number(float("inf")) == "+Inf"


def test_some_bad_lines_are_skipped_and_counted():
    good = "\n".join("m_%d %d" % (i, i) for i in range(50))
    fams = exposition.parse(good + "\nthis is not a sample at all\nm{broken 1\n")
    assert fams.bad_lines == 2 and fams.value("m_49") == 49


@pytest.mark.parametrize("page", [
    "<html><head><title>502 Bad Gateway</title></head></html>",
    '{"status":"error","errorType":"execution","error":"unavailable with Prometheus Agent"}',
    b"\x00\x01\x02\x03binary\x00junk" * 10,
    "\n".join("garbage line number %d !" % i for i in range(100)),
])
def test_not_a_metrics_page_raises(page):
    with pytest.raises(ParseError):
        exposition.parse(page)


def test_empty_page_is_empty_not_an_error():
    fams = exposition.parse("")
    assert fams.names() == []
    assert exposition.parse("# HELP only comments\n").names() == []


def test_large_page_is_fast():
    """A 50 MB page (700k series) parses in seconds of CPU and keeps every series."""
    line = 'prometheus_remote_storage_samples_total{remote_name="r%d",url="http://receiver.example:19291/api/v1/receive"} %d\n'
    n = 700000
    page = "".join(line % (i, i) for i in range(n))
    assert len(page) > 50 * 1000 * 1000 * 0.9
    start = time.process_time()     # CPU time: the wall clock of a shared, loaded machine says little
    fams = exposition.parse(page)
    took = time.process_time() - start
    assert fams.sample_count == n
    assert took < 60, took  # about 5 s of CPU here
