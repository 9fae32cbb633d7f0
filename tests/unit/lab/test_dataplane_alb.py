"""Pure parts of the lab's ALB data plane: forward config parsing, weighted choice, health filter, metric datums."""
import collections
from datetime import datetime, timezone

import pytest

from lab import alb

LB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/myapp-alb/50dc6c495c0c9188"
TG_A = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/myapp-a/73e2d6bc24d8a067"
TG_B = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/myapp-b/943f017f100becff"


def test_dimensions_are_the_arn_suffixes_aws_uses():
    assert alb.lb_dimension(LB) == "app/myapp-alb/50dc6c495c0c9188"
    assert alb.tg_dimension(TG_A) == "targetgroup/myapp-a/73e2d6bc24d8a067"
    assert alb.tg_name(TG_B) == "myapp-b"


def test_forward_weights_from_forward_config_single_arn_or_none():
    weighted = [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": TG_A, "Weight": 90}, {"TargetGroupArn": TG_B, "Weight": 10}],
        "TargetGroupStickinessConfig": {"Enabled": False}}}]
    assert alb.forward_weights(weighted) == [(TG_A, 90), (TG_B, 10)]
    assert alb.forward_weights([{"Type": "forward", "TargetGroupArn": TG_B}]) == [(TG_B, 1)]
    fixed = [{"Type": "fixed-response", "Order": 1, "FixedResponseConfig": {"StatusCode": "404"}}]
    assert alb.forward_weights(fixed) == []
    assert alb.forward_weights(None) == []


def test_weighted_choice_splits_the_unit_interval_by_weight():
    pairs = [("a", 90), ("b", 10)]
    assert alb.weighted_choice(pairs, 0.0) == "a"
    assert alb.weighted_choice(pairs, 0.8999) == "a"
    assert alb.weighted_choice(pairs, 0.9) == "b"
    assert alb.weighted_choice(pairs, 0.99999) == "b"
    grid = collections.Counter(alb.weighted_choice(pairs, i / 1000) for i in range(1000))
    assert grid == {"a": 900, "b": 100}


def test_weighted_choice_skips_zero_weights_and_has_no_answer_without_weight():
    assert {alb.weighted_choice([("a", 0), ("b", 5)], r) for r in (0, 0.5, 0.999)} == {"b"}
    assert alb.weighted_choice([("a", 0), ("b", 0)], 0.3) is None
    assert alb.weighted_choice([], 0.3) is None


def test_only_healthy_targets_receive_traffic():
    desc = [{"Target": {"Id": "127.1.0.10", "Port": 8080}, "TargetHealth": {"State": state}}
            for state in ("healthy", "initial", "unhealthy", "draining", "unused")]
    desc.append({"Target": {"Id": "127.1.0.11"}, "TargetHealth": {"State": "healthy"}})
    assert alb.healthy_targets(desc, 9000) == [("127.1.0.10", 8080), ("127.1.0.11", 9000)]


def test_accumulator_counts_per_target_group_and_load_balancer():
    acc = alb.MetricsAccumulator()
    acc.record(LB, TG_A, 200, 0.010)
    acc.record(LB, TG_A, 500, 0.020)
    acc.record(LB, TG_B, 200, 0.030)
    acc.record(LB, TG_B, 503, None, from_elb=True)
    period = acc.drain()
    assert acc.drain() == {}
    a, b, lb = period[(LB, TG_A)], period[(LB, TG_B)], period[(LB, None)]
    assert (a.requests, a.target_2xx, a.target_5xx, a.elb_5xx, a.latencies) == (2, 1, 1, 0, [0.010, 0.020])
    assert (b.requests, b.target_2xx, b.target_5xx, b.elb_5xx, b.latencies) == (2, 1, 0, 1, [0.030])
    assert (lb.requests, lb.target_2xx, lb.target_5xx, lb.elb_5xx) == (4, 2, 1, 1)


def test_values_counts_groups_latencies_at_tenth_of_a_millisecond():
    values, counts = alb.values_counts([0.01001, 0.01004, 0.2, 0.0100])
    assert values == [0.01, 0.2] and counts == [3.0, 1.0]


def test_metric_datums_carry_aws_dimensions_and_raw_latencies():
    acc = alb.MetricsAccumulator()
    for i in range(400):
        acc.record(LB, TG_A, 500 if i % 10 == 0 else 200, 0.001 * (i % 200 + 1))
    stamp = datetime(2026, 11, 26, tzinfo=timezone.utc)
    datums = alb.metric_datums(acc.drain(), stamp, storage_resolution=1)
    tg_dims = [{"Name": "TargetGroup", "Value": "targetgroup/myapp-a/73e2d6bc24d8a067"},
               {"Name": "LoadBalancer", "Value": "app/myapp-alb/50dc6c495c0c9188"}]
    by = collections.defaultdict(list)
    for d in datums:
        assert d["Timestamp"] == stamp and d["StorageResolution"] == 1
        by[(d["MetricName"], len(d["Dimensions"]))].append(d)
    for dims in (1, 2):
        assert by[("RequestCount", dims)][0]["Value"] == 400
        assert by[("HTTPCode_Target_5XX_Count", dims)][0]["Value"] == 40
        assert by[("HTTPCode_Target_2XX_Count", dims)][0]["Value"] == 360
        assert by[("HTTPCode_ELB_5XX_Count", dims)][0]["Value"] == 0
        rt = by[("TargetResponseTime", dims)]
        assert len(rt) == 2          # 200 distinct values split at CloudWatch's 150 per datum
        assert all(len(d["Values"]) <= 150 and len(d["Values"]) == len(d["Counts"]) for d in rt)
        assert sum(sum(d["Counts"]) for d in rt) == 400
        assert rt[0]["Unit"] == "Seconds"
    assert by[("RequestCount", 2)][0]["Dimensions"] == tg_dims
    assert by[("RequestCount", 1)][0]["Dimensions"] == tg_dims[1:]


def test_rules_route_by_path_and_host_before_the_default_action():
    default = [{"Type": "forward", "TargetGroupArn": TG_A}]
    rules = [
        {"Priority": "default", "IsDefault": True, "Conditions": [], "Actions": [
            {"Type": "forward", "TargetGroupArn": "stale-default"}]},
        {"Priority": "20", "IsDefault": False, "Conditions": [
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}],
         "Actions": [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
             {"TargetGroupArn": TG_A, "Weight": 50}, {"TargetGroupArn": TG_B, "Weight": 50}]}}]},
        {"Priority": "10", "IsDefault": False, "Conditions": [
            {"Field": "path-pattern", "Values": ["/api/v2/*"]},
            {"Field": "host-header", "HostHeaderConfig": {"Values": ["canary.*"]}}],
         "Actions": [{"Type": "forward", "TargetGroupArn": TG_B}]},
        {"Priority": "5", "IsDefault": False, "Conditions": [
            {"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8"]}}],
         "Actions": [{"Type": "forward", "TargetGroupArn": "never"}]},
    ]
    matchers = alb.rule_matchers(rules, default)
    assert alb.route(matchers, "/api/v2/items?x=1", "Canary.example.com:80") == [(TG_B, 1)]
    assert alb.route(matchers, "/api/v2/items", "www.example.com") == [(TG_A, 50), (TG_B, 50)]
    assert alb.route(matchers, "/health", "canary.example.com") == [(TG_A, 1)]
    assert alb.route(alb.rule_matchers([], []), "/", None) == []


# ---------------------------------------------------------------- CloudWatch shaped like AWS (LAB_CW_SHAPE=aws)

class RecordingCloudWatch:
    """Stands in for the boto3 client: what was put, and at which (simulated) time."""

    def __init__(self):
        self.now = None
        self.puts = []        # (now, datum)

    def put_metric_data(self, Namespace, MetricData):
        assert Namespace == "AWS/ApplicationELB" and len(MetricData) <= 20
        self.puts.extend((self.now, d) for d in MetricData)


def run_periods(plane, periods, period_s=60, start=1_800_000_000, extra=3):
    """Feed the plane one period's requests at a time ([(tg, status)]), closing each at its boundary as the metrics
    loop does, then `extra` empty periods; returns {(metric, tg or None, period start): (put at, value)}."""
    cw = RecordingCloudWatch()
    for k, requests in enumerate(list(periods) + [[]] * extra):
        for tg, status in requests:
            plane.metrics.record(LB, tg, status, 0.01 if status < 502 else None, from_elb=status in (502, 503))
        period_start = start + k * period_s
        cw.now = period_start + period_s
        plane.publish_period(cw, period_start)
    out = {}
    for now, d in cw.puts:
        tg = next((x["Value"].split("/")[1] for x in d["Dimensions"] if x["Name"] == "TargetGroup"), None)
        key = (d["MetricName"], tg, int(d["Timestamp"].timestamp()))
        assert key not in out, key
        out[key] = (now, d.get("Value", sum(d.get("Counts", []))))
    return out


def plane(shape, delay, seed=1):
    return alb.AlbDataPlane(endpoint="http://127.0.0.1:1", metric_period=60, cw_shape=shape, delay_periods=delay,
                            seed=seed)


def test_lab_shape_puts_every_count_including_zeros_at_the_period_end():
    t0 = 1_800_000_000
    out = run_periods(plane("lab", "0"), [[(TG_A, 200)] * 3, [(TG_A, 200), (TG_B, 500)]], start=t0)
    assert out[("HTTPCode_Target_5XX_Count", "myapp-a", t0)] == (t0 + 60, 0)
    assert out[("RequestCount", "myapp-a", t0 + 60)] == (t0 + 120, 1)
    assert out[("HTTPCode_Target_5XX_Count", "myapp-b", t0 + 60)] == (t0 + 120, 1)
    assert ("RequestCount", "myapp-b", t0) not in out       # no request, no series (as AWS, in both shapes)


def test_aws_shape_leaves_out_zero_counts_and_idle_target_groups():
    t0 = 1_800_000_000
    out = run_periods(plane("aws", "0"), [[(TG_A, 200)] * 3 + [(TG_B, 503)], [(TG_A, 500), (TG_A, 200)]], start=t0)
    assert out[("RequestCount", "myapp-a", t0)] == (t0 + 60, 3)
    assert out[("HTTPCode_Target_2XX_Count", "myapp-a", t0)] == (t0 + 60, 3)
    assert out[("TargetResponseTime", "myapp-a", t0)] == (t0 + 60, 3)       # SampleCount = requests answered
    for metric in ("HTTPCode_Target_5XX_Count", "HTTPCode_Target_4XX_Count", "HTTPCode_ELB_5XX_Count"):
        assert (metric, "myapp-a", t0) not in out                          # a period without them: no datapoint
    assert out[("HTTPCode_ELB_5XX_Count", "myapp-b", t0)] == (t0 + 60, 1)
    assert ("HTTPCode_Target_2XX_Count", "myapp-b", t0) not in out
    assert ("TargetResponseTime", "myapp-b", t0) not in out               # the ELB answered: no target time
    assert out[("HTTPCode_Target_5XX_Count", "myapp-a", t0 + 60)] == (t0 + 120, 1)
    assert not [k for k in out if k[1] == "myapp-b" and k[2] == t0 + 60]  # no request to b: nothing at all
    assert all(value > 0 for _, value in out.values())


def test_aws_shape_delivers_each_period_one_or_two_periods_late():
    t0 = 1_800_000_000
    periods = [[(TG_A, 200)] * (k + 1) for k in range(40)]
    out = run_periods(plane("aws", "1-2", seed=7), periods, start=t0)
    lateness = {}
    for (metric, tg, start), (put_at, value) in out.items():
        if metric == "RequestCount" and tg == "myapp-a":
            k = (start - t0) // 60
            assert value == k + 1                                         # the counts themselves are unchanged
            lateness[k] = (put_at - (start + 60)) // 60                   # whole periods after the period ended
    assert sorted(lateness) == list(range(40))
    assert set(lateness.values()) == {1, 2}
    # every datum of one period arrives together
    by_period = collections.defaultdict(set)
    for (metric, tg, start), (put_at, _) in out.items():
        by_period[start].add(put_at)
    assert all(len(v) == 1 for v in by_period.values())


def test_a_fixed_delay_and_its_parsing():
    t0 = 1_800_000_000
    out = run_periods(plane("lab", "2"), [[(TG_A, 200)]], start=t0)
    assert out[("RequestCount", "myapp-a", t0)] == (t0 + 180, 1)
    assert alb.parse_delay_periods("1-2") == (1, 2) and alb.parse_delay_periods(" 0 ") == (0, 0)
    for bad in ("2-1", "-1", "x", "1-11", ""):
        with pytest.raises(ValueError):
            alb.parse_delay_periods(bad)
    with pytest.raises(ValueError):
        plane("azure", "0")


def test_delayed_delivery_releases_oldest_first_and_only_when_due():
    d = alb.DelayedDelivery((1, 1))
    assert d.hold(0, 60, ["p0"]) == 120
    assert d.hold(60, 60, []) == 180 and len(d.pending) == 1               # nothing to deliver for an empty period
    assert d.release(119.9) == []
    assert d.release(120) == [(0, ["p0"])] and d.pending == []


def test_a_header_rule_routes_only_requests_carrying_the_header_and_a_plain_forward_takes_the_rest():
    """Adoption's test route on the production listener: a header rule to the idle slot, the default a plain forward."""
    default = [{"Type": "forward", "TargetGroupArn": TG_A}]
    rules = [{"Priority": "1", "IsDefault": False, "Conditions": [
        {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Slot", "Values": ["Candidate"]}}],
        "Actions": [{"Type": "forward", "TargetGroupArn": TG_B}]}]
    matchers = alb.rule_matchers(rules, default)
    assert alb.route(matchers, "/health", "x", {"x-slot": "candidate"}) == [(TG_B, 1)]
    assert alb.route(matchers, "/health", "x", {"X-Slot": "other"}) == [(TG_A, 1)]
    assert alb.route(matchers, "/health", "x") == [(TG_A, 1)]
    assert alb.weighted_choice(alb.route(matchers, "/", "x"), 0.99) == TG_A
