"""Secrets never printed (issue 15): distinct secret values planted in every place one can be given - task definition
environment, a plaintext value given as a secret's valueFrom, the AWS secret key, the webhook token and a token in
the webhook URL's path, the SMTP password, the Jira token, a bearer token in http_smoke's headers - then the good
and the failing ECS flow run with -vvv --diff, the audit callback on and the HTML report written, and every output
is searched: stdout, stderr, the audit trail, the report, the webhook / Jira / mail bodies. 0 hits.
"""
import json
import secrets
from pathlib import Path

import pytest

from ecs_e2e import INVENTORY, PLAYBOOK
from harness import localhost_play, run_playbook

pytestmark = pytest.mark.lab


def _secret(label):
    return "planted-%s-%s" % (label, secrets.token_hex(12))


def _plant(world, receiver, mailbox):
    planted = {name: _secret(name) for name in (
        "env-db-password", "env-api-token", "aws-secret-key", "webhook-token", "webhook-path", "smtp-password",
        "jira-token", "valuefrom-plaintext")}
    extra = dict(world.lab_vars(), deployment_report_dir=str(world.reports),
                 aws_access_key="AKIDSECRETGREP%s" % secrets.token_hex(4).upper(),
                 # a dummy key is no IAM user: simulate the lab's deployer instead
                 ecs_validate_iam_principal="arn:aws:iam::123456789012:user/progressive-deployer",
                 aws_secret_key=planted["aws-secret-key"],
                 ecs_green_deploy_environment={"DATABASE_PASSWORD": planted["env-db-password"],
                                               "API_TOKEN": planted["env-api-token"], "LOG_LEVEL": "info"},
                 deploy_notify_webhook_enabled=True,
                 deploy_notify_webhook_url="%s/hook/%s" % (receiver.url, planted["webhook-path"]),
                 deploy_notify_webhook_token=planted["webhook-token"],
                 deploy_notify_mail_enabled=True, deploy_notify_mail_host="127.0.0.1", deploy_notify_mail_port=mailbox.port,
                 deploy_notify_mail_to=["ops@example.com"], deploy_notify_mail_username="deployer",
                 deploy_notify_mail_password=planted["smtp-password"], deploy_notify_mail_secure="never",
                 deploy_notify_jira_enabled=True, deploy_notify_jira_uri=receiver.url + "/jira",
                 deploy_notify_jira_token=planted["jira-token"], deploy_notify_jira_project="OPS",
                 deploy_notify_jira_issue="OPS-1")
    return planted, extra


def _outputs(result, world, receiver, mailbox):
    texts = {"stdout": result.stdout, "stderr": result.stderr,
             "audit": world.audit.read_text() if world.audit.exists() else ""}
    for path in sorted(Path(world.reports).glob("*.html")) if Path(world.reports).exists() else []:
        texts["report " + path.name] = path.read_text(encoding="utf-8")
    # What the notifications said (their bodies); the URL a request was sent to is its destination, not an output.
    texts["http bodies"] = "\n".join(r["body"] for r in receiver.requests)
    texts["mail"] = "\n".join(str(m) for m in getattr(mailbox, "messages", []))
    return texts


def _hits(planted, texts):
    return sorted((name, where) for name, value in planted.items() for where, text in texts.items() if value in text)


def _why(result):
    """The failed tasks' lines of a default-callback output, for an assertion message."""
    lines = result.stdout.splitlines()
    picked = [i for i, line in enumerate(lines) if line.startswith(("fatal:", "failed:", "...ignoring", "TASK [Fail"))]
    return "\n".join("\n".join(lines[max(0, i - 3):i + 12]) for i in picked)[-12000:]


def _run(world, extra):
    return run_playbook(PLAYBOOK, extra_vars=extra, inventory=INVENTORY, diff=True, env=dict(
        world.env(), ANSIBLE_STDOUT_CALLBACK="default"), args=["-vvv"], timeout=900)


@pytest.mark.timeout(1800)   # two whole deployments (about 4 min on a quiet machine)
def test_no_planted_secret_in_any_output_good_then_failing_flow(world, receiver, mailbox):
    planted, extra = _plant(world, receiver, mailbox)
    good = _run(world, dict(extra, ecs_validate_image_tag="v1.2.3"))
    print(_why(good))
    assert good.rc == 0, (_hits(planted, _outputs(good, world, receiver, mailbox)), _why(good))
    assert world.weights() == {"a": 0, "b": 100}
    texts = _outputs(good, world, receiver, mailbox)
    assert _hits(planted, texts) == []
    assert "looks like a secret" in " ".join((good.stdout + good.stderr).split())   # the warning suggesting `secrets`
    assert receiver.requests, "the webhook was not called: the test would prove nothing about its URL"

    # The failing flow: a password pasted as a secret's valueFrom - refused, rolled back, reported, notified.
    bad = _run(world, dict(extra, ecs_validate_image_tag="v1.2.2",
                           ecs_green_deploy_secrets={"DB_PASSWORD": planted["valuefrom-plaintext"]}))
    assert bad.rc != 0
    assert "secret DB_PASSWORD valueFrom" in bad.stdout and "not shown" in bad.stdout, (
        _hits(planted, _outputs(bad, world, receiver, mailbox)), _why(bad))
    texts = _outputs(bad, world, receiver, mailbox)
    assert "rollback" in texts["http bodies"] or "rolled back" in texts["http bodies"]
    assert _hits(planted, texts) == []


def test_http_smoke_headers_are_never_printed(lab):
    token = _secret("bearer")
    play = localhost_play([{"name": "smoke", "progressive.delivery.http_smoke": {
        "base_url": lab.test_url, "paths": ["/health"], "requests": 1, "max_error_rate": 1,
        "headers": {"Authorization": "Bearer " + token}}}], lab.endpoint)
    # Default display settings (display_args_to_stdout prints a task's arguments in its banner, no_log options
    # included - an opt-in Ansible documents as unsafe for secrets).
    result = run_playbook(play, args=["-vvv"], diff=True, env={"ANSIBLE_STDOUT_CALLBACK": "default"})
    assert result.rc == 0, result.stdout[-3000:]
    assert "smoke" in result.stdout
    assert token not in result.stdout + result.stderr
