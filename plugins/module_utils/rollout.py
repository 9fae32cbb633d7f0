# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is an ECS service's rollout done? Pure judgement of one look at the service and its targets.

botocore's services_stable waiter returns before load-balancer registration and early after a
forced deployment (FINDINGS), so the PRIMARY deployment's rolloutState and the target group's
healthy count decide instead.
"""

from ansible_collections.progressive.delivery.plugins.module_utils import arns

WAITING = "waiting"
DONE = "done"
FAILED = "failed"


def primary_deployment(service):
    return next((d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), None)


def judge(service, healthy_targets, expected_task_definition=None, min_healthy=None, stopped_failures=0, max_stopped=None):
    """(status, reason) for one look.

    healthy_targets: healthy targets in the service's target group (None = no target group to check).
    stopped_failures: tasks of the PRIMARY deployment that stopped since the wait began.
    """
    primary = primary_deployment(service)
    if primary is None:
        return WAITING, "service has no PRIMARY deployment yet"
    if expected_task_definition and not _same_taskdef(primary.get("taskDefinition"), expected_task_definition):
        return FAILED, "PRIMARY deployment runs %s, not %s" % (primary.get("taskDefinition"), expected_task_definition)
    desired = service.get("desiredCount", 0)
    if primary.get("rolloutState") == "FAILED":
        return FAILED, "deployment %s failed: %s" % (primary.get("id"), primary.get("rolloutStateReason") or "no reason given")
    if max_stopped is not None and stopped_failures >= max_stopped:
        return FAILED, "%d tasks of the new deployment stopped (limit %d)" % (stopped_failures, max_stopped)
    others = [d for d in service.get("deployments", []) if d is not primary and d.get("runningCount", 0) > 0]
    if primary.get("rolloutState") not in (None, "COMPLETED"):
        return WAITING, "rollout %s: %d/%d running" % (primary.get("rolloutState"), primary.get("runningCount", 0), desired)
    if primary.get("runningCount", 0) < desired or others:
        return WAITING, "%d/%d tasks running, %d old deployment(s) still running" % (primary.get("runningCount", 0), desired, len(others))
    want = desired if min_healthy is None else min_healthy
    if healthy_targets is not None and healthy_targets < want:
        return WAITING, "%d/%d targets healthy" % (healthy_targets, want)
    return DONE, "deployment %s completed: %d tasks running, %s healthy targets" % (
        primary.get("id"), primary.get("runningCount", 0), "n/a" if healthy_targets is None else healthy_targets)


def has_failures(service):
    """Whether the PRIMARY deployment counts failed tasks (ECS's failedTasks: tasks that did not reach RUNNING or
    failed their health checks) or failed as a whole: only then are its stopped tasks worth reading."""
    primary = primary_deployment(service) or {}
    return primary.get("failedTasks", 0) > 0 or primary.get("rolloutState") == "FAILED"


def waits_on_health(service, expected_task_definition=None):
    """Whether the service itself is done, so that only the target group's health can still say "not yet": the
    health is read only then (before, the judgement does not depend on it)."""
    return judge(service, None, expected_task_definition)[0] == DONE


def _same_taskdef(arn_or_name, expected):
    """`arn:…:task-definition/myapp:7` matches `myapp:7` and the full ARN."""
    if not arn_or_name:
        return False
    return arn_or_name == expected or arns.last_segment(arn_or_name) == arns.last_segment(expected)


def _epoch(value, default):
    return value.timestamp() if hasattr(value, "timestamp") else (value or default)


def stopped_since(tasks, service_name, task_definition_arn, since, now):
    """The tasks of service `service_name` running `task_definition_arn` (any when None) that were started and
    stopped at or after `since` (epoch seconds). A task still stopping (draining from its target group) has no
    stoppedAt yet: it stopped `now`. A task created before `since` belongs to an earlier attempt - the same revision
    deployed again soon after its rollback scaled it down - and is not this rollout's failure."""
    out = []
    for task in tasks:
        stamp = _epoch(task.get("stoppedAt") or task.get("stoppingAt"), now)
        if task.get("group") not in (None, "service:%s" % service_name):
            continue
        if task_definition_arn and task.get("taskDefinitionArn") != task_definition_arn:
            continue
        if stamp >= since and _epoch(task.get("createdAt"), since) >= since:
            out.append(task)
    return out


def stopped_task_reasons(tasks):
    """One line per stopped task: task id, revision, why it stopped, and its containers' exit reasons."""
    lines = []
    for task in tasks:
        containers = "; ".join(
            "%s: %s" % (c.get("name"), c.get("reason") or ("exit %s" % c.get("exitCode") if c.get("exitCode") is not None else c.get("lastStatus")))
            for c in task.get("containers", []))
        lines.append("task %s (%s): %s%s" % (
            arns.last_segment(task.get("taskArn", "?")), arns.last_segment(task.get("taskDefinitionArn", "?")),
            task.get("stoppedReason") or "no reason", (" [%s]" % containers) if containers else ""))
    return lines


def recent_events(service, since_epoch, limit=10):
    """The service's events newer than since_epoch, oldest first, as text lines."""
    events = []
    for event in service.get("events", []):
        created = event.get("createdAt")
        stamp = created.timestamp() if hasattr(created, "timestamp") else (created or 0)
        if stamp >= since_epoch:
            events.append((stamp, event.get("message", "")))
    return [message for dummy, message in sorted(events)[-limit:]]
