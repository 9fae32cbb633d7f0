#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: cw_compare
version_added: 0.1.0
short_description: Judge a canary - compare the candidate's CloudWatch metrics with live's
description:
  - Reads live and candidate metrics over the same window with CloudWatch C(GetMetricData) and decides
    C(pass), C(fail) or C(inconclusive), with a per-metric table saying why.
  - Error rates are proportions (errors / requests summed over the window) compared with an exact
    conditional binomial test of the candidate's errors given all errors. Latency and resource metrics are
    per-period samples compared with a one-sided Mann-Whitney test, a Hodges-Lehmann shift with its
    confidence interval, and a relative tolerance band. Absolute limits (SLOs) fail fast.
  - Every metric reports its minimum detectable effect (MDE) at the level used; when that is wider than the
    metric's tolerance the metric is C(inconclusive), never C(pass). What to do then (extend the watch, ask
    for approval, proceed) is the caller's policy.
  - With O(watch_seconds) it evaluates every O(look_interval) over the growing window and returns early on a
    decisive failure. The false-fail budget O(alpha) is split over the metrics and spent over the looks
    (O'Brien-Fleming-type alpha spending by default), so looking often does not add false failures.
  - Read-only; never reports changed.
author:
  - progressive.delivery maintainers (@progressive-delivery)
options:
  preset:
    description:
      - C(alb) compares two target groups of one application load balancer (C(AWS/ApplicationELB)) with metrics
        C(error_rate) (C(HTTPCode_Target_5XX_Count) / C(RequestCount), Sum) and C(latency_p95)
        (C(TargetResponseTime) p95 per period), both critical.
      - C(ecs) compares two ECS services (C(AWS/ECS)) with metrics C(cpu) (C(CPUUtilization)) and C(memory)
        (C(MemoryUtilization)), Average per period, not critical.
      - C(none) uses only O(metrics).
    type: str
    choices: [alb, ecs, none]
    default: none
  load_balancer:
    description:
      - The application load balancer for O(preset=alb) - its C(LoadBalancer) dimension (C(app/<name>/<id>)),
        ARN, or name (looked up).
    type: str
  live_target_group:
    description: Live target group for O(preset=alb) - C(targetgroup/<name>/<id>), ARN, or name (looked up).
    type: str
  candidate_target_group:
    description: Candidate target group for O(preset=alb) - C(targetgroup/<name>/<id>), ARN, or name (looked up).
    type: str
  cluster:
    description: ECS cluster name or ARN for O(preset=ecs).
    type: str
  live_service:
    description: Live ECS service name or ARN for O(preset=ecs).
    type: str
  candidate_service:
    description: Candidate ECS service name or ARN for O(preset=ecs).
    type: str
  metrics:
    description: Further metrics to compare (beside the preset's).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Unique name of the metric in the result table.
        type: str
        required: true
      namespace:
        description: CloudWatch namespace.
        type: str
        required: true
      metric_name:
        description: CloudWatch metric name; for a proportion, the events (errors).
        type: str
        required: true
      kind:
        description:
          - C(proportion) sums O(metrics[].metric_name) and O(metrics[].denominator_metric_name) over the window
            and compares events / trials.
          - C(samples) takes every period's value as one sample.
        type: str
        choices: [proportion, samples]
        required: true
      stat:
        description: CloudWatch statistic (C(Sum), C(Average), C(p95) ...). Defaults to C(Sum) for proportions, C(Average) for samples.
        type: str
      denominator_metric_name:
        description: The trials of a proportion (for example C(RequestCount)).
        type: str
      denominator_namespace:
        description: Namespace of the denominator; defaults to O(metrics[].namespace).
        type: str
      denominator_stat:
        description: Statistic of the denominator.
        type: str
        default: Sum
      dimensions:
        description: Dimensions both sides share, as name to value.
        type: dict
      live_dimensions:
        description: Dimensions of the live side, merged over O(metrics[].dimensions).
        type: dict
      candidate_dimensions:
        description: Dimensions of the candidate side, merged over O(metrics[].dimensions).
        type: dict
      direction:
        description: Which way is worse.
        type: str
        choices: [higher_is_worse, lower_is_worse]
        default: higher_is_worse
      tolerance:
        description:
          - Relative band, 0.25 meaning 25 %. A candidate worse by more than this (and significantly) fails;
            a metric that could not have detected a change of this size is inconclusive.
        type: float
        default: 0.25
      abs_tolerance:
        description: Optional band in the metric's units; a worsening within it never fails, and detecting it is enough to pass.
        type: float
      max:
        description: Absolute upper limit of the candidate (fails fast) - a proportion's rate, or a samples metric's median.
        type: float
      min:
        description: Absolute lower limit of the candidate (fails fast).
        type: float
      critical:
        description: A critical metric that fails fails the step; one without a conclusion makes the step inconclusive.
        type: bool
        default: true
      weight:
        description: Weight of the metric in the score.
        type: float
        default: 1.0
      min_requests:
        description: Proportion - fewer trials than this on either side makes the metric inconclusive.
        type: int
        default: 50
      min_samples:
        description: Samples - fewer periods with data than this on either side makes the metric inconclusive.
        type: int
        default: 3
  metric_overrides:
    description:
      - Per metric name, fields of O(metrics) to override on a preset's metrics (or on O(metrics)).
      - 'For example C({"error_rate": {"tolerance": 0.5, "max": 0.01}, "latency_p95": {"max": 0.8}}).'
    type: dict
    default: {}
  period:
    description: CloudWatch period in seconds (1, 5, 10, 30 or a multiple of 60); one sample per period.
    type: int
    default: 60
  start_time:
    description:
      - Start of the window - ISO 8601 (C(2026-11-26T10:00:00Z)), epoch seconds, or relative (C(-15m)).
      - Defaults to O(end_time) minus O(window_seconds), or in watch mode to the time the module starts.
    type: str
  end_time:
    description: End of a fixed window (not in watch mode); defaults to now.
    type: str
  window_seconds:
    description: Length of a fixed window ending at O(end_time), when O(start_time) is not given.
    type: int
    default: 300
  watch_seconds:
    description:
      - Watch for this long, evaluating every O(look_interval) over the window from O(start_time) to now, and
        return early when the decision is C(fail). 0 evaluates one fixed window.
    type: int
    default: 0
  look_interval:
    description: Seconds between looks in watch mode; defaults to O(period).
    type: int
  alpha:
    description:
      - The step's false-fail budget (probability that an identical candidate fails), split evenly over the
        metrics and spent over the looks.
    type: float
    default: 0.01
  power:
    description: Detection probability at which the minimum detectable effect is stated.
    type: float
    default: 0.8
  spending:
    description:
      - How the budget is spent over the looks. C(obrien_fleming) keeps most for the last look (early exits
        only on large regressions, nearly full power at the end); C(pocock) spends more evenly;
        C(bonferroni) splits it evenly.
    type: str
    choices: [obrien_fleming, pocock, bonferroni]
    default: obrien_fleming
  pass_score:
    description: The step passes when the score (weighted share of passing metrics among decided ones) reaches this.
    type: float
    default: 95.0
  marginal_score:
    description: The step fails when the score is below this; between the two it is inconclusive.
    type: float
    default: 75.0
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
notes:
  - The statistics are documented in the collection's C(plugins/module_utils/canary_stats.py).
  - ALB metrics reach CloudWatch a minute or more after the requests; the last look sees what has arrived.
"""

EXAMPLES = r"""
- name: Compare the candidate target group with live over the last 5 minutes
  progressive.delivery.cw_compare:
    preset: alb
    load_balancer: myapp-alb
    live_target_group: myapp-a
    candidate_target_group: myapp-b
    window_seconds: 300
    metric_overrides:
      latency_p95:
        max: 0.8   # seconds: an SLO breach fails at once
  register: verdict

- name: Bake 10 minutes at this step, deciding every minute, leaving at once on a failure
  progressive.delivery.cw_compare:
    preset: alb
    load_balancer: "{{ slots.load_balancer_dimension }}"
    live_target_group: "{{ slots.live.target_group_arn }}"
    candidate_target_group: "{{ slots.candidate.target_group_arn }}"
    watch_seconds: 600
    period: 60
  register: verdict

- name: Roll back on fail, hold on inconclusive
  ansible.builtin.fail:
    msg: "{{ verdict.summary }}"
  when: verdict.decision == 'fail'

- name: ECS services plus a custom business metric
  progressive.delivery.cw_compare:
    preset: ecs
    cluster: prod
    live_service: myapp-a
    candidate_service: myapp-b
    metrics:
      - name: checkout_success
        namespace: MyApp
        metric_name: CheckoutSucceeded
        denominator_metric_name: CheckoutStarted
        kind: proportion
        direction: lower_is_worse
        tolerance: 0.02
        live_dimensions: {Slot: a}
        candidate_dimensions: {Slot: b}
    window_seconds: 900
"""

RETURN = r"""
decision:
  description: C(pass), C(fail) or C(inconclusive).
  returned: always
  type: str
  sample: fail
reason:
  description: Why the step has that decision.
  returned: always
  type: str
  sample: "critical metric failed: error_rate"
score:
  description: Weighted share (0-100) of passing metrics among those that passed or failed; null when none did.
  returned: always
  type: float
  sample: 50.0
summary:
  description: One line for humans and notifications - decision, look, and every metric's verdict and reason.
  returned: always
  type: str
metrics:
  description: Per-metric table of the deciding look.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Metric name.
      type: str
    kind:
      description: C(proportion) or C(samples).
      type: str
    verdict:
      description: C(pass), C(fail), C(inconclusive) or C(nodata).
      type: str
    reason:
      description: Why.
      type: str
    live:
      description: Live value - the proportion, or the median of the per-period samples.
      type: float
    candidate:
      description: Candidate value, as RV(metrics[].live).
      type: float
    relative_change:
      description: Candidate against live, relative (0.5 is +50 %); the Hodges-Lehmann shift over the live median for samples.
      type: float
    p_value:
      description: One-sided p-value of "the candidate is worse".
      type: float
    level:
      description: Significance level this look tested at (after splitting and spending O(alpha)).
      type: float
    mde_ratio:
      description:
        - Minimum detectable effect as a ratio to live (9.0 - only a 9-fold worsening would have been detected with
          probability O(power)); null when no effect could have been detected or after a failure.
      type: float
    tolerance:
      description: The metric's relative tolerance.
      type: float
    critical:
      description: Whether the metric is critical.
      type: bool
    live_count:
      description: Requests (proportion) or samples (samples) on the live side.
      type: int
    candidate_count:
      description: Requests or samples on the candidate side.
      type: int
    shift_ci:
      description: Samples only - confidence interval of the Hodges-Lehmann shift (null bounds when too few samples).
      type: list
      elements: float
looks:
  description: Number of evaluations made.
  returned: always
  type: int
  sample: 2
planned_looks:
  description: Number of evaluations the watch planned (1 for a fixed window).
  returned: always
  type: int
  sample: 10
alpha:
  description: The false-fail budget the watch was given (split over the metrics, spent over the looks).
  returned: always
  type: float
  sample: 0.005
spending:
  description: How that budget was spent over the looks.
  returned: always
  type: str
  sample: obrien_fleming
early_exit:
  description: Whether the watch ended before its last look because of a failure.
  returned: always
  type: bool
decided_at:
  description: UTC time of the deciding look.
  returned: always
  type: str
  sample: "2026-11-26T10:05:00Z"
elapsed:
  description: Seconds the module spent, including the watch.
  returned: always
  type: float
window:
  description: The window evaluated at the deciding look (aligned to whole periods).
  returned: always
  type: dict
  contains:
    start:
      description: UTC start.
      type: str
    end:
      description: UTC end.
      type: str
periods:
  description:
    - Per metric, the live and candidate value of every period in the deciding look's window, oldest first - the data the
      verdicts were made from, for charts and reports.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Metric name, as in RV(metrics[].name).
      type: str
    kind:
      description: C(proportion) or C(samples).
      type: str
    metric_name:
      description: CloudWatch metric name (the events of a proportion).
      type: str
    stat:
      description: CloudWatch statistic.
      type: str
    direction:
      description: Which way is worse.
      type: str
    points:
      description:
        - One per period with data on either side. C(time) (UTC start of the period), C(live) and C(candidate) -
          the period's events / trials for a proportion (null without trials), the period's value for samples
          (null when that side has none).
        - Proportions also carry C(live_events), C(live_trials), C(candidate_events) and C(candidate_trials); a period
          with trials and no events datapoint counts zero events.
      type: list
      elements: dict
  sample: [{"name": "error_rate", "kind": "proportion", "metric_name": "HTTPCode_Target_5XX_Count", "stat": "Sum",
            "direction": "higher_is_worse", "points": [{"time": "2026-11-26T10:00:00Z", "live": 0.002, "candidate": 0.0,
            "live_events": 2.0, "live_trials": 1000.0, "candidate_events": 0.0, "candidate_trials": 110.0}]}]
mde:
  description: Minimum detectable effect ratio per metric name (see RV(metrics[].mde_ratio)).
  returned: always
  type: dict
  sample: {"error_rate": 9.1, "latency_p95": 1.2}
"""

import math
import time

try:
    import botocore
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.progressive.delivery.plugins.module_utils.modules import ProgressiveDeliveryModule, jittered_backoff
from ansible_collections.progressive.delivery.plugins.module_utils import canary_judge as judge

METRIC_OPTIONS = dict(
    name=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    metric_name=dict(type="str", required=True),
    kind=dict(type="str", required=True, choices=["proportion", "samples"]),
    stat=dict(type="str"),
    denominator_metric_name=dict(type="str"),
    denominator_namespace=dict(type="str"),
    denominator_stat=dict(type="str", default="Sum"),
    dimensions=dict(type="dict"),
    live_dimensions=dict(type="dict"),
    candidate_dimensions=dict(type="dict"),
    direction=dict(type="str", default="higher_is_worse", choices=["higher_is_worse", "lower_is_worse"]),
    tolerance=dict(type="float", default=0.25),
    abs_tolerance=dict(type="float"),
    max=dict(type="float"),
    min=dict(type="float"),
    critical=dict(type="bool", default=True),
    weight=dict(type="float", default=1.0),
    min_requests=dict(type="int", default=50),
    min_samples=dict(type="int", default=3),
)


@jittered_backoff()
def get_metric_data(client, **kwargs):
    paginator = client.get_paginator("get_metric_data")
    results = []
    for page in paginator.paginate(**kwargs):
        results.extend(page.get("MetricDataResults", []))
    return results


def resolve_alb_dimensions(module, elbv2):
    params = module.params
    try:
        lb_dim = judge.alb_dimension(params["load_balancer"])
        if lb_dim is None:
            try:
                lb = elbv2.describe_load_balancers(aws_retry=True, Names=[params["load_balancer"]])["LoadBalancers"][0]
            except is_boto3_error_code("LoadBalancerNotFound"):
                module.fail_json(msg="load balancer %r not found; load_balancer takes the app/<name>/<id> dimension, "
                                     "the ARN or the name of an application load balancer" % params["load_balancer"])
            lb_dim = judge.alb_dimension(lb["LoadBalancerArn"])
        tg_dims = {}
        for key in ("live_target_group", "candidate_target_group"):
            dim = judge.target_group_dimension(params[key])
            if dim is None:
                try:
                    tg = elbv2.describe_target_groups(aws_retry=True, Names=[params[key]])["TargetGroups"][0]
                except is_boto3_error_code("TargetGroupNotFound"):
                    module.fail_json(msg="%s %r not found; give the targetgroup/<name>/<id> dimension, the ARN or the "
                                         "name of a target group" % (key, params[key]))
                dim = judge.target_group_dimension(tg["TargetGroupArn"])
            tg_dims[key] = dim
    except ValueError as e:
        module.fail_json(msg=str(e))
    if tg_dims["live_target_group"] == tg_dims["candidate_target_group"]:
        module.fail_json(msg="live_target_group and candidate_target_group are the same target group (%s)"
                         % tg_dims["live_target_group"])
    return lb_dim, tg_dims["live_target_group"], tg_dims["candidate_target_group"]


def main():
    module = ProgressiveDeliveryModule(
        argument_spec=dict(
            preset=dict(type="str", default="none", choices=["alb", "ecs", "none"]),
            load_balancer=dict(type="str"),
            live_target_group=dict(type="str"),
            candidate_target_group=dict(type="str"),
            cluster=dict(type="str"),
            live_service=dict(type="str"),
            candidate_service=dict(type="str"),
            metrics=dict(type="list", elements="dict", default=[], options=METRIC_OPTIONS),
            metric_overrides=dict(type="dict", default={}),
            period=dict(type="int", default=60),
            start_time=dict(type="str"),
            end_time=dict(type="str"),
            window_seconds=dict(type="int", default=300),
            watch_seconds=dict(type="int", default=0),
            look_interval=dict(type="int"),
            alpha=dict(type="float", default=0.01),
            power=dict(type="float", default=0.8),
            spending=dict(type="str", default="obrien_fleming", choices=["obrien_fleming", "pocock", "bonferroni"]),
            pass_score=dict(type="float", default=95.0, no_log=False),
            marginal_score=dict(type="float", default=75.0),
        ),
        required_if=[
            ("preset", "alb", ["load_balancer", "live_target_group", "candidate_target_group"]),
            ("preset", "ecs", ["cluster", "live_service", "candidate_service"]),
        ],
        mutually_exclusive=[["watch_seconds", "end_time"]],
        supports_check_mode=True,
    )
    params = module.params
    started = time.monotonic()
    now = time.time()

    # Everything about the input is checked before the first API call.
    problems = []
    period_problem = judge.period_error(params["period"])
    if period_problem:
        problems.append(period_problem)
    if not 0 < params["alpha"] < 0.5:
        problems.append("alpha must be within (0, 0.5), got %r" % params["alpha"])
    if not 0 < params["power"] < 1:
        problems.append("power must be within (0, 1), got %r" % params["power"])
    if params["watch_seconds"] < 0 or params["window_seconds"] <= 0:
        problems.append("watch_seconds must be >= 0 and window_seconds > 0")
    if params["look_interval"] is not None and params["look_interval"] <= 0:
        problems.append("look_interval must be > 0, got %r" % params["look_interval"])
    if not 0 <= params["marginal_score"] <= params["pass_score"] <= 100:
        problems.append("scores must satisfy 0 <= marginal_score <= pass_score <= 100")
    times = {}
    for key in ("start_time", "end_time"):
        try:
            times[key] = judge.parse_time(params[key], now)
        except ValueError as e:
            problems.append("%s: %s" % (key, e))
    if problems:
        module.fail_json(msg="; ".join(problems))

    preset = params["preset"]
    if preset == "alb":
        elbv2 = module.client("elbv2", retry_decorator=jittered_backoff())
        try:
            lb_dim, live_tg, cand_tg = resolve_alb_dimensions(module, elbv2)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            module.fail_json_aws(e, msg="Failed to resolve the load balancer %s and its target groups"
                                 % params["load_balancer"])
        specs = judge.preset_specs("alb", load_balancer=lb_dim, live_target_group=live_tg, candidate_target_group=cand_tg)
    elif preset == "ecs":
        specs = judge.preset_specs("ecs", cluster=judge.ecs_name(params["cluster"]),
                                   live_service=judge.ecs_name(params["live_service"]),
                                   candidate_service=judge.ecs_name(params["candidate_service"]))
    else:
        specs = []
    specs, errors = judge.normalize_specs(specs + list(params["metrics"]), params["metric_overrides"])
    if errors:
        module.fail_json(msg="; ".join(errors))

    period = params["period"]
    queries, index = judge.build_queries(specs, period)
    cloudwatch = module.client("cloudwatch", retry_decorator=jittered_backoff())

    def look_at(start, end, look, looks, spent):
        start, end = judge.align_window(start, end, period)
        try:
            results = get_metric_data(cloudwatch, MetricDataQueries=queries, StartTime=start, EndTime=end,
                                      ScanBy="TimestampAscending")
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            module.fail_json_aws(e, msg="Failed to get metric data for %s" % ", ".join(s["name"] for s in specs))
        data = judge.collect(results, index)
        outcome = judge.evaluate(specs, data, look=look, looks=looks, alpha=params["alpha"],
                                 spent=spent, spending=params["spending"], power=params["power"],
                                 pass_score=params["pass_score"], marginal_score=params["marginal_score"])
        outcome["periods"] = judge.period_series(specs, data)
        outcome["window"] = {"start": judge.iso(start), "end": judge.iso(end)}
        outcome["decided_at"] = judge.iso(time.time())
        return outcome

    watch = params["watch_seconds"]
    early = False
    if watch:
        interval = params["look_interval"] or period
        looks = max(1, int(math.ceil(float(watch) / interval)))
        start = times["start_time"] if times["start_time"] is not None else now
        spent = {}
        outcome = None
        for look in range(1, looks + 1):  # bounded: `looks` iterations, sleeping at most watch_seconds in all
            due = started + min(look * interval, watch)
            time.sleep(max(0.0, due - time.monotonic()))
            outcome = look_at(start, time.time(), look, looks, spent)
            spent = outcome["spent"]
            if outcome["decision"] == "fail":
                early = look < looks
                break
    else:
        end = times["end_time"] if times["end_time"] is not None else now
        start = times["start_time"] if times["start_time"] is not None else end - params["window_seconds"]
        if start >= end:
            module.fail_json(msg="start_time must be before end_time (window %s .. %s)" % (judge.iso(start), judge.iso(end)))
        looks = 1
        outcome = look_at(start, end, 1, 1, {})

    elapsed = round(time.monotonic() - started, 3)
    module.exit_json(
        changed=False,
        decision=outcome["decision"],
        reason=outcome["reason"],
        score=outcome["score"],
        metrics=outcome["metrics"],
        mde=dict((row["name"], row["mde_ratio"]) for row in outcome["metrics"]),
        looks=outcome["look"],
        planned_looks=looks,
        early_exit=early,
        decided_at=outcome["decided_at"],
        elapsed=elapsed,
        window=outcome["window"],
        alpha=params["alpha"],
        spending=params["spending"],
        periods=outcome["periods"],
        summary=judge.summarize(outcome, elapsed=elapsed, early=early),
    )


if __name__ == "__main__":
    main()
