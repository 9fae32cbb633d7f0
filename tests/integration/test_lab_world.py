"""Issue 3's "done when", as a user would type it: a 90/10 listener change moves about 10 % of real traffic.

Scales the idle slot (myapp-b) up for the test and puts the seeded world back afterwards."""
import json
import time

import pytest

from test_lab_api_gaps import aws_cli
from test_lab_ecs import CLUSTER, describe, wait_for

pytestmark = pytest.mark.lab


@pytest.fixture
def both_slots_running(lab_world):
    lab = lab_world
    if not lab.status().get("alb"):
        pytest.skip("the ALB data plane is not running in this lab")
    ecs, elbv2 = lab.client("ecs"), lab.client("elbv2")
    tgs = {s: elbv2.describe_target_groups(Names=["myapp-" + s])["TargetGroups"][0]["TargetGroupArn"] for s in "ab"}
    lb = elbv2.describe_load_balancers(Names=["myapp-alb"])["LoadBalancers"][0]["LoadBalancerArn"]
    prod = next(x for x in elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"] if x["Port"] == 80)
    original_actions = prod["DefaultActions"]
    ecs.update_service(cluster=CLUSTER, service="myapp-b", desiredCount=2)

    def healthy_b():
        health = elbv2.describe_target_health(TargetGroupArn=tgs["b"])["TargetHealthDescriptions"]
        return sum(h["TargetHealth"]["State"] == "healthy" for h in health) == 2
    wait_for(healthy_b, 120, what="two healthy myapp-b targets")   # minutes on a loaded CI machine
    yield elbv2, prod["ListenerArn"], tgs
    elbv2.modify_listener(ListenerArn=prod["ListenerArn"], DefaultActions=original_actions)
    ecs.update_service(cluster=CLUSTER, service="myapp-b", desiredCount=0)
    wait_for(lambda: describe(ecs, "myapp-b")["runningCount"] == 0, 60, what="myapp-b scaled back to 0")


def test_modify_listener_90_10_moves_about_ten_percent_of_real_traffic_within_two_seconds(lab, both_slots_running,
                                                                                         tmp_path):
    from lab.traffic import TrafficGenerator, report
    _, listener, tgs = both_slots_running
    out = tmp_path / "traffic.jsonl"
    actions = [{"Type": "forward", "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": tgs["a"], "Weight": 90}, {"TargetGroupArn": tgs["b"], "Weight": 10}],
        "TargetGroupStickinessConfig": {"Enabled": False}}}]
    with TrafficGenerator(url=lab.prod_url, rps=50, out=out, max_duration=60):
        time.sleep(3)
        asked = int(time.time())
        aws_cli(lab, "elbv2", "modify-listener", "--listener-arn", listener, "--default-actions", json.dumps(actions))
        changed = int(time.time())
        time.sleep(10)
    before = report(out, until=asked)
    after = report(out, since=changed + 2)
    assert before["totals"]["sent"] >= 50 and after["totals"]["sent"] >= 300
    assert before["by_target_group"].get("myapp-b", 0) == 0
    share_b = after["by_target_group"].get("myapp-b", 0) / float(sum(after["by_target_group"].values()))
    assert 0.04 <= share_b <= 0.18, after["by_target_group"]
    assert report(out)["failures"] == 0


def test_status_shows_services_weights_health_and_the_catalogue(lab_world):
    lab = lab_world
    proc = lab.cli("status", timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    desired = describe(lab.client("ecs"), "myapp-a")["desiredCount"]
    assert "lab AWS endpoint: %s" % lab.endpoint in out
    assert "myapp-a    %d/%d running" % (desired, desired) in out and "tag v1.2.2" in out
    assert "myapp-a=100  myapp-b=0" in out and lab.prod_url in out
    assert "myapp-a    %d healthy" % desired in out
    for tag in ("v1.2.2", "v1.2.3", "v1.2.4-errors", "v1.2.4-slow", "v1.2.4-unhealthy", "v1.2.4-vulnerable"):
        assert "\n  %s " % tag in out
    assert "CRITICAL 1, HIGH 2" in out
    as_json = json.loads(lab.cli("status", "--json", timeout=60).stdout)
    assert {s["name"] for s in as_json["services"]} >= {"myapp-a", "myapp-b"}
