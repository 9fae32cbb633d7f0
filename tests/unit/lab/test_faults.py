"""The lab's injected faults read, through the installed botocore's own parsers and retry checkers, exactly as the
protocol's real errors do."""
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse, HeadersDict
from botocore.parsers import create_parser
from botocore.retries import standard

from lab import faults

SESSION = botocore.session.get_session()

# (botocore client name, operation, environ the client sends, signing name)
CALLS = [
    ("elbv2", "DescribeListeners", {"CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8"}, "elasticloadbalancing"),
    ("iam", "GetRole", {"CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8"}, "iam"),
    ("sts", "GetCallerIdentity", {"CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8"}, "sts"),
    ("ecs", "DescribeServices", {"HTTP_X_AMZ_TARGET": "AmazonEC2ContainerServiceV20141113.DescribeServices"}, "ecs"),
    ("ssm", "GetParameter", {"HTTP_X_AMZ_TARGET": "AmazonSSM.GetParameter"}, "ssm"),
    ("ecr", "DescribeImages", {"HTTP_X_AMZ_TARGET": "AmazonEC2ContainerRegistry_V20150921.DescribeImages"}, "ecr"),
    ("logs", "PutLogEvents", {"HTTP_X_AMZ_TARGET": "Logs_20140328.PutLogEvents"}, "logs"),
    ("cloudwatch", "GetMetricData", {"HTTP_SMITHY_PROTOCOL": "rpc-v2-cbor"}, "monitoring"),
    ("ec2", "DescribeVpcs", {"CONTENT_TYPE": "application/x-www-form-urlencoded"}, "ec2"),
    ("s3", "GetObject", {}, "s3"),
]
EXPECTED_THROTTLE = {"elbv2": "Throttling", "iam": "Throttling", "sts": "Throttling", "ecs": "ThrottlingException",
                     "ssm": "ThrottlingException", "ecr": "ThrottlingException", "logs": "ThrottlingException",
                     "cloudwatch": "Throttling",   # awsQueryCompatible: botocore reports the query code
                     "ec2": "RequestLimitExceeded", "s3": "SlowDown"}


def parse(client_name, operation, status_line, headers, body):
    model = SESSION.get_service_model(client_name)
    parser = create_parser(model.protocol)
    response = {"status_code": int(status_line.split()[0]), "headers": HeadersDict(headers), "body": body}
    return parser.parse(response, model.operation_model(operation).output_shape)


@pytest.mark.parametrize("client_name,operation,environ,signing", CALLS, ids=[c[0] for c in CALLS])
def test_throttle_reads_as_the_protocols_real_error(client_name, operation, environ, signing):
    protocol = faults.request_protocol(environ, signing)
    status, headers, body = faults.error_response("throttle", protocol, signing)
    parsed = parse(client_name, operation, status, headers, body)
    assert parsed["Error"]["Code"] == EXPECTED_THROTTLE[client_name], (protocol, parsed)
    # botocore's standard retry mode sees a throttle, as it would from AWS
    context = standard.RetryContext(attempt_number=1, parsed_response=parsed,
                                    http_response=AWSResponse("http://x", int(status.split()[0]), HeadersDict(headers), None))
    assert standard.ThrottledRetryableChecker().is_retryable(context)


@pytest.mark.parametrize("client_name,operation,environ,signing", CALLS, ids=[c[0] for c in CALLS])
@pytest.mark.parametrize("pick_503,code", [(False, "InternalError"), (True, "ServiceUnavailable")])
def test_5xx_reads_as_internal_error_or_service_unavailable(client_name, operation, environ, signing, pick_503, code):
    protocol = faults.request_protocol(environ, signing)
    status, headers, body = faults.error_response("5xx", protocol, signing, pick_503=pick_503)
    assert status.startswith("503" if pick_503 else "500")
    parsed = parse(client_name, operation, status, headers, body)
    assert parsed["Error"]["Code"] == code
    context = standard.RetryContext(attempt_number=1, parsed_response=parsed,
                                    http_response=AWSResponse("http://x", int(status.split()[0]), HeadersDict(headers), None))
    assert standard.TransientRetryableChecker().is_retryable(context)


def test_cloudwatch_is_cbor_and_query_compatible_in_this_botocore():
    model = SESSION.get_service_model("cloudwatch")
    assert model.protocol == "smithy-rpc-v2-cbor"
    assert "awsQueryCompatible" in model.metadata
    assert model.signing_name == "monitoring" or model.endpoint_prefix == "monitoring"


def test_cbor_map_is_what_botocore_decodes():
    from botocore.parsers import RpcV2CBORParser
    body = faults.cbor_map([("__type", "x" * 30), ("message", "m" * 300)])
    decoded = RpcV2CBORParser()._initial_body_parse(body)
    assert decoded == {"__type": "x" * 30, "message": "m" * 300}


def test_settings_validation_names_the_field():
    with pytest.raises(faults.FaultSettingsError, match=r"services\.ecs\.throttle"):
        faults.parse_settings({"services": {"ecs": {"throttle": 1.5}}})
    with pytest.raises(faults.FaultSettingsError, match="throttle \\+ error"):
        faults.parse_settings({"services": {"*": {"throttle": 0.8, "error": 0.3}}})
    with pytest.raises(faults.FaultSettingsError, match="unknown field"):
        faults.parse_settings({"services": {"*": {"throtle": 0.2}}})
    with pytest.raises(faults.FaultSettingsError, match="latency_ms"):
        faults.parse_settings({"services": {"*": {"latency_ms": [50, 10]}}})
    with pytest.raises(faults.FaultSettingsError, match="unknown fault setting"):
        faults.parse_settings({"service": {}})
    with pytest.raises(faults.FaultSettingsError, match="not JSON"):
        faults.parse_settings("{nope")


def test_service_entry_overrides_star_and_aliases():
    settings = faults.parse_settings({"services": {"*": {"throttle": 0.2, "error": 0.02}, "elbv2": {"throttle": 0.5},
                                                   "cloudwatch": {"latency_ms": 20}}})
    assert faults.service_faults(settings, "elasticloadbalancing") == {"throttle": 0.5, "error": 0.02}
    assert faults.service_faults(settings, "monitoring") == {"throttle": 0.2, "error": 0.02, "latency_ms": (20.0, 20.0)}
    assert faults.service_faults(settings, "ecs") == {"throttle": 0.2, "error": 0.02}


def test_who_is_faulted():
    default = faults.parse_settings({"services": {"*": {"throttle": 1}}})
    assert not faults.applies_to(default, "testing")          # the lab's own key
    assert not faults.applies_to(default, "")                 # unsigned
    assert faults.applies_to(default, "AKIADEPLOYER")
    only = faults.parse_settings({"services": {"*": {"throttle": 1}}, "keys": ["AKIAONE"]})
    assert faults.applies_to(only, "AKIAONE") and not faults.applies_to(only, "AKIATWO")
    everyone = faults.parse_settings({"services": {"*": {"throttle": 1}}, "exempt_keys": []})
    assert faults.applies_to(everyone, "testing")


def test_choose_splits_the_unit_interval():
    spec = {"throttle": 0.2, "error": 0.02}
    assert faults.choose(spec, 0.0) == "throttle"
    assert faults.choose(spec, 0.1999) == "throttle"
    assert faults.choose(spec, 0.2) == "5xx"
    assert faults.choose(spec, 0.2199) == "5xx"
    assert faults.choose(spec, 0.22) is None


def test_injector_rates_and_counts_with_a_seed():
    injector = faults.FaultInjector({"services": {"*": {"throttle": 0.2, "error": 0.02}}, "seed": 3})
    kinds = [injector.decide("ecs", "AKIAX")[0] for _ in range(5000)]
    assert 0.18 < kinds.count("throttle") / 5000.0 < 0.22
    assert 0.01 < kinds.count("5xx") / 5000.0 < 0.03
    assert injector.describe()["injected"] == {"ecs throttle": kinds.count("throttle"), "ecs 5xx": kinds.count("5xx")}
    assert injector.decide("ecs", "testing") == (None, 0.0, False)
    injector.configure({})
    assert not injector.active and injector.decide("ecs", "AKIAX")[0] is None
