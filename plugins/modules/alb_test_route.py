#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: alb_test_route
author: progressive.delivery maintainers (@progressive-delivery)
version_added: 0.1.0
short_description: Ensure one ALB listener, or one header rule on a listener, forwarding to one target group
description:
  - Creates (or deletes) the test route of a blue-green application - either a listener of its own port whose
    default action forwards to the idle slot's target group, or a rule on an existing listener that forwards the
    requests carrying a header to it.
  - Touches that one listener or rule and nothing else. A listener on the port, or a rule at the priority, that
    forwards elsewhere or matches other conditions is not overwritten - the module fails and says what is there.
  - Exists because C(amazon.aws.elb_application_lb) manages a whole load balancer (its subnets, security groups,
    every listener and rule, purging the ones not listed by default), which is too much to hand a one-listener
    change on a production load balancer; amazon.aws has no listener or rule module.
options:
  load_balancer:
    description: Name or ARN of the application load balancer.
    type: str
    required: true
  port:
    description:
      - Without O(header), the port of the test listener to ensure.
      - With O(header), the port of the existing listener the rule goes on.
    type: int
    required: true
  target_group:
    description: Name or ARN of the target group the route forwards to (needed with O(state=present)).
    type: str
  header:
    description: A rule instead of a listener - C(name) of the HTTP header and its C(values) (list); with O(priority).
    type: dict
  priority:
    description: Priority of the rule (1-50000).
    type: int
  protocol:
    description: Protocol of a new listener.
    type: str
    choices: [HTTP, HTTPS]
    default: HTTP
  certificates:
    description: Certificate ARNs of a new HTTPS listener; the first becomes its default certificate (the others are not added).
    type: list
    elements: str
    default: []
  ssl_policy:
    description: SSL policy of a new HTTPS listener.
    type: str
  state:
    description: Whether the route should exist.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Reports what it would create or delete; changes nothing.
  diff_mode:
    support: full
    description: The route before and after (port or priority and conditions, target group).
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  progressive.delivery.attributes]
notes:
  - Permissions - C(elasticloadbalancing:DescribeLoadBalancers), C(DescribeListeners), C(DescribeRules),
    C(DescribeTargetGroups), C(CreateListener) / C(DeleteListener) or C(CreateRule) / C(DeleteRule).
"""

EXAMPLES = r"""
- name: A test listener on port 9000 to the idle slot
  progressive.delivery.alb_test_route:
    load_balancer: myapp-alb
    port: 9000
    target_group: myapp-tg-green

- name: Or a rule on the production listener - requests with X-Slot candidate go to the idle slot
  progressive.delivery.alb_test_route:
    load_balancer: myapp-alb
    port: 443
    header: {name: X-Slot, values: [candidate]}
    priority: 1
    target_group: myapp-tg-green
"""

RETURN = r"""
listener_arn:
  description: ARN of the test listener, or of the listener holding the rule.
  returned: when it exists
  type: str
rule_arn:
  description: ARN of the rule.
  returned: with O(header), when it exists
  type: str
"""

from ansible_collections.progressive.delivery.plugins.module_utils import aws_reads as reads
from ansible_collections.progressive.delivery.plugins.module_utils import adopt
from ansible_collections.progressive.delivery.plugins.module_utils import elbv2_lookup as lookup
from ansible_collections.progressive.delivery.plugins.module_utils.modules import (
    BotoCoreError, ClientError, ProgressiveDeliveryModule, jittered_backoff)


def conditions(header):
    return [{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": header["name"], "Values": list(header["values"])}}]


def describe(actions, tg_names):
    dummy, weights = adopt.forward_of(actions)
    return sorted(tg_names.get(arn) or adopt.tg_name(arn) for arn, w in weights.items() if w > 0)


def main():
    module = ProgressiveDeliveryModule(
        argument_spec=dict(
            load_balancer=dict(type="str", required=True), port=dict(type="int", required=True),
            target_group=dict(type="str"),
            # a header rule on the listener of `port`, instead of a listener of its own
            header=dict(type="dict"), priority=dict(type="int"),
            # a listener of its own
            protocol=dict(type="str", choices=["HTTP", "HTTPS"], default="HTTP"),
            certificates=dict(type="list", elements="str", default=[]), ssl_policy=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        required_together=[["header", "priority"]],
        required_if=[["state", "present", ["target_group"]]],
        supports_check_mode=True,
    )
    params = module.params
    header = params["header"]
    if header is not None and (not header.get("name") or not isinstance(header.get("values"), list) or not header["values"]):
        module.fail_json(msg="header needs name and values (a non-empty list), got %r" % (header,))
    if params["priority"] is not None and not 1 <= params["priority"] <= 50000:
        module.fail_json(msg="priority must be within 1-50000, got %s" % params["priority"])
    if params["state"] == "present" and params["protocol"] == "HTTPS" and not header and not params["certificates"]:
        module.fail_json(msg="an HTTPS test listener needs certificates (the production listener's, for example)")

    elbv2 = module.client("elbv2", retry_decorator=jittered_backoff())
    result = dict(changed=False)
    present = params["state"] == "present"
    try:
        lb = lookup.find_load_balancer(module, elbv2, params["load_balancer"])
        tg_arn, tg_names = None, {}
        if present:
            tg = lookup.find_target_group(module, elbv2, params["target_group"])
            tg_arn = tg["TargetGroupArn"]
            tg_names[tg_arn] = tg["TargetGroupName"]
        forward = [{"Type": "forward", "TargetGroupArn": tg_arn}]
        listeners = reads.paginate(elbv2, "describe_listeners", "Listeners", LoadBalancerArn=lb["LoadBalancerArn"])
        listener = next((li for li in listeners if li["Port"] == params["port"]), None)
        if header:
            if listener is None:
                module.fail_json(msg="load balancer %s has no listener on port %s for the rule (it has: %s)"
                                 % (lb["LoadBalancerName"], params["port"], sorted(li["Port"] for li in listeners)))
            result["listener_arn"] = listener["ListenerArn"]
            rules = reads.paginate(elbv2, "describe_rules", "Rules", ListenerArn=listener["ListenerArn"])
            rule = next((r for r in rules if r.get("Priority") == str(params["priority"])), None)
            before = dict(priority=params["priority"], header=header, forward=describe(rule["Actions"], tg_names)) if rule else {}
            after = dict(priority=params["priority"], header=header, forward=[tg_names.get(tg_arn)]) if present else {}
            if rule is not None:
                result["rule_arn"] = rule["RuleArn"]
            if present and rule is not None:
                same = (adopt.forward_of(rule["Actions"])[1].keys() == {tg_arn}
                        and adopt.header_matches(rule, dict(name=header["name"], values=header["values"])))
                if not same:
                    module.fail_json(msg="listener :%s has a rule at priority %s that forwards to %s or matches other "
                                         "conditions; choose another priority" % (params["port"], params["priority"], before["forward"]))
            elif present:
                result["changed"] = True
                if not module.check_mode:
                    created = elbv2.create_rule(aws_retry=True, ListenerArn=listener["ListenerArn"], Priority=params["priority"],
                                                Conditions=conditions(header), Actions=forward)["Rules"][0]
                    result["rule_arn"] = created["RuleArn"]
            elif rule is not None:
                result["changed"] = True
                if not module.check_mode:
                    elbv2.delete_rule(aws_retry=True, RuleArn=rule["RuleArn"])
        else:
            before = dict(port=params["port"], forward=describe(listener["DefaultActions"], tg_names)) if listener else {}
            after = dict(port=params["port"], forward=[tg_names.get(tg_arn)]) if present else {}
            if listener is not None:
                result["listener_arn"] = listener["ListenerArn"]
            if present and listener is not None:
                if adopt.forward_of(listener["DefaultActions"])[1].keys() != {tg_arn}:
                    module.fail_json(msg="load balancer %s already has a listener on port %s forwarding to %s; choose "
                                         "another port" % (lb["LoadBalancerName"], params["port"], before["forward"] or "nothing"))
            elif present:
                result["changed"] = True
                if not module.check_mode:
                    kwargs = dict(LoadBalancerArn=lb["LoadBalancerArn"], Protocol=params["protocol"], Port=params["port"],
                                  DefaultActions=forward)
                    if params["protocol"] == "HTTPS":
                        kwargs["Certificates"] = [{"CertificateArn": arn} for arn in params["certificates"][:1]]
                        if params["ssl_policy"]:
                            kwargs["SslPolicy"] = params["ssl_policy"]
                    created = elbv2.create_listener(aws_retry=True, **kwargs)["Listeners"][0]
                    result["listener_arn"] = created["ListenerArn"]
            elif listener is not None:
                result["changed"] = True
                if not module.check_mode:
                    elbv2.delete_listener(aws_retry=True, ListenerArn=listener["ListenerArn"])
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to ensure the test route on %s:%s" % (params["load_balancer"], params["port"]))
    if module._diff:
        result["diff"] = dict(before=before, after=after)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
