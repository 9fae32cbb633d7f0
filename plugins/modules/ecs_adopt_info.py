#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_adopt_info
author: progressive.delivery maintainers (@progressive-delivery)
version_added: 0.1.0
short_description: Plan the adoption of an existing ECS service behind an ALB into blue-green slots, or refuse it
description:
  - Reads an existing ECS service, the target group it is registered in, the load balancer and the production
    listener (its default action, or a given rule), and the slot C(b) service and target group if they exist;
    returns the plan that turns this layout into the two slots of M(progressive.delivery.ecs_slot_info) - or, with
    O(state=absent), the plan that folds the slots back into one service.
  - Fails, changing nothing, with what to do when the layout cannot be adopted - no application load balancer,
    the service in more than one target group, the C(CODE_DEPLOY) or C(EXTERNAL) deployment controller, a
    C(DAEMON) service, a listener forwarding elsewhere, a slot C(b) name already used otherwise, a deployment in
    flight when folding back.
  - Read-only; the role C(progressive.delivery.ecs_adopt) applies the plan with C(community.aws.elb_target_group),
    M(progressive.delivery.alb_weighted_shift), C(community.aws.ecs_service) and M(progressive.delivery.alb_test_route).
  - Exists because whether a layout can be adopted, and what is left to do after a stopped run or after
    deployments moved the weights, is one decision over four describe APIs (ECS services, target groups and their
    attributes and tags, load balancers, listeners and rules); the info modules of amazon.aws / community.aws return
    the pieces, and joining them in Jinja would hide the refusals. The decision itself is pure Python in
    C(plugins/module_utils/adopt.py).
options:
  slots:
    description:
      - The services and target groups of the two slots. Slot C(a) names the service serving the application now
        and its target group; slot C(b) the service and target group adoption creates.
    type: dict
    required: true
    suboptions:
      a:
        description: Slot C(a) - C(service) and C(target_group) (name or ARN).
        type: dict
        required: true
      b:
        description: Slot C(b) - C(service) and C(target_group) (name).
        type: dict
        required: true
  load_balancer:
    description: Name or ARN of the application load balancer.
    type: str
    required: true
  listener_port:
    description: Port of the production listener on O(load_balancer).
    type: int
    required: true
  rule_priority:
    description:
      - Priority of the production listener's rule that forwards to the service, when it is not the listener's
        default action.
    type: int
  test_listener_port:
    description: Port of a test listener forwarding to slot C(b) (created by the role when missing).
    type: int
  test_header:
    description:
      - A header rule on the production listener forwarding to slot C(b) instead of a test listener -
        C(name), C(values) (list) and C(priority).
    type: dict
  lock_name:
    description: SSM parameter of the deployment lock; a held lock refuses O(state=absent).
    type: str
  state:
    description: C(present) plans the adoption, C(absent) the fold back into the live slot's service.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: full
    description: The layout before and after the plan (slots, forward weights by target group name).
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  progressive.delivery.attributes, progressive.delivery.ecs]
notes:
  - Permissions - C(ecs:DescribeServices), C(elasticloadbalancing:DescribeLoadBalancers), C(DescribeListeners),
    C(DescribeRules), C(DescribeTargetGroups), C(DescribeTargetGroupAttributes), C(DescribeTags), C(ssm:GetParameter)
    (with O(lock_name)).
"""

EXAMPLES = r"""
- name: Plan the adoption of the seed's service, keeping its names as slot a
  progressive.delivery.ecs_adopt_info:
    cluster: prod-ecs-cluster
    slots:
      a: {service: myapp-ecs-service, target_group: myapp-tg-blue}
      b: {service: myapp-ecs-service-b, target_group: myapp-tg-green}
    load_balancer: myapp-alb
    listener_port: 443
    test_listener_port: 9000
  register: adoption

- name: Show it
  ansible.builtin.debug:
    var: adoption.changes
"""

RETURN = r"""
changes:
  description: What the plan does, one line per step; empty when there is nothing to do.
  returned: always
  type: list
  elements: str
  sample: ["slot a: service myapp-ecs-service and target group myapp-tg-blue as they are (4 tasks keep running, nothing restarts)"]
target_group:
  description: C(community.aws.elb_target_group) options of slot C(b)'s target group to create; null when it exists.
  returned: always
  type: dict
listener:
  description: The forward to write (C(weights) by target group ARN or name, C(stickiness_duration)); null when nothing to change.
  returned: always
  type: dict
service:
  description:
    - With O(state=present), C(community.aws.ecs_service) options of slot C(b)'s service to create (its load balancer
      entry lacks the target group ARN); with O(state=absent), the service to delete. Null when nothing to do.
  returned: always
  type: dict
test_route:
  description: The test listener or header rule to create (present) or delete (absent); null when nothing to do.
  returned: always
  type: dict
keep:
  description: With O(state=absent), the slot kept (the one with all the traffic).
  returned: when O(state=absent)
  type: str
listener_arn:
  description: ARN of the production listener.
  returned: always
  type: str
rule_arn:
  description: ARN of the rule given by O(rule_priority).
  returned: when O(rule_priority) is given
  type: str
load_balancer_arn:
  description: ARN of the load balancer.
  returned: always
  type: str
production_listener:
  description: Protocol, certificates and SSL policy of the production listener (a test listener copies them).
  returned: always
  type: dict
"""

from ansible_collections.progressive.delivery.plugins.module_utils import aws_reads as reads
from ansible_collections.progressive.delivery.plugins.module_utils import adopt
from ansible_collections.progressive.delivery.plugins.module_utils import deploy_lock as locklib
from ansible_collections.progressive.delivery.plugins.module_utils import elbv2_lookup as lookup
from ansible_collections.progressive.delivery.plugins.module_utils.modules import (
    BotoCoreError, ClientError, ProgressiveDeliveryModule, jittered_backoff)


def main():
    module = ProgressiveDeliveryModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True),
            slots=dict(type="dict", required=True, options=dict(a=dict(type="dict", required=True),
                                                                b=dict(type="dict", required=True))),
            load_balancer=dict(type="str", required=True),
            listener_port=dict(type="int", required=True),
            rule_priority=dict(type="int"),
            test_listener_port=dict(type="int"),
            test_header=dict(type="dict"),
            lock_name=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        mutually_exclusive=[["test_listener_port", "test_header"]],
        supports_check_mode=True,
    )
    params = module.params
    slots = dict((s, dict(service=(params["slots"][s] or {}).get("service") or "",
                          target_group=(params["slots"][s] or {}).get("target_group") or "")) for s in adopt.SLOTS)
    errors = adopt.check_slot_names(slots)
    header = params["test_header"]
    if header is not None and (not header.get("name") or not header.get("values") or not isinstance(header.get("values"), list)
                               or not isinstance(header.get("priority"), int) or not 1 <= header["priority"] <= 50000):
        errors.append("test_header needs name, values (a list) and priority (1-50000), got %r" % (header,))
    if params["test_listener_port"] is not None and (not 1 <= params["test_listener_port"] <= 65535
                                                     or params["test_listener_port"] == params["listener_port"]):
        errors.append("test_listener_port must be 1-65535 and differ from the production listener's port %s, got %s"
                      % (params["listener_port"], params["test_listener_port"]))
    if errors:
        module.fail_json(msg="; ".join(errors))

    ecs = module.client("ecs", retry_decorator=jittered_backoff())
    elbv2 = module.client("elbv2", retry_decorator=jittered_backoff())
    cluster = params["cluster"]
    result = dict(changed=False)
    try:
        lb = lookup.find_load_balancer(module, elbv2, params["load_balancer"])
        listener = lookup.find_listener(module, elbv2, lb, params["listener_port"])
        listeners = reads.paginate(elbv2, "describe_listeners", "Listeners", LoadBalancerArn=lb["LoadBalancerArn"])
        rules = reads.paginate(elbv2, "describe_rules", "Rules", ListenerArn=listener["ListenerArn"])
        actions, where = listener["DefaultActions"], "production listener :%s" % params["listener_port"]
        result.update(listener_arn=listener["ListenerArn"], load_balancer_arn=lb["LoadBalancerArn"],
                      production_listener=dict(protocol=listener.get("Protocol"), ssl_policy=listener.get("SslPolicy"),
                                               certificates=listener.get("Certificates") or []))
        if params["rule_priority"] is not None:
            rule = next((r for r in rules if r.get("Priority") == str(params["rule_priority"])), None)
            if rule is None:
                module.fail_json(msg="production listener :%s has no rule with priority %s (it has: %s)"
                                 % (params["listener_port"], params["rule_priority"], sorted(r.get("Priority") for r in rules)))
            actions, where = rule["Actions"], "rule priority %s of the production listener" % params["rule_priority"]
            result["rule_arn"] = rule["RuleArn"]
        test = None
        if params["test_listener_port"]:
            existing = next((li for li in listeners if li["Port"] == params["test_listener_port"]), None)
            test = dict(port=params["test_listener_port"], existing=existing)
        elif header:
            existing = next((r for r in rules if r.get("Priority") == str(header["priority"])), None)
            test = dict(priority=header["priority"], header=dict(name=header["name"], values=list(header["values"])),
                        existing=existing, listener_arn=listener["ListenerArn"])
            if params["rule_priority"] is not None and header["priority"] >= params["rule_priority"]:
                module.fail_json(msg="test_header priority %s must be below the production rule's %s, or the production rule "
                                     "answers first" % (header["priority"], params["rule_priority"]))
        services = dict((s, reads.active_service(ecs, cluster, slots[s]["service"], include=["TAGS"])) for s in adopt.SLOTS)
        tg_b = lookup.describe_target_group(elbv2, slots["b"]["target_group"])

        if params["state"] == "present":
            live_tg = attributes = tags = None
            balancers = (services["a"] or {}).get("loadBalancers") or []
            if services["a"] and len(balancers) == 1 and balancers[0].get("targetGroupArn"):
                live_tg = lookup.describe_target_group(elbv2, balancers[0]["targetGroupArn"])
            if live_tg:
                attributes = elbv2.describe_target_group_attributes(
                    aws_retry=True, TargetGroupArn=live_tg["TargetGroupArn"])["Attributes"]
                tags = elbv2.describe_tags(aws_retry=True, ResourceArns=[live_tg["TargetGroupArn"]])["TagDescriptions"][0]["Tags"]
            plan = adopt.plan_present(cluster, slots, services, live_tg, attributes, tags, tg_b, lb, actions, where, test)
        else:
            lock = None
            if params["lock_name"]:
                ssm = module.client("ssm", retry_decorator=jittered_backoff())
                lock = locklib.LockStore(ssm, params["lock_name"], retry=True).read() or {}
            tgs = dict(a=lookup.describe_target_group(elbv2, slots["a"]["target_group"]), b=tg_b)
            plan = adopt.plan_absent(slots, services, tgs, actions, where, lock, test)
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to read the layout of %s in cluster %s" % (slots["a"]["service"], cluster))

    if plan["refusal"]:
        module.fail_json(msg="cannot %s: %s; nothing was changed"
                             % ("adopt " + slots["a"]["service"] if params["state"] == "present" else "fold back the slots",
                                plan["refusal"]), **result)
    before, after = plan.pop("before", None), plan.pop("after", None)
    plan.pop("refusal")
    result.update(plan)
    if module._diff and before is not None and plan["changes"][1:]:
        result["diff"] = dict(before=before, after=after)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
