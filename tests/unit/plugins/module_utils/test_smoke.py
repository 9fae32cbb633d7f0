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


# ---------------------------------------------------------------- TLS inputs and what a certificate failure says

def test_host_header_keeps_only_a_non_default_port():
    assert smoke.host_header("myapp.example.com", 443, True) == "myapp.example.com"
    assert smoke.host_header("myapp.example.com", 9000, True) == "myapp.example.com:9000"
    assert smoke.host_header("myapp.example.com", 80, False) == "myapp.example.com"


def test_tls_inputs_are_checked_naming_the_input(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert smoke.tls_input_problem("https://10.0.0.1:9000", str(bundle), "myapp.example.com") is None
    assert smoke.tls_input_problem("http://10.0.0.1:9000", None, "myapp.example.com") is None   # Host header only
    assert "server_name must be a DNS name" in smoke.tls_input_problem("https://h", None, "https://myapp.example.com")
    assert "server_name" in smoke.tls_input_problem("https://h", None, "myapp.example.com:9000")
    assert "ca_path %s is not a file" % (tmp_path / "nope") in smoke.tls_input_problem(
        "https://h", str(tmp_path / "nope"), None)
    assert "only used with an https://" in smoke.tls_input_problem("http://h", str(bundle), None)


UNTRUSTED = ("URLError: <urlopen error [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed "
             "certificate in certificate chain (_ssl.c:1020)>")
MISMATCH = ("SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, "
            "certificate is not valid for 'myapp-alb-1.us-east-1.elb.amazonaws.com'. (_ssl.c:1020)")


def test_tls_hint_says_what_to_set_and_never_to_stop_validating():
    untrusted = smoke.tls_hint([UNTRUSTED], "10.0.0.1", None, None)
    assert "set ca_path (role: ecs_green_deploy_smoke_ca_path)" in untrusted and "this host trusts" in untrusted
    mismatch = smoke.tls_hint([MISMATCH, None], "myapp-alb-1.us-east-1.elb.amazonaws.com", None, "/ca.pem")
    assert "does not cover myapp-alb-1.us-east-1.elb.amazonaws.com" in mismatch
    assert "set server_name (role: ecs_green_deploy_smoke_server_name)" in mismatch and "ca_path" not in mismatch
    other = smoke.tls_hint(["SSLError: [SSL: WRONG_VERSION_NUMBER] wrong version number"], "h", "n", None)
    assert "check that the listener is HTTPS" in other
    for hint in (untrusted, mismatch, other):
        assert hint.startswith("certificate validation failed") and "validate_certs" not in hint
    assert smoke.tls_hint(["HTTP 503", "ConnectionRefusedError: [Errno 111] Connection refused"], "h", None, None) == ""
    assert smoke.tls_hint([], "h", None, None) == ""
