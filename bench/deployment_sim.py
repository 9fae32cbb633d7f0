# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: whole deployments, simulated (issue 13, item 5).

Drives the collection's REAL canary judge (plugins/module_utils/canary_judge.py + canary_stats.py) and the
deployment policy over a simulated CloudWatch, for every step of a schedule, on a simulated clock:

- a simulated CloudWatch (`SimCloudWatch`) that answers GetMetricData queries as canary_judge.build_queries
  builds them, per period and per side (live / candidate target group, live / candidate ECS service), with
  AWS's shape: no datapoint for a zero count, a period visible only `delay` seconds after it ends, optional
  missing periods;
- traffic models (`MODELS`): the seed's production numbers, the busy service, the lab's rate, each with its
  schedule and policy read from the shipped inventories;
- scenarios (`SCENARIOS`): A/A, x1.5 / x2 / x5 / x10 5xx, p95 +10 / +25 / +50 %, missing data, per-period
  overdispersion, a regression under full load only, the lab's own bad release;
- drivers behind one small interface (`ADAPTERS`): "today" is the judge, role defaults and inventories of
  TODAY_REV (main before issue 13, through git show): cw_compare's watch loop and tasks/step.yml's Jinja policy, in
  Python; "new" is the checked-out role + cw_compare orchestration over canary_watch.watch and
  deploy_policy.step_action.

    python bench/deployment_sim.py                 # full run (trial counts in TRIALS_FULL)
    python bench/deployment_sim.py --quick         # smoke run (TRIALS_QUICK), <= 30 s
    python bench/deployment_sim.py --only seed --adapter today --trials 50

Prints a table and met / missed per target of issue 13, writes bench/results/deployment_sim.json, and with
--update-readme its section of bench/README.md. A benchmark, not a test: it exits 0 whatever the figures are.
Standard library only (random.binomialvariate needs Python >= 3.12; a slower fallback covers older ones).
"""

import argparse
import bisect
import datetime
import hashlib
import json
import math
import os
import platform
import random
import re
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results", "deployment_sim.json")
README = os.path.join(HERE, "README.md")
README_BEGIN, README_END = "<!-- deployment_sim:begin -->", "<!-- deployment_sim:end -->"
JUDGE_FILES = ("plugins/module_utils/canary_stats.py", "plugins/module_utils/canary_judge.py",
               "plugins/module_utils/canary_watch.py", "plugins/module_utils/deploy_policy.py")
SEED = 20261201

# Trials per scenario and driver. A/A-like scenarios carry the 1 % targets (false rollback <= 1 %, healthy reaches
# 100 % >= 99 %); regressions are compared with their oracle at 0.9 x its power. The judge's looks are the cost
# (the simulator's own share is about a fifth).
#
# The full run is sized to the 5-minute budget on one core (measured 2026-12-01: a healthy deployment costs the new
# judge 0.13-0.28 CPU-s, 30-60 looks; today's 0.03-0.05 s): 100 trials per A/A-like cell and 25 per regression.
# That resolves 1 % only coarsely (0 or 1 rollback in 100); `--trials 1000` is the resolution run (~45 CPU-min,
# `--jobs 2` halves the wall time).
TRIALS_FULL = {("today", "aa"): 100, ("today", "regression"): 25, ("new", "aa"): 100, ("new", "regression"): 25}
TRIALS_QUICK = {("today", "aa"): 5, ("today", "regression"): 2, ("new", "aa"): 5, ("new", "regression"): 2}

ORACLE_ALPHA = 0.01         # the deployment's false-fail budget (the role's ecs_traffic_shift_alpha)
TARGET_REACH = 0.99
TARGET_FALSE_ROLLBACK = 0.01
TARGET_X5_BY_STEP2 = 0.99
TARGET_POWER_SHARE = 0.9
ORACLE_POWER_FLOOR = 0.5
MIN_PASS_REQUESTS = 50      # the judge's min_requests default: fewer candidate requests cannot show a rate within
TAIL_TOLERANCE = 0.25       # the presets' tolerance (latency_p95, error_rate)
STEP_OVERHEAD_S = 2.0       # shift the listener and read it back before a watch starts (bench/README overhead)
ROLLBACK_OVERHEAD_S = 2.0   # from the decision to the listener back at 100 % live (bench/README: 1.2-2.3 s)


# ---------------------------------------------------------------------------
# Random variates (standard library)
# ---------------------------------------------------------------------------

def poisson(rng, lam):
    """A Poisson(lam) variate: inversion below 30, Hormann's PTRS transformed rejection above (numpy's method)."""
    if lam <= 0:
        return 0
    if lam < 30:
        limit, k, prod = math.exp(-lam), 0, rng.random()
        while prod > limit:  # bounded: P(k > lam + 20 sqrt(lam)) is negligible, and 30 caps lam
            k += 1
            prod *= rng.random()
        return k
    slam, loglam = math.sqrt(lam), math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2)
    for _attempt in range(10000):  # acceptance is ~0.9 per attempt
        u = rng.random() - 0.5
        v = rng.random()
        us = 0.5 - abs(u)
        k = int(math.floor((2 * a / us + b) * u + lam + 0.43))
        if us >= 0.07 and v <= vr:
            return k
        if k < 0 or (us < 0.013 and v > us):
            continue
        if math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b) <= -lam + k * loglam - math.lgamma(k + 1):
            return k
    raise RuntimeError("poisson(%r): no variate accepted" % lam)


def binomial(rng, n, p):
    """A Binomial(n, p) variate."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    fast = getattr(rng, "binomialvariate", None)
    if fast is not None:
        return fast(n, p)
    # Python < 3.12: geometric skips (O(n p)), on the smaller tail.
    q = min(p, 1.0 - p)
    log_q = math.log1p(-q)
    k, pos = 0, 0
    while True:  # bounded by n
        pos += int(math.log(1.0 - rng.random()) / log_q) + 1
        if pos > n:
            break
        k += 1
    return k if p <= 0.5 else n - k


_NORMAL = statistics.NormalDist()


class LatencyHistogram(object):
    """The latencies of one period and side: n iid lognormal(mu, sigma) values, sampled lazily and exactly.

    Rather than drawing n values (12,000 per minute at the busy service), the histogram keeps knots of the
    empirical CDF in probability space, u = F(x): count(U <= u) = c, starting from (0, 0) and (1, n). A count
    at a new point is a binomial split of the free values between its neighbours; an order statistic is a beta
    draw among them (the j-th smallest of m uniforms on (u1, u2) is u1 + (u2 - u1) Beta(j, m - j + 1)). Every
    answer is conditioned on all earlier ones, so p95, PR(:X) at any X, and SampleCount are consistent with
    one set of n values, as CloudWatch's would be, at a few draws per query instead of n.
    A knot is an `atom` when one of the values sits exactly on it (an order statistic that was asked for).
    """

    __slots__ = ("n", "mu", "sigma", "rng", "u", "c", "atom")

    def __init__(self, n, mu, sigma, rng):
        self.n, self.mu, self.sigma, self.rng = int(n), float(mu), float(sigma), rng
        self.u, self.c, self.atom = [0.0, 1.0], [0, self.n], [False, False]

    def cdf(self, x):
        if x <= 0:
            return 0.0
        return _NORMAL.cdf((math.log(x) - self.mu) / self.sigma)

    def quantile(self, u):
        if u <= 0.0:
            return 0.0
        return math.exp(self.mu + self.sigma * _NORMAL.inv_cdf(min(u, 1.0 - 1e-16)))

    def _knot(self, u):
        i = bisect.bisect_left(self.u, u)
        for j in (i - 1, i):  # snap to a knot within rounding of the x -> u -> x round trip
            if 0 <= j < len(self.u) and abs(self.u[j] - u) <= 1e-12:
                return j, True
        return i, False

    def count_le(self, x):
        """How many of the n values are <= x."""
        u = self.cdf(x)
        if u >= 1.0:
            return self.n
        i, exact = self._knot(u)
        if exact:
            return self.c[i]
        u1, c1, u2, c2 = self.u[i - 1], self.c[i - 1], self.u[i], self.c[i]
        free = c2 - (1 if self.atom[i] else 0) - c1
        k = c1 + binomial(self.rng, free, (u - u1) / (u2 - u1))
        self.u.insert(i, u)
        self.c.insert(i, k)
        self.atom.insert(i, False)
        return k

    def order_statistic(self, rank):
        """The rank-th smallest value (1-based)."""
        if not 1 <= rank <= self.n:
            raise ValueError("rank %r outside 1..%d" % (rank, self.n))
        i = bisect.bisect_left(self.c, rank)
        if self.atom[i] and self.c[i] == rank:
            return self.quantile(self.u[i])
        u1, c1, u2 = self.u[i - 1], self.c[i - 1], self.u[i]
        free = self.c[i] - (1 if self.atom[i] else 0) - c1
        j = rank - c1
        v = u1 + (u2 - u1) * self.rng.betavariate(j, free - j + 1)
        v = min(max(v, math.nextafter(u1, 1.0)), math.nextafter(u2, 0.0))
        self.u.insert(i, v)
        self.c.insert(i, rank)
        self.atom.insert(i, True)
        return self.quantile(v)

    def percentile(self, q):
        """CloudWatch's pNN: nearest rank, the ceil(q/100 n)-th smallest value."""
        return self.order_statistic(max(1, int(math.ceil(q / 100.0 * self.n - 1e-9))))

    def percentile_rank(self, low=None, high=None):
        """CloudWatch's PR(low:high): % of values with low < value <= high (a missing bound is open)."""
        upper = self.n if high is None else self.count_le(high)
        lower = 0 if low is None else self.count_le(low)
        return 100.0 * max(0, upper - lower) / self.n


# ---------------------------------------------------------------------------
# The simulated CloudWatch
# ---------------------------------------------------------------------------

LOAD_BALANCER = "app/myapp-alb/0123456789abcdef"
CLUSTER = "prod-ecs-cluster"
SIDE_DIMS = {"live": {"TargetGroup": "targetgroup/myapp-a/1111111111111111", "ServiceName": "myapp-a"},
             "candidate": {"TargetGroup": "targetgroup/myapp-b/2222222222222222", "ServiceName": "myapp-b"}}
ALB_NS, ECS_NS = "AWS/ApplicationELB", "AWS/ECS"
COUNT_METRICS = {"RequestCount": "requests", "HTTPCode_Target_5XX_Count": "target_5xx",
                 "HTTPCode_ELB_5XX_Count": "elb_5xx"}
_PR_RE = re.compile(r"^PR\(\s*([0-9.eE+-]*)\s*:\s*([0-9.eE+-]*)\s*\)$")
_P_RE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")


class SimClock(object):
    """The simulated time: `now()` in epoch seconds, `sleep()` moves it on (bounded)."""

    def __init__(self, start):
        self.t = float(start)
        self.slept = 0.0

    def now(self):
        return self.t

    time = now

    def sleep(self, seconds):
        """Move on `seconds`; a due time already past (seconds <= 0) returns at once, as SystemClock does."""
        if seconds > 86400:
            raise ValueError("simulated sleep of %r s" % (seconds,))
        if seconds > 0:
            self.t += seconds
            self.slept += seconds


def traffic_side_params(model, scenario, side, share=1.0):
    """Error rate and latency scale of one side: the candidate carries the scenario's regression (with
    `full_load_only`, only while it serves all the traffic: a release that breaks under full load)."""
    rate, scale = scenario.get("%s_error_rate" % side, model["error_rate"]), 1.0
    if side == "candidate" and (share >= 0.999 or not scenario.get("full_load_only")):
        rate = min(1.0, rate * scenario.get("error_factor", 1.0))
        scale = 1.0 + scenario.get("latency_shift", 0.0)
    return rate, scale


class SimCloudWatch(object):
    """Per period and side: requests, target / ELB 5xx, latencies, CPU / memory; answers GetMetricData.

    Requests are Poisson at the side's share of the rate, integrated over the listener weights the period saw
    (a step that starts mid-period splits it). Target 5xx are Binomial(requests, rate), where with
    `overdispersion_cv` each period's rate is the mean times a Gamma(1/cv^2, cv^2) draw, independent per side.
    ELB 5xx are a further Binomial(requests, elb_share x that rate). Latencies are lognormal with the model's p95
    (times the candidate's shift), all of a period moved together by a shared lognormal load factor
    (`latency_period_sigma`: both sides serve the same minute's load). CPU and memory are each service's
    average, rising with the traffic share it serves. A period is visible `delay` seconds after its end;
    with `missing` each side's period is absent (every metric) with that probability.
    """

    def __init__(self, model, scenario, rng, clock, deployment_start):
        self.model, self.scenario, self.rng, self.clock = model, scenario, rng, clock
        self.period = int(model["period"])
        self.delay = float(model["delay"])
        self.weights = [(-math.inf, 0.0)]  # (time, candidate share) from then on
        self.periods = {}
        self._sides = {}
        self.candidate_service_from = deployment_start - 120.0  # green deployment before the first shift
        self.mu = math.log(model["latency_p95"]) - model["latency_sigma"] * _NORMAL.inv_cdf(0.95)
        self.calls = 0

    # weights -------------------------------------------------------------
    def shift(self, percent, at=None):
        at = self.clock.now() if at is None else at
        if at < self.weights[-1][0]:
            raise ValueError("weights must move forward in time")
        self.weights.append((at, percent / 100.0))

    def candidate_share(self, t):
        i = bisect.bisect_right([w[0] for w in self.weights], t) - 1
        return self.weights[i][1]

    def candidate_seconds(self, start, end):
        """Integral of the candidate's share over [start, end)."""
        total = 0.0
        for i, (t, w) in enumerate(self.weights):
            t_next = self.weights[i + 1][0] if i + 1 < len(self.weights) else math.inf
            lo, hi = max(start, t), min(end, t_next)
            if hi > lo:
                total += w * (hi - lo)
        return total

    # periods ---------------------------------------------------------------
    def record(self, idx):
        """The period starting at idx * period (generated once, when first needed)."""
        rec = self.periods.get(idx)
        if rec is not None:
            return rec
        start, end = idx * self.period, (idx + 1) * self.period
        model, scn, rng = self.model, self.scenario, self.rng
        cand_s = self.candidate_seconds(start, end)
        shares = {"candidate": cand_s / self.period, "live": 1.0 - cand_s / self.period}
        load = math.exp(rng.gauss(0.0, model.get("latency_period_sigma", 0.0)))
        cv = scn.get("overdispersion_cv", 0.0)
        rec = {"start": start, "sides": {}}
        for side in ("live", "candidate"):
            rate, scale = traffic_side_params(model, scn, side, shares[side])
            n = poisson(rng, model["rps"] * self.period * shares[side])
            period_rate = rate
            if cv:
                k = 1.0 / (cv * cv)
                period_rate = min(1.0, rate * rng.gammavariate(k, 1.0 / k))
            errors = binomial(rng, n, period_rate)
            elb = binomial(rng, n, min(1.0, model.get("elb_share", 0.0) * period_rate))
            running = side == "live" or end > self.candidate_service_from
            cpu = mem = None
            if running:
                cpu = max(0.0, model["cpu_idle"] + model["cpu_full"] * shares[side] + rng.gauss(0.0, model["cpu_sd"]))
                mem = max(0.0, model["mem_idle"] + model["mem_full"] * shares[side] + rng.gauss(0.0, model["mem_sd"]))
            missing = scn.get("missing", 0.0)
            rec["sides"][side] = {
                "requests": n, "target_5xx": errors, "elb_5xx": elb, "share": shares[side],
                "present": not (missing and rng.random() < missing),
                "mu": self.mu + math.log(scale * load), "hist": None, "cpu": cpu, "mem": mem, "cache": {},
            }
        self.periods[idx] = rec
        return rec

    def visible(self, idx, now):
        return (idx + 1) * self.period + self.delay <= now + 1e-9

    # GetMetricData ---------------------------------------------------------
    def _side_of(self, metric):
        """live / candidate for a target group's or a service's metric, "lb" for the load balancer's own series
        (dimension LoadBalancer alone: both target groups together), None for anything else."""
        dims = dict((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))
        if metric.get("Namespace") == ALB_NS and dims == {"LoadBalancer": LOAD_BALANCER}:
            return "lb"
        for side, own in SIDE_DIMS.items():
            if metric.get("Namespace") == ALB_NS and dims.get("TargetGroup") == own["TargetGroup"] \
                    and dims.get("LoadBalancer", LOAD_BALANCER) == LOAD_BALANCER:
                return side
            if metric.get("Namespace") == ECS_NS and dims.get("ServiceName") == own["ServiceName"] \
                    and dims.get("ClusterName", CLUSTER) == CLUSTER:
                return side
        return None

    def value(self, rec, side, namespace, metric_name, stat):
        """One datapoint, or None where CloudWatch has none (a zero count, no requests, a missing period)."""
        if side == "lb":
            return self._lb_value(rec, metric_name, stat)
        s = rec["sides"][side]
        if not s["present"]:
            return None
        if namespace == ECS_NS:
            field = {"CPUUtilization": "cpu", "MemoryUtilization": "mem"}.get(metric_name)
            if field is None:
                return None
            if stat not in ("Average", "Minimum", "Maximum"):
                raise ValueError("simulated CloudWatch answers %s only with Average, not %s" % (metric_name, stat))
            return s[field]
        n = s["requests"]
        if not n:
            return None  # no requests: no datapoint at all (ALB publishes nothing for the period)
        if metric_name in COUNT_METRICS:
            count = s[COUNT_METRICS[metric_name]]
            if stat not in ("Sum", "SampleCount"):
                raise ValueError("simulated CloudWatch answers %s with Sum, not %s" % (metric_name, stat))
            if stat == "SampleCount":
                return float(n) if count else None
            return float(count) if count else None
        if metric_name != "TargetResponseTime":
            return None
        cached = s["cache"].get(stat)
        if cached is not None:
            return cached
        if stat == "SampleCount":
            out = float(n)
        else:
            if s["hist"] is None:
                s["hist"] = LatencyHistogram(n, s["mu"], self.model["latency_sigma"], self.rng)
            match_p, match_pr = _P_RE.match(stat), _PR_RE.match(stat)
            if match_p:
                out = s["hist"].percentile(float(match_p.group(1)))
            elif match_pr:
                low, high = (float(g) if g else None for g in match_pr.groups())
                out = s["hist"].percentile_rank(low, high)
            else:
                raise ValueError("simulated CloudWatch cannot answer TargetResponseTime %s" % stat)
        s["cache"][stat] = out
        return out

    def _lb_value(self, rec, metric_name, stat):
        """The load balancer's own count series: the sum over both target groups' present periods."""
        if metric_name not in COUNT_METRICS:
            return None  # latency per load balancer: not simulated (the judge asks it per target group)
        if stat != "Sum":
            raise ValueError("simulated CloudWatch answers the load balancer's %s with Sum, not %s" % (metric_name, stat))
        sides = [s for s in rec["sides"].values() if s["present"]]
        if not sum(s["requests"] for s in sides):
            return None
        count = sum(s[COUNT_METRICS[metric_name]] for s in sides)
        return float(count) if count else None

    def get_metric_data(self, queries, start, end, scan_by="TimestampAscending"):
        """MetricDataResults for `queries` over [start, end) (epoch seconds or datetimes) as of the clock's now."""
        self.calls += 1
        start, end = _epoch(start), _epoch(end)
        if end <= start:
            raise ValueError("EndTime must be after StartTime")
        now = self.clock.now()
        if len(queries) > 500:
            raise ValueError("GetMetricData takes at most 500 queries, got %d" % len(queries))
        first = int(math.floor(start / self.period))
        last = int(math.ceil(end / self.period))  # exclusive
        if last - first > 100800:
            raise ValueError("too many datapoints requested")
        idxs = [i for i in range(first, last) if i * self.period < end and self.visible(i, now)]
        recs = [(self.record(i), _stamp(i * self.period)) for i in idxs]
        out = []
        for q in queries:
            ms = q["MetricStat"]
            metric = ms["Metric"]
            if int(ms["Period"]) != self.period:
                raise ValueError("simulated CloudWatch publishes %d s periods, query %s asks %r"
                                 % (self.period, q["Id"], ms["Period"]))
            key = (metric.get("Namespace"), metric.get("MetricName"), ms["Stat"],
                   tuple(sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))))
            side = self._sides.get(key, False)
            if side is False:
                side = self._sides[key] = self._side_of(metric)
            stamps, values = [], []
            if side is not None:
                value, ns, name, stat = self.value, metric["Namespace"], metric["MetricName"], ms["Stat"]
                for rec, stamp in recs:
                    v = value(rec, side, ns, name, stat)
                    if v is not None:
                        stamps.append(stamp)
                        values.append(v)
            if scan_by != "TimestampAscending":
                stamps.reverse()
                values.reverse()
            out.append({"Id": q["Id"], "Label": metric.get("MetricName", q["Id"]), "Timestamps": stamps,
                        "Values": values, "StatusCode": "Complete"})
        return out

    def fetch(self, queries, start, end):
        """canary_watch's fetch(queries, start, end) -> MetricDataResults."""
        return self.get_metric_data(queries, start, end)

    # exposure --------------------------------------------------------------
    def candidate_served(self, until):
        """Candidate requests and 5xx served before `until` (whole periods up to the one holding it)."""
        last = int(math.floor(until / self.period))
        first = int(math.floor(self.weights[1][0] / self.period)) if len(self.weights) > 1 else last + 1
        req = err = 0
        for i in range(first, last + 1):
            s = self.record(i)["sides"]["candidate"]
            req += s["requests"]
            err += s["target_5xx"] + s["elb_5xx"]
        return req, err


_STAMPS = {}


class _Timestamp(datetime.datetime):
    """A datapoint's timestamp, as boto3 gives it (a UTC datetime), that formats itself once."""

    def isoformat(self, *args, **kwargs):
        if args or kwargs:
            return datetime.datetime.isoformat(self, *args, **kwargs)
        text = self.__dict__.get("_iso")
        if text is None:
            text = self.__dict__["_iso"] = datetime.datetime.isoformat(self)
        return text


def _stamp(epoch):
    ts = _STAMPS.get(epoch)
    if ts is None:
        ts = _STAMPS[epoch] = _Timestamp.fromtimestamp(epoch, datetime.timezone.utc)
        if len(_STAMPS) > 200000:
            _STAMPS.clear()
    return ts


def _epoch(value):
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


# ---------------------------------------------------------------------------
# Traffic models and scenarios
# ---------------------------------------------------------------------------

TODAY_REV = "47e9012"  # main before issue 13: the judge, role defaults and inventories of the "today" column


def read_source(path, rev=None):
    """A file of this checkout, or of git revision `rev` of it (git show)."""
    if rev is None:
        with open(os.path.join(ROOT, path)) as f:
            return f.read()
    import subprocess
    return subprocess.run(["git", "-C", ROOT, "show", "%s:%s" % (rev, path)], check=True, capture_output=True,
                          text=True, timeout=60).stdout


def _yaml(path, rev=None):
    import yaml  # PyYAML comes with ansible-core
    return yaml.safe_load(read_source(path, rev)) or {}


def inventory_policy(group_vars, rev=None):
    """The traffic-shift settings an inventory gives the role: its group_vars over the role's defaults (at git
    revision `rev`, or as checked out)."""
    merged = dict(_yaml("roles/ecs_traffic_shift/defaults/main.yml", rev))
    for path in group_vars:
        merged.update(_yaml(path, rev))
    steps = []
    for raw in merged["ecs_validate_steps"]:
        step = {"percent": int(raw["percent"]), "watch_seconds": int(raw["watch_seconds"])}
        if raw.get("spending"):
            step["spending"] = raw["spending"]
        steps.append(step)
    return {
        "steps": steps,
        "period": int(merged["ecs_traffic_shift_period"]),
        "metric_delay": int(merged.get("ecs_traffic_shift_metric_delay", 0)),
        "baseline_seconds": int(merged.get("ecs_traffic_shift_baseline_seconds", 0)),
        "preset": merged["ecs_traffic_shift_preset"],
        "alpha": float(merged["ecs_traffic_shift_alpha"]),
        "pass_alpha": float(merged.get("ecs_traffic_shift_pass_alpha", 0.05)),
        "spending": merged["ecs_traffic_shift_spending"],
        "inconclusive_policy": merged["ecs_traffic_shift_inconclusive_policy"],
        "max_extensions": int(merged.get("ecs_traffic_shift_max_extensions", 1)),
        "extension_seconds": int(merged["ecs_traffic_shift_extension_seconds"]),
        "inconclusive_fallback": merged["ecs_traffic_shift_inconclusive_fallback"],
        "metric_overrides": merged.get("ecs_traffic_shift_metric_overrides") or {},
        "source": ["%s%s" % ("%s:" % rev if rev else "", path) for path in group_vars],
    }


PRODUCTION_VARS = ("inventories/example/group_vars/all/ecs.yml", "inventories/example/group_vars/production/ecs.yml")
LAB_VARS = ("inventories/lab/group_vars/all/ecs.yml",)

_LATENCY = {"latency_p95": 0.125, "latency_sigma": 0.5, "latency_period_sigma": 0.05}
_ECS = {"cpu_idle": 8.0, "cpu_full": 30.0, "cpu_sd": 1.5, "mem_idle": 45.0, "mem_full": 5.0, "mem_sd": 0.5}

MODELS = (
    # The seed: 1,250 requests/min, 0.18 % 5xx, p95 ~125 ms, 60 s periods, 10 % 5 min / 50 % 10 min / 100 % 30 min
    # with inventories/example's production policy. ALB metrics arrive a minute late.
    dict(name="seed", label="seed 1250rpm", rps=1250 / 60.0, error_rate=0.0018, elb_share=0.1, period=60, delay=60,
         policy_vars=PRODUCTION_VARS, **dict(_LATENCY, **_ECS)),
    # The busy service: 200 requests/s, 0.5 % 5xx, same schedule and policy.
    dict(name="busy", label="busy 200rps", rps=200.0, error_rate=0.005, elb_share=0.1, period=60, delay=60,
         policy_vars=PRODUCTION_VARS, **dict(_LATENCY, **_ECS)),
    # The lab's rate (time_to_rollback.py's 50 requests/s), 5 s periods published 2 s after they end (the lab
    # inventory's metric_delay), inventories/lab's schedule and policy. Its healthy release serves no 5xx at all;
    # 0.5 % stands in so that ratios mean something.
    dict(name="lab", label="lab 50rps", rps=50.0, error_rate=0.005, elb_share=0.1, period=5, delay=2,
         policy_vars=LAB_VARS, **dict(_LATENCY, **_ECS)),
)

SCENARIOS = (
    dict(name="A/A", kind="aa"),
    dict(name="5xx x1.5", kind="regression", metric="errors", error_factor=1.5),
    dict(name="5xx x2", kind="regression", metric="errors", error_factor=2.0),
    dict(name="5xx x5", kind="regression", metric="errors", error_factor=5.0),
    dict(name="5xx x10", kind="regression", metric="errors", error_factor=10.0),
    dict(name="p95 +10%", kind="regression", metric="latency", latency_shift=0.10),
    dict(name="p95 +25%", kind="regression", metric="latency", latency_shift=0.25),
    dict(name="p95 +50%", kind="regression", metric="latency", latency_shift=0.50),
    dict(name="missing 20% A/A", kind="aa", missing=0.2),
    dict(name="missing 20% 5xx x5", kind="regression", metric="errors", error_factor=5.0, missing=0.2),
    dict(name="overdispersed A/A", kind="aa", overdispersion_cv=0.5),
    dict(name="overdispersed 5xx x5", kind="regression", metric="errors", error_factor=5.0, overdispersion_cv=0.5),
    # A release that breaks only under full load: judged at 100 % against live's pre-deployment baseline.
    dict(name="5xx x5 at 100 % only", kind="regression", metric="errors", error_factor=5.0, full_load_only=True),
    # The lab's own bad release: v1.2.4-errors (5 % 5xx) against v1.2.2 (none), as time_to_rollback.py runs it.
    dict(name="bad release 0% -> 5%", kind="regression", metric="errors", live_error_rate=0.0,
         candidate_error_rate=0.05, models=("lab",)),
)


def model_by_name(name):
    for m in MODELS:
        if m["name"] == name:
            return m
    raise KeyError(name)


def scenario_by_name(name):
    for s in SCENARIOS:
        if s["name"] == name:
            return s
    raise KeyError(name)


# ---------------------------------------------------------------------------
# The judge and the policy
# ---------------------------------------------------------------------------

_MODULES = {}


def load_modules(accelerate=False):
    """canary_judge / canary_stats (and canary_watch / deploy_policy when present) through build/collections.

    With `accelerate` and scipy at hand (requirements-dev.txt has it), the judge's two hot spots of its error-rate
    MDE search are swapped for judge_accuracy.py's equivalents (scipy's incomplete beta, the power's sum
    vectorised), after judge_accuracy checks that they agree with the judge's own to 1e-9; without scipy, or
    with --pure, the judge runs as shipped (about 8x slower at the seed's numbers)."""
    if "canary_judge" in _MODULES:
        return _MODULES
    collections = os.path.join(ROOT, "build", "collections")
    if not os.path.isdir(os.path.join(collections, "ansible_collections", "progressive", "delivery")):
        collections = os.path.join(HERE, "results", "collections")  # no `make setup` link: make one (git-ignored)
        link = os.path.join(collections, "ansible_collections", "progressive", "delivery")
        if not os.path.exists(link):
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(ROOT, link)
    if collections not in sys.path:
        sys.path.insert(0, collections)
    import importlib
    base = "ansible_collections.progressive.delivery.plugins.module_utils."
    for name in ("canary_judge", "canary_stats", "canary_watch", "deploy_policy"):
        try:
            _MODULES[name] = importlib.import_module(base + name)
        except ImportError:
            _MODULES[name] = None
    _MODULES["accelerate"] = accelerate
    _MODULES["accelerated"] = bool(accelerate and _accelerate(_MODULES["canary_stats"]))
    return _MODULES


_JUDGE_IMPORT = "from ansible_collections.progressive.delivery.plugins.module_utils import canary_stats as stats\n"


def load_today(accelerate=None):
    """canary_judge / canary_stats as they were at TODAY_REV (git show), as modules of their own; None without
    git or that revision (a shallow clone): the "today" column is then left out."""
    if "today" in _MODULES:
        return _MODULES["today"]
    import types
    try:
        stats_src = read_source("plugins/module_utils/canary_stats.py", TODAY_REV)
        judge_src = read_source("plugins/module_utils/canary_judge.py", TODAY_REV)
    except Exception as e:  # git missing, not a repository, revision unknown
        print("deployment_sim: no %s judge to run as today's (%s)" % (TODAY_REV, str(e).strip()[:200]), file=sys.stderr)
        _MODULES["today"] = None
        return None
    if _JUDGE_IMPORT not in judge_src:
        raise RuntimeError("canary_judge at %s does not import canary_stats as expected" % TODAY_REV)
    stats = types.ModuleType("today_canary_stats")
    exec(compile(stats_src, "%s:plugins/module_utils/canary_stats.py" % TODAY_REV, "exec"), stats.__dict__)
    judge = types.ModuleType("today_canary_judge")
    judge.__dict__["stats"] = stats
    exec(compile(judge_src.replace(_JUDGE_IMPORT, ""), "%s:plugins/module_utils/canary_judge.py" % TODAY_REV, "exec"),
         judge.__dict__)
    if accelerate if accelerate is not None else _MODULES.get("accelerate"):
        _accelerate(stats)
    _MODULES["today"] = {"canary_judge": judge, "canary_stats": stats}
    return _MODULES["today"]


def _accelerate(stats):
    try:
        sys.path.insert(0, HERE)
        import judge_accuracy
    except ImportError:
        return False
    return bool(judge_accuracy._accelerate(stats))


def specs_for(preset, overrides=None, judge=None):
    judge = judge or load_modules()["canary_judge"]
    kwargs = dict(load_balancer=LOAD_BALANCER, live_target_group=SIDE_DIMS["live"]["TargetGroup"],
                  candidate_target_group=SIDE_DIMS["candidate"]["TargetGroup"], cluster=CLUSTER,
                  live_service=SIDE_DIMS["live"]["ServiceName"], candidate_service=SIDE_DIMS["candidate"]["ServiceName"])
    raw = []
    for part in ("alb", "ecs") if preset == "alb_ecs" and "alb_ecs" not in getattr(judge, "PRESETS", ()) else (preset,):
        raw += judge.preset_specs(part, **kwargs)
    specs, errors = judge.normalize_specs(raw, overrides or {})
    if errors:
        raise ValueError("; ".join(errors))
    return specs


class Deployment(object):
    """What one simulated deployment did, step by step (the adapters fill it in)."""

    def __init__(self, sim, clock, steps):
        self.sim, self.clock, self.steps = sim, clock, steps
        self.first_shift = None
        self.step_rows = []
        self.outcome = None          # completed | rolled_back
        self.rollback_step = None    # index into steps
        self.rollback_cause = None   # fail (the judge) | fallback (the policy on an undecided step)
        self.rollback_at = None
        self.asked = 0               # steps that would have asked an operator (pause / ask)
        self.coarse_passes = 0       # metric passes whose data could not have failed them
        self.passes = 0
        self.looks = 0
        self.worse_metric = None     # the metric the scenario makes worse than its margin, if any
        self.wrong_pass = False
        self.worse_from_percent = 0  # 100 when the regression shows only under full load

    def shift(self, percent):
        if self.first_shift is None and percent > 0:
            self.first_shift = self.clock.now()
        self.sim.shift(percent)

    def note_rows(self, rows, percent=100):
        """Of a watch's deciding look: count metric passes, passes the data could not have failed (no candidate
        data, fewer than MIN_PASS_REQUESTS candidate requests for a rate or a tail, or an MDE beyond the tolerance),
        and passes of the metric the scenario made worse by more than its margin (`wrong_pass`)."""
        for row in rows:
            if row.get("verdict") != "pass":
                continue
            self.passes += 1
            tol = row.get("tolerance")
            mde = row.get("mde_ratio")
            count = row.get("candidate_count")
            if not count or (row.get("kind") in ("proportion", "rate", "tail") and count < MIN_PASS_REQUESTS) \
                    or (mde is not None and tol is not None and mde - 1.0 > tol + 1e-9):
                self.coarse_passes += 1
            if row.get("name") == self.worse_metric and percent >= self.worse_from_percent:
                self.wrong_pass = True

    def roll_back(self, step_index, cause):
        self.clock.sleep(ROLLBACK_OVERHEAD_S)
        self.shift(0)
        self.outcome, self.rollback_step, self.rollback_cause = "rolled_back", step_index, cause
        self.rollback_at = self.clock.now()

    def result(self):
        out = {"outcome": self.outcome, "rollback_step": self.rollback_step, "rollback_cause": self.rollback_cause,
               "reached_100": any(r["percent"] == 100 for r in self.step_rows), "asked": self.asked,
               "coarse_passes": self.coarse_passes, "passes": self.passes, "looks": self.looks,
               "wrong_pass": self.wrong_pass,
               "steps": [dict((k, r[k]) for k in ("percent", "decision", "action")) for r in self.step_rows],
               "last_reason": self.step_rows[-1].get("reason", "") if self.step_rows else ""}
        if self.outcome == "rolled_back" and self.first_shift is not None:
            req, err = self.sim.candidate_served(self.rollback_at)
            out.update(seconds_exposed=self.rollback_at - self.first_shift, candidate_requests_exposed=req,
                       candidate_errors_exposed=err)
        return out


# "today": cw_compare's watch loop + step.yml's ternaries, as of TODAY_REV -----------------------------------

def today_watch(dep, judge, specs, queries, index, window_start, watch_seconds, period, alpha, spending, percent):
    """plugins/modules/cw_compare.py's watch mode (TODAY_REV) on the simulated clock: a look every period over the
    window from window_start to now (aligned to whole periods), alpha spending carried from look to look, an early
    return on fail."""
    clock = dep.clock
    started = clock.now()
    interval = period
    looks = max(1, int(math.ceil(float(watch_seconds) / interval)))
    spent, outcome = {}, None
    for look in range(1, looks + 1):  # bounded: `looks` iterations
        due = started + min(look * interval, watch_seconds)
        clock.sleep(max(0.0, due - clock.now()))
        start, end = judge.align_window(window_start, clock.now(), period)
        data = judge.collect(dep.sim.get_metric_data(queries, start, end), index)
        outcome = judge.evaluate(specs, data, look=look, looks=looks, alpha=alpha, spent=spent, spending=spending)
        spent = outcome["spent"]
        dep.looks += 1
        if outcome["decision"] == "fail":
            break
    dep.note_rows(outcome["metrics"], percent)
    return outcome


def today_deployment(dep, policy):
    """roles/ecs_traffic_shift/tasks/step.yml (TODAY_REV), unattended: pause finds no terminal and rolls back."""
    judge = load_today()["canary_judge"]
    specs = specs_for(policy["preset"], policy["metric_overrides"], judge)
    period = policy["period"]
    queries, index = judge.build_queries(specs, period)
    extend = policy["inconclusive_policy"] == "extend"
    alpha = policy["alpha"] / (2 if extend else 1)
    previous_start = None
    for i, step in enumerate(policy["steps"]):
        dep.shift(step["percent"])
        dep.clock.sleep(STEP_OVERHEAD_S)
        now = dep.clock.now()
        if step["percent"] == 100:
            window_start = previous_start if previous_start is not None else now - period * 3
        else:
            window_start = now
        previous_start = now
        spending = step.get("spending") or policy["spending"]
        verdict = today_watch(dep, judge, specs, queries, index, window_start, step["watch_seconds"], period, alpha,
                              spending, step["percent"])
        if extend and verdict["decision"] == "inconclusive":
            verdict = today_watch(dep, judge, specs, queries, index, window_start,
                                  policy["extension_seconds"] or step["watch_seconds"], period, alpha, spending,
                                  step["percent"])
        decision = verdict["decision"]
        if decision != "inconclusive":
            action = "advance" if decision == "pass" else "rollback"
        else:
            fallback = policy["inconclusive_fallback"] if extend else policy["inconclusive_policy"]
            action = {"proceed": "advance", "pause": "ask", "rollback": "rollback"}[fallback]
        dep.step_rows.append({"percent": step["percent"], "decision": decision, "action": action,
                              "reason": verdict.get("reason", "")})
        if action == "ask":
            dep.asked += 1
            dep.roll_back(i, "fallback")  # no terminal: pause returns at once, and no answer is not a yes
            return dep
        if action == "rollback":
            dep.roll_back(i, "fail" if decision == "fail" else "fallback")
            return dep
    dep.outcome = "completed"
    return dep


# "new": canary_watch.watch + deploy_policy.step_action (issue 13) ------------------------------------------------

def new_available():
    mods = load_modules()
    return bool(mods.get("canary_watch") and mods.get("deploy_policy")
                and hasattr(mods["canary_watch"], "watch") and hasattr(mods["deploy_policy"], "step_action"))


def new_deployment(dep, policy):
    """roles/ecs_traffic_shift (main.yml, step.yml, compare.yml) and cw_compare's main() as checked out, unattended.

    The role plans the steps (deploy_policy.shift_plan: positions, look offsets, the deployment's total looks) and
    per step shifts, notes the first shift, and calls cw_compare with the window pooled since the first shift (the
    100 % step: since its own shift, against live's baseline window before the first shift), the alpha spent so far
    and the records of the steps before. cw_compare reads the baseline, watches (canary_watch.watch), asks
    deploy_policy.step_action, and on `hold` watches longer over the grown window from the same start, up to
    max_extensions times. The module's orchestration is copied here (it lives in its main(), not in module_utils);
    `ask` finds no terminal and rolls back."""
    mods = load_modules()
    judge, watcher, pol = mods["canary_judge"], mods["canary_watch"], mods["deploy_policy"]
    specs = specs_for(policy["preset"], policy["metric_overrides"], judge)
    period, delay = policy["period"], policy["metric_delay"]
    extend = policy["inconclusive_policy"] == "extend"
    plan = pol.shift_plan(policy["steps"], 0, period, delay, policy["max_extensions"] if extend else 0,
                          policy["extension_seconds"])
    module_policy, errors = pol.validate_policy({"inconclusive": policy["inconclusive_policy"],
                                                 "max_extensions": policy["max_extensions"],
                                                 "fallback": policy["inconclusive_fallback"]})
    if errors:
        raise ValueError("; ".join(errors))
    clock, fetch = dep.clock, dep.sim.fetch
    first_shift, spent, results = None, {}, []
    for step in plan["todo"]:
        dep.shift(step["percent"])
        dep.clock.sleep(STEP_OVERHEAD_S)
        shifted_at = float(int(clock.now()))  # the role notes now(fmt='%s') | int
        first_shift = first_shift or shifted_at
        start = shifted_at if step["position"] == "last" else first_shift
        # cw_compare main(): the baseline window, then the watch and the policy's holds.
        base_window = judge.align_window(first_shift - policy["baseline_seconds"], first_shift, period)
        baseline, thresholds = watcher.read_baseline(fetch, specs, period, base_window[0], base_window[1])
        common = dict(period=period, delay=delay, alpha=policy["alpha"],
                      spending=step.get("spending") or policy["spending"], pass_alpha=policy["pass_alpha"],
                      power=0.8, baseline=baseline, against_baseline=step["position"] == "last",
                      thresholds=thresholds)
        outcome = watcher.watch(specs, fetch, clock, start, step["watch_seconds"], spent=spent,
                                look_offset=step["look_offset"], total_looks=plan["total_looks"], **common)
        looks_taken = outcome["watch_looks"]
        dep.note_rows(outcome["metrics"], step["percent"])
        history = list(results)
        step_arg = {"percent": step["percent"], "index": step["index"], "count": step["count"]}
        for _attempt in range(module_policy["max_extensions"] + 1):  # bounded as in cw_compare
            decision = pol.step_action(outcome, step_arg, module_policy, history)
            if decision["action"] != pol.HOLD:
                break
            history.append({"percent": step["percent"], "action": pol.HOLD, "reason": decision["reason"]})
            more = policy["extension_seconds"] or step["watch_seconds"] or period
            outcome = watcher.watch(specs, fetch, clock, start, more, spent=outcome["spent"],
                                    look_offset=step["look_offset"] + looks_taken, total_looks=plan["total_looks"],
                                    **common)
            looks_taken += outcome["watch_looks"]
            dep.note_rows(outcome["metrics"], step["percent"])
        else:
            decision = pol.step_action(outcome, step_arg, module_policy, history)
        dep.looks += looks_taken
        spent = outcome.get("spent", spent)
        action = decision["action"]
        dep.step_rows.append({"percent": step["percent"], "decision": outcome.get("decision"), "action": action,
                              "reason": outcome.get("reason", ""), "looks": looks_taken, "holds": sum(1 for h in history if h.get("action") == pol.HOLD)
                              - sum(1 for h in results if h.get("action") == pol.HOLD)})
        results.append({"percent": step["percent"], "action": action if action != pol.ASK else "rollback"})
        if action == pol.ASK:
            dep.asked += 1
            dep.roll_back(len(dep.step_rows) - 1, "fallback")  # no terminal: no answer is not a yes
            return dep
        if action == pol.ROLLBACK:
            dep.roll_back(len(dep.step_rows) - 1, "fail" if outcome.get("decision") == "fail" else "fallback")
            return dep
    dep.outcome = "completed"
    return dep


ADAPTERS = {
    "today": {"available": lambda: load_today() is not None,
              "policy": lambda model: inventory_policy(model["policy_vars"], TODAY_REV), "run": today_deployment},
    "new": {"available": new_available, "policy": lambda model: inventory_policy(model["policy_vars"]),
            "run": new_deployment},
}


# ---------------------------------------------------------------------------
# The oracle: the best single test on all the data of the planned schedule
# ---------------------------------------------------------------------------

def oracle_level(policy, n_metrics=2):
    """The deployment's alpha as the judge splits it per metric (Bonferroni over the preset's metrics)."""
    return float(policy.get("alpha", ORACLE_ALPHA)) / max(1, n_metrics)


def oracle_trial(model, scenario, steps, rng, level, tolerance=0.25):
    """One draw of the pooled data a deployment on `steps` would see (all steps to their planned end, no
    extension; per period Poisson requests at the step's split, the scenario's rates, missing periods dropped),
    and whether the best single test rejects at `level`:
    - errors: the exact conditional binomial test of candidate vs live 5xx (canary_stats);
    - latency: the exact binomial test that more than 5 % of the candidate's requests are slower than
      (1 + tolerance) x live's p95 (the share is 5 % exactly when the candidate is (1 + tolerance) x live).
    Returns (errors_rejected, latency_rejected)."""
    stats = load_modules()["canary_stats"]
    period = model["period"]
    cv = scenario.get("overdispersion_cv", 0.0)
    missing = scenario.get("missing", 0.0)
    counts = {"live": [0, 0], "candidate": [0, 0]}
    for step in steps:
        share = step["percent"] / 100.0
        for _p in range(int(math.ceil(step["watch_seconds"] / float(period)))):
            for side, w in (("live", 1.0 - share), ("candidate", share)):
                n = poisson(rng, model["rps"] * period * w)
                if missing and rng.random() < missing:
                    continue
                rate, _scale = traffic_side_params(model, scenario, side, w)
                if cv:
                    k = 1.0 / (cv * cv)
                    rate = min(1.0, rate * rng.gammavariate(k, 1.0 / k))
                counts[side][0] += binomial(rng, n, rate)
                counts[side][1] += n
    (le, ln), (ce, cn) = counts["live"], counts["candidate"]
    err = False
    if ln and cn:
        p_value, _p0, _total = stats.conditional_binomial_test(le, ln, ce, cn)
        err = p_value <= level
    lat = False
    if cn:
        sigma = model["latency_sigma"]
        shift = 1.0 + scenario.get("latency_shift", 0.0)
        # P(candidate latency > (1 + tol) x live p95) = 1 - Phi(z95 + ln((1 + tol) / shift) / sigma)
        q = 1.0 - _NORMAL.cdf(_NORMAL.inv_cdf(0.95) + math.log((1.0 + tolerance) / shift) / sigma)
        slow = binomial(rng, cn, q)
        lat = stats.binom_sf(slow, cn, 0.05) <= level
    return err, lat


# ---------------------------------------------------------------------------
# Trials
# ---------------------------------------------------------------------------

def trial_seed(seed, *parts):
    digest = hashlib.sha256(repr((seed,) + parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def worse_metric(model, scenario, abs_margin):
    """The preset metric the scenario makes worse than its margin (error_rate: max(25 % of live's rate,
    abs_margin); latency_p95: a p95 more than 25 % above live's), or None."""
    live, _ = traffic_side_params(model, scenario, "live")
    cand, shift = traffic_side_params(model, scenario, "candidate")
    if cand - live > max(TAIL_TOLERANCE * live, abs_margin) + 1e-12:
        return "error_rate"
    if shift - 1.0 > TAIL_TOLERANCE + 1e-9:
        return "latency_p95"
    return None


def adapter_judge(adapter_name):
    return (load_today() if adapter_name == "today" else load_modules())["canary_judge"]


def run_trial(model, scenario, adapter_name, policy, seed):
    rng = random.Random(seed)
    period = model["period"]
    # Deployments start at a random phase of the period, a day into the simulated epoch.
    t0 = 86400.0 + rng.random() * period
    clock = SimClock(t0)
    sim = SimCloudWatch(model, scenario, rng, clock, t0)
    dep = Deployment(sim, clock, policy["steps"])
    dep.worse_metric = worse_metric(model, scenario, getattr(adapter_judge(adapter_name), "DEFAULT_ABS_MARGIN", 0.0))
    dep.worse_from_percent = 100 if scenario.get("full_load_only") else 0
    try:
        ADAPTERS[adapter_name]["run"](dep, policy)
    except Exception as e:  # the judge or the policy raised: cw_compare would fail, and the role's rescue roll back
        import traceback
        frame = traceback.extract_tb(e.__traceback__)[-1]
        dep.step_rows.append({"percent": dep.sim.candidate_share(clock.now()) * 100, "decision": "error",
                              "action": "rollback"})
        dep.roll_back(len(dep.step_rows) - 1, "error")
        out = dep.result()
        out["error"] = "%s: %s at %s:%d (%s)" % (type(e).__name__, e, os.path.basename(frame.filename), frame.lineno,
                                                 frame.name)
        return out
    return dep.result()


_POLICIES = {}


def policy_for(adapter_name, model):
    key = (adapter_name, model["name"])
    if key not in _POLICIES:
        _POLICIES[key] = ADAPTERS[adapter_name]["policy"](model)
    return _POLICIES[key]


def run_chunk(task):
    """Trials first .. first + count - 1 of one cell, and their oracle draws (seeded per trial, so the figures do
    not depend on how the trials are chunked over workers)."""
    model_name, scenario_name, adapter_name, first, count, seed = task
    model, scenario = model_by_name(model_name), scenario_by_name(scenario_name)
    policy = policy_for(adapter_name, model)
    level = oracle_level(policy)
    started = time.process_time()
    results, oracle = [], []
    for t in range(first, first + count):
        results.append(run_trial(model, scenario, adapter_name, policy,
                                 trial_seed(seed, model_name, scenario_name, adapter_name, t)))
        oracle.append(oracle_trial(model, scenario, policy["steps"],
                                   random.Random(trial_seed(seed, model_name, scenario_name, "oracle", t)), level))
    return (model_name, scenario_name, adapter_name), first, results, oracle, time.process_time() - started


def run_cell(model, scenario, adapter_name, trials, seed):
    key, _first, results, oracle, cpu = run_chunk((model["name"], scenario["name"], adapter_name, 0, trials, seed))
    return summarize(model, scenario, adapter_name, policy_for(adapter_name, model), results, oracle, cpu)


def _median(values):
    return statistics.median(values) if values else None


def summarize(model, scenario, adapter_name, policy, results, oracle, cpu):
    n = len(results)
    steps = [s["percent"] for s in policy["steps"]]
    rolled = [r for r in results if r["outcome"] == "rolled_back"]
    by_step = [sum(1 for r in rolled if r["rollback_step"] == i) / float(n) for i in range(len(steps))]
    metric = scenario.get("metric")
    oracle_power = None
    if metric == "errors":
        oracle_power = sum(1 for e, _l in oracle if e) / float(n)
    elif metric == "latency":
        oracle_power = sum(1 for _e, l in oracle if l) / float(n)
    return {
        "model": model["name"], "model_label": model["label"], "scenario": scenario["name"], "kind": scenario["kind"],
        "metric": metric, "adapter": adapter_name, "trials": n, "steps": steps,
        "policy": dict((k, v) for k, v in policy.items() if k in ("inconclusive_policy", "extension_seconds",
                                                                   "inconclusive_fallback", "alpha", "spending",
                                                                   "preset", "period", "source")),
        "completed": sum(1 for r in results if r["outcome"] == "completed") / float(n),
        "reached_100": sum(1 for r in results if r["reached_100"]) / float(n),
        "rolled_back": len(rolled) / float(n),
        "rolled_back_fail": sum(1 for r in rolled if r["rollback_cause"] == "fail") / float(n),
        "rolled_back_fallback": sum(1 for r in rolled if r["rollback_cause"] == "fallback") / float(n),
        "errors": sum(1 for r in rolled if r["rollback_cause"] == "error") / float(n),
        "error_examples": sorted(set(r["error"] for r in results if r.get("error")))[:3],
        "rollback_reasons": _top([r.get("last_reason", "") for r in rolled if r["rollback_cause"] != "error"]),
        "rolled_back_by_step": by_step,
        "rolled_back_fail_by_step2": sum(1 for r in rolled if r["rollback_cause"] == "fail"
                                         and r["rollback_step"] <= 1) / float(n),
        "asked": sum(1 for r in results if r["asked"]) / float(n),
        "seconds_exposed_median": _median([r["seconds_exposed"] for r in rolled if "seconds_exposed" in r]),
        "period_s": model["period"],
        "requests_exposed_median": _median([r["candidate_requests_exposed"] for r in rolled
                                            if "candidate_requests_exposed" in r]),
        "errors_exposed_median": _median([r["candidate_errors_exposed"] for r in rolled
                                          if "candidate_errors_exposed" in r]),
        "coarse_passes": sum(r["coarse_passes"] for r in results),
        "wrong_pass": (sum(1 for r in results if r["wrong_pass"]) / float(n)
                       if worse_metric(model, scenario, getattr(adapter_judge(adapter_name), "DEFAULT_ABS_MARGIN", 0.0))
                       else None),
        "metric_passes": sum(r["passes"] for r in results),
        "looks_mean": sum(r["looks"] for r in results) / float(n),
        "oracle_power": oracle_power,
        "oracle_level": oracle_level(policy),
        "oracle_errors_rejects": sum(1 for e, _l in oracle if e) / float(n),
        "cpu_seconds": round(cpu, 2),
        "decisions": _decision_counts(results),
    }


def _top(reasons, n=3):
    counts = {}
    for reason in reasons:
        counts[reason] = counts.get(reason, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])[:n]


def _decision_counts(results):
    out = {}
    for r in results:
        for s in r["steps"]:
            key = "%d%% %s->%s" % (s["percent"], s["decision"], s["action"])
            out[key] = out.get(key, 0) + 1
    return out


# ---------------------------------------------------------------------------
# Targets and report
# ---------------------------------------------------------------------------

def check_targets(rows):
    checks = []

    def add(target, scope, ok, figure, goal):
        checks.append({"target": target, "scope": scope, "status": "met" if ok else "missed", "figure": figure,
                       "goal": goal})

    for r in rows:
        scope = "%s %s [%s]" % (r["model_label"], r["scenario"], r["adapter"])
        if r["model"] == "seed" and r["scenario"] == "A/A":
            add("healthy release reaches 100 % unattended (seed, production policy)", scope,
                r["completed"] >= TARGET_REACH, "%.1f%% completed (%.1f%% reached 100 %%)"
                % (100 * r["completed"], 100 * r["reached_100"]), ">= 99%")
        if r["kind"] == "aa":
            add("A/A false rollback per deployment", scope, r["rolled_back"] <= TARGET_FALSE_ROLLBACK,
                "%.1f%% (judge fail %.1f%%, fallback %.1f%%)" % (100 * r["rolled_back"], 100 * r["rolled_back_fail"],
                                                                100 * r["rolled_back_fallback"]), "<= 1%")
        if r["model"] == "seed" and r["scenario"] == "5xx x5":
            add("x5 5xx at the seed rolled back by the end of the 50 % step", scope,
                r["rolled_back_fail_by_step2"] >= TARGET_X5_BY_STEP2,
                "%.1f%% by a fail (%.1f%% any cause)" % (100 * r["rolled_back_fail_by_step2"],
                                                         100 * sum(r["rolled_back_by_step"][:2])), ">= 99%")
        if r["kind"] == "regression" and r["oracle_power"] is not None and r["oracle_power"] >= ORACLE_POWER_FLOOR:
            goal = TARGET_POWER_SHARE * r["oracle_power"]
            add("regression caught (judge fail) >= 0.9 x pooled oracle power", scope, r["rolled_back_fail"] >= goal,
                "%.3f vs oracle %.3f" % (r["rolled_back_fail"], r["oracle_power"]), ">= %.3f" % goal)
        if r["model"] == "lab" and r["scenario"].startswith("bad release") and r["seconds_exposed_median"] is not None:
            periods = r["seconds_exposed_median"] / float(r["period_s"])
            add("lab bad release rolled back within 2 periods (median, first shift to 100 % live; the e2e "
                "time_to_rollback.py measures the lab itself)", scope, periods <= 2.0,
                "%.1f periods (%.0f s)" % (periods, r["seconds_exposed_median"]), "<= 2 periods")
    for adapter in sorted(set(r["adapter"] for r in rows)):
        mine = [r for r in rows if r["adapter"] == adapter]
        broken = [r for r in mine if r.get("errors")]
        add("the judge and the policy never raise", "every trial [%s]" % adapter, not broken,
            "; ".join("%s %s: %.1f%% (%s)" % (r["model_label"], r["scenario"], 100 * r["errors"],
                                               " | ".join(r["error_examples"])) for r in broken) or "no exception",
            "none")
        bad = sum(r["coarse_passes"] for r in mine)
        add("never pass on a metric whose data could not have failed it", "every look of every trial [%s]" % adapter,
            bad == 0, "%d of %d metric passes without candidate data or with an MDE beyond the tolerance"
            % (bad, sum(r["metric_passes"] for r in mine)), "0")
    return checks


def _pct(x):
    return "-" if x is None else "%.1f" % (100 * x)


def _num(x, pattern="%.0f"):
    return "-" if x is None else pattern % x


TABLE_HEADER = ("schedule", "scenario", "driver", "trials", "done %", "at 100 %",
                "rolled back % (fail / fallback[ / error])", "by step %", "asked %", "t exposed s", "cand. req",
                "cand. 5xx", "wrong pass %", "oracle")


def table_lines(rows):
    lines = []
    for r in rows:
        by_step = " / ".join("%s" % _pct(p) for p in r["rolled_back_by_step"])
        causes = "%s / %s" % (_pct(r["rolled_back_fail"]), _pct(r["rolled_back_fallback"]))
        if r.get("errors"):
            causes += " / %s" % _pct(r["errors"])
        lines.append((r["model_label"], r["scenario"], r["adapter"], str(r["trials"]), _pct(r["completed"]),
                      _pct(r["reached_100"]), "%s (%s)" % (_pct(r["rolled_back"]), causes),
                      by_step, _pct(r["asked"]), _num(r["seconds_exposed_median"]),
                      _num(r["requests_exposed_median"]), _num(r["errors_exposed_median"]), _pct(r.get("wrong_pass")),
                      "-" if r["oracle_power"] is None else "%.3f" % r["oracle_power"]))
    return lines


def render_text(rows, checks):
    lines = table_lines(rows)
    widths = [max(len(str(x)) for x in col) for col in zip(TABLE_HEADER, *lines)] if lines else []
    out = ["  ".join(str(x).ljust(w) for x, w in zip(TABLE_HEADER, widths))]
    out += ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)) for line in lines]
    out.append("")
    for c in checks:
        out.append("%-6s %s | %s | %s (goal %s)" % (c["status"], c["target"], c["scope"], c["figure"], c["goal"]))
    return "\n".join(out)


def render_markdown(rows, checks, meta):
    out = ["Run %s on %s (%s cores, %s), Python %s; %s s CPU on one core, load average %s at the start and %s at the end; "
           "trials per scenario: %s; drivers: %s; judge and policy files %s (sha256 prefixes)."
           % (meta["date"], meta["machine"]["cpu"], meta["machine"]["nproc"], meta["machine"]["platform"],
              meta["machine"]["python"], meta["cpu_seconds"], meta["load_start"][0], meta["load_end"][0],
              ", ".join("%s %s %d" % (a, k, n) for (a, k), n in sorted(meta["trials"].items())
                        if a in meta["adapters"]), ", ".join(meta["adapters"]),
              ", ".join("%s %s" % (os.path.basename(k), v) for k, v in sorted(meta["judge_sha256"].items()))),
           "",
           "| " + " | ".join(TABLE_HEADER) + " |",
           "|" + "---|" * len(TABLE_HEADER)]
    out += ["| " + " | ".join(line) + " |" for line in table_lines(rows)]
    out += ["", "| status | target | scope | figure | goal |", "|---|---|---|---|---|"]
    out += ["| %s | %s | %s | %s | %s |" % (c["status"], c["target"], c["scope"], c["figure"], c["goal"])
            for c in checks]
    return "\n".join(out)


def machine():
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu or "unknown", "python": platform.python_version(),
            "platform": platform.platform(terse=True)}


def judge_fingerprint():
    out = {}
    for rel in JUDGE_FILES:
        path = os.path.join(ROOT, rel)
        if os.path.exists(path):
            with open(path, "rb") as f:
                out[rel] = hashlib.sha256(f.read()).hexdigest()[:16]
    return out


def update_readme(markdown, path=README):
    with open(path) as f:
        text = f.read()
    pattern = re.compile(re.escape(README_BEGIN) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        print("%s has no %s ... %s markers; not updated" % (path, README_BEGIN, README_END), file=sys.stderr)
        return False
    with open(path, "w") as f:
        f.write(pattern.sub(lambda _m: README_BEGIN + "\n" + markdown + "\n" + README_END, text))
    return True


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: %s trials" % TRIALS_QUICK)
    p.add_argument("--trials", type=int, default=None, help="trials for every scenario (overrides the defaults)")
    p.add_argument("--aa-trials", type=int, default=None, help="trials per A/A-like scenario (overrides)")
    p.add_argument("--regression-trials", type=int, default=None, help="trials per regression scenario (overrides)")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--only", default=None, help="run only cells whose '<model> <scenario>' contains this text")
    p.add_argument("--adapter", action="append", choices=sorted(ADAPTERS),
                   help="driver(s) to run (default: every one available)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1: the CPU budget is one core's)")
    p.add_argument("--chunk", type=int, default=50, help="trials per work unit")
    p.add_argument("--out", default=RESULTS)
    p.add_argument("--pure", action="store_true", help="run the judge's own binomial tail and power (slow)")
    p.add_argument("--update-readme", action="store_true", help="replace the section between the markers in README.md")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    load_modules(accelerate=not args.pure)
    load_start = [round(x, 2) for x in os.getloadavg()]
    counts = dict(TRIALS_QUICK if args.quick else TRIALS_FULL)
    if args.trials:
        counts = dict((k, args.trials) for k in counts)
    for kind, value in (("aa", args.aa_trials), ("regression", args.regression_trials)):
        if value:
            counts.update(((a, k), value) for a, k in counts if k == kind)
    if min(counts.values()) < 1 or args.jobs < 1 or args.chunk < 1:
        raise SystemExit("--trials, --jobs and --chunk must be >= 1")
    wanted = args.adapter or sorted(ADAPTERS, reverse=True)  # today first
    adapters = [a for a in wanted if ADAPTERS[a]["available"]()]
    skipped = [a for a in wanted if a not in adapters]
    if skipped:
        print("deployment_sim: driver(s) %s not available; running %s" % (", ".join(skipped), ", ".join(adapters)),
              file=sys.stderr)
    started = time.monotonic()
    cells, tasks = [], []
    for model in MODELS:
        for scenario in SCENARIOS:
            if args.only and args.only not in "%s %s" % (model["name"], scenario["name"]):
                continue
            if model["name"] not in scenario.get("models", (model["name"],)):
                continue
            for adapter in adapters:
                policy_for(adapter, model)  # read once, before any fork
                trials = counts[(adapter, scenario["kind"])]
                cells.append((model, scenario, adapter))
                tasks += [(model["name"], scenario["name"], adapter, first, min(args.chunk, trials - first), args.seed)
                          for first in range(0, trials, args.chunk)]
    done = {}
    if args.jobs == 1:
        outputs = map(run_chunk, tasks)
        for key, first, results, oracle, cpu in outputs:
            done.setdefault(key, []).append((first, results, oracle, cpu))
    else:
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            for key, first, results, oracle, cpu in pool.imap_unordered(run_chunk, tasks):
                done.setdefault(key, []).append((first, results, oracle, cpu))
    rows = []
    for model, scenario, adapter in cells:
        chunks = sorted(done[(model["name"], scenario["name"], adapter)], key=lambda c: c[0])
        rows.append(summarize(model, scenario, adapter, policy_for(adapter, model),
                              [r for c in chunks for r in c[1]], [o for c in chunks for o in c[2]],
                              sum(c[3] for c in chunks)))
    checks = check_targets(rows)
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(), "trials": counts, "seed": args.seed, "adapters": adapters,
            "wall_seconds": round(time.monotonic() - started, 1),
            "cpu_seconds": round(sum(r["cpu_seconds"] for r in rows), 1), "jobs": args.jobs, "load_start": load_start,
            "load_end": [round(x, 2) for x in os.getloadavg()], "oracle_alpha": ORACLE_ALPHA,
            "step_overhead_s": STEP_OVERHEAD_S, "rollback_overhead_s": ROLLBACK_OVERHEAD_S,
            "judge_sha256": judge_fingerprint(), "accelerated": _MODULES.get("accelerated"),
            "models": [dict((k, v) for k, v in m.items()) for m in MODELS], "scenarios": list(SCENARIOS)}
    print(render_text(rows, checks))
    print("\n%d cells in %.1f s wall, %.1f s CPU; %d met, %d missed"
          % (len(rows), meta["wall_seconds"], meta["cpu_seconds"], sum(c["status"] == "met" for c in checks),
             sum(c["status"] == "missed" for c in checks)))
    if args.update_readme:
        update_readme(render_markdown(rows, checks, meta))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        meta = dict(meta, trials=dict(("%s %s" % k, n) for k, n in counts.items()))
        json.dump({"meta": meta, "cells": rows, "targets": checks}, f, indent=1, default=str)
    print("wrote %s" % os.path.relpath(args.out, os.getcwd()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
