"""Faults on demand: throttling, 5xx and added latency per AWS service, in each protocol's real error shape.

The daemon's request path (lab/daemon.py LabApp) asks `FaultInjector.decide()` for every signed AWS request before
moto sees it; a fault is answered here and logged with the request (`"fault": "throttle"|"5xx"`), latency is slept
before the request goes on to moto.

Settings, one JSON document (env LAB_FAULTS at daemon start, or `POST /lab-api/faults` / `python -m lab faults` on a
running lab; `GET /lab-api/faults` answers the settings in force and what was injected so far):

    {"services": {"*":   {"throttle": 0.2, "error": 0.02, "latency_ms": [0, 50]},
                  "ecs": {"throttle": 0.4}},
     "exempt_keys": ["testing"],     # default: the lab's own key (seeding, ALB data plane, tests' own reads)
     "keys": [],                     # non-empty: only requests signed with one of these keys
     "seed": 7}                      # optional: reproducible draws

Service names are the signing names (ecs, elasticloadbalancing, monitoring, ssm, ecr, logs, iam, sts, ...) or
botocore's client names (elbv2, cloudwatch); "*" is every service, and a service's own entry overrides "*" field by
field. Unsigned requests, /moto-api/ and /lab-api/ are never faulted.

Who is faulted: by default every key but the lab's admin key `testing`, so the lab's own seeding, its ALB data
plane (which reads listener weights and publishes metrics through the API) and the tests' assertions are not
throttled; playbooks under test run with their own keys (the deployer principal's, or any other dummy key).

The error each protocol's botocore parser reads (botocore 1.44, see `error_response`):
  query (ELBv2, IAM, STS)         HTTP 400 <ErrorResponse><Error><Code>Throttling</Code>... (text/xml)
  ec2                             HTTP 503 <Response><Errors><Error><Code>RequestLimitExceeded</Code>...
  json (ECS, SSM, ECR, Logs, ...) HTTP 400 {"__type": "ThrottlingException", "message": ...}
  smithy-rpc-v2-cbor (CloudWatch) HTTP 400 CBOR {"__type": "ThrottlingException", ...}; CloudWatch is awsQueryCompatible,
                                  so the header x-amzn-query-error: Throttling;Sender makes botocore report `Throttling`,
                                  as real CloudWatch does
  rest-xml (S3)                   HTTP 503 <Error><Code>SlowDown</Code>...
5xx: HTTP 500 InternalError or HTTP 503 ServiceUnavailable, half each, in the same shapes.
"""
import json
import random
import struct
import threading
import time
import uuid

ALIASES = {"elbv2": "elasticloadbalancing", "cloudwatch": "monitoring", "elb": "elasticloadbalancing"}
# Services whose JSON/CBOR protocol carries the old query error code in x-amzn-query-error (awsQueryCompatible in
# botocore's model; tests/unit/lab/test_faults.py checks CloudWatch's against the installed botocore).
QUERY_COMPATIBLE = {"monitoring", "sqs"}
DEFAULT_EXEMPT_KEYS = ("testing",)
MAX_LATENCY_MS = 30000
FIELDS = ("throttle", "error", "latency_ms")


class FaultSettingsError(ValueError):
    pass


def _rate(value, name):
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise FaultSettingsError("%s must be a number between 0 and 1, got %r" % (name, value))
    if not 0.0 <= rate <= 1.0:
        raise FaultSettingsError("%s must be between 0 and 1, got %r" % (name, value))
    return rate


def _latency(value, name):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low = high = float(value)
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        low, high = (float(v) for v in value)
    else:
        raise FaultSettingsError("%s must be milliseconds or [min, max], got %r" % (name, value))
    if not 0 <= low <= high <= MAX_LATENCY_MS:
        raise FaultSettingsError("%s must be within 0..%d ms and min <= max, got %r" % (name, MAX_LATENCY_MS, value))
    return (low, high)


def parse_settings(doc):
    """Validated settings from a JSON document (dict or text); raises FaultSettingsError naming the bad field."""
    if isinstance(doc, (str, bytes)):
        try:
            doc = json.loads(doc or "{}")
        except ValueError as e:
            raise FaultSettingsError("fault settings are not JSON: %s" % e)
    if not isinstance(doc, dict):
        raise FaultSettingsError("fault settings must be a JSON object")
    unknown = set(doc) - {"services", "exempt_keys", "keys", "seed"}
    if unknown:
        raise FaultSettingsError("unknown fault setting(s): %s" % ", ".join(sorted(unknown)))
    services = {}
    for name, spec in (doc.get("services") or {}).items():
        if not isinstance(spec, dict):
            raise FaultSettingsError("services.%s must be an object" % name)
        bad = set(spec) - set(FIELDS)
        if bad:
            raise FaultSettingsError("services.%s: unknown field(s) %s (known: %s)" % (name, ", ".join(sorted(bad)), ", ".join(FIELDS)))
        out = {}
        for field in ("throttle", "error"):
            if field in spec:
                out[field] = _rate(spec[field], "services.%s.%s" % (name, field))
        if "latency_ms" in spec:
            out["latency_ms"] = _latency(spec["latency_ms"], "services.%s.latency_ms" % name)
        if out.get("throttle", 0) + out.get("error", 0) > 1.0:
            raise FaultSettingsError("services.%s: throttle + error must not exceed 1" % name)
        services[ALIASES.get(name, name)] = out
    for field in ("exempt_keys", "keys"):
        value = doc.get(field)
        if value is not None and not (isinstance(value, list) and all(isinstance(k, str) for k in value)):
            raise FaultSettingsError("%s must be a list of access key ids" % field)
    exempt = doc.get("exempt_keys")
    return {"services": services,
            "exempt_keys": list(DEFAULT_EXEMPT_KEYS if exempt is None else exempt),
            "keys": list(doc.get("keys") or []),
            "seed": doc.get("seed")}


def service_faults(settings, service):
    """The fault fields in force for `service`: its own entry over "*"."""
    merged = dict(settings["services"].get("*", {}))
    merged.update(settings["services"].get(service, {}))
    return merged


def applies_to(settings, access_key):
    if not access_key:
        return False
    if settings["keys"]:
        return access_key in settings["keys"]
    return access_key not in settings["exempt_keys"]


def choose(faults, draw):
    """'throttle', '5xx' or None for one uniform draw in [0, 1)."""
    throttle = faults.get("throttle", 0.0)
    if draw < throttle:
        return "throttle"
    if draw < throttle + faults.get("error", 0.0):
        return "5xx"
    return None


# ------------------------------------------------------------------ the wire shapes

def request_protocol(environ, service):
    """How the caller encoded its request, hence how it parses an error: cbor, json, query, ec2, rest-xml, rest-json."""
    if environ.get("HTTP_SMITHY_PROTOCOL", "").lower() == "rpc-v2-cbor":
        return "cbor"
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    if service == "ec2":
        return "ec2"
    if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        return "query"
    if service == "s3":
        return "rest-xml"
    return "rest-json"


def error_code(kind, protocol, pick_503):
    """(HTTP status, error code, query-compatible code) of a fault."""
    if kind == "throttle":
        if protocol == "ec2":
            return 503, "RequestLimitExceeded", None
        if protocol == "rest-xml":
            return 503, "SlowDown", None
        if protocol in ("json", "cbor", "rest-json"):
            return 400, "ThrottlingException", "Throttling"
        return 400, "Throttling", None
    if pick_503:
        return 503, "ServiceUnavailable", "ServiceUnavailable"
    return 500, "InternalError", "InternalError"


def _cbor_text(text):
    data = text.encode("utf-8")
    n = len(data)
    if n < 24:
        head = struct.pack(">B", 0x60 | n)
    elif n < 256:
        head = struct.pack(">BB", 0x78, n)
    else:
        head = struct.pack(">BH", 0x79, n)
    return head + data


def cbor_map(pairs):
    """A CBOR map of text to text (RFC 8949 major types 3 and 5): all an error body needs."""
    assert len(pairs) < 24
    out = struct.pack(">B", 0xA0 | len(pairs))
    for key, value in pairs:
        out += _cbor_text(key) + _cbor_text(value)
    return out


def error_response(kind, protocol, service, pick_503=False, request_id=None):
    """(status line, headers, body) of an injected fault in the caller's protocol."""
    status, code, query_code = error_code(kind, protocol, pick_503)
    request_id = request_id or str(uuid.uuid4())
    message = "Rate exceeded" if kind == "throttle" else "injected by the lab (fault settings)"
    sender = "Sender" if status < 500 else "Receiver"
    headers = [("x-amzn-RequestId", request_id), ("x-lab-fault", kind)]
    if protocol in ("json", "cbor", "rest-json"):
        if service in QUERY_COMPATIBLE and query_code:
            headers.append(("x-amzn-query-error", "%s;%s" % (query_code, sender)))
        if protocol == "cbor":
            body = cbor_map([("__type", code), ("message", message)])
            headers += [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
        else:
            body = json.dumps({"__type": code, "message": message}).encode()
            headers += [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
    elif protocol == "ec2":
        body = ("<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors>"
                "<RequestID>%s</RequestID></Response>" % (code, message, request_id)).encode()
        headers.append(("Content-Type", "text/xml"))
    elif protocol == "rest-xml":
        body = ("<Error><Code>%s</Code><Message>%s</Message><RequestId>%s</RequestId></Error>"
                % (code, message, request_id)).encode()
        headers.append(("Content-Type", "application/xml"))
    else:
        body = ("<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error>"
                "<RequestId>%s</RequestId></ErrorResponse>" % (sender, code, message, request_id)).encode()
        headers.append(("Content-Type", "text/xml"))
    headers.append(("Content-Length", str(len(body))))
    reason = {400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}[status]
    return "%d %s" % (status, reason), headers, body


# ------------------------------------------------------------------ the injector the daemon holds

class FaultInjector:
    def __init__(self, doc=None):
        self.lock = threading.Lock()
        self.settings = parse_settings(doc or {})
        self.rng = random.Random(self.settings.get("seed"))
        self.counts = {}

    def configure(self, doc):
        settings = parse_settings(doc)
        with self.lock:
            self.settings = settings
            self.rng = random.Random(settings.get("seed"))
            self.counts = {}
        return self.describe()

    def describe(self):
        with self.lock:
            return {"settings": self.settings, "injected": dict(self.counts)}

    @property
    def active(self):
        return bool(self.settings["services"])

    def decide(self, service, access_key):
        """(fault kind or None, added latency in s, pick_503) for one request."""
        settings = self.settings
        if not settings["services"] or not applies_to(settings, access_key):
            return None, 0.0, False
        faults = service_faults(settings, service)
        if not faults:
            return None, 0.0, False
        with self.lock:
            kind = choose(faults, self.rng.random())
            low, high = faults.get("latency_ms", (0.0, 0.0))
            delay = (low + (high - low) * self.rng.random()) / 1000.0 if high else 0.0
            pick_503 = self.rng.random() < 0.5
            if kind:
                key = "%s %s" % (service, kind)
                self.counts[key] = self.counts.get(key, 0) + 1
        return kind, delay, pick_503

    def apply(self, environ, service, access_key, start_response):
        """(None, None) to let the request through (after any added latency), or (kind, WSGI body of the fault)."""
        kind, delay, pick_503 = self.decide(service, access_key)
        if delay:
            time.sleep(delay)
        if not kind:
            return None, None
        status, headers, body = error_response(kind, request_protocol(environ, service), service, pick_503)
        start_response(status, headers)
        return kind, [body]
