"""The lab daemon: moto (extended in-process; the same WSGI app and server ThreadedMotoServer builds, wrapped
for the request log and the control endpoints) on 127.0.0.1:AWS_PORT, the ECS scheduler, the target health
checker, the ALB data plane, all in one process. Started detached by `python -m lab up`.

Besides the AWS APIs the endpoint answers:
  GET  /lab-api/status     {"pid", "started", "ready", "seeded", "services": {...}, "alb": bool}
  POST /lab-api/reset      reset moto, stop every task, seed the world again (?shape=single: the seed's one service)
  POST /lab-api/iam-enforce  {"enforce": true|false}: authorize the lab deployer's requests (lab/aws/iam_enforce.py)
  POST /lab-api/stale-reads  {"seconds": N}: ELBv2 reads answer the old actions N s after a change (lab/aws/stale_reads.py)
  POST /lab-api/shutdown   stop everything and exit
  GET  /lab-api/faults     fault settings in force and counts injected (lab/faults.py)
  POST /lab-api/faults     set them (JSON body; {} switches every fault off)
  POST /moto-api/reset     (moto's own) also stops every task and forgets target health
Every AWS request is logged as a JSON line to STATE_DIR/api-requests.jsonl (time, service, action, status,
duration, user agent, access key id). The daemon stops by itself after LAB_MAX_LIFETIME seconds (default 4 h).
"""
import io
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs

from lab import config
from lab.aws import routing_changes

LOG = logging.getLogger("lab.daemon")
MAX_LIFETIME_S = int(os.environ.get("LAB_MAX_LIFETIME", 4 * 3600))
REQUEST_LOG_MAX_BYTES = 200 * 1024 * 1024
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
ACCESS_KEY = re.compile(r"Credential=([^/\s,]+)/")


def state_path(name):
    path = Path(config.STATE_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path / name


def request_identity(environ, body):
    """(service, action) of an AWS request from its signature scope, target header, form body or path."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    match = CREDENTIAL_SCOPE.search(auth)
    service = match.group(2) if match else None
    action = None
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        action = target.rsplit(".", 1)[-1]
    path = environ.get("PATH_INFO", "")
    if not action and "/operation/" in path:
        action = path.rsplit("/operation/", 1)[1].strip("/")
    if not action:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if "Action" in query:
            action = query["Action"][0]
    if not action and body and "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        form = parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            action = form["Action"][0]
    if not action:
        action = "%s %s" % (environ.get("REQUEST_METHOD", "?"), path)
    return service or ("moto-api" if path.startswith("/moto-api") else "unknown"), action


def request_access_key(environ):
    """The access key id a request is signed with ("" when unsigned): tells apart several callers sharing a lab
    (each with its own dummy key), e.g. a benchmark's playbook run from a test's beside it."""
    match = ACCESS_KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else ""


class LabApp:
    """WSGI wrapper: control endpoints, request log, then moto."""

    def __init__(self, moto_app, lab):
        self.moto_app = moto_app
        self.lab = lab
        self.log_lock = threading.Lock()
        self.log_path = state_path("api-requests.jsonl")
        self.log_file = None
        self.writes = 0

    def _json(self, start_response, status, doc):
        body = json.dumps(doc, default=str).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def _log(self, record):
        line = json.dumps(record) + "\n"
        with self.log_lock:
            self.writes += 1
            if self.writes % 1000 == 0:
                if self.log_path.exists() and self.log_path.stat().st_size > REQUEST_LOG_MAX_BYTES:
                    self.log_path.replace(self.log_path.with_suffix(".jsonl.1"))
                self._close_log()
            if self.log_file is None or not self.log_path.exists():   # (re)open after rotation or removal
                self._close_log()
                self.log_file = self.log_path.open("a", buffering=1)
            self.log_file.write(line)

    def _close_log(self):
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None

    def _faults(self, environ, start_response, method):
        from lab.faults import FaultSettingsError
        if method == "POST":
            length = environ.get("CONTENT_LENGTH")
            body = environ["wsgi.input"].read(int(length)) if length and length.isdigit() else b""
            try:
                described = self.lab.faults.configure(body.decode("utf-8", "replace") or "{}")
            except FaultSettingsError as e:
                return self._json(start_response, "400 Bad Request", {"error": str(e)})
            LOG.info("fault settings now %s", json.dumps(described["settings"]))
            return self._json(start_response, "200 OK", described)
        return self._json(start_response, "200 OK", self.lab.faults.describe())

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path.startswith("/lab-api/"):
            if path == "/lab-api/status":
                return self._json(start_response, "200 OK", self.lab.status())
            if path == "/lab-api/reset" and method == "POST":
                shape = (parse_qs(environ.get("QUERY_STRING", "")).get("shape") or [None])[0]
                if shape is not None and shape not in config.SHAPES:
                    return self._json(start_response, "400 Bad Request",
                                      {"error": "unknown shape %r (known: %s)" % (shape, ", ".join(config.SHAPES))})
                try:
                    self.lab.reset(shape)
                except Exception as e:
                    LOG.exception("reset failed")
                    return self._json(start_response, "500 Internal Server Error", {"error": str(e)})
                return self._json(start_response, "200 OK", self.lab.status())
            if path == "/lab-api/faults":
                return self._faults(environ, start_response, method)
            if path == "/lab-api/iam-enforce" and method == "POST":
                from lab.aws import iam_enforce
                length = environ.get("CONTENT_LENGTH")
                raw = environ["wsgi.input"].read(int(length)) if length and length.isdigit() else b"{}"
                try:
                    iam_enforce.set_enforcing(json.loads(raw or b"{}").get("enforce", True))
                except (ValueError, AttributeError):
                    return self._json(start_response, "400 Bad Request", {"error": 'body must be {"enforce": true|false}'})
                return self._json(start_response, "200 OK", {"iam_enforced": iam_enforce.enforcing()})
            if path == "/lab-api/stale-reads" and method == "POST":
                from lab.aws import stale_reads
                length = environ.get("CONTENT_LENGTH")
                raw = environ["wsgi.input"].read(int(length)) if length and length.isdigit() else b"{}"
                try:
                    stale_reads.set_seconds(json.loads(raw or b"{}").get("seconds", 0))
                except (ValueError, AttributeError, TypeError):
                    return self._json(start_response, "400 Bad Request", {"error": 'body must be {"seconds": N}'})
                return self._json(start_response, "200 OK", {"stale_read_seconds": stale_reads.seconds()})
            if path == "/lab-api/service-quota" and method == "POST":
                from lab.aws import quotas
                try:
                    length = int(environ.get("CONTENT_LENGTH") or 0)
                    doc = json.loads(environ["wsgi.input"].read(length) or b"{}")
                    return self._json(start_response, "200 OK", {"Quota": quotas.set_quota(doc)})
                except (ValueError, KeyError, TypeError) as e:
                    return self._json(start_response, "400 Bad Request", {"error": str(e)})
            if path == "/lab-api/shutdown" and method == "POST":
                self.lab.stopping.set()
                return self._json(start_response, "202 Accepted", {"stopping": True})
            return self._json(start_response, "404 Not Found", {"error": "unknown lab-api path " + path})
        if path == "/moto-api/reset" and method == "POST":
            with self.lab.ecs.lock:     # tasks go with the services moto forgets, with no scheduler tick between
                self.lab.forget_runtime()
                return self.moto_app(environ, start_response)
        body = b""
        length = environ.get("CONTENT_LENGTH")
        if length and length.isdigit() and int(length) > 0:
            body = environ["wsgi.input"].read(int(length))
            environ["wsgi.input"] = io.BytesIO(body)
        service, action = request_identity(environ, body)
        started = time.time()
        status_holder = {}

        def recording_start_response(status, headers, exc_info=None):
            status_holder["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        key = request_access_key(environ)
        try:
            if self.lab.faults.active:   # throttling / 5xx / latency on demand (lab/faults.py), before moto
                kind, injected = self.lab.faults.apply(environ, service, key, recording_start_response)
                if injected is not None:
                    status_holder["fault"] = kind
                    return injected
            return self.moto_app(environ, recording_start_response)
        finally:
            if service == "elasticloadbalancing" and not action.startswith("Describe"):
                routing_changes.bump()
            try:
                record = {"t": round(started, 3), "service": service, "action": action,
                          "status": int(status_holder.get("status", 0) or 0),
                          "ms": round(1000 * (time.time() - started), 1),
                          "ua": environ.get("HTTP_USER_AGENT", ""), "key": key}
                if "fault" in status_holder:
                    record["fault"] = status_holder["fault"]
                self._log(record)
            except OSError:
                pass


class Lab:
    def __init__(self, port=None, seed_world=True, with_alb=True):
        self.port = port or config.AWS_PORT
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.seed_world = seed_world
        self.with_alb = with_alb
        self.stopping = threading.Event()
        self.started = time.time()
        self.seeded = None
        self.seed_error = None
        self.alb = None
        self.server = None
        self.reset_lock = threading.Lock()
        self.ready_at = None
        self.shape = config.SHAPE
        self.world_services = config.world_services(self.shape)
        from lab.faults import FaultInjector
        self.faults = FaultInjector(config.FAULTS or None)   # a bad LAB_FAULTS stops the daemon here

    def install(self):
        from lab.aws import (cloudwatch, ecr_findings, iam_enforce, iam_simulate, listener_actions, quotas, ssm_atomic,
                             stale_reads, sts_assume)
        from lab.aws.ecs_tasks import EcsController
        from lab.aws.target_health import TargetHealthChecker
        cloudwatch.install()
        iam_simulate.install()
        iam_enforce.install()
        stale_reads.install()
        listener_actions.install()
        quotas.install()
        sts_assume.install()
        ecr_findings.install()
        ssm_atomic.install()
        self.checker = TargetHealthChecker().install()
        self.ecs = EcsController(self.checker).install()

    def start_server(self):
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server
        app = LabApp(DomainDispatcherApplication(create_backend_app), self)
        self.server = make_server("127.0.0.1", self.port, app, threaded=True, request_handler=_quiet_handler())
        threading.Thread(target=self.server.serve_forever, name="lab-moto", daemon=True).start()

    def seed(self):
        from lab.seed import seed
        try:
            t0 = time.time()
            self.seeded = seed(self.endpoint, shape=self.shape)
            self.create_deployer()
            self.seed_error = None
            LOG.info("world seeded in %.1f s", time.time() - t0)
        except Exception as e:
            LOG.exception("seeding the world failed")
            self.seed_error = "%s: %s" % (type(e).__name__, e)

    def start_seed_process(self):
        """Seeding client in its own process, started before moto is imported (see lab.seed.main)."""
        import subprocess
        return subprocess.Popen([sys.executable, "-m", "lab.seed", "--endpoint", self.endpoint],
                                cwd=str(config.REPO), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def seed_from(self, proc, timeout=120):
        import subprocess
        from lab.seed import register_findings
        t0 = time.time()
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            self.seed_error = "seeding did not finish within %d s" % timeout
            return
        if proc.returncode != 0:
            last = [line for line in stderr.strip().splitlines() if line.strip()][-1:] or ["no output"]
            LOG.error("seeding the world failed (rc %s):\n%s", proc.returncode, stderr[-4000:])
            self.seed_error = last[0]
            return
        out = json.loads(stdout)
        register_findings(out)
        try:
            self.create_deployer()
        except Exception as e:
            LOG.exception("creating the deployer failed")
            self.seed_error = "creating the deployer failed: %s: %s" % (type(e).__name__, e)
            return
        self.seeded = out
        self.seed_error = None
        LOG.info("world seeded (waited %.1f s for the seeding process)", time.time() - t0)

    @staticmethod
    def iam_enforced():
        from lab.aws import iam_enforce
        return iam_enforce.enforcing()

    def create_deployer(self):
        """The lab's deployer user with docs' policy rendered for inventories/lab (lab/aws/iam_enforce.py)."""
        from lab.aws import iam_enforce
        arn = iam_enforce.create_deployer()
        LOG.info("deployer %s (IAM enforced: %s)", arn, iam_enforce.enforcing())

    def start_alb(self):
        if not self.with_alb:
            return
        try:
            from lab.alb import AlbDataPlane
        except ImportError as e:
            LOG.warning("ALB data plane not available (%s)", e)
            return
        try:
            self.alb = AlbDataPlane(endpoint=self.endpoint, changes=routing_changes.generation).start()
        except Exception:
            LOG.exception("ALB data plane did not start")
            self.alb = None

    def forget_runtime(self):
        """Before moto forgets everything: stop our tasks and health state with it."""
        self.ecs.stop_all_tasks()
        self.checker.reset()
        from lab.aws import ecr_findings, quotas, stale_reads
        ecr_findings.reset()
        stale_reads.reset()
        quotas.reset()

    def reset(self, shape=None):
        """Forget everything and seed the world again, in `shape` (default: the shape seeded last)."""
        with self.reset_lock:
            if shape:
                self.shape = shape
                self.world_services = config.world_services(shape)
            from moto.moto_api._internal.models import moto_api_backend
            with self.ecs.lock:     # no scheduler tick between forgetting the tasks and moto forgetting the services
                self.forget_runtime()
                moto_api_backend.reset()
            self.seeded = None
            self.ready_at = None
            if self.seed_world:
                self.seed()

    def status(self):
        services = {}
        ready = self.seeded is not None
        with self.ecs.lock:
            for runtime in self.ecs.runtimes.values():
                s = runtime.service
                primary = s.deployments[0] if s.deployments else {}
                services[s.name] = {"desired": s.desired_count, "running": s.running_count,
                                    "pending": s.pending_count, "steady": runtime.steady,
                                    "taskDefinition": s.task_definition,
                                    "rolloutState": primary.get("rolloutState"),
                                    "tasks": [{"id": t.id, "ip": t.ip, "lastStatus": t.last_status,
                                               "tag": t.image_tag, "pid": t.process.pid if t.process else None}
                                              for t in runtime.tasks if t.last_status != "STOPPED"]}
                if s.cluster_name == config.CLUSTER and s.name in self.world_services:
                    ready = ready and runtime.steady
        if ready and self.ready_at is None:
            self.ready_at = time.time()
            LOG.info("ready %.1f s after the daemon started", self.ready_at - self.started)
        ready = ready and all(name in services for name in self.world_services)
        return {"pid": os.getpid(), "endpoint": self.endpoint, "started": self.started, "ready": ready, "shape": self.shape,
                "seeded": self.seeded is not None, "seed_error": self.seed_error, "services": services,
                "alb": self.alb is not None, "max_lifetime_s": MAX_LIFETIME_S, "iam_enforced": self.iam_enforced(),
                "faults": self.faults.settings if self.faults.active else None,
                "listeners": {str(api): "http://127.0.0.1:%d" % local
                              for api, local in config.LISTENER_LOCAL_PORTS.items()}}

    def run(self):
        seeding = self.start_seed_process() if self.seed_world else None
        self.install()
        self.start_server()
        LOG.info("API listening on %s %.1f s after start", self.endpoint, time.time() - self.started)
        self.checker.start()
        self.ecs.start()
        if seeding is not None:
            self.seed_from(seeding)
        self.start_alb()
        deadline = self.started + MAX_LIFETIME_S
        while not self.stopping.is_set() and time.time() < deadline:
            self.stopping.wait(1.0)
        if time.time() >= deadline:
            LOG.warning("max lifetime %ds reached: stopping", MAX_LIFETIME_S)
        self.shutdown()

    def shutdown(self):
        LOG.info("lab daemon stopping")
        if self.alb is not None:
            try:
                self.alb.stop()
            except Exception:
                LOG.exception("ALB stop failed")
        self.ecs.stop()
        self.checker.stop()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _quiet_handler():
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietHandler(MotoRequestHandler):
        def log_request(self, *args, **kwargs):   # every request is in api-requests.jsonl already
            pass
    return QuietHandler


def main():
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    pid_file = state_path("daemon.pid")
    # The lab runs no EC2 instances: without moto's thousands of sample AMIs its EC2 backend starts in
    # a fraction of a second instead of seconds (must be set before moto is imported).
    amis = state_path("moto-amis.json")
    amis.write_text("[]\n")
    os.environ.setdefault("MOTO_AMIS_PATH", str(amis))
    lab = Lab()
    signal.signal(signal.SIGTERM, lambda *a: lab.stopping.set())
    signal.signal(signal.SIGINT, lambda *a: lab.stopping.set())
    pid_file.write_text("%d\n" % os.getpid())
    try:
        lab.run()
    finally:
        try:
            if pid_file.read_text().split()[0] == str(os.getpid()):
                pid_file.unlink()
        except (OSError, IndexError):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
