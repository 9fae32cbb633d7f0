"""The judge can say yes: non-inferiority of rates, latency tails from counts, paired periods - against scipy."""
import math

import numpy as np
import pytest
from scipy import stats as sp

from ansible_collections.progressive.delivery.plugins.module_utils import canary_stats as cs


@pytest.mark.parametrize("x, n", [(0, 625), (1, 625), (12, 6875), (300, 1000), (999, 1000)])
def test_clopper_pearson_upper_matches_the_beta_quantile(x, n):
    want = 1.0 if x == n else sp.beta.ppf(0.95, x + 1, n - x)
    assert cs.clopper_pearson_upper(x, n, 0.05) == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("p, df", [(0.975, 1), (0.99, 4), (0.95, 9), (0.8, 2.5), (0.999, 30), (0.1, 5)])
def test_t_quantiles(p, df):
    assert cs.t_ppf(p, df) == pytest.approx(sp.t.ppf(p, df), rel=1e-7)
    assert cs.t_sf(1.3, df) == pytest.approx(sp.t.sf(1.3, df), rel=1e-9)


def test_wilson_interval_matches_statsmodels_formula():
    lo, hi = cs.wilson_interval(3, 40, 1.959963984540054)
    p, n, z = 3 / 40.0, 40, 1.959963984540054
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert (lo, hi) == pytest.approx((centre - half, centre + half))


def test_ratio_bound_covers_the_true_ratio():
    """Coverage of the exact conditional bound: at the true ratio it is exceeded at most ~level of the time."""
    rng = np.random.default_rng(7)
    level, misses, trials = 0.05, 0, 800
    for live, cand in zip(rng.binomial(2000, 0.01, trials), rng.binomial(1000, 0.015, trials)):
        bound = cs.ratio_upper(int(live), 2000, int(cand), 1000, level)
        if bound is not None and bound < 1.5:
            misses += 1
    assert misses / float(trials) <= level + 0.02


def test_difference_bound_covers_zero_events():
    """Newcombe's bound: a candidate at the live rate is called more than 0.25 points worse rarely, zeros included."""
    rng = np.random.default_rng(3)
    over = 0
    for live, cand in zip(rng.binomial(5000, 0.0018, 2000), rng.binomial(5000, 0.0018 + 0.0025, 2000)):
        if cs.difference_upper(int(cand), 5000, int(live), 5000, 0.025) <= 0.0025:
            over += 1   # a false pass at exactly the margin
    assert over / 2000.0 <= 0.035


def test_seed_numbers_pooled_through_the_50_percent_step_pass():
    """1,250 req/min, 0.18 %: 10 % for 5 min + 50 % for 10 min = 6,875 candidate and 11,875 live requests."""
    result = cs.judge_rate(21, 11875, 12, 6875, 0.005, abs_margin=0.0025)
    assert result["verdict"] == cs.PASS and result["evidence"] == "non-inferior"
    assert "no worse than +0 points" in result["reason"] and "margin 0.25 points" in result["reason"]


def test_a_thin_step_is_no_harm_seen_not_a_pass_and_zero_errors_are_not_no_data():
    result = cs.judge_rate(10, 5625, 0, 625, 0.005, abs_margin=0.0025)
    assert result["verdict"] == cs.INCONCLUSIVE and "no harm seen" in result["reason"]
    assert result["upper_difference"] > 0.0025


def test_five_times_the_errors_fail_and_say_so():
    result = cs.judge_rate(21, 11875, 62, 6875, 0.001, abs_margin=0.0025)
    assert result["verdict"] == cs.FAIL and result["evidence"] == "harm detected"


def test_an_slo_shown_met_is_evidence_and_one_shown_broken_fails():
    ok = cs.judge_rate(10, 5625, 0, 625, 0.005, maximum=0.01, abs_margin=0.0025)
    assert ok["verdict"] == cs.PASS and ok["evidence"] == "SLO met"
    broken = cs.judge_rate(10, 5625, 30, 625, 0.005, maximum=0.01)
    assert broken["verdict"] == cs.FAIL and broken["evidence"] in ("SLO", "harm detected")


def test_overdispersed_periods_deflate_the_counts():
    live = [(e, 1000) for e in (0, 9, 1, 0, 12, 0, 8, 0)]     # bursts: far noisier than Poisson
    cand = [(e, 1000) for e in (0, 0, 14, 0, 0, 16, 0, 0)]
    phi = cs.dispersion(*zip(*live))
    assert phi > 3
    plain = cs.judge_rate(30, 8000, 30, 8000, 0.01)
    noisy = cs.judge_rate(30, 8000, 30, 8000, 0.01, live_periods=live, candidate_periods=cand)
    assert noisy["dispersion"] > 3 and "deflated" in noisy["reason"]
    assert noisy["upper_difference"] > plain["upper_difference"]  # less certain, as it should be
    assert cs.dispersion([1, 2, 1, 2], [1000] * 4) == 1.0


def test_tail_counts_not_per_period_percentiles():
    # lognormal latency, sigma 0.5: 1.25 x live's p95 is exceeded by 1.8 % of an identical release's requests
    sigma = 0.5
    share = lambda mult: sp.norm.sf(1.6448536 + math.log(1.25 / mult) / sigma)
    same = cs.judge_tail(int(5625 * share(1.0)), 5625, int(625 * share(1.0)), 625, 0.156, 0.005, reference=0.125)
    assert same["verdict"] == cs.PASS
    slow = cs.judge_tail(int(5625 * share(1.0)), 5625, int(625 * share(1.5)), 625, 0.156, 0.005, reference=0.125)
    assert slow["verdict"] == cs.FAIL and "p95 above the tolerance" in slow["reason"]
    thin = cs.judge_tail(2, 225, 1, 25, 0.156, 0.005, min_total=20)
    assert thin["verdict"] == cs.INCONCLUSIVE


def test_the_tail_shift_estimate_is_exact_for_a_lognormal():
    mu, sigma = math.log(0.1), 0.5
    t, u = 0.125, 0.156
    for mult in (1.0, 1.1, 1.25, 1.5):
        s_t = sp.norm.sf((math.log(t / mult) - mu) / sigma)
        s_u = sp.norm.sf((math.log(u / mult) - mu) / sigma)
        want = mult * math.exp(mu + sigma * sp.norm.ppf(0.95))
        assert cs.tail_shift_estimate(s_t, s_u, t, u) == pytest.approx(want, rel=1e-6)


def test_paired_periods_pass_with_five_periods_and_fail_a_clear_shift():
    live = [0.120, 0.131, 0.118, 0.125, 0.140]
    same = [v * f for v, f in zip(live, (1.02, 0.97, 1.01, 0.99, 1.03))]
    result = cs.judge_paired(live, same, 0.005)
    assert result["verdict"] == cs.PASS and result["paired"] is True
    worse = cs.judge_paired(live, [v * 1.6 * f for v, f in zip(live, (1.02, 0.97, 1.01, 0.99, 1.03))], 0.005)
    assert worse["verdict"] == cs.FAIL
    # the paired interval is the t interval of the log-ratios
    d = [math.log(c / v) for v, c in zip(live, same)]
    mean, se = sum(d) / 5, sp.sem(d)
    assert math.log(1 + result["shift_ci"][1]) == pytest.approx(mean + sp.t.ppf(0.95, 4) * se, rel=1e-6)
    few = cs.judge_paired(live[:2], same[:2], 0.005)
    assert few["verdict"] == cs.INCONCLUSIVE and few["evidence"] == "too few periods"
    assert cs.judge_paired([], same, 0.005)["verdict"] == cs.NODATA


def test_against_a_baseline_the_samples_are_unpaired():
    base = [30.0, 32.0, 29.0, 31.0, 30.5, 29.5]
    now = [30.5, 31.0, 29.8, 30.2]
    result = cs.judge_paired(base, now, 0.005, paired=False)
    assert result["paired"] is False and result["verdict"] == cs.PASS
    zeros = cs.judge_paired([0.0, 0.1, 0.0, 0.2], [0.0, 0.1, 0.1, 0.0], 0.005)  # values of 0: differences, not logs
    assert zeros["verdict"] in (cs.PASS, cs.INCONCLUSIVE)
