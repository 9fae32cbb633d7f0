import datetime
import json
import re

import yaml

from ansible_collections.progressive.delivery.plugins.callback import deployment_audit as audit

PATTERN = re.compile(audit.DEFAULT_PATTERN, re.IGNORECASE)
MOMENT = datetime.datetime(2026, 11, 26, 10, 5, 0, 123456, tzinfo=datetime.timezone.utc)


def context(**kw):
    base = {"run_id": "pd-run", "job_id": "", "who": "alice", "playbook": "/p/ecs_blue_green.yml",
            "inputs": {}, "last_execution_id": ""}
    base.update(kw)
    return base


def test_documented_default_pattern_is_the_one_used():
    doc = yaml.safe_load(audit.DOCUMENTATION)
    assert doc["options"]["redact_pattern"]["default"] == audit.DEFAULT_PATTERN
    assert doc["name"] == "deployment_audit" and doc["type"] == "aggregate"
    assert audit.CallbackModule.CALLBACK_NEEDS_ENABLED is True


def test_pattern_drops_secret_names_and_keeps_ordinary_ones():
    secret = ["password", "db_password", "ansible_become_pass", "passwd", "aws_secret_key", "secret", "token",
              "session_token", "api_key", "apikey", "integration_key", "key", "access_key_id", "Authorization",
              "private_key_file", "credentials", "Cookie", "passphrase"]
    ordinary = ["service", "image_tag", "keyword", "monkey", "passed", "bypass_cache", "decision", "metrics",
                "metric", "passenger"]
    assert [n for n in secret if not PATTERN.search(n)] == []
    assert [n for n in ordinary if PATTERN.search(n)] == []


def test_redact_drops_at_any_depth_and_names_what_it_dropped():
    dropped = []
    value = {"a": 1, "token": "t", "nested": {"db_password": "p", "ok": [{"api_key": "k", "v": 2}]}}
    assert audit.redact(value, PATTERN, dropped) == {"a": 1, "nested": {"ok": [{"v": 2}]}}
    assert dropped == ["token", "nested.db_password", "nested.ok.0.api_key"]


def test_redact_drops_vault_encrypted_values():
    class EncryptedString(str):
        pass
    dropped = []
    assert audit.redact({"harmless_name": EncryptedString("x"), "b": 1}, PATTERN, dropped) == {"b": 1}
    assert dropped == ["harmless_name"]
    assert audit.plain({"v": EncryptedString("x")}) == {"v": None}


def test_plain_makes_anything_json_safe():
    class Tagged(str):
        pass
    value = {1: (Tagged("x"), {3}), "f": float("inf"), "o": object, "b": True, "n": None}
    out = audit.plain(value)
    json.dumps(out)
    assert out["1"] == ["x", [3]] and out["f"] is None and out["b"] is True and out["n"] is None
    assert type(out["1"][0]) is str
    deep = {}
    cursor = deep
    for _ in range(50):
        cursor["d"] = {}
        cursor = cursor["d"]
    json.dumps(audit.plain(deep))


def test_job_id_env_wins_over_extra_vars_and_blank_is_absent():
    assert audit.job_id_from({"JOB_ID": "12"}, {"awx_job_id": 99}) == "12"
    assert audit.job_id_from({"JOB_ID": " ", "AWX_JOB_ID": "13"}, {}) == "13"
    assert audit.job_id_from({}, {"tower_job_id": 7}) == "7"
    assert audit.job_id_from({}, {"awx_job_id": ""}) == ""


def test_who_is_awx_user_else_local():
    assert audit.who_from({"awx_user_name": "alice", "tower_user_name": "bob"}, "root") == "alice"
    assert audit.who_from({"tower_user_name": "bob"}, "root") == "bob"
    assert audit.who_from({}, "root") == "root"


def test_execution_id_precedence():
    assert audit.execution_id_for("4711", "exec-1", "exec-0", "pd-run") == "4711"
    assert audit.execution_id_for("", "exec-1", "exec-0", "pd-run") == "exec-1"
    assert audit.execution_id_for("", None, "exec-0", "pd-run") == "exec-0"
    assert audit.execution_id_for("", "", "", "pd-run") == "pd-run"


def test_step_record_fields():
    event = {"execution_id": "exec-1", "phase": "shift", "step": 10, "decision": "fail", "reason": "error_rate",
             "metrics": [{"name": "error_rate", "live": 0.0018, "candidate": 0.04, "verdict": "fail"}],
             "inputs": {"image_tag": "v2", "slack_token": "x"}, "weights": {"a": 90, "b": 10}, "lock_secret": "s"}
    rec = audit.build_record("step", context(inputs={"ecs_bg_app": "myapp", "aws_secret_key": "s"}), PATTERN,
                             event=event, moment=MOMENT, host="localhost", task="Shift")
    assert rec["time"] == "2026-11-26T10:05:00.123Z"
    assert (rec["record"], rec["execution_id"], rec["run_id"], rec["who"]) == ("step", "exec-1", "pd-run", "alice")
    assert rec["inputs"] == {"ecs_bg_app": "myapp", "image_tag": "v2"}
    assert (rec["phase"], rec["step"], rec["decision"], rec["reason"]) == ("shift", 10, "fail", "error_rate")
    assert rec["metrics"] == event["metrics"]
    assert rec["details"] == {"weights": {"a": 90, "b": 10}}
    assert rec["redacted"] == ["details.lock_secret", "inputs.aws_secret_key", "inputs.slack_token"]
    assert (rec["host"], rec["task"]) == ("localhost", "Shift")
    assert "awx_job_id" not in rec and "event_execution_id" not in rec
    json.dumps(rec)


def test_awx_job_id_record_keeps_the_event_id_beside_it():
    rec = audit.build_record("step", context(job_id="4711"), PATTERN, event={"execution_id": "exec-1", "phase": "p"})
    assert (rec["execution_id"], rec["awx_job_id"], rec["event_execution_id"]) == ("4711", "4711", "exec-1")


def test_non_step_records_carry_no_step_fields():
    rec = audit.build_record("playbook_end", context(last_execution_id="exec-1"), PATTERN, decision="succeeded",
                             stats={"localhost": {"ok": 3}})
    assert rec["execution_id"] == "exec-1"
    assert rec["decision"] == "succeeded" and rec["stats"] == {"localhost": {"ok": 3}}
    assert "phase" not in rec and "details" not in rec and "redacted" not in rec


def test_events_in_results_plain_looped_and_hidden():
    event = {"phase": "p"}
    assert audit.events_in({"ansible_facts": {"deployment_audit_event": event}}) == [event]
    assert audit.events_in({"ansible_facts": {"other": 1}}) == []
    assert audit.events_in({"results": [{"ansible_facts": {"deployment_audit_event": event}}, {"ansible_facts": {}},
                                        {"ansible_facts": {"deployment_audit_event": event}, "_ansible_no_log": True}]}) == [event]
    assert audit.events_in({"ansible_facts": {"deployment_audit_event": event}, "_ansible_no_log": True}) == []
    assert audit.events_in({"censored": "the output has been hidden"}) == []
    assert audit.events_in({"ansible_facts": {"deployment_audit_event": "not a dict"}}) == []


def test_default_path_and_run_id():
    assert audit.default_path("/home/u", MOMENT) == "/home/u/.ansible/deployment-audit/2026-11-26.jsonl"
    run_id = audit.mint_run_id(MOMENT)
    assert re.match(r"^pd-20261126T100500Z-[0-9a-f]{8}$", run_id)
    assert audit.mint_run_id(MOMENT) != run_id


def test_json_line_is_one_line():
    line = audit.to_json_line({"text": "a\nb", "when": MOMENT})
    assert line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line)["text"] == "a\nb"


def test_traffic_step_words_map_to_step_and_reason():
    event = {"phase": "shift", "percent": 50, "decision": "pass", "summary": "pass at look 3", "action": "continue"}
    rec = audit.build_record("step", context(), PATTERN, event=event)
    assert (rec["step"], rec["reason"]) == (50, "pass at look 3")
    assert rec["details"] == {"action": "continue"}
    both = audit.build_record("step", context(), PATTERN, event={"step": 1, "percent": 10, "reason": "r", "summary": "s"})
    assert (both["step"], both["reason"], both["details"]) == (1, "r", {"percent": 10, "summary": "s"})


def test_audit_file_path(tmp_path):
    assert audit.audit_file_path("", "/home/u", MOMENT) == "/home/u/.ansible/deployment-audit/2026-11-26.jsonl"
    assert audit.audit_file_path(None, "/home/u", MOMENT) == "/home/u/.ansible/deployment-audit/2026-11-26.jsonl"
    assert audit.audit_file_path(str(tmp_path), "/home/u", MOMENT) == str(tmp_path / "2026-11-26.jsonl")
    assert audit.audit_file_path(str(tmp_path / "a.jsonl"), "/home/u", MOMENT) == str(tmp_path / "a.jsonl")


def test_secrets_are_scrubbed_by_value_anywhere_lists_included():
    db, token, bearer = "db-pass-5f1c2e9a77", "tok-9a8b7c6d5e4f", "Bearer hdr-1234567890abcdef"
    ctx = context(inputs={"deploy_notify_webhook_token": token,
                          "containers": [{"environment": [{"name": "DB_PASSWORD", "value": db}]}]})
    ctx["secrets"] = {bearer.split()[1]}
    event = {"phase": "shift", "reason": "failed with %s and %s and %s" % (db, token, bearer),
             "metrics": [{"note": db}], "inputs": {"env": [{"name": "API_TOKEN", "value": "other-secret-1"}]}}
    rec = audit.build_record("step", ctx, PATTERN, event=event, msg="task said " + token)
    text = json.dumps(rec)
    for secret in (db, token, bearer.split()[1], "other-secret-1"):
        assert secret not in text, (secret, text)
    assert "********" in rec["reason"] and rec["metrics"] == [{"note": "********"}]
    assert rec["inputs"]["containers"][0]["environment"][0] == {"name": "DB_PASSWORD", "value": "********"}


def test_short_values_are_not_scrubbed_by_value():
    ctx = context(inputs={"x_password": "abc"})
    rec = audit.build_record("step", ctx, PATTERN, event={"phase": "abc-phase"})
    assert rec["phase"] == "abc-phase"
