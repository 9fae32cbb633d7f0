# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure parts of bench/ecs_deploy_compare.py: reading ecs-deploy's output and the traffic record, the end-state
verdict, the per-tool summary and the README section."""

import copy

import pytest

from bench import ecs_deploy_compare as edc

DIGEST = "sha256:" + "f8" * 32

SUCCESS = """Deploying based on task definition: myapp:1

Updating task definition
Changed image of container "myapp" to: "123456789012.dkr.ecr.us-east-1.amazonaws.com/myapp@%s" (was: "...:v1.2.2")
Changed environment "VERSION" of container "myapp" to: "v1.2.3" (was: "v1.2.2")

Creating new task definition revision
Successfully created revision: 2

Updating service
Successfully changed task definition to: myapp:2

Deploying new task definition
..........
Deployment successful
Duration: 9 sec

Deregister task definition revision
Successfully deregistered revision: 1
""" % DIGEST

FAILURE = """Deploying based on task definition: myapp:1

Creating new task definition revision
Successfully created revision: 2

Updating service
Successfully changed task definition to: myapp:2

Deploying new task definition
.....
Deployment failed due to timeout. Please see: https://github.com/fabfuel/ecs-deploy#timeout
"""


def test_ecs_deploy_output_success():
    assert edc.parse_ecs_deploy_output(SUCCESS) == {
        "revision_created": 2, "revision_deregistered": 1, "own_duration_s": 9, "succeeded": True, "errors": []}


def test_ecs_deploy_output_failure_is_not_success():
    out = edc.parse_ecs_deploy_output(FAILURE)
    assert out["succeeded"] is False
    assert out["revision_created"] == 2 and out["revision_deregistered"] is None and out["own_duration_s"] is None
    assert out["errors"] == ["Deployment failed due to timeout. Please see: https://github.com/fabfuel/ecs-deploy#timeout"]
    # A failure message in the output wins over a success line printed before it (e.g. the rollback's deployment).
    assert edc.parse_ecs_deploy_output(SUCCESS + "Deployment failed\n")["succeeded"] is False
    # A release named like an error is no error.
    assert edc.parse_ecs_deploy_output(SUCCESS.replace("v1.2.3", "v1.2.4-errors"))["succeeded"] is True
    placement = SUCCESS.replace("Deployment successful\n", "\n2026-12-02 10:00:00\nERROR: (service myapp-a) was unable to "
                                "place a task.\n\nDeployment failed\n")
    assert edc.parse_ecs_deploy_output(placement)["errors"] == [
        "ERROR: (service myapp-a) was unable to place a task.", "Deployment failed"]


def second(t, versions, status=None, conn_errors=0, latency=30.0):
    status = status or {"200": sum(versions.values())}
    return {"t": t, "sent": sum(status.values()) + conn_errors, "status": status, "conn_errors": conn_errors,
            "skipped": 0, "by_version": versions, "by_target_group": {}, "latency_ms": [latency] * sum(status.values())}


def records():
    """Warm-up 100-102 (one 5xx at 101), the tool runs 103.4-110.2, the tail to 116.2; v1.2.3 from 105, v1.2.2 to 106."""
    out = [second(100, {"v1.2.2": 20}), second(101, {"v1.2.2": 20}, {"200": 19, "502": 1}), second(102, {"v1.2.2": 20}),
           second(103, {"v1.2.2": 20}), second(104, {"v1.2.2": 20}, {"200": 19, "503": 1}),
           second(105, {"v1.2.2": 12, "v1.2.3": 8}), second(106, {"v1.2.2": 1, "v1.2.3": 18}, conn_errors=1)]
    out += [second(t, {"v1.2.3": 20}) for t in range(107, 116)]
    out[-2] = second(114, {"v1.2.3": 20}, {"200": 18, "500": 2})
    out.append(second(116, {"v1.2.3": 20}))     # after the window
    return out


def test_traffic_outcome_window_versions_and_failures():
    out = edc.traffic_outcome(records(), 103.4, 110.2, 116.2, "v1.2.2", "v1.2.3")
    assert out["sent"] == 13 * 20                 # seconds 103..115
    assert (out["failed_5xx"], out["conn_errors"], out["failed"]) == (3, 1, 4)
    assert out["failed_after_exit"] == 2          # seconds 111..115
    assert out["failed_in_warmup"] == 1
    assert out["first_new_s"] == 1.6 and out["last_old_s"] == 3.6 and out["both_versions_s"] == 2
    assert out["new_share_at_end"] == 1.0
    assert out["by_version"] == {"v1.2.2": 20 + 20 + 12 + 1, "v1.2.3": 8 + 18 + 9 * 20}
    assert [f["t"] for f in out["failures_by_second"]] == [104, 106, 114]


def test_traffic_outcome_old_version_still_answering_at_the_end():
    recs = [second(t, {"v1.2.2": 20}) for t in range(100, 110)]
    out = edc.traffic_outcome(recs, 100.0, 105.0, 110.0, "v1.2.2", "v1.2.3")
    assert out["first_new_s"] is None and out["last_old_s"] == 10.0 and out["both_versions_s"] == 0
    assert out["new_share_at_end"] == 0.0
    assert edc.traffic_outcome([], 100.0, 105.0, 110.0, "v1.2.2", "v1.2.3")["new_share_at_end"] is None


def state(**live):
    slot = {"service": "myapp-a", "task_definition": "myapp:2", "image": "repo/myapp@" + DIGEST, "desired": 4,
            "running": 4, "deployments": 1, "rollout": "COMPLETED", "healthy_targets": 4}
    slot.update(live)
    return {"weights": {"a": 100, "b": 0},
            "slots": {"a": slot, "b": dict(slot, service="myapp-b", image="repo/myapp:v1.2.2", desired=0, running=0,
                                            healthy_targets=0)}}


@pytest.mark.parametrize("change, reason", [
    ({}, None),
    ({"image": "repo/myapp:v1.2.2"}, "the live slot runs repo/myapp:v1.2.2"),
    ({"running": 3}, "3 of 4 tasks running"),
    ({"desired": 0, "running": 0, "healthy_targets": 0}, "0 of 0 tasks running"),
    ({"deployments": 2}, "2 deployments"),
    ({"healthy_targets": 2}, "2 healthy targets for 4 tasks"),
])
def test_healthy_on_new_checks_the_live_slot(change, reason):
    ok, reasons = edc.healthy_on_new(state(**change), DIGEST, {"new_share_at_end": 1.0, "failed_after_exit": 0})
    assert ok is (reason is None)
    assert reasons == ([] if reason is None else [reason])


def test_healthy_on_new_needs_one_live_slot_and_clean_traffic():
    split = state()
    split["weights"] = {"a": 50, "b": 50}
    assert edc.healthy_on_new(split, DIGEST) == (False, ["no slot takes 100 % of production ({'a': 50, 'b': 50})"])
    # the other slot is live: its service is the one checked
    other = copy.deepcopy(state())
    other["weights"] = {"a": 0, "b": 100}
    assert edc.healthy_on_new(other, DIGEST)[0] is False
    ok, reasons = edc.healthy_on_new(state(), DIGEST, {"new_share_at_end": 0.95, "failed_after_exit": 3})
    assert not ok and reasons == ["the last seconds' answers were 0.95 new", "3 requests failed after the tool exited"]


def run(index, tool, wall, calls, failed, healthy=True, tag="v1.2.3", rc=0):
    total = sum(calls.values())
    return {"run": index, "tool": tool, "tag": tag, "tail_s": 6.0, "rc": rc, "wall_s": wall, "cpu_s": 1.0 if tool == "ecs-deploy" else 30.0,
            "load_average_before": [1.5, 1.0, 0.5], "api_calls": calls, "api_calls_total": total,
            "api_writes": edc.writes(calls), "healthy": healthy, "not_healthy": [] if healthy else ["x"],
            "detail": {"succeeded": rc == 0},
            "traffic": {"failed": failed, "sent": 400, "failed_after_exit": 0, "latency_ms": {"p95": 45.2},
                        "first_new_s": 4.2, "last_old_s": 5.2, "both_versions_s": 1}}


ED_CALLS = {"ecs:DescribeServices": 12, "ecs:DescribeTaskDefinition": 1, "ecs:RegisterTaskDefinition": 1,
            "ecs:UpdateService": 1, "ecs:DeregisterTaskDefinition": 1, "ecs:ListTasks": 1, "ecs:DescribeTasks": 1}
OUR_CALLS = {"ecs:DescribeServices": 10, "elasticloadbalancing:ModifyListener": 4, "ssm:PutParameter": 1,
             "ssm:GetParameter": 2, "ecs:RegisterTaskDefinition": 1, "ecs:UpdateService": 2, "ecs:TagResource": 1}


def test_writes_and_calls_side_by_side():
    assert edc.writes(ED_CALLS) == 3
    assert edc.writes(OUR_CALLS) == 9
    rows = edc.calls_side_by_side(ED_CALLS, OUR_CALLS)
    assert rows[0] == ("ecs:DescribeServices", 12, 10)
    assert rows[1] == ("elasticloadbalancing:ModifyListener", 0, 4)
    assert ("ecs:DeregisterTaskDefinition", 1, 0) in rows and len(rows) == 11


def test_summarize_tool_medians_and_counts():
    runs = [run(1, "ours", 44.0, OUR_CALLS, 0), run(3, "ours", 52.0, OUR_CALLS, 2, healthy=False),
            run(5, "ours", 47.0, OUR_CALLS, 1)]
    s = edc.summarize_tool(runs)
    assert (s["runs"], s["healthy"], s["rc0"]) == (3, 2, 3)
    assert s["wall_s"] == {"median": 47.0, "min": 44.0, "max": 52.0}
    assert s["api_calls"] == {"median": 21.0, "min": 21, "max": 21}
    assert s["failed"] == {"median": 1.0, "min": 0, "max": 2}
    assert edc.summarize_tool([])["wall_s"] is None


def test_render_markdown_side_by_side_and_bad_release():
    runs = [run(1, "ecs-deploy", 10.3, ED_CALLS, 0), run(2, "ours", 52.1, OUR_CALLS, 0),
            run(3, "ecs-deploy", 10.7, ED_CALLS, 0), run(4, "ours", 44.0, OUR_CALLS, 0, healthy=False, rc=2),
            run(5, "ecs-deploy", 9.8, ED_CALLS, 21, tag="v1.2.4-errors")]
    runs[-1]["tail_s"] = 20.0
    runs[-1]["traffic"]["failed_after_exit"] = 17
    doc = {"meta": {"date": "2026-12-02 10:00 UTC", "machine": {"cpu": "AMD EPYC", "nproc": 2, "mem_mb": 24105},
                    "rps": 20.0, "load_start": [1.0], "load_end": [2.0], "ecs_deploy_version": "1.17.0"},
           "runs": runs}
    md = edc.render_markdown(doc)
    assert "| 1 | ecs-deploy | 0 | yes | 10.3 s | 18 (3) | 1.0 s | 0 / 400 (0) | 45 ms | +4.2 s | +5.2 s | 1 | 1.50 |" in md
    assert "| 4 | ours | 2 | **no**: x | 44.0 s | 21 (9) |" in md
    assert "| 5 |" not in md       # the bad release is not a row of the comparison
    assert ("**ecs-deploy 10.5 s (10.3-10.7), 18 API calls; ours 48.0 s (44.0-52.1), 21 API calls** (4.6x the time, "
            "1.2x the calls)") in md
    assert "ended healthy on v1.2.3 in 2/2 vs 1/2 runs" in md
    assert "AWS API calls of the last run of each (ecs-deploy run 3, ours run 4):" in md
    assert "| ecs:DescribeServices | 12 | 10 |" in md and "| **total** | **18** | **21** |" in md
    assert "users saw **21 failed requests of 400**, 17 of them in the 20 s after ecs-deploy had exited" in md
    assert 'exit 0 ("Deployment successful") after 9.8 s' in md
    assert "the machine was shared" not in md
    doc["runs"][2]["load_average_before"] = [8.5, 6.0, 3.0]
    assert "load average [1.0] at the start, [2.0] at the end (up to 8.5 before a run on 2 cores: the machine was" \
        in edc.render_markdown(doc)
