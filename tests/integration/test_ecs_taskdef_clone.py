"""ecs_taskdef_clone, run through ansible-playbook against moto."""
import json

import pytest

from harness import localhost_play, run_playbook

ACCOUNT = "123456789012"
FAMILY = "web"
REPO = "%s.dkr.ecr.us-east-1.amazonaws.com/web" % ACCOUNT
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
SECRET_VALUE = "s3cr3t-db-password-value"
SSM_VALUE = "ssm-api-key-value"


@pytest.fixture
def world(moto):
    """A Fargate task definition with a Secrets Manager secret, an SSM parameter, awslogs, env and tags."""
    iam = moto.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                                 "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]})
    roles = dict((name, iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"])
                 for name in ("web-exec", "web-task"))
    secret_arn = moto.client("secretsmanager").create_secret(Name="web/db", SecretString=json.dumps({"password": SECRET_VALUE}))["ARN"]
    moto.client("ssm").put_parameter(Name="/web/api-key", Value=SSM_VALUE, Type="SecureString")
    ssm_arn = "arn:aws:ssm:us-east-1:%s:parameter/web/api-key" % ACCOUNT
    ecs = moto.client("ecs")
    ecs.register_task_definition(
        family=FAMILY, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="512", memory="1024",
        executionRoleArn=roles["web-exec"], taskRoleArn=roles["web-task"],
        containerDefinitions=[{
            "name": "app", "image": REPO + ":1.0.0", "essential": True, "memoryReservation": 256,
            "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            "environment": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "VERSION", "value": "1.0.0"}],
            "secrets": [{"name": "DB_PASSWORD", "valueFrom": secret_arn + ":password::"},
                        {"name": "API_KEY", "valueFrom": ssm_arn}],
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web"}},
            "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost:8080/health"], "interval": 10},
        }],
        tags=[{"key": "team", "value": "payments"}, {"key": "cost-center", "value": "cc-42"}],
    )
    return {"secret_arn": secret_arn, "ssm_arn": ssm_arn, "roles": roles}


def clone(moto, tasks, check=False, diff=False):
    return run_playbook(localhost_play(tasks, moto.url), check=check, diff=diff)


def clone_task(name="clone", ignore_errors=False, **params):
    task = {"name": name, "progressive.delivery.ecs_taskdef_clone": params}
    if ignore_errors:
        task["ignore_errors"] = True
    return task


def revisions(moto):
    return moto.client("ecs").list_task_definitions(familyPrefix=FAMILY)["taskDefinitionArns"]


def described(moto, reference):
    response = moto.client("ecs").describe_task_definition(taskDefinition=reference, include=["TAGS"])
    return response["taskDefinition"], response.get("tags", [])


def without(td, *fields):
    return dict((k, v) for k, v in td.items() if k not in fields)


def test_new_digest_changes_only_the_image_and_a_rerun_changes_nothing(moto, world):
    change = {"source": FAMILY, "containers": [{"name": "app", "digest": D1}]}
    result = clone(moto, [clone_task("first", **change), clone_task("again", **change)])
    assert result.rc == 0, result
    first, again = result.task("first"), result.task("again")
    assert first["changed"] is True and first["revision"] == 2 and first["family"] == FAMILY
    assert first["task_definition_arn"].endswith("task-definition/web:2")
    assert first["changes"] == ['containerDefinitions.app.image: "%s:1.0.0" -> "%s@%s"' % (REPO, REPO, D1)]
    assert again["changed"] is False and again["revision"] == 2 and again["changes"] == []

    assert len(revisions(moto)) == 2
    old, old_tags = described(moto, "web:1")
    new, new_tags = described(moto, "web:2")
    assert new["containerDefinitions"][0]["image"] == REPO + "@" + D1
    read_only = ("taskDefinitionArn", "revision", "registeredAt", "registeredBy")
    old_app = dict(old["containerDefinitions"][0], image=None)
    new_app = dict(new["containerDefinitions"][0], image=None)
    assert new_app == old_app, "everything but the image is kept in the container"
    assert without(new, "containerDefinitions", *read_only) == without(old, "containerDefinitions", *read_only)
    assert sorted(new_tags, key=str) == sorted(old_tags, key=str)
    assert first["tags"] == {"team": "payments", "cost-center": "cc-42"}
    # The returned definition is the registered one, secrets as references only.
    assert first["task_definition"]["containerDefinitions"][0]["secrets"][0]["valueFrom"] == world["secret_arn"] + ":password::"
    assert SECRET_VALUE not in result.stdout and SSM_VALUE not in result.stdout


def test_env_secrets_cpu_memory_and_tags_are_applied(moto, world):
    result = clone(moto, [clone_task(
        source="web:1", cpu="1 vCPU", memory="2 GB", tags={"release": "2.0"},
        containers=[{"name": "app", "image": "nginx:1.27", "environment": {"VERSION": "2.0.0", "DEPLOY_ID": 7},
                     "remove_environment": ["LOG_LEVEL"], "remove_secrets": ["API_KEY"],
                     "secrets": {"DB_USER": world["secret_arn"] + ":user::"}}])])
    assert result.rc == 0, result
    new, tags = described(moto, "web:2")
    app = new["containerDefinitions"][0]
    assert (new["cpu"], new["memory"]) == ("1024", "2048")
    assert app["image"] == "nginx:1.27"
    assert app["environment"] == [{"name": "VERSION", "value": "2.0.0"}, {"name": "DEPLOY_ID", "value": "7"}]
    assert app["secrets"] == [{"name": "DB_PASSWORD", "valueFrom": world["secret_arn"] + ":password::"},
                              {"name": "DB_USER", "valueFrom": world["secret_arn"] + ":user::"}]
    assert dict((t["key"], t["value"]) for t in tags) == {"team": "payments", "cost-center": "cc-42", "release": "2.0"}


def test_check_diff_registers_nothing_and_shows_the_change(moto, world):
    result = clone(moto, [clone_task(source=FAMILY, containers=[{"name": "app", "digest": D2}])], check=True, diff=True)
    assert result.rc == 0, result
    task = result.task("clone")
    assert task["changed"] is True
    assert "revision" not in task and "task_definition_arn" not in task
    assert task["task_definition"]["containerDefinitions"][0]["image"] == REPO + "@" + D2
    assert task["diff"]["before"]["containerDefinitions"]["app"]["image"] == REPO + ":1.0.0"
    assert task["diff"]["after"]["containerDefinitions"]["app"]["image"] == REPO + "@" + D2
    assert task["diff"]["before_header"].endswith("task-definition/web:1")
    assert len(revisions(moto)) == 1


def service_world(moto):
    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    ecs = moto.client("ecs")
    ecs.create_cluster(clusterName="prod")
    ecs.create_service(cluster="prod", serviceName="web-a", taskDefinition="web:1", desiredCount=1, launchType="FARGATE",
                       networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}})


def test_source_from_service_takes_what_it_runs_not_the_latest(moto, world):
    service_world(moto)
    result = clone(moto, [
        clone_task("unchanged", cluster="prod", service="web-a"),
        clone_task("other image", source=FAMILY, containers=[{"name": "app", "image": "nginx:other"}]),
        clone_task("from service", cluster="prod", service="web-a", containers=[{"name": "app", "environment": {"VERSION": "1.0.1"}}]),
    ])
    assert result.rc == 0, result
    assert result.task("unchanged")["changed"] is False and result.task("unchanged")["revision"] == 1
    assert result.task("other image")["revision"] == 2
    from_service = result.task("from service")
    assert from_service["revision"] == 3
    assert from_service["source_task_definition_arn"].endswith("task-definition/web:1")
    app = described(moto, "web:3")[0]["containerDefinitions"][0]
    assert app["image"] == REPO + ":1.0.0", "cloned what the service runs (web:1), not the latest (web:2)"
    assert {"name": "VERSION", "value": "1.0.1"} in app["environment"]


def test_bad_input_fails_before_anything_is_registered(moto, world):
    missing_secret = "arn:aws:secretsmanager:us-east-1:%s:secret:web/nope-AbCdEf" % ACCOUNT
    moto.client("ecs").create_cluster(clusterName="prod")
    result = clone(moto, [
        clone_task("bad pair", ignore_errors=True, source=FAMILY, cpu=256, memory=4096),
        clone_task("bad secret", ignore_errors=True, source=FAMILY, containers=[
            {"name": "app", "secrets": {"NEW": missing_secret, "PARAM": "/web/missing"}}]),
        clone_task("unknown container", ignore_errors=True, source=FAMILY, containers=[{"name": "ap", "digest": D1}]),
        clone_task("bad digest", ignore_errors=True, source=FAMILY, containers=[{"name": "app", "digest": "sha256:abc"}]),
        clone_task("no role", ignore_errors=True, source=FAMILY, validate_roles=True,
                   overrides={"taskRoleArn": "arn:aws:iam::%s:role/ghost" % ACCOUNT}),
        clone_task("no service", ignore_errors=True, cluster="prod", service="ghost"),
        clone_task("no cluster", ignore_errors=True, cluster="staging", service="web-a"),
        clone_task("no source", ignore_errors=True, source="ghost-family"),
    ])
    assert result.rc == 0, result
    msgs = dict((name, result.task(name)) for name in ("bad pair", "bad secret", "unknown container", "bad digest",
                                                       "no role", "no service", "no cluster", "no source"))
    for name, task in msgs.items():
        assert task.get("failed") is True, (name, task)
    assert "Fargate cpu 256 does not allow memory 4096; allowed with cpu 256: 512, 1024, 2048" in msgs["bad pair"]["msg"]
    assert msgs["bad secret"]["errors"] == [
        "container app: secret NEW valueFrom %s: Secrets Manager secret not found" % missing_secret,
        "container app: secret PARAM valueFrom /web/missing: SSM parameter /web/missing not found"]
    assert "no container named 'ap' in task definition web; it has: app" in msgs["unknown container"]["msg"]
    assert "digest 'sha256:abc' is not of the form sha256:<64 lowercase hex digits>" in msgs["bad digest"]["msg"]
    assert "taskRoleArn arn:aws:iam::%s:role/ghost: IAM role ghost does not exist" % ACCOUNT in msgs["no role"]["msg"]
    assert msgs["no service"]["msg"] == "service 'ghost' not found in cluster 'prod' (service, cluster)"
    assert msgs["no cluster"]["msg"] == "cluster 'staging' not found (cluster)"
    assert msgs["no source"]["msg"] == "source 'ghost-family': family has no ACTIVE revision"
    assert len(revisions(moto)) == 1


def test_same_content_as_latest_is_not_registered_even_from_an_older_revision(moto, world):
    to_d1 = [{"name": "app", "digest": D1}]
    result = clone(moto, [
        clone_task("to d1", source=FAMILY, containers=to_d1),
        # web:1 with the same change is what web:2 already is.
        clone_task("old source, same result", source="web:1", containers=to_d1),
    ])
    assert result.rc == 0, result
    assert result.task("to d1")["revision"] == 2
    same = result.task("old source, same result")
    assert same["changed"] is False and same["revision"] == 2
    assert len(revisions(moto)) == 2


@pytest.mark.lab
def test_against_the_lab_a_second_clone_changes_nothing(lab):
    """The lab's seeded task definition (secrets, awslogs, roles) cloned with v1.2.3's digest, twice."""
    digest = lab.client("ecr").describe_images(repositoryName="myapp", imageIds=[{"imageTag": "v1.2.3"}])["imageDetails"][0]["imageDigest"]
    task = {"name": "clone", "progressive.delivery.ecs_taskdef_clone": {
        "cluster": "prod-ecs-cluster", "service": "myapp-a", "validate_roles": True,
        "containers": [{"name": "myapp", "digest": digest}], "tags": {"purpose": "idempotence-check"}}}
    play = localhost_play([task, dict(task, name="again")], lab.endpoint)
    result = run_playbook(play)
    assert result.rc == 0, result
    first, again = result.task("clone"), result.task("again")
    assert first["task_definition"]["containerDefinitions"][0]["image"].endswith("@" + digest)
    assert again["changed"] is False and again["revision"] == first["revision"]
    assert sorted(s["name"] for s in first["task_definition"]["containerDefinitions"][0]["secrets"]) == ["API_KEY", "DB_PASSWORD"]
    lab.client("ecs").deregister_task_definition(taskDefinition=first["task_definition_arn"])
