#!/usr/bin/env python3
"""The lab's sample HTTP app: stdlib only, so it runs as `python -m lab.app` and as a standalone file.

Configured by environment:
  LAB_BIND       address to listen on (default 127.0.0.1)
  PORT           port (default 8080)
  LAB_IMAGE_TAG  the image tag (or release) this process runs; VERSION overrides the reported version
  LAB_BEHAVIOUR  optional JSON {"error_rate": .., "extra_latency_ms": .., "health": "ok"|"fail"}
  LAB_TASK_ARN / ECS_TASK_ARN   reported by /api/v1/status when set
Behaviour is looked up, first hit wins: LAB_BEHAVIOUR, behaviour.json beside this file (a release
tarball carries one), the lab catalogue (lab/catalogue.yml, when PyYAML and the repo are at hand),
else healthy defaults.

Endpoints: /health (200 or 503), /health/db, /health/deps, /api/v1/status, /api/v1/items.
Every response carries X-App-Version. SIGTERM/SIGINT: stop accepting, finish in-flight requests, exit.
"""
import json
import os
import random
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HEALTHY = {"error_rate": 0.0, "extra_latency_ms": 0, "health": "ok"}
# A real service's API answers in tens of milliseconds. At 5-15 ms (until 2026-12-02) the tail on a loaded 2-core CI
# machine was the scheduler's, not the app's, and an A/A candidate's p95 at 100 % came out "worse" than live's
# baseline from minutes before.
BASE_LATENCY_MS = (20.0, 40.0)
SHUTDOWN_GRACE_S = 5.0


def _catalogue_behaviour(tag):
    """The catalogue entry for tag, or None when the catalogue or PyYAML is not available."""
    candidates = [os.environ.get("LAB_CATALOGUE"), str(Path(__file__).resolve().parent.parent / "catalogue.yml")]
    try:
        import yaml
    except ImportError:
        return None
    for path in candidates:
        if path and os.path.isfile(path):
            with open(path) as f:
                entry = (yaml.safe_load(f) or {}).get("images", {}).get(tag)
            if entry is not None:
                return entry
    return None


def load_behaviour(tag, env=None, here=None):
    """Behaviour dict for tag: error_rate, extra_latency_ms, health (see module docstring for the order)."""
    env = os.environ if env is None else env
    here = Path(here or Path(__file__).resolve().parent)
    found = None
    if env.get("LAB_BEHAVIOUR"):
        found = json.loads(env["LAB_BEHAVIOUR"])
    elif (here / "behaviour.json").is_file():
        found = json.loads((here / "behaviour.json").read_text())
    elif tag:
        found = _catalogue_behaviour(tag)
    behaviour = dict(HEALTHY)
    for key in HEALTHY:
        if found and found.get(key) is not None:
            behaviour[key] = found[key]
    behaviour["error_rate"] = float(behaviour["error_rate"])
    behaviour["extra_latency_ms"] = float(behaviour["extra_latency_ms"])
    if behaviour["health"] not in ("ok", "fail"):
        raise ValueError("health must be ok or fail, not %r" % behaviour["health"])
    return behaviour


class AppState:
    def __init__(self, tag, version, behaviour, task_arn=None, rng=None):
        self.tag = tag
        self.version = version
        self.behaviour = behaviour
        self.task_arn = task_arn
        self.hostname = socket.gethostname()
        self.started = time.time()
        self.rng = rng or random.Random()
        self.lock = threading.Lock()
        self.served = 0

    def status(self):
        return {
            "app": "myapp",
            "version": self.version,
            "tag": self.tag,
            "hostname": self.hostname,
            "task_arn": self.task_arn,
            "pid": os.getpid(),
            "uptime_s": round(time.time() - self.started, 3),
            "requests_served": self.served,
            "behaviour": self.behaviour,
        }

    def draw(self):
        """(sleep seconds, fail?) for one /api request."""
        with self.lock:
            self.served += 1
            base = self.rng.uniform(*BASE_LATENCY_MS)
            fail = self.rng.random() < self.behaviour["error_rate"]
        return (base + self.behaviour["extra_latency_ms"]) / 1000.0, fail


class Handler(BaseHTTPRequestHandler):
    server_version = "lab-app"
    # HTTP/1.0: one request per connection, so shutdown never waits on idle keep-alive sockets.
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):  # quiet: the proxy and traffic generator record requests
        pass

    def _send(self, code, body):
        data = (json.dumps(body) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-App-Version", self.server.state.version)
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        state = self.server.state
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        healthy = state.behaviour["health"] == "ok"
        if path == "/health":
            self._send(200 if healthy else 503, {"status": "ok" if healthy else "failing", "version": state.version})
        elif path == "/health/db":
            # Reports only whether a DB secret was provided, never its value.
            self._send(200 if healthy else 503, {"status": "ok" if healthy else "failing", "db": "connected",
                                                 "credentials_configured": bool(os.environ.get("DB_PASSWORD"))})
        elif path == "/health/deps":
            self._send(200 if healthy else 503, {"status": "ok" if healthy else "failing",
                                                 "dependencies": {"db": "ok", "cache": "ok"},
                                                 "api_key_configured": bool(os.environ.get("API_KEY"))})
        elif path == "/api/v1/status":
            self._send(200, state.status())
        elif path == "/api/v1/items":
            delay, fail = state.draw()
            time.sleep(delay)
            if fail:
                self._send(500, {"error": "internal error (injected by the lab catalogue)", "version": state.version})
            else:
                self._send(200, {"items": [{"id": i, "name": "item-%d" % i} for i in range(3)],
                                 "version": state.version})
        elif path == "/":
            self._send(200, {"app": "myapp", "version": state.version})
        else:
            self._send(404, {"error": "not found", "path": path})

    do_HEAD = do_GET


class AppServer(ThreadingHTTPServer):
    daemon_threads = False          # server_close() joins in-flight request threads
    block_on_close = True
    allow_reuse_address = True
    request_queue_size = 128

    def server_bind(self):
        # HTTPServer.server_bind calls socket.getfqdn(host): a reverse DNS lookup that stalls for ~10 s on a
        # machine without DNS when bound to 0.0.0.0. The name is only used for SERVER_NAME in CGI.
        import socketserver
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]


def make_server(bind, port, state):
    server = AppServer((bind, port), Handler)
    server.state = state
    return server


def state_from_env(env=None):
    env = os.environ if env is None else env
    tag = env.get("LAB_IMAGE_TAG") or env.get("VERSION") or "unknown"
    version = env.get("VERSION") or tag
    return AppState(tag, version, load_behaviour(tag, env), task_arn=env.get("LAB_TASK_ARN") or env.get("ECS_TASK_ARN"))


def main(argv=None):
    state = state_from_env()
    bind = os.environ.get("LAB_BIND", "127.0.0.1")
    port = int(os.environ.get("PORT", "8080"))
    server = make_server(bind, port, state)
    pidfile = os.environ.get("LAB_PIDFILE")
    if pidfile:
        Path(pidfile).write_text("%d\n" % os.getpid())

    def stop(signum, frame):
        # shutdown() blocks until serve_forever returns, so it must run off the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stdout.write("myapp %s (tag %s) listening on %s:%d\n" % (state.version, state.tag, bind, port))
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        # Finish in-flight requests, bounded: a stuck handler does not hold the process forever.
        closer = threading.Thread(target=server.server_close, daemon=True)
        closer.start()
        closer.join(SHUTDOWN_GRACE_S)
        if pidfile:
            try:
                os.unlink(pidfile)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
