import datetime

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import capacity as cap


def service(**kw):
    base = {"serviceName": "myapp-a", "desiredCount": 4, "runningCount": 4, "launchType": "FARGATE",
            "deployments": [{"status": "PRIMARY", "rolloutState": "COMPLETED"}], "events": []}
    base.update(kw)
    return base


@pytest.mark.parametrize("svc,expect", [
    ({"launchType": "FARGATE"}, "FARGATE"),
    ({"launchType": "EC2"}, "EC2"),
    ({"launchType": "EXTERNAL"}, "EC2"),
    ({"capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}]}, "FARGATE"),
    ({"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}, "FARGATE_SPOT"),
    ({"capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1, "base": 2},
                                   {"capacityProvider": "FARGATE_SPOT", "weight": 3}]}, "FARGATE"),
    ({"capacityProviderStrategy": [{"capacityProvider": "my-asg-provider", "weight": 1}]}, "EC2"),
])
def test_launch_type(svc, expect):
    assert cap.launch_type(svc) == expect


def test_task_size_task_level_else_container_sums():
    assert cap.task_size({"cpu": "256", "memory": "512", "containerDefinitions": [{"cpu": 10, "memory": 64}]}) == (256, 512)
    assert cap.task_size({"containerDefinitions": [{"cpu": 128, "memory": 256}, {"memoryReservation": 64}]}) == (128, 320)
    assert cap.task_size({"containerDefinitions": [{"name": "x"}]}) == (0, 0)


def test_steady_service_has_no_problems():
    assert cap.steadiness(service(), healthy_targets=4) == []
    assert cap.steadiness(service(), healthy_targets=5) == []


@pytest.mark.parametrize("change,healthy,words", [
    ({"deployments": [{"status": "PRIMARY", "rolloutState": "IN_PROGRESS", "rolloutStateReason": "ECS deployment ecs-svc/1 in progress."}]},
     4, "rollout is IN_PROGRESS (ECS deployment ecs-svc/1 in progress.)"),
    ({"deployments": [{"status": "PRIMARY", "rolloutState": "FAILED"}]}, 4, "rollout is FAILED"),
    ({"runningCount": 3}, 4, "running 3 of 4 desired tasks"),
    ({}, 3, "only 3 healthy target(s) in tg for 4 desired"),
    ({"desiredCount": 0, "runningCount": 0}, 0, "runs nothing"),
    ({"deployments": [{"status": "PRIMARY", "rolloutState": "COMPLETED"}, {"status": "ACTIVE"}]}, 4, "1 older deployment(s) still ACTIVE"),
    ({"deployments": []}, 4, "no PRIMARY deployment"),
])
def test_unsteady_service_says_why(change, healthy, words):
    problems = cap.steadiness(service(**change), healthy_targets=healthy, target_group_name="tg")
    assert any(words in p for p in problems), problems


def test_unknown_health_is_not_judged():
    assert cap.steadiness(service(), healthy_targets=None) == []


def test_recent_events_newest_first_limited():
    when = datetime.datetime(2026, 12, 1, 23, 0, 0)
    events = [{"createdAt": when, "message": "m%d" % i} for i in range(8)]
    assert cap.recent_events(service(events=events), limit=2) == ["2026-12-01T23:00:00Z m0", "2026-12-01T23:00:00Z m1"]


@pytest.mark.parametrize("desired,candidate,needed", [(4, 0, 4), (4, 4, 0), (4, 2, 2), (4, 6, 0)])
def test_tasks_needed(desired, candidate, needed):
    assert cap.tasks_needed(desired, candidate) == needed


def test_fargate_room_and_shortfall():
    ok = cap.fargate_capacity(quota_vcpus=6, in_use_vcpus=1.0, task_cpu_units=256, tasks=4)
    assert ok["ok"] and ok["needed"] == 1.0 and ok["after"] == 2.0
    exact = cap.fargate_capacity(quota_vcpus=2, in_use_vcpus=1.0, task_cpu_units=256, tasks=4)
    assert exact["ok"]
    short = cap.fargate_capacity(quota_vcpus=1.5, in_use_vcpus=1.0, task_cpu_units=256, tasks=4)
    assert not short["ok"] and "0.5 above the quota" in short["message"] and "L-3032A538" in short["message"]
    big = cap.fargate_capacity(quota_vcpus=100, in_use_vcpus=90, task_cpu_units=4096, tasks=3)
    assert not big["ok"] and big["needed"] == 12.0


def instance(cpu, mem, status="ACTIVE", connected=True):
    return {"status": status, "agentConnected": connected,
            "remainingResources": [{"name": "CPU", "integerValue": cpu}, {"name": "MEMORY", "integerValue": mem}]}


def test_ec2_capacity_is_per_instance_not_pooled():
    # 2 x 384 CPU units left: pooled 768 would hold 3 tasks of 256, per instance only 1 + 1.
    result = cap.ec2_capacity([instance(384, 4096), instance(384, 4096)], 256, 512, 3)
    assert result["fits"] == 2 and not result["ok"] and "add container instances" in result["message"]
    assert cap.ec2_capacity([instance(1024, 4096), instance(384, 4096)], 256, 512, 5)["ok"]


def test_ec2_capacity_memory_bound_and_inactive_instances_ignored():
    result = cap.ec2_capacity([instance(4096, 1000), instance(4096, 8192, status="DRAINING"),
                               instance(4096, 8192, connected=False)], 256, 512, 2)
    assert result["fits"] == 1 and result["instances"] == 1 and not result["ok"]


def test_ec2_capacity_without_instances():
    assert not cap.ec2_capacity([], 256, 512, 1)["ok"]
    assert cap.ec2_capacity([], 256, 512, 0)["ok"]


def test_task_cap_optional():
    assert cap.task_cap(0, 999, 4)["ok"]
    assert cap.task_cap(10, 6, 4)["ok"]
    refused = cap.task_cap(10, 7, 4)
    assert not refused["ok"] and "ecs_validate_max_cluster_tasks" in refused["message"]


def test_live_check_message():
    from ansible_collections.progressive.delivery.plugins.module_utils.capacity import live_check_message
    service = {"serviceName": "myapp-a", "runningCount": 4, "desiredCount": 4}
    steady = {"steady": True, "problems": [], "events": [], "healthy_targets": 4,
              "capacity": [{"ok": True, "message": "Fargate On-Demand vCPU quota 6, 1 in use"}]}
    assert live_check_message(service, steady) == ("live service myapp-a is steady (4/4 running, 4 healthy targets); "
                                                   "Fargate On-Demand vCPU quota 6, 1 in use")
    assert live_check_message(service, dict(steady, capacity=[]), check_steady=False) == ""
    shaky = dict(steady, steady=False, problems=["running 3 of 4 desired tasks"], events=["e1", "e2"], capacity=[])
    assert live_check_message(service, shaky) == ("live service myapp-a is not steady: running 3 of 4 desired tasks. "
                                                  "Recent events: e1 | e2. Let it settle (or fix it) before deploying")
