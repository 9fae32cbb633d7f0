"""ECS blue-green in the lab: bad releases never stay (5xx and slow ones rolled back at the first step, one
failing health checks never gets production traffic).
"""
import json

import pytest

from ecs_e2e import phases

pytestmark = pytest.mark.lab


def test_5xx_release_is_rolled_back_at_the_first_step_and_everyone_is_told(world, receiver, mailbox):
    result = world.deploy("v1.2.4-errors", deploy_notify_webhook_enabled=True, deploy_notify_webhook_url=receiver.url + "/hook",
                          deploy_notify_mail_enabled=True, deploy_notify_mail_host="127.0.0.1", deploy_notify_mail_port=mailbox.port,
                          deploy_notify_mail_to=["ops@example.test"], deploy_notify_mail_secure="never")
    assert result.rc != 0
    assert world.weights() == {"a": 100, "b": 0}
    assert world.service("b")["desiredCount"] == 0
    assert world.lock() is None

    records = world.records()
    shifts = phases(records, "shift")
    assert [r["step"] for r in shifts] == [10] and shifts[0]["decision"] == "fail"
    assert result.task("Take production traffic off the candidate at once, as the step says roll back")["changed"] is True
    rollback = phases(records, "rollback")[-1]
    failing = [m for m in rollback["metrics"] if m["verdict"] == "fail"]
    assert failing and failing[0]["name"] == "error_rate"
    assert failing[0]["candidate"] > failing[0]["live"]
    path, page = world.report(result)
    assert "ROLLED BACK" in page and ">Rolled back<" in page and "error_rate" in page and ">fail<" in page
    assert page.index("<td>Rolled back</td>") < page.index("<td>Finished</td>"), "the run ends with its rollback"

    hooks = [json.loads(r["body"]) for r in receiver.posts("/hook")]
    assert [h["event"] for h in hooks][0] == "start" and "rollback" in [h["event"] for h in hooks]
    rollback_hook = [h for h in hooks if h["event"] == "rollback"][0]
    assert "error_rate" in rollback_hook["headline"]
    subjects = [m["Subject"] for _, m in mailbox.messages]
    assert any("rolled back" in s.lower() for s in subjects), subjects
    body = [m for _, m in mailbox.messages if "rolled back" in m["Subject"].lower()][0].get_body().get_content()
    assert "error_rate" in body


def test_slow_release_is_rolled_back(world):
    result = world.deploy("v1.2.4-slow")
    assert result.rc != 0
    assert world.weights() == {"a": 100, "b": 0}
    failing = [m for r in phases(world.records(), "shift") for m in r["metrics"] if m["verdict"] == "fail"]
    assert [m["name"] for m in failing] == ["latency_p95"]


def test_release_failing_health_never_gets_production_traffic(world):
    result = world.deploy("v1.2.4-unhealthy")
    assert result.rc != 0
    assert phases(world.records(), "shift") == []
    assert world.weights() == {"a": 100, "b": 0}
    assert world.service("b")["desiredCount"] == 0
    failed = [msg for name, host, msg in result.failures() if "wait" in name.lower() or "steady" in name.lower()]
    assert failed, result.failures()
    assert "Task failed ELB health checks" in failed[0], failed[0]
