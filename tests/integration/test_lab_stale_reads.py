"""Eventual consistency (issue 14 item 5): with LAB_STALE_READ_SECONDS / POST /lab-api/stale-reads the lab answers the
old listener actions for a moment after ModifyListener, and alb_weighted_shift's read-back waits that out, bounded by
wait_timeout (and says so when the bound is too short)."""
import json
import time
import urllib.request

import pytest

from harness import localhost_play, run_playbook

pytestmark = pytest.mark.lab
STALE_S = 3


def stale_reads(lab, seconds):
    req = urllib.request.Request(lab.endpoint + "/lab-api/stale-reads", method="POST",
                                 data=json.dumps({"seconds": seconds}).encode())
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read().decode())["stale_read_seconds"]


def test_listener_reads_are_stale_for_a_moment_and_the_shift_waits_it_out(lab_world):
    lab = lab_world
    elbv2 = lab.client("elbv2")
    lb = elbv2.describe_load_balancers(Names=["myapp-alb"])["LoadBalancers"][0]["LoadBalancerArn"]
    test_listener = [x for x in elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"] if x["Port"] == 9000][0]
    original = test_listener["DefaultActions"]
    tgs = {g["TargetGroupName"]: g["TargetGroupArn"] for g in elbv2.describe_target_groups(Names=["myapp-a", "myapp-b"])["TargetGroups"]}

    def weights():
        listener = elbv2.describe_listeners(ListenerArns=[test_listener["ListenerArn"]])["Listeners"][0]
        return {g["TargetGroupArn"]: g["Weight"] for g in listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]}

    assert stale_reads(lab, STALE_S) == STALE_S
    try:
        before = weights()
        elbv2.modify_listener(ListenerArn=test_listener["ListenerArn"], DefaultActions=[{"Type": "forward", "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": tgs["myapp-a"], "Weight": 100}, {"TargetGroupArn": tgs["myapp-b"], "Weight": 0}]}}])
        changed_at = time.time()
        assert weights() == before                     # the old weights, right after the change
        while weights() == before:
            assert time.time() - changed_at < STALE_S + 2, "still stale after %d s" % (STALE_S + 2)
            time.sleep(0.2)
        assert weights() == {tgs["myapp-a"]: 100, tgs["myapp-b"]: 0} and time.time() - changed_at >= STALE_S - 0.5

        shift = {"listener_arn": test_listener["ListenerArn"], "weights": {"myapp-a": 0, "myapp-b": 100}}
        play = localhost_play([
            {"name": "no wait", "progressive.delivery.alb_weighted_shift": dict(shift, weights={"myapp-a": 50, "myapp-b": 50},
                                                                                  wait_timeout=0),
             "ignore_errors": True, "register": "nowait"},
            {"name": "waits it out", "progressive.delivery.alb_weighted_shift": dict(shift, wait_timeout=STALE_S + 5)},
        ], lab.endpoint)
        result = run_playbook(play)
        assert result.rc == 0, result
        nowait = result.task("no wait")
        assert nowait["failed"] and "was modified but after" in nowait["msg"] and "still shows" in nowait["msg"], nowait
        waited = result.task("waits it out")
        assert waited["changed"] and waited["weights"] == {"myapp-a": 0, "myapp-b": 100}
        assert STALE_S - 1 <= waited["waited"] <= STALE_S + 5, waited["waited"]
    finally:
        stale_reads(lab, 0)
        elbv2.modify_listener(ListenerArn=test_listener["ListenerArn"], DefaultActions=original)
