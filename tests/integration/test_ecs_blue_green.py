"""ECS blue-green end to end in the lab (issue 5): the real playbooks against the lab's AWS, tasks and ALB.

Each test starts from the seeded world (live slot a on v1.2.2, listener 100 % to a) and drives
playbooks/ecs_blue_green.yml or ecs_rollback.yml exactly as a user would, under steady traffic.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from harness import AWS_ENV, REPO, VENV_BIN, run_playbook

pytestmark = pytest.mark.lab

INVENTORY = REPO / "inventories" / "lab"
PLAYBOOK = REPO / "playbooks" / "ecs_blue_green.yml"
ROLLBACK = REPO / "playbooks" / "ecs_rollback.yml"
LOCK = "/progressive-delivery/locks/prod-ecs-cluster/myapp"
RPS = 50


@pytest.fixture
def world(lab, tmp_path):
    """A freshly seeded lab world, steady traffic on the production listener, an audit file."""
    proc = lab.cli("reset", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from lab.traffic import TrafficGenerator
    traffic = TrafficGenerator(url=lab.prod_url, rps=RPS, out=tmp_path / "traffic.jsonl", max_duration=900)
    traffic.start()
    time.sleep(3)   # live has metrics before the candidate starts
    yield World(lab, tmp_path, traffic)
    traffic.stop()


class World:
    def __init__(self, lab, tmp_path, traffic):
        self.lab, self.tmp, self.traffic = lab, tmp_path, traffic
        self.audit = tmp_path / "audit.jsonl"
        self.elbv2, self.ecs, self.ssm = lab.client("elbv2"), lab.client("ecs"), lab.client("ssm")

    def env(self):
        return {"ANSIBLE_CALLBACKS_ENABLED": "progressive.delivery.deployment_audit", "DEPLOYMENT_AUDIT_FILE": str(self.audit)}

    def lab_vars(self):
        """Where this lab answers (the inventory holds the default ports; a test lab may use others)."""
        return {"aws_endpoint_url": self.lab.endpoint, "ecs_green_deploy_smoke_base_url": self.lab.test_url}

    def deploy(self, tag, check=False, diff=False, **extra):
        extra_vars = dict(self.lab_vars(), ecs_validate_image_tag=tag, **extra)
        return run_playbook(PLAYBOOK, extra_vars=extra_vars, inventory=INVENTORY, check=check, diff=diff, env=self.env(),
                            timeout=900)

    def weights(self):
        """Production listener's share per slot, as AWS holds it now."""
        lb = self.elbv2.describe_load_balancers(Names=["myapp-alb"])["LoadBalancers"][0]
        listener = [l for l in self.elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"] if l["Port"] == 80][0]
        groups = listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
        total = sum(g["Weight"] for g in groups)
        return {g["TargetGroupArn"].split(":")[-1].split("/")[1].rsplit("-", 1)[1]: round(100.0 * g["Weight"] / total) for g in groups}

    def service(self, slot):
        return self.ecs.describe_services(cluster="prod-ecs-cluster", services=["myapp-%s" % slot])["services"][0]

    def image_of(self, slot):
        td = self.ecs.describe_task_definition(taskDefinition=self.service(slot)["taskDefinition"])["taskDefinition"]
        return td["containerDefinitions"][0]["image"], td

    def digest_of_tag(self, tag):
        images = self.lab.client("ecr").describe_images(repositoryName="myapp", imageIds=[{"imageTag": tag}])["imageDetails"]
        return images[0]["imageDigest"]

    def lock(self):
        try:
            return json.loads(self.ssm.get_parameter(Name=LOCK)["Parameter"]["Value"])
        except self.ssm.exceptions.ParameterNotFound:
            return None

    def snapshot(self):
        """What a refused run must leave untouched."""
        revisions = self.ecs.list_task_definitions(familyPrefix="myapp")["taskDefinitionArns"]
        return {"weights": self.weights(), "revisions": revisions, "lock": self.lock(),
                "desired": {s: self.service(s)["desiredCount"] for s in "ab"},
                "taskdefs": {s: self.service(s)["taskDefinition"] for s in "ab"}}

    def records(self):
        if not self.audit.exists():
            return []
        return [json.loads(line) for line in self.audit.read_text().splitlines() if line.strip()]

    def traffic_report(self, since):
        from lab.traffic import read_records, summarize
        time.sleep(2)   # the generator writes each second once its requests finished
        return summarize(read_records(self.traffic.out), since=since)


def phases(records, phase):
    return [r for r in records if r.get("phase") == phase]


def test_good_release_shifts_10_50_100_scales_old_down_and_a_rerun_changes_nothing(world):
    started = time.time()
    result = world.deploy("v1.2.3")
    assert result.rc == 0, result
    assert world.weights() == {"a": 0, "b": 100}
    image, taskdef = world.image_of("b")
    assert image.endswith("@" + world.digest_of_tag("v1.2.3"))
    assert taskdef["revision"] >= 2
    assert {e["name"]: e["value"] for e in taskdef["containerDefinitions"][0]["environment"]}["VERSION"] == "v1.2.3"
    assert world.service("a")["desiredCount"] == 0
    assert world.service("b")["desiredCount"] == world.service("b")["runningCount"] > 0
    assert world.lock() is None

    shifts = phases(world.records(), "shift")
    assert [r["step"] for r in shifts] == [10, 50, 100]
    assert all(r["decision"] in ("pass", "inconclusive") for r in shifts), shifts
    summary = "\n".join(result.task("Deployment summary")["msg"])
    assert "v1.2.3" in summary and "myapp" in summary and taskdef["family"] in summary

    report = world.traffic_report(since=started)
    assert report["totals"]["sent"] > 0 and report["by_version"].get("v1.2.3", 0) > 0
    assert report["failures"] == 0, report["failures_by_second"]

    again = world.deploy("v1.2.3")
    assert again.rc == 0, again
    assert again.stats["localhost"]["changed"] == 0
    assert world.weights() == {"a": 0, "b": 100}


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
    rollback = phases(records, "rollback")[-1]
    failing = [m for m in rollback["metrics"] if m["verdict"] == "fail"]
    assert failing and failing[0]["name"] == "error_rate"
    assert failing[0]["candidate"] > failing[0]["live"]

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


@pytest.mark.parametrize("tag,extra,expect", [
    ("v1.2.4-vulnerable", {}, "CRITICAL"),
    ("latest", {}, "must match"),
    ("v9.9.9", {}, "v9.9.9"),
    ("v1.2.3", {"ecs_validate_iam_principal": "arn:aws:iam::123456789012:user/deployer-readonly"}, "ecs:UpdateService"),
])
def test_refused_in_validation_with_nothing_changed(world, tag, extra, expect):
    before = world.snapshot()
    result = world.deploy(tag, **extra)
    assert result.rc != 0
    assert expect in json.dumps(result.failures()), result.failures()
    assert world.snapshot() == before


def _start_in_background(world, tag):
    cmd = [str(VENV_BIN / "ansible-playbook"), str(PLAYBOOK), "-i", str(INVENTORY), "-e", "ecs_validate_image_tag=%s" % tag,
           "-e", json.dumps(world.lab_vars())]
    env = dict(os.environ, **AWS_ENV, **world.env())
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    return subprocess.Popen(cmd, cwd=str(REPO), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _kill_at(world, proc, percent, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, "the deployment ended before reaching %d %%" % percent
        if world.weights().get("b") == percent:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            return
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("the deployment never reached %d %%" % percent)


def test_killed_at_50_resumes_and_a_different_tag_is_refused_meanwhile(world):
    _kill_at(world, _start_in_background(world, "v1.2.3"), 50)
    held = world.lock()
    assert held and held["digest"] == world.digest_of_tag("v1.2.3")

    other = world.deploy("v1.2.4-slow")
    assert other.rc != 0
    msg = json.dumps(other.failures())
    assert "execution %s" % held["execution_id"] in msg and "held " in msg
    assert world.weights() == {"a": 50, "b": 50}

    resumed = world.deploy("v1.2.3")
    assert resumed.rc == 0, resumed
    steps = [r["step"] for r in phases(world.records(), "shift") if r.get("execution_id") != held["execution_id"]]
    assert steps == [50, 100], steps
    assert world.weights() == {"a": 0, "b": 100}


def test_killed_at_50_then_ecs_rollback_restores_100_live(world):
    _kill_at(world, _start_in_background(world, "v1.2.3"), 50)
    result = run_playbook(ROLLBACK, inventory=INVENTORY, env=world.env(), extra_vars=world.lab_vars())
    assert result.rc == 0, result
    assert world.weights() == {"a": 100, "b": 0}
    assert world.service("b")["desiredCount"] == 0
    assert world.lock() is None


def test_check_diff_shows_the_plan_and_changes_nothing(world):
    before = world.snapshot()
    result = world.deploy("v1.2.3", check=True, diff=True)
    assert result.rc == 0, result
    clone = result.task("Clone the live task definition with the new image by digest")
    assert clone["changed"] is True and clone["diff"]
    assert world.digest_of_tag("v1.2.3") in json.dumps(clone["diff"])
    assert world.snapshot() == before
