"""Service Quotas for Fargate (moto 5.2.5 knows only the VPC quotas), and the control the tests use to change one.

GetServiceQuota / GetAWSDefaultServiceQuota answer the two Fargate vCPU quotas as AWS shapes them, with the
usage metric AWS publishes for them (AWS/Usage ResourceCount, which the lab's ECS task runner publishes:
lab/aws/ecs_tasks.py). The defaults are AWS's for a new account (6 vCPUs each); `set_quota` (POST
/lab-api/service-quota {"ServiceCode", "QuotaCode", "Value"}) changes the applied value until the next reset.
Any other Fargate quota code is NoSuchResourceException, as it is in AWS.
"""
import json

from moto.servicequotas import models as sq_models
from moto.servicequotas import responses as sq_responses
from moto.servicequotas.exceptions import NoSuchResource

from lab import config

FARGATE = {
    "L-3032A538": ("Fargate On-Demand vCPU resource count", "Standard/OnDemand"),
    "L-36FBB829": ("Fargate Spot vCPU resource count", "Standard/Spot"),
}
DEFAULT_VCPUS = 6.0
_applied = {}
_original_get = sq_models.ServiceQuotasBackend.get_service_quota
_original_list = sq_models.ServiceQuotasBackend.list_aws_default_service_quotas


def _quota(code, value):
    name, klass = FARGATE[code]
    return {"ServiceCode": "fargate", "ServiceName": "AWS Fargate", "QuotaCode": code, "QuotaName": name,
            "QuotaArn": "arn:aws:servicequotas:%s:%s:fargate/%s" % (config.REGION, config.ACCOUNT_ID, code),
            "Value": float(value), "Unit": "None", "Adjustable": True, "GlobalQuota": False,
            "UsageMetric": {"MetricNamespace": "AWS/Usage", "MetricName": "ResourceCount",
                            "MetricDimensions": {"Class": klass, "Resource": "vCPU", "Service": "Fargate", "Type": "Resource"},
                            "MetricStatisticRecommendation": "Maximum"}}


def get_service_quota(self, service_code, quota_code):
    if service_code == "fargate":
        if quota_code not in FARGATE:
            raise NoSuchResource()
        return _quota(quota_code, _applied.get(quota_code, DEFAULT_VCPUS))
    return _original_get(self, service_code, quota_code)


def list_aws_default_service_quotas(self, service_code):
    if service_code == "fargate":
        return [_quota(code, DEFAULT_VCPUS) for code in sorted(FARGATE)]
    return _original_list(self, service_code)


def get_aws_default_service_quota(self):
    params = json.loads(self.body)
    service_code, quota_code = str(params.get("ServiceCode")), str(params.get("QuotaCode"))
    if service_code == "fargate" and quota_code in FARGATE:
        return json.dumps({"Quota": _quota(quota_code, DEFAULT_VCPUS)})
    for quota in self.backend.list_aws_default_service_quotas(service_code):
        if quota["QuotaCode"] == quota_code:
            return json.dumps({"Quota": quota})
    raise NoSuchResource()


def set_quota(doc):
    """Lab control: the applied value of a Fargate quota ({"ServiceCode", "QuotaCode", "Value"})."""
    if doc.get("ServiceCode") != "fargate" or doc.get("QuotaCode") not in FARGATE:
        raise ValueError("only the Fargate vCPU quotas can be set: %s" % sorted(FARGATE))
    _applied[doc["QuotaCode"]] = float(doc["Value"])
    return _quota(doc["QuotaCode"], _applied[doc["QuotaCode"]])


def reset():
    _applied.clear()


def install():
    sq_models.ServiceQuotasBackend.get_service_quota = get_service_quota
    sq_models.ServiceQuotasBackend.list_aws_default_service_quotas = list_aws_default_service_quotas
    sq_responses.ServiceQuotasResponse.get_aws_default_service_quota = get_aws_default_service_quota
