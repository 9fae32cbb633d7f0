"""The ecs_traffic_shift role on its own against bare moto: how it spends the step's false-fail budget, and what
an inconclusive step does under each policy.

Bare moto publishes no ALB metrics, so every watch is `inconclusive` at once: the `extend` policy then always
takes its extra watch and `pause` always asks, which is what these tests need to see.
"""
import pytest

from aws_world import blue_green
from harness import localhost_play, run_playbook


def run_one_step(moto, world, policy, alpha=0.01, step=None, role_vars=None):
    plan = {
        "execution_id": "test-budget",
        "cluster": "prod-ecs-cluster",
        "listener_arn": world["listener"]["ListenerArn"],
        "load_balancer_dimension": world["lb"]["LoadBalancerArn"].split(":loadbalancer/")[1],
        "live": {"service_name": "myapp-a", "target_group_arn": world["target_groups"]["a"]},
        "candidate": {"service_name": "myapp-b", "target_group_arn": world["target_groups"]["b"]},
        "candidate_percent": 0,
        "desired_count": 2,
        "steps": [step or {"percent": 10, "watch_seconds": 0}],
    }
    play = localhost_play([{"name": "Shift", "ansible.builtin.include_role": {"name": "progressive.delivery.ecs_traffic_shift"}}],
                          moto.url, vars={
                              "ecs_traffic_shift_plan": plan,
                              "ecs_traffic_shift_deployment": {"service": "myapp", "image_tag": "v1.2.3"},
                              "ecs_traffic_shift_period": 5,
                              "ecs_traffic_shift_min_healthy_targets": 0,
                              "ecs_traffic_shift_alpha": alpha,
                              "ecs_traffic_shift_inconclusive_policy": policy,
                              "ecs_traffic_shift_inconclusive_fallback": "proceed",
                              **(role_vars or {}),
                          })
    return run_playbook(play)


def compare_calls(result):
    """The results of the step's cw_compare calls (its watch, and its extension when taken)."""
    return [res for name, host, res in result.tasks()
            if name.split(" : ")[-1].startswith("Compare candidate against live, watching") and not res.get("skipped")]


def compare_levels(result):
    """Per cw_compare call of the step, the significance level each metric was tested at."""
    return [{m["name"]: m["level"] for m in res["metrics"]} for res in compare_calls(result)]


@pytest.mark.parametrize("policy", ["proceed", "extend"])
def test_a_step_never_spends_more_than_its_alpha_over_its_watches(moto, policy):
    world = blue_green(moto)
    result = run_one_step(moto, world, policy)
    assert result.rc == 0, result
    calls = compare_levels(result)
    assert len(calls) == (2 if policy == "extend" else 1), calls
    metrics = calls[0].keys()
    assert metrics, calls
    spent = sum(sum(call.values()) for call in calls)
    assert spent == pytest.approx(0.01), calls
    assert result.task("Settle the step's decision")["ansible_facts"]["ecs_traffic_shift_decision"] == "proceed"


def test_pause_with_no_terminal_to_ask_on_rolls_back_instead_of_going_on(moto):
    """As in AWX or CI: the prompt gets no answer, which must not count as a yes."""
    world = blue_green(moto)
    result = run_one_step(moto, world, "pause")
    assert result.rc != 0
    assert result.task("Take the operator's answer - continue goes on, anything else (or no terminal) rolls back")[
        "ansible_facts"]["ecs_traffic_shift_decision"] == "rollback"
    # The candidate loses its production share before the step is recorded, told about and failed.
    pulled = result.task("Take production traffic off the candidate at once, as it failed the step")
    assert pulled["changed"] is True and pulled["percentages"] == {"myapp-a": 100, "myapp-b": 0}, pulled
    assert {g["target_group_name"]: g["weight"] for g in pulled["previous"]["target_groups"]} == {"myapp-a": 90, "myapp-b": 10}
    listener = moto.client("elbv2").describe_listeners(ListenerArns=[world["listener"]["ListenerArn"]])["Listeners"][0]
    assert {g["TargetGroupArn"]: g["Weight"] for g in listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]} == {
        world["target_groups"]["a"]: 100, world["target_groups"]["b"]: 0}
    assert "failed the 10 % step" in result.task("Stop here when the candidate is worse - the rescue rolls back")["msg"]


@pytest.mark.parametrize("step, role_vars, expected", [
    ({"percent": 10, "watch_seconds": 0}, {}, "obrien_fleming"),
    ({"percent": 10, "watch_seconds": 0, "spending": "pocock"}, {}, "pocock"),
    ({"percent": 10, "watch_seconds": 0}, {"ecs_traffic_shift_spending": "bonferroni"}, "bonferroni"),
    ({"percent": 10, "watch_seconds": 0, "spending": "pocock"}, {"ecs_traffic_shift_spending": "bonferroni"}, "pocock"),
])
def test_a_step_spends_its_alpha_as_the_schedule_or_the_role_says(moto, step, role_vars, expected):
    world = blue_green(moto)
    result = run_one_step(moto, world, "extend", step=step, role_vars=role_vars)
    assert result.rc == 0, result
    calls = compare_calls(result)
    assert len(calls) == 2, calls   # the watch and its extension (no metrics in bare moto: inconclusive)
    assert [c["spending"] for c in calls] == [expected, expected]
