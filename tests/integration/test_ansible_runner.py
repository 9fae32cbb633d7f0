"""The ECS and VM playbooks run through ansible-runner's Python API, as AWX's execution nodes run them (issue 7).

What AWX shows and keeps of a job comes from runner: the status and rc, the job events streamed to its
event_handler while the job runs (and stored under artifacts/<ident>/job_events), the stdout. These tests run
the real playbooks that way against the lab, as AWX job 4711 launched by alice (runner_support.run_job), with
the deployment_audit callback enabled through the job's environment, and check all of it.
"""
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from harness import REPO
from runner_support import run_job

# A job of ~80-400 tasks; on a shared CI machine under load one took 13 min (8 min for an ECS one), so more than
# pytest.ini's 900 s per test. runner_support.run_job's own job timeout (1200 s) ends a hung job first.
pytestmark = [pytest.mark.lab, pytest.mark.timeout(1500)]

ECS_PLAYBOOK = REPO / "playbooks" / "ecs_blue_green.yml"
VM_PLAYBOOK = REPO / "playbooks" / "vm_rolling.yml"
LAB_INVENTORY = REPO / "inventories" / "lab"
JOB_ID = "4711"
# Short watches and a short smoke test: this file is about what runner and AWX see, not about the judge or the
# smoke test (test_ecs_blue_green* are); a shared CI machine under load answers slowly now and then.
QUICK = {"ecs_cleanup_hold_seconds": 1, "ecs_green_deploy_smoke_requests": 3, "ecs_green_deploy_smoke_max_p95_ms": 5000}
VALIDATE = "Check the inputs before anything else"
GREEN = "Run the new revision on the candidate slot at the live count"
SHIFT = "Send production traffic to the candidate - "
CLEANUP = "Scale the old slot to zero"
ROLLBACK = "Send all production traffic back to the live slot"
PULL = "Take production traffic off the candidate at once, as the step says roll back"


def ecs_extravars(lab, tag, steps, tmp_path):
    # deployment_report_dir: the job's own directory, not the project checkout it runs in.
    return dict(QUICK, aws_endpoint_url=lab.endpoint, ecs_green_deploy_smoke_base_url=lab.test_url,
                ecs_validate_image_tag=tag, ecs_validate_steps=steps, deployment_report_dir=str(tmp_path / "reports"))


def listener_weights(lab):
    elbv2 = lab.client("elbv2")
    lb = elbv2.describe_load_balancers(Names=["myapp-alb"])["LoadBalancers"][0]["LoadBalancerArn"]
    prod = next(x for x in elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"] if x["Port"] == 80)
    return {g["TargetGroupArn"].split("/")[-2]: g["Weight"] for g in prod["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]}


def created(event):
    return datetime.fromisoformat(event["created"]).timestamp()


def assert_artifacts(job, status, rc):
    """What AWX keeps of a job: the artifacts dir with status, rc, stdout and one file per job event."""
    artifacts = job.artifact_dir
    assert artifacts == Path(job.runner.config.private_data_dir) / "artifacts" / ("job_%s" % JOB_ID)
    assert (artifacts / "status").read_text() == status
    assert (artifacts / "rc").read_text() == str(rc)
    stdout = job.stdout()
    assert "PLAY RECAP" in stdout and "TASK [" in stdout
    stored = job.stored_events()
    assert len(list((artifacts / "job_events").glob("*.json"))) == len(stored) > 0
    # What the handler got live is what was stored, in the same order, numbered without gaps.
    assert [e["uuid"] for e in stored] == [e["uuid"] for e in job.events]
    assert [e["counter"] for e in job.events] == list(range(1, len(job.events) + 1))
    assert job.events[0]["event"] == "playbook_on_start" and job.events[-1]["event"] == "playbook_on_stats"
    assert {e["runner_ident"] for e in job.events} == {"job_%s" % JOB_ID}


def assert_streamed_live(job):
    """runner handed each event to event_handler as it happened (AWX streams them), not in a batch at the end."""
    statuses = [s["status"] for _, s in job.statuses]
    assert statuses[:2] == ["starting", "running"] and statuses[-1] == job.status, statuses
    running_at = [t for t, s in job.statuses if s["status"] == "running"][0]
    assert all(t >= running_at for t, _ in job.streamed)
    received = [t for t, _ in job.streamed]
    assert received == sorted(received)
    # The playbook takes tens of seconds: events arrive over all of it, each within seconds of being emitted.
    assert received[-1] - received[0] > 0.5 * (job.finished - job.started), (received[0], received[-1], job.started, job.finished)
    lag = [t - created(e) for t, e in job.streamed]
    assert max(lag) < 10, max(lag)


def shift_percents(job):
    """The candidate's (slot b's, as the seeded world has a live) share after each weight shift, read from the
    module results in the runner_on_ok events."""
    shares = []
    for res in job.results(SHIFT):
        assert sum(res["weights"].values()) == 100 and res["changed"] is True, res["weights"]
        shares.append(res["weights"]["myapp-b"])
    return shares


def records_of(job, kind, phase=None):
    return [r for r in job.audit() if r["record"] == kind and (phase is None or r.get("phase") == phase)]


@pytest.fixture
def traffic(lab_world, tmp_path):
    """Steady traffic on the production listener, so the candidate's metrics can tell a bad release.

    In its own process: runner forks the playbook under a pty, which a multi-threaded pytest process should not do."""
    generator = subprocess.Popen([sys.executable, "-m", "lab.traffic", "run", "--url", lab_world.prod_url, "--rps", "50",
                                  "--out", str(tmp_path / "traffic.jsonl"), "--duration", "600"],
                                 cwd=str(REPO), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3)   # live has metrics before the candidate starts
    yield generator
    generator.terminate()
    try:
        generator.wait(timeout=10)
    except subprocess.TimeoutExpired:
        generator.kill()
        generator.wait(timeout=10)


# Bad release first: its rollback leaves the seeded world at rest, so the good release's lab_world needs no reset.
def test_5xx_release_fails_the_job_with_rollback_events_and_audit_records(lab_world, traffic, tmp_path):
    job = run_job(tmp_path / "pdd", ECS_PLAYBOOK,
                  ecs_extravars(lab_world, "v1.2.4-errors", [{"percent": 10, "watch_seconds": 40},
                                                             {"percent": 50, "watch_seconds": 0},
                                                             {"percent": 100, "watch_seconds": 0}], tmp_path),
                  [LAB_INVENTORY])

    assert traffic.poll() is None, "the traffic generator stopped before the job ended"
    assert job.status == "failed" and job.rc == 2, job
    assert_artifacts(job, "failed", 2)
    assert_streamed_live(job)
    stats = job.stats
    assert stats["failures"] == {"localhost": 1} and stats["rescued"] == {"localhost": 1} and stats["dark"] == {}
    # The candidate failed at 10 %; the rescue rolled back, then the job failed on purpose.
    assert shift_percents(job) == [10]
    order = [job.first_index(t) for t in (VALIDATE, GREEN, SHIFT + "10", PULL, ROLLBACK, "Scale the candidate down",
                                          "Release the deployment lock", "Record the rollback in the audit trail")]
    assert order == sorted(order), order
    failed = [name for name, host, msg in job.failures()]
    assert failed == ["Stop here when the step says roll back - the rescue rolls back",
                      "Fail the run - the deployment was rolled back"], job.failures()
    # The failed step took the traffic off the candidate itself; the rescue's rollback found it done.
    pulled = job.results(PULL)[0]
    assert sorted(pulled["weights"].values()) == [0, 100] and pulled["changed"] is True
    back = job.results(ROLLBACK)[0]
    assert sorted(back["weights"].values()) == [0, 100] and back["changed"] is False
    assert CLEANUP not in job.task_names()
    assert listener_weights(lab_world) == {"myapp-a": 100, "myapp-b": 0}

    records = job.audit()
    assert records[0]["record"] == "playbook_start" and records[-1]["record"] == "playbook_end"
    assert {r["execution_id"] for r in records} == {JOB_ID} and {r["who"] for r in records} == {"alice"}
    shifts = records_of(job, "step", "shift")
    assert [(r["step"], r["decision"]) for r in shifts] == [(10, "fail")]
    assert [m["name"] for m in shifts[0]["metrics"] if m["verdict"] == "fail"] == ["error_rate"]
    rollback = records_of(job, "step", "rollback")
    assert len(rollback) == 1 and "error_rate" in rollback[0]["reason"], rollback
    assert [r["task"].split(" : ")[-1] for r in records_of(job, "task_failed")] == failed
    assert records[-1]["decision"] == "failed" and records[-1]["stats"]["localhost"]["failures"] == 1


def test_good_release_job_events_artifacts_and_audit_trail(lab_world, tmp_path):
    steps = [{"percent": 10, "watch_seconds": 0}, {"percent": 50, "watch_seconds": 0}, {"percent": 100, "watch_seconds": 0}]
    job = run_job(tmp_path / "pdd", ECS_PLAYBOOK, ecs_extravars(lab_world, "v1.2.3", steps, tmp_path), [LAB_INVENTORY])

    assert job.status == "successful" and job.rc == 0, job
    assert_artifacts(job, "successful", 0)
    assert_streamed_live(job)
    stats = job.stats
    assert stats["failures"] == {} and stats["dark"] == {} and stats["rescued"] == {}
    assert stats["ok"]["localhost"] > 0 and stats["changed"]["localhost"] > 0
    assert job.task_events("runner_on_failed") == [] and job.task_events("runner_on_unreachable") == []

    # The phases, in order: validate, green, each traffic step, cleanup.
    # The cleanup records the hold and releases the lock before it scales the old slot down (once the hold has passed).
    order = [job.first_index(t) for t in (VALIDATE, GREEN, SHIFT + "10", SHIFT + "50", SHIFT + "100",
                                          "Release the deployment lock", CLEANUP, "Deployment summary")]
    assert order == sorted(order), order
    assert shift_percents(job) == [10, 50, 100]
    assert ROLLBACK not in job.task_names()
    assert listener_weights(lab_world) == {"myapp-a": 0, "myapp-b": 100}
    summary = "\n".join(job.results("Deployment summary")[-1]["msg"])
    assert "v1.2.3" in summary and "myapp" in summary

    # The audit trail under runner: AWX's job id as execution id, AWX's user, one record per phase and step.
    records = job.audit()
    assert [r["record"] for r in records][0] == "playbook_start" and records[-1]["record"] == "playbook_end"
    assert {r["execution_id"] for r in records} == {JOB_ID} and {r["awx_job_id"] for r in records} == {JOB_ID}
    assert {r["who"] for r in records} == {"alice"}
    assert {r["playbook"] for r in records} == {"playbooks/ecs_blue_green.yml"}
    assert records[0]["inputs"]["ecs_validate_image_tag"] == "v1.2.3"
    steps_recorded = [(r["phase"], r.get("step")) for r in records if r["record"] == "step"]
    assert [p for p, _ in steps_recorded] == ["validate", "green", "shift", "shift", "shift", "cleanup"], steps_recorded
    shifts = records_of(job, "step", "shift")
    assert [r["step"] for r in shifts] == [10, 50, 100]
    assert all(r["decision"] in ("pass", "inconclusive") for r in shifts), shifts
    assert [r["details"]["weights"]["myapp-b"] for r in shifts] == [10, 50, 100]
    assert records_of(job, "task_failed") == []
    end = records[-1]
    assert end["decision"] == "succeeded" and end["stats"]["localhost"]["failures"] == 0
    assert end["stats"]["localhost"]["ok"] == stats["ok"]["localhost"]
    # Each audit step record matches a runner_on_ok event of the task that made it.
    audited_tasks = [r["task"].split(" : ")[-1] for r in records if r["record"] == "step"]
    ok_tasks = [name for name, _, _ in job.task_events()]
    assert all(t in ok_tasks for t in audited_tasks), (audited_tasks, ok_tasks)


# ------------------------------------------------------------------------------------------------ the VM path

vm_only = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("sshd") and not Path("/usr/sbin/sshd").exists(),
                             reason="VM hosts need root and openssh-server")


@vm_only
def test_vm_rolling_in_batches_of_two_per_host_events_and_stats(lab, tmp_path):
    from test_vm_rolling import HOSTS, NEW, OLD, Fleet
    fleet = Fleet(lab)
    fleet.recreate()
    assert all(fleet.current(n) == OLD for n in fleet.names)

    job = run_job(tmp_path / "pdd", VM_PLAYBOOK, {"aws_endpoint_url": lab.endpoint, "vm_deploy_version": NEW,
                                                  "vm_rolling_serial": 2},
                  [LAB_INVENTORY / "hosts.yml", fleet.inventory])   # not the directory: another lab's vm_hosts.yml

    assert job.status == "successful" and job.rc == 0, job
    assert_artifacts(job, "successful", 0)
    assert_streamed_live(job)
    assert all(fleet.current(n) == NEW and fleet.app_pid(n) for n in fleet.names)
    fleet.wait_all_healthy()

    stats = job.stats
    assert stats["failures"] == {} and stats["dark"] == {}
    assert set(stats["processed"]) == set(fleet.names) | {"localhost"}
    assert all(stats["changed"].get(n, 0) > 0 for n in fleet.names), stats["changed"]

    # serial 2 over 5 hosts: the verify play, a play start per batch (2, 2, 1), the report play.
    plays = [e["event_data"]["play"] for e in job.events if e["event"] == "playbook_on_play_start"]
    assert plays == ["Verify the package on the controller before any host is touched"] + \
        ["Roll out batch by batch"] * 3 + ["Report the rollout"], plays
    # Each host switched once, and every event of a batch's hosts comes before the next batch's.
    switched = [host for name, host, _ in job.task_events() if name.startswith("Switch current to")]
    assert sorted(switched) == sorted(fleet.names) and len(switched) == HOSTS
    batches = [fleet.names[0:2], fleet.names[2:4], fleet.names[4:5]]
    host_events = [(i, e["event_data"]["host"]) for i, e in enumerate(job.events)
                   if e["event"].startswith("runner_on_") and e["event_data"].get("play") == "Roll out batch by batch"]
    for earlier, later in zip(batches, batches[1:]):
        last_of_earlier = max(i for i, h in host_events if h in earlier)
        first_of_later = min(i for i, h in host_events if h in later)
        assert last_of_earlier < first_of_later, (earlier, later)
    for batch in batches:
        remembered = [d["res"]["ansible_facts"]["vm_deploy_batch"] for name, host, d in job.task_events()
                      if name == "Remember this batch" and host in batch]
        assert remembered == [batch] * len(batch), remembered
    # The report play names every host's new version.
    lines = [r["msg"] for r in job.results("Rollout result, host by host", host="localhost")[0]["results"]]
    assert lines == ["%s: deployed %s (was %s)" % (n, NEW, OLD) for n in fleet.names]
    # The audit callback ran under runner too: start and end of the job, no failures.
    records = job.audit()
    assert [r["record"] for r in records][0] == "playbook_start" and records[-1]["record"] == "playbook_end"
    assert records[-1]["decision"] == "succeeded" and {r["execution_id"] for r in records} == {JOB_ID}
