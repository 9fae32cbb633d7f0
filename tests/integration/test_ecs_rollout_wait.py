"""Against bare moto a new service never gets running tasks, so the wait must time out with a useful message."""
from aws_world import blue_green
from harness import localhost_play, run_playbook


def test_times_out_with_the_reason_and_check_mode_does_not_wait(moto):
    blue_green(moto)
    moto.client("ecs").update_service(cluster="prod-ecs-cluster", service="myapp-b", desiredCount=2)
    wait = {"cluster": "prod-ecs-cluster", "service": "myapp-b", "target_group": "myapp-b", "timeout": 3, "poll_interval": 1}
    result = run_playbook(localhost_play([{"name": "wait", "progressive.delivery.ecs_rollout_wait": wait}], moto.url))
    assert result.rc != 0
    task = result.task("wait")
    assert "not done after 3s" in task["msg"] and task["status"] == "waiting"
    assert 2.0 <= task["elapsed"] <= 6

    checked = run_playbook(localhost_play([{"name": "wait", "progressive.delivery.ecs_rollout_wait": wait}], moto.url), check=True)
    assert checked.rc == 0 and checked.task("wait")["elapsed"] < 2


def test_missing_service_fails_naming_it(moto):
    blue_green(moto)
    wait = {"cluster": "prod-ecs-cluster", "service": "nope", "timeout": 3}
    result = run_playbook(localhost_play([{"name": "wait", "progressive.delivery.ecs_rollout_wait": wait}], moto.url))
    assert "service nope not found" in result.task("wait")["msg"]
