# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an update of a slot (its service and its target group's health check) has to change, from what is known of
it already (the plan ecs_slot_info built) - pure functions, no AWS. Used by the ecs_slot_update module.

A health check is compared in one shape, this module's short keys (path, protocol, port, interval, timeout,
healthy_threshold, unhealthy_threshold, matcher), whatever shape it was given in: DescribeTargetGroups' keys
(HealthCheckPath, HealthCheckIntervalSeconds, Matcher: {HttpCode}), their snake_case form (health_check_path, ...,
matcher: {http_code}), or the short keys.
"""

from ansible_collections.progressive.delivery.plugins.module_utils import arns

# short key -> (DescribeTargetGroups / ModifyTargetGroup key, snake_case key)
HEALTH_CHECK_KEYS = {
    "protocol": ("HealthCheckProtocol", "health_check_protocol"),
    "port": ("HealthCheckPort", "health_check_port"),
    "path": ("HealthCheckPath", "health_check_path"),
    "interval": ("HealthCheckIntervalSeconds", "health_check_interval_seconds"),
    "timeout": ("HealthCheckTimeoutSeconds", "health_check_timeout_seconds"),
    "healthy_threshold": ("HealthyThresholdCount", "healthy_threshold_count"),
    "unhealthy_threshold": ("UnhealthyThresholdCount", "unhealthy_threshold_count"),
    "matcher": ("Matcher", "matcher"),
}
INT_KEYS = ("interval", "timeout", "healthy_threshold", "unhealthy_threshold")
# ELBv2's limits (ModifyTargetGroup).
LIMITS = {"interval": (5, 300), "timeout": (2, 120), "healthy_threshold": (2, 10), "unhealthy_threshold": (2, 10)}


def _matcher(value):
    if isinstance(value, dict):
        value = value.get("HttpCode") or value.get("http_code") or value.get("GrpcCode") or value.get("grpc_code")
    return None if value is None else str(value)


def normalize_health_check(given):
    """A health check in the short keys (only those given, None values left out); {} for None."""
    out = {}
    for key, (api_key, snake_key) in HEALTH_CHECK_KEYS.items():
        for name in (key, api_key, snake_key):
            if (given or {}).get(name) is not None:
                value = given[name]
                if key == "matcher":
                    value = _matcher(value)
                elif key in INT_KEYS:
                    value = int(value)
                else:
                    value = str(value)
                out[key] = value
                break
    return out


def health_check_problems(wanted):
    """Why the wanted health check (short keys) cannot be set; [] when it can."""
    problems = []
    for key, (low, high) in sorted(LIMITS.items()):
        if key in wanted and not low <= wanted[key] <= high:
            problems.append("health_check.%s must be within %d-%d, got %s" % (key, low, high, wanted[key]))
    if "interval" in wanted and "timeout" in wanted and wanted["timeout"] >= wanted["interval"]:
        problems.append("health_check.timeout (%s) must be less than health_check.interval (%s)"
                        % (wanted["timeout"], wanted["interval"]))
    if "path" in wanted and not wanted["path"].startswith("/"):
        problems.append("health_check.path must start with /, got %r" % wanted["path"])
    return problems


def health_check_changes(current, wanted):
    """ModifyTargetGroup's parameters for what differs between the current health check and the wanted one (both in
    any shape normalize_health_check reads); {} when they agree. An unknown current (None) differs in every key."""
    have = normalize_health_check(current) if current is not None else {}
    want = normalize_health_check(wanted)
    changes = {}
    for key, value in want.items():
        if current is not None and have.get(key) == value:
            continue
        api_key = HEALTH_CHECK_KEYS[key][0]
        changes[api_key] = {"HttpCode": value} if key == "matcher" else value
    return changes


def same_task_definition(current, wanted):
    """`arn:...:task-definition/myapp:7` and `myapp:7` are the same revision."""
    if not current or not wanted:
        return False
    return current == wanted or arns.last_segment(current) == arns.last_segment(wanted)


def service_changes(current, task_definition=None, desired_count=None):
    """UpdateService's parameters (taskDefinition, desiredCount) for what differs from the service as known
    (`current`: taskDefinition / task_definition, desiredCount / desired_count); {} when nothing does."""
    current = current or {}
    have_td = current.get("taskDefinition") or current.get("task_definition")
    have_count = current.get("desiredCount", current.get("desired_count"))
    changes = {}
    if task_definition and not same_task_definition(have_td, task_definition):
        changes["taskDefinition"] = task_definition
    if desired_count is not None and (have_count is None or int(have_count) != int(desired_count)):
        changes["desiredCount"] = int(desired_count)
    return changes


def tags_to_set(current, wanted):
    """The wanted tags whose value differs from the current ones (dicts of key -> value); {} when all are set."""
    current = current or {}
    return dict((k, str(v)) for k, v in (wanted or {}).items() if current.get(k) != str(v))


def service_problems(service, changes):
    """Why the service read back after UpdateService does not show `changes`; [] when it does."""
    problems = []
    if "taskDefinition" in changes and not same_task_definition(service.get("taskDefinition"), changes["taskDefinition"]):
        problems.append("it runs %s, not %s" % (service.get("taskDefinition"), changes["taskDefinition"]))
    if "desiredCount" in changes and service.get("desiredCount") != changes["desiredCount"]:
        problems.append("its desired count is %s, not %s" % (service.get("desiredCount"), changes["desiredCount"]))
    return problems


def known_service(current):
    """The service as the caller knows it ({service_arn, task_definition, desired_count, tags}) from an ecs_slot_info
    slot entry, or None when it lacks any of them (the module then reads the service)."""
    current = current or {}
    keys = ("service_arn", "task_definition", "desired_count")
    if any(current.get(k) in (None, "") for k in keys) or not isinstance(current.get("tags") or {}, dict):
        return None
    return dict(service_arn=current["service_arn"], task_definition=current["task_definition"],
                desired_count=int(current["desired_count"]), tags=dict(current.get("tags") or {}))
