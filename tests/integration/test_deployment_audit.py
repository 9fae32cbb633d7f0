"""The deployment_audit callback in real playbook runs: JSON lines to a file, and to CloudWatch Logs on moto."""
import json
import os

from harness import localhost_play, run_playbook

SECRETS = {
    "aws_secret_key": "aws-s3cr3t-value-1",
    "deploy_notify_slack_token": "xoxb-s3cr3t-value-2",
    "db_password": "pa55-s3cr3t-value-3",
    "deploy_notify_pagerduty_integration_key": "pd-s3cr3t-value-4",
}
METRICS = [
    {"name": "error_rate", "kind": "proportion", "live": 0.0018, "candidate": 0.0421, "relative_change": 22.39,
     "verdict": "fail", "reason": "one-sided p 1.2e-09 < 0.0025"},
    {"name": "latency_p95", "kind": "samples", "live": 0.118, "candidate": 0.121, "relative_change": 0.025,
     "verdict": "pass", "reason": "shift within tolerance"},
]
TASKS = [
    {"name": "Validate", "ansible.builtin.set_fact": {"deployment_audit_event": {
        "execution_id": "exec-7", "phase": "validate", "decision": "deploy",
        "inputs": {"service": "myapp", "image_tag": "v1.2.3", "api_key": "event-s3cr3t-value-5"}}}},
    {"name": "An ordinary fact is not a record", "ansible.builtin.set_fact": {"something_else": 1}},
    {"name": "Shift 10 %", "ansible.builtin.set_fact": {"deployment_audit_event": {
        "execution_id": "exec-7", "phase": "shift", "step": 10, "decision": "fail",
        "reason": "critical metric failed: error_rate", "metrics": METRICS,
        "weights": {"a": 90, "b": 10}, "webhook_token": "event-s3cr3t-value-6"}}},
    {"name": "Hidden", "no_log": True, "ansible.builtin.set_fact": {"deployment_audit_event": {
        "execution_id": "exec-7", "phase": "hidden", "decision": "x", "note": "hidden-value-7"}}},
    {"name": "Looped", "ansible.builtin.set_fact": {"deployment_audit_event": {
        "execution_id": "exec-7", "phase": "cleanup", "decision": "{{ item }}"}}, "loop": ["scaled-down", "released"]},
    {"name": "A failing task", "ansible.builtin.fail": {"msg": "boom at rollback"}, "ignore_errors": True},
]


def audit_env(path, **extra):
    env = {"ANSIBLE_CALLBACKS_ENABLED": "progressive.delivery.deployment_audit", "DEPLOYMENT_AUDIT_FILE": str(path)}
    env.update(extra)
    return env


def read_records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_records_per_step_with_execution_id_who_redacted_inputs_decision_and_metrics(tmp_path):
    path = tmp_path / "audit" / "run.jsonl"
    extra = dict(SECRETS, ecs_bg_app="myapp", ecs_bg_image_tag="v1.2.3", awx_user_name="alice")
    result = run_playbook(localhost_play(TASKS, "http://127.0.0.1:1", name="audited"), extra_vars=extra,
                          env=audit_env(path, JOB_ID="", AWX_JOB_ID=""))
    assert result.rc == 0, result
    raw = path.read_text()
    records = read_records(path)

    assert [(r["record"], r.get("phase"), r.get("decision")) for r in records] == [
        ("playbook_start", None, None),
        ("step", "validate", "deploy"),
        ("step", "shift", "fail"),
        ("step", "cleanup", "scaled-down"),
        ("step", "cleanup", "released"),
        ("task_failed", None, None),
        ("playbook_end", None, "succeeded"),
    ]
    start, validate, shift = records[0], records[1], records[2]
    # No AWX: the run id is minted once; records from an event carry its execution id, and later ones keep it.
    assert len({r["run_id"] for r in records}) == 1 and records[0]["run_id"].startswith("pd-")
    assert start["execution_id"] == start["run_id"]
    assert [r["execution_id"] for r in records[1:]] == ["exec-7"] * 6
    assert {r["who"] for r in records} == {"alice"}
    assert all(r["playbook"].endswith("play.yml") for r in records)
    assert all(r["time"].endswith("Z") and r["time"][:4].isdigit() for r in records)

    # Inputs: the extra vars and the event's inputs, secrets gone (names kept in `redacted`).
    assert validate["inputs"]["ecs_bg_app"] == "myapp" and validate["inputs"]["service"] == "myapp"
    for name in SECRETS:
        assert name not in validate["inputs"]
        assert "inputs." + name in validate["redacted"]
    assert "inputs.api_key" in validate["redacted"]
    for secret in list(SECRETS.values()) + ["event-s3cr3t-value-5", "event-s3cr3t-value-6", "hidden-value-7"]:
        assert secret not in raw, secret

    # The step: decision, reason, the metrics behind it, and the rest of the event as details.
    assert shift["step"] == 10 and shift["reason"] == "critical metric failed: error_rate"
    assert shift["metrics"] == METRICS
    assert shift["details"] == {"weights": {"a": 90, "b": 10}}
    assert "details.webhook_token" in shift["redacted"]
    assert shift["task"] == "Shift 10 %" and shift["host"] == "localhost"

    failed = records[5]
    assert failed["task"] == "A failing task" and failed["msg"] == "boom at rollback" and failed["ignored"] is True
    assert records[-1]["stats"]["localhost"]["ignored"] == 1
    assert records[-1]["duration_seconds"] > 0


def test_awx_job_id_is_the_execution_id_and_a_failed_run_ends_failed(tmp_path):
    path = tmp_path / "run.jsonl"
    tasks = TASKS[:3] + [{"name": "Stops the run", "ansible.builtin.fail": {"msg": "rolled back"}}]
    result = run_playbook(localhost_play(tasks, "http://127.0.0.1:1"), extra_vars={"tower_user_name": "bob"},
                          env=audit_env(path, JOB_ID="", AWX_JOB_ID="4711"))
    assert result.rc != 0
    records = read_records(path)
    assert {r["execution_id"] for r in records} == {"4711"}
    assert {r["awx_job_id"] for r in records} == {"4711"}
    assert {r["who"] for r in records} == {"bob"}
    # The event's own id is kept beside AWX's.
    assert [r.get("event_execution_id") for r in records if r["record"] == "step"] == ["exec-7", "exec-7"]
    assert [r["record"] for r in records][-2:] == ["task_failed", "playbook_end"]
    assert records[-2]["ignored"] is False and records[-2]["msg"] == "rolled back"
    assert records[-1]["decision"] == "failed"


def test_not_enabled_writes_nothing(tmp_path):
    assert "deployment_audit" not in os.environ.get("ANSIBLE_CALLBACKS_ENABLED", "")
    path = tmp_path / "run.jsonl"
    result = run_playbook(localhost_play(TASKS[:1], "http://127.0.0.1:1"),
                          env={"DEPLOYMENT_AUDIT_FILE": str(path)})
    assert result.rc == 0, result
    assert not path.exists()


def test_records_are_shipped_to_cloudwatch_logs(moto, tmp_path):
    logs = moto.client("logs")
    logs.create_log_group(logGroupName="/deployments/audit")
    path = tmp_path / "run.jsonl"
    env = audit_env(path, DEPLOYMENT_AUDIT_LOG_GROUP="/deployments/audit", DEPLOYMENT_AUDIT_LOG_STREAM="myapp/exec-7",
                    DEPLOYMENT_AUDIT_ENDPOINT_URL=moto.url, DEPLOYMENT_AUDIT_REGION="us-east-1")
    result = run_playbook(localhost_play(TASKS, moto.url), extra_vars=SECRETS, env=env)
    assert result.rc == 0, result
    assert "deployment_audit" not in result.stderr, result.stderr
    events = logs.get_log_events(logGroupName="/deployments/audit", logStreamName="myapp/exec-7", startFromHead=True)["events"]
    shipped = [json.loads(e["message"]) for e in events]
    assert shipped == read_records(path)
    assert [r["decision"] for r in shipped if r.get("phase") == "shift"] == ["fail"]
    assert not [s for s in SECRETS.values() if any(s in e["message"] for e in events)]


def test_cloudwatch_failure_is_a_warning_and_the_file_keeps_everything(moto, tmp_path):
    path = tmp_path / "run.jsonl"
    env = audit_env(path, DEPLOYMENT_AUDIT_LOG_GROUP="/no/such/group",
                    DEPLOYMENT_AUDIT_ENDPOINT_URL=moto.url, DEPLOYMENT_AUDIT_REGION="us-east-1")
    result = run_playbook(localhost_play(TASKS[:3], moto.url), env=env)
    assert result.rc == 0, result
    assert result.stderr.count("deployment_audit: shipping to CloudWatch Logs group /no/such/group") == 1, result.stderr
    assert "ResourceNotFoundException" in result.stderr, result.stderr
    assert result.stderr.count("record(s) not shipped to CloudWatch Logs group /no/such/group") == 1, result.stderr
    assert [r["record"] for r in read_records(path)] == ["playbook_start", "step", "step", "playbook_end"]


def test_default_file_is_under_home_by_date(tmp_path):
    import datetime

    def today():
        return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")

    before = today()
    result = run_playbook(localhost_play(TASKS[:1], "http://127.0.0.1:1"),
                          env={"ANSIBLE_CALLBACKS_ENABLED": "progressive.delivery.deployment_audit", "HOME": str(tmp_path),
                               "DEPLOYMENT_AUDIT_FILE": ""})
    assert result.rc == 0, result
    files = list((tmp_path / ".ansible" / "deployment-audit").glob("*.jsonl"))
    assert len(files) == 1 and files[0].name in ("%s.jsonl" % before, "%s.jsonl" % today())
    assert [r["record"] for r in read_records(files[0])] == ["playbook_start", "step", "playbook_end"]
