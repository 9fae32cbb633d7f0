"""Pure parts of the lab's traffic generator: per-second buckets, the report, percentiles, the target guard."""
import pytest

from lab import traffic


def record(t, status=None, conn=0, versions=None, lat=(), skipped=0, tgs=None):
    status = status or {}
    return {"t": t, "sent": sum(status.values()) + conn + skipped, "status": status, "conn_errors": conn,
            "skipped": skipped, "by_version": versions or {}, "by_target_group": tgs or {}, "latency_ms": list(lat)}


def test_bucket_records_status_errors_versions_and_latency():
    b = traffic.SecondBucket()
    b.sent = 3
    b.add(200, 0.0123, "v1.2.2", "myapp-a")
    b.add(500, 0.002, "v1.2.3", "myapp-b")
    b.add(None, 5.0)
    r = b.to_record(100)
    assert r == {"t": 100, "sent": 3, "status": {"200": 1, "500": 1}, "conn_errors": 1, "skipped": 0,
                 "by_version": {"v1.2.2": 1, "v1.2.3": 1}, "by_target_group": {"myapp-a": 1, "myapp-b": 1},
                 "latency_ms": [2.0, 12.3]}


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert traffic.percentile(values, 50) == 50
    assert traffic.percentile(values, 95) == 95
    assert traffic.percentile([7], 95) == 7
    assert traffic.percentile([], 50) is None


def test_summarize_totals_failures_by_second_and_shares():
    records = [
        record(10, {"200": 10}, versions={"v1.2.2": 10}, lat=[5] * 10),
        record(11, {"200": 8, "503": 2}, versions={"v1.2.2": 9, "v1.2.3": 1}, lat=[5] * 9 + [100]),
        record(12, {"200": 9}, conn=1, versions={"v1.2.2": 5, "v1.2.3": 4}, lat=[6] * 9),
        record(13, {"404": 1, "200": 4}, versions={"v1.2.3": 5}, lat=[7] * 5),
    ]
    rep = traffic.summarize(records)
    assert rep["totals"] == {"sent": 35, "ok_2xx": 31, "failed_5xx": 2, "other_4xx": 1, "conn_errors": 1,
                             "skipped": 0}
    assert rep["failures"] == 3 and rep["failure_rate"] == round(3 / 35, 6)
    assert [(f["t"], f["5xx"], f["conn_errors"]) for f in rep["failures_by_second"]] == [(11, 2, 0), (12, 0, 1)]
    assert rep["failures_by_second"][0]["status"] == {"503": 2}
    assert rep["by_version"] == {"v1.2.2": 24, "v1.2.3": 10}
    assert [s["share"] for s in rep["share_by_second"]] == [
        {"v1.2.2": 1.0}, {"v1.2.2": 0.9, "v1.2.3": 0.1}, {"v1.2.2": 0.5556, "v1.2.3": 0.4444}, {"v1.2.3": 1.0}]
    assert rep["latency_ms"]["p50"] == 5 and rep["latency_ms"]["max"] == 100
    assert (rep["since"], rep["until"], rep["seconds"]) == (10, 14, 4)


def test_summarize_window_is_half_open_and_accepts_iso_times():
    records = [record(t, {"200": 1}, versions={"v": 1}) for t in (1790000000, 1790000001, 1790000002)]
    assert traffic.summarize(records, since=1790000001)["totals"]["sent"] == 2
    assert traffic.summarize(records, until=1790000001)["totals"]["sent"] == 1
    assert traffic.summarize(records, since="2026-09-21T14:13:21Z", until="1790000002")["seconds"] == 1
    empty = traffic.summarize(records, since=1790000100)
    assert empty["seconds"] == 0 and empty["failure_rate"] is None
    assert "no traffic" in traffic.format_report(empty)


def test_format_report_lists_failures_and_version_columns():
    rep = traffic.summarize([record(10, {"200": 9, "502": 1}, versions={"v1": 6, "v2": 4}, lat=[1] * 10)])
    table = traffic.format_report(rep)
    assert "5xx 1" in table and "failure rate 10.0000%" in table
    assert "502:1" in table
    assert "60.0%" in table and "40.0%" in table


def test_read_records_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"t": 1, "sent": 1, "status": {"200": 1}, "conn_errors": 0, "by_version": {}, '
                    '"latency_ms": [1]}\n{"t": 2, "se')
    assert [r["t"] for r in traffic.read_records(path)] == [1]
    assert traffic.read_records(tmp_path / "missing.jsonl") == []


@pytest.mark.parametrize("url", ["http://8.8.8.8/", "http://example.com", "http://10.213.1.1/", "http://[::2]/"])
def test_target_guard_refuses_anything_outside_the_lab(url):
    with pytest.raises(ValueError):
        traffic.check_target(url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:18080", "http://localhost:1", "http://10.213.0.12:8080/x"])
def test_target_guard_allows_loopback_and_the_vm_subnet(url):
    assert traffic.check_target(url) == url
