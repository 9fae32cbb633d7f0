#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecs_rollout_wait
author: progressive.delivery maintainers (@progressive-delivery)
version_added: 0.1.0
short_description: Wait until an ECS service's new deployment is complete and its targets are healthy
description:
  - Polls the service's PRIMARY deployment until its C(rolloutState) is C(COMPLETED), all desired tasks run,
    no older deployment still runs tasks, and (with O(target_group)) the target group has at least
    O(min_healthy_targets) healthy targets - within a time budget.
  - On failure or timeout it fails with what an operator needs to act - the service's events since the wait
    began and the stopped tasks' reasons (e.g. failed ELB health checks, essential container exited).
  - Exists because M(community.aws.ecs_service) never waits for a deployment, and botocore's
    C(services_stable) waiter returns before load-balancer registration and early after a forced deployment.
options:
  service:
    description: ECS service name or ARN.
    type: str
    required: true
  task_definition:
    description: The task definition (C(family:revision) or ARN) the PRIMARY deployment must run; another one fails the wait.
    type: str
  target_group:
    description: Target group ARN (used as it is) or name (looked up) whose healthy targets are counted.
    type: str
  min_healthy_targets:
    description: Healthy targets needed in O(target_group). Defaults to the service's desired count.
    type: int
  timeout:
    description: Seconds to wait at most.
    type: int
    default: 600
  poll_interval:
    description: Seconds between looks.
    type: int
    default: 5
  max_stopped_tasks:
    description:
      - Fail early once this many tasks of the new deployment have stopped (tasks that keep dying). 0 disables.
      - Counted are tasks of the new revision started and stopped from 30 s before the wait on; tasks of an earlier
        attempt at the same revision (e.g. scaled down by its rollback just before) are not.
      - Stopped tasks are read only while the deployment counts failed tasks (C(failedTasks) above 0, or
        C(rolloutState) C(FAILED)) and at the last look. A rollout without failures costs one C(DescribeServices)
        per look, and one C(DescribeTargetHealth) per look once the service itself is done.
    type: int
    default: 3
attributes:
  check_mode:
    description: In check mode nothing was deployed, so it reports the current state without waiting.
extends_documentation_fragment: [amazon.aws.common.modules, amazon.aws.region.modules, amazon.aws.boto3,
  progressive.delivery.attributes, progressive.delivery.ecs]
"""

EXAMPLES = r"""
- name: Wait for the green slot to be steady and healthy
  progressive.delivery.ecs_rollout_wait:
    cluster: prod-ecs-cluster
    service: myapp-b
    task_definition: myapp:42
    target_group: myapp-b
    timeout: 900
"""

RETURN = r"""
status:
  description: C(done), or in check mode the state seen (C(waiting) / C(done) / C(failed)).
  returned: always
  type: str
reason:
  description: The last judgement in words.
  returned: always
  type: str
elapsed:
  description: Seconds waited.
  returned: always
  type: float
deployment:
  description: The PRIMARY deployment as AWS describes it (snake_case).
  returned: always
  type: dict
healthy_targets:
  description: Healthy targets counted in O(target_group).
  returned: when O(target_group) is given and the service itself was done (before, the targets are not read)
  type: int
events:
  description: Service events since the wait began.
  returned: always
  type: list
  elements: str
stopped_tasks:
  description: One line per task of the new deployment that stopped during the wait, with its reason.
  returned: always
  type: list
  elements: str
"""

import time

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.progressive.delivery.plugins.module_utils.modules import (
    BotoCoreError, ClientError, ProgressiveDeliveryModule, is_transient_error, jittered_backoff, poll_backoff)
from ansible_collections.progressive.delivery.plugins.module_utils import aws_reads as reads
from ansible_collections.progressive.delivery.plugins.module_utils import elbv2_lookup as lookup
from ansible_collections.progressive.delivery.plugins.module_utils import rollout


# A bound on the stopped tasks read per look (ECS keeps stopped tasks about an hour): 10 DescribeTasks calls at most.
MAX_STOPPED_TASKS_READ = 1000


def describe_service(module, ecs):
    p = module.params
    service = reads.active_service(ecs, p["cluster"], p["service"])
    if service is None:
        module.fail_json(msg="service %s not found (or not ACTIVE) in cluster %s" % (p["service"], p["cluster"]))
    return service


def stopped_tasks(ecs, cluster, service, task_definition_arn, since):
    """Tasks of the service's new revision that stopped after `since` (epoch seconds): every page of ListTasks,
    described 100 per call (DescribeTasks' limit; only the first 100 were read before)."""
    arns = reads.paginate(ecs, "list_tasks", "taskArns", max_items=MAX_STOPPED_TASKS_READ, cluster=cluster,
                          serviceName=service["serviceName"], desiredStatus="STOPPED")
    tasks = reads.describe_tasks(ecs, cluster, arns)
    return rollout.stopped_since(tasks, service["serviceName"], task_definition_arn, since, time.time())


def main():
    module = ProgressiveDeliveryModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True), service=dict(type="str", required=True),
            # what "done" means
            task_definition=dict(type="str"), target_group=dict(type="str"), min_healthy_targets=dict(type="int"),
            # how long
            timeout=dict(type="int", default=600), poll_interval=dict(type="int", default=5),
            max_stopped_tasks=dict(type="int", default=3),
        ),
        supports_check_mode=True,
    )
    p = module.params
    for name in ("timeout", "poll_interval"):
        if p[name] <= 0:
            module.fail_json(msg="%s must be positive, got %s" % (name, p[name]))
    ecs = module.client("ecs", retry_decorator=jittered_backoff())
    elbv2 = module.client("elbv2", retry_decorator=jittered_backoff())
    start = time.time()
    # Events and stopped tasks a little older than the wait still explain it (the update just happened).
    since = start - 30
    try:
        tg_arn = None
        if p["target_group"]:
            # An ARN (the plan's) is used as it is: only a name is looked up.
            tg_arn = p["target_group"] if p["target_group"].startswith("arn:") else \
                lookup.find_target_group(module, elbv2, p["target_group"])["TargetGroupArn"]
        max_stopped = p["max_stopped_tasks"] or None
        misses = 0
        while True:
            try:
                service = describe_service(module, ecs)
                primary = rollout.primary_deployment(service) or {}
                # Only what can change this look's answer is read: the targets once the service itself is done,
                # the stopped tasks once the deployment counts failed tasks (or when the wait gives up, to say why).
                healthy = reads.healthy_count(elbv2, tg_arn) if tg_arn and rollout.waits_on_health(service, p["task_definition"]) else None
                last_look = time.time() - start + p["poll_interval"] > p["timeout"]
                stopped = (stopped_tasks(ecs, p["cluster"], service, primary.get("taskDefinition"), since)
                           if rollout.has_failures(service) or last_look else [])
            except ClientError as e:
                # Throttled or 5xx even after the client's retries: skip this round, back off, poll again until the
                # timeout (the wait fails on the deadline, not on a busy API).
                delay = poll_backoff(misses, p["poll_interval"], p["timeout"] - (time.time() - start)) if is_transient_error(e) else None
                if delay is None:
                    raise
                misses += 1
                time.sleep(delay)
                continue
            misses = 0
            status, reason = rollout.judge(service, healthy, p["task_definition"], p["min_healthy_targets"], len(stopped), max_stopped)
            elapsed = time.time() - start
            result = dict(status=status, reason=reason, elapsed=round(elapsed, 1), deployment=camel_dict_to_snake_dict(primary),
                          events=rollout.recent_events(service, since), stopped_tasks=rollout.stopped_task_reasons(stopped))
            if healthy is not None:
                result["healthy_targets"] = healthy
            if module.check_mode or status == rollout.DONE:
                module.exit_json(changed=False, **result)
            if status == rollout.FAILED or last_look:
                why = reason if status == rollout.FAILED else "not done after %ds: %s" % (p["timeout"], reason)
                details = result["events"][-5:] + result["stopped_tasks"][-5:]
                module.fail_json(msg="service %s: %s%s" % (p["service"], why, (" | " + " | ".join(details)) if details else ""), **result)
            time.sleep(p["poll_interval"])
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to watch the rollout of service %s in cluster %s" % (p["service"], p["cluster"]))


if __name__ == "__main__":
    main()
