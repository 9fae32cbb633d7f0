import http.server
import threading

import pytest

from harness import free_port, localhost_play, run_playbook


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 503 if self.path == "/health/db" else 200
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    port = free_port()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % port
    httpd.shutdown()


def smoke(url, **args):
    params = dict(base_url=url, requests=5)
    params.update(args)
    return run_playbook(localhost_play([{"name": "smoke", "progressive.delivery.http_smoke": params}], "http://127.0.0.1:1"))


def test_healthy_paths_pass_with_latency(server):
    result = smoke(server, paths=["/health", "/api/v1/status"])
    assert result.rc == 0, result
    task = result.task("smoke")
    assert task["requests"] == 10 and task["errors"] == 0 and task["p95_ms"] > 0


def test_failing_path_fails_naming_it(server):
    result = smoke(server, paths=["/health", "/health/db"])
    assert result.rc != 0
    assert "/health/db 5/5 failed (HTTP 503)" in result.task("smoke")["msg"]


def test_nothing_listening_fails():
    result = smoke("http://127.0.0.1:%d" % free_port(), requests=2, timeout=1)
    assert result.rc != 0 and "2/2 failed" in result.task("smoke")["msg"]


@pytest.mark.lab
def test_https_smoke_through_the_lab_test_listener_validates_with_the_lab_ca(lab_world):
    """The test listener turned HTTPS through the API (the lab CA's certificate the seed imported into ACM for the
    ALB's DNS name and 127.0.0.1): the smoke test passes with that CA and the ALB's name, and is refused, saying what to
    set, without the CA or with a name the certificate does not cover. On the seeded world at rest (lab_world): the
    test listener is pointed at slot a, which a deployment run before on this worker may have left at 0."""
    lab = lab_world
    import socket
    import ssl
    import time
    from lab import tls
    elbv2, acm = lab.client("elbv2"), lab.client("acm")
    lb = elbv2.describe_load_balancers(Names=["myapp-alb"])["LoadBalancers"][0]
    listener = next(x for x in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
                    if x["Port"] == 9000)
    cert_arn = next(c["CertificateArn"] for c in acm.list_certificates()["CertificateSummaryList"]
                    if c["DomainName"] == lb["DNSName"])
    live = next(g["TargetGroupArn"] for g in elbv2.describe_target_groups(Names=["myapp-a"])["TargetGroups"])
    ca = str(tls.ca_bundle_path())
    port = int(lab.test_url.rsplit(":", 1)[1])
    elbv2.modify_listener(ListenerArn=listener["ListenerArn"], Protocol="HTTPS",
                          Certificates=[{"CertificateArn": cert_arn}],
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": live}])
    try:
        context = ssl.create_default_context(cafile=ca)
        deadline = time.time() + 10
        while True:     # the data plane follows the API within a refresh
            try:
                with context.wrap_socket(socket.create_connection(("127.0.0.1", port), 2), server_hostname=lb["DNSName"]):
                    break
            except (OSError, ssl.SSLError):
                assert time.time() < deadline, "the lab's test listener did not turn HTTPS"
                time.sleep(0.2)
        url = "https://127.0.0.1:%d" % port
        tasks = [{"name": "with the lab CA", "progressive.delivery.http_smoke": dict(
                     base_url=url, ca_path=ca, server_name=lb["DNSName"], requests=3, max_p95_ms=5000)},
                 {"name": "without the CA", "ignore_errors": True, "progressive.delivery.http_smoke": dict(
                     base_url=url, server_name=lb["DNSName"], requests=1, paths=["/health"])},
                 {"name": "by a name not covered", "ignore_errors": True, "progressive.delivery.http_smoke": dict(
                     base_url=url, ca_path=ca, server_name="myapp.example.com", requests=1, paths=["/health"])},
                 {"name": "plain open_url path, by the address the certificate covers",
                  "progressive.delivery.http_smoke": dict(base_url=url, ca_path=ca, requests=1, max_p95_ms=5000)},
                 {"name": "validation off", "progressive.delivery.http_smoke": dict(
                     base_url=url, validate_certs=False, requests=1, max_p95_ms=5000)}]
        result = run_playbook(localhost_play(tasks, lab.endpoint))
    finally:
        elbv2.modify_listener(ListenerArn=listener["ListenerArn"], Protocol="HTTP",
                              DefaultActions=listener["DefaultActions"])
    good = result.task("with the lab CA")
    assert not good.get("failed") and good["requests"] == 3 and good["errors"] == 0, good
    assert not result.task("plain open_url path, by the address the certificate covers").get("failed")
    unvalidated = result.task("validation off")
    assert not unvalidated.get("failed") and "validate_certs is off" in " ".join(unvalidated.get("warnings", []))
    no_ca = result.task("without the CA")
    assert no_ca["failed"] and no_ca["errors"] == 1
    assert "certificate validation failed" in no_ca["msg"] and "ecs_green_deploy_smoke_ca_path" in no_ca["msg"], no_ca["msg"]
    assert "validate_certs" not in no_ca["msg"]          # never advised to turn validation off
    wrong_name = result.task("by a name not covered")
    assert wrong_name["failed"] and "does not cover myapp.example.com" in wrong_name["msg"], wrong_name["msg"]
    assert "ecs_green_deploy_smoke_server_name" in wrong_name["msg"]
