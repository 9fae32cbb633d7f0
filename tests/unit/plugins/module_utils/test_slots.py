import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import slots

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
TG = {"a": "arn:tg/a", "b": "arn:tg/b"}


def test_image_digest_only_for_digest_references():
    assert slots.image_digest("123.dkr.ecr.us-east-1.amazonaws.com/myapp@" + D1) == D1
    assert slots.image_digest("myapp:v1.2.3") is None
    assert slots.image_digest(None) is None


def test_forward_weights_reads_forward_config_and_plain_forward():
    weighted = [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": "arn:tg/a", "Weight": 90}, {"TargetGroupArn": "arn:tg/b", "Weight": 10}]}}]
    assert slots.forward_weights(weighted) == {"arn:tg/a": 90, "arn:tg/b": 10}
    # A plain forward (TargetGroupArn, no ForwardConfig) sends 100 % there: weight 100, as alb_weighted_shift reads it.
    assert slots.forward_weights([{"Type": "forward", "TargetGroupArn": "arn:tg/a"}]) == {"arn:tg/a": 100}
    assert slots.forward_weights([{"Type": "authenticate-oidc"}, {"Type": "forward", "TargetGroupArn": "x"}]) == {"x": 100}
    assert slots.forward_weights([{"Type": "fixed-response"}]) == {}


def test_percentages_normalise_any_weight_scale():
    assert slots.slot_percentages({"arn:tg/a": 900, "arn:tg/b": 100}, TG) == {"a": 90, "b": 10}
    assert slots.slot_percentages({"arn:tg/a": 1}, TG) == {"a": 100, "b": 0}
    assert slots.slot_percentages({}, TG) == {"a": 0, "b": 0}


@pytest.mark.parametrize("percent,digests,digest,expected", [
    # at rest on a: deploy to b
    ({"a": 100, "b": 0}, {"a": D1, "b": None}, D2, ("a", "b", 0, slots.AT_REST)),
    # the live slot already runs it: nothing to do (second run of the same tag)
    ({"a": 0, "b": 100}, {"a": D1, "b": D2}, D2, ("b", "a", 0, slots.DEPLOYED)),
    # killed at 50 %: candidate b runs the digest, resume at 50
    ({"a": 50, "b": 50}, {"a": D1, "b": D2}, D2, ("a", "b", 50, slots.IN_PROGRESS)),
    # green started but no traffic yet
    ({"a": 100, "b": 0}, {"a": D1, "b": D2}, D2, ("a", "b", 0, slots.IN_PROGRESS)),
    # weights split, nobody runs our digest: someone else's deployment
    ({"a": 90, "b": 10}, {"a": D1, "b": D2}, "sha256:" + "3" * 64, ("a", "b", 10, slots.FOREIGN)),
    # just looking, no digest
    ({"a": 0, "b": 100}, {"a": D1, "b": D2}, None, ("b", "a", 0, slots.AT_REST)),
])
def test_slot_state(percent, digests, digest, expected):
    got = slots.slot_state(percent, digests, digest)
    assert (got["live_slot"], got["candidate_slot"], got["candidate_percent"], got["state"]) == expected


def test_slot_state_when_both_slots_run_the_digest_mid_shift_is_not_a_resume():
    got = slots.slot_state({"a": 50, "b": 50}, {"a": D2, "b": D2}, D2)
    assert got["state"] == slots.FOREIGN




def test_one_forward_parser_for_slots_weights_and_adoption():
    from ansible_collections.progressive.delivery.plugins.module_utils import adopt, weights
    plain = [{"Type": "authenticate-oidc"}, {"Type": "forward", "TargetGroupArn": "arn:tg/a"}]
    assert slots.forward_weights(plain) == weights.read_forward(plain)["weights"] == adopt.forward_of(plain)[1] == {"arn:tg/a": 100}
    assert adopt.forward_of(plain)[0] == 1
    # ... and a plain forward equals a weighted forward of 100 % to the same group (no rewrite, same percentages).
    weighted = [{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": "arn:tg/a", "Weight": 100}]}}]
    assert slots.forward_weights(weighted) == slots.forward_weights(plain)
    assert weights.same_traffic(weights.read_forward(plain), weights.read_forward(weighted))
    assert adopt.forward_of([{"Type": "fixed-response"}]) == (None, {})


def test_health_check_snake_cased_from_describe_target_groups():
    tg = {"TargetGroupArn": "arn", "HealthCheckProtocol": "HTTP", "HealthCheckPort": "traffic-port",
          "HealthCheckEnabled": True, "HealthCheckIntervalSeconds": 10, "HealthCheckTimeoutSeconds": 5,
          "HealthyThresholdCount": 2, "UnhealthyThresholdCount": 3, "HealthCheckPath": "/health",
          "Matcher": {"HttpCode": "200-299"}}
    assert slots.health_check(tg) == {
        "health_check_protocol": "HTTP", "health_check_port": "traffic-port", "health_check_enabled": True,
        "health_check_interval_seconds": 10, "health_check_timeout_seconds": 5, "healthy_threshold_count": 2,
        "unhealthy_threshold_count": 3, "health_check_path": "/health", "matcher": {"http_code": "200-299"}}
    assert slots.health_check({"HealthCheckProtocol": "TCP"}) == {"health_check_protocol": "TCP"}


def test_elb_dimension():
    assert slots.elb_dimension("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/myapp-a/73e2d6bc24d8a067") \
        == "targetgroup/myapp-a/73e2d6bc24d8a067"
    assert slots.elb_dimension("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/myapp-alb/50dc6c495c0c9188") \
        == "app/myapp-alb/50dc6c495c0c9188"
    assert slots.elb_dimension("arn:aws:ecs:us-east-1:123456789012:service/c/s") is None
    assert slots.elb_dimension(None) is None and slots.elb_dimension("myapp-a") is None
