"""cw_compare run through ansible-playbook against CloudWatch data published into moto (and the lab for p95).

moto answers Sum / Average / SampleCount but not percentiles or percentile ranks, so the moto tests
judge the latency metric as `kind: samples` with `stat: Average` over per-period values published as
such (compared period by period); the tail test (p95 from percentile ranks) runs against the lab.
"""
import datetime
import random

import pytest

from harness import localhost_play, run_playbook

LB = "app/shop-alb/50dc6c495c0c9188"
LIVE_TG = "targetgroup/shop-a/73e2d6bc24d8a067"
CAND_TG = "targetgroup/shop-b/1f6c3cbd5a9e4f21"
NS = "AWS/ApplicationELB"
MINUTES = 10


def minute_marks(minutes=MINUTES):
    """Timestamps of the last `minutes` whole minutes, oldest first, all in the past."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
    return [now - datetime.timedelta(minutes=minutes - i) for i in range(minutes)]


def publish(cw, tg, metric, values, marks, namespace=NS, dims=None):
    dims = dims or [{"Name": "LoadBalancer", "Value": LB}, {"Name": "TargetGroup", "Value": tg}]
    data = [{"MetricName": metric, "Dimensions": dims, "Timestamp": ts, "Value": float(v)}
            for ts, v in zip(marks, values) if v is not None]
    for i in range(0, len(data), 20):
        cw.put_metric_data(Namespace=namespace, MetricData=data[i:i + 20])


def publish_alb(cw, tg, requests, errors, latency, marks):
    """Per minute: RequestCount, HTTPCode_Target_5XX_Count (only when non-zero, as ALB does), latency."""
    publish(cw, tg, "RequestCount", requests, marks)
    publish(cw, tg, "HTTPCode_Target_5XX_Count", [e if e else None for e in errors], marks)
    publish(cw, tg, "TargetResponseTime", latency, marks)


def noisy(center, spread, n, seed):
    rng = random.Random(seed)
    return [round(center * (1 + rng.uniform(-spread, spread)), 4) for _ in range(n)]


def alb_task(name="compare", **extra):
    args = {"preset": "alb", "load_balancer": LB, "live_target_group": LIVE_TG, "candidate_target_group": CAND_TG,
            "period": 60, "start_time": "-%dm" % (MINUTES + 1),
            # moto cannot answer p95 or PR(:x): judge the per-minute values published as TargetResponseTime
            # period by period.
            "metric_overrides": {"latency_p95": {"kind": "samples", "stat": "Average"}}}
    args.update(extra)
    return {"name": name, "progressive.delivery.cw_compare": args, "register": "verdict"}


def run_compare(moto, task, check=False):
    result = run_playbook(localhost_play([task], moto.url), check=check)
    assert result.rc == 0, result
    res = result.task(task["name"])
    assert res["changed"] is False
    return res


def rows(res):
    return dict((row["name"], row) for row in res["metrics"])


def test_clearly_higher_5xx_rate_fails(moto):
    cw = moto.client("cloudwatch")
    marks = minute_marks()
    publish_alb(cw, LIVE_TG, [1000] * MINUTES, [2, 1, 3, 2, 2, 1, 2, 3, 2, 2], noisy(0.12, 0.05, MINUTES, 1), marks)
    publish_alb(cw, CAND_TG, [1000] * MINUTES, [30, 28, 33, 31, 29, 30, 27, 32, 30, 31], noisy(0.12, 0.05, MINUTES, 2), marks)

    res = run_compare(moto, alb_task())

    table = rows(res)
    assert res["decision"] == "fail", res["summary"]
    assert table["error_rate"]["verdict"] == "fail"
    assert table["error_rate"]["live_count"] == 10000 and table["error_rate"]["candidate_count"] == 10000
    assert table["error_rate"]["live"] == pytest.approx(20 / 10000.0)
    assert table["error_rate"]["candidate"] == pytest.approx(301 / 10000.0)
    assert table["error_rate"]["p_value"] < 1e-20
    # Same latency distribution on both sides: that metric alone passes.
    assert table["latency_p95"]["verdict"] == "pass", table["latency_p95"]
    assert res["score"] == 50.0
    assert "error_rate fail" in res["summary"]
    assert res["looks"] == 1 and res["planned_looks"] == 1
    # The per-period values the verdict was made from, for charts.
    periods = dict((p["name"], p["points"]) for p in res["periods"])
    assert len(periods["error_rate"]) == MINUTES and len(periods["latency_p95"]) == MINUTES
    assert sum(p["candidate_events"] for p in periods["error_rate"]) == 301
    assert periods["error_rate"][0]["candidate"] == pytest.approx(0.030)
    assert periods["error_rate"][0]["time"].endswith("Z")


def test_clearly_higher_latency_fails(moto):
    cw = moto.client("cloudwatch")
    marks = minute_marks()
    errors = [5] * MINUTES
    publish_alb(cw, LIVE_TG, [5000] * MINUTES, errors, noisy(0.100, 0.1, MINUTES, 3), marks)
    publish_alb(cw, CAND_TG, [5000] * MINUTES, errors, noisy(0.200, 0.1, MINUTES, 4), marks)

    res = run_compare(moto, alb_task())

    latency = rows(res)["latency_p95"]
    assert res["decision"] == "fail", res["summary"]
    assert latency["verdict"] == "fail"
    assert latency["live_count"] == MINUTES and latency["candidate_count"] == MINUTES
    assert 0.6 < latency["relative_change"] < 1.4
    low, high = latency["shift_ci"]
    assert 0.6 < low < high < 1.4 and latency["evidence"] == "harm detected"
    assert rows(res)["error_rate"]["verdict"] != "fail"


def test_latency_slo_limit_fails_fast_without_a_comparison(moto):
    cw = moto.client("cloudwatch")
    marks = minute_marks(2)
    publish_alb(cw, LIVE_TG, [5000] * 2, [5] * 2, [0.1, 0.1], marks)
    publish_alb(cw, CAND_TG, [5000] * 2, [5] * 2, [0.9, 0.95], marks)

    res = run_compare(moto, alb_task(metric_overrides={"latency_p95": {"kind": "samples", "stat": "Average", "max": 0.5}}))

    latency = rows(res)["latency_p95"]
    assert res["decision"] == "fail"
    assert latency["verdict"] == "fail" and "above the limit 0.5 in all 2 periods" in latency["reason"]


def test_identical_candidate_passes_also_in_check_mode(moto):
    cw = moto.client("cloudwatch")
    marks = minute_marks()
    latency = noisy(0.15, 0.05, MINUTES, 5)
    for tg in (LIVE_TG, CAND_TG):
        publish_alb(cw, tg, [20000] * MINUTES, [100] * MINUTES, latency, marks)

    res = run_compare(moto, alb_task(), check=True)

    table = rows(res)
    assert res["decision"] == "pass", res["summary"]
    assert res["score"] == 100.0
    assert table["error_rate"]["verdict"] == "pass" and table["latency_p95"]["verdict"] == "pass"
    # A pass says what it rests on: shown within the margin, with the bound.
    assert table["error_rate"]["evidence"] == "non-inferior" and table["latency_p95"]["evidence"] == "non-inferior"
    assert table["error_rate"]["upper_difference"] < 0.0025
    assert table["error_rate"]["relative_change"] == 0.0


def test_thin_traffic_is_inconclusive_with_its_detectable_effect(moto):
    # The seed's 10 % step: 1,250 requests/min, 0.18 % 5xx, 5 minutes -> 625 candidate requests.
    cw = moto.client("cloudwatch")
    marks = minute_marks(5)
    publish_alb(cw, LIVE_TG, [1125] * 5, [2, 2, 2, 2, 2], [0.1] * 5, marks)
    publish_alb(cw, CAND_TG, [125] * 5, [0, 0, 1, 0, 1], [0.1] * 5, marks)

    res = run_compare(moto, alb_task(start_time="-6m"))

    error_rate = rows(res)["error_rate"]
    assert res["decision"] == "inconclusive", res["summary"]
    assert error_rate["verdict"] == "inconclusive"
    assert error_rate["candidate_count"] == 625
    # Nothing is wrong, but 625 requests cannot show it within 0.25 points yet: no harm seen, and what it could
    # have detected (even a doubling could not have been seen).
    assert res["mde"]["error_rate"] > 5
    assert "no harm seen" in error_rate["reason"] and "could only detect" in error_rate["reason"]


def test_too_few_requests_is_inconclusive(moto):
    cw = moto.client("cloudwatch")
    marks = minute_marks(3)
    publish_alb(cw, LIVE_TG, [1000] * 3, [1] * 3, [0.1] * 3, marks)
    publish_alb(cw, CAND_TG, [4] * 3, [0] * 3, [0.1] * 3, marks)

    res = run_compare(moto, alb_task())

    assert res["decision"] == "inconclusive"
    assert "too little traffic" in rows(res)["error_rate"]["reason"]


def test_candidate_without_data_is_nodata_and_inconclusive(moto):
    cw = moto.client("cloudwatch")
    marks = minute_marks(5)
    publish_alb(cw, LIVE_TG, [1000] * 5, [1] * 5, [0.1] * 5, marks)

    res = run_compare(moto, alb_task())

    assert res["decision"] == "inconclusive"
    assert rows(res)["error_rate"]["verdict"] == "nodata"
    assert rows(res)["latency_p95"]["verdict"] == "nodata"


def test_watch_exits_early_on_a_decisive_failure(moto):
    cw = moto.client("cloudwatch")
    marks = minute_marks()
    publish_alb(cw, LIVE_TG, [1000] * MINUTES, [2] * MINUTES, [0.1] * MINUTES, marks)
    publish_alb(cw, CAND_TG, [1000] * MINUTES, [40] * MINUTES, [0.1] * MINUTES, marks)

    res = run_compare(moto, alb_task(watch_seconds=60, period=10))

    assert res["decision"] == "fail", res["summary"]
    assert res["early_exit"] is True
    assert res["looks"] == 1 and res["planned_looks"] >= 6
    assert res["elapsed"] < 20, res["elapsed"]
    assert "early exit" in res["summary"]


def test_watch_runs_every_look_when_nothing_fails(moto):
    cw = moto.client("cloudwatch")
    marks = minute_marks()
    latency = noisy(0.15, 0.05, MINUTES, 6)
    for tg in (LIVE_TG, CAND_TG):
        publish_alb(cw, tg, [20000] * MINUTES, [100] * MINUTES, latency, marks)

    res = run_compare(moto, alb_task(watch_seconds=6, period=5))

    # A look just after each 5 s period ends, the last at or after the watch's end.
    assert res["early_exit"] is False
    assert res["looks"] == res["planned_looks"] in (2, 3)
    assert res["elapsed"] >= 5
    assert res["decision"] == "pass", res["summary"]


def test_alb_and_target_groups_resolved_by_name(moto):
    ec2, elbv2, cw = moto.client("ec2"), moto.client("elbv2"), moto.client("cloudwatch")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.%d.0/24" % i, AvailabilityZone="us-east-1%s" % az)["Subnet"]["SubnetId"]
               for i, az in enumerate("ab")]
    lb_arn = elbv2.create_load_balancer(Name="shop-alb", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    tgs = {}
    for name in ("shop-a", "shop-b"):
        tgs[name] = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc,
                                              TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    lb_dim = lb_arn.split(":loadbalancer/")[1]
    marks = minute_marks(5)
    for name, errors in (("shop-a", 1), ("shop-b", 60)):
        dims = [{"Name": "LoadBalancer", "Value": lb_dim},
                {"Name": "TargetGroup", "Value": "targetgroup/" + tgs[name].split(":targetgroup/")[1]}]
        publish(cw, None, "RequestCount", [1000] * 5, marks, dims=dims)
        publish(cw, None, "HTTPCode_Target_5XX_Count", [errors] * 5, marks, dims=dims)

    res = run_compare(moto, alb_task(load_balancer="shop-alb", live_target_group="shop-a",
                                     candidate_target_group=tgs["shop-b"], start_time="-6m"))

    error_rate = rows(res)["error_rate"]
    assert error_rate["live_count"] == 5000 and error_rate["candidate_count"] == 5000
    assert error_rate["verdict"] == "fail"
    assert res["decision"] == "fail"


def test_ecs_preset_and_a_custom_proportion(moto):
    cw = moto.client("cloudwatch")
    marks = minute_marks()
    for service, cpu in (("shop-a", noisy(30, 0.05, MINUTES, 7)), ("shop-b", noisy(60, 0.05, MINUTES, 8))):
        dims = [{"Name": "ClusterName", "Value": "prod"}, {"Name": "ServiceName", "Value": service}]
        publish(cw, None, "CPUUtilization", cpu, marks, namespace="AWS/ECS", dims=dims)
        publish(cw, None, "MemoryUtilization", noisy(40, 0.05, MINUTES, 9), marks, namespace="AWS/ECS", dims=dims)
    for slot, ok in (("a", 990), ("b", 900)):
        dims = [{"Name": "Slot", "Value": slot}]
        publish(cw, None, "CheckoutStarted", [1000] * MINUTES, marks, namespace="Shop", dims=dims)
        publish(cw, None, "CheckoutSucceeded", [ok] * MINUTES, marks, namespace="Shop", dims=dims)
    task = {"name": "ecs", "register": "verdict", "progressive.delivery.cw_compare": {
        "preset": "ecs", "cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
        "live_service": "shop-a", "candidate_service": "shop-b", "start_time": "-11m",
        "metrics": [{"name": "checkout_success", "namespace": "Shop", "metric_name": "CheckoutSucceeded",
                     "denominator_metric_name": "CheckoutStarted", "kind": "proportion",
                     "direction": "lower_is_worse", "tolerance": 0.02, "critical": False,
                     "live_dimensions": {"Slot": "a"}, "candidate_dimensions": {"Slot": "b"}}]}}

    res = run_compare(moto, task)

    table = rows(res)
    assert table["cpu"]["verdict"] == "fail" and table["cpu"]["critical"] is False
    assert table["memory"]["verdict"] == "pass"
    assert table["checkout_success"]["verdict"] == "fail"
    assert table["checkout_success"]["live"] == pytest.approx(0.99)
    # No critical metric: two of three failing metrics put the score below the marginal 75.
    assert res["score"] == pytest.approx(100 / 3.0)
    assert res["decision"] == "fail"


@pytest.mark.parametrize("args, message", [
    ({"period": 45}, "period must be 1, 5, 10, 30 or a multiple of 60"),
    ({"metric_overrides": {"latency": {"max": 1}}}, "metric_overrides names 'latency'"),
    ({"metric_overrides": {"error_rate": {"tolerence": 1}}}, "unknown field(s) tolerence"),
    ({"start_time": "yesterday"}, "start_time: 'yesterday' is not a time"),
    ({"alpha": 0.7}, "alpha must be within (0, 0.5)"),
    ({"watch_seconds": 60, "end_time": "-1m"}, "end_time ends a fixed window (watch_seconds 0)"),
    ({"step": {"percent": 10.5, "index": 0, "count": 3}, "policy": {}}, "step must hold whole numbers percent"),
    ({"step": {"percent": 10, "index": 0, "count": 3}, "policy": {"inconclusive": "wait"}},
     "policy: inconclusive policy must be one of"),
    ({"against_baseline": True}, "against_baseline is True but all of the following are missing: baseline_start"),
])
def test_bad_input_is_rejected_before_any_call(moto, args, message):
    # No data and an endpoint that answers: the failure must come from validation, naming the input.
    result = run_playbook(localhost_play([alb_task(**args)], moto.url))
    assert result.rc != 0
    failed = result.task("compare")
    assert failed["failed"] is True
    assert message in failed["msg"], failed["msg"]


def test_custom_metric_needs_distinct_sides(moto):
    task = {"name": "compare", "progressive.delivery.cw_compare": {"metrics": [
        {"name": "x", "namespace": "N", "metric_name": "M", "kind": "samples", "dimensions": {"A": "b"}}]}}
    result = run_playbook(localhost_play([task], moto.url))
    assert result.rc != 0
    assert "live and candidate have the same dimensions" in result.task("compare")["msg"]


@pytest.mark.lab
def test_p95_against_the_lab(lab):
    """The real p95 statistic: only the lab's CloudWatch answers percentiles."""
    endpoint = lab.endpoint
    import boto3
    cw = boto3.client("cloudwatch", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    marks = minute_marks()
    rng = random.Random(11)
    for tg, center in ((LIVE_TG, 0.1), (CAND_TG, 0.3)):
        dims = [{"Name": "LoadBalancer", "Value": LB}, {"Name": "TargetGroup", "Value": tg}]
        publish(cw, None, "RequestCount", [1000] * MINUTES, marks, dims=dims)
        for ts in marks:  # 50 raw latencies per minute: p95 is a real percentile of each minute
            values = [round(rng.expovariate(1 / center), 4) for _ in range(50)]
            cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "TargetResponseTime", "Dimensions": dims,
                                                          "Timestamp": ts, "Values": values}])
    task = alb_task(metric_overrides={})
    result = run_playbook(localhost_play([task], endpoint))
    assert result.rc == 0, result
    res = result.task("compare")
    latency = rows(res)["latency_p95"]
    assert latency["stat"] == "p95" and latency["kind"] == "tail"
    # Every request counted (SampleCount), not per-minute percentiles: 500 on each side.
    assert latency["candidate_count"] == 50 * MINUTES and latency["live_count"] == 50 * MINUTES
    assert latency["verdict"] == "fail", res["summary"]
    assert 1.5 < latency["relative_change"] < 5, latency  # the p95 of an exponential three times as slow
    assert res["thresholds"]["latency_p95"] > 0.2
    assert res["decision"] == "fail"


def test_a_fixed_window_with_watch_seconds_zero_and_end_time(moto):
    cw = moto.client("cloudwatch")
    marks = minute_marks()
    publish_alb(cw, LIVE_TG, [1000] * MINUTES, [2] * MINUTES, [0.1] * MINUTES, marks)
    publish_alb(cw, CAND_TG, [1000] * MINUTES, [40] * MINUTES, [0.1] * MINUTES, marks)
    res = run_compare(moto, alb_task(watch_seconds=0, start_time="-11m", end_time="-5m"))
    assert res["looks"] == 1 and res["decision"] == "fail"
    assert rows(res)["error_rate"]["candidate_count"] < 10000  # only the window asked for


def test_the_policy_answers_the_steps_question(moto):
    cw = moto.client("cloudwatch")
    marks = minute_marks()
    for tg in (LIVE_TG, CAND_TG):
        publish_alb(cw, tg, [20000] * MINUTES, [100] * MINUTES, noisy(0.15, 0.05, MINUTES, 5), marks)
    policy = {"inconclusive": "extend", "max_extensions": 1, "fallback": "rollback"}
    gate = run_compare(moto, alb_task(step={"percent": 50, "index": 1, "count": 3}, policy=policy))
    assert gate["step_action"] == "advance" and gate["question"] == "shown no worse than live?" and gate["holds"] == 0
    assert "error_rate pass (non-inferior)" in gate["action_reason"]
    # Thin traffic at the gate: not shown no worse; the module watches once more (5 s), then the fallback.
    moto.reset()
    cw = moto.client("cloudwatch")
    publish_alb(cw, LIVE_TG, [1125] * 5, [2] * 5, [0.1] * 5, minute_marks(5))
    publish_alb(cw, CAND_TG, [125] * 5, [0, 0, 1, 0, 1], [0.1] * 5, minute_marks(5))
    thin = run_compare(moto, alb_task(start_time="-6m", period=5, watch_seconds=1, extension_seconds=5,
                                      step={"percent": 50, "index": 1, "count": 3}, policy=policy))
    assert thin["step_action"] == "rollback" and thin["holds"] == 1
    assert "not yet shown no worse than live: error_rate" in thin["action_reason"]
    assert "rolling back as the policy says" in thin["action_reason"]
    early = run_compare(moto, alb_task(start_time="-6m", step={"percent": 10, "index": 0, "count": 3}, policy=policy))
    assert early["step_action"] == "advance" and early["question"] == "no harm detected so far?"


def test_against_the_baseline_live_is_the_window_before(moto):
    """The 100 % step: live serves nothing now, the candidate is compared with live's minutes before the shift."""
    cw = moto.client("cloudwatch")
    before, now = minute_marks(10)[:5], minute_marks(10)[5:]
    publish_alb(cw, LIVE_TG, [1000] * 5, [1] * 5, [0.1] * 5, before)
    publish_alb(cw, CAND_TG, [1000] * 5, [30] * 5, [0.1] * 5, now)
    lb_dims = [{"Name": "LoadBalancer", "Value": LB}]
    publish(cw, None, "RequestCount", [1000] * 10, before + now, dims=lb_dims)
    start = int(now[0].timestamp())
    res = run_compare(moto, alb_task(start_time=str(start), baseline_start=str(start - 300), against_baseline=True,
                                     metric_overrides={"latency_p95": {"kind": "samples", "stat": "Average"}}))
    table = rows(res)
    assert table["error_rate"]["against"] == "baseline" and table["error_rate"]["live_count"] == 5000
    assert table["error_rate"]["verdict"] == "fail"
    # The load balancer's own 5xx: none before, none now, 5,000 requests each - shown within the margin.
    assert table["elb_error_rate"]["verdict"] == "pass" and table["elb_error_rate"]["against"] == "baseline"
