"""canary_judge: presets, spec validation, GetMetricData queries, result collection and per-look evaluation."""
import datetime

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import canary_judge as judge
from ansible_collections.progressive.delivery.plugins.module_utils import canary_stats as cs

LB = "app/shop-alb/50dc6c495c0c9188"
LIVE = "targetgroup/shop-a/73e2d6bc24d8a067"
CAND = "targetgroup/shop-b/1f6c3cbd5a9e4f21"


def alb_specs(overrides=None):
    specs, errors = judge.normalize_specs(
        judge.preset_specs("alb", load_balancer=LB, live_target_group=LIVE, candidate_target_group=CAND), overrides)
    assert errors == []
    return specs


def test_dimension_values_from_arns_and_dimensions():
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop-alb/50dc6c495c0c9188"
    assert judge.alb_dimension(arn) == LB
    assert judge.alb_dimension(LB) == LB
    assert judge.alb_dimension("shop-alb") is None
    tg_arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-a/73e2d6bc24d8a067"
    assert judge.target_group_dimension(tg_arn) == LIVE
    assert judge.target_group_dimension(LIVE) == LIVE
    assert judge.target_group_dimension("shop-a") is None
    with pytest.raises(ValueError, match="not a target group ARN"):
        judge.target_group_dimension("arn:aws:ecs:us-east-1:1:service/x/y")
    assert judge.ecs_name("arn:aws:ecs:us-east-1:123456789012:service/prod/shop-a") == "shop-a"
    assert judge.ecs_name("shop-a") == "shop-a"


def test_alb_preset_queries_use_the_dimensions_aws_uses():
    specs = alb_specs()
    queries, index = judge.build_queries(specs, 60)
    by_id = dict((q["Id"], q) for q in queries)
    assert sorted(by_id) == ["m0_c_d", "m0_c_n", "m0_l_d", "m0_l_n", "m1_c_n", "m1_l_n"]
    errors_live = by_id["m0_l_n"]["MetricStat"]
    assert errors_live["Metric"] == {"Namespace": "AWS/ApplicationELB", "MetricName": "HTTPCode_Target_5XX_Count",
                                     "Dimensions": [{"Name": "LoadBalancer", "Value": LB},
                                                    {"Name": "TargetGroup", "Value": LIVE}]}
    assert errors_live["Stat"] == "Sum" and errors_live["Period"] == 60
    assert by_id["m0_c_d"]["MetricStat"]["Metric"]["MetricName"] == "RequestCount"
    assert by_id["m0_c_d"]["MetricStat"]["Metric"]["Dimensions"][1] == {"Name": "TargetGroup", "Value": CAND}
    assert by_id["m1_l_n"]["MetricStat"]["Stat"] == "p95"
    assert by_id["m1_l_n"]["MetricStat"]["Metric"]["MetricName"] == "TargetResponseTime"
    assert index["m0_c_n"] == ("error_rate", "candidate", "n")


def test_ecs_preset_dimensions_and_criticality():
    specs, errors = judge.normalize_specs(judge.preset_specs("ecs", cluster="prod", live_service="shop-a",
                                                             candidate_service="shop-b"))
    assert errors == []
    assert [s["name"] for s in specs] == ["cpu", "memory"]
    assert all(s["critical"] is False and s["namespace"] == "AWS/ECS" and s["stat"] == "Average" for s in specs)
    queries, _ = judge.build_queries(specs, 60)
    assert queries[0]["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "ClusterName", "Value": "prod"},
                                                                 {"Name": "ServiceName", "Value": "shop-a"}]
    with pytest.raises(ValueError, match="preset must be one of"):
        judge.preset_specs("nlb")


def test_overrides_apply_and_bad_specs_are_named():
    specs = alb_specs({"latency_p95": {"stat": "Average", "max": 0.5}, "error_rate": {"tolerance": 0.5}})
    assert specs[1]["stat"] == "Average" and specs[1]["max"] == 0.5
    assert specs[0]["tolerance"] == 0.5

    base = judge.preset_specs("alb", load_balancer=LB, live_target_group=LIVE, candidate_target_group=CAND)
    bad = [
        {"name": "a", "namespace": "N", "metric_name": "M", "kind": "ratio", "live_dimensions": {"S": "a"}},
        {"name": "b", "namespace": "N", "metric_name": "M", "kind": "proportion", "live_dimensions": {"S": "a"}},
        {"name": "c", "namespace": "N", "metric_name": "M", "kind": "samples", "stat": "p", "live_dimensions": {"S": "a"}},
        {"name": "d", "namespace": "N", "metric_name": "M", "kind": "samples", "tolerance": -1, "live_dimensions": {"S": "a"}},
        {"name": "e", "namespace": "N", "metric_name": "M", "kind": "samples", "dimensions": {"S": "a"}},
        {"name": "a", "namespace": "N", "metric_name": "M", "kind": "samples", "direction": "up", "live_dimensions": {"S": "a"}},
        {"namespace": "N", "metric_name": "M", "kind": "samples", "live_dimensions": {"S": "a"}},
    ]
    _, errors = judge.normalize_specs(base + bad, {"latency": {"max": 1}, "error_rate": {"tolerence": 1}})
    text = "\n".join(errors)
    assert "metric 'a': kind must be one of proportion, samples" in text
    assert "metric 'b': a proportion needs denominator_metric_name" in text
    assert "metric 'c': stat 'p' is not a CloudWatch statistic" in text
    assert "metric 'd': tolerance must be a number >= 0" in text
    assert "metric 'e': live and candidate have the same dimensions" in text
    assert "metric 'a': duplicate metric name" in text
    assert "direction must be one of higher_is_worse, lower_is_worse" in text
    assert "metrics[%d]: name is required" % (len(base) + 6) in text
    assert "metric_overrides names 'latency', which is not a metric here" in text
    assert "metric_overrides.error_rate: unknown field(s) tolerence" in text
    assert judge.normalize_specs([])[1] == ["no metrics to compare: choose a preset or give metrics"]


def test_collect_merges_pages_and_drops_unknown_ids():
    index = {"m0_l_n": ("error_rate", "live", "n"), "m0_l_d": ("error_rate", "live", "d")}
    t0 = datetime.datetime(2026, 11, 26, 10, 0, tzinfo=datetime.timezone.utc)
    t1 = t0 + datetime.timedelta(minutes=1)
    results = [
        {"Id": "m0_l_d", "Timestamps": [t0], "Values": [100.0]},
        {"Id": "m0_l_d", "Timestamps": [t1], "Values": [120.0]},  # the next page of the same query
        {"Id": "m0_l_n", "Timestamps": [t1], "Values": [3.0]},
        {"Id": "other", "Timestamps": [t0], "Values": [1.0]},
    ]
    data = judge.collect(results, index)
    assert data == {"error_rate": {"live": {"d": {t0.isoformat(): 100.0, t1.isoformat(): 120.0},
                                            "n": {t1.isoformat(): 3.0}}}}


def series(values, start=0):
    return dict(("2026-11-26T10:%02d:00+00:00" % (start + i), float(v)) for i, v in enumerate(values))


def alb_data(live_req, live_err, cand_req, cand_err, live_lat, cand_lat):
    return {
        "error_rate": {"live": {"n": series(live_err), "d": series(live_req)},
                       "candidate": {"n": series(cand_err), "d": series(cand_req)}},
        "latency_p95": {"live": {"n": series(live_lat)}, "candidate": {"n": series(cand_lat)}},
    }


def test_evaluate_builds_the_table_and_decides():
    latency = [0.10, 0.11, 0.105, 0.098, 0.102, 0.107, 0.099, 0.103, 0.101, 0.104]
    data = alb_data([1000] * 10, [2] * 10, [1000] * 10, [30] * 10, latency, latency)
    outcome = judge.evaluate(alb_specs(), data)
    rows = dict((r["name"], r) for r in outcome["metrics"])
    assert outcome["decision"] == cs.FAIL and outcome["reason"] == "critical metric failed: error_rate"
    assert rows["error_rate"]["live"] == pytest.approx(0.002) and rows["error_rate"]["candidate"] == pytest.approx(0.03)
    assert rows["error_rate"]["relative_change"] == pytest.approx(14.0)
    assert rows["error_rate"]["level"] == pytest.approx(0.005)  # alpha 0.01 split over two metrics
    assert rows["latency_p95"]["verdict"] == cs.PASS
    assert rows["latency_p95"]["live_count"] == 10
    assert outcome["score"] == 50.0
    summary = judge.summarize(outcome, elapsed=12.0)
    assert summary.startswith("fail (critical metric failed: error_rate) after 12s, score 50; error_rate fail: ")


def test_missing_5xx_datapoints_mean_zero_errors_not_nodata():
    # ALB only publishes HTTPCode_Target_5XX_Count for periods that had one.
    data = alb_data([20000] * 10, [], [20000] * 10, [], [0.1] * 10, [0.1] * 10)
    rows = dict((r["name"], r) for r in judge.evaluate(alb_specs(), data)["metrics"])
    assert rows["error_rate"]["candidate_count"] == 200000
    assert rows["error_rate"]["verdict"] == cs.INCONCLUSIVE  # no errors anywhere: nothing is detectable
    empty = judge.evaluate(alb_specs(), {})
    assert [r["verdict"] for r in empty["metrics"]] == [cs.NODATA, cs.NODATA]
    assert empty["decision"] == cs.INCONCLUSIVE


def test_looks_spend_the_budget_and_carry_what_is_unused():
    specs = alb_specs()
    spent = {}
    levels = []
    for look in range(1, 6):
        data = alb_data([1125] * look, [2] * look, [125] * look, [0] * look, [0.1] * look, [0.1] * look)
        outcome = judge.evaluate(specs, data, look=look, looks=5, alpha=0.01, spent=spent)
        spent = outcome["spent"]
        levels.append(outcome["metrics"][0]["level"])
        assert outcome["decision"] != cs.FAIL
    assert levels == sorted(levels)
    # No error on the candidate side ever reached a rejection region early, so the last look has
    # (nearly) the metric's whole share of alpha.
    assert levels[-1] > 0.004
    assert all(v <= 0.005 + 1e-12 for v in spent.values())


def test_time_parsing_and_windows():
    now = 1764151200.0  # 2025-11-26T10:00:00Z
    assert judge.parse_time("-15m", now) == now - 900
    assert judge.parse_time("-2h", now) == now - 7200
    assert judge.parse_time("2025-11-26T10:00:00Z", 0) == now
    assert judge.parse_time("2025-11-26T11:00:00+01:00", 0) == now
    assert judge.parse_time("2025-11-26T10:00:00", 0) == now
    assert judge.parse_time(str(now), 0) == now
    with pytest.raises(ValueError, match="is not a time"):
        judge.parse_time("yesterday", now)
    assert judge.align_window(now + 10, now + 70, 60) == (now, now + 120)
    assert judge.align_window(now, now, 60) == (now, now + 60)
    assert judge.iso(now) == "2025-11-26T10:00:00Z"
    assert judge.period_error(60) is None and judge.period_error(10) is None and judge.period_error(300) is None
    assert "multiple of 60" in judge.period_error(45)


def test_period_series_gives_every_period_judged_per_side():
    data = alb_data([1000, 1000, 500], [2, 0, 5], [100, 0, 50], [0, 0, 4], [0.1, 0.2, 0.3], [0.15, 0.25])
    # ALB publishes no 5xx datapoint in a period without 5xx: drop the zeros, as CloudWatch would.
    for side in ("live", "candidate"):
        series_n = data["error_rate"][side]["n"]
        for stamp in [k for k, v in series_n.items() if v == 0]:
            del series_n[stamp]
    del data["error_rate"]["candidate"]["d"]["2026-11-26T10:01:00+00:00"]
    periods = {p["name"]: p for p in judge.period_series(alb_specs(), data)}

    errors = periods["error_rate"]
    assert errors["kind"] == "proportion" and errors["metric_name"] == "HTTPCode_Target_5XX_Count"
    assert [p["time"] for p in errors["points"]] == ["2026-11-26T10:00:00Z", "2026-11-26T10:01:00Z", "2026-11-26T10:02:00Z"]
    first, second, third = errors["points"]
    assert first["live"] == pytest.approx(0.002) and first["candidate"] == 0.0
    assert first["candidate_events"] == 0.0 and first["candidate_trials"] == 100.0
    assert second["live"] == 0.0 and second["live_events"] == 0.0 and second["live_trials"] == 1000.0
    assert second["candidate"] is None and second["candidate_trials"] is None
    assert third["candidate"] == pytest.approx(0.08) and third["live"] == pytest.approx(0.01)
    # The per-period events and trials add up to what the table judged.
    row = {r["name"]: r for r in judge.evaluate(alb_specs(), data)["metrics"]}["error_rate"]
    assert sum(p["candidate_trials"] or 0 for p in errors["points"]) == row["candidate_count"]

    latency = periods["latency_p95"]
    assert latency["kind"] == "samples" and latency["stat"] == "p95"
    assert [(p["live"], p["candidate"]) for p in latency["points"]] == [(0.1, 0.15), (0.2, 0.25), (0.3, None)]
    assert judge.period_series(alb_specs(), {})[0]["points"] == []
