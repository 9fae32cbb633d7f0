"""canary_stats against scipy.stats as the oracle, plus the judge's behaviour on simulated canaries."""
import math

import numpy as np
import pytest
from scipy import special
from scipy import stats as ss

from ansible_collections.progressive.delivery.plugins.module_utils import canary_stats as cs


# ---------------------------------------------------------------- distributions

@pytest.mark.parametrize("p", [1e-12, 1e-6, 0.001, 0.02, 0.3, 0.5, 0.77, 0.99, 1 - 1e-9])
def test_norm_ppf_matches_scipy(p):
    assert cs.norm_ppf(p) == pytest.approx(ss.norm.ppf(p), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("a, b, x", [(1, 1, 0.3), (3, 18, 0.1), (11, 11, 0.1), (0.5, 7.5, 0.02),
                                     (300, 701, 0.25), (50, 59951, 0.0005), (2, 3, 0.999)])
def test_betainc_matches_scipy(a, b, x):
    # lgamma of arguments near 6e4 carries ~1e-10 relative error into the prefactor.
    assert cs.betainc(a, b, x) == pytest.approx(special.betainc(a, b, x), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("k, n, p", [(0, 5, 0.1), (3, 10, 0.1), (11, 21, 0.1), (300, 1000, 0.25),
                                     (1, 1, 0.5), (50, 60000, 0.0005), (21, 21, 0.1), (22, 21, 0.1)])
def test_binomial_tail_matches_scipy_both_ways(k, n, p):
    expected = ss.binom.sf(k - 1, n, p)
    assert cs.binom_sf(k, n, p) == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert cs.binom_sf_exact(k, n, p) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_conditional_binomial_test_matches_scipy_binomtest():
    rng = np.random.default_rng(7)
    for _ in range(200):
        n_l, n_c = int(rng.integers(50, 20000)), int(rng.integers(50, 20000))
        x_l, x_c = int(rng.integers(0, 60)), int(rng.integers(0, 60))
        p_value, p0, total = cs.conditional_binomial_test(x_l, n_l, x_c, n_c)
        assert total == x_l + x_c
        assert p0 == pytest.approx(n_c / (n_c + n_l))
        if total:
            expected = ss.binomtest(x_c, total, p0, alternative="greater").pvalue
            assert p_value == pytest.approx(expected, rel=1e-9, abs=1e-300)
        else:
            assert p_value == 1.0


def test_conditional_binomial_test_rejects_bad_counts():
    with pytest.raises(ValueError, match="candidate errors"):
        cs.conditional_binomial_test(1, 100, 11, 10)
    with pytest.raises(ValueError, match="live requests must be positive"):
        cs.conditional_binomial_test(0, 0, 1, 10)


@pytest.mark.parametrize("total, p0, level", [(21, 0.1, 0.01), (34, 0.5, 0.005), (600, 0.1, 1e-6), (3, 0.3, 0.001)])
def test_binomial_critical_value_is_the_smallest_rejecting_count(total, p0, level):
    k, size = cs.binomial_critical_value(total, p0, level)
    if k <= total:
        assert ss.binom.sf(k - 1, total, p0) <= level * (1 + 1e-9)
        assert size == pytest.approx(ss.binom.sf(k - 1, total, p0), rel=1e-9)
    else:
        assert size == 0.0
    assert k == 0 or ss.binom.sf(k - 2, total, p0) > level


def scipy_power(ratio, n_l, n_c, rate, level):
    """Exact power under the Poisson model, by brute force with scipy."""
    lam = rate * n_l + rate * ratio * n_c
    p0, pi = n_c / (n_c + n_l), rate * ratio * n_c / lam
    power = 0.0
    for n in range(1, int(lam + 15 * math.sqrt(lam) + 30)):
        ks = np.arange(n + 2)
        ok = np.nonzero(ss.binom.sf(ks - 1, n, p0) <= level)[0]
        if len(ok):
            power += ss.poisson.pmf(n, lam) * ss.binom.sf(ok[0] - 1, n, pi)
    return power


@pytest.mark.parametrize("ratio, n_l, n_c, rate, level", [
    (2, 5625, 625, 0.0018, 0.007), (5, 5625, 625, 0.0018, 0.006), (1.5, 6250, 6250, 0.0018, 0.005),
    (2, 54000, 6000, 0.005, 0.01), (3, 1000, 1000, 0.01, 1e-6), (1, 5000, 5000, 0.004, 0.01)])
def test_proportion_power_is_exact(ratio, n_l, n_c, rate, level):
    assert cs.proportion_power(ratio, n_l, n_c, rate, level) == pytest.approx(
        scipy_power(ratio, n_l, n_c, rate, level), abs=2e-6)


def test_proportion_power_normal_regime_is_close_to_exact():
    # Above EXACT_POWER_MAX_EVENTS expected errors the normal approximation takes over.
    args = (1.2, 60000, 60000, 0.004, 0.005)
    assert 0.004 * 60000 * 2.2 > cs.EXACT_POWER_MAX_EVENTS
    assert cs.proportion_power(*args) == pytest.approx(scipy_power(*args), abs=0.02)


@pytest.mark.parametrize("x_l, n_l, n_c, level", [(10, 5625, 625, 0.01), (11, 6250, 6250, 0.005), (270, 54000, 6000, 0.01)])
def test_proportion_mde_is_where_power_reaches_the_target(x_l, n_l, n_c, level):
    mde = cs.proportion_mde(x_l, n_l, n_c, level, power=0.8)
    rate = (x_l + 0.5) / (n_l + 1.0)
    assert scipy_power(mde, n_l, n_c, rate, level) >= 0.8 - 1e-6
    assert scipy_power(mde / 1.03, n_l, n_c, rate, level) < 0.8


def test_mde_of_the_seed_10_percent_step_is_far_above_a_doubling():
    # DESIGN: 625 candidate requests at 0.18 % -> only about a x7-x9 increase is detectable.
    mde = cs.proportion_mde(10, 5625, 625, 0.01)
    assert 5 < mde < 10
    # A live side without errors cannot make anything detectable cheaply.
    assert cs.proportion_mde(0, 5000, 500, 0.01) is None or cs.proportion_mde(0, 5000, 500, 0.01) > 20
    # More traffic, smaller MDE.
    assert cs.proportion_mde(100, 56250, 6250, 0.01) < mde


def test_clopper_pearson_lower_matches_scipy_beta():
    for x, n, level in [(5, 100, 0.01), (1, 625, 0.05), (300, 1000, 0.001)]:
        assert cs.clopper_pearson_lower(x, n, level) == pytest.approx(ss.beta.ppf(level, x, n - x + 1), rel=1e-8)
    assert cs.clopper_pearson_lower(0, 100, 0.01) == 0.0


# ---------------------------------------------------------------- samples

def test_mann_whitney_exact_matches_scipy():
    rng = np.random.default_rng(3)
    for n1, n2 in [(1, 1), (3, 5), (5, 5), (7, 9), (10, 10), (20, 20), (12, 40)]:
        for shift in (0.0, 0.7):
            cand, live = rng.normal(shift, 1, n1), rng.normal(0, 1, n2)
            mine = cs.mann_whitney_u(cand, live, method="exact")
            theirs = ss.mannwhitneyu(cand, live, alternative="greater", method="exact")
            assert mine["u"] == theirs.statistic
            assert mine["p_value"] == pytest.approx(theirs.pvalue, rel=1e-9)


def test_mann_whitney_asymptotic_with_ties_matches_scipy():
    rng = np.random.default_rng(4)
    for n1, n2 in [(5, 8), (10, 10), (30, 25), (80, 60)]:
        cand, live = np.round(rng.normal(0.3, 1, n1)), np.round(rng.normal(0, 1, n2))
        mine = cs.mann_whitney_u(cand, live)
        theirs = ss.mannwhitneyu(cand, live, alternative="greater", method="asymptotic", use_continuity=True)
        assert mine["method"] == "asymptotic" and mine["ties"]
        assert mine["u"] == theirs.statistic
        assert mine["p_value"] == pytest.approx(theirs.pvalue, rel=1e-9)


def test_mann_whitney_critical_value_and_size_are_exact():
    for n1, n2, level in [(5, 5, 0.01), (10, 10, 0.005), (3, 3, 0.01)]:
        u_crit, size = cs.mwu_critical_value(n1, n2, level)
        if u_crit > n1 * n2:
            assert size == 0.0 and 1.0 / special.comb(n1 + n2, n1) > level
            continue
        assert size <= level
        counts = cs.mwu_exact_counts(n1, n2)
        assert sum(counts) == special.comb(n1 + n2, n1, exact=True)
        assert sum(counts[int(u_crit):]) / sum(counts) == pytest.approx(size)
        assert sum(counts[int(u_crit) - 1:]) / sum(counts) > level


def test_hodges_lehmann_estimate_and_interval_invert_the_test():
    rng = np.random.default_rng(5)
    cand, live = rng.normal(0.5, 1, 12), rng.normal(0, 1, 10)
    estimate, lower, upper = cs.hodges_lehmann(cand, live, 0.95)
    assert estimate == pytest.approx(np.median(np.subtract.outer(cand, live)))
    assert lower < estimate < upper
    eps = 1e-9
    # The interval holds exactly the shifts a two-sided 5 % Mann-Whitney test does not reject.
    p = lambda d, alt: ss.mannwhitneyu(cand - d, live, alternative=alt, method="exact").pvalue  # noqa: E731
    assert p(lower - eps, "greater") <= 0.025 < p(lower + eps, "greater")
    assert p(upper + eps, "less") <= 0.025 < p(upper - eps, "less")
    # Too small for any interval: bounds are None, the estimate stays.
    assert cs.hodges_lehmann([1.0, 2.0], [0.0], 0.95)[1:] == (None, None)


def test_percentile_matches_numpy():
    rng = np.random.default_rng(6)
    values = list(rng.exponential(0.2, 37))
    for q in (0, 5, 50, 95, 99, 100):
        assert cs.percentile(values, q) == pytest.approx(np.percentile(values, q))
    assert cs.percentile([], 50) is None
    assert cs.relative_change(0.1, 0.15) == pytest.approx(0.5)
    assert cs.relative_change(0, 1) is None


# ---------------------------------------------------------------- alpha spending

def test_obrien_fleming_spending_matches_its_formula_and_adds_up():
    alpha = 0.01
    for t in (0.1, 0.25, 0.5, 0.8):
        expected = 2 - 2 * ss.norm.cdf(ss.norm.ppf(1 - alpha / 2) / math.sqrt(t))
        assert cs.alpha_spent_by(t, alpha) == pytest.approx(expected, rel=1e-9)
    levels = [cs.look_level(k, 5, alpha, spent=cs.alpha_spent_by((k - 1) / 5.0, alpha)) for k in range(1, 6)]
    assert sum(levels) == pytest.approx(alpha)
    assert levels == sorted(levels)  # little early, most at the end
    assert levels[0] < alpha / 100
    assert cs.alpha_spent_by(0.5, alpha, "pocock") == pytest.approx(alpha * math.log(1 + (math.e - 1) * 0.5))
    assert cs.look_level(2, 4, alpha, spending="bonferroni") == pytest.approx(alpha / 2)
    # Unspent size carries over: a look that could not reject leaves its alpha to the next.
    assert cs.look_level(5, 5, alpha, spent=0.0) == alpha
    with pytest.raises(ValueError, match="spending must be one of"):
        cs.alpha_spent_by(0.5, alpha, "linear")


# ---------------------------------------------------------------- behaviour of the judge

def simulate_watch(rng, n_live, n_cand, rate, ratio, looks, trials, alpha=0.01, tolerance=0.25):
    """Per-period binomial errors, judged at every look on the cumulative counts; returns verdict counts."""
    verdicts = {}
    first_fail = []
    live = rng.binomial(n_live, rate, size=(trials, looks)).cumsum(axis=1)
    cand = rng.binomial(n_cand, min(1.0, rate * ratio), size=(trials, looks)).cumsum(axis=1)
    for t in range(trials):
        spent = 0.0
        for k in range(1, looks + 1):
            level = cs.look_level(k, looks, alpha, spent)
            result = cs.judge_proportion(int(live[t, k - 1]), n_live * k, int(cand[t, k - 1]), n_cand * k, level,
                                         tolerance=tolerance)
            spent += result["size"]
            assert spent <= alpha + 1e-12
            if result["verdict"] == cs.FAIL:
                first_fail.append(k)
                break
        verdicts[result["verdict"]] = verdicts.get(result["verdict"], 0) + 1
    return verdicts, first_fail


def test_aa_false_fail_rate_stays_within_alpha_over_all_looks():
    # The seed's 10 % step looked at every minute for 5 minutes, and a thicker 200 req/s case.
    rng = np.random.default_rng(20261126)
    for n_live, n_cand, rate, looks, trials in [(1125, 125, 0.0018, 5, 1000), (10800, 1200, 0.005, 5, 200)]:
        verdicts, _ = simulate_watch(rng, n_live, n_cand, rate, 1.0, looks, trials)
        false_fail = verdicts.get(cs.FAIL, 0) / float(trials)
        assert false_fail <= 0.01, verdicts


def test_tenfold_error_rate_at_625_requests_is_detected_early():
    rng = np.random.default_rng(11)
    verdicts, first_fail = simulate_watch(rng, 1125, 125, 0.0018, 10.0, 5, 300)
    assert verdicts.get(cs.FAIL, 0) / 300.0 >= 0.9, verdicts
    assert np.mean(first_fail) < 5  # on average before the last look
    # And the single fixed-window answer on the typical counts.
    result = cs.judge_proportion(10, 5625, 11, 625, 0.01)
    assert result["verdict"] == cs.FAIL


def test_detection_close_to_the_oracle_where_the_oracle_has_power():
    # 50 % step, 10 minutes at 1,250 req/min and a x4 regression; 200 req/s at 10 % for a minute, x2.5.
    rng = np.random.default_rng(12)
    for n_live, n_cand, rate, ratio, looks in [(625, 625, 0.0018, 4.0, 10), (1800, 200, 0.005, 2.5, 6)]:
        verdicts, _ = simulate_watch(rng, n_live, n_cand, rate, ratio, looks, 300)
        detection = verdicts.get(cs.FAIL, 0) / 300.0
        lam_l, lam_c = n_live * looks * rate, n_cand * looks * rate * ratio
        live = rng.poisson(lam_l, 20000)
        cand = rng.poisson(lam_c, 20000)
        p0 = n_cand / float(n_cand + n_live)
        oracle = np.mean(ss.binom.sf(cand - 1, live + cand, p0) <= 0.01)  # one test at the end, full alpha
        assert oracle >= 0.5
        assert detection >= 0.9 * oracle - 0.05, (detection, oracle)  # 0.05: 300-trial noise


def test_doubling_at_the_seed_10_percent_step_is_inconclusive_never_pass():
    rng = np.random.default_rng(13)
    verdicts, _ = simulate_watch(rng, 1125, 125, 0.0018, 2.0, 5, 300)
    assert verdicts.get(cs.PASS, 0) == 0, verdicts
    result = cs.judge_proportion(10, 5625, 2, 625, 0.01)
    assert result["verdict"] == cs.INCONCLUSIVE
    assert result["mde_ratio"] > 1.25
    assert "could only detect" in result["reason"]


def test_proportion_verdict_rules():
    # Enough traffic and equal rates: pass, with the MDE inside the tolerance.
    result = cs.judge_proportion(1000, 200000, 1000, 200000, 0.01)
    assert result["verdict"] == cs.PASS and result["mde_ratio"] <= 1.25
    # Significant but within tolerance: not a failure.
    small = cs.judge_proportion(10000, 1000000, 10800, 1000000, 0.01, tolerance=0.25)
    assert small["p_value"] < 0.01 and small["verdict"] == cs.PASS
    assert cs.judge_proportion(10000, 1000000, 10800, 1000000, 0.01, tolerance=0.05)["verdict"] == cs.FAIL
    # Too little traffic, and no traffic.
    assert "too little traffic" in cs.judge_proportion(1, 1000, 0, 20, 0.01)["reason"]
    assert cs.judge_proportion(1, 1000, 0, 0, 0.01)["verdict"] == cs.NODATA
    # Absolute limit: fails on the lower confidence bound, not on one unlucky error.
    assert cs.judge_proportion(1, 1000, 1, 60, 0.01, maximum=0.01)["verdict"] != cs.FAIL
    limited = cs.judge_proportion(1, 1000, 30, 600, 0.01, maximum=0.01)
    assert limited["verdict"] == cs.FAIL and "above the limit" in limited["reason"]
    # Lower is worse (a success rate): fewer successes fail.
    worse = cs.judge_proportion(9900, 10000, 9000, 10000, 0.01, tolerance=0.02, direction=cs.LOWER_IS_WORSE)
    assert worse["verdict"] == cs.FAIL
    better = cs.judge_proportion(9000, 10000, 9900, 10000, 0.01, tolerance=0.02, direction=cs.LOWER_IS_WORSE)
    assert better["verdict"] == cs.PASS
    # An absolute tolerance: a detectable but tiny increase passes.
    tiny = cs.judge_proportion(0, 50000, 0, 50000, 0.01, abs_tolerance=0.001)
    assert tiny["verdict"] == cs.PASS
    assert cs.judge_proportion(0, 50000, 0, 50000, 0.01)["verdict"] == cs.INCONCLUSIVE


def test_samples_verdict_rules():
    rng = np.random.default_rng(14)
    live = list(rng.normal(0.100, 0.005, 10))
    same = list(rng.normal(0.100, 0.005, 10))
    slower = list(rng.normal(0.150, 0.005, 10))
    assert cs.judge_samples(live, same, 0.005)["verdict"] == cs.PASS
    failed = cs.judge_samples(live, slower, 0.005)
    assert failed["verdict"] == cs.FAIL
    assert failed["relative_change"] == pytest.approx(0.5, abs=0.1)
    # Slower but within a 60 % band: significant, not a failure.
    assert cs.judge_samples(live, slower, 0.005, tolerance=0.6)["verdict"] == cs.PASS
    # Lower is worse (throughput): the slower series is "better".
    assert cs.judge_samples(live, slower, 0.005, direction=cs.LOWER_IS_WORSE)["verdict"] == cs.PASS
    assert cs.judge_samples(slower, live, 0.005, direction=cs.LOWER_IS_WORSE)["verdict"] == cs.FAIL
    # Three samples a side can never reach 0.005: inconclusive with no detectable shift.
    few = cs.judge_samples(live[:3], slower[:3], 0.005)
    assert few["verdict"] == cs.INCONCLUSIVE and few["mde_ratio"] is None
    assert "too few samples" in cs.judge_samples(live[:2], slower[:2], 0.005)["reason"]
    # A noisy baseline: the MDE is wider than the tolerance, so no pass.
    noisy_live, noisy_cand = list(rng.lognormal(-2, 0.8, 6)), list(rng.lognormal(-2, 0.8, 6))
    noisy = cs.judge_samples(noisy_live, noisy_cand, 0.005)
    assert noisy["verdict"] in (cs.INCONCLUSIVE, cs.FAIL)
    # SLO limit on the candidate's median fails even with one sample.
    slo = cs.judge_samples([0.1], [0.9], 0.005, maximum=0.5)
    assert slo["verdict"] == cs.FAIL and "above the limit" in slo["reason"]
    assert cs.judge_samples([], [0.1], 0.005)["verdict"] == cs.NODATA


def test_samples_mde_shrinks_with_samples_and_is_calibrated():
    rng = np.random.default_rng(15)
    base = list(rng.normal(100, 10, 40))
    assert cs.samples_mde(base[:10], base[10:20], 0.005) > cs.samples_mde(base[:20], base[20:40], 0.005)
    # At its MDE shift a one-sided Mann-Whitney test at the same level detects normal data about 80 % of the time.
    n, level, sigma = 10, 0.005, 10.0
    mde = cs.samples_mde(list(rng.normal(0, sigma, n)), list(rng.normal(0, sigma, n)), level)
    hits = 0
    trials = 400
    for _ in range(trials):
        live, cand = rng.normal(0, sigma, n), rng.normal(mde, sigma, n)
        hits += ss.mannwhitneyu(cand, live, alternative="greater", method="exact").pvalue <= level
    assert 0.7 <= hits / float(trials) <= 0.95


def test_aggregate_decision_rules():
    row = lambda name, verdict, critical=True, weight=1.0: dict(name=name, verdict=verdict, critical=critical, weight=weight)  # noqa: E731
    assert cs.aggregate([row("a", "pass"), row("b", "pass")])[:2] == (100.0, cs.PASS)
    assert cs.aggregate([row("a", "fail"), row("b", "pass")])[1] == cs.FAIL
    # A non-critical failure lowers the score; one of four keeps 75 -> inconclusive between the thresholds.
    score, decision, _ = cs.aggregate([row("a", "pass"), row("b", "pass"), row("c", "pass"), row("d", "fail", False)])
    assert (score, decision) == (75.0, cs.INCONCLUSIVE)
    assert cs.aggregate([row("a", "pass"), row("d", "fail", False, 3.0)])[:2] == (25.0, cs.FAIL)
    # Critical without a conclusion never lets the step pass.
    assert cs.aggregate([row("a", "pass"), row("b", "inconclusive")])[1] == cs.INCONCLUSIVE
    assert cs.aggregate([row("a", "pass"), row("b", "nodata")])[1] == cs.INCONCLUSIVE
    # Non-critical without a conclusion: left out of the score.
    assert cs.aggregate([row("a", "pass"), row("b", "inconclusive", False)])[:2] == (100.0, cs.PASS)
    assert cs.aggregate([row("b", "inconclusive", False)])[:2] == (None, cs.INCONCLUSIVE)
