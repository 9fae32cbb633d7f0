import pytest

from ansible_collections.progressive.delivery.plugins.filter import deployment as f

METRICS = [
    {"name": "error_rate", "kind": "proportion", "live": 0.0018, "candidate": 0.0421, "relative_change": 22.39,
     "verdict": "fail", "reason": "one-sided p 1.2e-09 < 0.0025"},
    {"metric": "latency_p95", "live": 0.118, "candidate": "0.121", "change": 0.025, "verdict": "pass", "reason": "ok"},
]
DEPLOYMENT = {
    "execution_id": "exec-42", "pipeline": "myapp-production", "service": "myapp", "cluster": "prod",
    "environment": "production", "image": "repo/myapp@sha256:ab", "image_tag": "v1.2.3", "digest": "sha256:ab",
    "task_definition": "myapp:42", "strategy": "blue-green 10/50/100", "desired_count": 10,
    "started_at": "2026-11-26T10:00:00Z", "live_slot": "a", "candidate_slot": "b",
}


def lines_of(text):
    return text.split("\n")


def test_filters_are_exposed():
    assert set(f.FilterModule().filters()) == {"deployment_summary", "deployment_notification", "deployment_verdict_table"}


@pytest.mark.parametrize("value,proportion,expected", [
    (0.0018, True, "0.180 %"),
    ("0.0421", True, "4.210 %"),
    (0.118, False, "0.118"),
    (1234.5678, False, "1235"),
    (10, False, "10"),
    (None, False, "-"),
    ("n/a", False, "n/a"),
    (float("nan"), True, "nan"),
    (True, False, "True"),
])
def test_format_value(value, proportion, expected):
    assert f.format_value(value, proportion) == expected


@pytest.mark.parametrize("value,expected", [(22.39, "+2239.0 %"), (-0.05, "-5.0 %"), (0, "+0.0 %"), (None, "-"), ("", "-")])
def test_format_change(value, expected):
    assert f.format_change(value) == expected


@pytest.mark.parametrize("seconds,expected", [(0, "0s"), (59.6, "1m 00s"), (390, "6m 30s"), (3723, "1h 02m 03s"), ("x", "x")])
def test_format_duration(seconds, expected):
    assert f.format_duration(seconds) == expected


def test_proportion_by_kind_only():
    assert f.is_proportion({"name": "latency", "kind": "proportion"})
    assert f.is_proportion({"name": "latency_p95", "kind": "tail"})  # its live / candidate are shares of slow requests
    assert not f.is_proportion({"name": "error_rate", "kind": "samples"})
    # The name no longer decides: a `_rate` may be requests per second, and 12.5/s must not read 1250 %.
    assert not f.is_proportion({"name": "http_error_rate"})
    assert not f.is_proportion({"name": "request_rate"})
    assert not f.is_proportion({"name": "cpu"})


@pytest.mark.parametrize("metric", [
    {"name": "error_rate", "kind": "proportion", "live": 0.0018, "candidate": 0.0421},
    {"name": "latency_p95", "kind": "tail", "live": 0.05, "candidate": 0.07},
    {"name": "request_rate", "kind": "samples", "live": 12.5, "candidate": 13},
    {"name": "request_rate", "live": 12.5, "candidate": 13},
])
def test_text_and_html_renderers_agree_on_proportions(metric):
    from ansible_collections.progressive.delivery.plugins.module_utils import deployment_report as report
    row = f.metric_row(metric)
    assert row[1:3] == (report.fmt_value(metric["live"], report.shows_share(metric)),
                        report.fmt_value(metric["candidate"], report.shows_share(metric)))
    assert report.render({"steps": [{"percent": 10, "metrics": [metric]}]}).count(row[1]) >= 1
    if metric.get("kind") in ("proportion", "tail"):
        assert row[1].endswith(" %")
    else:
        assert row[1] == "12.5"


def test_verdict_table_aligns_columns_and_accepts_both_key_spellings():
    table = lines_of(f.verdict_table(METRICS))
    assert table[0].split() == ["metric", "live", "candidate", "change", "verdict", "reason"]
    assert set(table[1].replace(" ", "")) == {"-"}
    assert table[2].split()[:6] == ["error_rate", "0.180", "%", "4.210", "%", "+2239.0"]
    assert table[3].split()[:5] == ["latency_p95", "0.118", "0.121", "+2.5", "%"]
    # Columns line up: every row's candidate starts where the header's does.
    column = table[0].index("candidate")
    assert table[2][column:].startswith("4.210 %") and table[3][column:].startswith("0.121")
    assert f.verdict_table([]) == "" and f.verdict_table(None) == ""


def test_long_reasons_are_cut():
    row = f.metric_row({"name": "m", "reason": "x" * 500})
    assert len(row[-1]) == f.REASON_WIDTH and row[-1].endswith("...")


def test_summary_has_every_field_and_each_step_table():
    d = dict(DEPLOYMENT, finished_at="2026-11-26T10:06:30Z", reason="candidate failed the 10 % step",
             steps=[{"percent": 10, "decision": "fail", "action": "rollback", "summary": "look 1 of 5", "metrics": METRICS}])
    text = f.deployment_summary(d)
    lines = lines_of(text)
    assert lines[:2] == ["Deployment Summary", "=================="]
    fields = dict((l.split(":", 1)[0], l.split(":", 1)[1].strip()) for l in lines[2:] if l and not l.startswith(" ") and ":" in l
                  and not l.startswith("Step"))
    assert fields["Status"] == "ROLLED BACK"
    assert fields["Pipeline"] == "myapp-production"
    assert fields["Service"] == "myapp (cluster prod)"
    assert fields["Image"] == "repo/myapp@sha256:ab" and fields["Digest"] == "sha256:ab"
    assert fields["Task definition"] == "myapp:42" and fields["Tasks"] == "10"
    assert fields["Strategy"] == "blue-green 10/50/100" and fields["Environment"] == "production"
    assert fields["Started"] == "2026-11-26T10:00:00Z" and fields["Finished"] == "2026-11-26T10:06:30Z"
    assert fields["Duration"] == "6m 30s"  # computed from the two times
    assert fields["Reason"] == "candidate failed the 10 % step"
    assert "Step 10 %: fail -> rollback" in lines
    assert "  look 1 of 5" in lines
    assert any(l.startswith("  error_rate") and "4.210 %" in l for l in lines)


def test_status_follows_the_event_or_is_inferred():
    assert "Status:          STARTED" in f.deployment_summary(DEPLOYMENT, "start")
    assert "Status:          IN PROGRESS" in f.deployment_summary(DEPLOYMENT)
    assert "Status:          SUCCEEDED" in f.deployment_summary(dict(DEPLOYMENT, finished_at="2026-11-26T11:00:00Z"))
    assert "Status:          FAILED" in f.deployment_summary(dict(DEPLOYMENT, reason="x"), "failure")


def test_missing_and_empty_fields_show_as_dashes_and_duration_is_taken_when_given():
    text = f.deployment_summary({"service": "s", "duration_seconds": "65", "reason": ""})
    assert "Pipeline:        -" in text and "Slots:           -" in text and "Duration:        1m 05s" in text
    assert "Reason" not in text


def test_step_being_told_is_added_once():
    step = {"percent": 50, "decision": "pass", "metrics": METRICS[1:]}
    told = f.deployment_summary(dict(DEPLOYMENT, steps=[step], step=step))
    assert told.count("Step 50 %") == 1
    both = f.deployment_summary(dict(DEPLOYMENT, steps=[{"percent": 10, "decision": "pass"}], step=step))
    assert both.index("Step 10 %") < both.index("Step 50 %")


def test_bad_input_is_refused():
    with pytest.raises(TypeError):
        f.deployment_summary("not a dict")
    with pytest.raises(ValueError):
        f.deployment_summary(DEPLOYMENT, "deployed")
    with pytest.raises(ValueError):
        f.deployment_notification(DEPLOYMENT, "started")


def test_notification_of_a_rollback_names_the_failing_metric_with_both_values():
    d = dict(DEPLOYMENT, reason="candidate failed the 10 % step", steps=[{"percent": 10, "decision": "fail", "metrics": METRICS}])
    n = f.deployment_notification(d, "rollback")
    assert n["title"] == "myapp v1.2.3 to production: rolled back"
    assert n["failing_metrics"] == ["error_rate at 10 %: live 0.180 % -> candidate 4.210 % (+2239.0 %), fail"]
    assert lines_of(n["headline"]) == [
        "myapp v1.2.3 to production: rolled back - candidate failed the 10 % step",
        "Failing: error_rate at 10 %: live 0.180 % -> candidate 4.210 % (+2239.0 %), fail"]
    assert n["text"].startswith(n["headline"] + "\n\nDeployment Summary\n")
    assert (n["color"], n["severity"], n["status"]) == ("danger", "error", "ROLLED BACK")
    assert n["incident_key"] == "progressive.delivery/prod/myapp/production"


def test_notification_of_a_step_says_the_step_and_colours_by_decision():
    passed = f.deployment_notification(dict(DEPLOYMENT, step={"percent": 50, "decision": "pass"}), "step")
    assert passed["title"] == "myapp v1.2.3 to production: in progress - step 50 % pass" and passed["color"] == "good"
    failed = f.deployment_notification(dict(DEPLOYMENT, step={"percent": 10, "decision": "fail", "metrics": METRICS}), "step")
    assert failed["color"] == "danger" and failed["failing_metrics"]
    unsure = f.deployment_notification(dict(DEPLOYMENT, step={"percent": 10, "decision": "inconclusive"}), "step")
    assert unsure["color"] == "warning"


def test_notification_of_start_and_success():
    start = f.deployment_notification(DEPLOYMENT, "start")
    assert (start["status"], start["severity"], start["failing_metrics"]) == ("STARTED", "info", [])
    assert start["headline"] == start["title"]
    success = f.deployment_notification(dict(DEPLOYMENT, reason="ignored on success"), "success")
    assert "ignored" not in success["headline"] and success["color"] == "good"
    assert f.deployment_notification({}, "failure")["severity"] == "critical"
