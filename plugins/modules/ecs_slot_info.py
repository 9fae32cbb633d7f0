#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_slot_info
author: progressive.delivery maintainers (@progressive-delivery)
version_added: 0.1.0
short_description: Read where an ECS blue-green service stands - live slot, candidate slot, weights, revisions
description:
  - Reads, from AWS and nothing else, the two fixed slots C(a) and C(b) of a blue-green ECS application
    (services C(<app>-a) and C(<app>-b), one target group each) and the production listener that splits
    traffic between them.
  - Decides which slot is live (the one the listener sends all weight to), which is the candidate, how far
    a deployment of O(digest) has come (O(digest) on the candidate with part of the weight means resume
    there), and whether another deployment is in flight.
  - Exists because the same answer otherwise takes five info modules and Jinja to join them, and because
    a rerun after a crash must find where it stopped from AWS alone, not from a local file.
options:
  app:
    description: Application name; the slots default to services and target groups named C(<app>-a) and C(<app>-b).
    type: str
    required: true
  services:
    description: Service names per slot, when they are not C(<app>-a) / C(<app>-b).
    type: dict
    suboptions:
      a:
        description: Service of slot C(a).
        type: str
      b:
        description: Service of slot C(b).
        type: str
  target_groups:
    description: Target group names or ARNs per slot, when they are not C(<app>-a) / C(<app>-b).
    type: dict
    suboptions:
      a:
        description: Target group of slot C(a).
        type: str
      b:
        description: Target group of slot C(b).
        type: str
  listener_arn:
    description: ARN of the production listener. Either this or O(load_balancer) and O(listener_port).
    type: str
  load_balancer:
    description: Name or ARN of the application load balancer holding the production listener.
    type: str
  listener_port:
    description: Port of the production listener on O(load_balancer).
    type: int
  container_name:
    description: Container whose image tells which digest a slot runs. Defaults to the first container of the task definition.
    type: str
  digest:
    description:
      - The image digest (C(sha256:...)) a deployment is for. Without it the module only reports the live slot,
        unless O(lock_name) names a lock held for a digest.
    type: str
  lock_name:
    description:
      - SSM parameter of the deployment lock (see M(progressive.delivery.deploy_lock)). Its record is returned, and
        when O(digest) is not given the digest being deployed is taken from it - which is how a rollback finds the
        candidate of a deployment in flight.
    type: str
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  progressive.delivery.attributes, progressive.delivery.ecs]
"""

EXAMPLES = r"""
- name: Where does myapp stand for the digest we deploy?
  progressive.delivery.ecs_slot_info:
    cluster: prod-ecs-cluster
    app: myapp
    load_balancer: myapp-alb
    listener_port: 443
    container_name: myapp
    digest: "{{ image.digest }}"
  register: slots

- name: Nothing to do when the live slot already runs it
  ansible.builtin.debug:
    msg: "{{ slots.live_slot }} is live, candidate {{ slots.candidate_slot }} at {{ slots.candidate_percent }} %"
"""

RETURN = r"""
state:
  description:
    - C(at_rest) - one slot has all the weight and the other does not run O(digest); start a deployment.
    - C(in_progress) - the candidate runs O(digest); resume from RV(candidate_percent).
    - C(deployed) - the live slot already runs O(digest) with all the weight; nothing to do.
    - C(foreign_in_progress) - weight is split and no slot runs O(digest); another deployment is in flight.
  returned: always
  type: str
  sample: at_rest
live_slot:
  description: The slot that serves production (C(a) or C(b)).
  returned: always
  type: str
  sample: a
candidate_slot:
  description: The slot a deployment goes to.
  returned: always
  type: str
  sample: b
candidate_percent:
  description: Share of production traffic the candidate slot has now, 0-100.
  returned: always
  type: int
  sample: 0
percentages:
  description: Share of production traffic per slot.
  returned: always
  type: dict
  sample: {"a": 100, "b": 0}
weights:
  description: The listener's forward weights by target group ARN, as AWS holds them.
  returned: always
  type: dict
listener_arn:
  description: ARN of the production listener.
  returned: always
  type: str
load_balancer_arn:
  description: ARN of the load balancer.
  returned: always
  type: str
load_balancer_dns_name:
  description: DNS name of the load balancer.
  returned: always
  type: str
load_balancer_dimension:
  description: The C(LoadBalancer) dimension value CloudWatch uses for it (C(app/<name>/<id>)).
  returned: always
  type: str
slots:
  description: Per slot, its service and target group as AWS reports them.
  returned: always
  type: dict
  contains:
    service_name:
      description: ECS service name.
      type: str
    exists:
      description: Whether the service exists and is ACTIVE.
      type: bool
    task_definition:
      description: ARN of the task definition the service's PRIMARY deployment runs.
      type: str
    task_definition_revision:
      description: The same as C(family:revision).
      type: str
    image:
      description: Image of O(container_name) in that task definition.
      type: str
    digest:
      description: The digest in the image reference, when it is a digest reference.
      type: str
    task_role_arn:
      description: The task role of that task definition.
      type: str
    execution_role_arn:
      description: The execution role of that task definition.
      type: str
    desired_count:
      description: Desired task count.
      type: int
    running_count:
      description: Running task count.
      type: int
    target_group_arn:
      description: ARN of the slot's target group.
      type: str
    target_group_dimension:
      description: The C(TargetGroup) dimension value CloudWatch uses (C(targetgroup/<name>/<id>)).
      type: str
    tags:
      description: The service's tags.
      type: dict
lock:
  description: The deployment lock's record (execution id, owner, digest, expiry), empty when there is none.
  returned: when O(lock_name) is given
  type: dict
digest:
  description: The digest the state was judged for (O(digest), or the lock's).
  returned: always
  type: str
live:
  description: RV(slots) entry of the live slot.
  returned: always
  type: dict
candidate:
  description: RV(slots) entry of the candidate slot.
  returned: always
  type: dict
"""

from ansible_collections.progressive.delivery.plugins.module_utils import aws_reads as reads
from ansible_collections.progressive.delivery.plugins.module_utils import arns
from ansible_collections.progressive.delivery.plugins.module_utils.modules import (
    BotoCoreError, ClientError, ProgressiveDeliveryModule, jittered_backoff)
from ansible_collections.progressive.delivery.plugins.module_utils import deploy_lock as locklib
from ansible_collections.progressive.delivery.plugins.module_utils import ecr_image
from ansible_collections.progressive.delivery.plugins.module_utils import elbv2_lookup as lookup
from ansible_collections.progressive.delivery.plugins.module_utils import slots as slotlib


def resolve_listener(module, elbv2):
    params = module.params
    if params["listener_arn"]:
        listener = elbv2.describe_listeners(aws_retry=True, ListenerArns=[params["listener_arn"]])["Listeners"][0]
        lb = elbv2.describe_load_balancers(aws_retry=True, LoadBalancerArns=[listener["LoadBalancerArn"]])["LoadBalancers"][0]
        return lb, listener
    lb = lookup.find_load_balancer(module, elbv2, params["load_balancer"])
    return lb, lookup.find_listener(module, elbv2, lb, params["listener_port"])


def describe_slot_service(module, ecs, cluster, name, container_name):
    service = reads.active_service(ecs, cluster, name, include=["TAGS"])
    info = dict(service_name=name, exists=service is not None, task_definition=None,
                task_definition_revision=None, image=None, digest=None, desired_count=0, running_count=0,
                pending_count=0, rollout_state=None, tags={}, service_arn=None, load_balancers=[],
                task_role_arn=None, execution_role_arn=None)
    if not info["exists"]:
        return info
    primary = next((d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), None)
    taskdef_arn = (primary or {}).get("taskDefinition") or service.get("taskDefinition")
    info.update(service_arn=service["serviceArn"], task_definition=taskdef_arn,
                desired_count=service.get("desiredCount", 0), running_count=service.get("runningCount", 0),
                pending_count=service.get("pendingCount", 0), rollout_state=(primary or {}).get("rolloutState"),
                tags=dict((t["key"], t["value"]) for t in service.get("tags", [])),
                load_balancers=service.get("loadBalancers", []))
    if taskdef_arn:
        taskdef = ecs.describe_task_definition(aws_retry=True, taskDefinition=taskdef_arn)["taskDefinition"]
        info["task_definition_revision"] = "%s:%s" % (taskdef["family"], taskdef["revision"])
        info["task_role_arn"] = taskdef.get("taskRoleArn")
        info["execution_role_arn"] = taskdef.get("executionRoleArn")
        containers = taskdef.get("containerDefinitions", [])
        chosen = next((c for c in containers if c["name"] == container_name), None) if container_name else (containers or [None])[0]
        if container_name and chosen is None:
            module.fail_json(msg="service %s runs %s, which has no container named %r (it has: %s)"
                             % (name, info["task_definition_revision"], container_name, [c["name"] for c in containers]))
        if chosen:
            info["image"] = chosen.get("image")
            info["digest"] = slotlib.image_digest(chosen.get("image"))
    return info


def find_slot_target_group(module, elbv2, slot, ref):
    return lookup.find_target_group(module, elbv2, ref, msg=(
        "target group %r of slot %s not found: name the slots' services and target groups (services, target_groups; "
        "ecs_validate_slot_names in the roles), or turn a service that is not in slots yet into them with "
        "playbooks/ecs_adopt.yml" % (ref, slot)))


def main():
    slot_pair = dict(type="dict", options=dict(a=dict(type="str"), b=dict(type="str")))
    module = ProgressiveDeliveryModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True), app=dict(type="str", required=True),
            services=slot_pair, target_groups=slot_pair,
            # the production listener: its ARN, or load balancer + port
            listener_arn=dict(type="str"), load_balancer=dict(type="str"), listener_port=dict(type="int"),
            container_name=dict(type="str"), digest=dict(type="str"), lock_name=dict(type="str"),
        ),
        required_one_of=[["listener_arn", "load_balancer"]],
        mutually_exclusive=[["listener_arn", "load_balancer"]],
        required_together=[["load_balancer", "listener_port"]],
        supports_check_mode=True,
    )
    params = module.params
    digest = params["digest"]
    if digest and ecr_image.check_digest(digest):
        module.fail_json(msg="digest must look like sha256:<64 hex digits>, got %r" % digest)

    app = params["app"]
    service_names = dict((s, (params["services"] or {}).get(s) or "%s-%s" % (app, s)) for s in slotlib.SLOT_NAMES)
    tg_refs = dict((s, (params["target_groups"] or {}).get(s) or "%s-%s" % (app, s)) for s in slotlib.SLOT_NAMES)

    ecs = module.client("ecs", retry_decorator=jittered_backoff())
    elbv2 = module.client("elbv2", retry_decorator=jittered_backoff())
    lock = None
    try:
        if params["lock_name"]:
            ssm = module.client("ssm", retry_decorator=jittered_backoff())
            lock = locklib.LockStore(ssm, params["lock_name"], retry=True).read() or {}
            digest = digest or lock.get("digest")
        lb, listener = resolve_listener(module, elbv2)
        slots = {}
        for slot in slotlib.SLOT_NAMES:
            info = describe_slot_service(module, ecs, params["cluster"], service_names[slot], params["container_name"])
            tg = find_slot_target_group(module, elbv2, slot, tg_refs[slot])
            info.update(target_group_arn=tg["TargetGroupArn"], target_group_name=tg["TargetGroupName"],
                        target_group_dimension=arns.target_group_dimension(tg["TargetGroupArn"]))
            slots[slot] = info
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to read the blue-green state of %s in cluster %s" % (app, params["cluster"]))

    weights = slotlib.forward_weights(listener.get("DefaultActions"))
    unknown = [arn for arn, w in weights.items() if w > 0 and arn not in [s["target_group_arn"] for s in slots.values()]]
    if unknown:
        module.fail_json(msg="listener %s sends traffic to target groups outside the slots of %s: %s"
                         % (listener["ListenerArn"], app, unknown))
    percentages = slotlib.slot_percentages(weights, dict((s, i["target_group_arn"]) for s, i in slots.items()))
    decision = slotlib.slot_state(percentages, dict((s, i["digest"]) for s, i in slots.items()), digest)
    result = dict(changed=False, weights=weights, percentages=percentages, slots=slots,
                  listener_arn=listener["ListenerArn"], load_balancer_arn=lb["LoadBalancerArn"],
                  load_balancer_dns_name=lb.get("DNSName"),
                  load_balancer_dimension=arns.load_balancer_dimension(lb["LoadBalancerArn"]), **decision)
    result["digest"] = digest
    if lock is not None:
        result["lock"] = lock
    result["live"] = slots.get(decision["live_slot"]) or {}
    result["candidate"] = slots.get(decision["candidate_slot"]) or {}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
