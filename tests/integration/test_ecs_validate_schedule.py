"""The ecs_validate role refuses a malformed traffic schedule before it makes any AWS call."""
import pytest

from harness import localhost_play, run_playbook



SCHEDULE_TASK = ("Take the execution id, the traffic schedule (whole percents rising to 100), the lock's TTL and the ECR "
                 "push event's image")


def validate(moto, steps):
    play = localhost_play([{"name": "Validate", "ansible.builtin.include_role": {"name": "progressive.delivery.ecs_validate"}}],
                          moto.url, vars={"ecs_validate_app": "myapp", "ecs_validate_cluster": "prod-ecs-cluster",
                                          "ecs_validate_image_tag": "v1.2.3", "ecs_validate_steps": steps})
    return run_playbook(play)


@pytest.mark.parametrize("steps, message", [
    ([{"percent": 50, "watch_seconds": 0}, {"percent": 10, "watch_seconds": 0}, {"percent": 100, "watch_seconds": 0}],
     "ecs_validate_steps percents must rise strictly, got [50, 10, 100]"),
    ([{"percent": 10, "watch_seconds": 0}, {"percent": 90, "watch_seconds": 0}],
     "ecs_validate_steps must end at 100 percent, got [10, 90]"),
    ([{"percent": 10, "watch_seconds": -1}, {"percent": 100, "watch_seconds": 0}],
     "ecs_validate_steps[0].watch_seconds must be a whole number of seconds within 0-86400, got -1"),
    ([{"percent": 10, "watch_seconds": 30, "spending": "fast"}, {"percent": 100, "watch_seconds": 0}],
     "ecs_validate_steps[0].spending must be one of obrien_fleming, pocock, bonferroni, got 'fast'"),
])
def test_a_malformed_schedule_is_refused_before_any_aws_call(moto, steps, message):
    result = validate(moto, steps)
    assert result.rc != 0
    failed = result.task(SCHEDULE_TASK)
    assert failed.get("failed") and message in failed["msg"], failed
    # refused before any AWS module ran (the first one says who is deploying)
    assert not [name for name, _host, _res in result.tasks() if "Who is deploying" in name]


def test_a_schedule_with_a_spending_per_step_passes_the_check(moto):
    result = validate(moto, [{"percent": 10, "watch_seconds": 30, "spending": "pocock"},
                             {"percent": 100, "watch_seconds": 60, "spending": "obrien_fleming"}])
    assert not result.task(SCHEDULE_TASK).get("failed"), result
