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
    # error_rate: events and requests per side; latency_p95 (a tail): p95 and SampleCount per side, and the percentile
    # ranks once a reference is known; elb_error_rate: one load-balancer series (no TargetGroup dimension).
    assert sorted(by_id) == ["m0_c_d", "m0_c_n", "m0_l_d", "m0_l_n", "m1_c_d", "m1_c_n", "m1_l_d", "m1_l_n",
                             "m2_l_d", "m2_l_n"]
    assert by_id["m1_l_d"]["MetricStat"]["Stat"] == "SampleCount"
    assert by_id["m2_l_n"]["MetricStat"]["Metric"] == {"Namespace": "AWS/ApplicationELB",
                                                       "MetricName": "HTTPCode_ELB_5XX_Count",
                                                       "Dimensions": [{"Name": "LoadBalancer", "Value": LB}]}
    with_refs, refs_index = judge.build_queries(specs, 60, thresholds={"latency_p95": 0.125})
    stats_of = dict((q["Id"], q["MetricStat"]["Stat"]) for q in with_refs)
    assert stats_of["m1_c_t"] == "PR(:0.125)" and stats_of["m1_c_u"] == "PR(:0.15625)"
    assert refs_index["m1_l_u"] == ("latency_p95", "live", "u")
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
    specs = alb_specs({"latency_p95": {"kind": "samples", "stat": "Average", "max": 0.5}, "error_rate": {"tolerance": 0.5}})
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
    assert "metric 'a': kind must be one of proportion, tail, samples" in text
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


def alb_data(live_req, live_err, cand_req, cand_err, live_lat, cand_lat, live_slow=None, cand_slow=None):
    """Per period: requests, 5xx, p95 and (optional) the percentage of requests slower than U, PR(:U) = 100 - slow."""
    def ranks(slow, req):
        return series([100.0 - 100.0 * s / r if r else 100.0 for s, r in zip(slow, req)])
    data = {
        "error_rate": {"live": {"n": series(live_err), "d": series(live_req)},
                       "candidate": {"n": series(cand_err), "d": series(cand_req)}},
        "latency_p95": {"live": {"n": series(live_lat), "d": series(live_req)},
                        "candidate": {"n": series(cand_lat), "d": series(cand_req)}},
    }
    if live_slow is not None:
        data["latency_p95"]["live"].update(t=ranks([5 * r / 100.0 for r in live_req], live_req), u=ranks(live_slow, live_req))
        data["latency_p95"]["candidate"].update(t=ranks([5 * r / 100.0 for r in cand_req], cand_req),
                                                u=ranks(cand_slow, cand_req))
    return data


def test_evaluate_builds_the_table_and_decides():
    latency = [0.10, 0.11, 0.105, 0.098, 0.102, 0.107, 0.099, 0.103, 0.101, 0.104]
    data = alb_data([1000] * 10, [2] * 10, [1000] * 10, [30] * 10, latency, latency, [15] * 10, [14] * 10)
    refs = judge.tail_references(alb_specs(), data)
    assert refs["latency_p95"] == pytest.approx(sum(latency) / 10)
    outcome = judge.evaluate(alb_specs(), data, thresholds=refs)
    rows = dict((r["name"], r) for r in outcome["metrics"])
    assert outcome["decision"] == cs.FAIL and outcome["reason"] == "critical metric failed: error_rate"
    assert rows["error_rate"]["live"] == pytest.approx(0.002) and rows["error_rate"]["candidate"] == pytest.approx(0.03)
    assert rows["error_rate"]["relative_change"] == pytest.approx(14.0)
    assert rows["error_rate"]["level"] == pytest.approx(0.005)  # alpha 0.01 split over the two metrics judged
    assert rows["error_rate"]["evidence"] == "harm detected"
    # 1.4 % of the candidate's 10,000 requests slower than 1.25 x live's p95: shown below 5 %, a pass.
    assert rows["latency_p95"]["verdict"] == cs.PASS and rows["latency_p95"]["evidence"] == "non-inferior"
    assert rows["latency_p95"]["candidate_count"] == 10000 and rows["latency_p95"]["candidate_events"] == 140
    assert abs(rows["latency_p95"]["relative_change"]) < 0.05  # same shares at T on both sides: no shift
    # elb_error_rate is judged against a baseline only: without one it is not in the table.
    assert "elb_error_rate" not in rows
    assert outcome["score"] == 50.0
    summary = judge.summarize(outcome, elapsed=12.0)
    assert summary.startswith("fail (critical metric failed: error_rate) after 12s, score 50; error_rate fail: ")


def test_missing_5xx_datapoints_mean_zero_errors_not_nodata():
    # ALB only publishes HTTPCode_Target_5XX_Count for periods that had one.
    data = alb_data([20000] * 10, [], [20000] * 10, [], [0.1] * 10, [0.1] * 10)
    rows = dict((r["name"], r) for r in judge.evaluate(alb_specs(), data)["metrics"])
    assert rows["error_rate"]["candidate_count"] == 200000
    # No errors on either side of 200,000 requests: shown within 0.25 points of live - zero is evidence, not no data.
    assert rows["error_rate"]["verdict"] == cs.PASS and rows["error_rate"]["upper_difference"] < 0.0001
    thin = dict((r["name"], r) for r in judge.evaluate(alb_specs(), alb_data([900] * 5, [], [100] * 5, [], [0.1] * 5,
                                                                                [0.1] * 5))["metrics"])
    assert thin["error_rate"]["verdict"] == cs.INCONCLUSIVE  # 0/500 cannot show 0.25 points yet
    assert "no harm seen" in thin["error_rate"]["reason"]
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
    assert latency["kind"] == "tail" and latency["stat"] == "p95"
    assert latency["points"][0]["live_trials"] == 1000 and latency["points"][1]["candidate_trials"] == 0.0
    assert [(p["live"], p["candidate"]) for p in latency["points"]] == [(0.1, 0.15), (0.2, 0.25), (0.3, None)]
    assert judge.period_series(alb_specs(), {})[0]["points"] == []


def test_against_the_baseline_the_live_side_is_the_window_before_the_deployment():
    specs = alb_specs()
    now = alb_data([0] * 5, [], [1000] * 5, [40] * 5, [0.1] * 5, [0.1] * 5)
    before = alb_data([1000] * 5, [2] * 5, [0] * 5, [], [0.1] * 5, [0.1] * 5)
    before["elb_error_rate"] = {"live": {"n": series([1] * 5), "d": series([1000] * 5)}}
    now["elb_error_rate"] = {"live": {"n": series([1] * 5), "d": series([1000] * 5)}}
    outcome = judge.evaluate(specs, now, baseline=before, against_baseline=True)
    rows = dict((r["name"], r) for r in outcome["metrics"])
    assert rows["error_rate"]["against"] == "baseline" and rows["error_rate"]["live_count"] == 5000
    assert rows["error_rate"]["verdict"] == cs.FAIL
    # the load balancer's own 5xx: 0.1 % now as before, 5,000 requests each: shown within 0.25 points
    assert rows["elb_error_rate"]["verdict"] == cs.PASS and rows["elb_error_rate"]["against"] == "baseline"
    # Without against_baseline live now served nothing: no data, never a pass.
    plain = dict((r["name"], r) for r in judge.evaluate(specs, now, baseline=before)["metrics"])
    assert plain["error_rate"]["verdict"] == cs.NODATA


def test_a_lower_is_worse_proportion_reports_the_success_rate():
    spec = {"name": "checkout", "namespace": "App", "metric_name": "Succeeded", "kind": "proportion",
            "denominator_metric_name": "Started", "direction": "lower_is_worse", "tolerance": 0.02,
            "live_dimensions": {"Slot": "a"}, "candidate_dimensions": {"Slot": "b"}}
    specs, errors = judge.normalize_specs([spec])
    assert errors == []
    data = {"checkout": {"live": {"n": series([990] * 10), "d": series([1000] * 10)},
                         "candidate": {"n": series([900] * 10), "d": series([1000] * 10)}}}
    row = judge.evaluate(specs, data)["metrics"][0]
    assert row["verdict"] == cs.FAIL and row["live"] == pytest.approx(0.99) and row["candidate"] == pytest.approx(0.9)
