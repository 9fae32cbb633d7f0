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
