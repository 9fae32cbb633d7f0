# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Statistics of the canary judge: pure functions, Python standard library only.

Importable without Ansible, boto3 or scipy, so the judge can be unit-tested against
scipy.stats and benchmarked directly.

Error rates (proportions)
    Exact conditional binomial test. With live (x_l errors of n_l requests) and candidate
    (x_c of n_c), errors arriving as Poisson processes with rates proportional to traffic,
    the candidate's share of all errors given their total N = x_l + x_c is
    Binomial(N, p0 = n_c / (n_c + n_l)) when the candidate is no worse. The one-sided
    p-value is P(X >= x_c); the test is uniformly most powerful unbiased for the rate
    ratio and needs no large-sample approximation, which matters at thin traffic.

Minimum detectable effect (MDE) of that test
    The smallest rate ratio R (candidate rate = R x live rate) that the test, at the level
    used for this look, would detect with probability `power`. Computed exactly under the
    Poisson model: N ~ Poisson(rate * (n_l + R n_c)), X | N ~ Binomial(N, pi_R) with
    pi_R = R n_c / (R n_c + n_l), power = sum_N P(N) P(X >= c(N) | N), c(N) the exact
    critical value. When the expected total exceeds EXACT_POWER_MAX_EVENTS the normal
    approximation of the binomial at N = E[N] is used (error < 1 % of power there). The
    live rate comes from the live data with a 0.5 continuity term, so a live side without
    errors gives a large MDE (nothing can be said), never a zero one.

Looking every period (sequential testing)
    Alpha spending (Lan-DeMets) with the O'Brien-Fleming-type function
    a(t) = 2 - 2 Phi(z_{1 - alpha/2} / sqrt(t)) over the planned looks (t = look / looks):
    little alpha early (only a large regression fails early), nearly all of it at the end
    (power at the last look close to a single test). Each look tests at level
    a(t_k) - spent, where `spent` sums the attained sizes of the earlier looks (the exact
    probability under H0 of rejecting there, given the totals, which for a discrete test
    is often far below its nominal level). By the union bound the false-fail probability
    over all looks is at most alpha. Pocock-type (alpha ln(1 + (e - 1) t)) and an even
    Bonferroni split are available too.

Samples (latency, CPU ...)
    Mann-Whitney U, one-sided (candidate worse): exact distribution when there are no ties
    and both samples have at most EXACT_MWU_MAX values, otherwise the normal approximation
    with tie correction and continuity correction. Hodges-Lehmann shift (median of all
    candidate - live differences) with its distribution-free confidence interval. The MDE
    is the shift detected with probability `power` by the exact critical value of U, for
    normally distributed values with the pooled standard deviation (P(cand > live) =
    Phi(delta / (sigma sqrt 2)), U approximately normal with its spread under that
    alternative); None when no ordering of the samples could reach the level, or 80 %
    power would need near-perfect separation (too few samples).
"""

import functools
import math

EXACT_POWER_MAX_EVENTS = 400.0
EXACT_MWU_MAX = 50
_SQRT2 = math.sqrt(2.0)

HIGHER_IS_WORSE = "higher_is_worse"
LOWER_IS_WORSE = "lower_is_worse"
DIRECTIONS = (HIGHER_IS_WORSE, LOWER_IS_WORSE)
SPENDING_FUNCTIONS = ("obrien_fleming", "pocock", "bonferroni")

PASS = "pass"
FAIL = "fail"
INCONCLUSIVE = "inconclusive"
NODATA = "nodata"


# ---------------------------------------------------------------------------
# Distributions
# ---------------------------------------------------------------------------

def norm_cdf(z):
    return 0.5 * math.erfc(-z / _SQRT2)


def norm_sf(z):
    return 0.5 * math.erfc(z / _SQRT2)


def norm_ppf(p):
    """Inverse of the standard normal CDF (Acklam's rational approximation, one Newton step)."""
    if not 0.0 < p < 1.0:
        if p == 0.0:
            return -math.inf
        if p == 1.0:
            return math.inf
        raise ValueError("probability must be within [0, 1], got %r" % (p,))
    if p > 0.5:
        return -norm_ppf(1.0 - p)
    a = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
         1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
    b = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
         6.680131188771972e+01, -1.328068155288572e+01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
         -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00)
    low = 0.02425
    if p < low:
        q = math.sqrt(-2 * math.log(p))
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    elif p <= 1 - low:
        q = p - 0.5
        r = q * q
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / \
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    else:
        q = math.sqrt(-2 * math.log1p(-p))
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    # One Halley step against the exact CDF brings the error to ~1e-15.
    e = norm_cdf(x) - p
    u = e * math.sqrt(2 * math.pi) * math.exp(x * x / 2)
    return x - u / (1 + x * u / 2)


def _log_choose(n, k):
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def binom_logpmf(k, n, p):
    if k < 0 or k > n:
        return -math.inf
    if p <= 0.0:
        return 0.0 if k == 0 else -math.inf
    if p >= 1.0:
        return 0.0 if k == n else -math.inf
    return _log_choose(n, k) + k * math.log(p) + (n - k) * math.log1p(-p)


def _logsumexp(values):
    top = max(values)
    if top == -math.inf:
        return -math.inf
    return top + math.log(math.fsum(math.exp(v - top) for v in values))


def _betacf(a, b, x):
    """Continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    if abs(d) < tiny:
        d = tiny
    d = 1.0 / d
    h = d
    for m in range(1, 10000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 3e-16:
            break
    return h


def betainc(a, b, x):
    """Regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def binom_sf(k, n, p):
    """P(X >= k) for X ~ Binomial(n, p), by the incomplete beta function (fast)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    return betainc(k, n - k + 1, p)


def binom_sf_exact(k, n, p):
    """P(X >= k) for X ~ Binomial(n, p), summing the pmf in log space."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return min(1.0, math.exp(_logsumexp([binom_logpmf(i, n, p) for i in range(k, n + 1)])))


def poisson_logpmf(k, lam):
    if lam <= 0:
        return 0.0 if k == 0 else -math.inf
    return k * math.log(lam) - lam - math.lgamma(k + 1)


# ---------------------------------------------------------------------------
# Descriptive helpers
# ---------------------------------------------------------------------------

def percentile(values, q):
    """q-th percentile (0-100) with linear interpolation between order statistics (numpy's default)."""
    data = sorted(values)
    if not data:
        return None
    if not 0 <= q <= 100:
        raise ValueError("percentile must be within 0..100, got %r" % (q,))
    pos = (len(data) - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def median(values):
    return percentile(values, 50)


def relative_change(live, candidate):
    """(candidate - live) / |live|; None when live is 0 or either is missing."""
    if live is None or candidate is None or live == 0:
        return None
    return (candidate - live) / abs(live)


def pooled_sd(a, b):
    """Pooled sample standard deviation of two samples; None with fewer than 3 values in all."""
    na, nb = len(a), len(b)
    if na + nb < 3:
        return None
    ss = 0.0
    for sample in (a, b):
        if sample:
            m = math.fsum(sample) / len(sample)
            ss += math.fsum((v - m) ** 2 for v in sample)
    return math.sqrt(ss / (na + nb - 2))


# ---------------------------------------------------------------------------
# Sequential looks: alpha spending
# ---------------------------------------------------------------------------

def alpha_spent_by(t, alpha, spending="obrien_fleming", looks=1):
    """Cumulative alpha the spending function allows by information fraction t (0..1)."""
    if spending not in SPENDING_FUNCTIONS:
        raise ValueError("spending must be one of %s, got %r" % (", ".join(SPENDING_FUNCTIONS), spending))
    if t <= 0:
        return 0.0
    if t >= 1:
        return alpha
    if spending == "obrien_fleming":
        return min(alpha, 2.0 * norm_sf(-norm_ppf(alpha / 2.0) / math.sqrt(t)))
    if spending == "pocock":
        return alpha * math.log(1.0 + (math.e - 1.0) * t)
    # bonferroni: an even split over the planned looks
    return alpha * math.floor(t * looks + 1e-9) / looks


def look_level(look, looks, alpha, spent=0.0, spending="obrien_fleming"):
    """Test level of look `look` (1-based) of `looks`, given the size already spent on earlier looks."""
    if looks < 1 or not 1 <= look:
        raise ValueError("look must be within 1..looks, got %r of %r" % (look, looks))
    look = min(look, looks)
    return max(0.0, alpha_spent_by(float(look) / looks, alpha, spending, looks) - spent)


# ---------------------------------------------------------------------------
# Proportions: exact conditional binomial test
# ---------------------------------------------------------------------------

def conditional_binomial_test(live_errors, live_requests, candidate_errors, candidate_requests):
    """One-sided p-value that the candidate's error rate is higher than live's.

    Returns (p_value, p0, total_errors). With no errors at all the p-value is 1.
    """
    _check_counts(live_errors, live_requests, "live")
    _check_counts(candidate_errors, candidate_requests, "candidate")
    total = live_errors + candidate_errors
    p0 = float(candidate_requests) / (candidate_requests + live_requests)
    if total == 0:
        return 1.0, p0, 0
    if total <= 5000:
        return binom_sf_exact(candidate_errors, total, p0), p0, total
    return binom_sf(candidate_errors, total, p0), p0, total


def _check_counts(events, trials, side):
    if trials <= 0:
        raise ValueError("%s requests must be positive, got %r" % (side, trials))
    if events < 0 or events > trials:
        raise ValueError("%s errors must be within 0..requests (%r), got %r" % (side, trials, events))


def binomial_critical_value(total, p0, level):
    """Smallest k with P(X >= k) <= level for X ~ Binomial(total, p0), and that attained size.

    Returns (k, size); k = total + 1 (size 0) when no outcome reaches the level.
    """
    if level <= 0 or total <= 0:
        return total + 1, 0.0
    mean = total * p0
    sd = math.sqrt(max(total * p0 * (1 - p0), 1e-12))
    k = int(max(0, min(total + 1, math.floor(mean + -norm_ppf(min(max(level, 1e-300), 0.5)) * sd))))
    # Walk from the normal guess to the exact boundary (a handful of steps).
    while k > 0 and binom_sf(k - 1, total, p0) <= level:
        k -= 1
    while k <= total and binom_sf(k, total, p0) > level:
        k += 1
    return k, (binom_sf(k, total, p0) if k <= total else 0.0)


class _CriticalValues(object):
    """Exact critical values c(N) of the conditional binomial test at one level, computed once."""

    def __init__(self, p0, level):
        self.p0, self.level = p0, level
        self.values = [1]  # c(0): no outcome of zero events rejects

    def __call__(self, total):
        while len(self.values) <= total:
            n = len(self.values)
            k = self.values[-1]  # c(N) never decreases and grows by at most one per event
            while k <= n and binom_sf(k, n, self.p0) > self.level:
                k += 1
            self.values.append(k)
        return self.values[total]


def proportion_power(ratio, live_requests, candidate_requests, live_rate, level, _critical=None):
    """Power of the exact conditional binomial test at `level` when candidate rate = ratio x live_rate."""
    if level <= 0 or live_rate <= 0:
        return 0.0
    n_l, n_c = float(live_requests), float(candidate_requests)
    lam_l, lam_c = live_rate * n_l, min(1.0, live_rate * ratio) * n_c
    lam = lam_l + lam_c
    p0 = n_c / (n_c + n_l)
    pi = lam_c / lam
    if lam > EXACT_POWER_MAX_EVENTS:
        z = -norm_ppf(level)
        return norm_cdf((lam * (pi - p0) - z * math.sqrt(lam * p0 * (1 - p0))) / math.sqrt(lam * pi * (1 - pi)))
    critical = _critical or _CriticalValues(p0, level)
    spread = 8 * math.sqrt(lam) + 8  # the Poisson mass outside lam +- spread is below 1e-14
    first = max(1, int(lam - spread))
    # P(X >= c(N) | N, pi) along N by the recurrence P(X_{N+1} >= c) = P(X_N >= c) + pi P(X_N = c - 1)
    # (one pmf per step instead of an incomplete beta function per N).
    k = critical(first)
    tail = binom_sf(k, first, pi)
    power = 0.0
    for total in range(first, int(math.ceil(lam + spread)) + 1):
        if total > first:
            tail += pi * math.exp(binom_logpmf(k - 1, total - 1, pi))
            while k < critical(total):
                tail -= math.exp(binom_logpmf(k, total, pi))
                k += 1
        if k <= total:
            power += math.exp(poisson_logpmf(total, lam)) * max(0.0, tail)
    return min(1.0, power)


def proportion_mde(live_errors, live_requests, candidate_requests, level, power=0.8, max_ratio=1000.0):
    """Minimum detectable rate ratio (>= 1) of the conditional binomial test, or None if even
    `max_ratio` would not be detected with probability `power`.

    The level is rounded to 2 significant digits (the MDE moves by about 1 % with that) and results are
    memoized, since every look of every trial of a simulation asks again."""
    if level <= 0:
        return None
    return _proportion_mde(int(live_errors), int(live_requests), int(candidate_requests), float("%.2g" % level),
                           float(power), float(max_ratio))


@functools.lru_cache(maxsize=4096)
def _proportion_mde(live_errors, live_requests, candidate_requests, level, power, max_ratio):
    if level <= 0 or candidate_requests <= 0 or live_requests <= 0:
        return None
    live_rate = (live_errors + 0.5) / (live_requests + 1.0)
    critical = _CriticalValues(float(candidate_requests) / (candidate_requests + live_requests), level)

    def power_at(ratio):
        return proportion_power(ratio, live_requests, candidate_requests, live_rate, level, critical)

    cap = min(max_ratio, 1.0 / live_rate)  # the candidate's rate cannot exceed 1
    if power_at(cap) < power:
        return None
    lo, hi = 1.0, cap
    if power_at(lo) >= power:
        return 1.0
    for _step in range(60):  # bisection on log(ratio); bounded
        mid = math.sqrt(lo * hi)
        if power_at(mid) >= power:
            hi = mid
        else:
            lo = mid
        if hi / lo < 1.005:
            break
    return hi


def clopper_pearson_lower(events, trials, level):
    """One-sided lower confidence bound (confidence 1 - level) of a binomial proportion."""
    if events <= 0 or trials <= 0:
        return 0.0
    lo, hi = 0.0, float(events) / trials
    for _step in range(100):  # bisection: P(X >= events | p) = level
        mid = (lo + hi) / 2
        if binom_sf(events, trials, mid) > level:
            hi = mid
        else:
            lo = mid
        if hi - lo < 1e-12:
            break
    return lo


# ---------------------------------------------------------------------------
# Samples: Mann-Whitney U and Hodges-Lehmann
# ---------------------------------------------------------------------------

def rank_with_ties(values):
    """Average ranks (1-based) and the sizes of the tie groups."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    ties = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        rank = (i + j) / 2.0 + 1.0
        for idx in order[i:j + 1]:
            ranks[idx] = rank
        if j > i:
            ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def mwu_exact_counts(n1, n2):
    """Number of orderings giving U = 0 .. n1*n2 (no ties): coefficients of the Gaussian binomial."""
    size = n1 * n2 + 1
    poly = [0] * size
    poly[0] = 1
    for i in range(1, n1 + 1):
        # multiply by (1 - q^(n2 + i)), then divide by (1 - q^i)
        shift = n2 + i
        for j in range(size - 1, shift - 1, -1):
            poly[j] -= poly[j - shift]
        for j in range(i, size):
            poly[j] += poly[j - i]
    return poly


def _mwu_exact_sf_table(n1, n2):
    counts = mwu_exact_counts(n1, n2)
    total = float(sum(counts))
    sf = [0.0] * (len(counts) + 1)
    acc = 0
    for u in range(len(counts) - 1, -1, -1):
        acc += counts[u]
        sf[u] = acc / total
    return sf  # sf[u] = P(U >= u); sf[n1*n2 + 1] = 0


def mann_whitney_u(candidate, live, method="auto"):
    """One-sided Mann-Whitney test that the candidate's values are stochastically greater.

    Returns dict(u, p_value, method, ties) with u = U of the candidate sample.
    method: auto (exact without ties and n <= EXACT_MWU_MAX), exact, asymptotic.
    """
    n1, n2 = len(candidate), len(live)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need values (candidate %d, live %d)" % (n1, n2))
    ranks, ties = rank_with_ties(list(candidate) + list(live))
    u = math.fsum(ranks[:n1]) - n1 * (n1 + 1) / 2.0
    if method == "auto":
        method = "exact" if not ties and max(n1, n2) <= EXACT_MWU_MAX else "asymptotic"
    if method == "exact":
        sf = _mwu_exact_sf_table(n1, n2)
        p = sf[int(math.ceil(u - 1e-9))]
    else:
        n = n1 + n2
        tie_term = math.fsum(t ** 3 - t for t in ties) / (n * (n - 1)) if n > 1 else 0.0
        var = n1 * n2 / 12.0 * ((n + 1) - tie_term)
        if var <= 0:
            p = 1.0
        else:
            p = norm_sf((u - n1 * n2 / 2.0 - 0.5) / math.sqrt(var))
    return {"u": u, "p_value": min(1.0, max(0.0, p)), "method": method, "ties": bool(ties)}


def mwu_critical_value(n1, n2, level):
    """Exact critical U (reject when U >= it) at `level` without ties, and its attained size.

    Returns (u_crit, size); u_crit = n1*n2 + 1 and size 0 when no ordering reaches the level."""
    if max(n1, n2) <= EXACT_MWU_MAX:
        sf = _mwu_exact_sf_table(n1, n2)
        for u in range(n1 * n2 + 2):
            if sf[u] <= level:
                return u, sf[u]
        return n1 * n2 + 1, 0.0
    mu = n1 * n2 / 2.0
    sd = math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12.0)
    return mu - norm_ppf(level) * sd + 0.5, level


def hodges_lehmann(candidate, live, confidence=0.95):
    """Hodges-Lehmann shift (candidate - live) and its two-sided distribution-free confidence interval.

    Returns (estimate, lower, upper); a bound is None when the samples are too small for it.
    """
    n1, n2 = len(candidate), len(live)
    diffs = sorted(c - l for c in candidate for l in live)
    if not diffs:
        return None, None, None
    estimate = median(diffs)
    tail = (1.0 - confidence) / 2.0
    m = n1 * n2
    if max(n1, n2) <= EXACT_MWU_MAX:
        sf = _mwu_exact_sf_table(n1, n2)
        # Largest w with P(U <= w) <= tail; by symmetry P(U <= w) = P(U >= m - w).
        w = -1
        for cand_w in range(0, m + 1):
            if sf[m - cand_w] <= tail:
                w = cand_w
            else:
                break
    else:
        sd = math.sqrt(m * (n1 + n2 + 1) / 12.0)
        w = int(math.floor(m / 2.0 - -norm_ppf(tail) * sd - 0.5))
    if w < 0:
        return estimate, None, None
    return estimate, diffs[w], diffs[m - w - 1]


def samples_mde(live, candidate, level, power=0.8):
    """Minimum detectable shift (in the samples' units) of the one-sided Mann-Whitney test, or None."""
    n1, n2 = len(candidate), len(live)
    if level <= 0 or n1 == 0 or n2 == 0:
        return None
    u_crit, _size = mwu_critical_value(n1, n2, level)
    if u_crit > n1 * n2:
        return None
    sigma = pooled_sd(candidate, live)
    if sigma is None:
        return None
    sd_null = math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12.0)
    # Solve P(U >= u_crit) = power for theta = P(cand > live), U ~ normal with mean n1 n2 theta and the
    # null sd scaled by sqrt(4 theta (1 - theta)) (U's spread shrinks as theta moves away from 1/2);
    # fixed-point iteration, bounded. Checked by simulation in the unit tests (power 0.8-0.9 at the MDE).
    theta = 0.5
    for _step in range(100):
        sd_u = sd_null * math.sqrt(max(4.0 * theta * (1.0 - theta), 1e-9))
        updated = (u_crit - 0.5 + norm_ppf(power) * sd_u) / (n1 * n2)
        if updated >= 1.0:
            return None
        if abs(updated - theta) < 1e-10:
            theta = updated
            break
        theta = updated
    if theta <= 0.5:
        return 0.0
    return _SQRT2 * sigma * norm_ppf(theta)


# ---------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------

def _too_little_to_pass(out, live_total, candidate_total, min_total):
    """Mark `out` inconclusive and say so when either side has fewer than `min_total` requests: a pass (shown no
    worse) needs that many on each side, even where a failure does not."""
    if min(live_total, candidate_total) >= min_total:
        return False
    out.update(verdict=INCONCLUSIVE, evidence="too little traffic",
               reason="too little traffic to show it no worse: %d live / %d candidate requests, at least %d needed"
                      % (live_total, candidate_total, min_total))
    return True


def _worse_by(relative, tolerance):
    return relative is None or relative > tolerance


def judge_proportion(live_events, live_total, candidate_events, candidate_total, level,
                     tolerance=0.25, direction=HIGHER_IS_WORSE, power=0.8, min_total=50,
                     maximum=None, minimum=None, abs_tolerance=None):
    """Verdict of a proportion metric (errors / requests) at one look.

    `level` is this look's test level (see look_level). Returns a dict with verdict, reason,
    live / candidate proportions, relative_change, p_value, mde_ratio, size (the attained
    size to add to the spent alpha) and counts.
    """
    if direction not in DIRECTIONS:
        raise ValueError("direction must be one of %s, got %r" % (", ".join(DIRECTIONS), direction))
    out = {"kind": "proportion", "verdict": None, "reason": "", "live": None, "candidate": None,
           "relative_change": None, "p_value": None, "mde_ratio": None, "level": level, "size": 0.0,
           "live_count": live_total, "candidate_count": candidate_total,
           "live_events": live_events, "candidate_events": candidate_events}
    if not live_total or not candidate_total:
        missing = [side for side, n in (("live", live_total), ("candidate", candidate_total)) if not n]
        out.update(verdict=NODATA, reason="no requests for %s" % " and ".join(missing))
        return out
    live_events = min(live_events, live_total)
    candidate_events = min(candidate_events, candidate_total)
    live_rate = float(live_events) / live_total
    cand_rate = float(candidate_events) / candidate_total
    out.update(live=live_rate, candidate=cand_rate, relative_change=relative_change(live_rate, cand_rate),
               live_events=live_events, candidate_events=candidate_events)
    # "lower is worse" (a success rate): the complements are the bad events.
    if direction == HIGHER_IS_WORSE:
        bad_l, bad_c = live_events, candidate_events
    else:
        bad_l, bad_c = live_total - live_events, candidate_total - candidate_events
    if min(live_total, candidate_total) < min_total:
        out.update(verdict=INCONCLUSIVE,
                   reason="too little traffic: %d live / %d candidate requests, at least %d needed"
                          % (live_total, candidate_total, min_total))
        return out
    # Absolute limits fail fast, with confidence: the bound of the candidate's rate, not its point value.
    if maximum is not None:
        bound = clopper_pearson_lower(candidate_events, candidate_total, max(level, 1e-12))
        if bound > maximum:
            out.update(verdict=FAIL, reason="candidate rate %.4g is above the limit %.4g (lower bound %.4g)"
                                            % (cand_rate, maximum, bound))
            return out
    if minimum is not None:
        bound = 1.0 - clopper_pearson_lower(candidate_total - candidate_events, candidate_total, max(level, 1e-12))
        if bound < minimum:
            out.update(verdict=FAIL, reason="candidate rate %.4g is below the limit %.4g (upper bound %.4g)"
                                            % (cand_rate, minimum, bound))
            return out
    p_value, p0, total = conditional_binomial_test(bad_l, live_total, bad_c, candidate_total)
    critical, size = binomial_critical_value(total, p0, level)
    out.update(p_value=p_value, size=size)
    bad_live_rate = float(bad_l) / live_total
    bad_cand_rate = float(bad_c) / candidate_total
    # How much worse the metric itself is, relative to live (a rise of an error rate, a drop of a success rate).
    if direction == HIGHER_IS_WORSE:
        worse_rel = relative_change(live_rate, cand_rate) if live_rate > 0 else (None if cand_rate > 0 else 0.0)
    else:
        worse_rel = (live_rate - cand_rate) / live_rate if live_rate > 0 else 0.0
    ratio_text = "n/a" if worse_rel is None else "%+.1f%%" % (100.0 * worse_rel)
    abs_ok = abs_tolerance is not None and (bad_cand_rate - bad_live_rate) <= abs_tolerance
    if bad_c >= critical and _worse_by(worse_rel, tolerance) and not abs_ok:
        out.update(verdict=FAIL, reason="candidate %s (%d/%d) vs live %s (%d/%d): %s, p=%.3g <= %.3g"
                   % (_pct(cand_rate), candidate_events, candidate_total, _pct(live_rate), live_events,
                      live_total, ratio_text, p_value, level))
        return out
    # The test's MDE is a ratio R of the bad events' rate; as the metric's own relative worsening:
    bad_ratio = proportion_mde(bad_l, live_total, candidate_total, level, power)
    detectable_abs = None if bad_ratio is None else (bad_l + 0.5) / (live_total + 1.0) * (bad_ratio - 1.0)
    if detectable_abs is None:
        mde = None
    elif direction == HIGHER_IS_WORSE:
        mde = bad_ratio
    else:
        mde = 1.0 + detectable_abs / live_rate if live_rate > 0 else None
    out["mde_ratio"] = mde
    if mde is None or mde - 1.0 > tolerance:
        if abs_tolerance is None or detectable_abs is None or detectable_abs > abs_tolerance:
            out.update(verdict=INCONCLUSIVE,
                       reason="could only detect %s (tolerance %.0f%%): candidate %s (%d/%d) vs live %s (%d/%d)"
                       % ("no change" if mde is None else "a %.0f%% worsening (x%.2f)" % (100 * (mde - 1), mde),
                          100 * tolerance, _pct(cand_rate), candidate_events, candidate_total, _pct(live_rate),
                          live_events, live_total))
            return out
    out.update(verdict=PASS, reason="candidate %s (%d/%d) vs live %s (%d/%d): %s, p=%.3g; detectable %s"
               % (_pct(cand_rate), candidate_events, candidate_total, _pct(live_rate), live_events, live_total,
                  ratio_text, p_value, "n/a" if mde is None else "x%.2f" % mde))
    return out


def _pct(rate):
    return "%.3g%%" % (100.0 * rate)


def judge_samples(live, candidate, level, tolerance=0.25, direction=HIGHER_IS_WORSE, power=0.8,
                  min_samples=3, maximum=None, minimum=None, abs_tolerance=None, confidence=None):
    """Verdict of a samples metric (per-period latency p95, CPU ...) at one look.

    The candidate fails when the one-sided Mann-Whitney test rejects at `level` AND the
    Hodges-Lehmann shift is worse than the tolerance band (relative to the live median, or
    `abs_tolerance` in the metric's units). Absolute limits compare the candidate's median.
    """
    if direction not in DIRECTIONS:
        raise ValueError("direction must be one of %s, got %r" % (", ".join(DIRECTIONS), direction))
    live = [float(v) for v in live]
    candidate = [float(v) for v in candidate]
    out = {"kind": "samples", "verdict": None, "reason": "", "live": median(live), "candidate": median(candidate),
           "relative_change": None, "p_value": None, "mde_ratio": None, "level": level, "size": 0.0,
           "live_count": len(live), "candidate_count": len(candidate), "shift": None, "shift_ci": None}
    if not live or not candidate:
        missing = [side for side, s in (("live", live), ("candidate", candidate)) if not s]
        out.update(verdict=NODATA, reason="no datapoints for %s" % " and ".join(missing))
        return out
    live_med, cand_med = out["live"], out["candidate"]
    if maximum is not None and cand_med > maximum:
        out.update(verdict=FAIL, reason="candidate median %.4g is above the limit %.4g%s"
                   % (cand_med, maximum, " (live %.4g is too)" % live_med if live_med > maximum else ""))
        return out
    if minimum is not None and cand_med < minimum:
        out.update(verdict=FAIL, reason="candidate median %.4g is below the limit %.4g%s"
                   % (cand_med, minimum, " (live %.4g is too)" % live_med if live_med < minimum else ""))
        return out
    if min(len(live), len(candidate)) < min_samples:
        out.update(verdict=INCONCLUSIVE, reason="too few samples: %d live / %d candidate, at least %d needed"
                   % (len(live), len(candidate), min_samples))
        return out
    sign = 1.0 if direction == HIGHER_IS_WORSE else -1.0
    worse_c = [sign * v for v in candidate]
    worse_l = [sign * v for v in live]
    test = mann_whitney_u(worse_c, worse_l)
    if test["method"] == "exact":
        u_crit, size = mwu_critical_value(len(worse_c), len(worse_l), level)
        rejected = test["u"] >= u_crit
    else:
        rejected, size = test["p_value"] <= level, level
    conf = confidence if confidence is not None else 1.0 - 2.0 * min(max(level, 1e-6), 0.25)
    shift, lower, upper = hodges_lehmann(candidate, live, conf)
    scale = abs(live_med) if live_med else None
    worse_shift = sign * shift
    worse_rel = worse_shift / scale if scale else None
    out.update(p_value=test["p_value"], size=size, shift=shift, shift_ci=[lower, upper],
               relative_change=(shift / scale if scale else None), confidence=conf)
    abs_ok = abs_tolerance is not None and worse_shift <= abs_tolerance
    if rejected and _worse_by(worse_rel, tolerance) and not abs_ok:
        out.update(verdict=FAIL, reason="candidate median %.4g vs live %.4g: shift %+.4g (%s), p=%.3g <= %.3g"
                   % (cand_med, live_med, shift, _rel(out["relative_change"]), test["p_value"], level))
        return out
    mde_shift = samples_mde(worse_l, worse_c, level, power)
    mde_ratio = None if mde_shift is None or not scale else 1.0 + mde_shift / scale
    out["mde_ratio"] = mde_ratio
    out["mde_shift"] = mde_shift
    too_coarse = mde_ratio is None or mde_ratio - 1.0 > tolerance
    if too_coarse and (abs_tolerance is None or mde_shift is None or mde_shift > abs_tolerance):
        out.update(verdict=INCONCLUSIVE,
                   reason="could only detect %s (tolerance %+.0f%%): candidate median %.4g vs live %.4g"
                   % ("no shift" if mde_ratio is None else "a shift >= %+.0f%%" % (100 * (mde_ratio - 1)),
                      100 * tolerance, cand_med, live_med))
        return out
    out.update(verdict=PASS, reason="candidate median %.4g vs live %.4g: shift %+.4g (%s), p=%.3g"
               % (cand_med, live_med, shift, _rel(out["relative_change"]), test["p_value"]))
    return out


def _rel(value):
    return "n/a" if value is None else "%+.1f%%" % (100 * value)


def aggregate(results, pass_score=95.0, marginal_score=75.0):
    """Step decision from per-metric results (dicts with verdict, critical, weight, name).

    fail: a critical metric failed, or the score is below `marginal_score`;
    inconclusive: a critical metric is inconclusive / nodata, no metric was decisive, or the
    score lies between the thresholds; pass otherwise. The score is the weighted share of
    passing metrics among those with a pass / fail verdict (None when there are none).
    """
    decisive = [r for r in results if r["verdict"] in (PASS, FAIL)]
    weight = math.fsum(r.get("weight", 1.0) for r in decisive)
    score = None
    if weight > 0:
        score = 100.0 * math.fsum(r.get("weight", 1.0) for r in decisive if r["verdict"] == PASS) / weight
    critical_fail = [r["name"] for r in results if r.get("critical", True) and r["verdict"] == FAIL]
    critical_open = [r["name"] for r in results if r.get("critical", True) and r["verdict"] in (INCONCLUSIVE, NODATA)]
    if critical_fail:
        return score, FAIL, "critical metric failed: %s" % ", ".join(critical_fail)
    if score is not None and score < marginal_score:
        return score, FAIL, "score %.0f below %.0f" % (score, marginal_score)
    if critical_open:
        return score, INCONCLUSIVE, "critical metric without a conclusion: %s" % ", ".join(critical_open)
    if score is None:
        return score, INCONCLUSIVE, "no metric reached a conclusion"
    if score < pass_score:
        return score, INCONCLUSIVE, "score %.0f between %.0f and %.0f" % (score, marginal_score, pass_score)
    return score, PASS, "score %.0f" % score


# ---------------------------------------------------------------------------
# Saying yes: non-inferiority, tails, paired periods (DESIGN §3 "Saying yes honestly")
# ---------------------------------------------------------------------------

def clopper_pearson_upper(events, trials, level):
    """One-sided upper confidence bound (confidence 1 - level) of a binomial proportion."""
    if trials <= 0:
        return 1.0
    if events >= trials:
        return 1.0
    return 1.0 - clopper_pearson_lower(trials - events, trials, level)


def wilson_interval(events, trials, z):
    """Wilson score interval (lower, upper) of a binomial proportion for a normal quantile z."""
    if trials <= 0:
        return 0.0, 1.0
    p = float(events) / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2.0 * trials)) / denom
    half = z * math.sqrt(p * (1.0 - p) / trials + z * z / (4.0 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def difference_upper(candidate_events, candidate_trials, live_events, live_trials, level):
    """Upper confidence bound (confidence 1 - level, one-sided) of candidate rate - live rate.

    Newcombe's hybrid score interval (method 10): good coverage down to zero events, where a
    Wald interval collapses."""
    z = norm_ppf(1.0 - level)
    p_c = float(candidate_events) / candidate_trials
    p_l = float(live_events) / live_trials
    _lc, uc = wilson_interval(candidate_events, candidate_trials, z)
    ll, _ul = wilson_interval(live_events, live_trials, z)
    return (p_c - p_l) + math.sqrt((uc - p_c) ** 2 + (p_l - ll) ** 2)


def ratio_upper(live_events, live_trials, candidate_events, candidate_trials, level):
    """Upper confidence bound of the rate ratio candidate / live, exact conditional on the total.

    Given N = all events, the candidate's share is Binomial(N, R n_c / (R n_c + n_l)); the
    Clopper-Pearson bound of that share gives R's bound. None (unbounded) without events."""
    total = live_events + candidate_events
    if total <= 0:
        return None
    share = clopper_pearson_upper(candidate_events, total, level)
    if share >= 1.0:
        return None
    return share * live_trials / ((1.0 - share) * candidate_trials)


def dispersion(events, trials):
    """Quasi-Poisson dispersion phi >= 1 of per-period event counts against their trials.

    Pearson chi-square of each period's events against the pooled rate, over its degrees of
    freedom. Periods vary in size, so the rate, not the count, is what should be constant."""
    pairs = [(e, n) for e, n in zip(events, trials) if n and n > 0]
    if len(pairs) < 3:
        return 1.0
    total_e = math.fsum(e for e, dummy in pairs)
    total_n = math.fsum(n for dummy, n in pairs)
    rate = total_e / total_n
    if rate <= 0.0:
        return 1.0
    chi2 = math.fsum((e - n * rate) ** 2 / (n * rate) for e, n in pairs)
    return max(1.0, chi2 / (len(pairs) - 1))


def nb_kappa(*period_lists):
    """Overdispersion kappa of a negative binomial (variance mu + kappa mu^2) from per-period
    (events, trials) lists, each list a series with its own rate (live, candidate, the baseline).

    Method of moments: sum((x - mu)^2 - mu) / sum(mu^2) with mu = the series' rate x trials. 0 for
    Poisson-like counts. Unlike a dispersion factor, kappa carries from a busy series to a thin one:
    a 10 % candidate with 6 expected errors a period is far less overdispersed than live with 54."""
    num = den = 0.0
    periods = 0
    for pairs in period_lists:
        pairs = [(float(e), float(n)) for e, n in (pairs or []) if n and n > 0]
        total_n = math.fsum(n for dummy, n in pairs)
        if not pairs or total_n <= 0:
            continue
        rate = math.fsum(e for e, dummy in pairs) / total_n
        for e, n in pairs:
            mu = rate * n
            num += (e - mu) ** 2 - mu
            den += mu * mu
        periods += len(pairs)
    if periods < 4 or den <= 0:
        return 0.0
    return max(0.0, num / den)


def _deflate(events, trials, phi):
    if phi <= 1.0:
        return int(round(events)), int(round(trials))
    return int(round(events / phi)), max(1, int(round(trials / phi)))


def judge_rate(live_events, live_total, candidate_events, candidate_total, level, pass_level=0.05,
               tolerance=0.25, abs_margin=0.0, abs_tolerance=None, power=0.8, min_total=50,
               maximum=None, live_periods=None, candidate_periods=None, reference_periods=None, label="rate"):
    """Verdict of a rate of bad events (5xx / requests) that can say pass as well as fail.

    fail          the candidate's rate is significantly higher than live's (exact conditional binomial
                  at `level`, the look's share of the false-fail budget) and worse by more than
                  `tolerance` (relative), and not within `abs_tolerance` (absolute, never fails);
                  or above the SLO `maximum` with confidence.
    pass          shown no worse than live by more than the margin max(tolerance x live rate, abs_margin)
                  at confidence 1 - pass_level: the exact ratio bound within 1 + tolerance, or the
                  Newcombe bound of the difference within abs_margin (each at pass_level / 2); or the
                  SLO `maximum` shown met (upper bound below it) with nothing against it.
    inconclusive  neither: the reason says what could have been detected (MDE).
    Per-period counts (lists of (events, trials), optional: live's, the candidate's and a reference
    such as live's pre-deployment baseline) measure overdispersion (negative binomial kappa); each
    side's counts are then deflated by its own factor 1 + kappa x its errors per period, so noisy
    periods do not turn into false failures, nor into false passes. `min_total` requests per side are needed to
    pass, not to fail: the exact test is valid on few requests, and a bad release should not wait.
    """
    out = {"kind": "rate", "verdict": None, "reason": "", "evidence": "", "live": None, "candidate": None,
           "relative_change": None, "p_value": None, "mde_ratio": None, "level": level, "size": 0.0,
           "live_count": live_total, "candidate_count": candidate_total, "live_events": live_events,
           "candidate_events": candidate_events, "upper_difference": None, "upper_ratio": None,
           "dispersion": 1.0, "margin": None}
    if not live_total or not candidate_total:
        missing = [side for side, n in (("live", live_total), ("candidate", candidate_total)) if not n]
        out.update(verdict=NODATA, reason="no requests for %s" % " and ".join(missing),
                   evidence="nothing - no data")
        return out
    live_events = min(live_events, live_total)
    candidate_events = min(candidate_events, candidate_total)
    p_l = float(live_events) / live_total
    p_c = float(candidate_events) / candidate_total
    margin = max(tolerance * p_l, abs_margin or 0.0)
    out.update(live=p_l, candidate=p_c, relative_change=relative_change(p_l, p_c), margin=margin)
    counts = "candidate %s (%d/%d) vs live %s (%d/%d)" % (_pct(p_c), candidate_events, candidate_total, _pct(p_l),
                                                          live_events, live_total)
    kappa = nb_kappa(live_periods, candidate_periods, reference_periods)
    phi_l = 1.0 + kappa * live_events / max(1, len(live_periods or []) or 1)
    phi_c = 1.0 + kappa * candidate_events / max(1, len(candidate_periods or []) or 1)
    phi = max(phi_l, phi_c)
    out["dispersion"] = phi
    x_l, n_l = _deflate(live_events, live_total, phi_l)
    x_c, n_c = _deflate(candidate_events, candidate_total, phi_c)
    noisy = " (counts deflated x%.2f / x%.2f for noisy periods)" % (phi_l, phi_c) if phi > 1.0 else ""
    if maximum is not None:
        bound = clopper_pearson_lower(x_c, n_c, max(level, 1e-12))
        if bound > maximum:
            out.update(verdict=FAIL, evidence="SLO", reason="%s is above the limit %s (lower bound %s)%s"
                       % (counts, _pct(maximum), _pct(bound), noisy))
            return out
    p_value, p0, total = conditional_binomial_test(x_l, n_l, x_c, n_c)
    critical, size = binomial_critical_value(total, p0, level)
    out.update(p_value=p_value, size=size)
    worse_rel = relative_change(p_l, p_c) if p_l > 0 else (None if p_c > 0 else 0.0)
    abs_ok = abs_tolerance is not None and (p_c - p_l) <= abs_tolerance
    if x_c >= critical and total > 0 and _worse_by(worse_rel, tolerance) and not abs_ok:
        out.update(verdict=FAIL, evidence="harm detected",
                   reason="%s: %s worse, p=%.3g <= %.3g%s"
                          % (counts, "newly failing" if worse_rel is None else _rel(worse_rel), p_value, level, noisy))
        return out
    # The exact test may fail a candidate on few requests; showing it no worse needs `min_total` on each side.
    if _too_little_to_pass(out, live_total, candidate_total, min_total):
        return out
    upper_diff = difference_upper(x_c, n_c, x_l, n_l, pass_level / 2.0)
    upper_ratio = ratio_upper(x_l, n_l, x_c, n_c, pass_level / 2.0)
    out.update(upper_difference=upper_diff, upper_ratio=upper_ratio)
    conf = "%.0f%%" % (100 * (1 - pass_level))
    if upper_diff <= (abs_margin or 0.0) and abs_margin:
        out.update(verdict=PASS, evidence="non-inferior",
                   reason="%s: no worse than +%s points (%s bound +%s points, margin %s points)%s"
                   % (counts, _pp(max(p_c - p_l, 0.0)), conf, _pp(upper_diff), _pp(abs_margin), noisy))
        return out
    if upper_ratio is not None and upper_ratio <= 1.0 + tolerance:
        out.update(verdict=PASS, evidence="non-inferior",
                   reason="%s: at most x%.2f of live (%s bound; margin x%.2f)%s"
                   % (counts, upper_ratio, conf, 1.0 + tolerance, noisy))
        return out
    if maximum is not None:
        slo_bound = clopper_pearson_upper(x_c, n_c, pass_level)
        if slo_bound < maximum:
            out.update(verdict=PASS, evidence="SLO met",
                       reason="%s: below the limit %s (%s bound %s)%s"
                              % (counts, _pct(maximum), conf, _pct(slo_bound), noisy))
            return out
    mde = proportion_mde(x_l, n_l, n_c, max(level, 1e-12), power)
    out["mde_ratio"] = mde
    out.update(verdict=INCONCLUSIVE, evidence="no harm seen, not yet shown within the margin",
               reason="%s: no harm seen; not yet shown within the margin +%s points (%s bound +%s points); "
                      "could only detect %s%s"
               % (counts, _pp(margin), conf, _pp(upper_diff),
                  "no change" if mde is None else "x%.2f or worse" % mde, noisy))
    return out


def _pp(rate):
    return "%.3g" % (100.0 * rate)


def tail_shift_estimate(share_at_t, share_at_u, t, u, quantile=0.95):
    """The latency at `quantile` interpolated from two points of the CDF: share of requests slower
    than t and than u (u > t). Linear in (log latency, probit share): exact for a lognormal tail.
    None when the shares cannot place it (0 or 1)."""
    if t <= 0 or u <= t:
        return None
    eps = 1e-6
    z_t = norm_ppf(min(max(1.0 - share_at_t, eps), 1 - eps))
    z_u = norm_ppf(min(max(1.0 - share_at_u, eps), 1 - eps))
    if z_u - z_t < 1e-9:
        return None
    z_q = norm_ppf(quantile)
    slope = (math.log(u) - math.log(t)) / (z_u - z_t)
    return math.exp(math.log(t) + (z_q - z_t) * slope)


def judge_tail(live_slow, live_total, candidate_slow, candidate_total, threshold, level, pass_level=0.05,
               quantile=0.95, tolerance=0.25, min_total=50, maximum_share=None, live_at_t=None,
               candidate_at_t=None, reference=None):
    """Verdict of a latency quantile from request counts, not from per-period percentiles.

    `threshold` U is (1 + tolerance) x live's quantile (the reference); `*_slow` count the requests
    slower than U (from CloudWatch's percentile rank PR(:U) x SampleCount, summed over periods, so
    every request weighs the same and a thin candidate is compared like with like).
    "The candidate's p95 is above U" is "more than 5 % of its requests are slower than U".
      fail  more than 1 - quantile of the candidate's requests are slower than U (point estimate)
            and significantly more than live's share (exact conditional binomial at `level`);
      pass  the candidate's share slower than U is shown below 1 - quantile (Clopper-Pearson at
            pass_level / 2), or shown no more than (1 + tolerance) x live's share (pass_level / 2);
      inconclusive otherwise.
    live_at_t / candidate_at_t (requests slower than the reference itself) give the estimated
    shift of the quantile, both sides estimated the same way (interpolated between T and U).
    """
    q0 = 1.0 - quantile
    out = {"kind": "tail", "verdict": None, "reason": "", "evidence": "", "live": None, "candidate": None,
           "relative_change": None, "p_value": None, "mde_ratio": None, "level": level, "size": 0.0,
           "live_count": live_total, "candidate_count": candidate_total, "live_events": live_slow,
           "candidate_events": candidate_slow, "threshold": threshold, "reference": reference,
           "upper_share": None}
    if not live_total or not candidate_total:
        missing = [side for side, n in (("live", live_total), ("candidate", candidate_total)) if not n]
        out.update(verdict=NODATA, evidence="nothing - no data", reason="no requests for %s" % " and ".join(missing))
        return out
    live_slow = min(live_slow, live_total)
    candidate_slow = min(candidate_slow, candidate_total)
    s_l = float(live_slow) / live_total
    s_c = float(candidate_slow) / candidate_total
    out.update(live=s_l, candidate=s_c)
    if reference and live_at_t is not None and candidate_at_t is not None:
        est_l = tail_shift_estimate(float(live_at_t) / live_total, s_l, reference, threshold, quantile)
        est_c = tail_shift_estimate(float(candidate_at_t) / candidate_total, s_c, reference, threshold, quantile)
        if est_l and est_c:
            out.update(live_quantile=est_l, candidate_quantile=est_c, relative_change=est_c / est_l - 1.0)
    shift = "" if out["relative_change"] is None else ", p%g shift %s" % (100 * quantile, _rel(out["relative_change"]))
    counts = ("%s of candidate requests slower than %.4gs (%d/%d) vs live %s (%d/%d)%s"
              % (_pct(s_c), threshold, candidate_slow, candidate_total, _pct(s_l), live_slow, live_total, shift))
    p_value, p0, total = conditional_binomial_test(live_slow, live_total, candidate_slow, candidate_total)
    critical, size = binomial_critical_value(total, p0, level)
    out.update(p_value=p_value, size=size)
    # Shown worse than live, and its share shown above 1 - quantile: the p95 itself beyond the tolerance. Either
    # alone is not enough - live's share moves with load, and a thin look's share is noisy.
    beyond = binom_sf(candidate_slow, candidate_total, q0) <= level
    if total > 0 and candidate_slow >= critical and s_c > q0 and beyond:
        out.update(verdict=FAIL, evidence="harm detected",
                   reason="%s: p%g above the tolerance (over %s slower), p=%.3g <= %.3g"
                   % (counts, 100 * quantile, _pct(q0), p_value, level))
        return out
    if maximum_share is not None and clopper_pearson_lower(candidate_slow, candidate_total, max(level, 1e-12)) > q0:
        out.update(verdict=FAIL, evidence="SLO", reason="%s: p%g above the limit" % (counts, 100 * quantile))
        return out
    if _too_little_to_pass(out, live_total, candidate_total, min_total):
        return out
    upper = clopper_pearson_upper(candidate_slow, candidate_total, pass_level / 2.0)
    out["upper_share"] = upper
    conf = "%.0f%%" % (100 * (1 - pass_level))
    if upper < q0:
        out.update(verdict=PASS, evidence="non-inferior",
                   reason="%s: p%g shown within the tolerance (%s bound %s < %s)"
                   % (counts, 100 * quantile, conf, _pct(upper), _pct(q0)))
        return out
    ratio = ratio_upper(live_slow, live_total, candidate_slow, candidate_total, pass_level / 2.0)
    if ratio is not None and ratio <= 1.0 + tolerance:
        out.update(verdict=PASS, evidence="non-inferior",
                   reason="%s: at most x%.2f of live's share (%s bound)" % (counts, ratio, conf))
        return out
    out.update(verdict=INCONCLUSIVE, evidence="no harm seen, not yet shown within the tolerance",
               reason="%s: no harm seen; not yet shown within the tolerance (%s bound %s, needs < %s)"
               % (counts, conf, _pct(upper), _pct(q0)))
    return out


def t_sf(t, df):
    """P(T > t) for Student's t with df degrees of freedom."""
    if df <= 0:
        raise ValueError("df must be > 0")
    x = df / (df + t * t)
    tail = 0.5 * betainc(df / 2.0, 0.5, x)
    return tail if t >= 0 else 1.0 - tail


def t_ppf(p, df):
    """Quantile of Student's t (bisection on t_sf; bounded)."""
    if not 0.0 < p < 1.0:
        raise ValueError("probability must be within (0, 1), got %r" % (p,))
    if p < 0.5:
        return -t_ppf(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_sf(hi, df) > 1.0 - p and hi < 1e6:  # bounded: doubles at most ~20 times
        hi *= 2.0
    for _step in range(200):
        mid = (lo + hi) / 2.0
        if t_sf(mid, df) > 1.0 - p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-10:
            break
    return (lo + hi) / 2.0


def judge_paired(live, candidate, level, pass_level=0.05, tolerance=0.25, direction=HIGHER_IS_WORSE,
                 abs_tolerance=None, min_samples=3, maximum=None, power=0.8, paired=True):
    """Verdict of a per-period metric (CPU, memory, any samples) compared period by period.

    Live and candidate in the same period share its load, so the per-period log-ratio carries the
    comparison (`paired`, lists of equal length, one value per period and side). Against a
    baseline from another time (`paired=False`) the mean log values are compared (Welch).
      fail  the log-ratio's lower bound at `level` is above 0 and the point change beyond the tolerance
            (and beyond abs_tolerance, if given); or the candidate is beyond the limit `maximum` (a minimum
            when lower is worse) in every period, at least two;
      pass  its upper bound at pass_level is within log(1 + tolerance) (or within abs_tolerance);
      inconclusive otherwise, with the change the data could have detected.
    Values at or below 0 are compared as differences relative to live's mean instead of logs.
    """
    if direction not in DIRECTIONS:
        raise ValueError("direction must be one of %s, got %r" % (", ".join(DIRECTIONS), direction))
    live = [float(v) for v in live]
    candidate = [float(v) for v in candidate]
    out = {"kind": "samples", "verdict": None, "reason": "", "evidence": "", "live": median(live) if live else None,
           "candidate": median(candidate) if candidate else None, "relative_change": None, "p_value": None,
           "mde_ratio": None, "level": level, "size": 0.0, "live_count": len(live), "candidate_count": len(candidate),
           "shift_ci": None, "paired": paired}
    if not live or not candidate:
        missing = [side for side, s in (("live", live), ("candidate", candidate)) if not s]
        out.update(verdict=NODATA, evidence="nothing - no data", reason="no datapoints for %s" % " and ".join(missing))
        return out
    if maximum is not None and len(candidate) >= 2 and \
            (min(candidate) > maximum if direction == HIGHER_IS_WORSE else max(candidate) < maximum):
        # An SLO broken in every period is a sustained breach: it fails fast, without a comparison.
        out.update(verdict=FAIL, evidence="SLO", reason="candidate above the limit %.4g in all %d periods (median %.4g)"
                   % (maximum, len(candidate), median(candidate)))
        return out
    if min(len(live), len(candidate)) < min_samples:
        out.update(verdict=INCONCLUSIVE, evidence="too few periods",
                   reason="too few periods: %d live / %d candidate, at least %d needed"
                          % (len(live), len(candidate), min_samples))
        return out
    sign = 1.0 if direction == HIGHER_IS_WORSE else -1.0
    use_log = min(live + candidate) > 0
    mean_live = math.fsum(live) / len(live)
    scale = abs(mean_live) or 1.0

    def tr(v):
        return math.log(v) if use_log else v / scale

    if paired:
        diffs = [sign * (tr(c) - tr(lv)) for lv, c in zip(live, candidate)]
        n = len(diffs)
        mean = math.fsum(diffs) / n
        var = math.fsum((d - mean) ** 2 for d in diffs) / (n - 1)
        se = math.sqrt(var / n)
        df = n - 1
    else:
        a = [sign * tr(v) for v in candidate]
        b = [sign * tr(v) for v in live]
        ma, mb = math.fsum(a) / len(a), math.fsum(b) / len(b)
        va = math.fsum((v - ma) ** 2 for v in a) / (len(a) - 1)
        vb = math.fsum((v - mb) ** 2 for v in b) / (len(b) - 1)
        mean = ma - mb
        se = math.sqrt(va / len(a) + vb / len(b))
        num = (va / len(a) + vb / len(b)) ** 2
        den = ((va / len(a)) ** 2 / (len(a) - 1) if len(a) > 1 else 0) + \
              ((vb / len(b)) ** 2 / (len(b) - 1) if len(b) > 1 else 0)
        df = num / den if den > 0 else len(a) + len(b) - 2
    band = math.log(1.0 + tolerance) if use_log else tolerance
    to_change = (lambda d: math.exp(min(d, 700.0)) - 1.0) if use_log else (lambda d: d)
    change = sign * to_change(mean) if use_log else sign * mean
    out["relative_change"] = change
    if se <= 0.0:
        lower = upper = mean
        p_value = 0.0 if mean > 0 else 1.0
    else:
        t_stat = mean / se
        p_value = t_sf(t_stat, df)
        lower = mean - t_ppf(1.0 - max(level, 1e-12), df) * se
        upper = mean + t_ppf(1.0 - pass_level, df) * se
    out.update(p_value=p_value, size=level, shift_ci=[to_change(lower), to_change(upper)])
    how = "period by period" if paired else "against the baseline"
    desc = "candidate %.4g vs live %.4g (medians), %s %s" % (
        out["candidate"], out["live"], how, _rel(to_change(mean)))
    abs_ok = abs_tolerance is not None and (median(candidate) - median(live)) * sign <= abs_tolerance

    if lower > 0 and mean > band and not abs_ok:
        out.update(verdict=FAIL, evidence="harm detected",
                   reason="%s worse than the tolerance %+.0f%%, p=%.3g <= %.3g" % (desc, 100 * tolerance, p_value, level))
        return out
    if upper <= band:
        out.update(verdict=PASS, evidence="non-inferior",
                   reason="%s: %.0f%% bound %s within %+.0f%%"
                          % (desc, 100 * (1 - pass_level), _rel(to_change(upper)), 100 * tolerance))
        return out
    if level > 0 and se > 0:
        detectable = (t_ppf(1.0 - level, max(df, 1)) + t_ppf(power, max(df, 1))) * se
        out["mde_ratio"] = 1.0 + to_change(detectable) if use_log else None
    out.update(verdict=INCONCLUSIVE, evidence="no harm seen, not yet shown within the tolerance",
               reason="%s: no harm seen; %.0f%% bound %s not within %+.0f%%"
               % (desc, 100 * (1 - pass_level), _rel(to_change(upper)), 100 * tolerance))
    return out
