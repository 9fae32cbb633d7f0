"""What the ECS blue-green end-to-end tests share: a freshly seeded lab world under steady traffic (fixture `world`),
and helpers to deploy, read weights, services, lock and audit records. The tests live in test_ecs_blue_green*.py,
split across files so parallel CI workers (each with its own lab) share the deployments out.
"""
import json
import time
from pathlib import Path

import pytest

from harness import REPO, run_playbook

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
    # The playbooks run as the lab deployer (inventories/lab), held to docs' policy (LAB_IAM_ENFORCE, on by default).
    assert lab.iam_enforce() == lab.config.IAM_ENFORCE
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
        self.reports = tmp_path / "reports"   # deployment_report_dir: HTML reports stay out of the checkout
        self.elbv2, self.ecs, self.ssm = lab.client("elbv2"), lab.client("ecs"), lab.client("ssm")

    def env(self):
        return {"ANSIBLE_CALLBACKS_ENABLED": "progressive.delivery.deployment_audit", "DEPLOYMENT_AUDIT_FILE": str(self.audit)}

    def lab_vars(self):
        """Where this lab answers (the inventory holds the default ports; a test lab may use others)."""
        return {"aws_endpoint_url": self.lab.endpoint, "ecs_green_deploy_smoke_base_url": self.lab.test_url}

    def deploy(self, tag, check=False, diff=False, **extra):
        extra_vars = dict(self.lab_vars(), ecs_validate_image_tag=tag, deployment_report_dir=str(self.reports))
        extra_vars.update(extra)
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

    def report(self, result):
        """The HTML deployment report a run wrote: its path (as the play's last message gives it) and its text."""
        message = result.task("Deployment report")["msg"]
        assert message.startswith("Deployment report: "), message
        path = Path(message.split(": ", 1)[1])
        assert path.parent == self.reports and path.name.startswith("myapp-"), path
        return path, path.read_text(encoding="utf-8")

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
