#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: cw_compare
author: progressive.delivery maintainers (@progressive-delivery)
version_added: 0.1.0
short_description: Judge a canary - compare the candidate's CloudWatch metrics with live's
description:
  - Reads live and candidate metrics over the same window with CloudWatch C(GetMetricData) and decides
    C(pass), C(fail) or C(inconclusive), with a per-metric table saying why.
  - Every metric can say C(fail) (shown worse), C(pass) (shown no worse than a margin) or C(inconclusive)
    (neither yet), and says what its verdict rests on (RV(metrics[].evidence)).
  - Error rates are proportions (errors / requests summed over the window). C(fail) is an exact conditional
    binomial test of the candidate's errors given all errors, plus a change beyond the tolerance. C(pass) is
    non-inferiority - the candidate shown no worse than live by more than max(tolerance x live's rate,
    O(metrics[].abs_margin)), at confidence 1 - O(pass_alpha); an SLO O(metrics[].max) shown met counts too.
    Noisy (overdispersed) periods deflate the counts instead of turning into false failures.
  - Latency (kind C(tail), the C(latency_p95) of the presets) is judged from request counts, not from per-period
    percentiles, which read low on a thin candidate - the share of requests slower than (1 + tolerance) x live's
    p95, from CloudWatch's percentile rank C(PR(:x)) and C(SampleCount); a candidate whose p95 is above that
    threshold has more than 5 % of its requests slower than it.
  - Resource metrics (C(samples)) are compared period by period - live and candidate in the same period share its
    load - with a confidence interval on the mean log-ratio.
  - Against a baseline window (O(baseline_start), O(against_baseline)), live's data comes from before the
    deployment - for the 100 % step, when live serves nothing, and for C(elb_error_rate), which ALB publishes
    per load balancer only.
  - With O(watch_seconds) it looks just after each CloudWatch period becomes visible (its end + O(metric_delay)),
    judging whole periods only, and returns early on a failure. The false-fail budget O(alpha) is split over the
    metrics and spent over the looks - over the whole deployment when O(look_offset) and O(total_looks) number
    the looks of every step.
  - With O(step) and O(policy) it also decides what the deployment does next (RV(step_action)) with the collection's
    deployment policy, watching longer itself when the policy says hold.
  - Read-only; never reports changed.
options:
  preset:
    description:
      - C(alb) compares two target groups of one application load balancer (C(AWS/ApplicationELB)) with metrics
        C(error_rate) (C(HTTPCode_Target_5XX_Count) / C(RequestCount), Sum) and C(latency_p95)
        (share of requests slower than 1.25 x live's C(TargetResponseTime) p95), both critical, and
        C(elb_error_rate) (the load balancer's own C(HTTPCode_ELB_5XX_Count) / C(RequestCount)) judged against
        the baseline window only, as ALB publishes it per load balancer.
      - C(ecs) compares two ECS services (C(AWS/ECS)) with metrics C(cpu) (C(CPUUtilization)) and C(memory)
        (C(MemoryUtilization)), Average per period, not critical.
      - C(none) uses only O(metrics).
      - C(alb_ecs) is both (needs the options of both).
    type: str
    choices: [alb_ecs, alb, ecs, none]
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
          - C(tail) judges a latency quantile from request counts (percentile rank and sample count).
          - C(samples) takes every period's value as one sample, compared period by period.
        type: str
        choices: [proportion, tail, samples]
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
      abs_margin:
        description:
          - Proportion - non-inferiority margin in absolute terms (0.0025 is 0.25 percentage points). The metric passes
            when the candidate is shown no worse than live by more than the larger of this and tolerance x live's rate.
          - The presets' error rates use 0.0025.
        type: float
      quantile:
        description: Tail - the quantile judged.
        type: float
        default: 0.95
      scope:
        description:
          - C(per_side) - live and candidate have their own dimensions. C(load_balancer) - one series for both, judged
            against the baseline window only.
        type: str
        choices: [per_side, load_balancer]
        default: per_side
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
    description: End of a fixed window (with O(watch_seconds=0)); defaults to now.
    type: str
  baseline_start:
    description:
      - Start of live's pre-deployment window (same formats as O(start_time)). Load-balancer-scoped metrics are
        judged against it; with O(against_baseline) every metric is.
    type: str
  baseline_end:
    description: End of the baseline window; defaults to O(start_time).
    type: str
  against_baseline:
    description: Compare the candidate with live's baseline window instead of live now (the 100 % step and after).
    type: bool
    default: false
  baseline_data:
    description:
      - RV(baseline) as an earlier call returned it. When its window, period and metrics are this call's, the baseline
        is not read again (2 C(GetMetricData) calls saved per step after the first); otherwise it is ignored.
    type: dict
  metric_delay:
    description:
      - Seconds after a period ends before its datapoints are complete in CloudWatch (ALB - a minute or more). Looks
        judge only periods complete by then.
    type: int
    default: 0
  pass_alpha:
    description: A metric passes when shown within its margin at confidence 1 - O(pass_alpha).
    type: float
    default: 0.05
  spent:
    description: Per metric, the false-fail size already spent by earlier looks of the same deployment (RV(spent) of the previous step).
    type: dict
    default: {}
  look_offset:
    description: Looks the deployment took before this call (spending continues from there).
    type: int
    default: 0
  total_looks:
    description: Looks planned over the whole deployment; defaults to this call's own.
    type: int
  step:
    description:
      - The traffic step being judged - C(percent), C(index) (0-based) and C(count) (steps in the schedule). With
        O(policy) the module returns RV(step_action).
    type: dict
  policy:
    description:
      - The deployment policy - C(inconclusive) (C(extend), C(pause), C(proceed), C(rollback)), C(max_extensions),
        C(fallback) (C(rollback), C(proceed), C(pause)). See the collection's C(plugins/module_utils/deploy_policy.py).
    type: dict
  history:
    description: Earlier actions of this candidate (C(percent), C(action)), so holds are counted.
    type: list
    elements: dict
    default: []
  extension_seconds:
    description: Length of a longer watch when the policy holds; defaults to O(watch_seconds).
    type: int
  window_seconds:
    description: Length of a fixed window ending at O(end_time), when O(start_time) is not given.
    type: int
    default: 300
  watch_seconds:
    description:
      - Watch for this long, evaluating the window from O(start_time) after each period becomes visible, and
        return early when the decision is C(fail). 0 evaluates one fixed window (O(start_time) to O(end_time)).
    type: int
    default: 0
  look_interval:
    description: Ignored - looks follow the CloudWatch periods. Kept so older playbooks still run.
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
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  progressive.delivery.attributes]
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
      description: Why, with the counts.
      type: str
    evidence:
      description:
        - What the verdict rests on - C(harm detected), C(non-inferior), C(SLO met), C(SLO), C(no harm seen, not yet
          shown within the margin), C(too little traffic), C(nothing - no data).
      type: str
    against:
      description: C(live) (the same window) or C(baseline) (live's pre-deployment window).
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
step_action:
  description:
    - With O(step) and O(policy) - C(advance), C(ask) (an operator must say continue), or C(rollback). When the policy
      says hold, the module watches longer itself (RV(holds)) before it answers.
  returned: when O(step) and O(policy) are given
  type: str
  sample: advance
action_reason:
  description: Why that step action, with what each metric's verdict rests on.
  returned: when O(step) and O(policy) are given
  type: str
question:
  description: The question the step asked (C(no harm detected so far?), C(shown no worse than live?) ...).
  returned: when O(step) and O(policy) are given
  type: str
holds:
  description: Longer watches the policy made inside this call.
  returned: when O(step) and O(policy) are given
  type: int
spent:
  description: Per metric, the false-fail size spent so far over the deployment (pass it to the next step).
  returned: always
  type: dict
look:
  description: The deployment-wide number of the deciding look.
  returned: always
  type: int
thresholds:
  description: Per tail metric, live's quantile that the threshold was set from (seconds).
  returned: always
  type: dict
baseline:
  description:
    - Live's baseline window as read, once final (its last period delivered, O(metric_delay) after the window's end),
      for O(baseline_data) of the next call; C(null) without a baseline or before it is final.
    - Read when the first look needs it, and once more at a later look if the window became final meanwhile.
  returned: always
  type: dict
  contains:
    key:
      description: The window, period and a digest of the metrics' queries the data belongs to.
      type: str
    data:
      description: Live's datapoints per metric, period and part.
      type: dict
    thresholds:
      description: Per tail metric, live's quantile over the baseline.
      type: dict
mde:
  description: Minimum detectable effect ratio per metric name (see RV(metrics[].mde_ratio)).
  returned: always
  type: dict
  sample: {"error_rate": 9.1, "latency_p95": 1.2}
"""

import time

from ansible_collections.progressive.delivery.plugins.module_utils.modules import (
    BotoCoreError, ClientError, ProgressiveDeliveryModule, jittered_backoff)
from ansible_collections.progressive.delivery.plugins.module_utils import aws_reads as reads
from ansible_collections.progressive.delivery.plugins.module_utils import canary_judge as judge
from ansible_collections.progressive.delivery.plugins.module_utils import elbv2_lookup as lookup
from ansible_collections.progressive.delivery.plugins.module_utils import canary_watch as watcher
from ansible_collections.progressive.delivery.plugins.module_utils import deploy_policy

METRIC_OPTIONS = dict(
    name=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    metric_name=dict(type="str", required=True),
    kind=dict(type="str", required=True, choices=["proportion", "tail", "samples"]),
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
    abs_margin=dict(type="float"),
    quantile=dict(type="float", default=0.95),
    scope=dict(type="str", default="per_side", choices=["per_side", "load_balancer"]),
    max=dict(type="float"),
    min=dict(type="float"),
    critical=dict(type="bool", default=True),
    weight=dict(type="float", default=1.0),
    min_requests=dict(type="int", default=50),
    min_samples=dict(type="int", default=3),
)


def resolve_alb_dimensions(module, elbv2):
    params = module.params
    try:
        lb_dim = judge.alb_dimension(params["load_balancer"])
        if lb_dim is None:
            lb = lookup.find_load_balancer(module, elbv2, params["load_balancer"], msg=(
                "load balancer %r not found; load_balancer takes the app/<name>/<id> dimension, the ARN or the name of "
                "an application load balancer" % params["load_balancer"]))
            lb_dim = judge.alb_dimension(lb["LoadBalancerArn"])
        tg_dims = {}
        for key in ("live_target_group", "candidate_target_group"):
            dim = judge.target_group_dimension(params[key])
            if dim is None:
                tg = lookup.find_target_group(module, elbv2, params[key], msg=(
                    "%s %r not found; give the targetgroup/<name>/<id> dimension, the ARN or the name of a target group"
                    % (key, params[key])))
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
            # what to compare: a preset's metrics of the two target groups / services, and metrics of one's own
            preset=dict(type="str", default="none", choices=["alb_ecs", "alb", "ecs", "none"]),
            load_balancer=dict(type="str"),
            live_target_group=dict(type="str"), candidate_target_group=dict(type="str"),
            cluster=dict(type="str"), live_service=dict(type="str"), candidate_service=dict(type="str"),
            metrics=dict(type="list", elements="dict", default=[], options=METRIC_OPTIONS),
            metric_overrides=dict(type="dict", default={}),
            # when: the window, the watch and its looks, the baseline
            period=dict(type="int", default=60), start_time=dict(type="str"), end_time=dict(type="str"),
            window_seconds=dict(type="int", default=300), watch_seconds=dict(type="int", default=0),
            look_interval=dict(type="int"), metric_delay=dict(type="int", default=0),
            baseline_start=dict(type="str"), baseline_end=dict(type="str"), against_baseline=dict(type="bool", default=False),
            baseline_data=dict(type="dict"),
            # the statistics and the error spending across looks and steps
            alpha=dict(type="float", default=0.01), pass_alpha=dict(type="float", default=0.05, no_log=False),
            power=dict(type="float", default=0.8),
            spending=dict(type="str", default="obrien_fleming", choices=["obrien_fleming", "pocock", "bonferroni"]),
            spent=dict(type="dict", default={}), look_offset=dict(type="int", default=0), total_looks=dict(type="int"),
            # the deployment's step, policy and history (the policy decides the step's action)
            step=dict(type="dict"), policy=dict(type="dict"), history=dict(type="list", elements="dict", default=[]),
            extension_seconds=dict(type="int"),
            pass_score=dict(type="float", default=95.0, no_log=False), marginal_score=dict(type="float", default=75.0),
        ),
        required_if=[
            ("preset", "alb", ["load_balancer", "live_target_group", "candidate_target_group"]),
            ("preset", "ecs", ["cluster", "live_service", "candidate_service"]),
            ("preset", "alb_ecs", ["load_balancer", "live_target_group", "candidate_target_group",
                                   "cluster", "live_service", "candidate_service"]),
            ("against_baseline", True, ["baseline_start"]),
        ],
        required_together=[["step", "policy"]],
        supports_check_mode=True,
    )
    params = module.params
    started = time.monotonic()
    clock = watcher.SystemClock()
    now = clock.now()

    # Everything about the input is checked before the first API call.
    problems = []
    period_problem = judge.period_error(params["period"])
    if period_problem:
        problems.append(period_problem)
    for key in ("alpha", "pass_alpha"):
        if not 0 < params[key] < 0.5:
            problems.append("%s must be within (0, 0.5), got %r" % (key, params[key]))
    if not 0 < params["power"] < 1:
        problems.append("power must be within (0, 1), got %r" % params["power"])
    if params["watch_seconds"] < 0 or params["window_seconds"] <= 0:
        problems.append("watch_seconds must be >= 0 and window_seconds > 0")
    if params["watch_seconds"] and params["end_time"]:
        problems.append("end_time ends a fixed window (watch_seconds 0); a watch of %ds ends by itself"
                        % params["watch_seconds"])
    for key in ("metric_delay", "look_offset"):
        if params[key] < 0:
            problems.append("%s must be >= 0, got %r" % (key, params[key]))
    if params["total_looks"] is not None and params["total_looks"] < params["look_offset"] + 1:
        problems.append("total_looks (%r) must exceed look_offset (%r)" % (params["total_looks"], params["look_offset"]))
    if params["extension_seconds"] is not None and params["extension_seconds"] <= 0:
        problems.append("extension_seconds must be > 0, got %r" % params["extension_seconds"])
    if not 0 <= params["marginal_score"] <= params["pass_score"] <= 100:
        problems.append("scores must satisfy 0 <= marginal_score <= pass_score <= 100")
    policy = None
    if params["policy"] is not None:
        policy, errors = deploy_policy.validate_policy(params["policy"])
        problems.extend("policy: %s" % e for e in errors)
        step = dict(params["step"])
        try:
            step.update((k, int(str(step[k]))) for k in ("percent", "index", "count"))
            if not 0 <= step["index"] < step["count"] or not 1 <= step["percent"] <= 100:
                raise ValueError(step)
        except (KeyError, TypeError, ValueError):
            problems.append("step must hold whole numbers percent (1-100), index (0-based) and count, got %r"
                            % (params["step"],))
        params["step"] = step
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in params["spent"].values()):
        problems.append("spent must map metric names to numbers, got %r" % (params["spent"],))
    times = {}
    for key in ("start_time", "end_time", "baseline_start", "baseline_end"):
        try:
            times[key] = judge.parse_time(params[key], now)
        except ValueError as e:
            problems.append("%s: %s" % (key, e))
    if problems:
        module.fail_json(msg="; ".join(problems))

    preset = params["preset"]
    specs = []
    if preset in ("alb", "alb_ecs"):
        elbv2 = module.client("elbv2", retry_decorator=jittered_backoff())
        try:
            lb_dim, live_tg, cand_tg = resolve_alb_dimensions(module, elbv2)
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="Failed to resolve the load balancer %s and its target groups"
                                 % params["load_balancer"])
        specs += judge.preset_specs("alb", load_balancer=lb_dim, live_target_group=live_tg, candidate_target_group=cand_tg)
    if preset in ("ecs", "alb_ecs"):
        specs += judge.preset_specs("ecs", cluster=judge.ecs_name(params["cluster"]),
                                    live_service=judge.ecs_name(params["live_service"]),
                                    candidate_service=judge.ecs_name(params["candidate_service"]))
    specs, errors = judge.normalize_specs(specs + list(params["metrics"]), params["metric_overrides"])
    if errors:
        module.fail_json(msg="; ".join(errors))

    period = params["period"]
    cloudwatch = module.client("cloudwatch", retry_decorator=jittered_backoff())

    def fetch(queries, start, end):
        try:
            return reads.paginate(cloudwatch, "get_metric_data", "MetricDataResults", MetricDataQueries=queries,
                                  StartTime=start, EndTime=end, ScanBy="TimestampAscending")
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="Failed to get metric data for %s" % ", ".join(s["name"] for s in specs))

    watch = params["watch_seconds"]
    start = times["start_time"]
    if start is None:
        end = times["end_time"] if times["end_time"] is not None else now
        start = now if watch else end - params["window_seconds"]
    if not watch and start >= (times["end_time"] or now):
        module.fail_json(msg="start_time must be before end_time (window %s .. %s)"
                         % (judge.iso(start), judge.iso(times["end_time"] or now)))
    baseline = None
    if times["baseline_start"] is not None:
        base_end = times["baseline_end"] if times["baseline_end"] is not None else start
        if times["baseline_start"] >= base_end:
            module.fail_json(msg="baseline_start must be before baseline_end (or start_time)")
        window = judge.align_window(times["baseline_start"], base_end, period)
        baseline = watcher.Baseline(fetch, specs, period, window[0], window[1], params["metric_delay"], clock,
                                    known=params["baseline_data"])

    common = dict(period=period, delay=params["metric_delay"], alpha=params["alpha"], spending=params["spending"],
                  pass_alpha=params["pass_alpha"], power=params["power"], baseline=baseline,
                  against_baseline=params["against_baseline"],
                  pass_score=params["pass_score"], marginal_score=params["marginal_score"])
    offset = params["look_offset"]
    total = params["total_looks"]
    outcome = watcher.watch(specs, fetch, clock, start, watch, spent=params["spent"], look_offset=offset,
                            total_looks=total, end=times["end_time"], **common)
    looks_taken = outcome["watch_looks"]
    result = {}
    if policy is not None:
        history = list(params["history"])
        holds = 0
        # bounded: at most max_extensions (<= 10) longer watches, the policy counts them in `history`
        for _attempt in range(policy["max_extensions"] + 1):
            decision = deploy_policy.step_action(outcome, params["step"], policy, history)
            if decision["action"] != deploy_policy.HOLD:
                break
            holds += 1
            history.append({"percent": params["step"]["percent"], "action": deploy_policy.HOLD,
                            "reason": decision["reason"]})
            more = params["extension_seconds"] or watch or period
            # The longer watch judges the growing window from the same start, spending what is left of the budget.
            outcome = watcher.watch(specs, fetch, clock, start, more, spent=outcome["spent"],
                                    look_offset=offset + looks_taken, total_looks=total, **common)
            looks_taken += outcome["watch_looks"]
        else:
            decision = deploy_policy.step_action(outcome, params["step"], policy, history)
        result = dict(step_action=decision["action"], action_reason=decision["reason"], question=decision["question"],
                      position=decision["position"], holds=holds)

    elapsed = round(time.monotonic() - started, 3)
    module.exit_json(
        changed=False,
        decision=outcome["decision"],
        reason=outcome["reason"],
        score=outcome["score"],
        metrics=outcome["metrics"],
        mde=dict((row["name"], row["mde_ratio"]) for row in outcome["metrics"]),
        looks=looks_taken,
        look=outcome["look"],
        planned_looks=outcome["looks"],
        early_exit=outcome["early_exit"],
        decided_at=outcome["decided_at"],
        elapsed=elapsed,
        window=outcome["window"],
        alpha=params["alpha"],
        spending=params["spending"],
        spent=outcome["spent"],
        thresholds=outcome.get("thresholds", {}),
        periods=outcome["periods"],
        summary=judge.summarize(outcome, elapsed=elapsed, early=outcome["early_exit"]),
        baseline=baseline.final() if baseline is not None else None,
        **result
    )


if __name__ == "__main__":
    main()
