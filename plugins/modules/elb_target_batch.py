#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: elb_target_batch
author: progressive.delivery maintainers (@progressive-delivery)
version_added: 0.1.0
short_description: Deregister a batch of targets and wait until they drained, or register them and wait until healthy
description:
  - Takes every target of a batch out of an ELBv2 target group in one C(DeregisterTargets) call and waits until none
    of them is registered any more (draining finished), or puts them all back in one C(RegisterTargets) call and
    waits until all of them are C(healthy) - one module run for the whole batch of a rolling deployment
    (roles/vm_deploy runs it once per batch on the controller).
  - Targets already in the wanted state are left alone; nothing to change and nothing to wait for is C(changed=false).
  - The wait is a bounded poll of C(DescribeTargetHealth) every O(poll_interval) seconds for at most O(timeout)
    seconds; a target still not there after it fails the module, naming the targets and their states.
  - Exists because M(community.aws.elb_target) takes one target per call, so a batch costs one Python (with boto3)
    per host and per direction on the controller, each polling on its own; this module takes the batch in one run.
options:
  target_group_name:
    description: Name of the target group. One of O(target_group_name) and O(target_group_arn) is required.
    type: str
  target_group_arn:
    description: ARN of the target group.
    type: str
  targets:
    description: The batch's targets. An empty list changes nothing.
    type: list
    elements: dict
    required: true
    suboptions:
      id:
        description: Target id (instance id, or the IP address for an C(ip) target group).
        type: str
        required: true
      port:
        description: Target port.
        type: int
        required: true
  state:
    description: C(absent) deregisters and waits until drained; C(present) registers and waits until healthy.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description: Wait for draining (absent) or health (present); false returns after the call.
    type: bool
    default: true
  wait_healthy:
    description: With O(state=present), wait for C(healthy); false waits only until the targets are registered.
    type: bool
    default: true
  timeout:
    description: Seconds to wait at most.
    type: int
    default: 300
  poll_interval:
    description: Seconds between two reads of the targets' health.
    type: int
    default: 2
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  progressive.delivery.attributes]
notes:
  - IAM actions C(elasticloadbalancing:DescribeTargetGroups) (by name), C(DescribeTargetHealth), C(RegisterTargets),
    C(DeregisterTargets).
"""

EXAMPLES = r"""
- name: Take the batch out of the target group and wait for draining
  progressive.delivery.elb_target_batch:
    target_group_name: myapp-vm
    targets: "{{ ansible_play_batch | map('extract', hostvars, 'ansible_host') | map('community.general.dict_kv', 'id')
                 | map('combine', {'port': 8080}) }}"
    state: absent
    timeout: 360
  run_once: true
  delegate_to: localhost

- name: Put them back and wait until healthy
  progressive.delivery.elb_target_batch:
    target_group_name: myapp-vm
    targets: [{id: 10.0.0.11, port: 8080}, {id: 10.0.0.12, port: 8080}]
    state: present
    timeout: 300
"""

RETURN = r"""
target_group_arn:
  description: The target group's ARN.
  returned: always
  type: str
changed_targets:
  description: The targets the call registered or deregistered, as C(id:port).
  returned: always
  type: list
  elements: str
targets:
  description: Every target's state at the end, C(id:port) to the state (C(unused) when not registered).
  returned: always
  type: dict
waited_seconds:
  description: Seconds spent waiting.
  returned: always
  type: float
"""

from ansible_collections.progressive.delivery.plugins.module_utils.modules import (
    BotoCoreError, ClientError, ProgressiveDeliveryModule, jittered_backoff)
from ansible_collections.progressive.delivery.plugins.module_utils import elb_target_batch as batch
from ansible_collections.progressive.delivery.plugins.module_utils import elbv2_lookup as lookup


def main():
    module = ProgressiveDeliveryModule(
        argument_spec=dict(
            target_group_name=dict(type="str"),
            target_group_arn=dict(type="str"),
            targets=dict(type="list", elements="dict", required=True,
                         options=dict(id=dict(type="str", required=True), port=dict(type="int", required=True))),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            wait=dict(type="bool", default=True),
            wait_healthy=dict(type="bool", default=True),
            timeout=dict(type="int", default=300),
            poll_interval=dict(type="int", default=2),
        ),
        required_one_of=[["target_group_name", "target_group_arn"]],
        mutually_exclusive=[["target_group_name", "target_group_arn"]],
        supports_check_mode=True,
    )
    p = module.params
    errors = batch.check_targets(p["targets"])
    if p["timeout"] < 0 or p["poll_interval"] < 1:
        errors.append("timeout must be 0 or more and poll_interval 1 or more (got %s, %s)" % (p["timeout"], p["poll_interval"]))
    if errors:
        module.fail_json(msg="; ".join(errors))
    targets = batch.normalize(p["targets"])
    elbv2 = module.client("elbv2", retry_decorator=jittered_backoff())
    try:
        arn = p["target_group_arn"] or lookup.find_target_group(module, elbv2, p["target_group_name"])["TargetGroupArn"]

        def read():
            return elbv2.describe_target_health(aws_retry=True, TargetGroupArn=arn)["TargetHealthDescriptions"]

        now = batch.states(read(), targets) if targets else {}
        change = batch.to_change(p["state"], now)
        if change and not module.check_mode:
            by_key = dict((batch.key(t), t) for t in targets)
            if p["state"] == "present":
                elbv2.register_targets(aws_retry=True, TargetGroupArn=arn, Targets=[by_key[k] for k in change])
            else:
                elbv2.deregister_targets(aws_retry=True, TargetGroupArn=arn, Targets=[by_key[k] for k in change])
        waited = 0.0
        if targets and p["wait"] and not module.check_mode:
            done, now, waited = batch.wait_until(read, p["state"], targets, p["timeout"], p["poll_interval"],
                                                 wait_healthy=p["wait_healthy"])
            if not done:
                late = batch.pending(p["state"], now, p["wait_healthy"])
                module.fail_json(msg="%s: %s not %s after %s s (%s)" % (
                    p["target_group_name"] or arn, ", ".join(late), batch.describe_wait(p["state"], p["wait_healthy"]),
                    p["timeout"], ", ".join("%s %s" % (k, now[k]) for k in late)),
                    target_group_arn=arn, changed=bool(change), changed_targets=change, targets=now, waited_seconds=waited)
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to %s targets of %s" % (
            "register" if p["state"] == "present" else "deregister", p["target_group_name"] or p["target_group_arn"]))
    module.exit_json(changed=bool(change), target_group_arn=arn, changed_targets=change, targets=now, waited_seconds=waited)


if __name__ == "__main__":
    main()
