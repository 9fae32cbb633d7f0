# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is the live service steady, and is there room for the candidate? Pure functions, no AWS.

The ecs_live_check module fetches (DescribeServices, DescribeTargetHealth, Service Quotas, CloudWatch
AWS/Usage, DescribeContainerInstances); these decide, and say why in words an operator can act on.
"""

# Service Quotas: "Fargate On-Demand vCPU resource count" (account and region wide, in vCPUs).
FARGATE_SERVICE_CODE = "fargate"
FARGATE_ON_DEMAND_VCPU_QUOTA = "L-3032A538"
# What AWS publishes for it when the quota does not name its usage metric.
FARGATE_USAGE_METRIC = {
    "MetricNamespace": "AWS/Usage", "MetricName": "ResourceCount",
    "MetricDimensions": {"Service": "Fargate", "Type": "Resource", "Resource": "vCPU", "Class": "Standard/OnDemand"},
    "MetricStatisticRecommendation": "Maximum",
}
FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")


def launch_type(service):
    """FARGATE, FARGATE_SPOT or EC2: how a service (DescribeServices shape) places its tasks."""
    if service.get("launchType"):
        return "FARGATE" if service["launchType"] == "FARGATE" else "EC2"
    strategy = service.get("capacityProviderStrategy") or []
    names = [s.get("capacityProvider") for s in strategy if int(s.get("weight", 0) or 0) > 0 or s.get("base")]
    if names and all(n in FARGATE_PROVIDERS for n in names):
        return "FARGATE_SPOT" if all(n == "FARGATE_SPOT" for n in names) else "FARGATE"
    return "EC2"


def task_size(taskdef):
    """(cpu units, memory MiB) one task of a task definition reserves: the task-level values, else the sum of
    its containers' (memory, else memoryReservation). A container without cpu counts 0 units, as ECS does."""
    containers = taskdef.get("containerDefinitions") or []
    cpu = taskdef.get("cpu")
    memory = taskdef.get("memory")
    cpu = int(cpu) if cpu not in (None, "") else sum(int(c.get("cpu") or 0) for c in containers)
    memory = int(memory) if memory not in (None, "") else sum(
        int(c.get("memory") or c.get("memoryReservation") or 0) for c in containers)
    return cpu, memory


def vcpus(cpu_units):
    return cpu_units / 1024.0


def steadiness(service, healthy_targets, target_group_name=None):
    """Problems (list of str, empty when steady) of a live service: its PRIMARY rollout COMPLETED, no other
    deployment, running = desired, and at least `desired` healthy targets in its target group."""
    problems = []
    deployments = service.get("deployments") or []
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    desired = int(service.get("desiredCount", 0))
    running = int(service.get("runningCount", 0))
    if primary is None:
        problems.append("it has no PRIMARY deployment")
    elif primary.get("rolloutState") and primary.get("rolloutState") != "COMPLETED":
        problems.append("its rollout is %s (%s)" % (primary["rolloutState"], primary.get("rolloutStateReason") or "no reason given"))
    others = [d for d in deployments if d is not primary]
    if others:
        problems.append("%d older deployment(s) still %s" % (len(others), "/".join(sorted(set(d.get("status", "?") for d in others)))))
    if desired <= 0:
        problems.append("it runs nothing (desired 0)")
    elif running != desired:
        problems.append("running %d of %d desired tasks" % (running, desired))
    if healthy_targets is not None and healthy_targets < desired:
        problems.append("only %d healthy target(s) in %s for %d desired" % (healthy_targets, target_group_name or "its target group", desired))
    return problems


def recent_events(service, limit=5):
    """The service's newest events as `time message` lines (DescribeServices returns them newest first)."""
    out = []
    for event in (service.get("events") or [])[:limit]:
        stamp = event.get("createdAt")
        stamp = stamp.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(stamp, "strftime") else str(stamp or "")
        out.append(("%s %s" % (stamp, event.get("message", ""))).strip())
    return out


def tasks_needed(desired, candidate_desired):
    """Tasks a deployment adds: the live count on the candidate slot, less what that slot already runs."""
    return max(0, int(desired) - int(candidate_desired or 0))


def fargate_capacity(quota_vcpus, in_use_vcpus, task_cpu_units, tasks):
    """Room for `tasks` Fargate tasks of `task_cpu_units` each under the On-Demand vCPU quota.

    Returns {quota, in_use, needed, after, ok, message}; vCPU figures rounded to 0.01."""
    needed = vcpus(task_cpu_units) * tasks
    after = in_use_vcpus + needed
    ok = after <= quota_vcpus + 1e-9
    message = ("Fargate On-Demand vCPU quota %s, %s in use, the candidate's %d task(s) x %s vCPU need %s more: %s after it"
               % (_num(quota_vcpus), _num(in_use_vcpus), tasks, _num(vcpus(task_cpu_units)), _num(needed), _num(after)))
    if not ok:
        message += (" - %s above the quota; ask for more (Service Quotas, %s %s) or free some vCPUs"
                    % (_num(after - quota_vcpus), FARGATE_SERVICE_CODE, FARGATE_ON_DEMAND_VCPU_QUOTA))
    return dict(kind="fargate", quota=round(quota_vcpus, 2), in_use=round(in_use_vcpus, 2), needed=round(needed, 2),
                after=round(after, 2), ok=ok, message=message)


def ec2_capacity(instances, task_cpu_units, task_memory_mib, tasks):
    """Room for `tasks` tasks on the cluster's registered container instances (DescribeContainerInstances shape):
    each ACTIVE, connected instance holds as many as its remaining CPU and memory both allow.

    Returns {instances, fits, needed, remaining_cpu, remaining_memory, ok, message}."""
    fits = 0
    cpu_left = mem_left = 0
    usable = 0
    for instance in instances:
        if instance.get("status", "ACTIVE") != "ACTIVE" or instance.get("agentConnected") is False:
            continue
        usable += 1
        remaining = dict((r.get("name"), int(r.get("integerValue") or 0)) for r in instance.get("remainingResources") or [])
        cpu, mem = remaining.get("CPU", 0), remaining.get("MEMORY", 0)
        cpu_left += cpu
        mem_left += mem
        by_cpu = cpu // task_cpu_units if task_cpu_units > 0 else None
        by_mem = mem // task_memory_mib if task_memory_mib > 0 else None
        limits = [x for x in (by_cpu, by_mem) if x is not None]
        fits += min(limits) if limits else tasks
    ok = fits >= tasks
    message = ("%d container instance(s) with %d CPU units and %d MiB left hold %d more task(s) of %d CPU / %d MiB; "
               "the candidate needs %d" % (usable, cpu_left, mem_left, fits, task_cpu_units, task_memory_mib, tasks))
    if not ok:
        message += " - add container instances (or let the capacity provider scale) before deploying"
    return dict(kind="ec2", instances=usable, fits=fits, needed=tasks, remaining_cpu=cpu_left,
                remaining_memory=mem_left, ok=ok, message=message)


def task_cap(max_tasks, running_tasks, tasks):
    """The optional cap on the cluster's tasks (ecs_validate_max_cluster_tasks; 0 = no cap)."""
    if not max_tasks:
        return dict(kind="cap", ok=True, message="no cap on the cluster's tasks")
    after = int(running_tasks) + int(tasks)
    ok = after <= int(max_tasks)
    return dict(kind="cap", ok=ok, running=int(running_tasks), needed=int(tasks), after=after, cap=int(max_tasks),
                message="the cluster runs %d task(s), %d after the candidate's %d; cap %d%s"
                % (running_tasks, after, tasks, max_tasks, "" if ok else " - above the cap (ecs_validate_max_cluster_tasks)"))


def _num(value):
    return ("%.2f" % value).rstrip("0").rstrip(".")


def live_check_message(service, result, check_steady=True):
    """One line on the live service's steadiness and each capacity check, for a refusal or the log."""
    parts = []
    if not result["steady"]:
        parts.append("live service %s is not steady: %s. Recent events: %s. Let it settle (or fix it) before deploying"
                     % (service["serviceName"], "; ".join(result["problems"]), " | ".join(result["events"]) or "none"))
    elif check_steady:
        parts.append("live service %s is steady (%d/%d running, %s healthy targets)"
                     % (service["serviceName"], service.get("runningCount", 0), int(service.get("desiredCount", 0)),
                        result.get("healthy_targets", "?")))
    parts += [c["message"] for c in result["capacity"]]
    return "; ".join(parts)
