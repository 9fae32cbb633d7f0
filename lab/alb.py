"""The lab's ALB data plane: a reverse proxy on loopback that routes by what the ELBv2 API holds now.

One local port per listener (config.LISTENER_LOCAL_PORTS: API listener port -> local port). Every
`refresh_s` (<= 1 s) a refresher thread reads, through the API, the load balancer, its listeners' rules
(path-pattern / host-header / http-header conditions, then the default action; forward actions as ForwardConfig weights
or a single TargetGroupArn) and describe_target_health of each target group. Each request goes to a
weighted-random target group of the first matching rule, then round-robin over that group's `healthy` targets. No healthy target -> 503 from the "ELB" (HTTPCode_ELB_5XX_Count); upstream
connection error -> 502 (also an ELB 5xx). Every response carries X-Lab-Target-Group.

HTTPS as the API says: a listener whose Protocol is HTTPS serves TLS on its local port with its default
certificate (ACM's or IAM's, by ARN; the key from the lab's own store, lab/tls.py), and only TLS; HTTP serves
plain HTTP. A certificate whose key the lab does not hold makes the listener refuse every handshake. The
protocol follows ModifyListener within a refresh. SNI selection among several listener certificates is not
done: the default certificate is served whatever name the client asks for (a client validating the name then
fails, as it would against an ALB without a certificate for that name).

Every METRIC_PERIOD seconds (aligned to period boundaries, stamped with the period's start as
CloudWatch buckets them) it publishes AWS/ApplicationELB metrics per target group
(LoadBalancer=app/<name>/<id>, TargetGroup=targetgroup/<name>/<id>) and per load balancer:
RequestCount, HTTPCode_Target_2XX_Count, HTTPCode_Target_4XX_Count, HTTPCode_Target_5XX_Count,
HTTPCode_ELB_5XX_Count (Sum) and TargetResponseTime (raw per-request seconds as Values/Counts, so
percentiles and percentile ranks can be computed from them; its SampleCount is the number of requests a target
answered).

CloudWatch shape (config.CW_SHAPE, LAB_CW_SHAPE): "lab" (default) publishes every count, zeros included, as soon
as its period ends. "aws" publishes as ALB does (its metrics' reporting criterion is "there is a nonzero value"):
no datapoint for a zero count (a period without 5xx has no HTTPCode_*_5XX_Count datapoint; a target group without
requests has none at all), and each period is put 1-2 periods after it ended (config.METRIC_DELAY_PERIODS,
LAB_METRIC_DELAY_PERIODS "N" or "N-M", drawn per period), as ALB metrics arrive late. The delay can also be set
alone, with the "lab" shape.

Standalone: python -m lab.alb [--endpoint URL] [--alb NAME] [--seconds N]
"""
import argparse
import collections
import http.client
import logging
import random
import ssl
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from lab import config
except ImportError:  # run as a file from lab/
    import config  # type: ignore

LOG = logging.getLogger("lab.alb")
NAMESPACE = "AWS/ApplicationELB"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "content-length", "server", "date"}
UPSTREAM_TIMEOUT_S = 30.0
MAX_VALUES_PER_DATUM = 150        # CloudWatch limit on distinct Values in one datum
MAX_DATUMS_PER_CALL = 20
MAX_BODY_BYTES = 10 * 1024 * 1024
TLS_HANDSHAKE_TIMEOUT_S = 10.0
CHANGE_POLL_S = 0.2               # how often the refresher looks at the change counter (a read of an int)
HOT_S = 15.0                      # after a change, the snapshot is read every refresh_s this long (stale reads settle)
IDLE_REFRESH_S = 5.0              # and otherwise this often, in case something changed that the counter misses


# ---------------------------------------------------------------- pure parts (unit-tested)

def lb_dimension(lb_arn):
    """arn:aws:elasticloadbalancing:r:acct:loadbalancer/app/name/id -> app/name/id (the LoadBalancer dimension)."""
    return lb_arn.split(":loadbalancer/", 1)[1]


def tg_dimension(tg_arn):
    """arn:...:targetgroup/name/id -> targetgroup/name/id (the TargetGroup dimension)."""
    return "targetgroup/" + tg_arn.split(":targetgroup/", 1)[1]


def tg_name(tg_arn):
    return tg_arn.split(":targetgroup/", 1)[1].split("/")[0]


def forward_weights(actions):
    """[(target group ARN, weight)] of a listener's default actions; [] when it does not forward."""
    for action in sorted(actions or [], key=lambda a: a.get("Order", 0)):
        if action.get("Type") != "forward":
            continue
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups")
        if groups:
            return [(g["TargetGroupArn"], int(g.get("Weight", 1))) for g in groups]
        if action.get("TargetGroupArn"):
            return [(action["TargetGroupArn"], 1)]
    return []


def _condition_values(condition, field):
    config_key = {"path-pattern": "PathPatternConfig", "host-header": "HostHeaderConfig",
                  "http-header": "HttpHeaderConfig"}[field]
    return (condition.get(config_key) or {}).get("Values") or condition.get("Values") or []


def _condition_field(condition):
    """The field a rule condition matches on: path-pattern, host-header, or http-header:<lower-case name>."""
    field = condition.get("Field")
    if field == "http-header":
        name = (condition.get("HttpHeaderConfig") or {}).get("HttpHeaderName")
        return "http-header:" + name.lower() if name else None
    return field


def rule_matchers(rules, default_actions):
    """Listener rules -> [(conditions, [(tg, weight)])] in priority order, the listener's default actions last.

    Conditions understood: path-pattern, host-header and http-header (glob * and ?; host and header values
    case-insensitive); a rule with any other condition never matches here (the lab's flows use path, host and
    header rules only)."""
    out = []
    for rule in rules or []:
        if rule.get("IsDefault") or rule.get("Priority") == "default":
            continue          # the listener's DefaultActions are authoritative
        weighted = forward_weights(rule.get("Actions"))
        conditions = []
        for c in rule.get("Conditions") or []:
            field = _condition_field(c)
            if field is None or field.split(":", 1)[0] not in ("path-pattern", "host-header", "http-header"):
                conditions = None
                break
            conditions.append((field, [v if field == "path-pattern" else v.lower()
                                       for v in _condition_values(c, field.split(":", 1)[0])]))
        if conditions is not None:
            out.append((int(rule["Priority"]), conditions, weighted))
    out.sort(key=lambda r: r[0])
    return [(conds, weighted) for _, conds, weighted in out] + [([], forward_weights(default_actions))]


def route(matchers, path, host, headers=None):
    """The [(tg, weight)] of the first rule whose conditions all match (path without query, host without port,
    headers: {name: value} of the request)."""
    import fnmatch
    path = path.split("?", 1)[0]
    host = (host or "").split(":", 1)[0].lower()
    lowered = dict((k.lower(), (v or "").lower()) for k, v in (headers or {}).items())

    def subject(field):
        if field == "path-pattern":
            return path
        if field == "host-header":
            return host
        return lowered.get(field.split(":", 1)[1])

    for conditions, weighted in matchers:
        if all(subject(field) is not None and any(fnmatch.fnmatchcase(subject(field), v) for v in values)
               for field, values in conditions):
            return weighted
    return []


def weighted_choice(weighted, r):
    """Pick from [(item, weight)] with r uniform in [0, 1); None when no positive weight."""
    total = sum(w for _, w in weighted if w > 0)
    if total <= 0:
        return None
    point = r * total
    upto = 0.0
    for item, weight in weighted:
        if weight <= 0:
            continue
        upto += weight
        if point < upto:
            return item
    return [item for item, w in weighted if w > 0][-1]


def healthy_targets(health_descriptions, default_port):
    """[(ip, port)] of the targets whose state is `healthy` (initial/unhealthy/draining/unused are skipped)."""
    out = []
    for d in health_descriptions:
        if (d.get("TargetHealth") or {}).get("State") == "healthy":
            target = d["Target"]
            out.append((target["Id"], int(target.get("Port") or default_port)))
    return out


class PeriodStats:
    """Counters and raw latencies of one metric key (target group, or the whole load balancer) in one period."""

    __slots__ = ("requests", "target_2xx", "target_4xx", "target_5xx", "elb_5xx", "latencies")

    def __init__(self):
        self.requests = self.target_2xx = self.target_4xx = self.target_5xx = self.elb_5xx = 0
        self.latencies = []

    def add(self, status, latency_s, from_elb):
        self.requests += 1
        if from_elb:
            if status >= 500:
                self.elb_5xx += 1
            return
        if 200 <= status < 300:
            self.target_2xx += 1
        elif 400 <= status < 500:
            self.target_4xx += 1
        elif status >= 500:
            self.target_5xx += 1
        if latency_s is not None:
            self.latencies.append(latency_s)


class MetricsAccumulator:
    """Thread-safe per-period accumulator; drain() swaps in a fresh period and returns the finished one."""

    def __init__(self):
        self._lock = threading.Lock()
        self._period = {}

    def record(self, lb_arn, tg_arn, status, latency_s, from_elb=False):
        with self._lock:
            for key in ((lb_arn, tg_arn), (lb_arn, None)):
                stats = self._period.get(key)
                if stats is None:
                    stats = self._period[key] = PeriodStats()
                stats.add(status, latency_s, from_elb)

    def drain(self):
        with self._lock:
            finished, self._period = self._period, {}
        return finished


def values_counts(latencies, resolution_s=0.0001):
    """Raw latencies -> sorted ([values], [counts]) rounded to `resolution_s` (0.1 ms)."""
    counter = collections.Counter(round(round(v / resolution_s) * resolution_s, 6) for v in latencies)
    items = sorted(counter.items())
    return [v for v, _ in items], [float(c) for _, c in items]


def metric_datums(period, timestamp, storage_resolution=60, drop_zero_counts=False):
    """MetricData entries (as put_metric_data takes them) for a drained period {(lb_arn, tg_arn|None): PeriodStats}.

    drop_zero_counts: leave out every count whose value is 0, as ALB does (CW_SHAPE "aws")."""
    datums = []
    for (lb_arn, tg_arn), stats in sorted(period.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        dims = [{"Name": "LoadBalancer", "Value": lb_dimension(lb_arn)}]
        if tg_arn:
            dims = [{"Name": "TargetGroup", "Value": tg_dimension(tg_arn)}] + dims
        common = {"Dimensions": dims, "Timestamp": timestamp, "StorageResolution": storage_resolution}
        for name, value in (("RequestCount", stats.requests),
                            ("HTTPCode_Target_2XX_Count", stats.target_2xx),
                            ("HTTPCode_Target_4XX_Count", stats.target_4xx),
                            ("HTTPCode_Target_5XX_Count", stats.target_5xx),
                            ("HTTPCode_ELB_5XX_Count", stats.elb_5xx)):
            if drop_zero_counts and not value:
                continue
            datums.append(dict(common, MetricName=name, Value=float(value), Unit="Count"))
        if stats.latencies:
            values, counts = values_counts(stats.latencies)
            for i in range(0, len(values), MAX_VALUES_PER_DATUM):
                datums.append(dict(common, MetricName="TargetResponseTime", Unit="Seconds",
                                   Values=values[i:i + MAX_VALUES_PER_DATUM],
                                   Counts=counts[i:i + MAX_VALUES_PER_DATUM]))
    return datums


def parse_delay_periods(text):
    """LAB_METRIC_DELAY_PERIODS: "0", "2" or "1-2" -> (low, high) whole periods, 0 <= low <= high <= 10."""
    text = str(text).strip()
    low, sep, high = text.partition("-")
    try:
        low, high = int(low), int(high) if sep else int(low)
    except ValueError:
        raise ValueError("metric delay must be N or N-M periods, got %r" % text)
    if not 0 <= low <= high <= 10:
        raise ValueError("metric delay must be within 0-10 periods with N <= M, got %r" % text)
    return low, high


class DelayedDelivery:
    """Holds each finished period's datums until it is due: `delay` (low, high) whole periods after the period
    ended, drawn per period with `rng`. Pure (no clock of its own): the caller says what time it is."""

    def __init__(self, delay=(0, 0), rng=None):
        self.low, self.high = delay
        self.rng = rng or random.Random()
        self.pending = []             # (due, period_start, datums)

    def hold(self, period_start, period_s, datums):
        """Queue a finished period [period_start, period_start + period_s); returns the time it is due."""
        late = self.low if self.low == self.high else self.rng.randint(self.low, self.high)
        due = period_start + period_s * (1 + late)
        if datums:
            self.pending.append((due, period_start, datums))
        return due

    def release(self, now):
        """[(period_start, datums)] of the periods due at `now`, oldest period first; they leave the queue."""
        ready = sorted((p for p in self.pending if p[0] <= now + 1e-6), key=lambda p: p[1])
        self.pending = [p for p in self.pending if p[0] > now + 1e-6]
        return [(start, datums) for _, start, datums in ready]


# ---------------------------------------------------------------- routing snapshot

class Snapshot:
    """What the API said at one refresh: lb ARN, per local port the weighted TGs, per TG its healthy targets."""

    def __init__(self, lb_arn=None, listeners=None, targets=None, taken=0.0, certificates=None):
        self.lb_arn = lb_arn
        self.listeners = listeners or {}      # api listener port -> rule_matchers() (default rule last)
        self.targets = targets or {}          # tg_arn -> [(ip, port)]
        self.taken = taken
        self.certificates = certificates or {}  # api listener port -> default certificate ARN (HTTPS listeners)


def listener_certificate(listener):
    """The default certificate ARN of an HTTPS listener (as describe_listeners gives it); None for HTTP.
    An HTTPS listener without a certificate (AWS would not allow one) yields "" - it refuses TLS."""
    if (listener.get("Protocol") or "HTTP").upper() != "HTTPS":
        return None
    certs = listener.get("Certificates") or []
    default = [c for c in certs if c.get("IsDefault")] or certs
    return (default[0].get("CertificateArn") or "") if default else ""


def _boto_client(service, endpoint, region):
    import boto3
    from botocore.config import Config
    return boto3.client(service, endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(user_agent_extra="lab-alb", retries={"max_attempts": 2},
                                      connect_timeout=2, read_timeout=5))


def read_snapshot(elbv2, alb_name, listener_ports):
    """Read the ALB's forward config and target health through the API; a Snapshot."""
    try:
        lbs = elbv2.describe_load_balancers(Names=[alb_name])["LoadBalancers"]
    except elbv2.exceptions.LoadBalancerNotFoundException:
        return Snapshot(taken=time.time())
    if not lbs:
        return Snapshot(taken=time.time())
    lb_arn = lbs[0]["LoadBalancerArn"]
    listeners = {}
    certificates = {}
    for listener in elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]:
        if listener["Port"] in listener_ports:
            rules = elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
            listeners[listener["Port"]] = rule_matchers(rules, listener.get("DefaultActions"))
            cert = listener_certificate(listener)
            if cert is not None:
                certificates[listener["Port"]] = cert
    tg_arns = sorted({arn for matchers in listeners.values() for _, weighted in matchers for arn, _ in weighted})
    targets = {}
    if tg_arns:
        ports = {tg["TargetGroupArn"]: tg.get("Port") for tg in
                 elbv2.describe_target_groups(TargetGroupArns=tg_arns)["TargetGroups"]}
        for arn in tg_arns:
            desc = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
            targets[arn] = healthy_targets(desc, ports.get(arn) or 80)
    return Snapshot(lb_arn, listeners, targets, time.time(), certificates)


# ---------------------------------------------------------------- the proxy

class _ProxyHandler(BaseHTTPRequestHandler):
    server_version = "lab-alb"
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        pass

    def _reply(self, status, body, tg_arn=None, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        if tg_arn:
            self.send_header("X-Lab-Target-Group", tg_name(tg_arn))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _proxy(self):
        plane = self.server.plane
        api_port = self.server.api_port
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY_BYTES)
        body = self.rfile.read(length) if length else None
        snap = plane.snapshot
        weighted = route(snap.listeners.get(api_port, []), self.path, self.headers.get("Host"), dict(self.headers.items()))
        tg_arn = weighted_choice(weighted, plane.rng_random())
        if not snap.lb_arn or tg_arn is None:
            self._reply(503, b"503 Service Temporarily Unavailable (lab ALB: listener has no forward target)\n",
                        headers=[("Content-Type", "text/plain")])
            return
        target = plane.next_target(tg_arn, snap.targets.get(tg_arn, []))
        if target is None:
            plane.metrics.record(snap.lb_arn, tg_arn, 503, None, from_elb=True)
            self._reply(503, b"503 Service Temporarily Unavailable (lab ALB: no healthy target)\n", tg_arn,
                        [("Content-Type", "text/plain")])
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["X-Forwarded-For"] = self.client_address[0]
        headers["X-Forwarded-Port"] = str(api_port)
        headers["X-Forwarded-Proto"] = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
        started = time.monotonic()
        conn = http.client.HTTPConnection(target[0], target[1], timeout=UPSTREAM_TIMEOUT_S)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            latency = time.monotonic() - started
            status = resp.status
            out_headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
        except (OSError, http.client.HTTPException) as e:
            plane.metrics.record(snap.lb_arn, tg_arn, 502, None, from_elb=True)
            self._reply(502, ("502 Bad Gateway (lab ALB: %s:%d %s)\n" % (target[0], target[1], e)).encode(), tg_arn,
                        [("Content-Type", "text/plain")])
            return
        finally:
            conn.close()
        plane.metrics.record(snap.lb_arn, tg_arn, status, latency)
        self._reply(status, data, tg_arn, out_headers)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _proxy


class _ListenerServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def server_bind(self):
        # skip HTTPServer's socket.getfqdn() reverse lookup (stalls without DNS)
        import socketserver
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def finish_request(self, request, client_address):
        """In the connection's own thread: TLS first when the listener is HTTPS now (a failed handshake, or an
        HTTPS listener without a usable certificate, closes the connection), then the HTTP handler."""
        https, context = self.plane.tls_for(self.api_port)
        if not https:
            return super().finish_request(request, client_address)
        if context is None:
            self.plane.tls_refused += 1
            return None
        request.settimeout(TLS_HANDSHAKE_TIMEOUT_S)
        try:
            tls = context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.plane.tls_failed_handshakes += 1
            LOG.debug("lab-alb: TLS handshake on %s failed: %s", self.api_port, e)
            return None
        tls.settimeout(UPSTREAM_TIMEOUT_S)
        try:
            return super().finish_request(tls, client_address)
        except (ssl.SSLError, ConnectionError, TimeoutError) as e:   # client went away mid-request: not our error
            LOG.debug("lab-alb: TLS connection on %s ended: %s", self.api_port, e)
            return None
        finally:
            try:
                tls.close()
            except OSError:
                pass


class AlbDataPlane:
    """Proxy + refresher + metrics publisher. start() / stop(); stop() ends every thread within a few seconds."""

    def __init__(self, endpoint=None, alb_name=None, listener_ports=None, metric_period=None, refresh_s=1.0,
                 bind="127.0.0.1", region=None, publish=True, seed=None, cw_shape=None, delay_periods=None,
                 changes=None):
        self.endpoint = endpoint or config.AWS_ENDPOINT
        self.alb_name = alb_name or config.ALB_NAME
        self.listener_ports = dict(listener_ports or config.LISTENER_LOCAL_PORTS)
        self.metric_period = metric_period or config.METRIC_PERIOD
        self.refresh_s = min(float(refresh_s), 1.0)
        # In the daemon: a counter of routing changes (lab/aws/routing_changes.py). The snapshot is then read when it
        # moves, every refresh_s for HOT_S after (stale reads, health settling), and every IDLE_REFRESH_S otherwise.
        self.changes = changes
        self.bind = bind
        self.region = region or config.REGION
        self.publish = publish
        self.cw_shape = cw_shape or config.CW_SHAPE
        if self.cw_shape not in ("lab", "aws"):
            raise ValueError("CloudWatch shape must be lab or aws, got %r" % self.cw_shape)
        self.delivery = DelayedDelivery(parse_delay_periods(config.METRIC_DELAY_PERIODS if delay_periods is None
                                                            else delay_periods), random.Random(seed))
        self.snapshot = Snapshot()
        self.metrics = MetricsAccumulator()
        self.refresh_errors = 0
        self.tls_refused = 0              # connections to an HTTPS listener without a usable certificate
        self.tls_failed_handshakes = 0
        self._tls = {}                    # api port -> (certificate ARN, ssl context or None)
        self._tls_clients = {}
        self.published_periods = 0
        self.flushes = 0                  # period boundaries passed (published or empty)
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._rr = collections.defaultdict(int)
        self._rr_lock = threading.Lock()
        self._stop = threading.Event()
        self._servers = []
        self._threads = []

    # routing helpers used by the handler
    def rng_random(self):
        with self._rng_lock:
            return self._rng.random()

    def next_target(self, tg_arn, targets):
        if not targets:
            return None
        with self._rr_lock:
            i = self._rr[tg_arn]
            self._rr[tg_arn] = i + 1
        return targets[i % len(targets)]

    def refresh(self, elbv2):
        try:
            snapshot = read_snapshot(elbv2, self.alb_name, self.listener_ports)
            self._update_tls(snapshot.certificates)
            self.snapshot = snapshot
        except Exception as e:  # keep routing on the last snapshot; the API may be restarting
            self.refresh_errors += 1
            LOG.warning("lab-alb: refresh failed (%s), keeping the last routing snapshot", e)

    def tls_for(self, api_port):
        """(https, ssl context or None) of a listener as the last refresh saw it."""
        cert_arn = self.snapshot.certificates.get(api_port)
        if cert_arn is None:
            return False, None
        held = self._tls.get(api_port)
        return True, (held[1] if held and held[0] == cert_arn else None)

    def _certificate_pem(self, cert_arn):
        """The certificate body of an ACM or IAM server certificate ARN, through the API."""
        service = "iam" if ":iam:" in cert_arn else "acm"
        if service not in self._tls_clients:
            self._tls_clients[service] = _boto_client(service, self.endpoint, self.region)
        if service == "acm":
            return self._tls_clients["acm"].get_certificate(CertificateArn=cert_arn)["Certificate"]
        name = cert_arn.split(":server-certificate/", 1)[1].rsplit("/", 1)[-1]
        return self._tls_clients["iam"].get_server_certificate(
            ServerCertificateName=name)["ServerCertificate"]["CertificateBody"]

    def _update_tls(self, certificates):
        from lab import tls
        for api_port, cert_arn in certificates.items():
            held = self._tls.get(api_port)
            if held and held[0] == cert_arn:
                continue
            context = None
            if cert_arn:
                try:
                    context = tls.server_context(self._certificate_pem(cert_arn))
                except Exception as e:   # not cached: tried again at the next refresh, refused meanwhile
                    LOG.warning("lab-alb: certificate %s of listener %s not usable (%s)", cert_arn, api_port, e)
                    continue
                if context is None:
                    LOG.warning("lab-alb: listener %s is HTTPS with %s, whose key the lab does not hold: "
                                "every TLS handshake is refused", api_port, cert_arn)
            self._tls[api_port] = (cert_arn, context)

    def _refresh_loop(self):
        elbv2 = _boto_client("elbv2", self.endpoint, self.region)
        if self.changes is None:
            while not self._stop.is_set():
                self.refresh(elbv2)
                self._stop.wait(self.refresh_s)
            return
        seen, hot_until, next_refresh = None, 0.0, 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            generation = self.changes()
            if generation != seen:
                seen, hot_until, next_refresh = generation, now + HOT_S, now
            if now >= next_refresh:
                self.refresh(elbv2)
                next_refresh = now + (self.refresh_s if now < hot_until else IDLE_REFRESH_S)
            self._stop.wait(CHANGE_POLL_S)

    def publish_period(self, cloudwatch, period_start):
        """Close the period that started at period_start, then put every held period now due (with no delay,
        the one just closed). Returns the number of datums put."""
        period = self.metrics.drain()
        stamp = datetime.fromtimestamp(period_start, timezone.utc)
        datums = metric_datums(period, stamp, 1 if self.metric_period < 60 else 60,
                               drop_zero_counts=self.cw_shape == "aws") if period else []
        due = self.delivery.hold(period_start, self.metric_period, datums)
        put = 0
        for _, held in self.delivery.release(period_start + self.metric_period):
            for i in range(0, len(held), MAX_DATUMS_PER_CALL):
                cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=held[i:i + MAX_DATUMS_PER_CALL])
            self.published_periods += 1
            put += len(held)
        if datums and due > period_start + self.metric_period:
            LOG.debug("lab-alb: period %s held until %s", period_start, due)
        return put

    def _metrics_loop(self):
        cloudwatch = _boto_client("cloudwatch", self.endpoint, self.region)
        period = self.metric_period
        current = int(time.time() // period) * period
        while not self._stop.is_set():
            next_boundary = current + period
            self._stop.wait(max(0.0, next_boundary - time.time()))
            try:
                self.publish_period(cloudwatch, current)
            except Exception as e:
                LOG.warning("lab-alb: put_metric_data failed (%s); period %s dropped", e, current)
            self.flushes += 1
            current = next_boundary

    def start(self):
        elbv2 = _boto_client("elbv2", self.endpoint, self.region)
        self.refresh(elbv2)    # route from the first request on
        for api_port, local_port in sorted(self.listener_ports.items()):
            server = _ListenerServer((self.bind, local_port), _ProxyHandler)
            server.plane = self
            server.api_port = api_port
            self._servers.append(server)
            self._spawn("lab-alb-listener-%d" % api_port, server.serve_forever, 0.2)
        self._spawn("lab-alb-refresh", self._refresh_loop)
        if self.publish:
            self._spawn("lab-alb-metrics", self._metrics_loop)
        return self

    def _spawn(self, name, target, *args):
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self, timeout=5.0):
        self._stop.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        deadline = time.time() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.time()))
        self._servers, self._threads = [], []

    def url(self, api_port):
        scheme = "https" if self.snapshot.certificates.get(api_port) is not None else "http"
        return "%s://%s:%d" % (scheme, self.bind, self.listener_ports[api_port])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description="The lab's ALB data plane (proxy + metrics), standalone.")
    parser.add_argument("--endpoint", default=config.AWS_ENDPOINT)
    parser.add_argument("--alb", default=config.ALB_NAME)
    parser.add_argument("--seconds", type=float, default=3600, help="run this long, then stop (bounded)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    plane = AlbDataPlane(endpoint=args.endpoint, alb_name=args.alb).start()
    for api, local in sorted(plane.listener_ports.items()):
        print("listener %d -> http://127.0.0.1:%d" % (api, local))
    try:
        time.sleep(args.seconds)
    except KeyboardInterrupt:
        pass
    finally:
        plane.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
