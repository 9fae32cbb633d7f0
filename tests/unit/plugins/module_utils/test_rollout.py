import datetime

from ansible_collections.progressive.delivery.plugins.module_utils import rollout


def service(primary_state="COMPLETED", running=4, desired=4, old_running=0, taskdef="arn:aws:ecs:us-east-1:1:task-definition/myapp:7"):
    deployments = [{"id": "ecs-svc/2", "status": "PRIMARY", "rolloutState": primary_state, "runningCount": running,
                    "taskDefinition": taskdef}]
    if old_running is not None:
        deployments.append({"id": "ecs-svc/1", "status": "ACTIVE", "runningCount": old_running})
    return {"desiredCount": desired, "deployments": deployments}


def test_done_needs_completed_rollout_all_running_no_old_tasks_and_healthy_targets():
    assert rollout.judge(service(), 4)[0] == rollout.DONE
    assert rollout.judge(service(primary_state="IN_PROGRESS"), 4)[0] == rollout.WAITING
    assert rollout.judge(service(running=3), 4)[0] == rollout.WAITING
    assert rollout.judge(service(old_running=1), 4)[0] == rollout.WAITING
    status, reason = rollout.judge(service(), 2)
    assert status == rollout.WAITING and "2/4 targets healthy" in reason
    assert rollout.judge(service(), None)[0] == rollout.DONE
    assert rollout.judge(service(), 2, min_healthy=2)[0] == rollout.DONE


def test_failed_rollout_and_dying_tasks_fail():
    status, reason = rollout.judge(dict(service(primary_state="FAILED"), **{}), 0)
    assert status == rollout.FAILED and "failed" in reason
    status, reason = rollout.judge(service(primary_state="IN_PROGRESS", running=0), 0, stopped_failures=3, max_stopped=3)
    assert status == rollout.FAILED and "3 tasks" in reason


def test_wrong_task_definition_fails():
    assert rollout.judge(service(), 4, expected_task_definition="myapp:7")[0] == rollout.DONE
    assert rollout.judge(service(), 4, expected_task_definition="myapp:8")[0] == rollout.FAILED


def test_no_primary_deployment_is_waiting():
    assert rollout.judge({"deployments": []}, None)[0] == rollout.WAITING


def test_stopped_task_reasons_and_recent_events():
    tasks = [{"taskArn": "arn:task/prod/abc", "taskDefinitionArn": "arn:td/myapp:8",
              "stoppedReason": "Task failed ELB health checks in (target-group arn:tg/b)",
              "containers": [{"name": "myapp", "exitCode": 137}]}]
    line = rollout.stopped_task_reasons(tasks)[0]
    assert "abc" in line and "myapp:8" in line and "ELB health checks" in line and "exit 137" in line
    t0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    svc = {"events": [{"createdAt": t0 + datetime.timedelta(seconds=s), "message": "m%d" % s} for s in (30, 10, 20)]}
    assert rollout.recent_events(svc, t0.timestamp() + 15) == ["m20", "m30"]


def test_target_health_is_read_only_once_the_service_itself_is_done():
    assert rollout.waits_on_health(service())
    assert not rollout.waits_on_health(service(primary_state="IN_PROGRESS"))
    assert not rollout.waits_on_health(service(running=3))
    assert not rollout.waits_on_health(service(old_running=1))
    assert not rollout.waits_on_health(service(), expected_task_definition="myapp:8")
    assert not rollout.waits_on_health({"deployments": []})


def test_stopped_tasks_are_read_only_while_the_deployment_counts_failures():
    quiet = service(primary_state="IN_PROGRESS", running=1)
    assert not rollout.has_failures(quiet)
    quiet["deployments"][0]["failedTasks"] = 0
    assert not rollout.has_failures(quiet)
    quiet["deployments"][0]["failedTasks"] = 1
    assert rollout.has_failures(quiet)
    assert rollout.has_failures(service(primary_state="FAILED"))
    assert not rollout.has_failures({"deployments": []})
