from lab.aws.target_health import TargetState, allowed_address, code_matches
from lab.daemon import request_identity


def test_matcher_codes_lists_and_ranges():
    assert code_matches("200", 200) and not code_matches("200", 204)
    assert code_matches("200,202", 202) and not code_matches("200,202", 201)
    assert code_matches("200-299", 204) and not code_matches("200-299", 503)
    assert code_matches(None, 200)


def test_thresholds_move_initial_to_healthy_and_unhealthy():
    state = TargetState(8080)
    assert state.state[0] == "initial"
    state.record(True, None, None, 2, 2)
    assert state.state[0] == "initial"
    state.record(True, None, None, 2, 2)
    assert state.state == ("healthy", None, None)
    state.record(False, "Target.Timeout", "Request timed out", 2, 2)
    assert state.state[0] == "healthy"          # one failure is not enough
    state.record(True, None, None, 2, 2)
    state.record(False, "Target.Timeout", "Request timed out", 2, 2)
    assert state.state[0] == "healthy"          # a success in between resets the count
    state.record(False, "Target.ResponseCodeMismatch", "Health checks failed with these codes: [503]", 2, 2)
    assert state.state == ("unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [503]")
    state.record(True, None, None, 3, 2)
    state.record(True, None, None, 3, 2)
    assert state.state[0] == "unhealthy"
    state.record(True, None, None, 3, 2)
    assert state.state[0] == "healthy"


def test_only_loopback_and_the_vm_subnet_are_checked():
    assert allowed_address("127.1.0.10") and allowed_address("10.213.0.11")
    assert not allowed_address("10.0.1.5") and not allowed_address("8.8.8.8") and not allowed_address("i-123")


def test_request_identity_from_signature_target_form_and_path():
    auth = "AWS4-HMAC-SHA256 Credential=testing/20261126/us-east-1/ecs/aws4_request, SignedHeaders=host"
    env = {"HTTP_AUTHORIZATION": auth, "HTTP_X_AMZ_TARGET": "AmazonEC2ContainerServiceV20141113.DescribeServices"}
    assert request_identity(env, b"") == ("ecs", "DescribeServices")
    env = {"HTTP_AUTHORIZATION": auth.replace("/ecs/", "/elasticloadbalancing/"),
           "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8"}
    assert request_identity(env, b"Action=ModifyListener&Version=2015-12-01") == (
        "elasticloadbalancing", "ModifyListener")
    env = {"HTTP_AUTHORIZATION": auth.replace("/ecs/", "/monitoring/"),
           "PATH_INFO": "/service/GraniteServiceVersion20100801/operation/GetMetricData"}
    assert request_identity(env, b"") == ("monitoring", "GetMetricData")
    assert request_identity({"PATH_INFO": "/moto-api/reset", "REQUEST_METHOD": "POST"}, b"") == (
        "moto-api", "POST /moto-api/reset")
