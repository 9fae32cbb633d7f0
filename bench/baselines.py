# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two simple canary classifiers to hold the judge against (numpy only, independent of the judge's code).

Both look once, at the end of the watch (no early exit), and answer "fail", "pass" or "nodata";
higher values are worse.

fixed_ratio
    The comparator many pipelines start with: fail when the candidate's value is more than
    `band` (20 %) above live's. For an error rate the values are the window's proportions
    (errors / requests); for latency the mean of the per-period p95 values. A live value of 0
    fails any candidate value above 0.

mann_whitney
    The classifier of Kayenta-style canary analysis, on the per-period series (one value per
    period and side: the period's error ratio, or its p95): the two-sided Mann-Whitney /
    Hodges-Lehmann confidence interval (98 %) of the shift candidate - live; fail when the
    interval lies above 0 AND the effect size mean(candidate) / mean(live) exceeds 1 + tolerance
    (25 %). The interval uses the normal approximation of U (as Kayenta does), so with very few
    periods it is unbounded and the classifier passes.
"""

import math
from statistics import NormalDist

import numpy as np

PASS = "pass"
FAIL = "fail"
NODATA = "nodata"


def fixed_ratio(live_value, candidate_value, band=0.2):
    """Fail when candidate > live * (1 + band); nodata when either value is missing."""
    if live_value is None or candidate_value is None:
        return NODATA
    if not (math.isfinite(live_value) and math.isfinite(candidate_value)):
        return NODATA
    if live_value <= 0:
        return FAIL if candidate_value > 0 else PASS
    return FAIL if candidate_value > live_value * (1.0 + band) else PASS


def fixed_ratio_proportion(live_errors, live_requests, candidate_errors, candidate_requests, band=0.2):
    if live_requests <= 0 or candidate_requests <= 0:
        return NODATA
    return fixed_ratio(float(live_errors) / live_requests, float(candidate_errors) / candidate_requests, band)


def fixed_ratio_samples(live, candidate, band=0.2):
    live = [v for v in live if v is not None and math.isfinite(v)]
    candidate = [v for v in candidate if v is not None and math.isfinite(v)]
    if not live or not candidate:
        return NODATA
    return fixed_ratio(float(np.mean(live)), float(np.mean(candidate)), band)


def hodges_lehmann_interval(candidate, live, confidence=0.98):
    """Shift estimate and two-sided interval (normal approximation of U); bounds are +-inf when too few values."""
    cand = np.asarray(candidate, dtype=float)
    base = np.asarray(live, dtype=float)
    diffs = np.sort((cand[:, None] - base[None, :]).ravel())
    m = diffs.size
    estimate = float(np.median(diffs))
    z = NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)
    sd = math.sqrt(cand.size * base.size * (cand.size + base.size + 1) / 12.0)
    w = int(math.floor(m / 2.0 - z * sd - 0.5))
    if w < 0:
        return estimate, -math.inf, math.inf
    return estimate, float(diffs[w]), float(diffs[m - w - 1])


def mann_whitney(live, candidate, confidence=0.98, tolerance=0.25):
    """Kayenta-style classifier on two per-period series (see the module docstring)."""
    live = [v for v in live if v is not None and math.isfinite(v)]
    candidate = [v for v in candidate if v is not None and math.isfinite(v)]
    if not live or not candidate:
        return NODATA
    _estimate, lower, _upper = hodges_lehmann_interval(candidate, live, confidence)
    if not lower > 0:
        return PASS
    live_mean = float(np.mean(live))
    cand_mean = float(np.mean(candidate))
    effect = math.inf if live_mean <= 0 else cand_mean / live_mean
    return FAIL if effect > 1.0 + tolerance else PASS
