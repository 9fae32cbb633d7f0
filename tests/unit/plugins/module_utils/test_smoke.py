from ansible_collections.progressive.delivery.plugins.module_utils import smoke


def r(path, ok=True, status=200, ms=10.0, error=None):
    return dict(path=path, ok=ok, status=status, ms=ms, error=error)


def test_percentile_nearest_rank():
    assert smoke.percentile([], 95) is None
    assert smoke.percentile(list(range(1, 101)), 95) == 95
    assert smoke.percentile([5], 50) == 5


def test_all_good_passes():
    s = smoke.summarise([r("/health")] * 10 + [r("/api/v1/status", ms=20.0)] * 10, 0.0, 100)
    assert s["passed"] and s["requests"] == 20 and s["error_rate"] == 0
    assert [p["path"] for p in s["paths"]] == ["/api/v1/status", "/health"]


def test_errors_fail_and_name_the_path_and_status():
    results = [r("/health", ok=False, status=503)] * 3 + [r("/health")] * 7
    s = smoke.summarise(results, 0.0, None)
    assert not s["passed"]
    assert "/health 3/10 failed (HTTP 503)" in s["reason"]
    assert smoke.summarise(results, 0.5, None)["passed"]


def test_connection_errors_and_latency_limit():
    s = smoke.summarise([r("/x", ok=False, status=None, ms=None, error="URLError: refused")], 0.0, None)
    assert "URLError: refused" in s["reason"]
    slow = smoke.summarise([r("/x", ms=900.0)] * 5, 0.0, 500)
    assert not slow["passed"] and "p95 latency 900 ms above 500 ms" in slow["reason"]


def test_no_requests_is_a_failure():
    assert not smoke.summarise([], 0.0, None)["passed"]
