# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The judge-accuracy benchmark's scenario generator, oracle and baselines (bench/judge_accuracy.py)."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from bench import baselines
from bench import judge_accuracy as ja


def _scenario(name):
    found = [s for s in ja.all_scenarios() if s["name"] == name]
    assert len(found) == 1, name
    return found[0]


def _rng(chunk=0, scenario=0):
    return np.random.default_rng(ja.chunk_seed(ja.SEED, scenario, chunk))


def test_catalogue_covers_every_case_of_the_issue_with_unique_names():
    scenarios = ja.all_scenarios()
    names = [s["name"] for s in scenarios]
    assert len(names) == len(set(names))
    for group, *_rest in ja.ERROR_RATE_CONFIGS:
        effects = sorted(s["effect"] for s in scenarios if s["group"] == group)
        assert effects == [1.0, 1.5, 2.0, 5.0, 10.0], group
    for periods in (5, 10, 20):
        shifts = sorted(round(s["effect"] - 1, 2) for s in scenarios if s["group"] == "latency %d periods" % periods)
        assert shifts == [0.0, 0.1, 0.25, 0.5]
    assert any(s["missing"] > 0 and s["kind"] == "proportion" for s in scenarios)
    assert any(s["missing"] > 0 and s["kind"] == "samples" for s in scenarios)
    assert any(s["overdispersion_cv"] > 0 and s["shared_shocks"] for s in scenarios)
    assert any(s["overdispersion_cv"] > 0 and not s["shared_shocks"] for s in scenarios)
    assert all(s["expect"] == "no_fail" for s in scenarios if s["effect"] == 1.0)


@pytest.mark.parametrize("name, live, candidate, periods, watch", [
    ("seed 1250rpm 10% 5m x1", 1125, 125, 5, 300),        # 625 candidate requests in all, as DESIGN §3 says
    ("seed 1250rpm 50% 10m x2", 625, 625, 10, 600),
    ("200rps 10% 1m x5", 10800, 1200, 1, 60),
    ("200rps 10% 5m x10", 10800, 1200, 5, 300),
    ("lab 20rps 10% 20s x1", 90, 10, 4, 20),              # inventories/lab: 5 s periods, 20 s at 10 %
    ("lab 20rps 50% 15s x1.5", 50, 50, 3, 15),            # 15 s at 50 %
])
def test_traffic_split_per_period(name, live, candidate, periods, watch):
    scn = _scenario(name)
    assert (scn["live_requests"], scn["candidate_requests"], scn["periods"], scn["watch_s"]) == \
        (live, candidate, periods, watch)


def test_candidate_rate_is_the_baseline_times_the_effect():
    assert _scenario("seed 1250rpm 10% 5m x2")["candidate_rate"] == pytest.approx(0.0036)
    assert _scenario("200rps 10% 5m x10")["candidate_rate"] == pytest.approx(0.05)
    assert _scenario("lab bad release 10% 20s 0% -> 5%")["live_rate"] == 0.0


def test_error_counts_follow_the_rates():
    scn = _scenario("200rps 10% 5m x2")
    sim = ja.simulate_proportion(scn, 2000, _rng())
    assert sim["shape"] == (2000, 5)
    assert (sim["candidate_requests"] == 1200).all() and (sim["live_requests"] == 10800).all()
    for side, n, rate in (("live", 10800, 0.005), ("candidate", 1200, 0.01)):
        errors = sim["%s_errors" % side]
        se = math.sqrt(n * rate * (1 - rate) / errors.size)
        assert abs(errors.mean() - n * rate) < 4 * se, side


def test_same_seed_same_trials_and_chunks_differ():
    scn = _scenario("seed 1250rpm 50% 10m x2")
    a = ja.simulate_proportion(scn, 50, _rng(chunk=0))
    b = ja.simulate_proportion(scn, 50, _rng(chunk=0))
    c = ja.simulate_proportion(scn, 50, _rng(chunk=1))
    assert (a["candidate_errors"] == b["candidate_errors"]).all()
    assert (a["live_errors"] == b["live_errors"]).all()
    assert not (a["live_errors"] == c["live_errors"]).all()


def test_missing_periods_carry_no_requests_or_errors():
    scn = _scenario("missing 20% 1250rpm 50% 10m x5")
    sim = ja.simulate_proportion(scn, 2000, _rng())
    for side in ("live", "candidate"):
        present = sim["%s_present" % side]
        assert 0.78 < present.mean() < 0.82
        assert (sim["%s_requests" % side][~present] == 0).all()
        assert (sim["%s_errors" % side][~present] == 0).all()
    silent = ja.simulate_proportion(_scenario("candidate without data 1250rpm 50% 10m"), 20, _rng())
    assert silent["candidate_requests"].sum() == 0 and silent["live_requests"].sum() > 0


def test_overdispersion_widens_the_spread_and_shared_shocks_correlate_the_sides():
    per_side = ja.simulate_proportion(_scenario("noisy (per side) 200rps 10% 5m x1"), 2000, _rng())
    live = per_side["live_errors"]
    binomial_var = 10800 * 0.005 * (1 - 0.005)
    assert live.var() > 5 * binomial_var  # CV 0.5 on a mean of 54: var ~ 54 + 0.25 * 54^2
    shared = ja.simulate_proportion(_scenario("noisy (shared) 1250rpm 50% 10m x1"), 4000, _rng())
    corr = np.corrcoef(shared["live_errors"].ravel(), shared["candidate_errors"].ravel())[0, 1]
    assert corr > 0.1
    independent = np.corrcoef(live.ravel(), per_side["candidate_errors"].ravel())[0, 1]
    assert abs(independent) < 0.05


def test_latency_p95_per_period_and_the_shift():
    scn = _scenario("latency 5 periods p95 +50%")
    sim = ja.simulate_latency(scn, 300, _rng())
    expected_p95 = ja.LATENCY_MEDIAN_S * math.exp(ja.LATENCY_SIGMA * sps.norm.ppf(0.95))
    assert np.median(sim["live_p95"]) == pytest.approx(expected_p95, rel=0.03)
    assert np.median(sim["candidate_p95"]) / np.median(sim["live_p95"]) == pytest.approx(1.5, rel=0.05)
    missing = ja.simulate_latency(_scenario("missing 20% latency 10 periods A/A"), 500, _rng())
    assert 0.75 < np.isfinite(missing["candidate_p95"]).mean() < 0.85


def test_oracle_is_the_exact_conditional_binomial_test():
    # live 0/150, candidate x/150: p0 = 0.5, p-value 0.5^x; 0.5^8 = 0.0039 <= 0.005 < 0.5^7
    sim = {"live_errors": np.array([[0], [0], [3]]), "live_requests": np.array([[150], [150], [150]]),
           "candidate_errors": np.array([[8], [7], [0]]), "candidate_requests": np.array([[150], [150], [150]])}
    assert ja.oracle_rejects(sim, level=0.005).tolist() == [True, False, False]


def test_baselines():
    assert baselines.fixed_ratio_proportion(10, 1000, 12, 1000) == "pass"
    assert baselines.fixed_ratio_proportion(10, 1000, 13, 1000) == "fail"
    assert baselines.fixed_ratio_proportion(0, 1000, 1, 1000) == "fail"
    assert baselines.fixed_ratio_proportion(0, 0, 1, 1000) == "nodata"
    live = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 1.02, 0.98, 1.01, 0.99]
    assert baselines.mann_whitney(live, [2 * v for v in live]) == "fail"
    assert baselines.mann_whitney(live, [1.1 * v for v in live]) == "pass"  # within the 25 % tolerance
    assert baselines.mann_whitney(live, list(live)) == "pass"
    assert baselines.mann_whitney([1.0], [5.0]) == "pass"                    # one period each: no interval
    assert baselines.mann_whitney([], [1.0]) == "nodata"


def test_a_chunk_runs_the_judge_look_by_look():
    scn = _scenario("lab bad release 50% 15s 0% -> 5%")
    index = ja.all_scenarios().index(scn)
    _index, _chunk, out = ja.run_chunk((scn, index, 0, 20, ja.SEED))
    assert len(out["verdict"]) == 20 and set(out["verdict"]) <= set(ja.VERDICTS)
    assert all(1 <= look <= scn["periods"] for look in out["look"])
    # A failed trial stops at its look; the others watch to the end.
    assert all(look == scn["periods"] for look, v in zip(out["look"], out["verdict"]) if v != "fail")
    row = ja.summarize_scenario(scn, out)
    assert row["detection"] == out["verdict"].count("fail") / 20.0 and row["false_fail"] is None


def test_the_roles_extension_watches_again_over_the_grown_window():
    scn = _scenario("extend once seed 1250rpm 10% 5m x1")
    assert (scn["periods"], scn["total_periods"], scn["watch_s"]) == (5, 10, 600)
    sim = ja.simulate_proportion(scn, 5, _rng())
    assert sim["shape"] == (5, 10)
    index = ja.all_scenarios().index(scn)
    _index, _chunk, out = ja.run_chunk((scn, index, 0, 8, ja.SEED))
    # Every trial that does not fail watches twice (the role's extension over the grown window).
    assert all(look == 10 for look, v in zip(out["look"], out["verdict"]) if v != "fail")


def test_a_scenarios_spending_reaches_the_judge():
    """The same trials judged with pocock decide no later than with O'Brien-Fleming when the release is clearly bad:
    pocock's early looks test at a larger level."""
    looks = {}
    for spending in ("obrien_fleming", "pocock"):
        scn = _scenario("lab first step 200rps 10%% 40s %s 0%% -> 5%%" % spending)
        assert scn["spending"] == spending and scn["periods"] == 8
        index = ja.all_scenarios().index(scn)
        _index, _chunk, out = ja.run_chunk((scn, index, 0, 30, ja.SEED))
        assert out["verdict"].count("fail") == 30
        looks[spending] = sum(out["look"]) / 30.0
    assert looks["pocock"] < looks["obrien_fleming"], looks
