"""iam_preflight through ansible-playbook: caller resolution against bare moto (which has no IAM simulation),
the full allowed/denied check against the lab (which adds it)."""
import json
import os
import time

import pytest

from harness import localhost_play, run_playbook

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                                                  "Action": "sts:AssumeRole"}]}


def preflight(name, **args):
    return {"name": name, "progressive.delivery.iam_preflight": args, "register": name.replace(" ", "_"),
            "ignore_errors": True}


def test_assumed_role_caller_resolves_to_its_role_and_unsimulated_endpoint_fails_clearly(moto):
    iam, sts = moto.client("iam"), moto.client("sts")
    role = iam.create_role(RoleName="pd-deployer", Path="/deploy/", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
    creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="awx-job-42")["Credentials"]
    as_role = {"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
               "session_token": creds["SessionToken"]}
    play = localhost_play([
        preflight("as role", **as_role),
        preflight("as user"),
        preflight("given session arn", principal_arn="arn:aws:sts::123456789012:assumed-role/pd-deployer/other",
                  actions=["ecs:UpdateService"]),
    ], moto.url)
    started = time.time()
    result = run_playbook(play)
    elapsed = time.time() - started

    as_role_result = result.task("as role")
    assert as_role_result["failed"] is True
    assert as_role_result["caller_arn"] == "arn:aws:sts::123456789012:assumed-role/pd-deployer/awx-job-42"
    # the role's path comes from iam:GetRole: the assumed-role ARN does not carry it
    assert as_role_result["principal_arn"] == "arn:aws:iam::123456789012:role/deploy/pd-deployer"
    msg = as_role_result["msg"]
    assert msg.startswith("iam:SimulatePrincipalPolicy failed for arn:aws:iam::123456789012:role/deploy/pd-deployer"), msg
    assert "could not check any permission" in msg
    assert "allowed" not in as_role_result and "denied" not in as_role_result

    as_user = result.task("as user")
    assert as_user["caller_arn"] == "arn:aws:sts::123456789012:user/moto"
    assert as_user["principal_arn"] == "arn:aws:iam::123456789012:user/moto"
    assert as_user["msg"].startswith("iam:SimulatePrincipalPolicy failed for arn:aws:iam::123456789012:user/moto")

    given = result.task("given session arn")
    assert given["principal_arn"] == "arn:aws:iam::123456789012:role/deploy/pd-deployer"
    assert "caller_arn" not in given
    # a failing simulation endpoint is reported within seconds, not after minutes of retries
    assert elapsed < 120, elapsed


def test_check_mode_runs_it_too(moto):
    result = run_playbook(localhost_play([preflight("check", actions=["ecs:UpdateService"])], moto.url), check=True)
    assert result.task("check")["msg"].startswith("iam:SimulatePrincipalPolicy failed for arn:aws:iam::123456789012:user/moto")


def test_bad_input_is_refused_before_any_api_call():
    dead = "http://127.0.0.1:9"  # nothing listens: an API call would fail with a connection error instead
    play = localhost_play([
        preflight("bad action", actions=["ecs:UpdateService", "UpdateService"]),
        preflight("federated", principal_arn="arn:aws:sts::123456789012:federated-user/bob"),
        preflight("root", principal_arn="arn:aws:iam::123456789012:root"),
        preflight("no resources", resources=[]),
        preflight("stray action resources", actions=["ecs:UpdateService"], action_resources={"iam:PassRole": ["arn:r"]}),
    ], dead)
    result = run_playbook(play)
    assert "actions must look like service:Action (for example ecs:UpdateService), got ['UpdateService']" in result.task("bad action")["msg"]
    assert "is a federated user" in result.task("federated")["msg"]
    assert "is the account root user" in result.task("root")["msg"]
    assert "resources must name at least one resource ARN" in result.task("no resources")["msg"]
    assert "action_resources names iam:PassRole, which is not among the actions checked" in \
        result.task("stray action resources")["msg"]


def lab_endpoint(request):
    endpoint = os.environ.get("LAB_AWS_ENDPOINT")
    if endpoint:
        return endpoint
    try:
        lab = request.getfixturevalue("lab")
    except pytest.FixtureLookupError:
        pytest.skip("no lab fixture and no LAB_AWS_ENDPOINT")
    endpoint = getattr(lab, "endpoint", None) or getattr(lab, "aws_url", None) or getattr(lab, "url", None)
    if not endpoint:
        pytest.skip("the lab fixture exposes no AWS endpoint")
    return endpoint


@pytest.mark.lab
def test_allowed_and_denied_against_the_lab(request):
    """The lab implements SimulatePrincipalPolicy: a role allowed part of the flow fails listing the rest."""
    import boto3

    endpoint = lab_endpoint(request)
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    name = "pd-preflight-%d" % int(time.time() * 1000)
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.put_role_policy(RoleName=name, PolicyName="partial", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["ecs:Describe*", "elasticloadbalancing:ModifyListener"], "Resource": "*"},
            {"Effect": "Deny", "Action": "ecs:UpdateService", "Resource": "*"}]}))
    role_arn = "arn:aws:iam::123456789012:role/%s" % name
    actions = ["ecs:DescribeServices", "elasticloadbalancing:ModifyListener", "ecs:UpdateService", "ssm:PutParameter"]
    play = localhost_play([
        preflight("partial", principal_arn=role_arn, actions=actions),
        preflight("enough", principal_arn=role_arn, actions=actions[:2]),
    ], endpoint)
    result = run_playbook(play)
    partial = result.task("partial")
    assert partial["failed"] is True
    assert partial["allowed"] == ["ecs:DescribeServices", "elasticloadbalancing:ModifyListener"]
    assert partial["denied"] == [{"action": "ecs:UpdateService", "decision": "explicitDeny", "resource": "*"},
                                 {"action": "ssm:PutParameter", "decision": "implicitDeny", "resource": "*"}]
    assert "is not allowed 2 of 4 action(s) the run needs: ecs:UpdateService (explicitDeny on *), " \
           "ssm:PutParameter (implicitDeny on *)" in partial["msg"]
    enough = result.task("enough")
    assert not enough.get("failed"), enough
    assert enough["changed"] is False and enough["denied"] == [] and enough["principal_arn"] == role_arn


@pytest.mark.lab
def test_pass_role_scoped_to_the_task_roles_against_the_lab(request):
    """The lab's seeded deployer may pass only the task and execution roles: checked on `*` that is a denial,
    checked on those roles (action_resources) it is allowed."""
    import boto3

    endpoint = lab_endpoint(request)
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    deployer = iam.get_role(RoleName="myapp-deployer")["Role"]["Arn"]
    task_role = iam.get_role(RoleName="myapp-task-role")["Role"]["Arn"]
    actions = ["iam:PassRole", "ecs:UpdateService", "elasticloadbalancing:ModifyListener"]
    play = localhost_play([
        preflight("on star", principal_arn=deployer, actions=actions),
        preflight("on the roles", principal_arn=deployer, actions=actions, action_resources={"iam:PassRole": [task_role]}),
    ], endpoint)
    result = run_playbook(play)
    on_star = result.task("on star")
    assert on_star["failed"] is True
    assert on_star["denied"] == [{"action": "iam:PassRole", "decision": "implicitDeny", "resource": "*"}]
    on_roles = result.task("on the roles")
    assert not on_roles.get("failed"), on_roles
    assert on_roles["allowed"] == actions


@pytest.mark.lab
def test_the_rendered_policy_passes_the_default_preflight_against_the_lab(request):
    """A role holding exactly docs' policy (iam_actions.policy_document) is allowed every default action."""
    import boto3

    from ansible_collections.progressive.delivery.plugins.module_utils import iam_actions

    endpoint = lab_endpoint(request)
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    name = "pd-rendered-%d" % int(time.time() * 1000)
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="progressive-delivery", PolicyDocument=json.dumps(iam_actions.policy_document()))
    result = run_playbook(localhost_play([preflight("rendered", principal_arn=arn)], endpoint))
    res = result.task("rendered")
    assert not res.get("failed"), res
    assert res["allowed"] == iam_actions.required_actions() and res["denied"] == []


@pytest.mark.lab
def test_the_scoped_lab_deployer_passes_on_its_names_and_fails_on_others(request):
    """The lab's deployer holds docs' policy scoped to inventories/lab: the preflight with those names (scope) allows
    every action; on other names, or on `*`, it lists each scoped action denied with the resource it checked."""
    deployer = "arn:aws:iam::123456789012:user/progressive-deployer"
    names = {"cluster": "prod-ecs-cluster", "app": "myapp", "secrets": ["DB_PASSWORD", "API_KEY"],
             "log_groups": ["/deployments/audit"], "deployer_arns": [deployer]}
    play = localhost_play([
        preflight("own names", principal_arn=deployer, scope=names),
        preflight("other cluster", principal_arn=deployer, scope=dict(names, cluster="other-cluster")),
        preflight("on star", principal_arn=deployer),
    ], lab_endpoint(request))
    result = run_playbook(play)
    own = result.task("own names")
    assert not own.get("failed"), own
    other = result.task("other cluster")
    assert other["failed"] is True
    assert {d["action"] for d in other["denied"]} == {"ecs:DescribeServices", "ecs:UpdateService", "ecs:TagResource",
                                                      "ecs:UntagResource", "ecs:DescribeTasks",
                                                      "ecs:DescribeContainerInstances", "ssm:GetParameter",
                                                      "ssm:PutParameter", "ssm:DeleteParameter"}
    assert {"action": "ecs:UpdateService", "decision": "implicitDeny",
            "resource": "arn:aws:ecs:us-east-1:123456789012:service/other-cluster/myapp-a"} in other["denied"]
    on_star = result.task("on star")
    assert on_star["failed"] is True and {"action": "elasticloadbalancing:ModifyListener", "decision": "implicitDeny",
                                          "resource": "*"} in on_star["denied"]


@pytest.mark.lab
def test_one_merged_simulation_judges_each_action_on_its_own_resources_and_pages_like_aws(request):
    """The lab answers a merged call as AWS does - every action on every resource, MaxItems (default 100) a page,
    Marker to go on - and the module's one call judges each action on its own resources only."""
    import boto3

    endpoint = lab_endpoint(request)
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    name = "pd-merged-%d" % int(time.time() * 1000)
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="own", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "ssm:PutParameter", "Resource": "arn:aws:ssm:us-east-1:123456789012:parameter/p"},
            {"Effect": "Allow", "Action": "ecs:UpdateService", "Resource": "arn:aws:ecs:us-east-1:123456789012:service/c/s"}]}))
    resources = ["arn:aws:ssm:us-east-1:123456789012:parameter/p", "arn:aws:ecs:us-east-1:123456789012:service/c/s"]
    first = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["ssm:PutParameter", "ecs:UpdateService"],
                                          ResourceArns=resources, MaxItems=3)
    assert first["IsTruncated"] is True and len(first["EvaluationResults"]) == 3
    rest = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["ssm:PutParameter", "ecs:UpdateService"],
                                         ResourceArns=resources, MaxItems=3, Marker=first["Marker"])
    pairs = [(r["EvalActionName"], r["EvalResourceName"], r["EvalDecision"])
             for r in first["EvaluationResults"] + rest["EvaluationResults"]]
    assert rest["IsTruncated"] is False and sorted(pairs) == sorted([
        ("ssm:PutParameter", resources[0], "allowed"), ("ssm:PutParameter", resources[1], "implicitDeny"),
        ("ecs:UpdateService", resources[0], "implicitDeny"), ("ecs:UpdateService", resources[1], "allowed")])
    with pytest.raises(iam.exceptions.ClientError, match="MaxItems"):
        iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["ssm:PutParameter"], MaxItems=1001)
    result = run_playbook(localhost_play([
        preflight("own resources", principal_arn=arn, actions=["ssm:PutParameter", "ecs:UpdateService"],
                  resources=[resources[0]], action_resources={"ecs:UpdateService": [resources[1]]}),
        preflight("swapped", principal_arn=arn, actions=["ssm:PutParameter", "ecs:UpdateService"],
                  resources=[resources[1]], action_resources={"ecs:UpdateService": [resources[0]]}),
    ], endpoint))
    own = result.task("own resources")
    assert not own.get("failed"), own
    assert own["allowed"] == ["ssm:PutParameter", "ecs:UpdateService"] and own["denied"] == []
    swapped = result.task("swapped")
    assert swapped["failed"] is True and swapped["denied"] == [
        {"action": "ssm:PutParameter", "decision": "implicitDeny", "resource": resources[1]},
        {"action": "ecs:UpdateService", "decision": "implicitDeny", "resource": resources[0]}]
