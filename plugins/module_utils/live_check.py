# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is the live service steady, and has the account room for the candidate's tasks? The reads behind the answer.

Shared by ecs_live_check and ecs_slot_info (which has already described the service, its task definition and its
target group, so it reads only what is left: target health, the quota and its usage, or the cluster's instances).
The decisions are pure functions in capacity.py. Clients must be made with retry_decorator=jittered_backoff().
"""
import datetime

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.progressive.delivery.plugins.module_utils import aws_reads as reads
from ansible_collections.progressive.delivery.plugins.module_utils import capacity as caplib
from ansible_collections.progressive.delivery.plugins.module_utils.modules import jittered_backoff

SPOT_QUOTA = "L-36FBB829"
SPOT_CLASS = "Standard/Spot"


def read_quota(quotas, code):
    """The applied quota, else AWS's default (GetServiceQuota answers NoSuchResource for a quota never changed)."""
    try:
        return quotas.get_service_quota(aws_retry=True, ServiceCode=caplib.FARGATE_SERVICE_CODE, QuotaCode=code)["Quota"]
    except is_boto3_error_code("NoSuchResourceException"):
        return quotas.get_aws_default_service_quota(aws_retry=True, ServiceCode=caplib.FARGATE_SERVICE_CODE,
                                                    QuotaCode=code)["Quota"]


def read_usage(cloudwatch, metric, minutes):
    """Highest value of the quota's usage metric over the last `minutes` (None when there is no datapoint)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    dims = [{"Name": k, "Value": v} for k, v in sorted((metric.get("MetricDimensions") or {}).items())]
    result = cloudwatch.get_metric_data(
        aws_retry=True, StartTime=now - datetime.timedelta(minutes=minutes), EndTime=now,
        MetricDataQueries=[{"Id": "usage", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": metric["MetricNamespace"], "MetricName": metric["MetricName"], "Dimensions": dims},
            "Period": 60, "Stat": metric.get("MetricStatisticRecommendation") or "Maximum"}}])
    values = [v for r in result.get("MetricDataResults", []) for v in r.get("Values", [])]
    return max(values) if values else None


def container_instances(ecs, cluster):
    instances = reads.paginate(ecs, "list_container_instances", "containerInstanceArns", cluster=cluster, status="ACTIVE")
    return reads.describe_container_instances(ecs, cluster, instances)


def check(module, ecs, cluster, service, taskdef, target_group_arn=None, target_group_name=None,
          candidate_desired_count=0, candidate_running_count=0, check_steady=True, check_capacity=True,
          max_cluster_tasks=0, usage_window=5):
    """The live check's result (ok, message, steady, problems, events, capacity, capacity_ok, launch_type, task_cpu,
    task_memory, tasks_needed, healthy_targets) for a described `service` running `taskdef`. Raises botocore errors."""
    result = dict(steady=True, problems=[], events=[], capacity=[], capacity_ok=True)
    cpu, memory = caplib.task_size(taskdef)
    kind = caplib.launch_type(service)
    desired = int(service.get("desiredCount", 0))
    needed = caplib.tasks_needed(desired, candidate_desired_count)
    result.update(launch_type=kind, task_cpu=cpu, task_memory=memory, tasks_needed=needed)
    if check_steady:
        healthy = None
        if target_group_arn:
            elbv2 = module.client("elbv2", retry_decorator=jittered_backoff())
            healthy = reads.healthy_count(elbv2, target_group_arn)
            result["healthy_targets"] = healthy
        problems = caplib.steadiness(service, healthy, target_group_name)
        result.update(steady=not problems, problems=problems, events=caplib.recent_events(service))
    if check_capacity:
        if kind.startswith("FARGATE"):
            quotas = module.client("service-quotas", retry_decorator=jittered_backoff())
            code = SPOT_QUOTA if kind == "FARGATE_SPOT" else caplib.FARGATE_ON_DEMAND_VCPU_QUOTA
            quota = read_quota(quotas, code)
            metric = quota.get("UsageMetric") or dict(caplib.FARGATE_USAGE_METRIC)
            if kind == "FARGATE_SPOT" and not quota.get("UsageMetric"):
                metric["MetricDimensions"] = dict(metric["MetricDimensions"], Class=SPOT_CLASS)
            cloudwatch = module.client("cloudwatch", retry_decorator=jittered_backoff())
            usage = read_usage(cloudwatch, metric, usage_window)
            # The metric trails by a minute or more; the slots' own running tasks are in use whatever it says.
            floor = caplib.vcpus(cpu) * (int(service.get("runningCount", 0)) + candidate_running_count)
            found = caplib.fargate_capacity(float(quota["Value"]), max(usage or 0.0, floor), cpu, needed)
            found.update(quota_code=code, usage_metric=usage)
            result["capacity"].append(found)
        else:
            result["capacity"].append(caplib.ec2_capacity(container_instances(ecs, cluster), cpu, memory, needed))
        if max_cluster_tasks:
            described = ecs.describe_clusters(aws_retry=True, clusters=[cluster])["clusters"][0]
            running = int(described.get("runningTasksCount", 0)) + int(described.get("pendingTasksCount", 0))
            result["capacity"].append(caplib.task_cap(max_cluster_tasks, max(0, running), needed))
        result["capacity_ok"] = all(c["ok"] for c in result["capacity"])
    result["ok"] = result["steady"] and result["capacity_ok"]
    result["message"] = caplib.live_check_message(service, result, check_steady)
    return result
