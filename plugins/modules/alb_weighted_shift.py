#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: alb_weighted_shift
author: progressive.delivery maintainers (@progressive-delivery)
version_added: 0.1.0
short_description: Set the weights of an ALB listener's or rule's forward action, and read them back
description:
  - Sets the target group weights of the forward action of one application load balancer listener (its default
    actions) or of one of its rules. Nothing else changes - every other action (for example an authenticate
    action before the forward) and every condition is kept, in its order; only the forward action's
    C(ForwardConfig) is replaced.
  - After the change it reads the listener or rule back until the API shows the weights (bounded by
    O(wait_timeout)) and returns the forward config before and after - RV(previous) is the rollback artifact,
    which can be fed back as O(weights) and O(stickiness_duration).
  - A forward action without C(ForwardConfig) (a plain C(TargetGroupArn)) counts as 100 % to that target group.
  - Idempotent - weights that already route traffic the same way (compared as shares, so 90/10 equals 9/1 and a
    target group at 0 equals one left out) and the same stickiness make no call and report no change (with
    O(exact), only the same target groups with the same weights do).
  - The forward action gets exactly the target groups given; others are removed from it.
options:
  listener_arn:
    description: ARN of the listener. Either this, O(load_balancer) with O(port), or O(rule_arn).
    type: str
  load_balancer:
    description: Name or ARN of the application load balancer; with O(port) it names the listener.
    type: str
  port:
    description: Port of the listener on O(load_balancer).
    type: int
  rule_arn:
    description: ARN of a listener rule to change instead of the listener's default actions.
    type: str
  priority:
    description: Priority of the listener rule to change (on the listener given by O(listener_arn) or O(load_balancer) and O(port)).
    type: int
  weights:
    description:
      - Target group (name or ARN) to weight, 1-5 target groups, integer weights 0-999, at least one above 0.
      - Mutually exclusive with O(live_target_group), O(candidate_target_group) and O(candidate_percent).
    type: dict
  live_target_group:
    description: The live target group (name or ARN); it gets 100 - O(candidate_percent).
    type: str
  candidate_target_group:
    description: The candidate target group (name or ARN); it gets O(candidate_percent).
    type: str
  candidate_percent:
    description: Share of traffic for O(candidate_target_group), 0-100.
    type: int
  stickiness_duration:
    description:
      - Target group stickiness of the forward action, in seconds (1-604800). C(0) or absent disables it.
    type: int
    default: 0
  min_healthy_targets:
    description:
      - Refuse (before changing anything) when a target group whose share of traffic the change raises has fewer
        healthy targets than this (C(describe_target_health), one call per such group). A group losing traffic or
        keeping its share is not read, since the change leaves it no worse off. C(0) does not look.
    type: int
    default: 0
  wait_timeout:
    description: Seconds to wait, reading back every second, until the API shows the new weights.
    type: int
    default: 30
  exact:
    description:
      - Write unless the forward action already lists exactly these target groups with these weights and the same
        stickiness - not only when the traffic would route differently. Turns a plain forward into a weighted one of
        the same traffic (a target group at weight 0 is then in use by the load balancer), or drops a target group
        at weight 0 from it.
    type: bool
    default: false
attributes:
  check_mode:
    description: Reports what it would change and the would-be forward config; changes nothing.
  diff_mode:
    support: full
    description: Weights by target group name and the stickiness, before and after.
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  progressive.delivery.attributes]
notes:
  - Permissions - C(elasticloadbalancing:DescribeLoadBalancers), C(DescribeListeners), C(DescribeRules),
    C(DescribeTargetGroups), C(DescribeTargetHealth) (with O(min_healthy_targets)), C(ModifyListener) or C(ModifyRule).
  - Lookups - a listener given by O(listener_arn) and a target group given by its ARN are not looked up (no
    C(DescribeLoadBalancers), no C(DescribeTargetGroups)); only names are. An ARN that does not exist is refused by
    C(ModifyListener) (C(TargetGroupNotFound)) and nothing changes; check mode does not notice it.
"""

EXAMPLES = r"""
- name: Send 10 % of production traffic to the candidate slot, if it has two healthy targets
  progressive.delivery.alb_weighted_shift:
    load_balancer: myapp-alb
    port: 443
    live_target_group: myapp-a
    candidate_target_group: myapp-b
    candidate_percent: 10
    min_healthy_targets: 2
  register: shift

- name: Put the weights back as they were before
  progressive.delivery.alb_weighted_shift:
    listener_arn: "{{ shift.listener_arn }}"
    weights: "{{ shift.previous.weights }}"
    stickiness_duration: "{{ shift.previous.stickiness_duration }}"

- name: Weights on the rule with priority 10, with one hour of group stickiness
  progressive.delivery.alb_weighted_shift:
    listener_arn: "{{ listener_arn }}"
    priority: 10
    weights:
      myapp-a: 80
      myapp-b: 20
    stickiness_duration: 3600
"""

RETURN = r"""
applied_at:
  description: When the weights were seen in effect (read back after the change, or found already so), epoch seconds;
    a traffic step's evidence starts here.
  returned: success
  type: int
  sample: 1764669600
listener_arn:
  description: ARN of the listener (the rule's listener when a rule was changed).
  returned: always
  type: str
rule_arn:
  description: ARN of the rule changed.
  returned: when a rule was targeted
  type: str
previous:
  description: The forward config before - the rollback artifact.
  returned: always
  type: dict
  contains:
    target_groups:
      description: Target groups in order, with ARN, name and weight.
      type: list
      elements: dict
    weights:
      description: Weight per target group ARN (feed back as O(weights)).
      type: dict
    stickiness_duration:
      description: Group stickiness in seconds, 0 when disabled.
      type: int
  sample:
    target_groups:
      - {target_group_arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/myapp-a/0123456789abcdef",
         target_group_name: myapp-a, weight: 100}
    weights: {"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/myapp-a/0123456789abcdef": 100}
    stickiness_duration: 0
current:
  description: The forward config now (in check mode, the one it would set), as RV(previous).
  returned: always
  type: dict
weights:
  description: Weight per target group name, now (in check mode, as it would be).
  returned: always
  type: dict
  sample: {"myapp-a": 90, "myapp-b": 10}
percentages:
  description: Share of traffic per target group name, in percent.
  returned: always
  type: dict
  sample: {"myapp-a": 90.0, "myapp-b": 10.0}
live_target_group:
  description: The target group with the highest weight now.
  returned: always
  type: dict
  contains:
    arn:
      description: Its ARN.
      type: str
    name:
      description: Its name.
      type: str
    weight:
      description: Its weight.
      type: int
waited:
  description: Seconds spent reading back until the API showed the weights.
  returned: when changed and not in check mode
  type: float
healthy_targets:
  description: Healthy target count per target group name whose share of traffic the change raises (empty when none
    does), when O(min_healthy_targets) was checked.
  returned: when O(min_healthy_targets) > 0
  type: dict
"""

import time

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.progressive.delivery.plugins.module_utils import arns
from ansible_collections.progressive.delivery.plugins.module_utils import aws_reads as reads
from ansible_collections.progressive.delivery.plugins.module_utils import elbv2_lookup as lookup
from ansible_collections.progressive.delivery.plugins.module_utils.modules import (
    BotoCoreError, ClientError, ProgressiveDeliveryModule, jittered_backoff)
from ansible_collections.progressive.delivery.plugins.module_utils import weights as wlib


def find_listener(module, elbv2):
    """(listener ARN, the listener as found or None) from listener_arn, or load_balancer + port."""
    params = module.params
    if params["listener_arn"]:
        return params["listener_arn"], None
    lb = lookup.find_load_balancer(module, elbv2, params["load_balancer"])
    listener = lookup.find_listener(module, elbv2, lb, params["port"])
    return listener["ListenerArn"], listener


def read_target(module, elbv2, listener_arn, rule_arn, found=None):
    """(listener_arn, rule_arn or None, actions) of the listener's default actions or the rule; `found` is the
    listener as the lookup by load balancer and port just read it (not read again)."""
    params = module.params
    if found is not None and params["priority"] is None:
        return listener_arn, None, found["DefaultActions"]
    if rule_arn:
        try:
            rule = elbv2.describe_rules(aws_retry=True, RuleArns=[rule_arn])["Rules"][0]
        except is_boto3_error_code("RuleNotFound"):
            module.fail_json(msg="listener rule %s not found" % rule_arn)
        return listener_arn or wlib.listener_arn_of_rule(rule_arn), rule_arn, rule["Actions"]
    try:
        listener = elbv2.describe_listeners(aws_retry=True, ListenerArns=[listener_arn])["Listeners"][0]
    except is_boto3_error_code("ListenerNotFound"):
        module.fail_json(msg="listener %s not found" % listener_arn)
    if params["priority"] is None:
        return listener_arn, None, listener["DefaultActions"]
    rules = reads.paginate(elbv2, "describe_rules", "Rules", ListenerArn=listener_arn)
    for rule in rules:
        if rule.get("Priority") == str(params["priority"]):
            return listener_arn, rule["RuleArn"], rule["Actions"]
    module.fail_json(msg="listener %s has no rule with priority %s (it has: %s)"
                     % (listener_arn, params["priority"], sorted(r.get("Priority") for r in rules)))


def reread_actions(elbv2, listener_arn, rule_arn):
    if rule_arn:
        return elbv2.describe_rules(aws_retry=True, RuleArns=[rule_arn])["Rules"][0]["Actions"]
    return elbv2.describe_listeners(aws_retry=True, ListenerArns=[listener_arn])["Listeners"][0]["DefaultActions"]


def resolve_target_groups(module, elbv2, refs, known):
    """{ref: arn} for target group names or ARNs; `known` (arn -> name) is filled in. Only names are looked up: an
    ARN (the plan's, read in validation) is used as it is - ModifyListener refuses one that does not exist."""
    resolved = {}
    for ref in refs:
        if arns.target_group_dimension(ref):
            resolved[ref] = ref
            known.setdefault(ref, wlib.target_group_name(ref))
            continue
        group = lookup.find_target_group(module, elbv2, ref)
        resolved[ref] = group["TargetGroupArn"]
        known[group["TargetGroupArn"]] = group["TargetGroupName"]
    return resolved


def healthy_counts(elbv2, arns):
    return dict((arn, reads.healthy_count(elbv2, arn)) for arn in arns)


def requested_weights(module):
    """The requested {target group ref: weight} and order, checked before any call."""
    params = module.params
    errors = []
    if params["weights"] is not None:
        weights, errors = wlib.parse_weights(params["weights"])
        order = list(params["weights"])
    else:
        weights, errors = wlib.percent_weights(params["live_target_group"], params["candidate_target_group"],
                                               params["candidate_percent"])
        order = [params["live_target_group"], params["candidate_target_group"]]
    errors += wlib.check_stickiness(params["stickiness_duration"])
    if params["min_healthy_targets"] < 0:
        errors.append("min_healthy_targets must be 0 or more, got %s" % params["min_healthy_targets"])
    if not 0 <= params["wait_timeout"] <= 3600:
        errors.append("wait_timeout must be within 0-3600 seconds, got %s" % params["wait_timeout"])
    if params["rule_arn"] and not wlib.listener_arn_of_rule(params["rule_arn"]):
        errors.append("rule_arn must be a listener rule ARN (...:listener-rule/app/<lb>/<id>/<listener-id>/<rule-id>), got %r"
                      % params["rule_arn"])
    if errors:
        module.fail_json(msg="; ".join(errors))
    return weights, order


def wait_applied(module, elbv2, listener_arn, rule_arn, desired):
    """Read back every second until the API shows `desired`; the config seen last and the seconds waited."""
    start = time.time()
    deadline = start + module.params["wait_timeout"]
    seen = None
    for dummy in range(module.params["wait_timeout"] + 2):
        seen = wlib.read_forward(reread_actions(elbv2, listener_arn, rule_arn))
        if wlib.applied(seen, desired) or time.time() >= deadline:
            break
        time.sleep(1)
    return seen, round(time.time() - start, 2)


def main():
    module = ProgressiveDeliveryModule(
        argument_spec=dict(
            # where: a listener (its ARN, or load balancer + port), or a rule (its ARN, or the listener + priority)
            listener_arn=dict(type="str"), load_balancer=dict(type="str"), port=dict(type="int"),
            rule_arn=dict(type="str"), priority=dict(type="int"),
            # what: weights by target group, or live + candidate + the candidate's percent
            weights=dict(type="dict"),
            live_target_group=dict(type="str"), candidate_target_group=dict(type="str"), candidate_percent=dict(type="int"),
            # how
            stickiness_duration=dict(type="int", default=0), min_healthy_targets=dict(type="int", default=0),
            wait_timeout=dict(type="int", default=30), exact=dict(type="bool", default=False),
        ),
        required_one_of=[["listener_arn", "load_balancer", "rule_arn"],
                         ["weights", "live_target_group"]],
        mutually_exclusive=[["listener_arn", "load_balancer", "rule_arn"], ["rule_arn", "priority"],
                            ["weights", "live_target_group"], ["weights", "candidate_target_group"],
                            ["weights", "candidate_percent"]],
        required_together=[["load_balancer", "port"],
                           ["live_target_group", "candidate_target_group", "candidate_percent"]],
        supports_check_mode=True,
    )
    params = module.params
    requested, order = requested_weights(module)
    elbv2 = module.client("elbv2", retry_decorator=jittered_backoff())
    names = {}
    what = params["rule_arn"] or params["listener_arn"] or "%s:%s" % (params["load_balancer"], params["port"])
    try:
        listener_arn, found = (None, None) if params["rule_arn"] else find_listener(module, elbv2)
        listener_arn, rule_arn, actions = read_target(module, elbv2, listener_arn, params["rule_arn"], found)
        what = rule_arn or listener_arn
        current = wlib.read_forward(actions)
        if current is None:
            module.fail_json(msg="%s has no forward action (its actions: %s); alb_weighted_shift only changes forward weights"
                             % (what, [a.get("Type") for a in actions]))
        arn_of = resolve_target_groups(module, elbv2, order, names)
        duplicates = sorted(set(a for a in arn_of.values() if list(arn_of.values()).count(a) > 1))
        if duplicates:
            module.fail_json(msg="weights name the same target group more than once (by name and by ARN?): %s" % duplicates)
        desired = wlib.desired_forward(dict((arn_of[ref], w) for ref, w in requested.items()),
                                       [arn_of[ref] for ref in order], params["stickiness_duration"])
        for arn in current["order"]:
            names.setdefault(arn, wlib.target_group_name(arn))
        health = None
        if params["min_healthy_targets"]:
            gaining = wlib.gaining_groups(current, desired)
            health = healthy_counts(elbv2, gaining)
            short = wlib.unhealthy_groups(gaining, health, params["min_healthy_targets"])
            if short:
                module.fail_json(
                    msg="refusing to send traffic on %s: %s (min_healthy_targets=%d); nothing was changed"
                        % (what, ", ".join("target group %s has %d healthy targets" % (names[arn], n) for arn, n in short),
                           params["min_healthy_targets"]),
                    healthy_targets=dict((names[arn], n) for arn, n in health.items()), previous=wlib.describe_config(current, names))
        changed = not (wlib.applied(current, desired) if params["exact"] else wlib.same_traffic(current, desired))
        result_config = current
        waited = None
        if changed and not module.check_mode:
            new_actions = wlib.rebuild_actions(actions, desired)
            if rule_arn:
                elbv2.modify_rule(aws_retry=True, RuleArn=rule_arn, Actions=new_actions)
            else:
                elbv2.modify_listener(aws_retry=True, ListenerArn=listener_arn, DefaultActions=new_actions)
            result_config, waited = wait_applied(module, elbv2, listener_arn, rule_arn, desired)
            if not wlib.applied(result_config, desired):
                shown = ("weights %s, stickiness %ss" % (wlib.weights_by_name(result_config, names), result_config["stickiness_duration"])
                         if result_config else "no forward action")
                module.fail_json(msg="%s was modified but after %ss the API still shows %s, not weights %s, stickiness %ss"
                                     % (what, waited, shown, wlib.weights_by_name(desired, names), desired["stickiness_duration"]),
                                 changed=True, previous=wlib.describe_config(current, names),
                                 current=wlib.describe_config(result_config, names))
        elif changed:
            result_config = desired
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to set forward weights on %s" % what)

    live_arn = wlib.live_target_group(result_config)
    result = dict(
        changed=changed,
        applied_at=int(time.time()),
        listener_arn=listener_arn,
        previous=wlib.describe_config(current, names),
        current=wlib.describe_config(result_config, names),
        weights=wlib.weights_by_name(result_config, names),
        percentages=wlib.percentages_by_name(result_config, names),
        live_target_group=dict(arn=live_arn, name=names.get(live_arn) or wlib.target_group_name(live_arn),
                               weight=result_config["weights"].get(live_arn)),
    )
    if rule_arn:
        result["rule_arn"] = rule_arn
    if waited is not None:
        result["waited"] = waited
    if health is not None:
        result["healthy_targets"] = dict((names[arn], n) for arn, n in health.items())
    if module._diff:
        result["diff"] = dict(
            before=dict(weights=wlib.weights_by_name(current, names), stickiness_duration=current["stickiness_duration"]),
            after=dict(weights=wlib.weights_by_name(result_config, names), stickiness_duration=result_config["stickiness_duration"]),
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
