import json

import pytest

from lab.aws.iam_policy import evaluate, evaluation_results, load_document, wildcard_match

DEPLOYER = {"id": "deployer", "type": "user", "document": {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ecs:Describe*", "ecs:UpdateService"], "Resource": "*"},
        {"Effect": "Allow", "Action": "elasticloadbalancing:ModifyListener",
         "Resource": "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/myapp-alb/*"},
        {"Effect": "Deny", "Action": "ecs:DeleteService", "Resource": "*"},
    ]}}


@pytest.mark.parametrize("pattern,value,ignore_case,expected", [
    ("ecs:Describe*", "ecs:DescribeServices", True, True),
    ("ecs:describe*", "ECS:DescribeServices", True, True),
    ("ecs:Describe*", "ecs:ListTasks", True, False),
    ("*", "anything:AtAll", True, True),
    ("s3:Get?bject", "s3:GetObject", True, True),
    ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/key", False, True),
    ("arn:aws:s3:::Bucket/*", "arn:aws:s3:::bucket/key", False, False),
    ("a.b", "axb", False, False),
])
def test_wildcard_match(pattern, value, ignore_case, expected):
    assert wildcard_match(pattern, value, ignore_case) is expected


def test_allowed_by_wildcard_action_names_the_policy():
    decision, matched = evaluate([DEPLOYER], "ecs:DescribeServices")
    assert decision == "allowed"
    assert matched == [{"SourcePolicyId": "deployer", "SourcePolicyType": "user"}]


def test_implicit_deny_when_nothing_matches():
    assert evaluate([DEPLOYER], "iam:PassRole") == ("implicitDeny", [])


def test_explicit_deny_wins_over_allow():
    allow_all = {"id": "admin", "type": "user-managed", "document": {"Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"}]}}
    decision, matched = evaluate([allow_all, DEPLOYER], "ecs:DeleteService")
    assert decision == "explicitDeny"
    assert matched == [{"SourcePolicyId": "deployer", "SourcePolicyType": "user"}]
    assert evaluate([allow_all], "ecs:DeleteService")[0] == "allowed"


def test_resource_scoping():
    listener = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/myapp-alb/abc/def"
    other = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/other-alb/abc/def"
    assert evaluate([DEPLOYER], "elasticloadbalancing:ModifyListener", listener)[0] == "allowed"
    assert evaluate([DEPLOYER], "elasticloadbalancing:ModifyListener", other)[0] == "implicitDeny"
    assert evaluate([DEPLOYER], "elasticloadbalancing:ModifyListener", "*")[0] == "implicitDeny"


def test_not_action_and_not_resource():
    doc = {"id": "p", "type": "role", "document": {"Statement": [
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::ok/*"}]}}
    assert evaluate([doc], "ecs:ListTasks")[0] == "allowed"
    assert evaluate([doc], "iam:CreateUser")[0] == "implicitDeny"
    assert evaluate([doc], "s3:GetObject", "arn:aws:s3:::ok/a")[0] == "allowed"
    assert evaluate([doc], "s3:GetObject", "arn:aws:s3:::secret/a")[0] == "explicitDeny"


def test_documents_as_json_and_url_encoded_strings_and_single_statement():
    text = json.dumps({"Statement": {"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}})
    encoded = "%7B%22Statement%22%3A%20%7B%22Effect%22%3A%20%22Allow%22%2C%20%22Action%22%3A%20%22ecs%3A%2A%22%2C" \
              "%20%22Resource%22%3A%20%22%2A%22%7D%7D"
    assert load_document(encoded) == json.loads(text)
    assert evaluate([{"id": "x", "type": "role", "document": text}], "ecs:ListTasks")[0] == "allowed"


def test_evaluation_results_shape_one_per_action_and_resource():
    results = evaluation_results([DEPLOYER], ["ecs:UpdateService", "iam:PassRole"], ["r1", "r2"])
    assert [(r["EvalActionName"], r["EvalResourceName"], r["EvalDecision"]) for r in results] == [
        ("ecs:UpdateService", "r1", "allowed"), ("ecs:UpdateService", "r2", "allowed"),
        ("iam:PassRole", "r1", "implicitDeny"), ("iam:PassRole", "r2", "implicitDeny")]
    assert evaluation_results([], ["ecs:ListTasks"])[0]["EvalResourceName"] == "*"
