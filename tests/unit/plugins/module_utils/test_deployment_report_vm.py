"""The deployment report of a VM rolling deployment: batches of hosts instead of traffic steps (ECS pages unchanged,
see test_deployment_report.py)."""
from ansible_collections.progressive.delivery.plugins.module_utils import deployment_report as report

from report_sample import deployment
from test_deployment_report import Page


def vm_rollout(reason=""):
    batch1 = {"batch": 1, "decision": "pass", "failed_percent": 0.0, "started_at": "2026-12-02T09:00:05Z",
              "finished_at": "2026-12-02T09:00:35Z", "seconds": 30, "reason": "",
              "hosts": [{"host": "vm1", "target": "10.0.0.11:8080", "status": "deployed", "before": "v1.2.2",
                         "version": "v1.2.3", "health": "healthy", "switch_seconds": 4, "reason": ""},
                        {"host": "vm2", "target": "10.0.0.12:8080", "status": "deployed", "before": "v1.2.2",
                         "version": "v1.2.3", "health": "healthy", "switch_seconds": 5, "reason": ""}]}
    batch2 = {"batch": 2, "decision": "fail" if reason else "pass", "failed_percent": 100.0 if reason else 0.0,
              "started_at": "2026-12-02T09:00:36Z", "finished_at": "2026-12-02T09:01:10Z", "seconds": 34,
              "reason": reason,
              "hosts": [{"host": "vm3", "target": "10.0.0.13:8080", "status": "failed" if reason else "deployed",
                         "before": "v1.2.2", "version": "v1.2.2" if reason else "v1.2.3",
                         "health": "failed" if reason else "healthy", "switch_seconds": None, "reason": reason}]}
    record = {"execution_id": "job-42", "pipeline": "", "service": "myapp", "environment": "lab",
              "image_tag": "v1.2.3", "digest": "ab" * 32, "hosts": "vm1, vm2, vm3", "strategy": "rolling, batches of 2",
              "started_at": "2026-12-02T09:00:00Z", "finished_at": "2026-12-02T09:01:12Z", "duration_seconds": 72,
              "steps": [batch1, batch2], "reason": reason}
    trail = [{"execution_id": "job-42", "phase": "validate", "decision": "deploy", "time": "2026-12-02T09:00:01Z"},
             dict(batch1, phase="batch", execution_id="job-42", time="2026-12-02T09:00:35Z"),
             dict(batch2, phase="batch", execution_id="job-42", time="2026-12-02T09:01:10Z"),
             {"execution_id": "job-42", "phase": "rollback" if reason else "finish",
              "decision": "rolled-back" if reason else "deployed", "reason": reason, "time": "2026-12-02T09:01:11Z"}]
    return record, trail


def test_a_vm_rollout_shows_its_batches_host_by_host():
    record, trail = vm_rollout()
    assert report.is_batches(record)
    page = Page(report.render(record, trail, generated_at="2026-12-02T09:02:00Z"))
    assert page.errors == [] and page.stack == []
    words = page.all_text
    assert "SUCCEEDED" in words and "Batches: host by host" in words and "Traffic steps" not in words
    assert "Hosts vm1, vm2, vm3" in words and "Strategy rolling, batches of 2" in words
    assert "Package sha256 " + "ab" * 32 in words
    assert "Batch 1: pass" in words and "Batch 2: pass" in words
    assert "vm1 10.0.0.11:8080 deployed v1.2.2 v1.2.3 healthy 4s" in words
    assert "Batch 1 pass vm1 deployed, vm2 deployed" in words             # the timeline's batch record
    assert "Finished the rollout deployed" in words
    assert ("section", "class", "batch") in page.attrs and ("section", "class", "step") not in page.attrs
    assert "Slots" not in words and "Task definition" not in words
    assert "<svg" not in report.render(record, trail)                      # no traffic chart: no weights moved


def test_a_rolled_back_vm_rollout_says_why():
    reason = "vm3: v1.2.4 failed at 'Switch current to v1.2.4': HTTP 503"
    record, trail = vm_rollout(reason)
    words = Page(report.render(record, trail)).all_text
    assert "ROLLED BACK" in words and "Why it was rolled back " + reason in words
    assert "Batch 2: fail" in words and "vm3 10.0.0.13:8080 failed v1.2.2 v1.2.2 failed -" in words
    assert "Rolled back rolled-back" in words


def test_markup_in_a_host_record_is_escaped():
    record, trail = vm_rollout()
    record["steps"][0]["hosts"][0]["host"] = "<script>x</script>"
    text = report.render(record, trail)
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_ecs_steps_are_not_batches():
    record, dummy = deployment()
    assert not report.is_batches(record)
    assert not report.is_batches({"steps": []})
