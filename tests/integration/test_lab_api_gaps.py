"""The lab's AWS endpoint fills moto's CloudWatch percentile and IAM simulation gaps (real boto3 and AWS CLI)."""
import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

AWS = str(Path(sys.executable).parent / "aws")


def aws_cli(lab, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION=lab.region, AWS_PAGER="")
    proc = subprocess.run([AWS, "--endpoint-url", lab.endpoint, "--output", "json"] + list(args),
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _latencies(lab):
    """Publish 100 samples 1..100 ms (as Values/Counts) plus one statistic set, in a fresh namespace."""
    namespace = "LabTest/%s" % uuid.uuid4().hex[:8]
    dims = [{"Name": "TargetGroup", "Value": "targetgroup/t/1"}, {"Name": "LoadBalancer", "Value": "app/l/1"}]
    stamp = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=30)
    cw = lab.client("cloudwatch")
    # 1..90 once each, 91..100 as counts: exercises both arrays
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "TargetResponseTime", "Dimensions": dims, "Timestamp": stamp, "Unit": "Seconds",
         "Values": [v / 1000.0 for v in range(1, 91)]},
        {"MetricName": "TargetResponseTime", "Dimensions": dims, "Timestamp": stamp, "Unit": "Seconds",
         "Values": [v / 1000.0 for v in range(91, 101)], "Counts": [1.0] * 10}])
    # a same-named metric with other dimensions must not leak in
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "TargetResponseTime", "Dimensions": dims[:1], "Timestamp": stamp, "Value": 9.0}])
    return cw, namespace, dims, stamp


def test_get_metric_data_answers_percentiles_from_values_and_counts(lab):
    cw, namespace, dims, stamp = _latencies(lab)
    metric = {"Namespace": namespace, "MetricName": "TargetResponseTime", "Dimensions": dims}
    stats = ["p50", "p90", "p95", "p99", "p99.9", "Average", "SampleCount", "Maximum",
             "PR(:0.025)", "PR(0.095:)", "PR(0.01:0.02)"]
    result = cw.get_metric_data(
        MetricDataQueries=[{"Id": "q%d" % i, "MetricStat": {"Metric": metric, "Period": 300, "Stat": s}}
                           for i, s in enumerate(stats)],
        StartTime=stamp - timedelta(minutes=1), EndTime=stamp + timedelta(minutes=4))
    values = {stats[int(r["Id"][1:])]: r["Values"] for r in result["MetricDataResults"]}
    assert values["p50"] == [pytest.approx(0.050)]
    assert values["p90"] == [pytest.approx(0.090)]
    assert values["p95"] == [pytest.approx(0.095)]
    assert values["p99"] == [pytest.approx(0.099)]
    assert values["p99.9"] == [pytest.approx(0.100)]
    assert values["Average"] == [pytest.approx(0.0505)]
    assert values["SampleCount"] == [100.0]
    assert values["Maximum"] == [pytest.approx(0.100)]
    # percentile rank, as CloudWatch defines it: % of values in (low, high], exclusive below, inclusive above
    assert values["PR(:0.025)"] == [pytest.approx(25.0)]
    assert values["PR(0.095:)"] == [pytest.approx(5.0)]
    assert values["PR(0.01:0.02)"] == [pytest.approx(10.0)]


def test_counts_weight_the_percentile(lab):
    cw = lab.client("cloudwatch")
    namespace = "LabTest/%s" % uuid.uuid4().hex[:8]
    stamp = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=30)
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "Latency", "Timestamp": stamp, "Values": [0.01, 0.5], "Counts": [90.0, 10.0]}])
    result = cw.get_metric_data(
        MetricDataQueries=[{"Id": "p90", "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": "Latency"},
                                                        "Period": 60, "Stat": "p90"}},
                           {"Id": "p95", "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": "Latency"},
                                                        "Period": 60, "Stat": "p95"}}],
        StartTime=stamp - timedelta(seconds=30), EndTime=stamp + timedelta(seconds=30))
    by_id = {r["Id"]: r["Values"] for r in result["MetricDataResults"]}
    assert by_id == {"p90": [0.01], "p95": [0.5]}


def test_get_metric_statistics_extended_statistics_through_the_aws_cli(lab):
    _, namespace, dims, stamp = _latencies(lab)
    out = aws_cli(lab, "cloudwatch", "get-metric-statistics", "--namespace", namespace,
                  "--metric-name", "TargetResponseTime",
                  "--dimensions", *["Name=%s,Value=%s" % (d["Name"], d["Value"]) for d in dims],
                  "--start-time", (stamp - timedelta(minutes=1)).isoformat(),
                  "--end-time", (stamp + timedelta(minutes=4)).isoformat(),
                  "--period", "300", "--statistics", "SampleCount", "--extended-statistics", "p50", "p95", "p99")
    [point] = out["Datapoints"]
    assert point["SampleCount"] == 100.0
    assert point["ExtendedStatistics"] == {"p50": pytest.approx(0.05), "p95": pytest.approx(0.095),
                                           "p99": pytest.approx(0.099)}
    assert point["Unit"] == "Seconds"


def _decisions(result):
    return {(r["EvalActionName"], r["EvalResourceName"]): r["EvalDecision"] for r in result["EvaluationResults"]}


def test_simulate_principal_policy_for_the_seeded_deployer_and_restricted_user(lab):
    iam = lab.client("iam")
    task_role = iam.get_role(RoleName="myapp-task-role")["Role"]["Arn"]
    other_role = "arn:aws:iam::123456789012:role/somebody-elses-role"
    deployer = iam.get_user(UserName="deployer")["User"]["Arn"]
    result = iam.simulate_principal_policy(PolicySourceArn=deployer,
                                           ActionNames=["ecs:UpdateService", "ecs:DescribeServices",
                                                        "iam:PassRole", "iam:CreateUser"],
                                           ResourceArns=[task_role, other_role])
    decisions = _decisions(result)
    assert decisions[("ecs:UpdateService", task_role)] == "allowed"
    assert decisions[("ecs:DescribeServices", other_role)] == "allowed"
    assert decisions[("iam:PassRole", task_role)] == "allowed"
    assert decisions[("iam:PassRole", other_role)] == "implicitDeny"
    assert decisions[("iam:CreateUser", task_role)] == "implicitDeny"
    allowed = next(r for r in result["EvaluationResults"] if r["EvalActionName"] == "ecs:UpdateService")
    assert allowed["MatchedStatements"][0]["SourcePolicyId"] == "myapp-deployer"
    assert result["IsTruncated"] is False

    restricted = iam.get_user(UserName="deployer-readonly")["User"]["Arn"]
    decisions = _decisions(iam.simulate_principal_policy(
        PolicySourceArn=restricted, ActionNames=["ecs:DescribeServices", "ecs:UpdateService",
                                                 "ecs:RegisterTaskDefinition"]))
    assert decisions == {("ecs:DescribeServices", "*"): "allowed", ("ecs:UpdateService", "*"): "explicitDeny",
                         ("ecs:RegisterTaskDefinition", "*"): "implicitDeny"}


def test_simulate_principal_policy_for_a_role_and_through_groups(lab):
    iam = lab.client("iam")
    suffix = uuid.uuid4().hex[:6]
    role = iam.get_role(RoleName="myapp-deployer")["Role"]["Arn"]
    assert _decisions(iam.simulate_principal_policy(PolicySourceArn=role, ActionNames=["ecs:UpdateService"])) == {
        ("ecs:UpdateService", "*"): "allowed"}
    group, user = "lt-group-" + suffix, "lt-user-" + suffix
    iam.create_group(GroupName=group)
    iam.put_group_policy(GroupName=group, PolicyName="g", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "elasticloadbalancing:*",
                                                "Resource": "*"}]}))
    iam.create_user(UserName=user)
    iam.add_user_to_group(GroupName=group, UserName=user)
    arn = iam.get_user(UserName=user)["User"]["Arn"]
    result = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["elasticloadbalancing:ModifyListener",
                                                                             "ecs:UpdateService"])
    assert _decisions(result) == {("elasticloadbalancing:ModifyListener", "*"): "allowed",
                                  ("ecs:UpdateService", "*"): "implicitDeny"}
    assert result["EvaluationResults"][0]["MatchedStatements"][0] == {"SourcePolicyId": "g",
                                                                      "SourcePolicyType": "group"}
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.simulate_principal_policy(PolicySourceArn=arn + "-missing", ActionNames=["ecs:ListTasks"])


def test_simulate_custom_policy_and_the_aws_cli(lab):
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecs:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "ecs:Delete*", "Resource": "*"}]})
    out = aws_cli(lab, "iam", "simulate-custom-policy", "--policy-input-list", doc,
                  "--action-names", "ecs:ListTasks", "ecs:DeleteCluster", "s3:GetObject")
    assert [(r["EvalActionName"], r["EvalDecision"]) for r in out["EvaluationResults"]] == [
        ("ecs:ListTasks", "allowed"), ("ecs:DeleteCluster", "explicitDeny"), ("s3:GetObject", "implicitDeny")]


def test_every_api_request_is_logged(lab):
    lab.client("sts").get_caller_identity()
    log = Path(lab.state_dir) / "api-requests.jsonl"
    last = [json.loads(line) for line in log.read_text().splitlines()[-50:]]
    mine = [r for r in last if r["action"] == "GetCallerIdentity"]
    assert mine and mine[-1]["service"] == "sts" and mine[-1]["status"] == 200 and "Boto3" in mine[-1]["ua"]


def test_api_request_log_names_the_access_key_so_callers_can_be_told_apart(lab):
    import boto3
    sts = boto3.client("sts", endpoint_url=lab.endpoint, region_name=lab.region, aws_access_key_id="labkeycheck42",
                       aws_secret_access_key="testing")
    sts.get_caller_identity()
    log = Path(lab.state_dir) / "api-requests.jsonl"
    last = [json.loads(line) for line in log.read_text().splitlines()[-50:]]
    mine = [r for r in last if r["action"] == "GetCallerIdentity" and r.get("key") == "labkeycheck42"]
    assert mine and mine[-1]["service"] == "sts"


def test_seeded_deployer_role_may_run_the_whole_flow_and_the_readonly_user_may_not(lab):
    from ansible_collections.progressive.delivery.plugins.module_utils.iam_actions import required_actions
    iam = lab.client("iam")
    actions = required_actions()
    task_roles = [iam.get_role(RoleName=r)["Role"]["Arn"] for r in ("myapp-task-role", "myapp-execution-role")]
    role = iam.get_role(RoleName="myapp-deployer")["Role"]["Arn"]
    denied = [(r["EvalActionName"], r["EvalResourceName"])
              for r in iam.simulate_principal_policy(PolicySourceArn=role, ActionNames=[
                  a for a in actions if a != "iam:PassRole"])["EvaluationResults"]
              + iam.simulate_principal_policy(PolicySourceArn=role, ActionNames=["iam:PassRole"],
                                              ResourceArns=task_roles)["EvaluationResults"]
              if r["EvalDecision"] != "allowed"]
    assert denied == []
    readonly = iam.get_user(UserName="deployer-readonly")["User"]["Arn"]
    decisions = _decisions(iam.simulate_principal_policy(PolicySourceArn=readonly, ActionNames=actions))
    assert decisions[("ecs:DescribeServices", "*")] == "allowed"
    assert decisions[("elasticloadbalancing:ModifyListener", "*")] == "explicitDeny"
    assert decisions[("ecs:RegisterTaskDefinition", "*")] == "implicitDeny"



def test_ecr_scan_findings_follow_the_catalogue_by_tag_and_by_digest(lab):
    ecr = lab.client("ecr")
    digest = ecr.describe_images(repositoryName="myapp", imageIds=[{"imageTag": "v1.2.4-vulnerable"}])[
        "imageDetails"][0]["imageDigest"]
    for image_id in ({"imageTag": "v1.2.4-vulnerable"}, {"imageDigest": digest}, {"imageDigest": digest}):
        findings = ecr.describe_image_scan_findings(repositoryName="myapp", imageId=image_id)
        assert findings["imageScanStatus"]["status"] == "COMPLETE"
        assert findings["imageScanFindings"]["findingSeverityCounts"] == {"CRITICAL": 1, "HIGH": 2}
        assert len(findings["imageScanFindings"]["findings"]) == 3
    clean = ecr.describe_image_scan_findings(repositoryName="myapp", imageId={"imageTag": "v1.2.3"})
    assert clean["imageScanFindings"]["findingSeverityCounts"] == {"LOW": 2}
    digests = {d["imageDigest"] for d in ecr.describe_images(repositoryName="myapp")["imageDetails"]}
    assert len(digests) == 6
