import json
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import iam_actions as ia

REPO = Path(__file__).resolve().parents[4]


def test_the_list_covers_what_the_flow_calls():
    actions = ia.required_actions()
    assert len(actions) == len(set(actions)), "duplicates in the list"
    assert ia.check_actions(actions) == []
    for needed in ("ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition", "ecs:UpdateService",
                   "ecs:DescribeServices", "ecs:ListTasks", "ecs:DescribeTasks", "ecs:TagResource",
                   "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeRules",
                   "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth",
                   "elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule",
                   "cloudwatch:GetMetricData", "ecr:DescribeImages",
                   "ecr:DescribeImageScanFindings", "ecr:BatchGetImage", "ecr:StartImageScan", "iam:PassRole",
                   "iam:GetRole", "iam:SimulatePrincipalPolicy", "ssm:GetParameter", "ssm:PutParameter",
                   "ssm:DeleteParameter", "secretsmanager:DescribeSecret", "logs:CreateLogStream", "logs:PutLogEvents",
                   "sts:GetCallerIdentity"):
        assert needed in actions, needed
    # every entry says why it is needed
    assert all(purpose.strip() for dummy, purpose in ia.ECS_BLUE_GREEN_ACTIONS)


def test_no_wildcard_actions_in_the_list():
    assert not [a for a in ia.required_actions() if "*" in a]


@pytest.mark.parametrize("actions, message", [
    ([], "actions must name at least one IAM action"),
    (["ecs:UpdateService", "UpdateService"], "got ['UpdateService']"),
    (["ecs: UpdateService"], "must look like service:Action"),
])
def test_check_actions(actions, message):
    assert message in ia.check_actions(actions)[0]


def test_policy_document_one_statement_per_service_and_scoped_pass_role():
    doc = ia.policy_document()
    assert doc["Version"] == "2012-10-17"
    granted = sorted(a for s in doc["Statement"] for a in s["Action"])
    assert granted == sorted(ia.policy_actions())
    assert set(ia.required_actions()) < set(ia.policy_actions())
    sids = [s["Sid"] for s in doc["Statement"]]
    assert len(sids) == len(set(sids)) and all(sid.isalnum() for sid in sids)
    pass_role = [s for s in doc["Statement"] if "iam:PassRole" in s["Action"]]
    assert pass_role == [{"Sid": "ProgressiveDeliveryPassRoleToEcsTasks", "Effect": "Allow", "Action": ["iam:PassRole"],
                          "Resource": "*", "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}}]
    for statement in doc["Statement"]:
        services = set(a.split(":")[0] for a in statement["Action"])
        assert len(services) == 1 and statement["Effect"] == "Allow"
        assert statement["Action"] == sorted(statement["Action"])


def test_policy_document_custom_actions_and_resources():
    doc = ia.policy_document(["ecs:UpdateService", "ecs:UpdateService", "ecs:DescribeServices"],
                             ["arn:aws:ecs:us-east-1:1:service/c/a", "arn:aws:ecs:us-east-1:1:service/c/b"])
    assert doc["Statement"] == [{"Sid": "ProgressiveDeliveryEcs", "Effect": "Allow",
                                 "Action": ["ecs:DescribeServices", "ecs:UpdateService"],
                                 "Resource": ["arn:aws:ecs:us-east-1:1:service/c/a", "arn:aws:ecs:us-east-1:1:service/c/b"]}]


def test_render_tool_prints_the_policy_as_json():
    out = subprocess.run([sys.executable, str(REPO / "tools" / "render_iam_policy.py")], check=True,
                         capture_output=True, text=True, cwd=str(REPO)).stdout
    assert json.loads(out) == ia.policy_document()


@pytest.mark.parametrize("arn, expected", [
    ("arn:aws:sts::123456789012:assumed-role/deployer/awx-job-42",
     ("arn:aws:iam::123456789012:role/deployer", "deployer")),
    ("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_abc/jane@example.com",
     ("arn:aws:iam::123456789012:role/AWSReservedSSO_Admin_abc", "AWSReservedSSO_Admin_abc")),
    ("arn:aws-us-gov:sts::123456789012:assumed-role/deployer/s", ("arn:aws-us-gov:iam::123456789012:role/deployer", "deployer")),
    ("arn:aws-cn:sts::123456789012:assumed-role/d/s", ("arn:aws-cn:iam::123456789012:role/d", "d")),
    ("arn:aws:iam::123456789012:role/service-role/deployer", ("arn:aws:iam::123456789012:role/service-role/deployer", None)),
    ("arn:aws:iam::123456789012:user/ci", ("arn:aws:iam::123456789012:user/ci", None)),
    ("arn:aws:sts::123456789012:user/moto", ("arn:aws:iam::123456789012:user/moto", None)),
    ("  arn:aws:iam::123456789012:group/ops ", ("arn:aws:iam::123456789012:group/ops", None)),
])
def test_principal_for_simulation(arn, expected):
    assert ia.principal_for_simulation(arn) == expected


@pytest.mark.parametrize("arn, message", [
    ("arn:aws:sts::123456789012:federated-user/bob", "is a federated user"),
    ("arn:aws:iam::123456789012:root", "is the account root user"),
    ("arn:aws:sts::123456789012:assumed-role/no-session", "principal_arn must be the ARN of an IAM user, role or group"),
    ("deployer", "principal_arn must be the ARN"),
    (None, "principal_arn must be the ARN"),
])
def test_principal_for_simulation_rejects(arn, message):
    with pytest.raises(ValueError, match=message):
        ia.principal_for_simulation(arn)


def test_simulation_report_lists_every_denied_action_with_decision_and_resource():
    results = [
        {"EvalActionName": "ecs:DescribeServices", "EvalResourceName": "*", "EvalDecision": "allowed"},
        {"EvalActionName": "ecs:UpdateService", "EvalResourceName": "*", "EvalDecision": "implicitDeny"},
        {"EvalActionName": "iam:PassRole", "EvalResourceName": "*", "EvalDecision": "explicitDeny"},
    ]
    allowed, denied = ia.simulation_report(results, ["ecs:DescribeServices", "ecs:UpdateService", "iam:PassRole"])
    assert allowed == ["ecs:DescribeServices"]
    assert denied == [{"action": "ecs:UpdateService", "decision": "implicitDeny", "resource": "*"},
                      {"action": "iam:PassRole", "decision": "explicitDeny", "resource": "*"}]
    assert ia.describe_denied(denied) == "ecs:UpdateService (implicitDeny on *), iam:PassRole (explicitDeny on *)"


def test_simulation_report_per_resource_and_missing_answers():
    results = [
        {"EvalActionName": "ecs:UpdateService", "EvalResourceName": "arn:svc/a", "EvalDecision": "allowed"},
        {"EvalActionName": "ecs:UpdateService", "EvalResourceName": "arn:svc/b", "EvalDecision": "implicitDeny"},
        {"EvalActionName": "ssm:PutParameter", "EvalResourceName": "*", "EvalDecision": "allowed",
         "ResourceSpecificResults": [{"EvalResourceName": "arn:p/1", "EvalResourceDecision": "allowed"},
                                     {"EvalResourceName": "arn:p/2", "EvalResourceDecision": "explicitDeny"}]},
        # IAM answers action names in its own case
        {"EvalActionName": "ECS:DescribeServices", "EvalResourceName": "*", "EvalDecision": "allowed"},
    ]
    allowed, denied = ia.simulation_report(results, ["ecs:UpdateService", "ssm:PutParameter", "ecs:DescribeServices",
                                                     "logs:PutLogEvents"])
    assert allowed == ["ecs:DescribeServices"]
    assert denied == [{"action": "ecs:UpdateService", "decision": "implicitDeny", "resource": "arn:svc/b"},
                      {"action": "ssm:PutParameter", "decision": "explicitDeny", "resource": "arn:p/2"},
                      {"action": "logs:PutLogEvents", "decision": "missing", "resource": None}]


def test_simulation_batches_merge_actions_with_different_resources():
    roles = ["arn:aws:iam::1:role/task", "arn:aws:iam::1:role/exec"]
    assert ia.simulation_batches(["ecs:UpdateService", "iam:PassRole", "ecs:ListTasks"], ["*"], {"iam:PassRole": roles}) == [
        (["ecs:UpdateService", "iam:PassRole", "ecs:ListTasks"], ["*"] + roles)]
    assert ia.simulation_batches(["a:B", "a:B", "a:C"], ["*"]) == [(["a:B", "a:C"], ["*"])]
    # within the answers one page holds: 3 actions x 2 resources = 6 pairs; a cap of 4 splits
    assert ia.simulation_batches(["a:B", "a:C", "a:D"], ["r1"], {"a:D": ["r2"]}, max_pairs=4) == [
        (["a:B", "a:C"], ["r1"]), (["a:D"], ["r2"])]
    assert len(ia.simulation_batches(["s:A%d" % i for i in range(40)], ["*"],
                                     dict(("s:A%d" % i, ["arn:%d" % i]) for i in range(40)))) == 2


def test_simulation_report_judges_each_action_on_its_own_resources():
    roles = ["arn:role/task"]
    wanted = ia.wanted_resources(["ecs:UpdateService", "iam:PassRole"], ["*"], {"iam:PassRole": roles})
    results = [  # one merged call: each action answered on both resources
        {"EvalActionName": "ecs:UpdateService", "EvalResourceName": "*", "EvalDecision": "allowed"},
        {"EvalActionName": "ecs:UpdateService", "EvalResourceName": "arn:role/task", "EvalDecision": "implicitDeny"},
        {"EvalActionName": "iam:PassRole", "EvalResourceName": "*", "EvalDecision": "implicitDeny"},
        {"EvalActionName": "iam:PassRole", "EvalResourceName": "arn:role/task", "EvalDecision": "allowed"},
    ]
    assert ia.simulation_report(results, ["ecs:UpdateService", "iam:PassRole"], wanted) == (
        ["ecs:UpdateService", "iam:PassRole"], [])
    shaped = [  # the same answers, one result per action with ResourceSpecificResults; PassRole denied on its role
        {"EvalActionName": "ecs:UpdateService", "EvalDecision": "implicitDeny", "ResourceSpecificResults": [
            {"EvalResourceName": "*", "EvalResourceDecision": "allowed"},
            {"EvalResourceName": "arn:role/task", "EvalResourceDecision": "implicitDeny"}]},
        {"EvalActionName": "iam:PassRole", "EvalDecision": "implicitDeny", "ResourceSpecificResults": [
            {"EvalResourceName": "*", "EvalResourceDecision": "allowed"},
            {"EvalResourceName": "arn:role/task", "EvalResourceDecision": "explicitDeny"}]},
    ]
    assert ia.simulation_report(shaped, ["ecs:UpdateService", "iam:PassRole"], wanted) == (
        ["ecs:UpdateService"], [{"action": "iam:PassRole", "decision": "explicitDeny", "resource": "arn:role/task"}])
    # an own resource the simulation did not answer is missing
    allowed, denied = ia.simulation_report(results[:3], ["ecs:UpdateService", "iam:PassRole"], wanted)
    assert allowed == ["ecs:UpdateService"]
    assert denied == [{"action": "iam:PassRole", "decision": "missing", "resource": "arn:role/task"}]


def test_check_action_resources():
    assert ia.check_action_resources({"iam:PassRole": ["arn:r"]}, ["iam:PassRole"]) == []
    assert ia.check_action_resources({}, []) == []
    assert "action_resources names ecs:Nope, which is not among the actions checked" in \
        ia.check_action_resources({"ecs:Nope": ["*"]}, ["iam:PassRole"])
    assert "action_resources.iam:PassRole must be a non-empty list of resource ARNs, got []" in \
        ia.check_action_resources({"iam:PassRole": []}, ["iam:PassRole"])
    assert ia.check_action_resources({"iam:PassRole": "arn:r"}, ["iam:PassRole"])


def test_context_entries_only_when_pass_role_is_simulated():
    assert ia.context_entries(["ecs:UpdateService"]) == []
    entries = ia.context_entries(["ecs:UpdateService", "iam:PassRole"])
    assert entries == [{"ContextKeyName": "iam:PassedToService", "ContextKeyValues": ["ecs-tasks.amazonaws.com"],
                        "ContextKeyType": "string"}]
    # the key and value are exactly the condition the rendered policy puts on iam:PassRole
    condition = ia.PASS_ROLE_CONDITION["StringEquals"]
    assert {entries[0]["ContextKeyName"]: entries[0]["ContextKeyValues"][0]} == condition


LAB_SCOPE = {"app": "myapp", "cluster": "prod-ecs-cluster", "region": "us-east-1", "account_id": "123456789012"}


def _statement(doc, sid):
    return [s for s in doc["Statement"] if s["Sid"] == sid][0]


def test_scoped_policy_one_statement_per_resource_kind():
    names = ia.scope_names(LAB_SCOPE)
    doc = ia.policy_document(names=names)
    granted = sorted(a for s in doc["Statement"] for a in s["Action"])
    assert granted == sorted(ia.policy_actions())
    services = _statement(doc, "SlotServices")
    assert services["Resource"] == ["arn:aws:ecs:us-east-1:123456789012:service/prod-ecs-cluster/myapp-a",
                                    "arn:aws:ecs:us-east-1:123456789012:service/prod-ecs-cluster/myapp-b"]
    assert {"ecs:UpdateService", "ecs:TagResource", "ecs:UntagResource"} <= set(services["Action"])
    assert _statement(doc, "ListenersOfTheLoadBalancer")["Resource"] == \
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/myapp-alb/*"
    assert _statement(doc, "DeploymentLockParameter")["Resource"] == [
        "arn:aws:ssm:us-east-1:123456789012:parameter/progressive-delivery/locks/prod-ecs-cluster/myapp",
        "arn:aws:ssm:us-east-1:123456789012:parameter/progressive-delivery/locks/prod-ecs-cluster/myapp.claim",
        # the VM path's locks, one per fleet (vm_rolling_lock_name's default; scope key vm_locks)
        "arn:aws:ssm:us-east-1:123456789012:parameter/progressive-delivery/vm/*"]
    assert _statement(doc, "EcrRepository")["Resource"] == "arn:aws:ecr:us-east-1:123456789012:repository/myapp"
    pass_role = _statement(doc, "PassTaskRolesToEcsTasks")
    assert pass_role == {"Sid": "PassTaskRolesToEcsTasks", "Effect": "Allow", "Action": ["iam:PassRole"],
                         "Resource": ["arn:aws:iam::123456789012:role/myapp-task-role",
                                      "arn:aws:iam::123456789012:role/myapp-execution-role"],
                         "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}}
    assert _statement(doc, "ListTasksInTheCluster")["Condition"] == {
        "ArnEquals": {"ecs:cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/prod-ecs-cluster"}}
    star = [a for s in doc["Statement"] if s["Resource"] == "*" for a in s["Action"]]
    assert star and all(ia.WILDCARD_REASONS[a] for a in star)
    assert "ecs:UpdateService" not in star and "elasticloadbalancing:ModifyListener" not in star


def test_scope_names_overrides_and_arns_kept():
    names = ia.scope_names(dict(LAB_SCOPE, services=["web-blue", "web-green"], pass_roles=["arn:aws:iam::1:role/x/task"],
                                secrets=["DB_PASSWORD", "arn:aws:secretsmanager:us-east-1:1:secret:k-AbCdEf"],
                                deployer_arns=["arn:aws:iam::123456789012:user/ci"], lock="locks/web"))
    res = ia.action_resources(names)
    assert res["ecs:UpdateService"][0].endswith(":service/prod-ecs-cluster/web-blue")
    assert res["iam:PassRole"] == ["arn:aws:iam::1:role/x/task"]
    assert res["secretsmanager:DescribeSecret"] == ["arn:aws:secretsmanager:us-east-1:123456789012:secret:DB_PASSWORD-??????",
                                                    "arn:aws:secretsmanager:us-east-1:1:secret:k-AbCdEf"]
    assert res["iam:SimulatePrincipalPolicy"] == ["arn:aws:iam::123456789012:user/ci"]
    assert res["ssm:PutParameter"] == ["arn:aws:ssm:us-east-1:123456789012:parameter/locks/web",
                                       "arn:aws:ssm:us-east-1:123456789012:parameter/locks/web.claim",
                                       "arn:aws:ssm:us-east-1:123456789012:parameter/progressive-delivery/vm/*"]
    assert res["sts:GetCallerIdentity"] == ["*"]


def test_an_action_without_a_scope_is_rendered_unscoped():
    doc = ia.policy_document(["ecs:UpdateService", "ecs:RunTask"], names=ia.scope_names(LAB_SCOPE))
    assert [s["Sid"] for s in doc["Statement"]] == ["SlotServices", "Unscoped"]
    assert _statement(doc, "Unscoped") == {"Sid": "Unscoped", "Effect": "Allow", "Action": ["ecs:RunTask"], "Resource": "*"}


@pytest.mark.parametrize("scope, message", [
    ({"clusters": "x"}, "scope.clusters is not a known name"),
    ({"services": "myapp-a"}, "scope.services must be a list of names"),
    ({"cluster": ""}, "scope.cluster must be a non-empty string"),
])
def test_check_scope(scope, message):
    assert message in ia.check_scope(scope)[0]


def test_context_entries_for_a_scoped_simulation():
    names = ia.scope_names(LAB_SCOPE)
    entries = ia.context_entries(["ecs:ListTasks", "iam:PassRole"], names)
    assert {e["ContextKeyName"]: e["ContextKeyValues"] for e in entries} == {
        "iam:PassedToService": ["ecs-tasks.amazonaws.com"],
        "ecs:cluster": ["arn:aws:ecs:us-east-1:123456789012:cluster/prod-ecs-cluster"]}
    assert ia.context_entries(["ecs:ListTasks"]) == []


def test_vm_locks_are_scoped_by_name_with_their_claims():
    res = ia.scope_names({"vm_locks": ["pd/vm/web-fleet", "/pd/vm/api-fleet"]})
    assert res["vm_locks"] == ["/pd/vm/web-fleet", "/pd/vm/api-fleet"]
    doc = ia.policy_document(ia.policy_actions(), names=ia.scope_names({
        "account": "1", "region": "eu-west-1", "lock": "/locks/web", "vm_locks": ["/pd/vm/web-fleet"]}))
    assert _statement(doc, "DeploymentLockParameter")["Resource"] == [
        "arn:aws:ssm:eu-west-1:1:parameter/locks/web", "arn:aws:ssm:eu-west-1:1:parameter/locks/web.claim",
        "arn:aws:ssm:eu-west-1:1:parameter/pd/vm/web-fleet", "arn:aws:ssm:eu-west-1:1:parameter/pd/vm/web-fleet.claim"]


def test_a_run_without_a_vm_lock_checks_only_its_own_lock():
    """The ECS preflight gives vm_locks=[]: a scoped account that grants only the ECS lock's parameter passes."""
    ecs_run = ia.action_resources(ia.scope_names(dict(LAB_SCOPE, vm_locks=[])), ["ssm:PutParameter"])["ssm:PutParameter"]
    assert ecs_run and not any("/progressive-delivery/vm/" in arn for arn in ecs_run), ecs_run
    policy = ia.action_resources(ia.scope_names(LAB_SCOPE), ["ssm:PutParameter"])["ssm:PutParameter"]
    assert any(arn.endswith(":parameter/progressive-delivery/vm/*") for arn in policy), policy
