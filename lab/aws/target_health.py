"""ELBv2 target health from real HTTP health checks (moto 5.2.5 reports every target healthy at once).

Every registered target of every target group is checked with the group's protocol path, port, interval
(scaled by config.HEALTH_CHECK_TIME_SCALE: the lab's time runs faster), timeout, matcher and thresholds: `initial` until HealthyThresholdCount consecutive successes make it
`healthy` (or UnhealthyThresholdCount consecutive failures make it `unhealthy`); `draining` for the group's
deregistration_delay.timeout_seconds after deregistration. Instance-id targets (i-...) keep moto's answer.
Only loopback and the lab's VM subnet are contacted; any other address is reported unhealthy unchecked.
"""
import http.client
import ipaddress
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from moto.elbv2 import models as elbv2_models

from lab import config
from lab.aws import routing_changes

LOG = logging.getLogger("lab.target_health")
TICK_S = 0.5
MAX_TIMEOUT_S = 5.0
ALLOWED_NETS = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network(config.VM_SUBNET + ".0/24")]

INITIAL = ("initial", "Elb.RegistrationInProgress", "Target registration is in progress")
DRAINING = ("draining", "Target.DeregistrationInProgress", "Target deregistration is in progress")


def code_matches(matcher, status):
    """ELBv2 matcher HttpCode: "200", "200,202", "200-299"."""
    for part in str(matcher or "200").split(","):
        part = part.strip()
        if "-" in part:
            low, high = part.split("-", 1)
            if int(low) <= status <= int(high):
                return True
        elif part and int(part) == status:
            return True
    return False


def allowed_address(address):
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in ALLOWED_NETS)


def http_check(address, port, path, timeout, matcher):
    """(True, None, None) or (False, reason, description) as ELBv2 words them."""
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request("GET", path or "/", headers={"User-Agent": "ELB-HealthChecker/2.0"})
        status = conn.getresponse().status
    except (TimeoutError, OSError) as e:
        if isinstance(e, TimeoutError) or "timed out" in str(e):
            return False, "Target.Timeout", "Request timed out"
        return False, "Target.FailedHealthChecks", "Health checks failed"
    finally:
        conn.close()
    if code_matches(matcher, status):
        return True, None, None
    return False, "Target.ResponseCodeMismatch", "Health checks failed with these codes: [%d]" % status


class TargetState:
    def __init__(self, port):
        self.port = port
        self.state = INITIAL
        self.successes = 0
        self.failures = 0
        self.last_check = 0.0
        self.in_flight = False

    def record(self, ok, reason, description, healthy_threshold, unhealthy_threshold):
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= healthy_threshold:
                self.state = ("healthy", None, None)
        else:
            self.failures, self.successes = self.failures + 1, 0
            if self.failures >= unhealthy_threshold:
                self.state = ("unhealthy", reason, description)


class TargetHealthChecker:
    """One per lab daemon. install() patches moto; start() runs the checker thread until stop()."""

    def __init__(self, account_id=None, region=None, check=http_check, clock=time.time):
        self.account_id = account_id or config.ACCOUNT_ID
        self.region = region or config.REGION
        self.check = check
        self.clock = clock
        self.lock = threading.RLock()
        self.targets = {}       # (tg arn, target id) -> TargetState
        self.draining = {}      # (tg arn, target id) -> (port, until)
        self._stop = threading.Event()
        self._thread = None
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="lab-hc")

    # ---------------------------------------------------------------- hooks called from moto
    def on_register(self, tg, targets):
        with self.lock:
            for t in targets:
                key = (tg.arn, t["Id"])
                self.draining.pop(key, None)
                if key not in self.targets:
                    self.targets[key] = TargetState(int(t.get("Port") or tg.port))

    def on_deregister(self, tg, targets):
        delay = float(tg.attributes.get("deregistration_delay.timeout_seconds", 300))
        with self.lock:
            for t in targets:
                key = (tg.arn, t["Id"])
                state = self.targets.pop(key, None)
                port = state.port if state else int(t.get("Port") or tg.port)
                if delay > 0:
                    self.draining[key] = (port, self.clock() + delay)

    def health(self, tg_arn, target_id):
        """(state, reason, description) or None when the checker does not know the target."""
        with self.lock:
            key = (tg_arn, target_id)
            if key in self.targets:
                return self.targets[key].state
            if key in self.draining:
                return DRAINING
        return None

    def draining_targets(self, tg_arn):
        with self.lock:
            return [{"Id": tid, "Port": port} for (arn, tid), (port, _) in self.draining.items() if arn == tg_arn]

    def reset(self):
        with self.lock:
            self.targets.clear()
            self.draining.clear()
        routing_changes.bump()

    # ---------------------------------------------------------------- the checker loop
    def _backend(self):
        return elbv2_models.elbv2_backends[self.account_id][self.region]

    def tick(self):
        now = self.clock()
        groups = dict(self._backend().target_groups)
        with self.lock:
            for key, (_, until) in list(self.draining.items()):
                if until <= now or key[0] not in groups:
                    del self.draining[key]
            for key in [k for k in self.targets if k[0] not in groups]:
                del self.targets[key]
        for tg in groups.values():
            for target in list(tg.targets.values()):
                if target["Id"].startswith("i-"):
                    continue
                with self.lock:
                    key = (tg.arn, target["Id"])
                    state = self.targets.get(key)
                    if state is None:
                        state = self.targets[key] = TargetState(int(target.get("Port") or tg.port))
                    interval = max(0.5, float(tg.health_check_interval_seconds or 30) * config.HEALTH_CHECK_TIME_SCALE)
                    if state.in_flight or (state.last_check and now - state.last_check < interval):
                        continue
                    if not tg.health_check_enabled:
                        if state.state[0] != "unavailable":
                            state.state = ("unavailable", "Target.HealthCheckDisabled", "Health checks are disabled")
                            routing_changes.bump()
                        continue
                    state.in_flight = True
                    state.last_check = now
                self._pool.submit(self._check_one, tg, key, state)

    def _check_one(self, tg, key, state):
        try:
            port = state.port if tg.health_check_port in (None, "traffic-port") else int(tg.health_check_port)
            address = key[1]
            if not allowed_address(address):
                result = (False, "Target.FailedHealthChecks", "The lab checks only loopback and its VM subnet")
            else:
                timeout = min(float(tg.health_check_timeout_seconds or 5), MAX_TIMEOUT_S)
                result = self.check(address, port, tg.health_check_path or "/", timeout,
                                    (getattr(tg, "matcher", None) or {}).get("HttpCode", "200"))
            with self.lock:
                if self.targets.get(key) is state:
                    before = state.state
                    state.record(*result, int(tg.healthy_threshold_count or 5), int(tg.unhealthy_threshold_count or 2))
                    if state.state != before:
                        routing_changes.bump()
        except Exception:
            LOG.exception("health check of %s failed unexpectedly", key)
        finally:
            state.in_flight = False

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.tick()
            except RuntimeError:   # a dict changed size under us (an API call in flight): next tick
                pass
            except Exception:
                LOG.exception("target health tick failed")
            self._stop.wait(TICK_S)

    def start(self):
        self._thread = threading.Thread(target=self._loop, name="lab-target-health", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ---------------------------------------------------------------- moto patches
    def install(self):
        if getattr(elbv2_models.FakeTargetGroup, "_lab_checker", None) is not None:
            elbv2_models.FakeTargetGroup._lab_checker = self
            return self
        elbv2_models.FakeTargetGroup._lab_checker = self

        def checker_now():
            return elbv2_models.FakeTargetGroup._lab_checker

        tg_cls = elbv2_models.FakeTargetGroup
        original_register, original_deregister = tg_cls.register, tg_cls.deregister
        original_health_for = tg_cls.health_for
        original_describe = elbv2_models.ELBv2Backend.describe_target_health

        def register(tg, targets):
            original_register(tg, targets)
            checker_now().on_register(tg, targets)
            routing_changes.bump()

        def deregister(tg, targets):
            original_deregister(tg, targets)
            checker_now().on_deregister(tg, targets)
            routing_changes.bump()

        def health_for(tg, target, ec2_backend):
            registered = tg.targets.get(target["Id"])
            state = checker_now().health(tg.arn, target["Id"])
            if state is None or target["Id"].startswith("i-"):
                return original_health_for(tg, target, ec2_backend)
            port = (registered or {}).get("Port") or target.get("Port") or tg.port
            return elbv2_models.FakeHealthStatus(target["Id"], port, tg.health_check_port, *state)

        def describe_target_health(backend, target_group_arn, targets):
            if not targets and target_group_arn in backend.target_groups:
                tg = backend.target_groups[target_group_arn]
                targets = list(tg.targets.values()) + checker_now().draining_targets(target_group_arn)
            return original_describe(backend, target_group_arn, targets)

        tg_cls.register, tg_cls.deregister, tg_cls.health_for = register, deregister, health_for
        elbv2_models.ELBv2Backend.describe_target_health = describe_target_health
        return self
