import pytest

from lab.aws.task_env import (breaker_threshold, parse_image, parse_secret_ref, plan_step, rollout_limits,
                              task_environment, TaskStartError)

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


@pytest.mark.parametrize("image,expected", [
    (ECR + "/myapp:v1.2.2", (ECR, "myapp", "v1.2.2", None)),
    (ECR + "/myapp@sha256:abc", (ECR, "myapp", None, "sha256:abc")),
    (ECR + "/team/myapp:v1", (ECR, "team/myapp", "v1", None)),
    ("nginx", ("", "nginx", "latest", None)),
    ("localhost:5000/app:1", ("localhost:5000", "app", "1", None)),
])
def test_parse_image(image, expected):
    assert parse_image(image) == expected


def test_parse_secret_ref():
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:DB_PASSWORD-AbCdEf"
    assert parse_secret_ref(arn) == ("secretsmanager", arn, None, None, None)
    assert parse_secret_ref(arn + ":password::") == ("secretsmanager", arn, "password", None, None)
    assert parse_secret_ref(arn + ":password:AWSCURRENT:") == ("secretsmanager", arn, "password", "AWSCURRENT", None)
    assert parse_secret_ref("arn:aws:ssm:us-east-1:123456789012:parameter/myapp/db") == ("ssm", "/myapp/db")
    assert parse_secret_ref("arn:aws:ssm:us-east-1:123456789012:parameter/API_KEY") == ("ssm", "API_KEY")
    assert parse_secret_ref("API_KEY") == ("ssm", "API_KEY")


class _Secrets:
    def get_secret_value(self, secret_id, version_id, version_stage):
        if secret_id.endswith("missing"):
            raise KeyError(secret_id)
        return {"SecretString": '{"password": "s3cr3t"}' if "json" in secret_id else "plain-" + secret_id[-4:]}


class _Param:
    value = "from-ssm"


class _Ssm:
    def get_parameter(self, name):
        return _Param() if name == "API_KEY" else None


def test_task_environment_resolves_secrets_and_keeps_env():
    container = {"environment": [{"name": "VERSION", "value": "v1"}],
                 "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:r:1:secret:json-x:password::"},
                             {"name": "API_KEY", "valueFrom": "API_KEY"},
                             {"name": "OTHER", "valueFrom": "arn:aws:secretsmanager:r:1:secret:abcd"}]}
    env = task_environment(container, "256", "512", "v1.2.2", _Secrets(), _Ssm())
    assert env["VERSION"] == "v1" and env["DB_PASSWORD"] == "s3cr3t" and env["API_KEY"] == "from-ssm"
    assert env["OTHER"] == "plain-abcd" and env["LAB_IMAGE_TAG"] == "v1.2.2"


def test_unresolvable_secret_fails_the_task_without_its_value():
    container = {"secrets": [{"name": "X", "valueFrom": "arn:aws:secretsmanager:r:1:secret:missing"}]}
    with pytest.raises(TaskStartError) as err:
        task_environment(container, "256", "512", "t", _Secrets(), _Ssm())
    assert str(err.value).startswith("ResourceInitializationError: unable to pull secrets")
    with pytest.raises(TaskStartError):
        task_environment({"secrets": [{"name": "Y", "valueFrom": "NOPE"}]}, None, None, "t", _Secrets(), _Ssm())


def test_breaker_threshold():
    assert [breaker_threshold(d) for d in (0, 1, 4, 7, 10, 1000)] == [3, 3, 3, 4, 5, 200]


def test_rollout_limits():
    assert rollout_limits(4, 200, 100) == (8, 4)
    assert rollout_limits(4, 100, 50) == (4, 2)
    assert rollout_limits(3, 150, 50) == (4, 2)
    assert rollout_limits(0, 200, 100) == (0, 0)


def test_plan_blue_green_style_200_100():
    # first step: start 4 new, keep all old
    assert plan_step(4, 0, 4, 4, 0, 8, 4) == (4, 0, 0)
    # two new healthy -> two old may go
    assert plan_step(4, 4, 4, 4, 2, 8, 4) == (0, 2, 0)
    # all new healthy -> the rest of old go
    assert plan_step(4, 4, 2, 2, 4, 8, 4) == (0, 2, 0)


def test_plan_in_place_100_50():
    # no room to start: stop half the old first, then start two
    assert plan_step(4, 0, 4, 4, 0, 4, 2) == (0, 2, 0)
    assert plan_step(4, 0, 2, 2, 0, 4, 2) == (2, 0, 0)


def test_plan_unhealthy_old_tasks_and_scale_down():
    assert plan_step(4, 4, 2, 0, 4, 8, 4) == (0, 2, 0)
    assert plan_step(2, 4, 0, 0, 4, 4, 2) == (0, 0, 2)
