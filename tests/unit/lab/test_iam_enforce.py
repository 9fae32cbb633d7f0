"""The lab's IAM enforcement, pure parts: which resources a request is checked on, conditions, the decision - against
the very policy the lab's deployer holds (docs' policy rendered for inventories/lab)."""
import importlib.util
import json
from pathlib import Path

import pytest

from lab.aws.iam_enforce import RESOURCES, conditions_hold, decide, request_checks

REPO = Path(__file__).resolve().parents[3]
CTX = {"partition": "aws", "region": "us-east-1", "account": "123456789012"}
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/%s/0123456789abcdef"
LISTENER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/myapp-alb/50dc6c495c0c9188/f2f7dc8efc522ab2"


@pytest.fixture(scope="module")
def policies():
    spec = importlib.util.spec_from_file_location("render_iam_policy", str(REPO / "tools" / "render_iam_policy.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return [{"id": "progressive-delivery", "type": "user",
             "document": json.loads(tool.render(inventory=str(REPO / "inventories" / "lab")))}]


def decisions(policies, action, params):
    return [(a, r, decide(policies, a, r, c)[0]) for a, r, c in request_checks(action, params, CTX)]


@pytest.mark.parametrize("action, params, resource", [
    ("ecs:UpdateService", {"cluster": "prod-ecs-cluster", "service": "myapp-b"},
     "arn:aws:ecs:us-east-1:123456789012:service/prod-ecs-cluster/myapp-b"),
    ("ecs:DescribeServices", {"cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/prod-ecs-cluster",
                              "services": ["myapp-a"]},
     "arn:aws:ecs:us-east-1:123456789012:service/prod-ecs-cluster/myapp-a"),
    ("ecs:TagResource", {"resourceArn": "arn:aws:ecs:us-east-1:123456789012:service/prod-ecs-cluster/myapp-b"},
     "arn:aws:ecs:us-east-1:123456789012:service/prod-ecs-cluster/myapp-b"),
    ("ecs:DescribeTasks", {"cluster": "prod-ecs-cluster", "tasks": ["abc"]},
     "arn:aws:ecs:us-east-1:123456789012:task/prod-ecs-cluster/abc"),
    ("elasticloadbalancing:ModifyListener", {"ListenerArn": LISTENER}, LISTENER),
    ("elasticloadbalancing:ModifyTargetGroup", {"TargetGroupArn": TG % "myapp-b"}, TG % "myapp-b"),
    ("elasticloadbalancing:RegisterTargets", {"TargetGroupArn": TG % "myapp-vm"}, TG % "myapp-vm"),
    ("ssm:PutParameter", {"Name": "/progressive-delivery/locks/prod-ecs-cluster/myapp"},
     "arn:aws:ssm:us-east-1:123456789012:parameter/progressive-delivery/locks/prod-ecs-cluster/myapp"),
    ("ecr:DescribeImages", {"repositoryName": "myapp"}, "arn:aws:ecr:us-east-1:123456789012:repository/myapp"),
    ("secretsmanager:DescribeSecret", {"SecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:DB_PASSWORD-Ab12Cd"},
     "arn:aws:secretsmanager:us-east-1:123456789012:secret:DB_PASSWORD-Ab12Cd"),
    ("iam:SimulatePrincipalPolicy", {"PolicySourceArn": "arn:aws:iam::123456789012:user/progressive-deployer"},
     "arn:aws:iam::123456789012:user/progressive-deployer"),
    ("cloudwatch:GetMetricData", {}, "*"),
])
def test_the_flow_is_allowed_on_its_own_resources(policies, action, params, resource):
    assert decisions(policies, action, params) == [(action, resource, "allowed")]


@pytest.mark.parametrize("action, params", [
    ("ecs:UpdateService", {"cluster": "prod-ecs-cluster", "service": "otherapp-a"}),       # another service
    ("ecs:UpdateService", {"cluster": "other-cluster", "service": "myapp-a"}),             # another cluster
    ("elasticloadbalancing:ModifyListener",
     {"ListenerArn": LISTENER.replace("myapp-alb", "other-alb")}),                            # another load balancer
    ("elasticloadbalancing:ModifyTargetGroup", {"TargetGroupArn": TG % "myapp-vm"}),         # slot TGs only
    ("ssm:DeleteParameter", {"Name": "/progressive-delivery/locks/prod-ecs-cluster/other"}),  # another lock
    ("ecr:DescribeImages", {"repositoryName": "other"}),
    ("ecs:DeleteService", {"cluster": "prod-ecs-cluster", "service": "myapp-a"}),            # never granted
    ("ecs:CreateService", {"cluster": "prod-ecs-cluster", "serviceName": "myapp-a"}),        # not granted (yet)
    ("ecs:RunTask", {"cluster": "prod-ecs-cluster"}),                                        # no RESOURCES entry: on *
])
def test_anything_else_is_denied(policies, action, params):
    assert [d for dummy, dummy2, d in decisions(policies, action, params)] == ["implicitDeny"]


def test_register_task_definition_implies_pass_role_to_ecs_tasks_on_the_task_roles(policies):
    params = {"family": "myapp", "taskRoleArn": "arn:aws:iam::123456789012:role/myapp-task-role",
              "executionRoleArn": "arn:aws:iam::123456789012:role/myapp-execution-role"}
    assert decisions(policies, "ecs:RegisterTaskDefinition", params) == [
        ("ecs:RegisterTaskDefinition", "*", "allowed"),
        ("iam:PassRole", "arn:aws:iam::123456789012:role/myapp-task-role", "allowed"),
        ("iam:PassRole", "arn:aws:iam::123456789012:role/myapp-execution-role", "allowed")]
    params["taskRoleArn"] = "arn:aws:iam::123456789012:role/admin"
    assert decisions(policies, "ecs:RegisterTaskDefinition", params)[1] == (
        "iam:PassRole", "arn:aws:iam::123456789012:role/admin", "implicitDeny")


def test_pass_role_only_to_ecs_tasks(policies):
    role = "arn:aws:iam::123456789012:role/myapp-task-role"
    assert decide(policies, "iam:PassRole", role, {"iam:PassedToService": "ecs-tasks.amazonaws.com"})[0] == "allowed"
    assert decide(policies, "iam:PassRole", role, {"iam:PassedToService": "lambda.amazonaws.com"})[0] == "implicitDeny"
    assert decide(policies, "iam:PassRole", role, {})[0] == "implicitDeny"


def test_list_tasks_only_in_the_cluster(policies):
    assert decisions(policies, "ecs:ListTasks", {"cluster": "prod-ecs-cluster"}) == [("ecs:ListTasks", "*", "allowed")]
    assert decisions(policies, "ecs:ListTasks", {"cluster": "other"}) == [("ecs:ListTasks", "*", "implicitDeny")]


@pytest.mark.parametrize("condition, context, holds", [
    ({"StringEquals": {"k": "v"}}, {"k": "v"}, True),
    ({"StringEquals": {"k": ["a", "v"]}}, {"k": "v"}, True),
    ({"StringEquals": {"k": "v"}}, {}, False),
    ({"StringEqualsIfExists": {"k": "v"}}, {}, True),
    ({"StringNotEquals": {"k": "v"}}, {"k": "w"}, True),
    ({"StringLike": {"k": "arn:*:x"}}, {"k": "arn:aws:x"}, True),
    ({"ArnEquals": {"k": "arn:a"}}, {"k": "arn:b"}, False),
    ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "true"}, False),   # not evaluated: fails
    (None, {}, True),
])
def test_conditions(condition, context, holds):
    assert conditions_hold(condition, context) is holds


def test_explicit_deny_wins():
    policies = [{"id": "p", "type": "user", "document": {"Statement": [
        {"Effect": "Allow", "Action": "ecs:*", "Resource": "*"},
        {"Sid": "NoDelete", "Effect": "Deny", "Action": "ecs:DeleteService", "Resource": "*"}]}}]
    assert decide(policies, "ecs:DeleteService", "arn:x", {}) == ("explicitDeny", ["NoDelete"])
    assert decide(policies, "ecs:UpdateService", "arn:x", {}) == ("allowed", ["p"])


def test_every_granted_action_has_its_resources_derived():
    """An action the policy scopes but the lab cannot place would be denied on `*`: each needs a RESOURCES entry."""
    spec = importlib.util.spec_from_file_location("iam_actions", str(REPO / "plugins" / "module_utils" / "iam_actions.py"))
    ia = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ia)
    scoped = [a for a in ia.policy_actions() if ia.ACTION_SCOPES.get(a, "any") not in ("any", "cluster_tasks")]
    missing = [a for a in scoped if a not in RESOURCES and a not in ("iam:PassRole", "s3:GetObject", "s3:ListBucket")]
    assert missing == []
