import copy

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import taskdef

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64
ACCOUNT = "123456789012"
EXEC_ROLE = "arn:aws:iam::%s:role/app-exec" % ACCOUNT
TASK_ROLE = "arn:aws:iam::%s:role/app-task" % ACCOUNT
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:%s:secret:db-password-AbCdEf" % ACCOUNT
SSM_ARN = "arn:aws:ssm:us-east-1:%s:parameter/app/api-key" % ACCOUNT
REPO = "%s.dkr.ecr.us-east-1.amazonaws.com/app" % ACCOUNT


def described():
    """A Fargate definition as describe_task_definition returns it (read-only fields and AWS defaults included)."""
    return {
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:%s:task-definition/web:3" % ACCOUNT,
        "family": "web",
        "revision": 3,
        "status": "ACTIVE",
        "taskRoleArn": TASK_ROLE,
        "executionRoleArn": EXEC_ROLE,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "compatibilities": ["EC2", "FARGATE"],
        "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"}],
        "registeredAt": "2026-11-01T00:00:00Z",
        "registeredBy": "arn:aws:iam::%s:user/ci" % ACCOUNT,
        "cpu": "512",
        "memory": "1024",
        "volumes": [],
        "placementConstraints": [],
        "containerDefinitions": [
            {
                "name": "app",
                "image": "%s:1.0.0" % REPO,
                "cpu": 0,
                "essential": True,
                "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}],
                "environment": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "VERSION", "value": "1.0.0"}],
                "secrets": [{"name": "DB_PASSWORD", "valueFrom": SECRET_ARN}, {"name": "API_KEY", "valueFrom": SSM_ARN}],
                "mountPoints": [],
                "volumesFrom": [],
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web"}},
            },
            {
                "name": "sidecar",
                "image": "public.ecr.aws/nginx/nginx:1.27",
                "cpu": 0,
                "essential": False,
                "portMappings": [{"containerPort": 9000}],
                "environment": [],
                "mountPoints": [],
                "volumesFrom": [],
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "sidecar"}},
            },
        ],
    }


TAGS = [{"key": "team", "value": "payments"}]


def base():
    return taskdef.to_register_input(described(), tags=TAGS)


def container(td, name):
    return next(c for c in td["containerDefinitions"] if c["name"] == name)


# ---------------------------------------------------------------- strip

def test_register_input_drops_every_read_only_field_and_keeps_the_rest():
    source = described()
    source["deregisteredAt"] = "2026-11-02T00:00:00Z"
    result = taskdef.to_register_input(source, tags=TAGS)
    for field in taskdef.READ_ONLY_FIELDS:
        assert field not in result
    assert result["tags"] == TAGS
    for field in ("family", "taskRoleArn", "executionRoleArn", "networkMode", "requiresCompatibilities", "cpu", "memory",
                  "containerDefinitions", "volumes", "placementConstraints"):
        assert result[field] == source[field], field
    assert source["revision"] == 3, "the input was mutated"


def test_register_input_drops_fields_the_api_does_not_take_and_empty_tags():
    source = dict(described(), someFutureReadOnly="x")
    result = taskdef.to_register_input(source, tags=[], allowed_fields=["family", "containerDefinitions"])
    assert set(result) == {"family", "containerDefinitions"}
    assert "someFutureReadOnly" not in taskdef.to_register_input(source)


# ---------------------------------------------------------------- units and images

@pytest.mark.parametrize("value,units", [("256", 256), (1024, 1024), ("1 vCPU", 1024), ("0.25 vcpu", 256), (".5 vCPU", 512),
                                         ("abc", None), ("0", None), ("-1", None), (True, None), (None, None), ("0.1 vCPU", None)])
def test_parse_cpu(value, units):
    assert taskdef.parse_cpu(value) == units


@pytest.mark.parametrize("value,mib", [("512", 512), ("2 GB", 2048), ("0.5GB", 512), ("2gib", 2048), ("lots", None)])
def test_parse_memory(value, mib):
    assert taskdef.parse_memory(value) == mib


@pytest.mark.parametrize("image,repository", [
    ("repo/app:1.0", "repo/app"),
    ("registry:5000/app", "registry:5000/app"),
    ("registry:5000/app:tag", "registry:5000/app"),
    ("app@" + D1, "app"),
    ("app:tag@" + D1, "app"),
    ("nginx", "nginx"),
])
def test_image_repository_removes_tag_and_digest_but_not_a_registry_port(image, repository):
    assert taskdef.image_repository(image) == repository


# ---------------------------------------------------------------- change validation

def test_valid_changes_have_no_errors():
    assert taskdef.validate_changes(
        containers=[{"name": "app", "digest": D1, "environment": {"VERSION": "2"}, "remove_environment": ["OLD"],
                     "secrets": {"TOKEN": SECRET_ARN + ":token::"}, "remove_secrets": ["API_KEY"]},
                    {"name": "sidecar", "image": "nginx:1.28"}],
        cpu="1 vCPU", memory=2048, overrides={"taskRoleArn": TASK_ROLE}) == []


@pytest.mark.parametrize("change,expected", [
    ({"image": "x"}, "containers[0]: name is required"),
    ({"name": "app", "image": "x", "digest": D1}, "give either image, or repository and/or digest, not both"),
    ({"name": "app", "image": "bad image"}, "image 'bad image' is not an image reference"),
    ({"name": "app", "repository": REPO}, "needs a digest"),
    ({"name": "app", "digest": "sha256:xyz"}, "digest 'sha256:xyz' is not of the form sha256:<64 lowercase hex digits>"),
    ({"name": "app", "digest": "sha256:" + "A" * 64}, "is not of the form"),
    ({"name": "app", "environment": {"1BAD": "x"}}, "environment variable name '1BAD' is invalid"),
    ({"name": "app", "environment": {"A=B": "x"}}, "environment variable name 'A=B' is invalid"),
    ({"name": "app", "environment": {"A B": "x"}}, "environment variable name 'A B' is invalid"),
    ({"name": "app", "environment": {"A": "1"}, "remove_environment": ["A"]}, "'A' is both set and removed"),
    ({"name": "app", "secrets": {"S": "hunter2"}, "remove_secrets": ["S"]}, "secret 'S' is both set and removed"),
    ({"name": "app", "secrets": {"S": "arn:aws:s3:::bucket/key"}}, "neither a Secrets Manager ARN nor an SSM parameter"),
    ({"name": "app", "secrets": {"bad name": SECRET_ARN}}, "secret name 'bad name' is invalid (letters, digits, _, . and -, not starting with a digit)"),
    ({"name": "app", "environment": {"S": "1"}, "secrets": {"S": SECRET_ARN}}, "'S' is set both as an environment variable and as a secret"),
])
def test_each_bad_container_change_is_named(change, expected):
    errors = taskdef.validate_changes(containers=[change])
    assert len(errors) == 1, errors
    assert expected in errors[0]


def test_jvm_style_environment_names_are_allowed():
    assert taskdef.validate_changes(containers=[{"name": "app", "environment": {"spring.profiles.active": "prod", "JAVA-OPTS": "x"}}]) == []


def test_container_listed_twice_is_an_error():
    errors = taskdef.validate_changes(containers=[{"name": "app", "digest": D1}, {"name": "app", "digest": D2}])
    assert errors == ["containers[1] (app): container 'app' is listed twice; give each container one entry"]


def test_bad_cpu_memory_and_overrides_are_named():
    errors = taskdef.validate_changes(cpu="fast", memory="big", overrides={
        "containerDefinitions": [], "tags": [], "revision": 4, "notAField": 1, "cpu": "256", "pidMode": "task"})
    assert "cpu 'fast' is not a CPU amount (units such as 256, 1024, or '1 vCPU')" in errors
    assert "memory 'big' is not a memory amount (MiB such as 512, 2048, or '2 GB')" in errors
    assert "overrides.containerDefinitions: set it with the containers option instead" in errors
    assert "overrides.tags: set it with the tags option instead" in errors
    assert "overrides.cpu: set it with the cpu option instead" in errors
    assert "overrides.revision: read-only field, ECS assigns it" in errors
    assert any(e.startswith("overrides.notAField: not a task definition field; allowed: ") and "taskRoleArn" in e for e in errors)
    assert len(errors) == 7, errors


# ---------------------------------------------------------------- apply

def test_digest_change_swaps_only_that_image_keeping_the_repository():
    before = base()
    after, errors = taskdef.apply_changes(before, containers=[{"name": "app", "digest": D1}])
    assert errors == []
    assert container(after, "app")["image"] == REPO + "@" + D1
    assert taskdef.describe_changes(before, after) == [
        'containerDefinitions.app.image: "%s:1.0.0" -> "%s@%s"' % (REPO, REPO, D1)]
    assert container(before, "app")["image"] == REPO + ":1.0.0", "the input was mutated"


def test_repository_plus_digest_and_full_image():
    after, errors = taskdef.apply_changes(base(), containers=[
        {"name": "app", "repository": "other/app:ignored-tag", "digest": D2},
        {"name": "sidecar", "image": "nginx:1.28"}])
    assert errors == []
    assert container(after, "app")["image"] == "other/app@" + D2
    assert container(after, "sidecar")["image"] == "nginx:1.28"


def test_environment_set_and_remove_keeps_order_and_stringifies():
    after, _ = taskdef.apply_changes(base(), containers=[{"name": "app", "environment": {"VERSION": 2.1, "DEBUG": True, "NEW": "x"},
                                                          "remove_environment": ["LOG_LEVEL", "NOT_THERE"]}])
    assert container(after, "app")["environment"] == [
        {"name": "VERSION", "value": "2.1"}, {"name": "DEBUG", "value": "true"}, {"name": "NEW", "value": "x"}]


def test_secrets_set_and_remove():
    new_ref = SECRET_ARN + ":token::"
    after, _ = taskdef.apply_changes(base(), containers=[{"name": "app", "secrets": {"TOKEN": new_ref, "DB_PASSWORD": SECRET_ARN + "-v2"},
                                                          "remove_secrets": ["API_KEY"]}])
    assert container(after, "app")["secrets"] == [
        {"name": "DB_PASSWORD", "valueFrom": SECRET_ARN + "-v2"}, {"name": "TOKEN", "valueFrom": new_ref}]


def test_environment_added_to_a_container_without_any():
    src = base()
    del container(src, "sidecar")["environment"]
    after, _ = taskdef.apply_changes(src, containers=[{"name": "sidecar", "environment": {"A": "1"}}])
    assert container(after, "sidecar")["environment"] == [{"name": "A", "value": "1"}]


def test_unknown_container_is_an_error_listing_the_real_ones():
    _, errors = taskdef.apply_changes(base(), containers=[{"name": "ap", "digest": D1}])
    assert errors == ["containers: no container named 'ap' in task definition web; it has: app, sidecar"]


def test_cpu_memory_overrides_and_tags():
    after, errors = taskdef.apply_changes(base(), cpu="1 vCPU", memory="2 GB",
                                          overrides={"taskRoleArn": None, "ephemeralStorage": {"sizeInGiB": 30}},
                                          extra_tags={"release": "2.0", "team": "core"})
    assert errors == []
    assert (after["cpu"], after["memory"]) == ("1024", "2048")
    assert "taskRoleArn" not in after
    assert after["ephemeralStorage"] == {"sizeInGiB": 30}
    assert after["tags"] == [{"key": "release", "value": "2.0"}, {"key": "team", "value": "core"}]


# ---------------------------------------------------------------- compare

def test_no_changes_means_no_difference():
    after, _ = taskdef.apply_changes(base(), containers=[{"name": "app", "environment": {"VERSION": "1.0.0"}}])
    assert not taskdef.differs(base(), after)
    assert taskdef.describe_changes(base(), after) == []


def test_aws_defaults_and_list_order_do_not_count_as_differences():
    registered = base()
    requested = copy.deepcopy(registered)
    app = container(requested, "app")
    app["environment"].reverse()
    app["secrets"].reverse()
    del app["essential"], app["cpu"], app["mountPoints"], app["volumesFrom"]
    app["portMappings"] = [{"containerPort": 8080}]
    del requested["volumes"], requested["placementConstraints"]
    requested["containerDefinitions"].reverse()
    requested["cpu"] = "0.5 vCPU"
    requested["memory"] = "1 GB"
    assert not taskdef.differs(registered, requested)


def test_bridge_is_the_default_network_mode():
    a = {"family": "x", "containerDefinitions": [{"name": "c", "image": "i", "memory": 64}]}
    b = dict(a, networkMode="bridge")
    assert not taskdef.differs(a, b)
    assert taskdef.differs(a, dict(a, networkMode="host"))


def test_hostport_default_only_in_awsvpc():
    a = {"family": "x", "containerDefinitions": [{"name": "c", "image": "i", "memory": 64, "portMappings": [{"containerPort": 80}]}]}
    b = copy.deepcopy(a)
    b["containerDefinitions"][0]["portMappings"][0]["hostPort"] = 80
    assert taskdef.differs(a, b), "bridge: no hostPort means dynamic, not 80"
    assert not taskdef.differs(dict(a, networkMode="awsvpc"), dict(b, networkMode="awsvpc"))


@pytest.mark.parametrize("change", [
    lambda td: container(td, "app").update(image="x"),
    lambda td: container(td, "app")["environment"].append({"name": "X", "value": "1"}),
    lambda td: container(td, "app")["environment"][0].update(value="debug"),
    lambda td: container(td, "app")["secrets"].pop(),
    lambda td: container(td, "sidecar").update(essential=True),
    lambda td: td.update(memory="2048"),
    lambda td: td.update(tags=[{"key": "team", "value": "other"}]),
    lambda td: td.pop("tags"),
    lambda td: td.pop("taskRoleArn"),
])
def test_any_real_change_is_a_difference(change):
    changed = base()
    change(changed)
    assert taskdef.differs(base(), changed)
    assert taskdef.describe_changes(base(), changed)


def test_no_current_revision_always_differs():
    assert taskdef.differs(None, base())
    assert taskdef.describe_changes(None, base()) == ["new task definition family web"]


def test_diff_lines_name_each_changed_leaf():
    after, _ = taskdef.apply_changes(base(), containers=[{"name": "app", "environment": {"VERSION": "2"}, "remove_secrets": ["API_KEY"]}],
                                     memory="2048", extra_tags={"release": "2"})
    assert taskdef.describe_changes(base(), after) == [
        'containerDefinitions.app.environment.VERSION: "1.0.0" -> "2"',
        'containerDefinitions.app.secrets.API_KEY: removed (was "%s")' % SSM_ARN,
        'memory: "1024" -> "2048"',
        'tags.release: added "2"',
    ]


# ---------------------------------------------------------------- validate

def test_the_sample_definition_is_valid():
    assert taskdef.validate_task_definition(base()) == []


@pytest.mark.parametrize("cpu,memory,ok", [
    ("256", "512", True), ("256", "2048", True), ("256", "4096", False),
    ("512", "4096", True), ("512", "1536", False),
    ("1024", "8192", True), ("2048", "16384", True), ("4096", "30720", True), ("4096", "32768", False),
    ("8192", "20480", True), ("8192", "17408", False), ("16384", "122880", True), ("16384", "36864", False),
    ("128", "512", False), ("1 vCPU", "2 GB", True),
])
def test_fargate_cpu_memory_pairs(cpu, memory, ok):
    td = dict(base(), cpu=cpu, memory=memory)
    for c in td["containerDefinitions"]:
        c.pop("memory", None)
    errors = taskdef.validate_task_definition(td)
    assert (errors == []) is ok, errors


def test_fargate_pair_error_lists_what_is_allowed():
    errors = taskdef.validate_task_definition(dict(base(), cpu="256", memory="4096"))
    assert errors == ["Fargate cpu 256 does not allow memory 4096; allowed with cpu 256: 512, 1024, 2048"]
    errors = taskdef.validate_task_definition(dict(base(), cpu="512", memory="512"))
    assert errors == ["Fargate cpu 512 does not allow memory 512; allowed with cpu 512: 1024-4096 in steps of 1024"]
    errors = taskdef.validate_task_definition(dict(base(), cpu="300"))
    assert errors == ["Fargate cpu 300 is not allowed; allowed: 256, 512, 1024, 2048, 4096, 8192, 16384"]


def errors_after(mutate):
    td = base()
    mutate(td)
    return taskdef.validate_task_definition(td)


@pytest.mark.parametrize("mutate,expected", [
    (lambda td: td.pop("memory"), "Fargate needs task-level cpu and memory"),
    (lambda td: td.update(networkMode="bridge"), "Fargate needs networkMode awsvpc, not bridge"),
    (lambda td: td.update(cpu="lots"), "cpu 'lots' is not a CPU amount"),
    (lambda td: td.update(family="bad family"), "family 'bad family' is invalid"),
    (lambda td: td.update(containerDefinitions=[]), "the task definition has no containerDefinitions"),
    (lambda td: td.update(taskRoleArn="app-task"), "taskRoleArn 'app-task' is not an IAM role ARN"),
    (lambda td: container(td, "app").update(memory=2048), "container app: memory 2048 exceeds the task memory 1024"),
    (lambda td: container(td, "app").update(memory=256, memoryReservation=512), "container app: memoryReservation 512 exceeds its memory 256"),
    (lambda td: [c.update(memoryReservation=600) for c in td["containerDefinitions"]],
     "containers reserve 1200 MiB in total, more than the task memory 1024"),
    (lambda td: container(td, "app").update(cpu=1024), "containers' cpu adds up to 1024, more than the task cpu 512"),
    (lambda td: container(td, "app").update(portMappings=[{"containerPort": 70000}]), "container app: containerPort 70000 is out of range 1-65535"),
    (lambda td: container(td, "app").update(portMappings=[{"containerPort": 0}]), "container app: containerPort 0 is out of range 1-65535"),
    (lambda td: container(td, "app").update(portMappings=[{"containerPort": 8080, "hostPort": 70000}]),
     "container app: hostPort 70000 is out of range 0-65535"),
    (lambda td: td.update(memory="plenty"), "memory 'plenty' is not a memory amount"),
    (lambda td: container(td, "app").update(portMappings=[{"containerPort": 8080, "hostPort": 80}]),
     "container app: hostPort 80 must equal containerPort 8080 in awsvpc network mode"),
    (lambda td: container(td, "app").update(portMappings=[{"containerPort": 8080}, {"containerPort": 8080, "protocol": "tcp"}]),
     "container app: containerPort 8080/tcp is mapped twice"),
    (lambda td: container(td, "sidecar").update(portMappings=[{"containerPort": 8080}]),
     "containers app and sidecar both use port 8080/tcp; in awsvpc mode they share one network namespace"),
    (lambda td: container(td, "app").update(portMappings=[{"containerPort": 8080, "protocol": "sctp"}]),
     "container app: port protocol 'sctp' must be tcp or udp"),
    (lambda td: container(td, "app")["logConfiguration"]["options"].pop("awslogs-stream-prefix"),
     "container app: awslogs needs the log options awslogs-stream-prefix (required on Fargate)"),
    (lambda td: container(td, "app")["logConfiguration"]["options"].pop("awslogs-group"),
     "container app: awslogs needs the log options awslogs-group"),
    (lambda td: container(td, "app")["logConfiguration"].update(logDriver="journald"),
     "container app: log driver journald is not supported on Fargate"),
    (lambda td: container(td, "app")["environment"].append({"name": "9LIVES", "value": "x"}),
     "container app: environment variable name '9LIVES' is invalid"),
    (lambda td: container(td, "app")["environment"].append({"name": "VERSION", "value": "x"}),
     "container app: environment variable 'VERSION' is set twice"),
    (lambda td: container(td, "app")["secrets"].append({"name": "API_KEY", "valueFrom": SSM_ARN}),
     "container app: secret 'API_KEY' is set twice"),
    (lambda td: container(td, "app")["secrets"].append({"name": "VERSION", "valueFrom": SSM_ARN}),
     "container app: 'VERSION' is both an environment variable and a secret"),
    (lambda td: container(td, "app")["secrets"].append({"name": "X", "valueFrom": "arn:aws:s3:::b/k"}),
     "container app: secret X valueFrom arn:aws:s3:::b/k is neither a Secrets Manager ARN nor an SSM parameter"),
    (lambda td: container(td, "app").update(image="app@sha256:abc"),
     "container app: image digest 'sha256:abc' is not of the form sha256:<64 lowercase hex digits>"),
    (lambda td: container(td, "app").update(image=""), "container app: image '' is not an image reference"),
    (lambda td: container(td, "sidecar").update(name="app"), "container name 'app' is used twice"),
    (lambda td: [c.update(essential=False) for c in td["containerDefinitions"]], "no container is essential; at least one must be"),
])
def test_each_validation_names_the_problem(mutate, expected):
    errors = errors_after(mutate)
    assert any(expected in e for e in errors), errors


def test_missing_execution_role_is_reported_for_secrets_awslogs_and_ecr_pulls():
    errors = errors_after(lambda td: td.pop("executionRoleArn"))
    assert "container app: secrets (API_KEY, DB_PASSWORD) need an executionRoleArn to be read at task start" in errors
    assert "container app: awslogs on Fargate needs an executionRoleArn to write logs" in errors
    assert "container sidecar: awslogs on Fargate needs an executionRoleArn to write logs" in errors
    assert "container app: pulling from ECR on Fargate needs an executionRoleArn" in errors
    assert len(errors) == 4, errors


def test_ec2_rules_differ_from_fargate():
    td = {"family": "batch", "networkMode": "bridge", "requiresCompatibilities": ["EC2"], "containerDefinitions": [
        {"name": "a", "image": "busybox", "portMappings": [{"containerPort": 80, "hostPort": 0}],
         "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-region": "us-east-1"}}},
        {"name": "b", "image": "busybox", "memory": 128, "portMappings": [{"containerPort": 80, "hostPort": 8080}]},
        {"name": "c", "image": "busybox", "memory": 128, "portMappings": [{"containerPort": 81, "hostPort": 8080}]},
    ]}
    errors = taskdef.validate_task_definition(td)
    assert errors == [
        "container a: needs memory or memoryReservation when the task has no memory",
        "containers b and c both use hostPort 8080/tcp",
    ]


def test_repository_credentials_need_an_execution_role():
    td = {"family": "x", "containerDefinitions": [{"name": "a", "image": "private/x", "memory": 64,
                                                    "repositoryCredentials": {"credentialsParameter": SECRET_ARN}}]}
    assert taskdef.validate_task_definition(td) == ["container a: repositoryCredentials need an executionRoleArn"]


# ---------------------------------------------------------------- secret references

@pytest.mark.parametrize("value_from,expected", [
    (SECRET_ARN, ("secretsmanager", SECRET_ARN)),
    (SECRET_ARN + ":password::", ("secretsmanager", SECRET_ARN)),
    (SECRET_ARN + ":password:AWSCURRENT:", ("secretsmanager", SECRET_ARN)),
    (SSM_ARN, ("ssm", ["/app/api-key"])),
    ("arn:aws:ssm:us-east-1:%s:parameter/flat" % ACCOUNT, ("ssm", ["flat", "/flat"])),
    ("/app/api-key", ("ssm", ["/app/api-key"])),
    ("plain-name", ("ssm", ["plain-name"])),
])
def test_secret_reference_resolves_what_to_look_up(value_from, expected):
    assert taskdef.is_secret_reference(value_from)
    assert taskdef.secret_reference(value_from) == expected


def test_secret_references_and_role_name():
    refs = taskdef.secret_references(base())
    assert refs == [("app", "DB_PASSWORD", SECRET_ARN), ("app", "API_KEY", SSM_ARN)]
    assert taskdef.role_name("arn:aws:iam::%s:role/service-role/app-exec" % ACCOUNT) == "app-exec"


@pytest.mark.parametrize("image", [
    "nginx", "nginx:1.25", "library/nginx:latest", "123456789012.dkr.ecr.us-east-1.amazonaws.com/myapp:v1.2.3",
    "registry:5000/team/app@sha256:" + "a" * 64, "ghcr.io/org/app_x-y:v1", "localhost:5000/a/b/c:tag",
])
def test_image_references_accepted(image):
    assert taskdef.IMAGE_REF_RE.match(image)
    assert not taskdef.validate_changes(containers=[{"name": "app", "image": image}])


@pytest.mark.parametrize("image", [
    "app;rm -rf /", "app$(id)", "app`id`", "app|cat", "a/../b", "../app", "app:v1 && x", "Upper", "app:",
    "app@sha256:abc", "app\nX", "a//b", "/app", "app:tag:tag", "app&", "app>x",
])
def test_image_references_refused_by_ecs_taskdef_clone_itself(image):
    errors = taskdef.validate_changes(containers=[{"name": "app", "image": image}])
    assert errors and "image %r is not an image reference" % image in errors[0], errors


def test_secret_looking_environment_is_masked_everywhere():
    td = {"family": "f", "containerDefinitions": [{"name": "app", "image": "nginx", "environment": [
        {"name": "DB_PASSWORD", "value": "hunter2-plain"}, {"name": "VERSION", "value": "v1"},
        {"name": "stripe_api_key", "value": "sk_live_zzz"}]}]}
    changed = copy.deepcopy(td)
    changed["containerDefinitions"][0]["environment"][0]["value"] = "new-secret-value"
    assert [(c, n) for c, n, _v in taskdef.secret_environment(td)] == [("app", "DB_PASSWORD"), ("app", "stripe_api_key")]
    shown = taskdef.mask_environment(changed, reference=td)
    env = dict((e["name"], e["value"]) for e in shown["containerDefinitions"][0]["environment"])
    assert env == {"DB_PASSWORD": "******** (changed)", "VERSION": "v1", "stripe_api_key": "********"}
    lines = taskdef.describe_changes(taskdef.mask_environment(td), shown)
    assert lines and not any("hunter2" in l or "new-secret" in l for l in lines), lines
    assert td["containerDefinitions"][0]["environment"][0]["value"] == "hunter2-plain"    # not mutated
    assert taskdef.mask_environment(td, patterns=["NOPE"]) == td


def test_a_value_pasted_as_valuefrom_is_never_shown():
    errors = taskdef.validate_changes(containers=[{"name": "app", "secrets": {"DB": "pass word!"}}])
    assert errors and "pass word!" not in errors[0] and "secret DB valueFrom (not shown" in errors[0]
    assert taskdef.unsafe_references([{"secrets": {"A": "plainvalue", "B": "/myapp/db", "C": "arn:aws:ssm:x"}}]) == ["plainvalue"]
