# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parts of an ARN this collection reads, on amazon.aws's parse_aws_arn (no ARN is split by hand elsewhere).

Pure functions. A reference that is not an ARN (a bare name, a CloudWatch dimension) is returned as it is where a
name is asked for, and gives None where only an ARN can answer.
"""

from ansible_collections.amazon.aws.plugins.module_utils.arn import parse_aws_arn


def parse(ref):
    """parse_aws_arn's dict (partition, service, region, account_id, resource, resource_type, resource_id) of an ARN;
    None for anything else."""
    ref = "" if ref is None else str(ref)
    if not ref.startswith("arn:"):
        return None
    return parse_aws_arn(ref)


def resource(ref):
    """The resource part of an ARN (`targetgroup/name/id`, `task-definition/family:7`); None for a non-ARN."""
    return (parse(ref) or {}).get("resource")


def last_segment(ref):
    """The last `/` segment of an ARN's resource (service, cluster, role or task name, `family:revision`);
    a non-ARN unchanged."""
    found = resource(ref)
    return found.rsplit("/", 1)[-1] if found is not None else ref


def task_definition_family(ref):
    """`arn:...:task-definition/family:7` or `family:7` -> `family`."""
    return last_segment(ref).rsplit(":", 1)[0]


def task_definition_revision(ref):
    """`arn:...:task-definition/family:7` or `family:7` -> ("family", 7); ValueError without a revision number."""
    family, dummy, number = last_segment(ref).rpartition(":")
    return family, int(number)


def target_group_dimension(ref):
    """The CloudWatch TargetGroup dimension `targetgroup/<name>/<id>` of a target group ARN; None for anything else."""
    found = resource(ref)
    return found if found and found.startswith("targetgroup/") else None


def target_group_name(ref):
    """`arn:...:targetgroup/<name>/<id>` -> `<name>`; anything else unchanged."""
    dimension = target_group_dimension(ref)
    return dimension.split("/")[1] if dimension else ref


def load_balancer_dimension(ref):
    """The CloudWatch LoadBalancer dimension `app/<name>/<id>` of a load balancer ARN; None for anything else."""
    found = resource(ref)
    if found and found.startswith("loadbalancer/"):
        return found[len("loadbalancer/"):]
    return None


def load_balancer_name(ref):
    """`arn:...:loadbalancer/app/<name>/<id>` -> `<name>`; anything else unchanged."""
    dimension = load_balancer_dimension(ref)
    return dimension.split("/")[1] if dimension and dimension.count("/") == 2 else ref


def listener_arn_of_rule(rule_arn):
    """`...:listener-rule/app/<lb>/<lb-id>/<listener-id>/<rule-id>` -> the listener's ARN; None if not a rule ARN."""
    parts = parse(rule_arn)
    if not parts or parts["resource_type"] != "listener-rule":
        return None
    path = parts["resource_id"].split("/")
    if len(path) != 5:
        return None
    return "arn:%s:%s:%s:%s:listener/%s" % (
        parts["partition"], parts["service"], parts["region"], parts["account_id"], "/".join(path[:4]))
