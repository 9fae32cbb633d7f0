"""ecs_slot_update through ansible-playbook against a bare moto server: only the writes, from what the plan knows."""
from aws_world import blue_green
from harness import localhost_play, run_playbook

HEALTH = {"path": "/ready", "interval": 15, "timeout": 5, "healthy_threshold": 2, "unhealthy_threshold": 3}


def slot_entry(moto, world, slot="b"):
    """The slot as ecs_slot_info reports it (what the roles pass as current)."""
    ecs = moto.client("ecs")
    service = ecs.describe_services(cluster="prod-ecs-cluster", services=["myapp-" + slot], include=["TAGS"])["services"][0]
    return {"service_name": service["serviceName"], "service_arn": service["serviceArn"],
            "task_definition": service["taskDefinition"], "desired_count": service["desiredCount"],
            "tags": dict((t["key"], t["value"]) for t in service.get("tags", [])),
            "target_group_arn": world["target_groups"][slot]}


def update(moto, args, check=False, diff=False):
    task = {"name": "update", "progressive.delivery.ecs_slot_update": dict({"cluster": "prod-ecs-cluster", "service": "myapp-b"}, **args)}
    return run_playbook(localhost_play([task], moto.url), check=check, diff=diff)


def test_health_check_tags_and_service_in_one_run_read_back_then_idempotent(moto):
    world = blue_green(moto)
    ecs, elbv2 = moto.client("ecs"), moto.client("elbv2")
    live_td = world["services"]["a"]["taskDefinition"]
    args = {"current": slot_entry(moto, world), "target_group_arn": world["target_groups"]["b"], "health_check": HEALTH,
            "tags": {"progressive.delivery/execution-id": "exec-1"}, "task_definition": live_td.rsplit("/", 1)[1],
            "desired_count": 2}

    checked = update(moto, args, check=True, diff=True)
    assert checked.rc == 0, checked.failures()
    assert checked.task("update")["changed"] and checked.task("update")["updated"] == ["health_check", "tags", "service"]
    assert ecs.describe_services(cluster="prod-ecs-cluster", services=["myapp-b"])["services"][0]["desiredCount"] == 0
    assert elbv2.describe_target_groups(TargetGroupArns=[world["target_groups"]["b"]])["TargetGroups"][0]["HealthCheckPath"] == "/health"

    done = update(moto, args)
    assert done.rc == 0, done.failures()
    result = done.task("update")
    assert result["changed"] and result["updated"] == ["health_check", "tags", "service"]
    revision = live_td.rsplit("/", 1)[1]
    # read back from UpdateService's answer (moto echoes the family:revision given, AWS answers with the ARN)
    assert result["service"]["desired_count"] == 2 and result["service"]["task_definition"].rsplit("/", 1)[-1] == revision
    assert result["health_check"]["path"] == "/ready" and result["health_check"]["interval"] == 15
    service = ecs.describe_services(cluster="prod-ecs-cluster", services=["myapp-b"], include=["TAGS"])["services"][0]
    assert service["desiredCount"] == 2 and service["taskDefinition"].rsplit("/", 1)[-1] == revision
    tags = dict((t["key"], t["value"]) for t in service["tags"])
    assert tags == {"slot": "b", "progressive.delivery/execution-id": "exec-1"}
    group = elbv2.describe_target_groups(TargetGroupArns=[world["target_groups"]["b"]])["TargetGroups"][0]
    assert (group["HealthCheckPath"], group["HealthCheckIntervalSeconds"], group["HealthyThresholdCount"]) == ("/ready", 15, 2)

    # Again, with the slot as it is now (its target group's health check as ecs_slot_info gives it): nothing to write.
    args["current"] = dict(slot_entry(moto, world), target_group_health_check=group)
    again = update(moto, args)
    assert again.rc == 0 and not again.task("update")["changed"] and again.task("update")["updated"] == []
    # Without current, it reads the service and the target group itself: the same answer.
    alone = update(moto, dict(args, current=None))
    assert alone.rc == 0 and not alone.task("update")["changed"]


def test_what_the_plan_knows_is_not_read_again(moto):
    """current is trusted: a plan that says the slot already runs 2 tasks with the wanted health check makes no call
    that would change them, whatever AWS holds (the read the module skips is the one that would have told)."""
    world = blue_green(moto)
    td = world["services"]["b"]["taskDefinition"]
    current = dict(slot_entry(moto, world), desired_count=2, target_group_health_check={"HealthCheckPath": "/ready"})
    result = update(moto, {"current": current, "target_group_arn": world["target_groups"]["b"],
                           "health_check": {"path": "/ready"}, "task_definition": td, "desired_count": 2})
    assert result.rc == 0 and not result.task("update")["changed"]
    assert moto.client("ecs").describe_services(cluster="prod-ecs-cluster", services=["myapp-b"])["services"][0]["desiredCount"] == 0
    group = moto.client("elbv2").describe_target_groups(TargetGroupArns=[world["target_groups"]["b"]])["TargetGroups"][0]
    assert group["HealthCheckPath"] == "/health"


def test_scale_down_alone_reads_the_count_and_writes_it(moto):
    world = blue_green(moto)
    down = {"service": "myapp-a", "desired_count": 0}
    result = update(moto, down)
    assert result.rc == 0 and result.task("update")["updated"] == ["service"]
    assert moto.client("ecs").describe_services(cluster="prod-ecs-cluster", services=["myapp-a"])["services"][0]["desiredCount"] == 0
    assert not update(moto, down).task("update")["changed"]
    assert world["services"]["a"]["desiredCount"] == 2


def test_bad_input_is_refused_before_any_write(moto):
    world = blue_green(moto)
    bad = update(moto, {"target_group_arn": world["target_groups"]["b"], "health_check": {"interval": 5, "timeout": 6},
                        "desired_count": -1, "tags": {"x": "y"}})
    assert bad.rc != 0
    msg = bad.task("update")["msg"]
    assert "timeout (6) must be less than health_check.interval (5)" in msg and "desired_count must be 0 or more" in msg
    assert "nothing was changed" in msg
    service = moto.client("ecs").describe_services(cluster="prod-ecs-cluster", services=["myapp-b"], include=["TAGS"])["services"][0]
    assert "x" not in dict((t["key"], t["value"]) for t in service["tags"])
    missing = update(moto, {"service": "nope", "desired_count": 1})
    assert missing.rc != 0 and "service nope not found" in missing.task("update")["msg"]
