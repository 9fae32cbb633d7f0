from aws_world import DIGEST_LIVE, DIGEST_NEW, REPO_URI, blue_green
from harness import localhost_play, run_playbook


def slot_info(moto, **args):
    params = dict(cluster="prod-ecs-cluster", app="myapp", load_balancer="myapp-alb", listener_port=80, container_name="myapp")
    params.update(args)
    result = run_playbook(localhost_play([{"name": "info", "progressive.delivery.ecs_slot_info": params}], moto.url))
    return result


def test_at_rest_live_slot_and_candidate(moto):
    world = blue_green(moto)
    result = slot_info(moto, digest=DIGEST_NEW)
    assert result.rc == 0, result
    info = result.task("info")
    assert info["changed"] is False
    assert (info["live_slot"], info["candidate_slot"], info["state"], info["candidate_percent"]) == ("a", "b", "at_rest", 0)
    assert info["live"]["digest"] == DIGEST_LIVE
    assert info["live"]["desired_count"] == 2
    assert info["slots"]["b"]["target_group_arn"] == world["target_groups"]["b"]
    assert info["slots"]["a"]["target_group_dimension"].startswith("targetgroup/myapp-a/")
    assert info["load_balancer_dimension"].startswith("app/myapp-alb/")
    assert info["percentages"] == {"a": 100, "b": 0}


def test_mid_shift_resume_is_found_from_aws(moto):
    blue_green(moto, live_weight=50, candidate_image=REPO_URI + "@" + DIGEST_NEW)
    info = slot_info(moto, digest=DIGEST_NEW).task("info")
    assert (info["live_slot"], info["candidate_slot"], info["state"], info["candidate_percent"]) == ("a", "b", "in_progress", 50)
    other = slot_info(moto, digest="sha256:" + "c" * 64).task("info")
    assert other["state"] == "foreign_in_progress"


def test_unknown_listener_port_and_bad_digest_fail_clearly(moto):
    blue_green(moto)
    result = slot_info(moto, listener_port=443)
    assert result.rc != 0
    assert "no listener on port 443" in result.task("info")["msg"] and "[80]" in result.task("info")["msg"]
    result = slot_info(moto, digest="latest")
    assert "digest must look like sha256:" in result.task("info")["msg"]


def test_test_listener_health_checks_and_live_check_come_with_the_slots(moto):
    """What later phases used to look up again comes with the slots; the live check agrees with ecs_live_check."""
    world = blue_green(moto)
    elbv2 = moto.client("elbv2")
    lb = elbv2.describe_load_balancers(Names=["myapp-alb"])["LoadBalancers"][0]["LoadBalancerArn"]
    test = elbv2.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=9000, DefaultActions=[{
        "Type": "forward", "TargetGroupArn": world["target_groups"]["b"]}])["Listeners"][0]["ListenerArn"]
    result = slot_info(moto, digest=DIGEST_NEW, test_listener_port=9000, check_steady=True, check_capacity=False)
    assert result.rc == 0, result
    info = result.task("info")
    assert info["test_listener_arn"] == test
    health = info["candidate"]["target_group_health_check"]
    assert health["health_check_path"] == "/health" and health["health_check_protocol"] == "HTTP", health
    assert {"health_check_interval_seconds", "health_check_timeout_seconds", "healthy_threshold_count",
            "unhealthy_threshold_count", "matcher"} <= set(health), health
    assert info["live"]["target_group_dimension"].startswith("targetgroup/myapp-a/")
    assert info["candidate"]["target_group_dimension"].startswith("targetgroup/myapp-b/")
    live_check = info["live_check"]
    assert set(live_check) >= {"ok", "message", "steady", "problems", "events", "capacity", "capacity_ok"}
    standalone = run_playbook(localhost_play([{"name": "live", "progressive.delivery.ecs_live_check": dict(
        cluster="prod-ecs-cluster", service="myapp-a", target_group_arn=world["target_groups"]["a"],
        check_capacity=False)}], moto.url)).task("live")
    assert (live_check["ok"], live_check["problems"], live_check["message"]) == (
        standalone["ok"], standalone["problems"], standalone["message"])
    # no test listener on the port: null, not a failure
    assert slot_info(moto, digest=DIGEST_NEW, test_listener_port=9999).task("info")["test_listener_arn"] is None
