#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_hold
author: progressive.delivery maintainers (@progressive-delivery)
version_added: 0.2.0
short_description: Hold the old slot of a blue-green deployment warm, and scale it down once its hold has passed
description:
  - O(state=present) records a hold on a service (the old slot after a deployment reached 100 %) in its tags - until
    when, the task definition it runs, the production listener and its target group, the application's deployment
    lock. A hold already recorded for the same task definition is kept as it is, so a rerun does not extend it.
  - With O(scale_down) (and O(wait)), O(state=present) also ends the hold once it has passed, in the same run - the
    deployment's cleanup in one module run instead of two.
  - O(state=absent) looks at held services - O(services), or every service of O(cluster) that carries a hold - and
    for each one decides from AWS alone - its hold passed, it still runs the held task definition, it has no
    production traffic, and no deployment of the application is in flight (its lock) - then scales it to zero
    and drops the hold's tags. A held slot that serves traffic again (rolled back to) or runs another revision
    (reused by a later deployment) is never scaled down; only its void hold's tags are dropped. A hold not yet
    passed is left alone; nothing else is touched, so it is safe to run on a schedule.
options:
  state:
    description: C(present) records a hold on O(services); C(absent) ends the holds that have passed.
    type: str
    choices: [present, absent]
    default: absent
  services:
    description:
      - Service names. Exactly one for O(state=present). For O(state=absent), the services to look at; default every
        service of O(cluster) with a hold.
    type: list
    elements: str
  hold_seconds:
    description: How long the hold lasts from now (O(state=present)); C(0) makes it pass at once.
    type: int
    default: 1800
  execution_id:
    description: The deployment that starts the hold (O(state=present)).
    type: str
  listener_arn:
    description: Production listener (or listener rule) ARN whose weights tell whether the slot serves (O(state=present)).
    type: str
  target_group_arn:
    description: The held slot's target group ARN (O(state=present)).
    type: str
  lock_name:
    description: SSM parameter of the application's deployment lock (O(state=present)).
    type: str
  scale_down:
    description:
      - With O(state=absent), scale expired slots to zero; C(false) only reports what would be done. Default C(true).
      - With O(state=present), end the hold in the same run once it has passed - at once with O(hold_seconds=0), or
        after O(wait) - scaling the service to zero unless it serves production traffic again or runs another
        revision (read again after O(wait)), or while another execution than O(execution_id) holds the application's
        lock (O(lock_name)) - it may be deploying into this idle slot. A hold that
        passes at once is not written to the tags. Default C(false).
    type: bool
  wait:
    description:
      - With O(state=present), wait inside the module until the hold has passed (the old slot still running), then
        end it as O(scale_down) says. Not in check mode.
      - Before waiting, the deployment lock O(lock_name), when this O(execution_id) holds it, is renewed to outlast the
        wait by 5 minutes (never shortened) - a lock gone stale mid-hold could be broken by another run, which could
        deploy into the held slot. A lock that is not this execution's is left alone.
    type: bool
    default: false
  current:
    description:
      - With O(state=present), the service as it is known - an RV(progressive.delivery.ecs_slot_info#module:slots)
        entry (C(service_arn), C(task_definition), C(desired_count), C(tags)); given, the service is not described
        again.
    type: dict
attributes:
  check_mode:
    description: Reports what it would record or scale down, changing nothing.
  diff_mode:
    support: full
    description: Per service, its desired count and hold tags before and after.
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  progressive.delivery.attributes, progressive.delivery.ecs]
"""

EXAMPLES = r"""
- name: Keep the old slot warm for 30 minutes
  progressive.delivery.ecs_hold:
    cluster: prod-ecs-cluster
    services: [myapp-a]
    state: present
    hold_seconds: 1800
    execution_id: "{{ plan.execution_id }}"
    listener_arn: "{{ plan.listener_arn }}"
    target_group_arn: "{{ plan.live.target_group_arn }}"
    lock_name: "{{ plan.lock_name }}"

- name: Keep the old slot warm for 5 minutes, wait for it, then scale it down (the plan knows the service)
  progressive.delivery.ecs_hold:
    cluster: prod-ecs-cluster
    services: [myapp-a]
    current: "{{ plan.live }}"
    state: present
    hold_seconds: 300
    wait: true
    scale_down: true
    execution_id: "{{ plan.execution_id }}"
    listener_arn: "{{ plan.listener_arn }}"
    target_group_arn: "{{ plan.live.target_group_arn }}"

- name: Scale down every slot of the cluster whose hold has passed (safe on a schedule)
  progressive.delivery.ecs_hold:
    cluster: prod-ecs-cluster
    state: absent
"""

RETURN = r"""
holds:
  description: Per held service looked at, what was decided.
  returned: always
  type: list
  elements: dict
  contains:
    service:
      description: Service name.
      type: str
    decision:
      description:
        - C(expired) (scaled down), C(holding), C(serving), C(superseded), C(locked), C(done), or C(recorded)
          (O(state=present), the hold not ended in this run).
      type: str
    reason:
      description: Why, in words.
      type: str
    until:
      description: When the hold ends (ISO 8601 UTC).
      type: str
    remaining:
      description: Seconds of the hold still to go.
      type: int
    desired_count:
      description: The service's desired count before this run.
      type: int
    scaled_down:
      description: Whether it was (or in check mode would be) scaled to zero.
      type: bool
    task_definition:
      description: The task definition (C(family:revision)) the service runs.
      type: str
scaled_down:
  description: Names of the services scaled to zero.
  returned: always
  type: list
  elements: str
pending:
  description: Names of the services still held (hold not passed, or a deployment in flight).
  returned: always
  type: list
  elements: str
"""

import time

from ansible_collections.progressive.delivery.plugins.module_utils import aws_reads as reads
from ansible_collections.progressive.delivery.plugins.module_utils import arns
from ansible_collections.progressive.delivery.plugins.module_utils.modules import (
    BotoCoreError, ClientError, ProgressiveDeliveryModule, jittered_backoff)
from ansible_collections.progressive.delivery.plugins.module_utils import deploy_lock as locklib
from ansible_collections.progressive.delivery.plugins.module_utils import hold as holdlib
from ansible_collections.progressive.delivery.plugins.module_utils import slots as slotlib


def describe(ecs, cluster, names):
    return [s for s in reads.describe_services(ecs, cluster, names, include=["TAGS"]) if s.get("status") == "ACTIVE"]


def all_services(ecs, cluster):
    return [arns.last_segment(a) for a in reads.paginate(ecs, "list_services", "serviceArns", cluster=cluster)]


def tags_of(service):
    return dict((t["key"], t["value"]) for t in service.get("tags") or [])


def revision_of(service):
    primary = next((d for d in service.get("deployments") or [] if d.get("status") == "PRIMARY"), None)
    family, number = holdlib.revision_number((primary or {}).get("taskDefinition") or service["taskDefinition"])
    return "%s:%d" % (family, number)


def traffic_percent(elbv2, listener_arn, target_group_arn):
    if ":listener-rule/" in listener_arn:
        actions = elbv2.describe_rules(aws_retry=True, RuleArns=[listener_arn])["Rules"][0].get("Actions")
    else:
        actions = elbv2.describe_listeners(aws_retry=True, ListenerArns=[listener_arn])["Listeners"][0].get("DefaultActions")
    return slotlib.slot_percentages(slotlib.forward_weights(actions), {"held": target_group_arn})["held"]


def ssm_client(module):
    """SSM, where the deployment lock lives, retrying throttling too."""
    return module.client("ssm", retry_decorator=jittered_backoff(catch_extra_error_codes=["ThrottlingException"]))


def lock_held(ssm, name):
    return bool(name) and bool(locklib.LockStore(ssm, name, retry=True).read())


def known_service(name, current):
    """A describe_services-like entry of the service from the slot as the plan read it (ecs_slot_info's slots entry),
    None when it lacks its ARN, task definition or desired count."""
    current = current or {}
    if any(current.get(k) in (None, "") for k in ("service_arn", "task_definition", "desired_count")):
        return None
    return dict(serviceName=name, serviceArn=current["service_arn"], taskDefinition=current["task_definition"],
                desiredCount=int(current["desired_count"]), tags=[dict(key=k, value=v) for k, v in (current.get("tags") or {}).items()])


def keep_lock_for_wait(module, lock_name, execution_id, wait_seconds):
    """Renew this execution's deployment lock to outlast a wait (holdlib.lock_extension_seconds); a lock that is not
    this execution's is left alone. Refused renewal (taken over meanwhile): fail before waiting."""
    ssm = ssm_client(module)
    store = locklib.LockStore(ssm, lock_name, retry=True)
    ttl = holdlib.lock_extension_seconds(store.read(), execution_id, time.time(), wait_seconds)
    if ttl is None:
        return
    try:
        store.renew(execution_id, ttl)
    except locklib.LockRefused as e:
        module.fail_json(msg="cannot keep the deployment lock through the hold: %s" % e.msg)


def end_hold(module, ecs, service, decision, tag_keys):
    """Scale an expired hold's service to zero and drop the hold's tags (`tag_keys`); only the tags of a void hold."""
    if module.check_mode:
        return
    if decision == holdlib.EXPIRED:
        ecs.update_service(aws_retry=True, cluster=module.params["cluster"], service=service["serviceName"], desiredCount=0)
    if tag_keys:
        ecs.untag_resource(aws_retry=True, resourceArn=service["serviceArn"], tagKeys=list(tag_keys))


def record(module, ecs):
    p = module.params
    if not p["services"] or len(p["services"]) != 1 or not p["execution_id"] or not p["listener_arn"] or not p["target_group_arn"]:
        module.fail_json(msg="state=present needs exactly one service in services, and execution_id, listener_arn and target_group_arn")
    if p["hold_seconds"] < 0:
        module.fail_json(msg="hold_seconds must be >= 0, got %d" % p["hold_seconds"])
    service = known_service(p["services"][0], p["current"])
    if service is None:
        found = describe(ecs, p["cluster"], p["services"])
        if not found:
            module.fail_json(msg="service %s not found (ACTIVE) in cluster %s" % (p["services"][0], p["cluster"]))
        service = found[0]
    name = service["serviceName"]
    before = tags_of(service)
    now = time.time()
    wanted = holdlib.hold_tags(now, p["hold_seconds"], p["execution_id"], revision_of(service), p["listener_arn"],
                               p["target_group_arn"], p["lock_name"], existing=before)
    hold = holdlib.parse(wanted)
    scale_down = bool(p["scale_down"])
    changed = any(before.get(k) != v for k, v in wanted.items())
    # A hold that has passed already and ends here (scale_down) is not written only to be dropped.
    remaining = holdlib.remaining(hold, now)
    write_tags = changed and not (scale_down and remaining == 0)
    waits = p["wait"] and remaining > 0 and not module.check_mode
    if waits and p["lock_name"]:
        keep_lock_for_wait(module, p["lock_name"], p["execution_id"], remaining + 1)
    if write_tags and not module.check_mode:
        ecs.tag_resource(aws_retry=True, resourceArn=service["serviceArn"], tags=[{"key": k, "value": v} for k, v in sorted(wanted.items())])
    entry = dict(service=name, decision="recorded", until=hold["until"], remaining=remaining,
                 desired_count=service.get("desiredCount", 0), scaled_down=False, task_definition=hold["task_definition"],
                 reason="held until %s" % hold["until"] + ("" if changed else " (recorded before, kept)"))
    diff = dict(before={name: dict((k, before.get(k)) for k in holdlib.HOLD_TAGS if before.get(k))}, after={name: wanted})
    if waits:
        time.sleep(remaining + 1)
        now = time.time()
        # Another run may have started deploying into this (idle) slot meanwhile: read it again.
        found = describe(ecs, p["cluster"], [name])
        service = found[0] if found else dict(service, desiredCount=0)
    if scale_down and holdlib.remaining(hold, now) == 0:
        # Not while another run holds the application's lock (it may be deploying into this idle slot; this
        # execution's own lock is not in the way), nor when the slot serves production traffic again.
        others_lock = False
        if p["lock_name"]:
            ssm = ssm_client(module)
            holder = locklib.LockStore(ssm, p["lock_name"], retry=True).read()
            others_lock = bool(holder) and holder.get("execution_id") != p["execution_id"]
        elbv2 = module.client("elbv2", retry_decorator=jittered_backoff())
        percent = traffic_percent(elbv2, p["listener_arn"], p["target_group_arn"])
        decision, reason = holdlib.decide(hold, now, service.get("desiredCount", 0), revision_of(service), percent,
                                          others_lock)
        held_keys = [k for k in holdlib.HOLD_TAGS if k in before or (write_tags and k in wanted)]
        if decision not in (holdlib.HOLDING, holdlib.LOCKED):
            end_hold(module, ecs, service, decision, held_keys)
            changed = changed or decision == holdlib.EXPIRED or bool(held_keys)
            diff["after"] = {name: {}}
            if decision == holdlib.EXPIRED:
                diff["before"][name]["desired_count"] = service.get("desiredCount", 0)
                diff["after"][name]["desired_count"] = 0
        entry.update(decision=decision, reason=reason, remaining=holdlib.remaining(hold, now),
                     scaled_down=decision == holdlib.EXPIRED)
    scaled = [name] if entry["scaled_down"] else []
    pending = [name] if entry["decision"] in ("recorded", holdlib.HOLDING, holdlib.LOCKED) else []
    module.exit_json(changed=changed, holds=[entry], scaled_down=scaled, pending=pending, diff=diff)


def release(module, ecs):
    p = module.params
    names = p["services"] or all_services(ecs, p["cluster"])
    services = [s for s in describe(ecs, p["cluster"], names) if holdlib.parse(tags_of(s))]
    elbv2 = module.client("elbv2", retry_decorator=jittered_backoff())
    ssm = ssm_client(module)
    holds, scaled, pending, before, after = [], [], [], {}, {}
    changed = False
    now = time.time()
    for service in services:
        name = service["serviceName"]
        tags = tags_of(service)
        hold = holdlib.parse(tags)
        percent = 0
        if hold["listener_arn"] and hold["target_group_arn"]:
            percent = traffic_percent(elbv2, hold["listener_arn"], hold["target_group_arn"])
        decision, reason = holdlib.decide(hold, now, service.get("desiredCount", 0), revision_of(service), percent,
                                          lock_held(ssm, hold["lock_name"]))
        entry = dict(service=name, decision=decision, reason=reason, until=hold["until"], remaining=holdlib.remaining(hold, now),
                     desired_count=service.get("desiredCount", 0), scaled_down=False, task_definition=revision_of(service))
        held_tags = [k for k in holdlib.HOLD_TAGS if k in tags]
        if decision in (holdlib.HOLDING, holdlib.LOCKED) or (decision == holdlib.EXPIRED and not p["scale_down"]):
            pending.append(name)
        else:
            before[name] = dict(desired_count=service.get("desiredCount", 0), hold=dict((k, tags[k]) for k in held_tags))
            after[name] = dict(desired_count=0 if decision == holdlib.EXPIRED else service.get("desiredCount", 0), hold={})
            changed = True
            if decision == holdlib.EXPIRED:
                entry["scaled_down"] = True
                scaled.append(name)
            if not module.check_mode:
                if decision == holdlib.EXPIRED:
                    ecs.update_service(aws_retry=True, cluster=p["cluster"], service=name, desiredCount=0)
                ecs.untag_resource(aws_retry=True, resourceArn=service["serviceArn"], tagKeys=held_tags)
        holds.append(entry)
    module.exit_json(changed=changed, holds=holds, scaled_down=scaled, pending=pending, diff=dict(before=before, after=after))


def main():
    module = ProgressiveDeliveryModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="absent"),
            services=dict(type="list", elements="str"),
            hold_seconds=dict(type="int", default=1800),
            execution_id=dict(type="str"),
            listener_arn=dict(type="str"),
            target_group_arn=dict(type="str"),
            lock_name=dict(type="str"),
            scale_down=dict(type="bool"),
            wait=dict(type="bool", default=False),
            current=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    if module.params["scale_down"] is None:
        module.params["scale_down"] = module.params["state"] == "absent"
    if module.params["state"] == "absent" and (module.params["wait"] or module.params["current"]):
        module.fail_json(msg="wait and current go with state=present only")
    ecs = module.client("ecs", retry_decorator=jittered_backoff(catch_extra_error_codes=["ThrottlingException"]))
    try:
        if module.params["state"] == "present":
            record(module, ecs)
        else:
            release(module, ecs)
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to %s holds in cluster %s"
                             % ("record" if module.params["state"] == "present" else "end", module.params["cluster"]))


if __name__ == "__main__":
    main()
