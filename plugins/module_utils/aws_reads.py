# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reads every module shares: botocore paginators with the collection's retry, and the Describe* calls that
take a bounded number of names per call, batched.

API limits per call (AWS API reference): ECS DescribeServices 10 services, DescribeTasks 100 tasks,
DescribeContainerInstances 100 instances; ELBv2 DescribeTargetHealth has no page (all targets of one group).
Clients come from ProgressiveDeliveryModule.client() (retry_decorator=jittered_backoff()), so single calls are made
with aws_retry=True.
"""

from ansible_collections.amazon.aws.plugins.module_utils.botocore import paginated_query_with_retries

from ansible_collections.progressive.delivery.plugins.module_utils.modules import jittered_backoff

DESCRIBE_SERVICES_MAX = 10
DESCRIBE_TASKS_MAX = 100
DESCRIBE_CONTAINER_INSTANCES_MAX = 100


def batches(items, size):
    """`items` in consecutive lists of at most `size` (an API's per-call limit), in order; [] for no items."""
    if size < 1:
        raise ValueError("batch size must be at least 1, got %r" % (size,))
    items = list(items or [])
    return [items[i:i + size] for i in range(0, len(items), size)]


def paginate(client, operation, key=None, max_items=None, page_size=None, keep_pages=False, **params):
    """Every page of `operation` merged (botocore's paginator, build_full_result) with the collection's retry;
    with `key`, that list of the result; `max_items` bounds the items read, `page_size` the items per call (botocore's
    PaginationConfig). With `keep_pages`, the list of pages as the API returns them, for results whose pages must
    stay apart."""
    config = dict((k, v) for k, v in (("PageSize", page_size), ("MaxItems", max_items)) if v)
    if config:
        params["PaginationConfig"] = config
    if keep_pages:
        return jittered_backoff()(_pages)(client, operation, **params)
    result = paginated_query_with_retries(client, operation, retry_decorator=jittered_backoff(), **params)
    return (result.get(key) or []) if key else result


def _pages(client, operation, **params):
    return list(client.get_paginator(operation).paginate(**params))


def describe_services(ecs, cluster, names, include=None):
    """describe_services entries of `names` (names or ARNs), 10 per call; services ECS does not know are left out."""
    extra = dict(include=list(include)) if include else {}
    found = []
    for batch in batches(names, DESCRIBE_SERVICES_MAX):
        found += ecs.describe_services(aws_retry=True, cluster=cluster, services=batch, **extra)["services"]
    return found


def active_service(ecs, cluster, name, include=None):
    """The describe_services entry of one service when it is ACTIVE; None when it is missing, DRAINING or INACTIVE."""
    found = describe_services(ecs, cluster, [name], include)
    return found[0] if found and found[0].get("status") == "ACTIVE" else None


def describe_tasks(ecs, cluster, arns):
    """describe_tasks entries of every task in `arns`, 100 per call."""
    found = []
    for batch in batches(arns, DESCRIBE_TASKS_MAX):
        found += ecs.describe_tasks(aws_retry=True, cluster=cluster, tasks=batch)["tasks"]
    return found


def describe_container_instances(ecs, cluster, arns):
    """describe_container_instances entries of every instance in `arns`, 100 per call."""
    found = []
    for batch in batches(arns, DESCRIBE_CONTAINER_INSTANCES_MAX):
        found += ecs.describe_container_instances(aws_retry=True, cluster=cluster, containerInstances=batch)["containerInstances"]
    return found


def target_health(elbv2, target_group_arn):
    """The target group's TargetHealthDescriptions (one call: the API returns every target)."""
    return elbv2.describe_target_health(aws_retry=True, TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]


def healthy_count(elbv2, target_group_arn):
    """How many targets of the group are `healthy`."""
    return sum(1 for t in target_health(elbv2, target_group_arn) if (t.get("TargetHealth") or {}).get("State") == "healthy")
