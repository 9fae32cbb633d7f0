"""The report's pieces through ansible-playbook, no AWS: audit_event collects the run's records with their times in
deployment_audit_trail, and the deployment_report_html filter renders them (Jinja's native types and all) into a
page written with copy."""
import re

from harness import localhost_play, run_playbook


def test_audit_event_trail_feeds_the_report_filter(tmp_path):
    page = tmp_path / "report.html"
    deployment = {
        "execution_id": "pd-7", "service": "shop", "image_tag": "v2.0.0", "started_at": "2026-11-27T10:00:00Z",
        "finished_at": "2026-11-27T10:05:00Z", "reason": "",
        "steps": [{"percent": "{{ 5 * 2 }}", "decision": "pass", "action": "proceed",
                   "shifted_at": "2026-11-27T10:01:00Z", "decided_at": "2026-11-27T10:02:00Z",
                   "metrics": [{"name": "error_rate", "kind": "proportion", "verdict": "pass", "live": 0.001,
                                "candidate": 0.002, "p_value": 0.2, "reason": "<fine>"}],
                   "periods": [{"name": "error_rate", "kind": "proportion", "metric_name": "HTTPCode_Target_5XX_Count",
                                "stat": "Sum", "points": [{"time": "2026-11-27T10:01:00Z", "live": 0.001, "candidate": 0.002,
                                                           "live_trials": 900, "candidate_trials": 100}]}]}],
    }
    tasks = [
        {"name": "Validate", "progressive.delivery.audit_event": {"execution_id": "pd-7", "phase": "validate", "decision": "deploy"}},
        {"name": "Green", "progressive.delivery.audit_event": {
            "execution_id": "pd-7", "phase": "green", "decision": "smoke-passed", "task_definition": "shop:3",
            "candidate_service": "shop-b", "smoke": {"requests": 12, "errors": 0, "p95_ms": 9}}},
        {"name": "Other execution", "progressive.delivery.audit_event": {"execution_id": "pd-6", "phase": "rollback",
                                                                          "decision": "rolled-back", "reason": "OTHER-RUN"}},
        {"name": "Trail", "ansible.builtin.debug": {"var": "ansible_facts.deployment_audit_trail"}},
        {"name": "Write the report", "ansible.builtin.copy": {
            "content": "{{ deployment | progressive.delivery.deployment_report_html(ansible_facts.deployment_audit_trail) }}",
            "dest": str(page), "mode": "0644"}},
    ]
    result = run_playbook(localhost_play(tasks, "http://127.0.0.1:1", vars={"deployment": deployment}))
    assert result.rc == 0, result

    trail = result.task("Trail")["ansible_facts.deployment_audit_trail"]
    assert [(r["phase"], r["execution_id"]) for r in trail] == [("validate", "pd-7"), ("green", "pd-7"), ("rollback", "pd-6")]
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", r["time"]) for r in trail), trail
    assert result.task("Validate")["deployment_audit_event"] == {"execution_id": "pd-7", "phase": "validate", "decision": "deploy"}

    html = page.read_text(encoding="utf-8")
    assert "Deployment of shop v2.0.0" in html and "SUCCEEDED" in html
    assert "Step 1: 10 % to the candidate" in html
    assert "smoke: 12 requests, 0 errors, p95 9 ms" in html and "OTHER-RUN" not in html
    assert "&lt;fine&gt;" in html and "<fine>" not in html
    assert html.count("<svg ") == 3  # traffic over time, the error rate and its requests
