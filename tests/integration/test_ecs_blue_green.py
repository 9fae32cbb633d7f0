"""ECS blue-green end to end in the lab (issue 5): a good release all the way, check mode, and refusals.

Each test starts from the seeded world (live slot a on v1.2.2, listener 100 % to a) and drives
playbooks/ecs_blue_green.yml exactly as a user would, under steady traffic (fixture `world`, ecs_e2e.py).
"""
import json
import re
import time

import pytest

from ecs_e2e import phases

pytestmark = pytest.mark.lab


def test_good_release_shifts_10_50_100_scales_old_down_and_a_rerun_changes_nothing(world):
    started = time.time()
    result = world.deploy("v1.2.3")
    assert result.rc == 0, result
    assert world.weights() == {"a": 0, "b": 100}
    image, taskdef = world.image_of("b")
    assert image.endswith("@" + world.digest_of_tag("v1.2.3"))
    assert taskdef["revision"] >= 2
    assert {e["name"]: e["value"] for e in taskdef["containerDefinitions"][0]["environment"]}["VERSION"] == "v1.2.3"
    assert world.service("a")["desiredCount"] == 0
    assert world.service("b")["desiredCount"] == world.service("b")["runningCount"] > 0
    assert world.lock() is None

    shifts = phases(world.records(), "shift")
    assert [r["step"] for r in shifts] == [10, 50, 100]
    # Every step advanced, each on its own question, and says what it rests on.
    assert all(r["decision"] in ("pass", "inconclusive") for r in shifts), shifts
    steps = result.task("Record the step - its question, verdict, action and why")["ansible_facts"]["ecs_traffic_shift_results"]
    assert [s["action"] for s in steps] == ["advance"] * 3, steps
    assert [s["question"] for s in steps] == ["no harm detected so far?", "shown no worse than live?",
                                              "holding against live's pre-deployment baseline and the SLOs?"]
    assert all(m.get("evidence") for s in steps for m in s["metrics"]), steps
    summary = "\n".join(result.task("Deployment summary")["msg"])
    assert "v1.2.3" in summary and "myapp" in summary and taskdef["family"] in summary

    # The HTML report: status, the timeline from validation to cleanup, and per step the decision and charts drawn
    # from the periods cw_compare judged.
    path, page = world.report(result)
    assert shifts[0]["execution_id"] in path.name
    assert "SUCCEEDED" in page and "v1.2.3" in page and world.digest_of_tag("v1.2.3") in page
    for label in ("Validated", "Green deployed, smoke-tested", "Traffic 10 %", "Traffic 50 %", "Traffic 100 %", "Cleaned up"):
        assert ">%s<" % label in page, label
    assert page.count('<section class="step"') == 3
    charts = re.findall(r"<svg .*?</svg>", page)
    # traffic over time; per step at least the error rate, its requests and latency (alb_ecs adds CPU, memory and, at
    # 100 %, the load balancer's own 5xx)
    assert len(charts) >= 1 + 3 * 3
    assert all("<polyline" in chart for chart in charts), "a chart without a line"
    assert sum('stroke="#ff7f0e"' in chart and 'stroke="#1f77b4"' in chart for chart in charts[1:]) >= 6
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")

    report = world.traffic_report(since=started)
    assert report["totals"]["sent"] > 0 and report["by_version"].get("v1.2.3", 0) > 0
    assert report["failures"] == 0, report["failures_by_second"]

    again = world.deploy("v1.2.3")
    assert again.rc == 0, again
    assert again.stats["localhost"]["changed"] == 0
    assert world.weights() == {"a": 0, "b": 100}


def test_check_diff_shows_the_plan_and_changes_nothing(world):
    before = world.snapshot()
    result = world.deploy("v1.2.3", check=True, diff=True)
    assert result.rc == 0, result
    clone = result.task("Clone the live task definition with the new image by digest")
    assert clone["changed"] is True and clone["diff"]
    assert world.digest_of_tag("v1.2.3") in json.dumps(clone["diff"])
    assert world.snapshot() == before


@pytest.mark.parametrize("tag,extra,expect", [
    ("v1.2.4-vulnerable", {}, "CRITICAL"),
    ("latest", {}, "must match"),
    ("v9.9.9", {}, "v9.9.9"),
    ("v1.2.3", {"ecs_validate_iam_principal": "arn:aws:iam::123456789012:user/deployer-readonly"}, "ecs:UpdateService"),
])
def test_refused_in_validation_with_nothing_changed(world, tag, extra, expect):
    before = world.snapshot()
    result = world.deploy(tag, **extra)
    assert result.rc != 0
    assert expect in json.dumps(result.failures()), result.failures()
    assert world.snapshot() == before
