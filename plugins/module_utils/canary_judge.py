# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The canary judge: metric specs + fetched CloudWatch series -> per-metric table and step decision.

Pure functions (no boto3, no Ansible). The cw_compare module builds the GetMetricData
queries with `build_queries`, hands the results to `collect`, and asks `evaluate` for
the verdicts of each look; the statistics live in canary_stats.

A metric spec (dict):
    name            unique name in the table
    namespace       CloudWatch namespace
    metric_name     CloudWatch metric name
    kind            "proportion" (metric_name counts events, denominator_metric_name the
                    trials; summed over the window), "tail" (a latency quantile judged from
                    request counts: CloudWatch's percentile rank PR(:x) x SampleCount of
                    metric_name, summed over the window, so every request weighs the same) or
                    "samples" (every period's value is one sample, compared period by period)
    stat            CloudWatch statistic (default Sum for proportions, Average for samples)
    denominator_metric_name / denominator_namespace / denominator_stat (proportion only)
    dimensions      common dimensions {name: value}
    live_dimensions / candidate_dimensions   per side, merged over `dimensions`
    direction       higher_is_worse (default) or lower_is_worse
    tolerance       relative band, e.g. 0.25: worse by more than 25 % fails (if significant)
    abs_tolerance   optional band in the metric's units (an increase this small never fails)
    abs_margin      proportion: the non-inferiority margin in absolute terms (0.0025 = 0.25
                    percentage points); pass = shown no worse than live by more than
                    max(tolerance x live's rate, abs_margin)
    quantile        tail: the quantile judged (0.95)
    scope           "per_side" (default: live and candidate have their own dimensions) or
                    "load_balancer" (one series for both, e.g. HTTPCode_ELB_5XX_Count, which ALB
                    publishes per load balancer only): judged only against a baseline window
    max / min       absolute limits that fail fast (SLO)
    critical        a failure fails the step; inconclusive makes the step inconclusive
    weight          weight in the score
    min_requests    proportion: fewer trials on either side -> inconclusive
    min_samples     samples: fewer periods on either side -> inconclusive
"""

import math
import re

from ansible_collections.progressive.delivery.plugins.module_utils import arns
from ansible_collections.progressive.delivery.plugins.module_utils import canary_stats as stats
from ansible_collections.progressive.delivery.plugins.module_utils import times

PROPORTION = "proportion"
SAMPLES = "samples"
TAIL = "tail"
KINDS = (PROPORTION, TAIL, SAMPLES)
PRESETS = ("alb_ecs", "alb", "ecs", "none")
SCOPES = ("per_side", "load_balancer")
# Non-inferiority margin of the error rates by default: 0.25 percentage points (one request in 400). See
# docs/operator-guide.md "Tuning": at the seed's 1,250 req/min and 0.18 % 5xx, a margin of 0.1 point needs
# ~60,000 candidate requests to be shown, 0.25 point about 7,000 (the 10 % and 50 % steps together).
DEFAULT_ABS_MARGIN = 0.0025
SIDES = ("live", "candidate")
MAX_METRICS = 100  # 4 queries each stays under GetMetricData's 500

SPEC_DEFAULTS = {
    "stat": None,
    "denominator_metric_name": None,
    "denominator_namespace": None,
    "denominator_stat": "Sum",
    "dimensions": None,
    "live_dimensions": None,
    "candidate_dimensions": None,
    "direction": stats.HIGHER_IS_WORSE,
    "tolerance": 0.25,
    "abs_tolerance": None,
    "abs_margin": None,
    "quantile": 0.95,
    "scope": "per_side",
    "max": None,
    "min": None,
    "critical": True,
    "weight": 1.0,
    "min_requests": 50,
    "min_samples": 3,
}
SPEC_KEYS = set(SPEC_DEFAULTS) | {"name", "namespace", "metric_name", "kind"}

_STAT_RE = re.compile(r"^(SampleCount|Average|Sum|Minimum|Maximum|IQM|(p|tm|wm|tc|ts|pr)\d{1,2}(\.\d+)?"
                      r"|(TM|WM|TC|TS|PR)\([^)]*\))$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def _dimension(value, from_arn, prefix, what):
    if value.startswith("arn:"):
        dimension = from_arn(value)
        if dimension is None:
            raise ValueError("not a %s ARN: %s" % (what, value))
        return dimension
    if value.startswith(prefix) and value.count("/") == 2:
        return value
    return None


def alb_dimension(value):
    """The LoadBalancer dimension (app/<name>/<id>) from itself or an ALB ARN; None for a bare name."""
    return _dimension(value, arns.load_balancer_dimension, "app/", "load balancer")


def target_group_dimension(value):
    """The TargetGroup dimension (targetgroup/<name>/<id>) from itself or an ARN; None for a bare name."""
    return _dimension(value, arns.target_group_dimension, "targetgroup/", "target group")


# Cluster or service name from a name or an ARN (the last path segment).
ecs_name = arns.last_segment


def preset_specs(preset, load_balancer=None, live_target_group=None, candidate_target_group=None,
                 cluster=None, live_service=None, candidate_service=None):
    """The metric specs of a preset, given CloudWatch dimension values.

    alb      error_rate (target 5xx / requests per target group), latency_p95 (share of requests slower
             than 1.25 x live's p95, from percentile ranks), elb_error_rate (the load balancer's own 5xx /
             requests, judged against the pre-deployment baseline only: ALB publishes it per load balancer)
    ecs      cpu, memory (per service, period by period; not critical)
    alb_ecs  both (the default of the traffic-shift role)
    """
    if preset == "alb_ecs":
        return (preset_specs("alb", load_balancer, live_target_group, candidate_target_group)
                + preset_specs("ecs", cluster=cluster, live_service=live_service, candidate_service=candidate_service))
    if preset == "alb":
        common = {"LoadBalancer": load_balancer}
        live = {"TargetGroup": live_target_group}
        cand = {"TargetGroup": candidate_target_group}
        ns = "AWS/ApplicationELB"
        return [
            {"name": "error_rate", "kind": PROPORTION, "namespace": ns, "metric_name": "HTTPCode_Target_5XX_Count",
             "stat": "Sum", "denominator_metric_name": "RequestCount", "dimensions": common,
             "live_dimensions": live, "candidate_dimensions": cand, "critical": True, "tolerance": 0.25,
             "abs_margin": DEFAULT_ABS_MARGIN},
            {"name": "latency_p95", "kind": TAIL, "namespace": ns, "metric_name": "TargetResponseTime",
             "stat": "p95", "quantile": 0.95, "dimensions": common, "live_dimensions": live,
             "candidate_dimensions": cand, "critical": True, "tolerance": 0.25},
            {"name": "elb_error_rate", "kind": PROPORTION, "namespace": ns, "metric_name": "HTTPCode_ELB_5XX_Count",
             "stat": "Sum", "denominator_metric_name": "RequestCount", "dimensions": common,
             "scope": "load_balancer", "critical": True, "tolerance": 0.25, "abs_margin": DEFAULT_ABS_MARGIN},
        ]
    if preset == "ecs":
        common = {"ClusterName": cluster}
        live = {"ServiceName": live_service}
        cand = {"ServiceName": candidate_service}
        return [
            {"name": name, "kind": SAMPLES, "namespace": "AWS/ECS", "metric_name": metric, "stat": "Average",
             "dimensions": common, "live_dimensions": live, "candidate_dimensions": cand,
             "critical": False, "tolerance": 0.25}
            for name, metric in (("cpu", "CPUUtilization"), ("memory", "MemoryUtilization"))
        ]
    if preset in (None, "none"):
        return []
    raise ValueError("preset must be one of %s, got %r" % (", ".join(PRESETS), preset))


def normalize_specs(specs, overrides=None):
    """Apply defaults and overrides ({metric name: {field: value}}) and validate.

    Returns (specs, errors); errors name the metric and the field, and nothing may be
    queried when there are any.
    """
    errors = []
    out = []
    overrides = dict(overrides or {})
    names = set()
    for i, raw in enumerate(specs):
        spec = dict(SPEC_DEFAULTS)
        spec.update({k: v for k, v in raw.items() if v is not None})
        name = spec.get("name")
        label = "metrics[%d]" % i if not name else "metric %r" % name
        if name in overrides:
            over = overrides.pop(name)
            if not isinstance(over, dict):
                errors.append("metric_overrides.%s must be a dict of spec fields" % name)
            else:
                unknown = sorted(set(over) - SPEC_KEYS)
                if unknown:
                    errors.append("metric_overrides.%s: unknown field(s) %s; allowed: %s"
                                  % (name, ", ".join(unknown), ", ".join(sorted(SPEC_KEYS))))
                spec.update(over)
        errors.extend(_spec_errors(spec, label))
        if name in names:
            errors.append("%s: duplicate metric name" % label)
        names.add(name)
        if spec.get("stat") is None:
            spec["stat"] = {PROPORTION: "Sum", TAIL: "p%g" % (100 * float(spec.get("quantile") or 0.95))}.get(
                spec.get("kind"), "Average")
        if spec.get("denominator_namespace") is None:
            spec["denominator_namespace"] = spec.get("namespace")
        out.append(spec)
    for name in sorted(overrides):
        errors.append("metric_overrides names %r, which is not a metric here (metrics: %s)"
                      % (name, ", ".join(sorted(n for n in names if n)) or "none"))
    if not out:
        errors.append("no metrics to compare: choose a preset or give metrics")
    if len(out) > MAX_METRICS:
        errors.append("at most %d metrics per call, got %d" % (MAX_METRICS, len(out)))
    return out, errors


def _spec_errors(spec, label):
    errors = []
    for key in ("name", "namespace", "metric_name", "kind"):
        if not spec.get(key):
            errors.append("%s: %s is required" % (label, key))
    if spec.get("name") and not _NAME_RE.match(str(spec["name"])):
        errors.append("%s: name may hold letters, digits and _.:- (1-64 characters)" % label)
    if spec.get("kind") and spec["kind"] not in KINDS:
        errors.append("%s: kind must be one of %s, got %r" % (label, ", ".join(KINDS), spec["kind"]))
    if spec.get("kind") == PROPORTION and not spec.get("denominator_metric_name"):
        errors.append("%s: a proportion needs denominator_metric_name (the trials, e.g. RequestCount)" % label)
    for key in ("stat", "denominator_stat"):
        if spec.get(key) is not None and not _STAT_RE.match(str(spec[key])):
            errors.append("%s: %s %r is not a CloudWatch statistic (Sum, Average, SampleCount, Minimum, "
                          "Maximum, p95, tm90 ...)" % (label, key, spec[key]))
    if spec.get("direction") not in stats.DIRECTIONS:
        errors.append("%s: direction must be one of %s, got %r"
                      % (label, ", ".join(stats.DIRECTIONS), spec.get("direction")))
    if spec.get("scope") not in SCOPES:
        errors.append("%s: scope must be one of %s, got %r" % (label, ", ".join(SCOPES), spec.get("scope")))
    quantile = spec.get("quantile")
    if not _is_number(quantile) or not 0.5 <= quantile < 1:
        errors.append("%s: quantile must be a number within [0.5, 1), got %r" % (label, quantile))
    if spec.get("kind") == TAIL and spec.get("direction") != stats.HIGHER_IS_WORSE:
        errors.append("%s: a tail (latency) metric is worse when higher; direction must be higher_is_worse" % label)
    for key in ("tolerance", "abs_tolerance", "abs_margin", "weight"):
        value = spec.get(key)
        if value is not None and (not _is_number(value) or value < 0):
            errors.append("%s: %s must be a number >= 0, got %r" % (label, key, value))
    for key in ("max", "min"):
        if spec.get(key) is not None and not _is_number(spec[key]):
            errors.append("%s: %s must be a number, got %r" % (label, key, spec[key]))
    for key in ("min_requests", "min_samples"):
        value = spec.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            errors.append("%s: %s must be an integer >= 1, got %r" % (label, key, value))
    if not isinstance(spec.get("critical"), bool):
        errors.append("%s: critical must be true or false, got %r" % (label, spec.get("critical")))
    dims = {}
    for key in ("dimensions", "live_dimensions", "candidate_dimensions"):
        value = spec.get(key)
        if value is None:
            continue
        if not isinstance(value, dict) or not all(isinstance(v, str) and v for v in value.values()):
            errors.append("%s: %s must map dimension names to non-empty strings, got %r" % (label, key, value))
        else:
            dims[key] = value
    if not errors and spec.get("scope") == "per_side" and \
            side_dimensions(spec, "live") == side_dimensions(spec, "candidate"):
        errors.append("%s: live and candidate have the same dimensions %s; set live_dimensions and "
                      "candidate_dimensions" % (label, side_dimensions(spec, "live")))
    return errors


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def side_dimensions(spec, side):
    dims = dict(spec.get("dimensions") or {})
    dims.update(spec.get("%s_dimensions" % side) or {})
    return dims


def _pr_stat(threshold):
    return "PR(:%s)" % ("%.6g" % threshold)


def tail_bounds(spec, reference):
    """(T, U) of a tail metric: live's quantile T and the threshold U = T x (1 + tolerance), or
    T + abs_tolerance when that is wider."""
    upper = reference * (1.0 + spec["tolerance"])
    if spec.get("abs_tolerance"):
        upper = max(upper, reference + spec["abs_tolerance"])
    return float("%.6g" % reference), float("%.6g" % upper)


def build_queries(specs, period, thresholds=None, sides=SIDES):
    """GetMetricData queries for every spec and side, and an index Id -> (metric name, side, part).

    Parts: n the metric (events of a proportion, p95 of a tail, the value of samples), d the trials
    (a proportion's denominator, a tail's SampleCount), and for a tail with a reference in
    `thresholds` ({name: T}) t = PR(:T) and u = PR(:U). A load-balancer-scoped metric has one
    series, queried as the live side."""
    thresholds = thresholds or {}
    queries = []
    index = {}
    for i, spec in enumerate(specs):
        parts = [("n", spec["namespace"], spec["metric_name"], spec["stat"])]
        if spec["kind"] == PROPORTION:
            parts.append(("d", spec["denominator_namespace"], spec["denominator_metric_name"], spec["denominator_stat"]))
        if spec["kind"] == TAIL:
            parts.append(("d", spec["namespace"], spec["metric_name"], "SampleCount"))
            if spec["name"] in thresholds:
                low, high = tail_bounds(spec, thresholds[spec["name"]])
                parts.append(("t", spec["namespace"], spec["metric_name"], _pr_stat(low)))
                parts.append(("u", spec["namespace"], spec["metric_name"], _pr_stat(high)))
        for side in sides:
            if spec.get("scope") == "load_balancer" and side != "live":
                continue
            dims = [{"Name": k, "Value": v} for k, v in sorted(side_dimensions(spec, side).items())]
            for part, namespace, metric_name, stat in parts:
                query_id = "m%d_%s_%s" % (i, side[0], part)
                index[query_id] = (spec["name"], side, part)
                queries.append({
                    "Id": query_id,
                    "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": metric_name, "Dimensions": dims},
                                   "Period": period, "Stat": stat},
                    "ReturnData": True,
                })
    return queries, index


def tail_references(specs, data):
    """{tail metric name: live's quantile over the data}, the request-weighted mean of live's
    per-period quantiles (live carries most requests, so its per-period quantile is not thin)."""
    refs = {}
    for spec in specs:
        if spec["kind"] != TAIL:
            continue
        live = data.get(spec["name"], {}).get("live", {})
        values, counts = live.get("n", {}), live.get("d", {})
        pairs = [(values[k], counts.get(k, 0.0)) for k in values if counts.get(k, 0.0) > 0]
        total = math.fsum(c for dummy, c in pairs)
        if total > 0:
            refs[spec["name"]] = math.fsum(v * c for v, c in pairs) / total
    return refs


def collect(results, index):
    """GetMetricData MetricDataResults (any number of pages) -> {name: {side: {part: {timestamp: value}}}}."""
    data = {}
    for result in results:
        key = index.get(result.get("Id"))
        if key is None:
            continue
        name, side, part = key
        series = data.setdefault(name, {}).setdefault(side, {}).setdefault(part, {})
        for ts, value in zip(result.get("Timestamps", []), result.get("Values", [])):
            if value is not None and math.isfinite(value):
                series[_ts_key(ts)] = float(value)
    return data


def _ts_key(ts):
    return ts.isoformat() if hasattr(ts, "isoformat") else str(ts)


def evaluate(specs, data, look=1, looks=1, alpha=0.01, spent=None, spending="obrien_fleming", power=0.8,
             pass_score=95.0, marginal_score=75.0, pass_alpha=0.05, baseline=None, against_baseline=False,
             thresholds=None):
    """Verdicts of one look over the cumulative window.

    `alpha` is the false-fail budget over all looks and metrics: each metric gets alpha / len(specs)
    (Bonferroni), spent over the looks by `spending`; `spent` carries {metric name: attained size so
    far} from look to look (returned updated). `pass_alpha` is the confidence a pass needs (1 -
    pass_alpha), per metric. `baseline` is collect()-shaped data of live over a window before the
    deployment: load-balancer-scoped metrics are judged against it, and with `against_baseline`
    (the 100 % step and after, when live serves nothing) every metric's live side is.
    """
    spent = dict(spent or {})
    judged = [spec for spec in specs if spec.get("scope") != "load_balancer" or baseline is not None]
    metric_alpha = alpha / max(1, len(judged))
    rows = []
    for spec in judged:
        name = spec["name"]
        level = stats.look_level(look, looks, metric_alpha, spent.get(name, 0.0), spending)
        current = data.get(name, {})
        before = (baseline or {}).get(name, {})
        if spec.get("scope") == "load_balancer":
            live_side, cand_side = before.get("live", {}), current.get("live", {})
        elif against_baseline:
            live_side, cand_side = before.get("live", {}), current.get("candidate", {})
        else:
            live_side, cand_side = current.get("live", {}), current.get("candidate", {})
        paired = spec.get("scope") != "load_balancer" and not against_baseline
        common = {"tolerance": spec["tolerance"], "pass_level": pass_alpha}
        if spec["kind"] == PROPORTION:
            live_n, live_d = _sums(live_side)
            cand_n, cand_d = _sums(cand_side)
            live_periods, cand_periods = _period_counts(live_side), _period_counts(cand_side)
            ref_periods = _period_counts(before.get("live", {})) if baseline is not None else []
            if spec["direction"] == stats.LOWER_IS_WORSE:  # a success rate: its complement is the bad events
                live_n, cand_n = live_d - live_n, cand_d - cand_n
                live_periods = [(d - e, d) for e, d in live_periods]
                cand_periods = [(d - e, d) for e, d in cand_periods]
                ref_periods = [(d - e, d) for e, d in ref_periods]
            result = stats.judge_rate(
                int(round(live_n)), int(round(live_d)), int(round(cand_n)), int(round(cand_d)), level,
                abs_margin=spec.get("abs_margin") or 0.0, abs_tolerance=spec.get("abs_tolerance"), power=power,
                min_total=spec["min_requests"], maximum=_bad_rate_limit(spec),
                live_periods=live_periods, candidate_periods=cand_periods,
                reference_periods=ref_periods, **common)
            if spec["direction"] == stats.LOWER_IS_WORSE:
                result = _success_rate(result)
        elif spec["kind"] == TAIL:
            reference = (thresholds or {}).get(name)
            if reference is None:
                result = stats.judge_tail(0, 0, 0, 0, 0.0, level, quantile=spec["quantile"], **common)
                result.update(verdict=stats.NODATA, evidence="nothing - no data",
                              reason="no live %s to set the threshold from" % spec["stat"])
            else:
                low, high = tail_bounds(spec, reference)
                live_t, live_u, live_total = _slow_counts(live_side)
                cand_t, cand_u, cand_total = _slow_counts(cand_side)
                result = stats.judge_tail(int(round(live_u)), int(round(live_total)), int(round(cand_u)),
                                          int(round(cand_total)), high, level, quantile=spec["quantile"],
                                          min_total=spec["min_requests"], live_at_t=live_t, candidate_at_t=cand_t,
                                          reference=low, **common)
        else:
            live, cand = _aligned_values(live_side.get("n", {}), cand_side.get("n", {}), paired)
            result = stats.judge_paired(
                live, cand, level, direction=spec["direction"], power=power, min_samples=spec["min_samples"],
                abs_tolerance=spec.get("abs_tolerance"), paired=paired,
                maximum=spec.get("max") if spec["direction"] == stats.HIGHER_IS_WORSE else spec.get("min"), **common)
        spent[name] = spent.get(name, 0.0) + result.pop("size", 0.0)
        row = {"name": name, "kind": spec["kind"], "critical": spec["critical"], "weight": spec["weight"],
               "tolerance": spec["tolerance"], "direction": spec["direction"],
               "metric_name": spec["metric_name"], "stat": spec["stat"],
               "against": "baseline" if (against_baseline or spec.get("scope") == "load_balancer") else "live"}
        row.update(result)
        row["kind"] = spec["kind"]
        rows.append(row)
    score, decision, reason = stats.aggregate(rows, pass_score, marginal_score)
    return {"metrics": rows, "score": score, "decision": decision, "reason": reason, "spent": spent,
            "look": look, "looks": looks}


def _bad_rate_limit(spec):
    """The SLO of a proportion as a limit on its bad events' rate: max, or 1 - min for a success rate."""
    if spec["direction"] == stats.HIGHER_IS_WORSE:
        return spec.get("max")
    return None if spec.get("min") is None else 1.0 - spec["min"]


def _success_rate(result):
    """A lower-is-worse proportion judged on its complement (failures) is reported as the success rate."""
    for key in ("live", "candidate"):
        if result.get(key) is not None:
            result[key] = 1.0 - result[key]
    return result


def _period_counts(side):
    """[(events, trials)] per period with trials; a period without an events datapoint had none."""
    numerator, denominator = side.get("n", {}), side.get("d", {})
    return [(numerator.get(k, 0.0), v) for k, v in sorted(denominator.items()) if v > 0]


def _slow_counts(side):
    """Requests slower than T and than U, and all requests, summed over the periods that have both
    the percentile ranks and the sample count."""
    counts, at_t, at_u = side.get("d", {}), side.get("t", {}), side.get("u", {})
    slow_t = slow_u = total = 0.0
    for stamp, n in counts.items():
        if n <= 0 or stamp not in at_u:
            continue
        total += n
        slow_u += n * (100.0 - at_u[stamp]) / 100.0
        slow_t += n * (100.0 - at_t.get(stamp, at_u[stamp])) / 100.0
    return slow_t, slow_u, total


def _aligned_values(live, cand, paired):
    if not paired:
        return _values(live), _values(cand)
    stamps = sorted(set(live) & set(cand))
    return [live[k] for k in stamps], [cand[k] for k in stamps]


MAX_PERIOD_POINTS = 1440  # a day of minutes; older points are dropped first


def period_series(specs, data):
    """Per metric, every period's live and candidate value the look judged, oldest first.

    Returns [{name, kind, metric_name, stat, direction, points: [{time, live, candidate, ...}]}] where
    a tail's points are its per-period quantile (display only: the judgement counts requests) with the
    period's requests as live_trials / candidate_trials, and
    for a proportion a point's live / candidate is the period's events / trials (None without trials)
    and it also carries live_events, live_trials, candidate_events, candidate_trials (a period with
    trials and no events datapoint counted zero events, as `_sums` does); for samples it is the
    period's value (None when that side has none).
    """
    out = []
    for spec in specs:
        sides = data.get(spec["name"], {})
        live, cand = sides.get("live", {}), sides.get("candidate", {})
        points = []
        if spec["kind"] == PROPORTION:
            stamps = set()
            for side in (live, cand):
                stamps.update(side.get("n", {}))
                stamps.update(side.get("d", {}))
            for stamp in sorted(stamps):
                point = {"time": _iso_text(stamp)}
                for name, side in (("live", live), ("candidate", cand)):
                    events = side.get("n", {}).get(stamp)
                    trials = side.get("d", {}).get(stamp)
                    if events is None and trials is not None:
                        events = 0.0
                    point[name] = events / trials if events is not None and trials else None
                    point[name + "_events"] = events
                    point[name + "_trials"] = trials
                points.append(point)
        else:
            live_n, cand_n = live.get("n", {}), cand.get("n", {})
            for stamp in sorted(set(live_n) | set(cand_n)):
                point = {"time": _iso_text(stamp), "live": live_n.get(stamp), "candidate": cand_n.get(stamp)}
                if spec["kind"] == TAIL:  # the period's requests, which weigh its value in the judgement
                    point["live_trials"] = live.get("d", {}).get(stamp)
                    point["candidate_trials"] = cand.get("d", {}).get(stamp)
                points.append(point)
        out.append({"name": spec["name"], "kind": spec["kind"], "metric_name": spec["metric_name"],
                    "stat": spec["stat"], "direction": spec["direction"], "points": points[-MAX_PERIOD_POINTS:]})
    return out


def _iso_text(stamp):
    """collect()'s timestamp keys (isoformat, +00:00) as 2026-11-26T10:00:00Z."""
    text = str(stamp)
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _sums(side):
    numerator = side.get("n", {})
    denominator = side.get("d", {})
    # ALB publishes HTTPCode_Target_5XX_Count only for periods that had one: a period with
    # requests and no 5xx datapoint counted zero errors.
    return math.fsum(numerator.values()), math.fsum(denominator.values())


def _values(series):
    return [series[k] for k in sorted(series)]


def summarize(outcome, elapsed=None, early=False):
    """One line for humans: decision, when, and each metric's verdict with its reason."""
    head = "%s (%s)" % (outcome["decision"], outcome["reason"])
    if outcome.get("looks", 1) > 1:
        head += " at look %d/%d" % (outcome["look"], outcome["looks"])
    if elapsed is not None:
        head += " after %.0fs" % elapsed
    if early:
        head += ", early exit"
    if outcome.get("score") is not None:
        head += ", score %.0f" % outcome["score"]
    parts = ["%s %s: %s" % (row["name"], row["verdict"], row["reason"]) for row in outcome["metrics"]]
    return head + "; " + "; ".join(parts)


def parse_time(value, now):
    """Epoch seconds from an ISO 8601 time (with Z or an offset; naive means UTC), epoch seconds,
    or a time relative to `now` (epoch seconds) such as -15m, -900s, -1h (times.to_epoch); None for None."""
    if value is None:
        return None
    try:
        return times.to_epoch(value, now)
    except ValueError:
        raise ValueError("%r is not a time: use ISO 8601 (2026-11-26T10:00:00Z), epoch seconds, or -15m / -900s / -1h"
                         % (value,))


iso = times.iso


def align_window(start, end, period):
    """The window widened to whole periods (CloudWatch buckets by period from the epoch)."""
    start = math.floor(start / period) * period
    end = max(start + period, math.ceil(end / period) * period)
    return start, end


VALID_PERIODS = (1, 5, 10, 30)


def period_error(period):
    if period in VALID_PERIODS or (period >= 60 and period % 60 == 0):
        return None
    return "period must be 1, 5, 10, 30 or a multiple of 60 seconds (CloudWatch's rule), got %r" % (period,)
