"""Deploy on image push: the example EventBridge rule matches the push event it is for, and the ecs_validate
role takes its inputs from such an event (a check-mode run against moto), refusing anything else."""
import copy
import json

import pytest

from aws_world import blue_green
from harness import REPO, localhost_play, run_playbook

EXAMPLES = REPO / "examples" / "eventbridge"
SAMPLE_EVENT = json.loads((EXAMPLES / "ecr-push-event.json").read_text())
RULE = json.loads((EXAMPLES / "ecr-push-rule.json").read_text())
MANIFEST = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                       "digest": "sha256:" + "c" * 64},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654,
                        "digest": "sha256:" + "d" * 64}]}


# ---------------------------------------------------------------- EventBridge pattern semantics (what the rule uses)

def value_matches(condition, value, present):
    if isinstance(condition, dict):
        if "prefix" in condition:
            return present and isinstance(value, str) and value.startswith(condition["prefix"])
        if "exists" in condition:
            return present == condition["exists"]
        if "anything-but" in condition:
            excluded = condition["anything-but"]
            return present and value not in (excluded if isinstance(excluded, list) else [excluded])
        raise AssertionError("pattern operator not modelled here: %r" % condition)
    return present and value == condition


def pattern_matches(pattern, event):
    """EventBridge: every pattern field must match (AND); a list matches if any of its entries does (OR)."""
    for key, condition in pattern.items():
        present = isinstance(event, dict) and key in event
        value = event.get(key) if present else None
        if isinstance(condition, dict):
            if not present or not pattern_matches(condition, value):
                return False
        elif not any(value_matches(c, value, present) for c in condition):
            return False
    return True


def with_detail(**fields):
    event = copy.deepcopy(SAMPLE_EVENT)
    for key, value in fields.items():
        key = key.replace("_", "-")
        if value is None:
            event["detail"].pop(key, None)
        else:
            event["detail"][key] = value
    return event


def test_the_matcher_implements_and_or_and_prefix():
    assert pattern_matches({"a": ["x", "y"], "b": {"c": [{"prefix": "v"}]}}, {"a": "y", "b": {"c": "v1"}})
    assert not pattern_matches({"a": ["x"]}, {"a": "y"})
    assert not pattern_matches({"b": {"c": [{"prefix": "v"}]}}, {"b": {"c": "1"}})
    assert not pattern_matches({"b": {"c": [{"prefix": "v"}]}}, {"b": {}})
    assert not pattern_matches({"b": {"c": ["v"]}}, {"a": 1})


def test_the_rule_matches_a_successful_tag_push_to_the_repository():
    assert pattern_matches(RULE, SAMPLE_EVENT)


@pytest.mark.parametrize("event", [
    with_detail(action_type="DELETE"),
    with_detail(result="FAILURE"),
    with_detail(repository_name="payments"),
    with_detail(image_tag=None),           # pushed by digest only
    with_detail(image_tag="latest"),
    dict(SAMPLE_EVENT, **{"detail-type": "ECR Image Scan"}),
    dict(SAMPLE_EVENT, source="aws.ecs"),
], ids=["delete", "failed-push", "other-repository", "untagged", "not-a-release-tag", "scan-event", "other-source"])
def test_the_rule_ignores_what_must_not_deploy(event):
    assert not pattern_matches(RULE, event)


# ---------------------------------------------------------------- the role takes its inputs from the event

def validate_play(moto, event, check=True):
    play = localhost_play([
        {"name": "Validate", "ansible.builtin.include_role": {"name": "progressive.delivery.ecs_validate"}},
        {"name": "plan", "ansible.builtin.debug": {"var": "ecs_validate_plan"}},
    ], moto.url, vars={
        "ecs_validate_app": "myapp",
        "ecs_validate_ecr_event": event,
        "ecs_validate_prod_listener_port": 80,
        "ecs_validate_iam_preflight": False,   # moto has no IAM simulation (FINDINGS)
        "ecs_validate_fail_on_severity": "CRITICAL",  # moto reports one HIGH finding on every image
        "ecs_validate_scan_timeout": 10,
        # Bare moto runs no task (no healthy target: never steady) and answers 500 to Service Quotas' GetServiceQuota
        # for Fargate; the lab does both (test_ecs_blue_green_hold.py checks steadiness and capacity there).
        "ecs_validate_check_steady": False,
        "ecs_validate_check_capacity": False,
    })
    return run_playbook(play, check=check, timeout=180)


@pytest.fixture
def pushed(moto):
    """The blue-green world `myapp` in moto, and v1.2.3 pushed to ECR `myapp`: the event ECR would send for it."""
    blue_green(moto)
    ecr = moto.client("ecr")
    ecr.create_repository(repositoryName="myapp")
    image = ecr.put_image(repositoryName="myapp", imageTag="v1.2.3", imageManifest=json.dumps(MANIFEST))["image"]
    event = copy.deepcopy(SAMPLE_EVENT)
    event["detail"]["image-digest"] = image["imageId"]["imageDigest"]
    return event


def test_a_push_event_drives_the_validation(moto, pushed):
    result = validate_play(moto, pushed)
    assert result.rc == 0, result
    plan = result.task("plan")["ecs_validate_plan"]
    assert plan["image"]["tag"] == "v1.2.3"
    assert plan["image"]["repository"] == "myapp"
    assert plan["image"]["digest"] == pushed["detail"]["image-digest"]
    assert plan["image"]["uri"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/myapp@" + pushed["detail"]["image-digest"]
    assert (plan["live_slot"], plan["candidate_slot"], plan["state"]) == ("a", "b", "at_rest")
    # Check mode: the lock was planned, not taken.
    assert not moto.client("ssm").describe_parameters()["Parameters"]


def test_a_delete_event_is_refused_before_any_aws_call(moto):
    result = validate_play(moto, with_detail(action_type="DELETE"))
    assert result.rc != 0
    failures = result.failures()
    assert len(failures) == 1, failures
    task, dummy, message = failures[0]
    assert task.endswith("Take the execution id, the traffic schedule (whole percents rising to 100), the lock's TTL and "
                         "the ECR push event's image")
    assert "is a DELETE, not a PUSH" in str(message)
    assert not [name for name, _, _ in result.tasks() if "Who is deploying" in name]


def test_a_tag_pushed_again_since_the_event_is_refused(moto, pushed):
    stale = copy.deepcopy(pushed)
    stale["detail"]["image-digest"] = "sha256:" + "e" * 64
    result = validate_play(moto, stale)
    assert result.rc != 0
    (task, dummy, message), = result.failures()
    assert task.endswith("Refuse a push from another account, a tag moved since its push, slots not ready, a deployment "
                         "in flight, a live service not steady or no room")
    assert "myapp:v1.2.3 now points at %s, not at %s" % (pushed["detail"]["image-digest"], stale["detail"]["image-digest"]) in message
    assert "event 13cde686-328b-6117-af20-0e5566167482" in message
