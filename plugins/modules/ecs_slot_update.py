#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_slot_update
author: progressive.delivery maintainers (@progressive-delivery)
version_added: 0.3.0
short_description: Update one blue-green slot - its target group's health check, its service's tags, revision and count
description:
  - Makes one slot of a blue-green pair what a deployment step needs, in this order - the health check of its target
    group (O(target_group_arn), O(health_check)), the tags of its service (O(tags), added or changed, never removed),
    then its service's task definition and desired count (O(task_definition), O(desired_count)). Only what differs
    is written.
  - What the slot is now is taken from O(current) - the slot as M(progressive.delivery.ecs_slot_info) read it during
    validation (its RV(progressive.delivery.ecs_slot_info#module:slots) entry) - so nothing is looked up again. Without
    O(current) (or when it lacks the service's ARN, task definition or desired count) the service is described; without
    a health check in O(current) the target group is described (one call each).
  - The service and the target group are read back from the responses of C(UpdateService) and C(ModifyTargetGroup),
    and the module fails when they do not show the change.
  - Why this module and not M(community.aws.ecs_service) with M(community.aws.ecs_tag) and
    M(community.aws.elb_target_group) - those read the service and the target group again by name before each
    write (C(DescribeServices), C(ListTagsForResource), C(DescribeTargetGroups), C(DescribeTargetGroupAttributes),
    C(DescribeTags)) and take four module runs; this one makes the writes only, one to three calls in one run.
  - It never creates or deletes a service or a target group, and never waits for the rollout (see
    M(progressive.delivery.ecs_rollout_wait)).
options:
  service:
    description: Name of the slot's ECS service.
    type: str
    required: true
  task_definition:
    description: The task definition (C(family:revision) or ARN) the service is to run.
    type: str
  desired_count:
    description: The service's desired count.
    type: int
  tags:
    description: Tags to set on the service (added or changed; other tags are kept).
    type: dict
  target_group_arn:
    description: ARN of the slot's target group (needed with O(health_check)).
    type: str
  health_check:
    description: The target group's health check. Only the keys given are compared and set.
    type: dict
    suboptions:
      protocol:
        description: C(HTTP) or C(HTTPS).
        type: str
      port:
        description: Port, or C(traffic-port).
        type: str
      path:
        description: Path, starting with C(/).
        type: str
      interval:
        description: Seconds between checks, 5-300.
        type: int
      timeout:
        description: Seconds before a check fails, 2-120, less than O(health_check.interval).
        type: int
      healthy_threshold:
        description: Successes before a target is healthy, 2-10.
        type: int
      unhealthy_threshold:
        description: Failures before a target is unhealthy, 2-10.
        type: int
      matcher:
        description: HTTP codes a healthy target answers with (for example C(200) or C(200-299)).
        type: str
  current:
    description:
      - The slot as it is known - an RV(progressive.delivery.ecs_slot_info#module:slots) entry (C(service_arn),
        C(task_definition), C(desired_count), C(tags), and C(target_group_health_check) when it has one). Not read
        again when given.
    type: dict
attributes:
  check_mode:
    description: Reports what it would change (from O(current) or a read), writing nothing.
  diff_mode:
    support: full
    description: The health check, the tags and the service's revision and count, before and after.
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  progressive.delivery.attributes, progressive.delivery.ecs]
notes:
  - Permissions - C(ecs:UpdateService), C(ecs:TagResource), C(elasticloadbalancing:ModifyTargetGroup); without
    O(current), C(ecs:DescribeServices) and C(elasticloadbalancing:DescribeTargetGroups).
"""

EXAMPLES = r"""
- name: Run the new revision on the candidate slot at the live count
  progressive.delivery.ecs_slot_update:
    cluster: "{{ plan.cluster }}"
    service: "{{ plan.candidate.service_name }}"
    current: "{{ plan.candidate }}"
    task_definition: myapp:43
    desired_count: "{{ plan.desired_count }}"
    tags:
      progressive.delivery/execution-id: "{{ plan.execution_id }}"
    target_group_arn: "{{ plan.candidate.target_group_arn }}"
    health_check: {path: /health, interval: 30, timeout: 5, healthy_threshold: 3, unhealthy_threshold: 3}

- name: Scale a slot down
  progressive.delivery.ecs_slot_update:
    cluster: prod-ecs-cluster
    service: myapp-b
    desired_count: 0
"""

RETURN = r"""
updated:
  description: What was (in check mode, would be) written - C(health_check), C(tags), C(service).
  returned: always
  type: list
  elements: str
  sample: [tags, service]
service:
  description: The service after the update (read back from C(UpdateService); as known when nothing was written).
  returned: always
  type: dict
  contains:
    service_arn:
      description: Its ARN.
      type: str
    task_definition:
      description: The task definition it runs (ARN, or as given in check mode).
      type: str
    desired_count:
      description: Its desired count.
      type: int
health_check:
  description: The target group's health check after the update, in the short keys of O(health_check).
  returned: when O(health_check) is given
  type: dict
tags_set:
  description: The tags written (or in check mode, that would be).
  returned: always
  type: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list

from ansible_collections.progressive.delivery.plugins.module_utils import aws_reads as reads
from ansible_collections.progressive.delivery.plugins.module_utils.modules import (
    BotoCoreError, ClientError, ProgressiveDeliveryModule, jittered_backoff)
from ansible_collections.progressive.delivery.plugins.module_utils import slot_update as lib


def read_service(module, ecs):
    p = module.params
    known = lib.known_service(p["current"])
    if known is not None:
        return known
    service = reads.active_service(ecs, p["cluster"], p["service"], include=["TAGS"])
    if service is None:
        module.fail_json(msg="service %s not found (ACTIVE) in cluster %s; nothing was changed" % (p["service"], p["cluster"]))
    return dict(service_arn=service["serviceArn"], task_definition=service.get("taskDefinition"),
                desired_count=service.get("desiredCount", 0), tags=dict((t["key"], t["value"]) for t in service.get("tags") or []))


def read_health_check(module, elbv2):
    known = (module.params["current"] or {}).get("target_group_health_check")
    if known:
        return lib.normalize_health_check(known)
    found = elbv2.describe_target_groups(aws_retry=True, TargetGroupArns=[module.params["target_group_arn"]])["TargetGroups"]
    return lib.normalize_health_check(found[0])


def main():
    hc_options = dict(protocol=dict(type="str"), port=dict(type="str"), path=dict(type="str"), interval=dict(type="int"),
                      timeout=dict(type="int"), healthy_threshold=dict(type="int"), unhealthy_threshold=dict(type="int"),
                      matcher=dict(type="str"))
    module = ProgressiveDeliveryModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True), service=dict(type="str", required=True),
            task_definition=dict(type="str"), desired_count=dict(type="int"), tags=dict(type="dict"),
            target_group_arn=dict(type="str"), health_check=dict(type="dict", options=hc_options),
            current=dict(type="dict"),
        ),
        required_by={"health_check": ["target_group_arn"]},
        supports_check_mode=True,
    )
    p = module.params
    wanted_hc = lib.normalize_health_check(p["health_check"]) if p["health_check"] else None
    problems = lib.health_check_problems(wanted_hc or {})
    if p["desired_count"] is not None and p["desired_count"] < 0:
        problems.append("desired_count must be 0 or more, got %s" % p["desired_count"])
    if p["target_group_arn"] and not p["target_group_arn"].startswith("arn:"):
        problems.append("target_group_arn must be an ARN, got %r" % p["target_group_arn"])
    if problems:
        module.fail_json(msg="; ".join(problems) + "; nothing was changed")

    ecs = module.client("ecs", retry_decorator=jittered_backoff())
    updated, done, before, after = [], [], {}, {}
    result = dict(tags_set={})
    try:
        service = read_service(module, ecs)
        if wanted_hc:
            elbv2 = module.client("elbv2", retry_decorator=jittered_backoff())
            have_hc = read_health_check(module, elbv2)
            hc_changes = lib.health_check_changes(have_hc, wanted_hc)
            after_hc = dict(have_hc, **wanted_hc)
            if hc_changes:
                updated.append("health_check")
                before["health_check"], after["health_check"] = have_hc, after_hc
                if not module.check_mode:
                    written = elbv2.modify_target_group(aws_retry=True, TargetGroupArn=p["target_group_arn"], **hc_changes)
                    done.append("health_check")
                    after_hc = lib.normalize_health_check(written["TargetGroups"][0])
                    left = lib.health_check_changes(after_hc, wanted_hc)
                    if left:
                        module.fail_json(msg="target group %s was modified but reads back without %s" % (p["target_group_arn"], left),
                                         changed=True, updated=updated)
            result["health_check"] = after_hc

        tags = lib.tags_to_set(service["tags"], p["tags"])
        if tags:
            updated.append("tags")
            before["tags"] = dict((k, service["tags"].get(k)) for k in tags)
            after["tags"] = tags
            result["tags_set"] = tags
            if not module.check_mode:
                ecs.tag_resource(aws_retry=True, resourceArn=service["service_arn"], tags=ansible_dict_to_boto3_tag_list(tags, "key", "value"))
                done.append("tags")

        changes = lib.service_changes(service, p["task_definition"], p["desired_count"])
        now = dict(service_arn=service["service_arn"], task_definition=service["task_definition"], desired_count=service["desired_count"])
        if changes:
            updated.append("service")
            before["service"] = dict(task_definition=service["task_definition"], desired_count=service["desired_count"])
            now.update(task_definition=changes.get("taskDefinition", now["task_definition"]),
                       desired_count=changes.get("desiredCount", now["desired_count"]))
            if not module.check_mode:
                written = ecs.update_service(aws_retry=True, cluster=p["cluster"], service=p["service"], **changes)["service"]
                done.append("service")
                wrong = lib.service_problems(written, changes)
                if wrong:
                    module.fail_json(msg="service %s was updated but reads back wrong: %s" % (p["service"], "; ".join(wrong)),
                                     changed=True, updated=updated)
                now.update(task_definition=written.get("taskDefinition"), desired_count=written.get("desiredCount"))
            after["service"] = dict(task_definition=now["task_definition"], desired_count=now["desired_count"])
        result["service"] = now
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to update slot %s in cluster %s (done before the failure: %s)"
                             % (p["service"], p["cluster"], done or "nothing"))
    module.exit_json(changed=bool(updated), updated=updated, diff=dict(before=before, after=after), **result)


if __name__ == "__main__":
    main()
