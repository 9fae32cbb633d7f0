"""ECS blue-green in the lab (issue 17): validation of the live state as the seed describes it (a live service that is
not steady, a Fargate vCPU quota too small), a run as an assumed role, and the hold that does not block the job -
ecs_cleanup.yml before and after the hold, a run killed during the hold finished by its rerun.
"""
import calendar
import json
import os
import signal
import subprocess
import time
import urllib.request

import pytest

from ecs_e2e import INVENTORY, LOCK, PLAYBOOK
from harness import AWS_ENV, REPO, VENV_BIN, localhost_play, run_playbook

pytestmark = pytest.mark.lab

CLEANUP = REPO / "playbooks" / "ecs_cleanup.yml"
ROLE = "arn:aws:iam::123456789012:role/myapp-deployer"
HOLD_UNTIL = "progressive-delivery:hold-until"
NOTHING = "Nothing to do - the live slot already runs this image"


def tags(world, slot):
    arn = world.service(slot)["serviceArn"]
    return {t["key"]: t["value"] for t in world.ecs.list_tags_for_resource(resourceArn=arn)["tags"]}


def requests_since(world, since):
    path = world.lab.state_dir / "api-requests.jsonl"
    out = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["t"] >= since and "ansible" in record.get("ua", "").lower():
            out.append(record)
    return out


def cleanup(world, check=False, **extra):
    return run_playbook(CLEANUP, inventory=INVENTORY, check=check, diff=check, env=world.env(),
                        extra_vars=dict(world.lab_vars(), **extra))


def test_refuses_a_live_service_that_is_not_steady_with_its_events(world):
    """The live service is mid-rollout to a release whose tasks fail their health checks."""
    td = world.ecs.describe_task_definition(taskDefinition="myapp:1")["taskDefinition"]
    repo = world.lab.client("ecr").describe_repositories(repositoryNames=["myapp"])["repositories"][0]["repositoryUri"]
    keep = ("family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions", "requiresCompatibilities",
            "cpu", "memory")
    spec = {k: td[k] for k in keep if k in td}
    spec["containerDefinitions"][0]["image"] = repo + ":v1.2.4-unhealthy"
    broken = world.ecs.register_task_definition(**spec)["taskDefinition"]
    world.ecs.update_service(cluster="prod-ecs-cluster", service="myapp-a",
                             taskDefinition="myapp:%d" % broken["revision"])
    time.sleep(2)
    before = world.snapshot()
    result = world.deploy("v1.2.3")
    assert result.rc != 0
    msg = json.dumps(result.failures())
    assert "live service myapp-a is not steady" in msg and "Recent events" in msg, msg
    assert "rollout is IN_PROGRESS" in msg or "rollout is FAILED" in msg or "older deployment" in msg, msg
    assert "(service myapp-a)" in msg, msg   # one of the service's own events
    after = world.snapshot()
    assert after["lock"] is None and after["weights"] == before["weights"] and after["revisions"] == before["revisions"]
    assert after["desired"]["b"] == 0


def test_refuses_a_fargate_vcpu_shortfall(world):
    """4 live tasks of 0.25 vCPU are in use; the candidate's 4 need 1 more: a quota of 1.5 vCPUs is too small."""
    request = urllib.request.Request(world.lab.endpoint + "/lab-api/service-quota", method="POST",
                                     data=json.dumps({"ServiceCode": "fargate", "QuotaCode": "L-3032A538", "Value": 1.5}).encode())
    assert json.loads(urllib.request.urlopen(request, timeout=10).read())["Quota"]["Value"] == 1.5
    before = world.snapshot()
    result = world.deploy("v1.2.3", check=True)   # refused in check mode as in a real run
    assert result.rc != 0
    msg = json.dumps(result.failures())
    assert "Fargate On-Demand vCPU quota 1.5, 1 in use" in msg and "0.5 above the quota" in msg, msg
    assert world.snapshot() == before


def test_an_unassumable_role_is_refused_before_anything_changes(world):
    """(A run as an assumable role is test_hold_ends_the_job_warm_then_ecs_cleanup_scales_down_once_passed.)"""
    before = world.snapshot()
    refused = world.deploy("v1.2.3", aws_assume_role_arn="arn:aws:iam::123456789012:role/not-there")
    assert refused.rc != 0
    msg = json.dumps(refused.failures())
    assert "cannot assume aws_assume_role_arn arn:aws:iam::123456789012:role/not-there" in msg and "AccessDenied" in msg, msg
    assert world.snapshot() == before


def test_hold_ends_the_job_warm_then_ecs_cleanup_scales_down_once_passed(world):
    # Two spare revisions beside myapp:1 (live) so that keeping the newest 2 has something to deregister.
    td = world.ecs.describe_task_definition(taskDefinition="myapp:1")["taskDefinition"]
    keep = ("family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions", "requiresCompatibilities",
            "cpu", "memory")
    for _ in range(2):
        world.ecs.register_task_definition(**{k: td[k] for k in keep if k in td})
    # Another team's service in the same cluster, which the deployer's policy does not let it describe: the cleanup
    # and the pruning must look at the application's slots only (as in a shared production cluster).
    other = world.ecs.register_task_definition(**dict({k: td[k] for k in keep if k in td}, family="payments-api"))
    world.ecs.create_service(cluster="prod-ecs-cluster", serviceName="payments-api", desiredCount=0,
                             taskDefinition=other["taskDefinition"]["taskDefinitionArn"])
    started = time.time()
    # As an assumed role, renewed before every phase (a refresh margin as long as the session); the IAM preflight
    # simulates the caller, that is the role.
    result = world.deploy("v1.2.3", ecs_cleanup_hold_blocking=False, ecs_cleanup_hold_seconds=900,
                          aws_assume_role_arn=ROLE, aws_assume_role_session_name="e2e-hold", aws_assume_role_duration=900,
                          aws_assume_role_refresh_seconds=899, ecs_validate_iam_principal="")
    assert result.rc == 0, result
    working = [r["msg"] for n, h, r in result.tasks() if n.endswith("Working as the assumed role") and r.get("msg")]
    assert len(working) >= 3 and all("assumed-role/myapp-deployer/e2e-hold" in w for w in working), working
    calls = requests_since(world, started)
    assumed = [c for c in calls if c.get("action") == "AssumeRole"]
    assert len(assumed) == len(working) and all(not c["key"].startswith("ASIA") for c in assumed)   # with the given keys
    later = [c for c in calls if c["t"] > assumed[0]["t"] and c.get("action") != "AssumeRole"]
    assert later and all(c["key"].startswith("ASIA") for c in later), sorted(set((c.get("action"), c.get("key")) for c in later))
    actions = set(c.get("action") for c in later)
    assert {"SimulatePrincipalPolicy", "UpdateService", "ModifyListener", "PutParameter", "TagResource"} <= actions, actions
    shown = result.task("Refuse a push from another account, a tag moved since its push, slots not ready, a deployment in flight, a live service not steady or no room")["msg"]
    assert "live service myapp-a is steady (4/4 running, 4 healthy targets)" in shown, shown
    assert "Fargate On-Demand vCPU quota 6, 1 in use" in shown, shown
    assert world.weights() == {"a": 0, "b": 100} and world.lock() is None
    assert world.service("a")["desiredCount"] == 4, "the old slot stays warm during the hold"
    until = tags(world, "a")[HOLD_UNTIL]
    assert abs(calendar.timegm(time.strptime(until, "%Y-%m-%dT%H:%M:%SZ")) - (time.time() + 900)) < 300

    early = cleanup(world, ecs_cleanup_keep_revisions=2)
    assert early.rc == 0, early
    assert early.stats["localhost"]["changed"] == 0
    assert "myapp-a: holding" in early.task("What was done")["msg"]
    assert world.service("a")["desiredCount"] == 4

    # The hold passes: its end as recorded moves to the past (what ecs_cleanup.yml reads), instead of a 15-minute wait.
    past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    world.ecs.tag_resource(resourceArn=world.service("a")["serviceArn"], tags=[{"key": HOLD_UNTIL, "value": past}])
    check = cleanup(world, check=True, ecs_cleanup_keep_revisions=2)
    assert check.rc == 0 and world.service("a")["desiredCount"] == 4
    done = cleanup(world, ecs_cleanup_keep_revisions=2)
    assert done.rc == 0, done
    assert "myapp-a: expired" in done.task("What was done")["msg"]
    assert world.service("a")["desiredCount"] == 0 and HOLD_UNTIL not in tags(world, "a")
    assert world.weights() == {"a": 0, "b": 100} and world.service("b")["desiredCount"] == 4
    # Newest 2 of myapp:1-4 kept (3, 4) and myapp:1, which slot a's service still names; myapp:2 deregistered.
    active = world.ecs.list_task_definitions(familyPrefix="myapp", status="ACTIVE")["taskDefinitionArns"]
    assert sorted(int(a.rsplit(":", 1)[1]) for a in active) == [1, 3, 4]

    again = cleanup(world, ecs_cleanup_keep_revisions=2)
    assert again.rc == 0 and again.stats["localhost"]["changed"] == 0
    assert again.task("What was done")["msg"].startswith("Nothing to do")


def _start_in_background(world, tag, extra):
    cmd = [str(VENV_BIN / "ansible-playbook"), str(PLAYBOOK), "-i", str(INVENTORY), "-e", "ecs_validate_image_tag=%s" % tag,
           "-e", json.dumps(dict(world.lab_vars(), **extra))]
    env = dict(os.environ, **AWS_ENV, **world.env())
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    log = open(world.lab.state_dir / "background-deploy.log", "wb")
    try:
        return subprocess.Popen(cmd, cwd=str(REPO), env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        log.close()


def _log_tail(world, lines=60):
    path = world.lab.state_dir / "background-deploy.log"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


def test_killed_during_the_hold_its_rerun_scales_the_old_slot_down_and_releases_the_lock(world):
    hold = {"ecs_cleanup_hold_blocking": True, "ecs_cleanup_hold_seconds": 30}
    proc = _start_in_background(world, "v1.2.3", hold)
    deadline = time.time() + 900
    try:
        while time.time() < deadline:
            assert proc.poll() is None, "the deployment ended (rc %s) before its hold:\n%s" % (proc.returncode,
                                                                                              _log_tail(world))
            if world.weights().get("b") == 100 and HOLD_UNTIL in tags(world, "a"):
                break
            time.sleep(0.5)
        else:
            pytest.fail("the deployment never reached its hold")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert world.lock() is not None and world.service("a")["desiredCount"] == 4

    rerun = world.deploy("v1.2.3", **hold)
    assert rerun.rc == 0, rerun
    assert rerun.task(NOTHING).get("skipped"), "a rerun with its cleanup left to do says Nothing to do"
    assert world.service("a")["desiredCount"] == 0 and world.lock() is None
    assert world.weights() == {"a": 0, "b": 100}

    last = world.deploy("v1.2.3", **hold)
    assert last.rc == 0 and last.stats["localhost"]["changed"] == 0
    assert "nothing changed" in last.task(NOTHING)["msg"]


def test_a_blocking_hold_keeps_its_runs_lock_from_going_stale_while_it_waits(world):
    """ecs_hold waiting for a hold (ecs_cleanup_hold_blocking) renews the deployment lock of the execution that holds
    it to outlast the wait: a lock gone stale mid-hold may be broken by another run, which could deploy into the held
    slot. Another execution's lock is left as it is."""
    lb = world.elbv2.describe_load_balancers(Names=["myapp-alb"])["LoadBalancers"][0]
    listener = next(x for x in world.elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
                    if x["Port"] == 80)["ListenerArn"]
    target_group = world.elbv2.describe_target_groups(Names=["myapp-b"])["TargetGroups"][0]["TargetGroupArn"]

    def hold_with_lock(holder, waiter):
        if world.lock():
            world.ssm.delete_parameter(Name=LOCK)
        held = [k for k in tags(world, "b") if k.startswith("progressive-delivery:hold-")]
        if held:                                          # a hold recorded before would be kept, and not waited for
            world.ecs.untag_resource(resourceArn=world.service("b")["serviceArn"], tagKeys=held)
        return run_playbook(localhost_play([
            {"name": "Take the lock for one minute", "progressive.delivery.deploy_lock": {
                "name": LOCK, "execution_id": holder, "digest": "sha256:" + "0" * 64, "owner": "hold-test",
                "ttl_seconds": 60}},
            {"name": "Hold 3 s and wait for it", "progressive.delivery.ecs_hold": {
                "cluster": "prod-ecs-cluster", "services": ["myapp-b"], "state": "present", "hold_seconds": 3,
                "wait": True, "scale_down": False, "execution_id": waiter, "listener_arn": listener,
                "target_group_arn": target_group, "lock_name": LOCK}}], world.lab.endpoint))

    started = time.time()
    result = hold_with_lock("hold-run-1", "hold-run-1")
    assert result.rc == 0, result
    lock = world.lock()
    assert lock["expires_at"] >= lock["acquired_at"] + 3 + 300, lock      # taken for 60 s: renewed for the wait
    assert time.time() - started >= 3                                      # it did wait

    result = hold_with_lock("another-run", "hold-run-1")
    assert result.rc == 0, result
    lock = world.lock()
    assert lock["execution_id"] == "another-run" and lock["expires_at"] <= lock["acquired_at"] + 60, lock

