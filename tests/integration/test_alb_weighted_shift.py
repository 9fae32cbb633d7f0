"""alb_weighted_shift through ansible-playbook against a bare moto server."""
import json
import os
import uuid

import pytest

from harness import localhost_play, run_playbook

OIDC = {"Issuer": "https://idp.example.com", "AuthorizationEndpoint": "https://idp.example.com/auth",
        "TokenEndpoint": "https://idp.example.com/token", "UserInfoEndpoint": "https://idp.example.com/userinfo",
        "ClientId": "shift-client", "ClientSecret": "oidc-client-secret-value"}


def make_alb(ec2, elbv2, name="shift-alb", prefix="shift"):
    """ALB `name`: listener :80 = OIDC authenticate + plain forward to <prefix>-a; rule priority 10 on /api/* to <prefix>-a."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.%d.0/24" % i, AvailabilityZone="us-east-1" + z)["Subnet"]["SubnetId"]
               for i, z in ((1, "a"), (2, "b"))]
    lb = elbv2.create_load_balancer(Name=name, Subnets=subnets)["LoadBalancers"][0]
    tgs = dict((slot, elbv2.create_target_group(Name="%s-%s" % (prefix, slot), Protocol="HTTP", Port=8080, VpcId=vpc,
                                                TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]) for slot in ("a", "b", "c"))
    listener = elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": OIDC},
        {"Type": "forward", "Order": 2, "TargetGroupArn": tgs["a"]}])["Listeners"][0]
    rule = elbv2.create_rule(ListenerArn=listener["ListenerArn"], Priority=10,
                             Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
                             Actions=[{"Type": "forward", "TargetGroupArn": tgs["a"]}])["Rules"][0]
    return dict(elbv2=elbv2, lb=lb, tgs=tgs, listener_arn=listener["ListenerArn"], rule_arn=rule["RuleArn"])


@pytest.fixture
def alb(moto):
    return make_alb(moto.client("ec2"), moto.client("elbv2"))


def listener_actions(alb):
    return alb["elbv2"].describe_listeners(ListenerArns=[alb["listener_arn"]])["Listeners"][0]["DefaultActions"]


def rule(alb):
    return alb["elbv2"].describe_rules(RuleArns=[alb["rule_arn"]])["Rules"][0]


def api_weights(actions):
    forward = next(a for a in actions if a["Type"] == "forward")
    if "ForwardConfig" not in forward:
        return {forward["TargetGroupArn"]: None}
    return dict((g["TargetGroupArn"], g["Weight"]) for g in forward["ForwardConfig"]["TargetGroups"])


def shift(name, **args):
    return {"name": name, "progressive.delivery.alb_weighted_shift": args, "register": name.replace(" ", "_")}


def test_listener_shift_reads_back_keeps_other_actions_and_is_idempotent(moto, alb):
    tgs = alb["tgs"]
    by_port = dict(load_balancer="shift-alb", port=80, live_target_group="shift-a", candidate_target_group="shift-b")
    play = localhost_play([
        shift("to ten", candidate_percent=10, **by_port),
        shift("again ten", candidate_percent=10, **by_port),
        shift("same shares as ARNs", listener_arn=alb["listener_arn"], weights={tgs["a"]: 9, tgs["b"]: 1}),
    ], moto.url)
    result = run_playbook(play, diff=True)
    assert result.rc == 0, result
    first = result.task("to ten")
    assert first["changed"] is True
    assert first["listener_arn"] == alb["listener_arn"]
    assert first["weights"] == {"shift-a": 90, "shift-b": 10}
    assert first["percentages"] == {"shift-a": 90.0, "shift-b": 10.0}
    # the plain forward before counted as 100 % to shift-a: the rollback artifact says so
    assert first["previous"] == {"target_groups": [{"target_group_arn": tgs["a"], "target_group_name": "shift-a", "weight": 100}],
                                 "weights": {tgs["a"]: 100}, "stickiness_duration": 0}
    assert first["current"]["weights"] == {tgs["a"]: 90, tgs["b"]: 10}
    assert first["live_target_group"] == {"arn": tgs["a"], "name": "shift-a", "weight": 90}
    assert first["diff"] == {"before": {"weights": {"shift-a": 100}, "stickiness_duration": 0},
                             "after": {"weights": {"shift-a": 90, "shift-b": 10}, "stickiness_duration": 0}}
    assert first["waited"] < 5
    assert result.task("again ten")["changed"] is False
    assert result.task("same shares as ARNs")["changed"] is False
    assert result.task("same shares as ARNs")["weights"] == {"shift-a": 90, "shift-b": 10}

    actions = listener_actions(alb)
    assert api_weights(actions) == {tgs["a"]: 90, tgs["b"]: 10}
    oidc = next(a for a in actions if a["Type"] == "authenticate-oidc")
    assert oidc["Order"] == 1
    assert {k: v for k, v in oidc["AuthenticateOidcConfig"].items() if k != "ClientSecret"} == \
        {k: v for k, v in OIDC.items() if k != "ClientSecret"}
    assert next(a for a in actions if a["Type"] == "forward")["Order"] == 2
    # the rule was not touched, and no secret reached the output
    assert api_weights(rule(alb)["Actions"]) == {tgs["a"]: None}
    assert OIDC["ClientSecret"] not in result.stdout


def test_check_mode_changes_nothing_and_shows_the_would_be_weights(moto, alb):
    tgs = alb["tgs"]
    play = localhost_play([shift("check", listener_arn=alb["listener_arn"], live_target_group="shift-a",
                                 candidate_target_group=tgs["b"], candidate_percent=50)], moto.url)
    result = run_playbook(play, check=True, diff=True)
    assert result.rc == 0, result
    res = result.task("check")
    assert res["changed"] is True
    assert res["weights"] == {"shift-a": 50, "shift-b": 50}
    assert res["diff"]["after"]["weights"] == {"shift-a": 50, "shift-b": 50}
    assert "waited" not in res
    assert api_weights(listener_actions(alb)) == {tgs["a"]: None}


def test_rule_by_priority_with_stickiness_keeps_conditions_and_rolls_back(moto, alb):
    tgs = alb["tgs"]
    play = localhost_play([
        shift("rule weights", load_balancer=alb["lb"]["LoadBalancerArn"], port=80, priority=10,
              weights={"shift-a": 80, "shift-b": 20}, stickiness_duration=3600),
        shift("rule again", rule_arn=alb["rule_arn"], weights={"shift-a": 80, "shift-b": 20}, stickiness_duration=3600),
        shift("stickiness off", rule_arn=alb["rule_arn"], weights={"shift-a": 80, "shift-b": 20}),
        {"name": "roll back", "progressive.delivery.alb_weighted_shift": {
            "rule_arn": alb["rule_arn"], "weights": "{{ rule_weights.previous.weights }}",
            "stickiness_duration": "{{ rule_weights.previous.stickiness_duration }}"}, "register": "roll_back"},
    ], moto.url)
    result = run_playbook(play)
    assert result.rc == 0, result
    first = result.task("rule weights")
    assert first["changed"] is True and first["rule_arn"] == alb["rule_arn"]
    assert first["listener_arn"] == alb["listener_arn"]
    assert first["current"]["stickiness_duration"] == 3600
    assert result.task("rule again")["changed"] is False
    assert result.task("rule again")["listener_arn"] == alb["listener_arn"]  # derived from the rule ARN
    assert result.task("stickiness off")["changed"] is True
    back = result.task("roll back")
    assert back["changed"] is True
    assert back["current"]["weights"] == {tgs["a"]: 100}
    now = rule(alb)
    assert now["Conditions"] == [{"Field": "path-pattern", "Values": ["/api/*"]}]
    assert now["Priority"] == "10"
    forward = now["Actions"][0]["ForwardConfig"]
    assert forward["TargetGroups"] == [{"TargetGroupArn": tgs["a"], "Weight": 100}]
    assert forward["TargetGroupStickinessConfig"] == {"Enabled": False}
    # the listener's own default actions were not touched
    assert api_weights(listener_actions(alb)) == {tgs["a"]: None}


def test_min_healthy_targets_refuses_before_changing(moto, alb):
    tgs = alb["tgs"]
    alb["elbv2"].register_targets(TargetGroupArn=tgs["a"], Targets=[{"Id": "10.0.1.10"}, {"Id": "10.0.1.11"}])
    alb["elbv2"].register_targets(TargetGroupArn=tgs["b"], Targets=[{"Id": "10.0.1.20"}])
    args = dict(listener_arn=alb["listener_arn"], live_target_group="shift-a", candidate_target_group="shift-b",
                min_healthy_targets=2)
    play = localhost_play([
        dict(shift("refused", candidate_percent=10, **args), ignore_errors=True),
        # weight 0 for the candidate needs no healthy candidate targets
        shift("zero is fine", candidate_percent=0, **args),
        shift("one is enough", candidate_percent=10, **dict(args, min_healthy_targets=1)),
        # going back to live: live gains, so live's targets are counted (the candidate's are not)
        dict(shift("live short", candidate_percent=0, **dict(args, min_healthy_targets=3)), ignore_errors=True),
    ], moto.url)
    result = run_playbook(play)
    assert result.rc == 0, result
    refused = result.task("refused")
    assert refused["failed"] is True
    assert "target group shift-b has 1 healthy targets" in refused["msg"]
    assert "min_healthy_targets=2" in refused["msg"] and "nothing was changed" in refused["msg"]
    # only the group whose share rises is read
    assert refused["healthy_targets"] == {"shift-b": 1}
    zero = result.task("zero is fine")
    assert zero["healthy_targets"] == {}
    assert zero["changed"] is False  # 100/0 routes like the plain forward to shift-a
    assert result.task("one is enough")["changed"] is True
    live_short = result.task("live short")
    assert live_short["failed"] is True and "target group shift-a has 2 healthy targets" in live_short["msg"]
    assert live_short["healthy_targets"] == {"shift-a": 2}
    assert api_weights(listener_actions(alb)) == {tgs["a"]: 90, tgs["b"]: 10}


@pytest.mark.parametrize("args, message", [
    (dict(weights={"shift-a": 1000}), "weight of target group shift-a must be an integer within 0-999, got 1000"),
    (dict(weights=dict(("tg%d" % i, 1) for i in range(6))), "at most 5 target groups, got 6"),
    (dict(live_target_group="shift-a", candidate_target_group="shift-b", candidate_percent=120),
     "candidate_percent must be an integer within 0-100, got 120"),
    (dict(weights={"shift-a": 1}, stickiness_duration=700000), "stickiness_duration must be 0 (disabled) or 1-604800"),
    (dict(weights={"missing-tg": 1}), "target group 'missing-tg' not found"),
    (dict(weights={"shift-a": 1}, port=8443, load_balancer="shift-alb", listener_arn=None),
     "load balancer shift-alb has no listener on port 8443 (it has: [80])"),
    (dict(weights={"shift-a": 1}, priority=99), "has no rule with priority 99 (it has: ['10', 'default'])"),
    (dict(weights={"shift-a": 1, "__arn_a__": 1}), "same target group more than once"),
])
def test_bad_input_fails_with_a_clear_message_and_changes_nothing(moto, alb, args, message):
    args = dict(args)
    if "__arn_a__" in args.get("weights", {}):
        args["weights"] = {"shift-a": 1, alb["tgs"]["a"]: 1}
    args.setdefault("listener_arn", alb["listener_arn"])
    args = dict((k, v) for k, v in args.items() if v is not None)
    result = run_playbook(localhost_play([shift("bad", **args)], moto.url))
    assert result.rc != 0
    assert message in result.task("bad")["msg"], result.task("bad")["msg"]
    assert api_weights(listener_actions(alb)) == {alb["tgs"]["a"]: None}


def test_listener_without_forward_action_is_refused(moto, alb):
    elbv2 = alb["elbv2"]
    fixed = elbv2.create_listener(LoadBalancerArn=alb["lb"]["LoadBalancerArn"], Protocol="HTTP", Port=8080, DefaultActions=[
        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503", "ContentType": "text/plain"}}])["Listeners"][0]
    result = run_playbook(localhost_play([shift("fixed", listener_arn=fixed["ListenerArn"], weights={"shift-a": 1})], moto.url))
    assert result.rc != 0
    assert "has no forward action (its actions: ['fixed-response'])" in result.task("fixed")["msg"]
    assert json.dumps(elbv2.describe_listeners(ListenerArns=[fixed["ListenerArn"]])["Listeners"][0]["DefaultActions"]).count("forward") == 0


@pytest.mark.lab
def test_shift_read_back_and_rerun_against_the_lab(request):
    """In the lab's API, on an ALB of the test's own (the lab's own listeners stay untouched for other tests)."""
    import boto3

    endpoint = os.environ.get("LAB_AWS_ENDPOINT")
    if not endpoint:
        try:
            lab = request.getfixturevalue("lab")
        except pytest.FixtureLookupError:
            pytest.skip("no lab fixture and no LAB_AWS_ENDPOINT")
        endpoint = getattr(lab, "endpoint", None)
    if not endpoint:
        pytest.skip("the lab fixture exposes no AWS endpoint")
    clients = dict((s, boto3.client(s, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                                    aws_secret_access_key="testing")) for s in ("ec2", "elbv2"))
    suffix = uuid.uuid4().hex[:6]
    world = make_alb(clients["ec2"], clients["elbv2"], name="shift-lab-" + suffix, prefix="sl" + suffix)
    tgs = world["tgs"]
    try:
        args = dict(listener_arn=world["listener_arn"], live_target_group=tgs["a"], candidate_target_group=tgs["b"])
        # An ARN is used as it is, not looked up: the write itself refuses one that does not exist (as AWS does).
        ghost = tgs["c"].replace("/sl%s-c/" % suffix, "/sl%s-ghost/" % suffix)
        play = localhost_play([shift("ten", candidate_percent=10, **args), shift("rerun", candidate_percent=10, **args),
                               shift("back", candidate_percent=0, **args),
                               dict(shift("ghost", listener_arn=world["listener_arn"], weights={tgs["a"]: 1, ghost: 1}),
                                    ignore_errors=True)], endpoint)
        result = run_playbook(play)
        assert result.rc == 0, result
        assert "TargetGroupNotFound" in result.task("ghost")["msg"], result.task("ghost")["msg"]
        assert result.task("ten")["changed"] is True
        assert result.task("ten")["current"]["weights"] == {tgs["a"]: 90, tgs["b"]: 10}
        assert result.task("rerun")["changed"] is False
        assert result.task("back")["changed"] is True
        assert api_weights(listener_actions(world)) == {tgs["a"]: 100, tgs["b"]: 0}
    finally:
        world["elbv2"].delete_load_balancer(LoadBalancerArn=world["lb"]["LoadBalancerArn"])


def test_exact_turns_a_plain_forward_into_a_weighted_one_of_the_same_traffic_and_back(moto, alb):
    """What adoption needs: the same traffic written in another form (shares alone would call it unchanged)."""
    tgs = alb["tgs"]
    weighted = dict(listener_arn=alb["listener_arn"], weights={tgs["a"]: 100, "shift-b": 0})
    play = localhost_play([
        shift("same shares", **weighted),
        shift("exact", exact=True, **weighted),
        shift("exact again", exact=True, **weighted),
        shift("drop b", listener_arn=alb["listener_arn"], weights={tgs["a"]: 100}, exact=True),
    ], moto.url)
    result = run_playbook(play, diff=True)
    assert result.rc == 0, result
    assert result.task("same shares")["changed"] is False
    assert result.task("exact")["changed"] is True and result.task("exact again")["changed"] is False
    assert result.task("exact")["diff"]["after"]["weights"] == {"shift-a": 100, "shift-b": 0}
    assert result.task("drop b")["changed"] is True
    assert api_weights(listener_actions(alb)) == {tgs["a"]: 100}
    assert [a["Type"] for a in listener_actions(alb)] == ["authenticate-oidc", "forward"]
