import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import weights as w

A = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/myapp-a/aaaa"
B = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/myapp-b/bbbb"
C = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/other/cccc"


def forward(weights, stickiness=None, plain=None):
    if plain:
        return {"Type": "forward", "TargetGroupArn": plain}
    config = {"TargetGroups": [{"TargetGroupArn": arn, "Weight": wt} for arn, wt in weights]}
    if stickiness is not None:
        config["TargetGroupStickinessConfig"] = stickiness
    return {"Type": "forward", "ForwardConfig": config}


# --- input validation -------------------------------------------------------------------------------------

def test_parse_weights_accepts_names_arns_and_integer_strings():
    assert w.parse_weights({"myapp-a": 90, B: "10"}) == ({"myapp-a": 90, B: 10}, [])


@pytest.mark.parametrize("raw, message", [
    ({"a": 1000}, "weight of target group a must be an integer within 0-999, got 1000"),
    ({"a": -1}, "weight of target group a must be an integer within 0-999"),
    ({"a": 1.5}, "weight of target group a must be an integer within 0-999, got 1.5"),
    ({"a": "ten"}, "got 'ten'"),
    ({"a": True}, "got True"),
    ({"a": 0, "b": 0}, "at least one target group needs a weight above 0"),
    ({}, "weights must map 1-5 target groups"),
    (["a"], "weights must map 1-5 target groups"),
    (dict(("tg%d" % i, 1) for i in range(6)), "at most 5 target groups, got 6"),
])
def test_parse_weights_rejects(raw, message):
    parsed, errors = w.parse_weights(raw)
    assert any(message in e for e in errors), errors


def test_percent_weights_sum_to_100():
    assert w.percent_weights("a", "b", 10) == ({"a": 90, "b": 10}, [])
    assert w.percent_weights("a", "b", 0) == ({"a": 100, "b": 0}, [])
    assert w.percent_weights("a", "b", "100") == ({"a": 0, "b": 100}, [])


@pytest.mark.parametrize("live, candidate, percent, message", [
    ("a", "b", 101, "candidate_percent must be an integer within 0-100, got 101"),
    ("a", "b", -5, "candidate_percent must be an integer within 0-100, got -5"),
    ("a", "b", None, "candidate_percent must be an integer within 0-100, got None"),
    ("a", "a", 10, "live_target_group and candidate_target_group must differ, both are a"),
])
def test_percent_weights_rejects(live, candidate, percent, message):
    weights, errors = w.percent_weights(live, candidate, percent)
    assert weights == {} and any(message in e for e in errors), errors


def test_stickiness_range():
    assert w.check_stickiness(None) == [] and w.check_stickiness(0) == [] and w.check_stickiness(604800) == []
    assert "stickiness_duration must be 0 (disabled) or 1-604800 seconds, got 604801" in w.check_stickiness(604801)[0]
    assert w.check_stickiness(-1)


# --- reading -----------------------------------------------------------------------------------------------

def test_read_forward_weighted_with_stickiness():
    actions = [forward([(A, 90), (B, 10)], {"Enabled": True, "DurationSeconds": 300})]
    assert w.read_forward(actions) == {"weights": {A: 90, B: 10}, "order": [A, B], "stickiness_duration": 300}


def test_read_forward_plain_target_group_is_100_percent_to_it():
    assert w.read_forward([forward(None, plain=A)]) == {"weights": {A: 100}, "order": [A], "stickiness_duration": 0}


def test_read_forward_disabled_stickiness_ignores_duration_and_finds_forward_after_authenticate():
    actions = [{"Type": "authenticate-cognito", "Order": 1, "AuthenticateCognitoConfig": {"UserPoolArn": "x"}},
               dict(forward([(A, 1)], {"Enabled": False, "DurationSeconds": 3600}), Order=2)]
    assert w.read_forward(actions) == {"weights": {A: 1}, "order": [A], "stickiness_duration": 0}


def test_read_forward_none_without_forward_action():
    assert w.read_forward([{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}]) is None
    assert w.read_forward([]) is None


# --- comparing ---------------------------------------------------------------------------------------------

def cfg(weights, stickiness=0):
    return w.desired_forward(dict(weights), [arn for arn, _ in weights], stickiness)


def test_same_traffic_compares_shares_and_stickiness():
    assert w.same_traffic(cfg([(A, 90), (B, 10)]), cfg([(A, 9), (B, 1)]))
    assert w.same_traffic(cfg([(A, 100)]), cfg([(A, 100), (B, 0)]))
    assert w.same_traffic(w.read_forward([forward(None, plain=A)]), cfg([(A, 100), (B, 0)]))
    assert not w.same_traffic(cfg([(A, 90), (B, 10)]), cfg([(A, 50), (B, 50)]))
    assert not w.same_traffic(cfg([(A, 100)]), cfg([(B, 100)]))
    assert not w.same_traffic(cfg([(A, 90), (B, 10)], 60), cfg([(A, 90), (B, 10)], 0))
    assert not w.same_traffic(None, cfg([(A, 1)]))
    # 1/3 vs 33/100 are different shares: no float rounding hides a change
    assert not w.same_traffic(cfg([(A, 2), (B, 1)]), cfg([(A, 67), (B, 33)]))


def test_applied_needs_exact_weights():
    assert w.applied(cfg([(A, 90), (B, 10)]), cfg([(A, 90), (B, 10)]))
    assert not w.applied(cfg([(A, 9), (B, 1)]), cfg([(A, 90), (B, 10)]))
    assert not w.applied(cfg([(A, 90), (B, 10)], 60), cfg([(A, 90), (B, 10)]))
    assert not w.applied(None, cfg([(A, 1)]))


# --- writing -----------------------------------------------------------------------------------------------

def test_forward_config_api_always_sends_stickiness():
    assert w.forward_config_api(cfg([(A, 90), (B, 10)])) == {
        "TargetGroups": [{"TargetGroupArn": A, "Weight": 90}, {"TargetGroupArn": B, "Weight": 10}],
        "TargetGroupStickinessConfig": {"Enabled": False}}
    assert w.forward_config_api(cfg([(A, 1)], 120))["TargetGroupStickinessConfig"] == {"Enabled": True, "DurationSeconds": 120}


def test_rebuild_actions_replaces_only_the_forward_config():
    oidc = {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": {"Issuer": "https://idp", "ClientId": "c"}}
    fwd = {"Type": "forward", "Order": 2, "TargetGroupArn": A,
           "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": A, "Weight": 1}]}}
    actions = [oidc, fwd]
    rebuilt = w.rebuild_actions(actions, cfg([(A, 90), (B, 10)]))
    assert rebuilt[0] == dict(oidc, AuthenticateOidcConfig={"Issuer": "https://idp", "ClientId": "c",
                                                            "UseExistingClientSecret": True})
    assert rebuilt[1] == {"Type": "forward", "Order": 2, "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": A, "Weight": 90}, {"TargetGroupArn": B, "Weight": 10}],
        "TargetGroupStickinessConfig": {"Enabled": False}}}
    # the input is not mutated
    assert "TargetGroupArn" in fwd and "UseExistingClientSecret" not in oidc["AuthenticateOidcConfig"]
    # the read-back of what was written is "applied"
    assert w.applied(w.read_forward(rebuilt), cfg([(A, 90), (B, 10)]))


def test_rebuild_actions_keeps_a_given_client_secret():
    oidc = {"Type": "authenticate-oidc", "AuthenticateOidcConfig": {"ClientSecret": "s"}}
    rebuilt = w.rebuild_actions([oidc, forward(None, plain=A)], cfg([(A, 1)]))
    assert rebuilt[0]["AuthenticateOidcConfig"] == {"ClientSecret": "s"}


def test_rebuild_actions_without_forward_raises():
    with pytest.raises(ValueError, match="no forward action"):
        w.rebuild_actions([{"Type": "redirect"}], cfg([(A, 1)]))


# --- output ------------------------------------------------------------------------------------------------

def test_live_target_group_is_highest_weight_first_on_tie():
    assert w.live_target_group(cfg([(A, 10), (B, 90)])) == B
    assert w.live_target_group(cfg([(A, 50), (B, 50)])) == A
    assert w.live_target_group(cfg([(B, 50), (A, 50)])) == B
    assert w.live_target_group(cfg([])) is None


def test_names_and_listener_of_rule():
    assert w.target_group_name(A) == "myapp-a"
    assert w.target_group_name("plain") == "plain"
    rule = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/alb/6ecf/4177/efaa"
    assert w.listener_arn_of_rule(rule) == "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/alb/6ecf/4177"
    assert w.listener_arn_of_rule("arn:aws:elasticloadbalancing:us-east-1:1:listener/app/alb/6ecf/4177") is None
    assert w.listener_arn_of_rule(rule + "/extra") is None


def test_describe_config_is_reusable_input():
    out = w.describe_config(cfg([(A, 90), (B, 10)], 60), {A: "myapp-a"})
    assert out == {"target_groups": [{"target_group_arn": A, "target_group_name": "myapp-a", "weight": 90},
                                     {"target_group_arn": B, "target_group_name": "myapp-b", "weight": 10}],
                   "weights": {A: 90, B: 10}, "stickiness_duration": 60}
    parsed, errors = w.parse_weights(out["weights"])
    assert errors == [] and parsed == {A: 90, B: 10}
    assert w.describe_config(None) is None


def test_weights_and_percentages_by_name():
    config = cfg([(A, 3), (B, 1)])
    assert w.weights_by_name(config) == {"myapp-a": 3, "myapp-b": 1}
    assert w.percentages_by_name(config) == {"myapp-a": 75.0, "myapp-b": 25.0}


def test_only_groups_gaining_traffic_need_healthy_targets():
    plain = cfg([(A, 1)])
    assert w.gaining_groups(plain, cfg([(A, 90), (B, 10)])) == [B]
    assert w.gaining_groups(cfg([(A, 90), (B, 10)]), cfg([(A, 50), (B, 50)])) == [B]
    # back to live (a rollback): live gains, the candidate at 0 needs nothing
    assert w.gaining_groups(cfg([(A, 50), (B, 50)]), cfg([(A, 100), (B, 0)])) == [A]
    # the same traffic in other numbers, or nothing known before: 9/1 is 90/10; unknown means every group with weight
    assert w.gaining_groups(cfg([(A, 9), (B, 1)]), cfg([(A, 90), (B, 10)])) == []
    assert w.gaining_groups(None, cfg([(A, 90), (B, 10), (C, 0)])) == [A, B]


def test_unhealthy_groups_of_those_checked():
    assert w.unhealthy_groups([A, B], {A: 3, B: 1, C: 0}, 2) == [(B, 1)]
    assert w.unhealthy_groups([A, B], {}, 1) == [(A, 0), (B, 0)]
    assert w.unhealthy_groups([A, B], {}, 0) == []


