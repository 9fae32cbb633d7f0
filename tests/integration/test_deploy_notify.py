"""The deploy_notify role against a real SMTP server and a real HTTP receiver, both on loopback, started here.

Slack and PagerDuty cannot be reached offline: Slack runs in check mode (the module validates its arguments and
stops), PagerDuty's event is checked as built and the module is pointed at a closed loopback proxy so that its
failure path is real. Jira's base URL is ours, so its real requests arrive at the HTTP receiver.
"""
import json

from harness import free_port, localhost_play, run_playbook

WEBHOOK_TOKEN = "whk-s3cr3t-t0ken-value"
JIRA_PASSWORD = "jira-pa55word-value"
PAGERDUTY_KEY = "pdkey0123456789abcdef0123456789ab"
SLACK_TOKEN = "xoxb-0000000000-1111111111-slacksecretvalue"

DEPLOYMENT = {
    "execution_id": "exec-42",
    "pipeline": "myapp-production",
    "service": "myapp",
    "cluster": "prod-ecs-cluster",
    "environment": "production",
    "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/myapp@sha256:" + "ab" * 32,
    "image_tag": "v1.2.3",
    "digest": "sha256:" + "ab" * 32,
    "task_definition": "myapp:42",
    "strategy": "blue-green 10/50/100",
    "desired_count": 10,
    "started_at": "2026-11-26T10:00:00Z",
    "live_slot": "a",
    "candidate_slot": "b",
}
FAILED_STEP = {
    "percent": 10,
    "decision": "fail",
    "action": "fail",
    "summary": "fail at look 1 of 5: error_rate fail",
    "metrics": [
        {"name": "error_rate", "kind": "proportion", "live": 0.0018, "candidate": 0.0421, "relative_change": 22.39,
         "verdict": "fail", "reason": "one-sided p 1.2e-09 < 0.0025"},
        {"name": "latency_p95", "kind": "samples", "live": 0.118, "candidate": 0.121, "relative_change": 0.025,
         "verdict": "pass", "reason": "shift within tolerance"},
    ],
}
ROLLED_BACK = dict(DEPLOYMENT, finished_at="2026-11-26T10:06:30Z", duration_seconds=390, steps=[FAILED_STEP],
                   reason="candidate myapp-b failed the 10 % step")


def notify(event, deployment, name=None):
    return {"name": name or "Notify %s" % event,
            "ansible.builtin.include_role": {"name": "progressive.delivery.deploy_notify"},
            "vars": {"deploy_notify_event": event, "deploy_notify_deployment": deployment}}


def play(tasks, settings):
    return localhost_play(tasks, "http://127.0.0.1:1", vars=settings)


ROLE = "progressive.delivery.deploy_notify : "


def role_tasks(result, name):
    """Results of the role's task `name` (the JSON callback prefixes role tasks with the role's name)."""
    return [r for n, _, r in result.tasks() if n in (name, ROLE + name)]


def body_of(message):
    return message.get_body(preferencelist=("plain",)).get_content()


def test_start_and_rollback_reach_mail_webhook_and_jira(mailbox, receiver):
    settings = {
        "deploy_notify_mail_enabled": True,
        "deploy_notify_mail_host": "127.0.0.1",
        "deploy_notify_mail_port": mailbox.port,
        "deploy_notify_mail_secure": "never",
        "deploy_notify_mail_to": ["ops@example.com", "dev@example.com"],
        "deploy_notify_webhook_enabled": True,
        "deploy_notify_webhook_url": receiver.url + "/hook",
        "deploy_notify_webhook_token": WEBHOOK_TOKEN,
        "deploy_notify_webhook_headers": {"X-Source": "tests"},
        "deploy_notify_jira_enabled": True,
        "deploy_notify_jira_uri": receiver.url + "/jira",
        "deploy_notify_jira_username": "deployer",
        "deploy_notify_jira_password": JIRA_PASSWORD,
        "deploy_notify_jira_project": "OPS",
        "deploy_notify_jira_issue": "CHG-9",
        "deploy_notify_jira_events": ["start", "rollback"],
    }
    result = run_playbook(play([notify("start", DEPLOYMENT), notify("rollback", ROLLED_BACK)], settings))
    assert result.rc == 0, result

    # Email: one per event, to both recipients, the rollback naming the failing metric and both values.
    assert len(mailbox.messages) == 2, mailbox.messages
    (start_rcpt, start_mail), (rollback_rcpt, rollback_mail) = mailbox.messages
    assert sorted(start_rcpt) == sorted(rollback_rcpt) == ["dev@example.com", "ops@example.com"]
    assert start_mail["Subject"] == "[deploy] myapp v1.2.3 to production: started"
    assert "rolled back" in rollback_mail["Subject"]
    rollback_text = body_of(rollback_mail)
    for expected in ("error_rate", "0.180 %", "4.210 %", "+2239.0 %", "candidate myapp-b failed the 10 % step",
                     "Task definition: myapp:42", "sha256:" + "ab" * 32, "Duration:        6m 30s"):
        assert expected in rollback_text, (expected, rollback_text)
    assert "error_rate" not in body_of(start_mail)

    # Webhook: both events as JSON, with the token header and the extra header.
    hooks = receiver.posts("/hook")
    assert [json.loads(h["body"])["event"] for h in hooks] == ["start", "rollback"]
    assert all(h["headers"]["Authorization"] == "Bearer " + WEBHOOK_TOKEN for h in hooks)
    assert all(h["headers"]["X-Source"] == "tests" for h in hooks)
    rollback_hook = json.loads(hooks[1]["body"])
    assert rollback_hook["status"] == "ROLLED BACK"
    assert rollback_hook["failing_metrics"] == ["error_rate at 10 %: live 0.180 % -> candidate 4.210 % (+2239.0 %), fail"]
    assert rollback_hook["deployment"]["steps"][0]["metrics"][0]["candidate"] == 0.0421

    # Jira: the start as a comment on the change ticket, the rollback as a new issue in OPS.
    jira = receiver.posts("/jira")
    assert [j["path"] for j in jira] == ["/jira/rest/api/2/issue/CHG-9/comment", "/jira/rest/api/2/issue/"]
    assert json.loads(jira[0]["body"])["body"].startswith("myapp v1.2.3 to production: started")
    jira = jira[1:]
    fields = json.loads(jira[0]["body"])["fields"]
    assert fields["project"] == {"key": "OPS"} and fields["issuetype"] == {"name": "Bug"}
    assert fields["summary"] == "myapp v1.2.3 to production: rolled back"
    assert "error_rate" in fields["description"] and "4.210 %" in fields["description"]
    assert jira[0]["headers"]["Authorization"].startswith("Basic ")

    # Switched-off channels are skipped; nothing failed; no secret in the output.
    for channel in ("Slack", "PagerDuty"):
        assert [r.get("skipped") for r in role_tasks(result, channel)] == [True, True], channel
    assert [r.get("skipped", False) for r in role_tasks(result, "Jira")] == [False, False]
    assert role_tasks(result, "WARNING - notification not delivered") == []
    for secret in (WEBHOOK_TOKEN, JIRA_PASSWORD):
        assert secret not in result.stdout and secret not in result.stderr


BROKEN = {
    "deploy_notify_mail_enabled": True,
    "deploy_notify_mail_host": "127.0.0.1",
    "deploy_notify_mail_secure": "never",
    "deploy_notify_mail_to": ["ops@example.com"],
    "deploy_notify_mail_timeout": 5,
    "deploy_notify_pagerduty_enabled": True,
    "deploy_notify_pagerduty_integration_key": PAGERDUTY_KEY,
}


def broken_env(closed_port):
    # PagerDuty's endpoint is fixed; a proxy on a closed loopback port keeps its request on this machine.
    proxy = "http://127.0.0.1:%d" % closed_port
    return {"https_proxy": proxy, "HTTPS_PROXY": proxy, "no_proxy": "", "NO_PROXY": ""}


def test_broken_channel_warns_and_is_recorded_but_does_not_fail_the_play(receiver):
    closed = free_port()
    settings = dict(BROKEN, deploy_notify_mail_port=closed,
                    deploy_notify_webhook_enabled=True, deploy_notify_webhook_url=receiver.url + "/broken",
                    deploy_notify_webhook_token=WEBHOOK_TOKEN,
                    # Switched off, though fully set up: nothing may reach it.
                    deploy_notify_jira_enabled=False, deploy_notify_jira_uri=receiver.url + "/jira",
                    deploy_notify_jira_username="deployer", deploy_notify_jira_password=JIRA_PASSWORD,
                    deploy_notify_jira_project="OPS")
    tasks = [notify("rollback", ROLLED_BACK),
             {"name": "Show the failures", "ansible.builtin.debug": {"var": "deploy_notify_failures"}},
             {"name": "Show what was sent", "ansible.builtin.debug": {"var": "deploy_notify_sent"}}]
    result = run_playbook(play(tasks, settings), env=broken_env(closed))
    assert result.rc == 0, result
    failures = result.task("Show the failures")["deploy_notify_failures"]
    assert [(f["channel"], f["event"]) for f in failures] == [("mail", "rollback"), ("pagerduty", "rollback"), ("webhook", "rollback")]
    assert all("connection refused" in f["error"].lower() for f in failures[:2]), failures
    # The webhook's result is no_log (its token is in a header), yet its failure still says what happened.
    assert failures[2]["error"].startswith("127.0.0.1: HTTP 500"), failures
    assert result.task("Show what was sent")["deploy_notify_sent"] == []
    warnings = [r["msg"] for r in role_tasks(result, "WARNING - notification not delivered")]
    assert len(warnings) == 3 and "via mail" in warnings[0] and "via pagerduty" in warnings[1] and "via webhook" in warnings[2]
    # The failure is in the audit trail too.
    audit = [r["ansible_facts"]["deployment_audit_event"] for n, _, r in result.tasks()
             if "Record that" in n and "ansible_facts" in r]
    assert [(a["phase"], a["decision"], a["channel"]) for a in audit] == [
        ("notify", "failed", "mail"), ("notify", "failed", "pagerduty"), ("notify", "failed", "webhook")]
    # Jira was switched off: nothing reached it; the broken webhook was tried once.
    assert [r["path"] for r in receiver.requests] == ["/broken"]
    for secret in (PAGERDUTY_KEY, WEBHOOK_TOKEN, JIRA_PASSWORD):
        assert secret not in result.stdout and secret not in result.stderr


def test_broken_channel_fails_the_play_when_asked():
    closed = free_port()
    settings = dict(BROKEN, deploy_notify_mail_port=closed, deploy_notify_pagerduty_enabled=False,
                    deploy_notify_fail_on_error=True)
    result = run_playbook(play([notify("rollback", ROLLED_BACK),
                                {"name": "Never reached", "ansible.builtin.debug": {"msg": "after"}}], settings))
    assert result.rc != 0, result
    failed = [f for f in result.failures() if "Email - send" not in f[0]]  # the mail task's own failure is rescued
    assert [n for n, _, _ in failed] == [ROLE + "Fail as notifications could not be sent and deploy_notify_fail_on_error is set"]
    assert "rollback notification failed on mail" in failed[0][2]
    assert "Never reached" not in [n for n, _, _ in result.tasks()]


def test_check_mode_builds_slack_and_pagerduty_arguments_without_sending(receiver):
    settings = {
        "deploy_notify_slack_enabled": True,
        "deploy_notify_slack_token": SLACK_TOKEN,
        "deploy_notify_slack_channel": "#deployments",
        "deploy_notify_pagerduty_enabled": True,
        "deploy_notify_pagerduty_integration_key": PAGERDUTY_KEY,
        "deploy_notify_jira_enabled": True,
        "deploy_notify_jira_uri": receiver.url + "/jira",
        "deploy_notify_jira_token": "jira-token-value",
        "deploy_notify_jira_project": "OPS",
    }
    succeeded = dict(DEPLOYMENT, finished_at="2026-11-26T10:50:00Z", duration_seconds=3000)
    result = run_playbook(play([notify("rollback", ROLLED_BACK), notify("success", succeeded)], settings), check=True)
    assert result.rc == 0, result

    # Slack validated its arguments (a malformed token would fail) and sent nothing in check mode.
    slack = role_tasks(result, "Slack - post to #deployments")
    assert len(slack) == 2 and all(r.get("changed") and not r.get("failed") for r in slack), slack
    assert SLACK_TOKEN not in result.stdout

    # PagerDuty: trigger for the rollback, resolve for the success, same incident key; not sent in check mode.
    built = [r["ansible_facts"]["deploy_notify_pagerduty_event"] for r in role_tasks(result, "PagerDuty - build the event")]
    assert [(b["state"], b["severity"]) for b in built] == [("triggered", "error"), ("resolved", "info")]
    assert built[0]["incident_key"] == built[1]["incident_key"] == "progressive.delivery/prod-ecs-cluster/myapp/production"
    assert built[0]["source"] == "myapp" and built[0]["component"] == "myapp-production"
    assert built[0]["custom_details"]["failing_metrics"] == [
        "error_rate at 10 %: live 0.180 % -> candidate 4.210 % (+2239.0 %), fail"]
    sends = [r for n, _, r in result.tasks() if n.startswith(ROLE + "PagerDuty - ") and "build" not in n]
    assert sends and all(r.get("skipped") for r in sends)
    # Jira does not support check mode: nothing reached it.
    assert receiver.requests == []


def test_unknown_event_is_refused_by_the_argument_spec():
    result = run_playbook(play([notify("deployed", DEPLOYMENT)], {}))
    assert result.rc != 0
    assert "deploy_notify_event" in str(result.failures()) and "deployed" in str(result.failures())
