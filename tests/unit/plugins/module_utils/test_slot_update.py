from ansible_collections.progressive.delivery.plugins.module_utils import slot_update as lib

TG = {"HealthCheckProtocol": "HTTP", "HealthCheckPort": "traffic-port", "HealthCheckPath": "/health",
      "HealthCheckIntervalSeconds": 30, "HealthCheckTimeoutSeconds": 5, "HealthyThresholdCount": 3,
      "UnhealthyThresholdCount": 3, "Matcher": {"HttpCode": "200"}, "TargetGroupName": "myapp-b"}
WANTED = {"path": "/health", "interval": 30, "timeout": 5, "healthy_threshold": 3, "unhealthy_threshold": 3}


def test_a_health_check_reads_the_same_in_every_shape():
    snake = {"health_check_path": "/health", "health_check_interval_seconds": "30", "health_check_timeout_seconds": 5,
             "healthy_threshold_count": 3, "unhealthy_threshold_count": 3, "matcher": {"http_code": "200"},
             "health_check_protocol": "HTTP", "health_check_port": "traffic-port"}
    short = dict(WANTED, protocol="HTTP", port="traffic-port", matcher="200")
    assert lib.normalize_health_check(TG) == lib.normalize_health_check(snake) == lib.normalize_health_check(short) == short
    assert lib.normalize_health_check(None) == {}


def test_only_what_differs_is_written_and_an_unknown_check_is_written_whole():
    assert lib.health_check_changes(TG, WANTED) == {}
    assert lib.health_check_changes(dict(TG, HealthCheckPath="/", HealthyThresholdCount=5), WANTED) == {
        "HealthCheckPath": "/health", "HealthyThresholdCount": 3}
    assert lib.health_check_changes(None, WANTED) == {
        "HealthCheckPath": "/health", "HealthCheckIntervalSeconds": 30, "HealthCheckTimeoutSeconds": 5,
        "HealthyThresholdCount": 3, "UnhealthyThresholdCount": 3}
    assert lib.health_check_changes(TG, {"matcher": "200-299"}) == {"Matcher": {"HttpCode": "200-299"}}


def test_a_health_check_out_of_the_api_limits_is_refused():
    assert lib.health_check_problems(WANTED) == []
    problems = lib.health_check_problems({"interval": 4, "timeout": 5, "healthy_threshold": 11, "path": "health"})
    assert any("interval must be within 5-300" in p for p in problems)
    assert any("healthy_threshold must be within 2-10" in p for p in problems)
    assert any("timeout (5) must be less than health_check.interval (4)" in p for p in problems)
    assert any("path must start with /" in p for p in problems)


def test_the_service_changes_only_where_it_differs():
    known = {"task_definition": "arn:aws:ecs:us-east-1:1:task-definition/myapp:7", "desired_count": 2}
    assert lib.service_changes(known, "myapp:7", 2) == {}
    assert lib.service_changes(known, "myapp:8", 2) == {"taskDefinition": "myapp:8"}
    assert lib.service_changes(known, None, 0) == {"desiredCount": 0}
    assert lib.service_changes({"taskDefinition": "myapp:7", "desiredCount": 0}, "myapp:7", "4") == {"desiredCount": 4}
    assert lib.service_changes({}, "myapp:7", None) == {"taskDefinition": "myapp:7"}


def test_tags_set_are_the_missing_or_different_ones_as_strings():
    assert lib.tags_to_set({"a": "1", "b": "2"}, {"a": "1", "b": "3", "c": 4}) == {"b": "3", "c": "4"}
    assert lib.tags_to_set({"a": "1"}, None) == {}


def test_the_read_back_must_show_the_change():
    changes = {"taskDefinition": "myapp:8", "desiredCount": 2}
    assert lib.service_problems({"taskDefinition": "arn:aws:ecs:us-east-1:1:task-definition/myapp:8", "desiredCount": 2}, changes) == []
    problems = lib.service_problems({"taskDefinition": "arn:aws:ecs:us-east-1:1:task-definition/myapp:7", "desiredCount": 1}, changes)
    assert len(problems) == 2 and "not myapp:8" in problems[0] and "not 2" in problems[1]


def test_a_known_service_needs_its_arn_revision_and_count():
    slot = {"service_arn": "arn:aws:ecs:us-east-1:1:service/prod/myapp-b", "task_definition": "arn:td/myapp:7",
            "desired_count": "2", "tags": {"k": "v"}, "target_group_arn": "arn:tg"}
    assert lib.known_service(slot) == {"service_arn": slot["service_arn"], "task_definition": "arn:td/myapp:7",
                                       "desired_count": 2, "tags": {"k": "v"}}
    assert lib.known_service(dict(slot, service_arn=None)) is None
    assert lib.known_service(dict(slot, desired_count=None)) is None
    assert lib.known_service(None) is None
    assert lib.known_service(dict(slot, tags=None))["tags"] == {}
