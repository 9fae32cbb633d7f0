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
  test_listener_port:
    description:
      - Port of the test listener on the same load balancer; its ARN is returned as RV(test_listener_arn), read with
        the production listener (no extra call).
    type: int
  check_steady:
    description:
      - Judge whether the live slot's service is steady (rollout COMPLETED, running = desired, at least desired healthy
        targets), as M(progressive.delivery.ecs_live_check) does, from the service already read plus its target health.
        Skipped when the state is C(deployed) or the live service does not exist. See RV(live_check).
    type: bool
    default: false
  check_capacity:
    description:
      - Judge whether the account has room for the candidate's tasks (the candidate slot's desired count, at least
        live's), as M(progressive.delivery.ecs_live_check) does. Skipped like O(check_steady).
    type: bool
    default: false
  max_cluster_tasks:
    description: With O(check_capacity), a cap on the cluster's tasks (running + pending + the candidate's); 0 = none.
    type: int
    default: 0
  usage_window:
    description: With O(check_capacity) on Fargate, minutes of the usage metric to take the highest value of.
    type: int
    default: 5
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
    target_group_name:
      description: Name of the slot's target group.
      type: str
    target_group_dimension:
      description: The C(TargetGroup) dimension value CloudWatch uses (C(targetgroup/<name>/<id>)).
      type: str
    target_group_health_check:
      description:
        - The target group's health check as DescribeTargetGroups gives it, snake_cased - C(health_check_enabled),
          C(health_check_protocol), C(health_check_path), C(health_check_port), C(health_check_interval_seconds),
          C(health_check_timeout_seconds), C(healthy_threshold_count), C(unhealthy_threshold_count), C(matcher)
          (C(http_code) / C(grpc_code)) - so later phases need not describe the target group again.
      type: dict
    tags:
      description: The service's tags.
      type: dict
test_listener_arn:
  description: ARN of the test listener on O(test_listener_port); null when the load balancer has none there.
  returned: when O(test_listener_port) is given
  type: str
live_check:
  description:
    - The live service's steadiness and the account's capacity for the candidate, as
      M(progressive.delivery.ecs_live_check) returns them (C(ok), C(message), C(steady), C(problems), C(events),
      C(capacity), C(capacity_ok), C(launch_type), C(tasks_needed), C(healthy_targets)).
    - C(ok=true) and C(skipped=true) when the state is C(deployed) or there is no live service to judge.
  returned: when O(check_steady) or O(check_capacity)
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

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.progressive.delivery.plugins.module_utils import aws_reads as reads
from ansible_collections.progressive.delivery.plugins.module_utils import live_check as livelib
from ansible_collections.progressive.delivery.plugins.module_utils.modules import (
    BotoCoreError, ClientError, ProgressiveDeliveryModule, jittered_backoff)
from ansible_collections.progressive.delivery.plugins.module_utils import deploy_lock as locklib
from ansible_collections.progressive.delivery.plugins.module_utils import ecr_image
from ansible_collections.progressive.delivery.plugins.module_utils import elbv2_lookup as lookup
from ansible_collections.progressive.delivery.plugins.module_utils import slots as slotlib


def resolve_listeners(module, elbv2):
    """(load balancer, production listener, test listener or None) - the load balancer's listeners read once."""
    params = module.params
    if params["listener_arn"]:
        listener = elbv2.describe_listeners(aws_retry=True, ListenerArns=[params["listener_arn"]])["Listeners"][0]
        lb = elbv2.describe_load_balancers(aws_retry=True, LoadBalancerArns=[listener["LoadBalancerArn"]])["LoadBalancers"][0]
        if params["test_listener_port"] is None:
            return lb, listener, None
        port = listener["Port"]
    else:
        lb = lookup.find_load_balancer(module, elbv2, params["load_balancer"])
        port = params["listener_port"]
    listeners = reads.paginate(elbv2, "describe_listeners", "Listeners", LoadBalancerArn=lb["LoadBalancerArn"])
    listener = next((li for li in listeners if li["Port"] == port), None)
    if listener is None:
        module.fail_json(msg="load balancer %s has no listener on port %s (it has: %s)"
                         % (lb["LoadBalancerName"], port, sorted(li["Port"] for li in listeners)))
    test = next((li for li in listeners if li["Port"] == params["test_listener_port"]), None)
    return lb, listener, test


def describe_slot_service(module, ecs, name, container_name, service, taskdefs):
    """The slot's entry from its describe_services entry (`service`, None when it is not ACTIVE); the task definition
    read is kept in `taskdefs` by ARN."""
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
        taskdefs[taskdef_arn] = taskdef
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


def find_slot_target_groups(module, elbv2, tg_refs):
    """{slot: target group} - in one call when the slots name both the same way (names, or ARNs)."""
    refs = [tg_refs[s] for s in slotlib.SLOT_NAMES]
    kinds = set(r.startswith("arn:") for r in refs)
    if len(kinds) == 1 and len(set(refs)) == len(refs):
        key = "TargetGroupArns" if kinds.pop() else "Names"
        try:
            found = elbv2.describe_target_groups(aws_retry=True, **{key: refs})["TargetGroups"]
        except is_boto3_error_code("TargetGroupNotFound"):
            found = []
        by_ref = dict((tg["TargetGroupArn"], tg) for tg in found)
        by_ref.update((tg["TargetGroupName"], tg) for tg in found)
        if all(r in by_ref for r in refs):
            return dict((s, by_ref[tg_refs[s]]) for s in slotlib.SLOT_NAMES)
    return dict((slot, lookup.find_target_group(module, elbv2, tg_refs[slot], msg=(
        "target group %r of slot %s not found: name the slots' services and target groups (services, target_groups; "
        "ecs_validate_slot_names in the roles), or turn a service that is not in slots yet into them with "
        "playbooks/ecs_adopt.yml" % (tg_refs[slot], slot)))) for slot in slotlib.SLOT_NAMES)


def main():
    slot_pair = dict(type="dict", options=dict(a=dict(type="str"), b=dict(type="str")))
    module = ProgressiveDeliveryModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True), app=dict(type="str", required=True),
            services=slot_pair, target_groups=slot_pair,
            # the production listener: its ARN, or load balancer + port
            listener_arn=dict(type="str"), load_balancer=dict(type="str"), listener_port=dict(type="int"),
            container_name=dict(type="str"), digest=dict(type="str"), lock_name=dict(type="str"),
            test_listener_port=dict(type="int"),
            check_steady=dict(type="bool", default=False), check_capacity=dict(type="bool", default=False),
            max_cluster_tasks=dict(type="int", default=0), usage_window=dict(type="int", default=5),
        ),
        required_one_of=[["listener_arn", "load_balancer"]],
        mutually_exclusive=[["listener_arn", "load_balancer"]],
        required_together=[["load_balancer", "listener_port"]],
        supports_check_mode=True,
    )
    params = module.params
    if params["max_cluster_tasks"] < 0 or params["usage_window"] < 1:
        module.fail_json(msg="max_cluster_tasks must be >= 0 (0 = no cap) and usage_window >= 1; got %s, %s"
                             % (params["max_cluster_tasks"], params["usage_window"]))
    digest = params["digest"]
    if digest and ecr_image.check_digest(digest):
        module.fail_json(msg="digest must look like sha256:<64 hex digits>, got %r" % digest)

    app = params["app"]
    service_names = dict((s, (params["services"] or {}).get(s) or "%s-%s" % (app, s)) for s in slotlib.SLOT_NAMES)
    tg_refs = dict((s, (params["target_groups"] or {}).get(s) or "%s-%s" % (app, s)) for s in slotlib.SLOT_NAMES)

    ecs = module.client("ecs", retry_decorator=jittered_backoff())
    elbv2 = module.client("elbv2", retry_decorator=jittered_backoff())
    lock = None
    taskdefs, described = {}, {}
    try:
        if params["lock_name"]:
            ssm = module.client("ssm", retry_decorator=jittered_backoff())
            lock = locklib.LockStore(ssm, params["lock_name"], retry=True).read() or {}
            digest = digest or lock.get("digest")
        lb, listener, test_listener = resolve_listeners(module, elbv2)
        # both services in one DescribeServices call, both target groups in one DescribeTargetGroups call
        for service in reads.describe_services(ecs, params["cluster"], [service_names[s] for s in slotlib.SLOT_NAMES],
                                               include=["TAGS"]):
            if service.get("status") == "ACTIVE":      # by name and by ARN, as the slots may name them
                described[service["serviceName"]] = described[service["serviceArn"]] = service
        target_groups = find_slot_target_groups(module, elbv2, tg_refs)
        slots = {}
        for slot in slotlib.SLOT_NAMES:
            info = describe_slot_service(module, ecs, service_names[slot], params["container_name"],
                                         described.get(service_names[slot]), taskdefs)
            tg = target_groups[slot]
            info.update(target_group_arn=tg["TargetGroupArn"], target_group_name=tg["TargetGroupName"],
                        target_group_dimension=slotlib.elb_dimension(tg["TargetGroupArn"]),
                        target_group_health_check=slotlib.health_check(tg))
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
                  load_balancer_dimension=slotlib.elb_dimension(lb["LoadBalancerArn"]), **decision)
    result["digest"] = digest
    if lock is not None:
        result["lock"] = lock
    result["live"] = slots.get(decision["live_slot"]) or {}
    result["candidate"] = slots.get(decision["candidate_slot"]) or {}
    if params["test_listener_port"] is not None:
        result["test_listener_arn"] = (test_listener or {}).get("ListenerArn")
    if params["check_steady"] or params["check_capacity"]:
        result["live_check"] = judge_live(module, ecs, result, described, taskdefs)
    module.exit_json(**result)


def judge_live(module, ecs, result, described, taskdefs):
    """ecs_live_check's answer for the live slot, from the service and task definition already read."""
    params = module.params
    live, candidate = result["live"], result["candidate"]
    if result["state"] == slotlib.DEPLOYED or not live.get("exists") or live.get("task_definition") not in taskdefs:
        return dict(ok=True, skipped=True, message="")
    try:
        return livelib.check(
            module, ecs, params["cluster"], described[live["service_name"]], taskdefs[live["task_definition"]],
            target_group_arn=live["target_group_arn"], target_group_name=live["target_group_dimension"],
            candidate_desired_count=candidate.get("desired_count") or 0,
            candidate_running_count=candidate.get("running_count") or 0,
            check_steady=params["check_steady"], check_capacity=params["check_capacity"],
            max_cluster_tasks=params["max_cluster_tasks"], usage_window=params["usage_window"])
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to check live service %s and capacity in cluster %s"
                                    % (live["service_name"], params["cluster"]))


if __name__ == "__main__":
    main()
