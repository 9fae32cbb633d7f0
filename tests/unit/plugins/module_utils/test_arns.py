import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import arns

TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/myapp-a/0123456789abcdef"
LB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/prod-alb/50dc6c495c0c9188"
RULE = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/prod-alb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
LISTENER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/prod-alb/50dc6c495c0c9188/f2f7dc8efc522ab2"
TASKDEF = "arn:aws-cn:ecs:cn-north-1:123456789012:task-definition/myapp:42"


def test_parse_is_amazon_aws():
    parts = arns.parse(TASKDEF)
    assert (parts["partition"], parts["region"], parts["account_id"]) == ("aws-cn", "cn-north-1", "123456789012")
    assert arns.parse("myapp") is None and arns.parse(None) is None


def test_target_group():
    assert arns.target_group_name(TG) == "myapp-a"
    assert arns.target_group_dimension(TG) == "targetgroup/myapp-a/0123456789abcdef"
    assert arns.target_group_name("myapp-a") == "myapp-a"
    assert arns.target_group_dimension("myapp-a") is None
    assert arns.target_group_dimension(LB) is None


def test_load_balancer():
    assert arns.load_balancer_dimension(LB) == "app/prod-alb/50dc6c495c0c9188"
    assert arns.load_balancer_name(LB) == "prod-alb"
    assert arns.load_balancer_dimension(TG) is None
    assert arns.load_balancer_name("prod-alb") == "prod-alb"


def test_listener_of_rule():
    assert arns.listener_arn_of_rule(RULE) == LISTENER
    assert arns.listener_arn_of_rule(LISTENER) is None
    assert arns.listener_arn_of_rule("not-an-arn") is None


@pytest.mark.parametrize("ref, last, family", [
    (TASKDEF, "myapp:42", "myapp"),
    ("myapp:42", "myapp:42", "myapp"),
    ("arn:aws:ecs:us-east-1:123456789012:task/prod/0a1b2c", "0a1b2c", "0a1b2c"),
    ("arn:aws:iam::123456789012:role/path/deployer", "deployer", "deployer"),
])
def test_last_segment(ref, last, family):
    assert arns.last_segment(ref) == last
    assert arns.task_definition_family(ref) == family


def test_task_definition_revision():
    assert arns.task_definition_revision(TASKDEF) == ("myapp", 42)
    assert arns.task_definition_revision("myapp:7") == ("myapp", 7)
    with pytest.raises(ValueError):
        arns.task_definition_revision("myapp")
