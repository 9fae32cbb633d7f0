#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_live_check
author: progressive.delivery maintainers (@progressive-delivery)
version_added: 0.2.0
short_description: Is the live ECS service steady, and does the account have room for the candidate?
description:
  - Reads the live service and judges it B(steady) - its PRIMARY deployment's rollout C(COMPLETED), no older
    deployment left, running = desired, and at least desired healthy targets in its target group. When it is not,
    RV(problems) says why and RV(events) holds the service's newest events.
  - Judges the B(capacity) a deployment needs (the live count on the candidate slot, less what that slot already
    runs) against the account, not a fixed number. Fargate - the Service Quotas quota C(Fargate On-Demand vCPU
    resource count) (C(L-3032A538); C(Fargate Spot vCPU resource count) C(L-36FBB829) for a Spot-only service)
    against the vCPUs in use (the quota's usage metric in CloudWatch C(AWS/Usage), at least the two slots' own
    running tasks) plus the candidate's. EC2 - the remaining CPU and memory the cluster's ACTIVE container
    instances report (DescribeContainerInstances), instance by instance.
  - Optionally caps the cluster's task count (O(max_cluster_tasks)).
  - Read-only; it decides and reports, the caller refuses (RV(ok), RV(message)).
options:
  service:
    description: The live service's name or ARN.
    type: str
    required: true
  target_group_arn:
    description: The live slot's target group. Defaults to the service's first load balancer entry's.
    type: str
  task_definition:
    description: Task definition (C(family:revision) or ARN) whose size the candidate's tasks have. Defaults to the live service's.
    type: str
  candidate_desired_count:
    description: Tasks the candidate slot's service already has (a resumed deployment needs only the rest).
    type: int
    default: 0
  candidate_running_count:
    description: Tasks the candidate slot's service runs now (counted as in use when the usage metric is behind).
    type: int
    default: 0
  check_steady:
    description: Judge the live service's steadiness.
    type: bool
    default: true
  check_capacity:
    description: Judge the account's capacity for the candidate.
    type: bool
    default: true
  max_cluster_tasks:
    description: An optional cap on the cluster's running plus pending tasks after the candidate's are added. C(0) means no cap.
    type: int
    default: 0
  usage_window:
    description: Minutes of the quota's usage metric to read (its highest value counts).
    type: int
    default: 5
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  progressive.delivery.attributes, progressive.delivery.ecs]
"""

EXAMPLES = r"""
- name: Live service steady, room for the candidate
  progressive.delivery.ecs_live_check:
    cluster: prod-ecs-cluster
    service: myapp-a
    target_group_arn: "{{ slots.live.target_group_arn }}"
    candidate_desired_count: "{{ slots.candidate.desired_count }}"
  register: live_check

- name: Refuse, saying why
  ansible.builtin.assert:
    that: live_check.ok
    fail_msg: "{{ live_check.message }}"
"""

RETURN = r"""
ok:
  description: Steady (when checked) and room for the candidate (when checked).
  returned: always
  type: bool
message:
  description: The judgement in one paragraph; on a refusal what to do, with the service's newest events when it is not steady.
  returned: always
  type: str
steady:
  description: Whether the live service is steady (true when not checked).
  returned: always
  type: bool
problems:
  description: Why it is not steady.
  returned: always
  type: list
  elements: str
events:
  description: The live service's newest events (time and message), newest first.
  returned: always
  type: list
  elements: str
healthy_targets:
  description: Healthy targets in the live slot's target group.
  returned: when O(check_steady) is true
  type: int
launch_type:
  description: C(FARGATE), C(FARGATE_SPOT) or C(EC2), from the live service.
  returned: always
  type: str
task_cpu:
  description: CPU units one candidate task reserves.
  returned: always
  type: int
task_memory:
  description: MiB one candidate task reserves.
  returned: always
  type: int
tasks_needed:
  description: Tasks the deployment adds.
  returned: always
  type: int
capacity_ok:
  description: Whether every capacity check passed (true when not checked).
  returned: always
  type: bool
capacity:
  description: Each capacity check (C(fargate) or C(ec2), and C(cap)) with its figures, C(ok) and C(message).
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.progressive.delivery.plugins.module_utils import aws_reads as reads
from ansible_collections.progressive.delivery.plugins.module_utils import live_check
from ansible_collections.progressive.delivery.plugins.module_utils import slots as slotlib
from ansible_collections.progressive.delivery.plugins.module_utils.modules import (
    BotoCoreError, ClientError, ProgressiveDeliveryModule, jittered_backoff)


def main():
    module = ProgressiveDeliveryModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True), service=dict(type="str", required=True),
            target_group_arn=dict(type="str"), task_definition=dict(type="str"),
            candidate_desired_count=dict(type="int", default=0), candidate_running_count=dict(type="int", default=0),
            check_steady=dict(type="bool", default=True),
            check_capacity=dict(type="bool", default=True), max_cluster_tasks=dict(type="int", default=0),
            usage_window=dict(type="int", default=5),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["max_cluster_tasks"] < 0 or p["usage_window"] < 1 or p["candidate_desired_count"] < 0:
        module.fail_json(msg="max_cluster_tasks must be >= 0 (0 = no cap), usage_window >= 1 and candidate_desired_count >= 0; "
                             "got %s, %s, %s" % (p["max_cluster_tasks"], p["usage_window"], p["candidate_desired_count"]))
    ecs = module.client("ecs", retry_decorator=jittered_backoff())
    try:
        service = reads.active_service(ecs, p["cluster"], p["service"])
        if service is None:
            module.fail_json(msg="live service %s not found (ACTIVE) in cluster %s" % (p["service"], p["cluster"]))
        taskdef_ref = p["task_definition"] or service["taskDefinition"]
        taskdef = ecs.describe_task_definition(aws_retry=True, taskDefinition=taskdef_ref)["taskDefinition"]
        tg_arn = p["target_group_arn"] or next((lb.get("targetGroupArn") for lb in service.get("loadBalancers", [])
                                                if lb.get("targetGroupArn")), None)
        result = live_check.check(
            module, ecs, p["cluster"], service, taskdef, target_group_arn=tg_arn,
            target_group_name=slotlib.elb_dimension(tg_arn) if tg_arn else None,
            candidate_desired_count=p["candidate_desired_count"], candidate_running_count=p["candidate_running_count"],
            check_steady=p["check_steady"], check_capacity=p["check_capacity"],
            max_cluster_tasks=p["max_cluster_tasks"], usage_window=p["usage_window"])
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to check live service %s and capacity in cluster %s" % (p["service"], p["cluster"]))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
