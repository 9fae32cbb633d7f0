# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The whole-deployment simulator's pieces (bench/deployment_sim.py): variates, the lazy latency histogram against
brute force, the simulated GetMetricData's AWS shape, the scenario knobs, the inventories' policies, the drivers."""

import datetime
import math
import os
import random
import statistics

import pytest

from bench import deployment_sim as ds

from ansible_collections.progressive.delivery.plugins.module_utils import canary_judge as judge

NORMAL = statistics.NormalDist()


def _mean_var(values):
    return statistics.fmean(values), statistics.pvariance(values)


# ---------------------------------------------------------------------------
# Variates
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("lam", [0.3, 4.0, 29.0, 31.0, 250.0, 12000.0])
def test_poisson_mean_and_variance(lam):
    rng = random.Random(7)
    draws = [ds.poisson(rng, lam) for _ in range(20000)]
    mean, var = _mean_var(draws)
    se = math.sqrt(lam / 20000.0)
    assert abs(mean - lam) < 5 * se
    assert abs(var / lam - 1.0) < 0.06
    assert min(draws) >= 0


def test_poisson_and_binomial_edges():
    rng = random.Random(1)
    assert ds.poisson(rng, 0) == 0
    assert ds.binomial(rng, 0, 0.5) == 0
    assert ds.binomial(rng, 10, 0.0) == 0
    assert ds.binomial(rng, 10, 1.0) == 10


class _OldRandom(random.Random):
    """A Random without binomialvariate (Python < 3.12): binomial() takes its own path."""
    binomialvariate = None


@pytest.mark.parametrize("n, p", [(40, 0.1), (300, 0.7), (5000, 0.002)])
def test_binomial_fallback_matches_the_distribution(n, p):
    rng = _OldRandom(3)
    draws = [ds.binomial(rng, n, p) for _ in range(20000)]
    mean, var = _mean_var(draws)
    assert abs(mean - n * p) < 5 * math.sqrt(n * p * (1 - p) / 20000.0)
    assert abs(var / (n * p * (1 - p)) - 1.0) < 0.06


# ---------------------------------------------------------------------------
# The lazy latency histogram
# ---------------------------------------------------------------------------

MU, SIGMA = math.log(0.055), 0.5


def _brute_p95(rng, n):
    values = sorted(rng.lognormvariate(MU, SIGMA) for _ in range(n))
    return values[int(math.ceil(0.95 * n - 1e-9)) - 1]


def _quantiles(values, qs=(0.1, 0.25, 0.5, 0.75, 0.9)):
    values = sorted(values)
    return [values[int(q * (len(values) - 1))] for q in qs]


@pytest.mark.parametrize("n", [1, 7, 25, 225, 1200])
def test_histogram_p95_has_the_brute_force_distribution(n):
    """p95 (nearest rank) of n lognormal values: the histogram's draws and sorted samples' agree in distribution."""
    rng_h, rng_b = random.Random(11), random.Random(12)
    trials = {1: 3000, 7: 3000, 25: 3000, 225: 1500}.get(n, 500)
    hist = [ds.LatencyHistogram(n, MU, SIGMA, rng_h).percentile(95) for _ in range(trials)]
    brute = [_brute_p95(rng_b, n) for _ in range(trials)]
    # Two-sample Kolmogorov-Smirnov statistic, against its 0.001 critical value.
    both = sorted(set(hist) | set(brute))
    hs, bs = sorted(hist), sorted(brute)
    import bisect
    d = max(abs(bisect.bisect_right(hs, x) - bisect.bisect_right(bs, x)) / float(trials) for x in both)
    assert d < 1.95 * math.sqrt(2.0 / trials)
    for a, b in zip(_quantiles(hist), _quantiles(brute)):
        assert abs(a / b - 1.0) < 0.06


def test_a_small_sample_p95_reads_low_as_the_issue_measured():
    """The issue's bias: about 25 candidate requests' nearest-rank p95 reads below about 225 live requests' one."""
    rng = random.Random(5)
    small = statistics.median(ds.LatencyHistogram(25, MU, SIGMA, rng).percentile(95) for _ in range(4000))
    large = statistics.median(ds.LatencyHistogram(225, MU, SIGMA, rng).percentile(95) for _ in range(4000))
    true_p95 = math.exp(MU + SIGMA * NORMAL.inv_cdf(0.95))
    assert small < large < true_p95 * 1.01
    assert -0.10 < small / large - 1.0 < -0.01


@pytest.mark.parametrize("x", [0.03, 0.055, 0.125, 0.2])
def test_histogram_percentile_rank_is_binomial(x):
    """PR(:x) x n is Binomial(n, F(x)): mean and variance."""
    n = 225
    rng = random.Random(21)
    p = NORMAL.cdf((math.log(x) - MU) / SIGMA)
    counts = [ds.LatencyHistogram(n, MU, SIGMA, rng).percentile_rank(None, x) * n / 100.0 for _ in range(6000)]
    mean, var = _mean_var(counts)
    assert abs(mean - n * p) < 5 * math.sqrt(n * p * (1 - p) / 6000.0)
    assert abs(var / (n * p * (1 - p)) - 1.0) < 0.1


def test_histogram_answers_are_consistent_with_one_sample():
    """Whatever is asked in whatever order, the answers are those of one set of n values."""
    rng = random.Random(3)
    for _trial in range(200):
        n = rng.choice([1, 2, 25, 225, 12000])
        h = ds.LatencyHistogram(n, MU, SIGMA, rng)
        asked = []
        for _q in range(12):
            if rng.random() < 0.5:
                rank = rng.randint(1, n)
                asked.append(("rank", rank, h.order_statistic(rank)))
            else:
                x = rng.lognormvariate(MU, SIGMA * 1.5)
                asked.append(("count", x, h.count_le(x)))
        # the same question gets the same answer
        for kind, arg, answer in asked:
            assert (h.order_statistic(arg) if kind == "rank" else h.count_le(arg)) == answer
        ranks = sorted((arg, v) for kind, arg, v in asked if kind == "rank")
        counts = sorted((arg, c) for kind, arg, c in asked if kind == "count")
        assert all(a[1] <= b[1] for a, b in zip(ranks, ranks[1:]))       # order statistics grow with the rank
        assert all(a[1] <= b[1] for a, b in zip(counts, counts[1:]))     # counts grow with x
        for rank, value in ranks:
            assert h.count_le(value) >= rank                             # the rank-th value is <= itself
            assert h.count_le(value * (1 - 1e-9)) <= rank - 1            # and nothing of that rank lies below it
        assert h.count_le(1e9) == n and h.count_le(0.0) == 0
        assert h.percentile_rank() == 100.0


def test_pr_of_the_p95_itself_is_its_rank():
    rng = random.Random(9)
    for n in (1, 20, 225, 12000):
        h = ds.LatencyHistogram(n, MU, SIGMA, rng)
        p95 = h.percentile(95)
        rank = int(math.ceil(0.95 * n - 1e-9))
        assert h.percentile_rank(None, p95) == pytest.approx(100.0 * rank / n)
        assert h.percentile_rank(p95, None) == pytest.approx(100.0 * (n - rank) / n)


# ---------------------------------------------------------------------------
# The simulated CloudWatch
# ---------------------------------------------------------------------------

def _model(**kw):
    m = dict(ds.model_by_name("seed"))
    m.update(kw)
    return m


def _sim(model=None, scenario=None, seed=1, start=86400.0):
    clock = ds.SimClock(start)
    sim = ds.SimCloudWatch(model or _model(), scenario or ds.scenario_by_name("A/A"), random.Random(seed), clock, start)
    return sim, clock


def _queries(preset="alb_ecs", period=60, extra_stats=()):
    specs = ds.specs_for(preset)
    queries, index = judge.build_queries(specs, period)
    for i, stat in enumerate(extra_stats):
        for side in ("live", "candidate"):
            queries.append({"Id": "x%d_%s" % (i, side[0]), "ReturnData": True, "MetricStat": {
                "Metric": {"Namespace": ds.ALB_NS, "MetricName": "TargetResponseTime",
                           "Dimensions": [{"Name": "LoadBalancer", "Value": ds.LOAD_BALANCER},
                                          {"Name": "TargetGroup", "Value": ds.SIDE_DIMS[side]["TargetGroup"]}]},
                "Period": period, "Stat": stat}})
            index["x%d_%s" % (i, side[0])] = (stat, side, "n")
    return specs, queries, index


def test_periods_appear_only_delay_seconds_after_they_end():
    sim, clock = _sim()
    _specs, queries, index = _queries()
    start = clock.now() - 600
    period_start = math.floor(clock.now() / 60) * 60
    seen = lambda: judge.collect(sim.get_metric_data(queries, start, clock.now() + 120), index)  # noqa: E731
    stamps = lambda data: sorted(data["error_rate"]["live"]["d"])  # noqa: E731
    clock.sleep(period_start + 60 + 60 - clock.now() - 1)  # one second before the period is visible
    before = stamps(seen())
    assert before[-1] == datetime.datetime.fromtimestamp(period_start - 60, datetime.timezone.utc).isoformat()
    clock.sleep(1)
    after = stamps(seen())
    assert len(after) == len(before) + 1
    assert after[-1] == datetime.datetime.fromtimestamp(period_start, datetime.timezone.utc).isoformat()


def test_no_datapoint_for_a_zero_count_or_without_requests():
    sim, clock = _sim(model=_model(error_rate=0.0), seed=2)
    _specs, queries, _index = _queries()
    clock.sleep(1200)  # the candidate never got traffic; live did, without a single 5xx
    results = dict((r["Id"], r) for r in sim.get_metric_data(queries, clock.now() - 900, clock.now()))
    by_key = {}
    for query in queries:
        ms = query["MetricStat"]
        side = sim._side_of(ms["Metric"])
        by_key[(ms["Metric"]["MetricName"], ms["Stat"], side)] = results[query["Id"]]
    assert len(by_key[("RequestCount", "Sum", "live")]["Values"]) >= 13
    assert all(v > 0 for v in by_key[("RequestCount", "Sum", "live")]["Values"])
    assert by_key[("HTTPCode_Target_5XX_Count", "Sum", "live")]["Values"] == []   # zero 5xx: no datapoint
    for metric, stat in (("RequestCount", "Sum"), ("HTTPCode_Target_5XX_Count", "Sum"), ("TargetResponseTime", "p95")):
        assert by_key[(metric, stat, "candidate")]["Values"] == []                 # no requests: nothing at all
    # ECS: the candidate service runs (idle) from the green deployment on, the live one throughout.
    assert by_key[("CPUUtilization", "Average", "live")]["Values"]
    for (metric, _stat, _side), r in by_key.items():
        assert r["StatusCode"] == "Complete" and len(r["Timestamps"]) == len(r["Values"])
        if metric in ds.COUNT_METRICS:
            assert all(v > 0 for v in r["Values"])


def test_answers_follow_the_weights_and_every_statistic_the_judge_asks():
    sim, clock = _sim(model=_model(rps=200.0), seed=3)
    _specs, queries, index = _queries(extra_stats=("PR(:0.15625)", "SampleCount", "PR(0.05:0.2)"))
    clock.sleep(60 - clock.now() % 60)     # on a period boundary
    sim.shift(10)
    clock.sleep(600 + 60)
    data = judge.collect(sim.get_metric_data(queries, clock.now() - 600 - 60, clock.now()), index)
    live_n = list(data["error_rate"]["live"]["d"].values())
    cand_n = list(data["error_rate"]["candidate"]["d"].values())
    assert len(cand_n) == 10 and abs(statistics.fmean(cand_n) / 1200.0 - 1) < 0.05
    assert abs(statistics.fmean(live_n) / 10800.0 - 1) < 0.05
    assert data["SampleCount"]["candidate"]["n"] == data["error_rate"]["candidate"]["d"]
    for side in ("live", "candidate"):
        p95 = data["latency_p95"][side]["n"]
        pr = data["PR(:0.15625)"][side]["n"]
        band = data["PR(0.05:0.2)"][side]["n"]
        assert p95.keys() == pr.keys() == band.keys()
        for stamp in p95:
            assert 0.09 < p95[stamp] < 0.17
            assert (pr[stamp] >= 95.0) == (p95[stamp] <= 0.15625)
            assert 0 <= band[stamp] <= 100.0
    cpu = data["cpu"]
    assert statistics.fmean(cpu["live"]["n"].values()) > statistics.fmean(cpu["candidate"]["n"].values()) + 15


def test_the_load_balancers_own_series_sums_both_target_groups():
    sim, clock = _sim(model=_model(rps=200.0), scenario=ds.scenario_by_name("5xx x5"), seed=10)
    sim.shift(50)
    clock.sleep(60 * 12)
    lb = {"Namespace": ds.ALB_NS, "Dimensions": [{"Name": "LoadBalancer", "Value": ds.LOAD_BALANCER}]}
    queries = [{"Id": "r", "MetricStat": {"Metric": dict(lb, MetricName="RequestCount"), "Period": 60, "Stat": "Sum"}},
               {"Id": "e", "MetricStat": {"Metric": dict(lb, MetricName="HTTPCode_ELB_5XX_Count"), "Period": 60,
                                          "Stat": "Sum"}}]
    out = dict((r["Id"], r) for r in sim.get_metric_data(queries, clock.now() - 600, clock.now()))
    assert len(out["r"]["Values"]) == 9
    for stamp, value in zip(out["r"]["Timestamps"], out["r"]["Values"]):
        sides = sim.record(int(stamp.timestamp() // 60))["sides"]
        assert value == sides["live"]["requests"] + sides["candidate"]["requests"]
    assert sum(out["e"]["Values"]) > 0


def test_the_simulated_clock_moves_only_forward():
    clock = ds.SimClock(100.0)
    clock.sleep(-5)          # a due time already past: at once, as canary_watch's SystemClock does
    assert clock.now() == 100.0
    clock.sleep(2.5)
    assert clock.now() == clock.time() == 102.5
    with pytest.raises(ValueError):
        clock.sleep(10 ** 6)


def test_scan_by_order_and_what_cloudwatch_would_refuse():
    sim, clock = _sim()
    _specs, queries, _index = _queries()
    clock.sleep(900)
    up = sim.get_metric_data(queries[:1], clock.now() - 600, clock.now())[0]["Timestamps"]
    down = sim.get_metric_data(queries[:1], clock.now() - 600, clock.now(), scan_by="TimestampDescending")[0]
    assert up == sorted(up) and down["Timestamps"] == list(reversed(up))
    other = dict(queries[0], MetricStat=dict(queries[0]["MetricStat"], Period=300))
    with pytest.raises(ValueError, match="60 s periods"):
        sim.get_metric_data([other], clock.now() - 600, clock.now())
    avg = dict(queries[0], MetricStat=dict(queries[0]["MetricStat"], Stat="Average"))
    with pytest.raises(ValueError, match="Sum"):
        sim.get_metric_data([avg], clock.now() - 600, clock.now())
    elsewhere = dict(queries[0], MetricStat=dict(queries[0]["MetricStat"], Metric=dict(
        queries[0]["MetricStat"]["Metric"], Dimensions=[{"Name": "TargetGroup", "Value": "targetgroup/other/1"}])))
    assert sim.get_metric_data([elsewhere], clock.now() - 600, clock.now())[0]["Values"] == []
    with pytest.raises(ValueError):
        sim.get_metric_data(queries, clock.now(), clock.now() - 60)


def test_the_same_question_twice_gets_the_same_answer():
    sim, clock = _sim(model=_model(rps=200.0), seed=4)
    _specs, queries, _index = _queries()
    sim.shift(50)
    clock.sleep(900)
    first = sim.get_metric_data(queries, clock.now() - 900, clock.now())
    again = sim.get_metric_data(queries, clock.now() - 900, clock.now())
    assert first == again


def test_a_period_split_by_a_shift_gets_its_share_of_traffic():
    sim, clock = _sim(model=_model(rps=1000.0), seed=5)
    t = math.floor(clock.now() / 60) * 60 + 60
    clock.sleep(t + 30 - clock.now())
    sim.shift(50)                        # half of the period at 0 %, half at 50 %: 25 % of its traffic
    assert sim.candidate_seconds(t, t + 60) == pytest.approx(15.0)
    rec = sim.record(int(t // 60))
    assert rec["sides"]["candidate"]["share"] == pytest.approx(0.25)
    assert abs(rec["sides"]["candidate"]["requests"] / 15000.0 - 1) < 0.05


# ---------------------------------------------------------------------------
# Scenario knobs
# ---------------------------------------------------------------------------

def _period_counts(scenario, periods=400, **model_kw):
    sim, clock = _sim(model=_model(**model_kw), scenario=scenario, seed=6)
    sim.shift(50)
    clock.sleep(60 * (periods + 2))
    first = int(math.ceil((clock.now() - 60 * (periods + 1)) / 60))
    return [sim.record(first + i)["sides"] for i in range(periods)]


def test_error_factor_scales_the_candidate_only():
    recs = _period_counts(dict(name="x", kind="regression", error_factor=5.0), rps=200.0)
    rate = lambda side: sum(r[side]["target_5xx"] for r in recs) / float(sum(r[side]["requests"] for r in recs))  # noqa: E731
    assert abs(rate("live") / 0.0018 - 1) < 0.1
    assert abs(rate("candidate") / (5 * 0.0018) - 1) < 0.05
    elb = sum(r["candidate"]["elb_5xx"] for r in recs) / float(sum(r["candidate"]["target_5xx"] for r in recs))
    assert 0.07 < elb < 0.13


def test_overdispersion_widens_each_sides_period_counts_independently():
    plain = _period_counts(ds.scenario_by_name("A/A"), rps=200.0)
    noisy = _period_counts(ds.scenario_by_name("overdispersed A/A"), rps=200.0)

    def dispersion(recs, side):
        counts = [r[side]["target_5xx"] for r in recs]
        mean, var = _mean_var(counts)
        return var / mean

    assert 0.8 < dispersion(plain, "live") < 1.2
    # Gamma(CV 0.5) on a mean of ~10.8 errors a period: variance / mean ~ 1 + 0.25 x 10.8
    assert dispersion(noisy, "live") > 2.5 and dispersion(noisy, "candidate") > 2.5
    live = [r["live"]["target_5xx"] for r in noisy]
    cand = [r["candidate"]["target_5xx"] for r in noisy]
    assert abs(statistics.correlation(live, cand)) < 0.2


def test_missing_drops_about_that_share_of_each_sides_periods():
    recs = _period_counts(ds.scenario_by_name("missing 20% A/A"))
    for side in ("live", "candidate"):
        share = sum(1 for r in recs if not r[side]["present"]) / float(len(recs))
        assert 0.15 < share < 0.25
    assert all(r["live"]["present"] for r in _period_counts(ds.scenario_by_name("A/A"), periods=50))


def test_latency_shift_moves_the_candidates_p95():
    sim, clock = _sim(model=_model(rps=200.0, latency_period_sigma=0.0), scenario=ds.scenario_by_name("p95 +50%"),
                      seed=8)
    _specs, queries, index = _queries()
    sim.shift(50)
    clock.sleep(60 * 32)
    data = judge.collect(sim.get_metric_data(queries, clock.now() - 60 * 30, clock.now()), index)
    live = statistics.median(data["latency_p95"]["live"]["n"].values())
    cand = statistics.median(data["latency_p95"]["candidate"]["n"].values())
    assert abs(live / 0.125 - 1) < 0.03
    assert abs(cand / live - 1.5) < 0.05


def test_a_full_load_regression_shows_only_at_100_percent():
    model = ds.model_by_name("seed")
    scn = ds.scenario_by_name("5xx x5 at 100 % only")
    assert ds.traffic_side_params(model, scn, "candidate", 0.5) == (0.0018, 1.0)
    assert ds.traffic_side_params(model, scn, "candidate", 1.0) == (pytest.approx(0.009), 1.0)
    assert ds.traffic_side_params(model, scn, "live", 0.0) == (0.0018, 1.0)
    assert ds.traffic_side_params(model, ds.scenario_by_name("5xx x5"), "candidate", 0.1)[0] == pytest.approx(0.009)


def test_every_case_of_the_issue_is_a_scenario_and_every_model_has_a_policy():
    names = [s["name"] for s in ds.SCENARIOS]
    assert len(names) == len(set(names))
    for needed in ("A/A", "5xx x1.5", "5xx x2", "5xx x5", "5xx x10", "p95 +10%", "p95 +25%", "p95 +50%"):
        assert needed in names
    assert any(s.get("missing") for s in ds.SCENARIOS)
    assert any(s.get("overdispersion_cv") and s["kind"] == "aa" for s in ds.SCENARIOS)
    assert [m["name"] for m in ds.MODELS] == ["seed", "busy", "lab"]
    seed = ds.model_by_name("seed")
    assert seed["rps"] * 60 == pytest.approx(1250) and seed["error_rate"] == 0.0018
    true_p95 = math.exp(math.log(seed["latency_p95"]))
    assert true_p95 == pytest.approx(0.125)


def _yaml(path):
    import yaml
    with open(os.path.join(ds.ROOT, path)) as f:
        return yaml.safe_load(f)


def test_policies_come_from_the_inventories_as_checked_out():
    prod = ds.inventory_policy(ds.PRODUCTION_VARS)
    raw = dict(_yaml("roles/ecs_traffic_shift/defaults/main.yml"))
    for path in ds.PRODUCTION_VARS:
        raw.update(_yaml(path))
    assert [(s["percent"], s["watch_seconds"]) for s in prod["steps"]] == \
        [(s["percent"], s["watch_seconds"]) for s in raw["ecs_validate_steps"]] == [(10, 300), (50, 600), (100, 1800)]
    assert (prod["period"], prod["inconclusive_policy"], prod["extension_seconds"], prod["inconclusive_fallback"],
            prod["preset"], prod["alpha"], prod["spending"]) == \
        (raw["ecs_traffic_shift_period"], raw["ecs_traffic_shift_inconclusive_policy"],
         raw["ecs_traffic_shift_extension_seconds"], raw["ecs_traffic_shift_inconclusive_fallback"],
         raw["ecs_traffic_shift_preset"], raw["ecs_traffic_shift_alpha"], raw["ecs_traffic_shift_spending"])
    lab = ds.inventory_policy(ds.LAB_VARS)
    assert lab["period"] == 5
    assert lab["steps"][0] == {"percent": 10, "watch_seconds": 40, "spending": "pocock"}


def _today():
    if ds.load_today() is None:
        pytest.skip("no git history with %s to run today's judge from" % ds.TODAY_REV)
    return ds.load_today()


def test_today_is_the_judge_and_the_policy_before_issue_13():
    today = _today()
    assert "alb_ecs" not in today["canary_judge"].PRESETS
    assert [s["name"] for s in ds.specs_for("alb", judge=today["canary_judge"])] == ["error_rate", "latency_p95"]
    prod = ds.inventory_policy(ds.PRODUCTION_VARS, ds.TODAY_REV)
    assert (prod["inconclusive_policy"], prod["extension_seconds"], prod["inconclusive_fallback"], prod["preset"]) \
        == ("extend", 600, "pause", "alb")
    lab = ds.inventory_policy(ds.LAB_VARS, ds.TODAY_REV)
    assert (lab["period"], lab["inconclusive_policy"]) == (5, "proceed")


# ---------------------------------------------------------------------------
# The drivers and the report
# ---------------------------------------------------------------------------

def test_today_rolls_back_a_healthy_release_at_the_seed_for_want_of_a_terminal():
    _today()
    model = ds.model_by_name("seed")
    policy = ds.inventory_policy(model["policy_vars"], ds.TODAY_REV)
    result = ds.run_trial(model, ds.scenario_by_name("A/A"), "today", policy, 123)
    assert result["outcome"] == "rolled_back" and result["rollback_cause"] == "fallback"
    assert result["rollback_step"] == 0 and result["asked"] == 1
    assert result["steps"] == [{"percent": 10, "decision": "inconclusive", "action": "ask"}]
    assert result["looks"] == 15   # 5 one-minute looks, then the 600 s extension's 10
    assert 900 <= result["seconds_exposed"] <= 910
    assert 400 < result["candidate_requests_exposed"] < 2000


def test_today_takes_the_lab_through_every_step_and_catches_a_gross_regression():
    _today()
    model = ds.model_by_name("lab")
    policy = ds.inventory_policy(model["policy_vars"], ds.TODAY_REV)
    ok = ds.run_trial(model, ds.scenario_by_name("A/A"), "today", policy, 5)
    assert ok["outcome"] == "completed" and ok["reached_100"]
    assert [s["percent"] for s in ok["steps"]] == [10, 50, 100]
    bad = ds.run_trial(model, dict(name="x", kind="regression", metric="errors", error_factor=40.0), "today",
                       policy, 5)
    assert bad["outcome"] == "rolled_back" and bad["rollback_cause"] == "fail"


def test_new_driver_runs_the_checked_out_policy_through_every_step():
    assert ds.new_available()
    model = ds.model_by_name("lab")
    policy = ds.inventory_policy(model["policy_vars"])
    ok = ds.run_trial(model, ds.scenario_by_name("A/A"), "new", policy, 7)
    assert ok.get("error") is None
    assert ok["outcome"] == "completed" and [s["percent"] for s in ok["steps"]] == [10, 50, 100]
    assert all(s["action"] == "advance" for s in ok["steps"]) and ok["looks"] >= 3
    slow = ds.run_trial(ds.model_by_name("busy"), ds.scenario_by_name("p95 +50%"), "new",
                        ds.inventory_policy(ds.PRODUCTION_VARS), 7)
    assert slow["outcome"] == "rolled_back" and slow["rollback_cause"] == "fail" and slow["rollback_step"] == 0
    assert slow["seconds_exposed"] < 300


def test_a_judge_that_raises_is_a_rollback_with_the_error_said(monkeypatch):
    def broken(dep, policy):
        dep.shift(10)
        dep.clock.sleep(30)
        raise OverflowError("math range error")

    monkeypatch.setitem(ds.ADAPTERS["new"], "run", broken)
    model = ds.model_by_name("seed")
    out = ds.run_trial(model, ds.scenario_by_name("A/A"), "new", ds.inventory_policy(model["policy_vars"]), 1)
    assert out["outcome"] == "rolled_back" and out["rollback_cause"] == "error"
    assert out["error"].startswith("OverflowError: math range error at test_deployment_sim.py")
    assert 30 <= out["seconds_exposed"] <= 35


def test_worse_metric_is_the_one_beyond_its_margin():
    seed, busy = ds.model_by_name("seed"), ds.model_by_name("busy")
    assert ds.worse_metric(seed, ds.scenario_by_name("5xx x2"), 0.0025) is None        # +0.18 points < 0.25
    assert ds.worse_metric(seed, ds.scenario_by_name("5xx x2"), 0.0) == "error_rate"   # x2 > x1.25
    assert ds.worse_metric(seed, ds.scenario_by_name("5xx x5"), 0.0025) == "error_rate"
    assert ds.worse_metric(busy, ds.scenario_by_name("5xx x2"), 0.0025) == "error_rate"
    assert ds.worse_metric(seed, ds.scenario_by_name("p95 +25%"), 0.0025) is None
    assert ds.worse_metric(seed, ds.scenario_by_name("p95 +50%"), 0.0025) == "latency_p95"


def test_oracle_rejects_a_gross_regression_and_rarely_an_a_a():
    model = ds.model_by_name("busy")
    steps = ds.inventory_policy(model["policy_vars"])["steps"]
    rng = random.Random(2)
    aa = [ds.oracle_trial(model, ds.scenario_by_name("A/A"), steps, rng, 0.005) for _ in range(200)]
    assert sum(e for e, _l in aa) <= 4 and sum(lat for _e, lat in aa) <= 4
    bad = [ds.oracle_trial(model, ds.scenario_by_name("5xx x2"), steps, rng, 0.005) for _ in range(20)]
    slow = [ds.oracle_trial(model, ds.scenario_by_name("p95 +50%"), steps, rng, 0.005) for _ in range(20)]
    assert all(e for e, _l in bad) and all(lat for _e, lat in slow)


def _row(**kw):
    row = {"model": "seed", "model_label": "seed 1250rpm", "scenario": "A/A", "kind": "aa", "adapter": "today",
           "completed": 0.0, "reached_100": 0.0, "rolled_back": 1.0, "rolled_back_fail": 0.0,
           "rolled_back_fallback": 1.0, "rolled_back_by_step": [1.0, 0.0, 0.0], "rolled_back_fail_by_step2": 0.0,
           "oracle_power": None, "coarse_passes": 0, "metric_passes": 3}
    row.update(kw)
    return row


def test_targets_are_read_as_the_issue_states_them():
    rows = [_row(), _row(adapter="new", completed=0.995, reached_100=0.996, rolled_back=0.005, rolled_back_fail=0.005,
                         rolled_back_fallback=0.0),
            _row(adapter="new", scenario="5xx x5", kind="regression", rolled_back_fail_by_step2=0.995,
                 rolled_back_fail=0.996, oracle_power=1.0),
            _row(adapter="new", scenario="5xx x2", kind="regression", rolled_back_fail=0.85, oracle_power=0.96,
                 coarse_passes=1)]
    checks = ds.check_targets(rows)
    status = dict(((c["target"].split(" ")[0], c["scope"]), c["status"]) for c in checks)
    assert status[("healthy", "seed 1250rpm A/A [today]")] == "missed"
    assert status[("healthy", "seed 1250rpm A/A [new]")] == "met"
    assert status[("A/A", "seed 1250rpm A/A [new]")] == "met"
    assert status[("x5", "seed 1250rpm 5xx x5 [new]")] == "met"
    assert status[("regression", "seed 1250rpm 5xx x2 [new]")] == "missed"   # 0.85 < 0.9 x 0.96
    assert status[("never", "every look of every trial [new]")] == "missed"
    assert status[("never", "every look of every trial [today]")] == "met"


def test_readme_section_is_replaced_between_its_markers(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("head\n%s\nold\n%s\ntail\n" % (ds.README_BEGIN, ds.README_END))
    assert ds.update_readme("new table", str(path))
    assert path.read_text() == "head\n%s\nnew table\n%s\ntail\n" % (ds.README_BEGIN, ds.README_END)
    other = tmp_path / "other.md"
    other.write_text("no markers\n")
    assert not ds.update_readme("x", str(other))
    assert other.read_text() == "no markers\n"
