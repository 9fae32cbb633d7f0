import pytest

import random

from lab.aws.metric_stats import (is_supported, parse_percentile, parse_percentile_rank, percentile, percentile_rank,
                                   statistic)


@pytest.mark.parametrize("stat,expected", [("p95", 95.0), ("p99.9", 99.9), ("p50", 50.0), ("p100", 100.0),
                                           ("p0", 0.0), ("Average", None), ("p101", None), ("P95", None),
                                           ("tm99", None), ("", None)])
def test_parse_percentile(stat, expected):
    assert parse_percentile(stat) == expected


def test_percentile_nearest_rank_on_1_to_100():
    values = [(v, 1) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 90) == 90
    assert percentile(values, 95) == 95
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile(values, 0) == 1


def test_percentile_honours_counts():
    # 90 samples of 10 ms and 10 samples of 500 ms: p90 is still 10, p91 and above 500
    weighted = [(0.010, 90), (0.500, 10)]
    assert percentile(weighted, 90) == 0.010
    assert percentile(weighted, 91) == 0.500
    assert percentile(weighted, 95) == 0.500
    assert percentile(weighted, 50) == 0.010


def test_percentile_unsorted_input_and_empty():
    assert percentile([(5, 1), (1, 1), (3, 1)], 50) == 3
    assert percentile([], 95) is None
    assert percentile([(1.0, 0)], 95) is None


def test_simple_statistics_mix_raw_and_statistic_sets():
    raw = [(1.0, 2), (4.0, 1)]
    aggregated = [{"SampleCount": 2, "Sum": 10.0, "Minimum": 0.5, "Maximum": 9.5}]
    assert statistic("SampleCount", raw, aggregated) == 5
    assert statistic("Sum", raw, aggregated) == 16.0
    assert statistic("Average", raw, aggregated) == pytest.approx(3.2)
    assert statistic("Minimum", raw, aggregated) == 0.5
    assert statistic("Maximum", raw, aggregated) == 9.5


def test_percentile_ignores_statistic_sets_and_empty_period_is_none():
    assert statistic("p95", [], [{"SampleCount": 2, "Sum": 2, "Minimum": 1, "Maximum": 1}]) is None
    assert statistic("Average", []) is None
    assert statistic("p95", [(2.0, 1)]) == 2.0


def test_is_supported():
    assert is_supported("p95") and is_supported("Sum") and not is_supported("IQM")


@pytest.mark.parametrize("stat,expected", [("PR(:0.25)", (None, 0.25)), ("PR(0.25:)", (0.25, None)),
                                           ("PR(0.1:0.5)", (0.1, 0.5)), ("PR(100:2000)", (100.0, 2000.0)),
                                           ("PR(:)", None), ("PR(0.5:0.1)", None), ("pr(:1)", None),
                                           ("PR(:1", None), ("PR(a:1)", None), ("p95", None), ("", None)])
def test_parse_percentile_rank(stat, expected):
    assert parse_percentile_rank(stat) == expected


def test_percentile_rank_is_exclusive_below_and_inclusive_above():
    values = [(v, 1) for v in (0.1, 0.2, 0.25, 0.3, 0.5)]
    assert percentile_rank(values, None, 0.25) == 60.0          # 0.1, 0.2, 0.25 <= 0.25
    assert percentile_rank(values, 0.25, None) == 40.0          # 0.3, 0.5 > 0.25
    assert percentile_rank(values, 0.2, 0.3) == 40.0            # 0.25, 0.3 (0.2 itself is out)
    assert statistic("PR(:0.25)", values) == 60.0
    assert statistic("PR(:0.25)", [], [{"SampleCount": 2, "Sum": 2, "Minimum": 1, "Maximum": 1}]) is None
    assert percentile_rank([], None, 1) is None and is_supported("PR(:0.25)") and not is_supported("PR(:)")


def test_percentile_rank_matches_a_brute_force_count():
    rng = random.Random(14)
    for _ in range(200):
        samples = [round(rng.expovariate(8.0), 3) for _ in range(rng.randint(1, 60))]
        weighted = {}
        for v in samples:
            weighted[v] = weighted.get(v, 0) + 1
        low = rng.choice([None, round(rng.uniform(0, 0.3), 3), samples[0]])
        high = rng.choice([None, round(rng.uniform(0.2, 0.6), 3), samples[-1]])
        if low is None and high is None or (low is not None and high is not None and low > high):
            continue
        brute = 100.0 * sum(1 for v in samples if (low is None or v > low) and (high is None or v <= high)) / len(samples)
        stat = "PR(%s:%s)" % ("" if low is None else repr(low), "" if high is None else repr(high))
        assert statistic(stat, list(weighted.items())) == pytest.approx(brute), stat
