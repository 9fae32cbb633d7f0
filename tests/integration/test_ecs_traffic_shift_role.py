"""The ecs_traffic_shift role on its own against bare moto: how the deployment numbers its looks and spends one
false-fail budget over every step, and what the step before 100 % (the gate) does under each policy.

Bare moto publishes no ALB metrics, so every metric is `nodata`: early steps advance ("no harm detected so far"),
the gate never sees a pass and applies the policy (extend watches once more, then the fallback; pause asks), and the
100 % step advances - which is what these tests need to see.
"""
import pytest

from aws_world import blue_green
from harness import localhost_play, run_playbook

SCHEDULE = [{"percent": 10, "watch_seconds": 0}, {"percent": 50, "watch_seconds": 0}, {"percent": 100, "watch_seconds": 0}]


def run_shift(moto, world, policy, steps=None, role_vars=None, fallback="proceed"):
    plan = {
        "execution_id": "test-budget",
        "cluster": "prod-ecs-cluster",
        "listener_arn": world["listener"]["ListenerArn"],
        "load_balancer_dimension": world["lb"]["LoadBalancerArn"].split(":loadbalancer/")[1],
        "live": {"service_name": "myapp-a", "target_group_arn": world["target_groups"]["a"]},
        "candidate": {"service_name": "myapp-b", "target_group_arn": world["target_groups"]["b"]},
        "candidate_percent": 0,
        "desired_count": 2,
        "steps": steps or SCHEDULE,
    }
    play = localhost_play([{"name": "Shift", "ansible.builtin.include_role": {"name": "progressive.delivery.ecs_traffic_shift"}}],
                          moto.url, vars={
                              "ecs_traffic_shift_plan": plan,
                              "ecs_traffic_shift_deployment": {"service": "myapp", "image_tag": "v1.2.3"},
                              "ecs_traffic_shift_period": 5,
                              "ecs_traffic_shift_metric_delay": 0,
                              "ecs_traffic_shift_baseline_seconds": 30,
                              "ecs_traffic_shift_extension_seconds": 5,
                              "ecs_traffic_shift_min_healthy_targets": 0,
                              "ecs_traffic_shift_inconclusive_policy": policy,
                              "ecs_traffic_shift_inconclusive_fallback": fallback,
                              **(role_vars or {}),
                          })
    return run_playbook(play)


def compare_calls(result):
    """The results of each step's cw_compare call, in order."""
    return [res for name, host, res in result.tasks()
            if name.split(" : ")[-1].startswith("Compare candidate against live while the step bakes")
            and not res.get("skipped")]


def records(result):
    return result.task("Record the step - its question, verdict, action and why")[
        "ansible_facts"]["ecs_traffic_shift_results"]


def test_each_step_asks_its_question_and_the_looks_are_numbered_over_the_deployment(moto):
    world = blue_green(moto)
    result = run_shift(moto, world, "extend")
    assert result.rc == 0, result
    calls = compare_calls(result)
    assert [c["question"] for c in calls] == ["no harm detected so far?", "shown no worse than live?",
                                              "holding against live's pre-deployment baseline and the SLOs?"]
    assert [c["step_action"] for c in calls] == ["advance", "advance", "advance"]
    # The gate had no pass (no data): it watched once more, then the fallback (proceed) said so.
    assert [c["holds"] for c in calls] == [0, 1, 0]
    assert "proceeding as the policy says, without that proof" in calls[1]["action_reason"]
    # One budget for the deployment: every call plans the same total, and later steps continue the numbering.
    assert len({c["planned_looks"] for c in calls}) == 1
    looks = [c["look"] for c in calls]
    assert looks == sorted(looks) and looks[0] >= 1 and looks[-1] <= calls[0]["planned_looks"]
    assert all(sum(c["spent"].values()) <= 0.01 + 1e-12 for c in calls)
    # The 100 % step is judged against live's window before the first shift.
    assert all(m["against"] == "baseline" for m in calls[2]["metrics"])
    steps = records(result)
    assert [s["action"] for s in steps] == ["advance", "advance", "advance"]
    assert steps[1]["question"] == "shown no worse than live?" and steps[1]["holds"] == 1


def test_the_gate_rolls_back_when_the_fallback_says_so(moto):
    world = blue_green(moto)
    result = run_shift(moto, world, "extend", fallback="rollback")
    assert result.rc != 0
    calls = compare_calls(result)
    assert [c["step_action"] for c in calls] == ["advance", "rollback"]
    pulled = result.task("Take production traffic off the candidate at once, as the step says roll back")
    assert pulled["changed"] is True and pulled["percentages"] == {"myapp-a": 100, "myapp-b": 0}, pulled
    steps = records(result)
    assert steps[-1]["action"] == "rollback" and "rolling back as the policy says" in steps[-1]["reason"]
    assert "at 50 %" in result.task("Stop here when the step says roll back - the rescue rolls back")["msg"]


def test_pause_with_no_terminal_to_ask_on_rolls_back_instead_of_going_on(moto):
    """As in AWX or CI: the prompt gets no answer, which must not count as a yes."""
    world = blue_green(moto)
    result = run_shift(moto, world, "pause")
    assert result.rc != 0
    assert records(result)[-1]["action"] == "rollback"
    # The candidate loses its production share before the step is audited, told about and failed.
    pulled = result.task("Take production traffic off the candidate at once, as the step says roll back")
    assert pulled["changed"] is True and pulled["percentages"] == {"myapp-a": 100, "myapp-b": 0}, pulled
    assert {g["target_group_name"]: g["weight"] for g in pulled["previous"]["target_groups"]} == {"myapp-a": 50, "myapp-b": 50}
    listener = moto.client("elbv2").describe_listeners(ListenerArns=[world["listener"]["ListenerArn"]])["Listeners"][0]
    assert {g["TargetGroupArn"]: g["Weight"] for g in listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]} == {
        world["target_groups"]["a"]: 100, world["target_groups"]["b"]: 0}
    step = records(result)[-1]
    assert step["action"] == "rollback" and "operator answered" in step["action_reason"]


@pytest.mark.parametrize("step, role_vars, expected", [
    ({"percent": 100, "watch_seconds": 0}, {}, "pocock"),
    ({"percent": 100, "watch_seconds": 0, "spending": "obrien_fleming"}, {}, "obrien_fleming"),
    ({"percent": 100, "watch_seconds": 0}, {"ecs_traffic_shift_spending": "bonferroni"}, "bonferroni"),
    ({"percent": 100, "watch_seconds": 0, "spending": "pocock"}, {"ecs_traffic_shift_spending": "bonferroni"}, "pocock"),
])
def test_a_step_spends_its_alpha_as_the_schedule_or_the_role_says(moto, step, role_vars, expected):
    world = blue_green(moto)
    result = run_shift(moto, world, "extend", steps=[step], role_vars=role_vars)
    assert result.rc == 0, result
    assert [c["spending"] for c in compare_calls(result)] == [expected]
