"""The adoption plan (plugins/module_utils/adopt.py): what is created, what is left alone, and every refusal."""
import copy

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import adopt

LB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/myapp-alb/50dc6c495c0c9188"
OTHER_LB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/other/1111111111111111"
TG_A = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/myapp-tg-blue/aaaaaaaaaaaaaaaa"
TG_B = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/myapp-tg-green/bbbbbbbbbbbbbbbb"
TD = "arn:aws:ecs:us-east-1:123456789012:task-definition/myapp:7"
SLOTS = {"a": {"service": "myapp-ecs-service", "target_group": "myapp-tg-blue"},
         "b": {"service": "myapp-ecs-service-b", "target_group": "myapp-tg-green"}}
LOAD_BALANCER = {"LoadBalancerArn": LB, "LoadBalancerName": "myapp-alb", "Type": "application"}
PLAIN = [{"Type": "forward", "TargetGroupArn": TG_A}]


def live_service(**changes):
    service = {
        "serviceName": "myapp-ecs-service", "status": "ACTIVE", "taskDefinition": TD, "desiredCount": 4, "runningCount": 4,
        "launchType": "FARGATE", "platformVersion": "LATEST", "schedulingStrategy": "REPLICA",
        "deploymentController": {"type": "ECS"},
        "deploymentConfiguration": {"maximumPercent": 200, "minimumHealthyPercent": 50,
                                    "deploymentCircuitBreaker": {"enable": False, "rollback": False}},
        "loadBalancers": [{"targetGroupArn": TG_A, "containerName": "myapp", "containerPort": 8080}],
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1", "subnet-2"], "securityGroups": ["sg-1"],
                                                         "assignPublicIp": "DISABLED"}},
        "healthCheckGracePeriodSeconds": 30, "propagateTags": "SERVICE", "enableExecuteCommand": False,
        "placementConstraints": [], "placementStrategy": [],
        "tags": [{"key": "app", "value": "myapp"}, {"key": "team", "value": "payments"}],
    }
    service.update(changes)
    return service


def target_group(arn=TG_A, name="myapp-tg-blue", lbs=(LB,), **changes):
    tg = {"TargetGroupArn": arn, "TargetGroupName": name, "Protocol": "HTTP", "Port": 8080, "VpcId": "vpc-1",
          "TargetType": "ip", "HealthCheckProtocol": "HTTP", "HealthCheckPort": "traffic-port", "HealthCheckPath": "/health",
          "HealthCheckIntervalSeconds": 5, "HealthCheckTimeoutSeconds": 2, "HealthyThresholdCount": 2,
          "UnhealthyThresholdCount": 2, "Matcher": {"HttpCode": "200"}, "LoadBalancerArns": list(lbs)}
    tg.update(changes)
    return tg


ATTRIBUTES = [{"Key": "deregistration_delay.timeout_seconds", "Value": "5"}, {"Key": "stickiness.enabled", "Value": "false"},
              {"Key": "slow_start.duration_seconds", "Value": "0"}]


def present(services=None, live_tg="default", tg_b=None, actions=None, test=None, slots=None, lb=LOAD_BALANCER):
    return adopt.plan_present("prod", slots or SLOTS, services or {"a": live_service(), "b": None},
                              target_group() if live_tg == "default" else live_tg, ATTRIBUTES, [{"Key": "app", "Value": "myapp"}],
                              tg_b, lb, PLAIN if actions is None else actions, "listener :80", test)


def test_a_single_service_behind_a_plain_forward_is_planned_into_slots_with_slot_a_untouched():
    plan = present()
    assert plan["refusal"] is None
    assert plan["changes"][0].startswith("slot a: service myapp-ecs-service and target group myapp-tg-blue as they are")
    tg = plan["target_group"]
    assert tg["name"] == "myapp-tg-green" and tg["vpc_id"] == "vpc-1" and tg["port"] == 8080 and tg["target_type"] == "ip"
    assert (tg["health_check_path"], tg["health_check_interval"], tg["healthy_threshold_count"]) == ("/health", 5, 2)
    assert tg["successful_response_codes"] == "200" and tg["deregistration_delay_timeout"] == 5
    assert tg["tags"] == {"app": "myapp"} and "stickiness_enabled" not in tg
    assert plan["listener"] == {"weights": {TG_A: 100, "myapp-tg-green": 0}, "stickiness_duration": 0}
    service = plan["service"]
    assert service["name"] == "myapp-ecs-service-b" and service["desired_count"] == 0
    assert service["task_definition"] == "myapp:7"     # family:revision - ecs_service is idempotent with it
    assert service["load_balancers"] == [{"containerName": "myapp", "containerPort": 8080}]
    assert service["network_configuration"] == {"subnets": ["subnet-1", "subnet-2"], "security_groups": ["sg-1"],
                                                 "assign_public_ip": False}
    assert service["launch_type"] == "FARGATE" and "platform_version" not in service
    assert service["deployment_configuration"] == {"maximum_percent": 200, "minimum_healthy_percent": 50,
                                                   "deployment_circuit_breaker": {"enable": True, "rollback": False}}
    assert service["deployment_controller"] == {"type": "ECS"}
    assert service["tags"] == {"app": "myapp", "team": "payments"} and service["propagate_tags"] == "SERVICE"
    assert service["health_check_grace_period_seconds"] == 30
    assert plan["before"]["forward"] == {"myapp-tg-blue": 100} and plan["before"]["slot_b"]["service"] is None
    assert plan["after"]["forward"] == {"myapp-tg-blue": 100, "myapp-tg-green": 0}
    assert plan["test_route"] is None


def test_capacity_providers_are_copied_instead_of_a_launch_type():
    service = live_service(launchType=None, capacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 3}])
    spec = present(services={"a": service, "b": None})["service"]
    assert spec["capacity_provider_strategy"] == [{"capacity_provider": "FARGATE_SPOT", "weight": 3, "base": 0}]
    assert "launch_type" not in spec


def test_lb_cookie_stickiness_of_the_live_target_group_is_copied():
    attributes = ATTRIBUTES[:1] + [{"Key": "stickiness.enabled", "Value": "true"}, {"Key": "stickiness.type", "Value": "lb_cookie"},
                                   {"Key": "stickiness.lb_cookie.duration_seconds", "Value": "600"}]
    spec = adopt.target_group_spec(target_group(), attributes, [], "x")
    assert (spec["stickiness_enabled"], spec["stickiness_type"], spec["stickiness_lb_cookie_duration"]) == (True, "lb_cookie", 600)


def test_a_rerun_after_adoption_or_after_deployments_plans_nothing():
    adopted = {"a": live_service(), "b": live_service(serviceName="myapp-ecs-service-b", desiredCount=0, loadBalancers=[
        {"targetGroupArn": TG_B, "containerName": "myapp", "containerPort": 8080}])}
    for weights in ((100, 0), (0, 100), (90, 10)):
        actions = [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": TG_A, "Weight": weights[0]}, {"TargetGroupArn": TG_B, "Weight": weights[1]}]}}]
        plan = present(services=adopted, tg_b=target_group(TG_B, "myapp-tg-green"), actions=actions)
        assert plan["refusal"] is None
        assert (plan["target_group"], plan["listener"], plan["service"]) == (None, None, None), weights
        assert len(plan["changes"]) == 1


def test_a_run_stopped_after_the_target_group_resumes_with_the_listener_and_the_service():
    plan = present(tg_b=target_group(TG_B, "myapp-tg-green", lbs=()))
    assert plan["target_group"] is None and plan["listener"]["weights"] == {TG_A: 100, "myapp-tg-green": 0}
    assert plan["service"]["name"] == "myapp-ecs-service-b"


def test_stickiness_of_the_forward_is_kept():
    actions = [{"Type": "forward", "TargetGroupArn": TG_A, "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": TG_A, "Weight": 1}],
        "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 300}}}]
    assert present(actions=actions)["listener"]["stickiness_duration"] == 300


@pytest.mark.parametrize("service,expect", [
    (None, "is not an ACTIVE service in cluster prod"),
    (live_service(status="DRAINING"), "is not an ACTIVE service"),
    (live_service(deploymentController={"type": "CODE_DEPLOY"}), "deployed by CodeDeploy"),
    (live_service(deploymentController={"type": "EXTERNAL"}), "EXTERNAL deployment controller"),
    (live_service(schedulingStrategy="DAEMON"), "DAEMON"),
    (live_service(loadBalancers=[]), "has no load balancer"),
    (live_service(loadBalancers=[{"loadBalancerName": "classic-elb", "containerName": "myapp", "containerPort": 8080}]),
     "Classic Load Balancer classic-elb"),
    (live_service(loadBalancers=[{"targetGroupArn": TG_A, "containerName": "myapp", "containerPort": 8080},
                                 {"targetGroupArn": TG_B, "containerName": "myapp", "containerPort": 9090}]),
     "registered in 2 target groups (myapp-tg-blue, myapp-tg-green)"),
])
def test_services_that_cannot_be_adopted_are_refused_with_what_to_do(service, expect):
    plan = present(services={"a": service, "b": None})
    assert expect in plan["refusal"]
    assert plan["target_group"] is None and plan["service"] is None and plan["listener"] is None


@pytest.mark.parametrize("live_tg,lb,expect", [
    (target_group(lbs=()), LOAD_BALANCER, "is not used by any load balancer"),
    (target_group(Protocol="TCP"), LOAD_BALANCER, "network or gateway load balancer"),
    (target_group(), dict(LOAD_BALANCER, Type="network"), "adoption needs an application load balancer"),
    (target_group(lbs=(OTHER_LB,)), LOAD_BALANCER, "is not behind load balancer myapp-alb (it is behind other)"),
    (target_group(name="myapp-tg-other"), LOAD_BALANCER, "ecs_validate_slot_names.a.target_group is myapp-tg-blue"),
])
def test_target_groups_and_load_balancers_that_cannot_be_adopted_are_refused(live_tg, lb, expect):
    assert expect in present(live_tg=live_tg, lb=lb)["refusal"]


@pytest.mark.parametrize("actions,expect", [
    ([{"Type": "redirect"}], "does not forward (its actions: ['redirect']): name the listener rule"),
    ([{"Type": "forward", "TargetGroupArn": TG_B}], "forwards to myapp-tg-green, not to myapp-tg-blue"),
    ([{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": TG_A, "Weight": 1},
                                                             {"TargetGroupArn": TG_B.replace("green", "x"), "Weight": 1}]}}],
     "besides myapp-tg-blue"),
])
def test_listeners_that_do_not_forward_to_the_service_alone_are_refused(actions, expect):
    assert expect in present(actions=actions)["refusal"]


def test_an_existing_slot_b_target_group_or_service_that_does_not_fit_is_refused():
    assert "exists with Port 9090" in present(tg_b=target_group(TG_B, "myapp-tg-green", Port=9090))["refusal"]
    assert "used by another load balancer" in present(tg_b=target_group(TG_B, "myapp-tg-green", lbs=(OTHER_LB,)))["refusal"]
    squatter = live_service(serviceName="myapp-ecs-service-b")   # on slot a's target group
    assert "is not registered in myapp-tg-green alone" in present(services={"a": live_service(), "b": squatter})["refusal"]


def test_a_test_listener_is_planned_when_missing_kept_when_right_refused_when_taken():
    plan = present(test={"port": 9000, "protocol": "HTTP", "existing": None})
    assert plan["test_route"] == {"port": 9000, "protocol": "HTTP", "target_group": "myapp-tg-green"}
    assert plan["changes"][-1] == "create test listener :9000 forwarding to myapp-tg-green"
    mine = {"DefaultActions": [{"Type": "forward", "TargetGroupArn": TG_B}]}
    assert present(tg_b=target_group(TG_B, "myapp-tg-green"), test={"port": 9000, "existing": mine})["test_route"] is None
    taken = {"DefaultActions": [{"Type": "forward", "TargetGroupArn": TG_A}]}
    assert "port 9000 is taken: it forwards to myapp-tg-blue" in present(test={"port": 9000, "existing": taken})["refusal"]


def test_a_header_rule_is_planned_and_a_rule_with_other_conditions_at_its_priority_refused():
    header = {"name": "X-Slot", "values": ["candidate"]}
    plan = present(test={"priority": 5, "header": header, "existing": None})
    assert plan["test_route"]["priority"] == 5 and "header X-Slot ['candidate']" in plan["changes"][-1]
    other = {"Actions": [{"Type": "forward", "TargetGroupArn": TG_B}], "Conditions": [
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/x"]}}]}
    refused = present(tg_b=target_group(TG_B, "myapp-tg-green"), test={"priority": 5, "header": header, "existing": other})
    assert "matches other conditions" in refused["refusal"]


@pytest.mark.parametrize("slots,expect", [
    ({"a": {"service": "s", "target_group": "t"}, "b": {"service": "s", "target_group": "u"}}, "the same service s"),
    ({"a": {"service": "s", "target_group": "t"}, "b": {"service": "r", "target_group": "t"}}, "the same target group t"),
    ({"a": {"service": "s", "target_group": "t"}, "b": {"service": "", "target_group": "u"}}, "ecs_validate_slot_names.b.service is empty"),
    ({"a": {"service": "s", "target_group": "t" * 33}, "b": {"service": "r", "target_group": "u"}}, "not a valid target group name"),
    ({"a": {"service": "s", "target_group": "t_x"}, "b": {"service": "r", "target_group": "u"}}, "not a valid target group name"),
])
def test_slot_names_are_checked_before_any_call(slots, expect):
    assert any(expect in e for e in adopt.check_slot_names(slots))


def test_good_slot_names_pass():
    assert adopt.check_slot_names(SLOTS) == []


# ---------------------------------------------------------------- folding back

def weighted(a, b):
    return [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": TG_A, "Weight": a}, {"TargetGroupArn": TG_B, "Weight": b}]}}]


ADOPTED = {"a": live_service(), "b": live_service(serviceName="myapp-ecs-service-b", desiredCount=0, runningCount=0)}
TGS = {"a": target_group(), "b": target_group(TG_B, "myapp-tg-green")}


def test_folding_back_keeps_the_live_slot_and_removes_the_other_in_order():
    plan = adopt.plan_absent(SLOTS, ADOPTED, TGS, weighted(100, 0), "listener :80", lock={},
                             test={"port": 9000, "existing": {"ListenerArn": "l"}})
    assert plan["refusal"] is None and (plan["keep"], plan["remove"]) == ("a", "b")
    assert plan["listener"] == {"weights": {TG_A: 100}, "stickiness_duration": 0}
    assert plan["service"]["name"] == "myapp-ecs-service-b" and plan["target_group"]["arn"] == TG_B
    assert plan["changes"][0].startswith("keep slot a: service myapp-ecs-service on myapp-tg-blue")
    assert [c.split(" ")[0] for c in plan["changes"][1:]] == ["delete", "listener", "delete", "delete"]


def test_folding_back_after_a_deployment_keeps_slot_b():
    plan = adopt.plan_absent(SLOTS, ADOPTED, TGS, weighted(0, 100), "listener :80")
    assert (plan["keep"], plan["remove"]) == ("b", "a")
    assert plan["listener"]["weights"] == {TG_B: 100} and plan["service"]["name"] == "myapp-ecs-service"


def test_folding_back_twice_plans_nothing():
    plan = adopt.plan_absent(SLOTS, {"a": live_service(), "b": None}, {"a": TGS["a"], "b": None}, PLAIN, "listener :80")
    assert plan["refusal"] is None and plan["changes"] == [] and plan["keep"] == "a"


@pytest.mark.parametrize("actions,lock,expect", [
    (weighted(90, 10), None, "splits traffic"),
    (weighted(100, 0), {"execution_id": "e1", "digest": "sha256:1"}, "lock is held by execution e1"),
    ([{"Type": "forward", "TargetGroupArn": TG_A.replace("blue", "x")}], None, "forwards to neither slot"),
])
def test_folding_back_is_refused_mid_deployment(actions, lock, expect):
    assert expect in adopt.plan_absent(SLOTS, ADOPTED, TGS, actions, "listener :80", lock=lock)["refusal"]


def test_tags_and_forward_helpers():
    assert adopt.tags_dict([{"key": "a", "value": "1"}, {"Key": "b", "Value": "2"}]) == {"a": "1", "b": "2"}
    assert adopt.forward_of(PLAIN) == (0, {TG_A: 100})
    assert adopt.forward_of([{"Type": "fixed-response"}]) == (None, {})
    assert copy.deepcopy(SLOTS) == SLOTS
