# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find load balancers, listeners and target groups by name or ARN, failing with what exists instead.

Shared by the modules that take `load_balancer` + `port` or target groups by name; the client must be
made with `retry_decorator=jittered_backoff()` (module_utils/modules.py).
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.progressive.delivery.plugins.module_utils import aws_reads as reads


def _by_name_or_arn(ref, arn_key, name_key):
    return {arn_key: [ref]} if ref.startswith("arn:") else {name_key: [ref]}


def describe_load_balancer(elbv2, ref):
    """The load balancer named `ref`, or with ARN `ref`; None when there is none."""
    try:
        return elbv2.describe_load_balancers(aws_retry=True, **_by_name_or_arn(ref, "LoadBalancerArns", "Names"))["LoadBalancers"][0]
    except is_boto3_error_code("LoadBalancerNotFound"):
        return None


def describe_target_group(elbv2, ref):
    """The target group named `ref`, or with ARN `ref`; None when there is none."""
    try:
        return elbv2.describe_target_groups(aws_retry=True, **_by_name_or_arn(ref, "TargetGroupArns", "Names"))["TargetGroups"][0]
    except is_boto3_error_code("TargetGroupNotFound"):
        return None


def find_load_balancer(module, elbv2, ref, msg=None):
    """The load balancer named `ref`, or with ARN `ref`; fails with `msg` (or a message naming `ref`) without one."""
    found = describe_load_balancer(elbv2, ref)
    if found is None:
        module.fail_json(msg=msg or "load balancer %r not found; load_balancer takes the name or ARN of an application "
                                    "load balancer" % ref)
    return found


def find_listener(module, elbv2, load_balancer, port):
    """The listener of `load_balancer` (a describe_load_balancers entry) on `port`."""
    listeners = reads.paginate(elbv2, "describe_listeners", "Listeners", LoadBalancerArn=load_balancer["LoadBalancerArn"])
    for listener in listeners:
        if listener["Port"] == port:
            return listener
    module.fail_json(msg="load balancer %s has no listener on port %s (it has: %s)"
                     % (load_balancer["LoadBalancerName"], port, sorted(li["Port"] for li in listeners)))


def find_target_group(module, elbv2, ref, msg=None):
    """The target group named `ref`, or with ARN `ref`; fails with `msg` (or a message naming `ref`) without one."""
    found = describe_target_group(elbv2, ref)
    if found is None:
        module.fail_json(msg=msg or "target group %r not found; give target groups by name or ARN" % ref)
    return found
