"""alb_test_route through ansible-playbook against a bare moto server: one test listener or one header rule, nothing else."""
import json

from harness import localhost_play, run_playbook
from test_alb_weighted_shift import make_alb


def route(name, **args):
    return {"name": name, "progressive.delivery.alb_test_route": args, "register": name.replace(" ", "_")}


def test_a_test_listener_and_a_header_rule_are_created_once_refused_when_taken_and_deleted(moto):
    alb = make_alb(moto.client("ec2"), moto.client("elbv2"), name="route-alb", prefix="route")
    elbv2, tgs = alb["elbv2"], alb["tgs"]
    listener = dict(load_balancer="route-alb", port=9000, target_group="route-b")
    header = dict(load_balancer="route-alb", port=80, header={"name": "X-Slot", "values": ["candidate"]}, priority=5,
                  target_group="route-b")
    play = localhost_play([
        route("listener", **listener),
        route("listener again", **listener),
        route("rule", **header),
        route("rule again", **header),
    ], moto.url)
    result = run_playbook(play, diff=True)
    assert result.rc == 0, result
    assert result.task("listener")["changed"] is True and result.task("listener again")["changed"] is False
    assert result.task("listener")["diff"]["after"] == {"port": 9000, "forward": ["route-b"]}
    assert result.task("rule")["changed"] is True and result.task("rule again")["changed"] is False
    test = [x for x in elbv2.describe_listeners(LoadBalancerArn=alb["lb"]["LoadBalancerArn"])["Listeners"] if x["Port"] == 9000][0]
    assert test["DefaultActions"][0]["TargetGroupArn"] == tgs["b"]
    rule = [r for r in elbv2.describe_rules(ListenerArn=alb["listener_arn"])["Rules"] if r["Priority"] == "5"][0]
    assert rule["Conditions"][0]["HttpHeaderConfig"] == {"HttpHeaderName": "X-Slot", "Values": ["candidate"]}

    taken = run_playbook(localhost_play([route("taken", load_balancer="route-alb", port=9000, target_group="route-c"),
                                         ], moto.url))
    assert taken.rc != 0 and "already has a listener on port 9000 forwarding to ['route-b']" in json.dumps(taken.failures())

    gone = run_playbook(localhost_play([
        route("delete listener", load_balancer="route-alb", port=9000, state="absent"),
        route("delete rule", load_balancer="route-alb", port=80, header=header["header"], priority=5, state="absent"),
        route("delete again", load_balancer="route-alb", port=9000, state="absent"),
    ], moto.url))
    assert gone.rc == 0, gone
    assert gone.task("delete listener")["changed"] is True and gone.task("delete again")["changed"] is False
    ports = [x["Port"] for x in elbv2.describe_listeners(LoadBalancerArn=alb["lb"]["LoadBalancerArn"])["Listeners"]]
    assert ports == [80]
    assert [r["Priority"] for r in elbv2.describe_rules(ListenerArn=alb["listener_arn"])["Rules"]] == ["10", "default"]
