"""CloudWatch statistics over published datapoints: pure functions, no moto needed (unit-tested).

A datapoint is either a raw value (put_metric_data Value, or Values with Counts) or a statistic set
(StatisticValues). Percentiles (pNN, pNN.N) and percentile ranks (PR(low:high)) need raw values; a period with
only statistic sets has neither, as in CloudWatch.

Percentile rank, as CloudWatch defines it: PR(low:high) is the percentage (0-100) of the period's values v with
low < v <= high - exclusive at the lower bound, inclusive at the upper one; either bound may be left out
(PR(:0.25) = share of values <= 0.25, PR(0.25:) = share of values > 0.25). Bounds are absolute values.
Computed exactly here (CloudWatch may interpolate within its histogram buckets).
"""
import math
import re

PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100(?:\.0+)?)$")
PERCENTILE_RANK = re.compile(r"^PR\((-?\d+(?:\.\d+)?)?:(-?\d+(?:\.\d+)?)?\)$")
SIMPLE_STATS = ("SampleCount", "Sum", "Average", "Minimum", "Maximum")


def parse_percentile(stat):
    """'p95' -> 95.0, 'p99.9' -> 99.9; None when stat is not a percentile statistic."""
    match = PERCENTILE.match(stat or "")
    return float(match.group(1)) if match else None


def parse_percentile_rank(stat):
    """'PR(:0.25)' -> (None, 0.25), 'PR(0.1:0.5)' -> (0.1, 0.5), 'PR(0.25:)' -> (0.25, None); None when stat is
    not a percentile rank (both bounds missing, or low above high, is not one either)."""
    match = PERCENTILE_RANK.match(stat or "")
    if not match:
        return None
    low, high = (float(g) if g is not None else None for g in match.groups())
    if low is None and high is None:
        return None
    if low is not None and high is not None and low > high:
        return None
    return low, high


def is_supported(stat):
    return stat in SIMPLE_STATS or parse_percentile(stat) is not None or parse_percentile_rank(stat) is not None


def percentile_rank(weighted_values, low, high):
    """Percentage (0-100) of the samples of [(value, count)] with low < value <= high (a None bound is open).
    None when there are no samples."""
    total = 0.0
    inside = 0.0
    for value, count in weighted_values:
        value, count = float(value), float(count)
        if count <= 0:
            continue
        total += count
        if (low is None or value > low) and (high is None or value <= high):
            inside += count
    if total <= 0:
        return None
    return 100.0 * inside / total


def percentile(weighted_values, p):
    """Nearest-rank percentile of [(value, count)]: the smallest value v such that at least p % of the
    samples are <= v. None when there are no samples."""
    samples = sorted((float(v), float(c)) for v, c in weighted_values if c > 0)
    total = sum(c for _, c in samples)
    if total <= 0:
        return None
    if p <= 0:
        return samples[0][0]
    rank = max(1.0, math.ceil(p / 100.0 * total - 1e-9))
    seen = 0.0
    for value, count in samples:
        seen += count
        if seen >= rank:
            return value
    return samples[-1][0]


def statistic(stat, raw, aggregated=()):
    """The value of `stat` over one period.

    raw: [(value, count)] of raw samples; aggregated: [{"SampleCount", "Sum", "Minimum", "Maximum"}] of
    statistic sets. None when the period has no data the statistic can be computed from.
    """
    p = parse_percentile(stat)
    if p is not None:
        return percentile(raw, p)
    bounds = parse_percentile_rank(stat)
    if bounds is not None:
        return percentile_rank(raw, *bounds)
    raw = [(float(v), float(c)) for v, c in raw if c > 0]
    count = sum(c for _, c in raw) + sum(float(a["SampleCount"]) for a in aggregated)
    if count <= 0:
        return None
    total = sum(v * c for v, c in raw) + sum(float(a["Sum"]) for a in aggregated)
    if stat == "SampleCount":
        return count
    if stat == "Sum":
        return total
    if stat == "Average":
        return total / count
    if stat == "Minimum":
        return min([v for v, _ in raw] + [float(a["Minimum"]) for a in aggregated])
    if stat == "Maximum":
        return max([v for v, _ in raw] + [float(a["Maximum"]) for a in aggregated])
    raise ValueError("unsupported statistic %r" % stat)


def bucket_index(timestamp_s, start_s, period_s):
    """Index of the period [start + k*period, start + (k+1)*period) holding timestamp_s."""
    return int((timestamp_s - start_s) // period_s)
