# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find load balancers, listeners and target groups by name or ARN, failing with what exists instead.

Shared by the modules that take `load_balancer` + `port` or target groups by name; the client must be
made with `retry_decorator=jittered_backoff()` (module_utils/modules.py).
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.progressive.delivery.plugins.module_utils.modules import jittered_backoff


@jittered_backoff()
def _all_listeners(elbv2, load_balancer_arn):
    return elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=load_balancer_arn).build_full_result()["Listeners"]


def find_load_balancer(module, elbv2, ref):
    """The load balancer named `ref`, or with ARN `ref`."""
    kwargs = dict(LoadBalancerArns=[ref]) if ref.startswith("arn:") else dict(Names=[ref])
    try:
        return elbv2.describe_load_balancers(aws_retry=True, **kwargs)["LoadBalancers"][0]
    except is_boto3_error_code("LoadBalancerNotFound"):
        module.fail_json(msg="load balancer %r not found; load_balancer takes the name or ARN of an application load balancer" % ref)


def find_listener(module, elbv2, load_balancer, port):
    """The listener of `load_balancer` (a describe_load_balancers entry) on `port`."""
    listeners = _all_listeners(elbv2, load_balancer["LoadBalancerArn"])
    for listener in listeners:
        if listener["Port"] == port:
            return listener
    module.fail_json(msg="load balancer %s has no listener on port %s (it has: %s)"
                     % (load_balancer["LoadBalancerName"], port, sorted(li["Port"] for li in listeners)))


def find_target_group(module, elbv2, ref):
    """The target group named `ref`, or with ARN `ref`."""
    kwargs = dict(TargetGroupArns=[ref]) if ref.startswith("arn:") else dict(Names=[ref])
    try:
        return elbv2.describe_target_groups(aws_retry=True, **kwargs)["TargetGroups"][0]
    except is_boto3_error_code("TargetGroupNotFound"):
        module.fail_json(msg="target group %r not found; give target groups by name or ARN" % ref)
