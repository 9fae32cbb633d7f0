"""Adoption end to end in the lab (issue 17): the seed's own account - one service `myapp-ecs-service` behind
`myapp-tg-blue`, a plain forward, no test listener (`python -m lab reset --shape single`) - adopted under steady
traffic without a failed request, then a good and a bad blue-green release with the seed's names kept, then folded
back into one service, again without a failed request.
"""
import json
import time

import pytest

from ecs_e2e import INVENTORY, RPS, World, phases
from harness import REPO, run_playbook

pytestmark = pytest.mark.lab

ADOPT = REPO / "playbooks" / "ecs_adopt.yml"
CLUSTER = "prod-ecs-cluster"
SLOT_NAMES = {"a": {"service": "myapp-ecs-service", "target_group": "myapp-tg-blue"},
              "b": {"service": "myapp-ecs-service-b", "target_group": "myapp-tg-green"}}


@pytest.fixture
def single_world(lab, tmp_path):
    """The lab in the seed's shape, steady traffic on the production listener."""
    proc = lab.cli("reset", "--shape", "single", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from lab.traffic import TrafficGenerator
    traffic = TrafficGenerator(url=lab.prod_url, rps=RPS, out=tmp_path / "traffic.jsonl", max_duration=2400)
    traffic.start()
    time.sleep(3)
    yield Adoption(lab, tmp_path, traffic)
    traffic.stop()


class Adoption(World):
    def lab_vars(self):
        # The lab's enforced deployer holds the policy rendered for inventories/lab's slot names (myapp-a / myapp-b);
        # an adopted account renders it for its own names (and grants docs/iam-policy-adopt.json to whoever adopts),
        # so this world signs with the lab's unchecked keys.
        return dict(World.lab_vars(self), aws_access_key="testing", aws_secret_key="testing",
                    ecs_validate_iam_principal="arn:aws:iam::123456789012:user/progressive-deployer",
                    # that deployer's policy names the slot world's resources, not the adopted ones
                    ecs_validate_iam_preflight=False)

    def adopt(self, check=False, diff=False, **extra):
        extra_vars = dict(self.lab_vars(), ecs_validate_slot_names=SLOT_NAMES, ecs_adopt_test_listener_port=9000)
        extra_vars.update(extra)
        return run_playbook(ADOPT, extra_vars=extra_vars, inventory=INVENTORY, check=check, diff=diff, env=self.env(),
                            timeout=300)

    def release(self, tag):
        # The lab inventory's schedule: whatever the judge asks of its steps, the slot world's tests meet it too.
        return self.deploy(tag, ecs_validate_slot_names=SLOT_NAMES)

    def listener(self, port):
        lb = self.elbv2.describe_load_balancers(Names=["myapp-alb"])["LoadBalancers"][0]
        found = [x for x in self.elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"] if x["Port"] == port]
        return found[0] if found else None

    def forward(self, port=80):
        """{target group name: weight} of a listener's forward; a plain forward is {name: None}."""
        action = self.listener(port)["DefaultActions"][0]
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups")
        if groups:
            return {g["TargetGroupArn"].split("/")[-2]: g["Weight"] for g in groups}
        return {action["TargetGroupArn"].split("/")[-2]: None}

    def svc(self, name):
        found = self.ecs.describe_services(cluster=CLUSTER, services=[name], include=["TAGS"])["services"]
        return found[0] if found and found[0]["status"] == "ACTIVE" else None

    def target_group(self, name):
        try:
            return self.elbv2.describe_target_groups(Names=[name])["TargetGroups"][0]
        except self.elbv2.exceptions.TargetGroupNotFoundException:
            return None

    def failures(self, since, until=None):
        from lab.traffic import read_records, summarize
        time.sleep(2)   # the generator writes each second once its requests finished
        report = summarize(read_records(self.traffic.out), since=since, until=until)
        assert report["totals"]["sent"] > 0
        return report["totals"]["failed_5xx"] + report["totals"]["conn_errors"], report


@pytest.mark.timeout(2400)   # about 6 minutes on a quiet machine; 25 at a load of 50 on 2 cores
def test_adopt_the_seeds_service_under_traffic_deploy_on_it_and_fold_back(single_world):
    w = single_world
    live = w.svc("myapp-ecs-service")
    assert w.forward() == {"myapp-tg-blue": None} and w.listener(9000) is None

    # Check mode: the plan, nothing changed.
    planned = w.adopt(check=True, diff=True)
    assert planned.rc == 0, planned
    plan = planned.task("The plan")["msg"]
    assert len(plan) == 5 and "create service myapp-ecs-service-b" in plan[3] and "test listener :9000" in plan[4], plan
    info = planned.task("Read the service, its target group and the listener; plan the adoption")
    assert info["diff"]["after"]["forward"] == {"myapp-tg-blue": 100, "myapp-tg-green": 0}
    assert w.forward() == {"myapp-tg-blue": None} and w.target_group("myapp-tg-green") is None
    assert w.svc("myapp-ecs-service-b") is None

    # Adopt under traffic: slot a untouched, slot b created idle, the forward weighted 100 / 0, a test listener.
    started = time.time()
    adopted = w.adopt()
    assert adopted.rc == 0, adopted
    ended = time.time()
    assert w.forward() == {"myapp-tg-blue": 100, "myapp-tg-green": 0}
    now = w.svc("myapp-ecs-service")
    assert [d["id"] for d in now["deployments"]] == [d["id"] for d in live["deployments"]], "slot a was redeployed"
    assert now["runningCount"] == live["runningCount"] and now["taskDefinition"] == live["taskDefinition"]
    idle = w.svc("myapp-ecs-service-b")
    assert idle["desiredCount"] == 0 and idle["taskDefinition"] == live["taskDefinition"]
    assert [lb["targetGroupArn"].split("/")[-2] for lb in idle["loadBalancers"]] == ["myapp-tg-green"]
    assert idle["networkConfiguration"] == live["networkConfiguration"]
    assert {t["key"]: t["value"] for t in idle["tags"]} == {"app": "myapp", "team": "payments"}
    green, blue = w.target_group("myapp-tg-green"), w.target_group("myapp-tg-blue")
    for key in ("HealthCheckPath", "HealthCheckIntervalSeconds", "HealthyThresholdCount", "Matcher", "Port", "VpcId"):
        assert green[key] == blue[key], key
    assert w.forward(9000) == {"myapp-tg-green": None}
    failed, report = w.failures(started, ended)
    assert failed == 0, report["failures_by_second"]

    again = w.adopt()
    assert again.rc == 0 and again.stats["localhost"]["changed"] == 0, again

    # A good release on the adopted service, with the seed's names kept: slot b live.
    good = w.release("v1.2.3")
    assert good.rc == 0, good
    assert w.forward() == {"myapp-tg-blue": 0, "myapp-tg-green": 100}
    assert w.svc("myapp-ecs-service")["desiredCount"] == 0 and w.svc("myapp-ecs-service-b")["runningCount"] > 0
    assert w.lock() is None

    # A bad release (its tasks fail their health checks: deterministic however loaded the machine) is rolled back and
    # never gets production traffic; slot b stays live.
    shifted = len(phases(w.records(), "shift"))
    bad = w.release("v1.2.4-unhealthy")
    assert bad.rc != 0
    assert len(phases(w.records(), "shift")) == shifted and phases(w.records(), "rollback")
    assert w.forward() == {"myapp-tg-blue": 0, "myapp-tg-green": 100}
    assert w.svc("myapp-ecs-service")["desiredCount"] == 0 and w.lock() is None

    # Fold back into one service: the live slot (b) stays, without a failed request.
    started = time.time()
    folded = w.adopt(ecs_adopt_state="absent")
    assert folded.rc == 0, folded
    ended = time.time()
    assert list(w.forward()) == ["myapp-tg-green"]
    assert w.svc("myapp-ecs-service") is None and w.target_group("myapp-tg-blue") is None
    assert w.listener(9000) is None and w.svc("myapp-ecs-service-b")["runningCount"] > 0
    failed, report = w.failures(started, ended)
    assert failed == 0, report["failures_by_second"]


def test_a_deployment_before_adoption_and_adoptions_that_cannot_be_done_are_refused_changing_nothing(lab, tmp_path):
    proc = lab.cli("reset", "--shape", "single", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    w = Adoption(lab, tmp_path, None)
    # A deployment needs the slots: it points at adoption.
    refused = w.release("v1.2.3")
    assert refused.rc != 0 and "playbooks/ecs_adopt.yml" in json.dumps(refused.failures()), refused.failures()
    w.elbv2.modify_listener(ListenerArn=w.listener(80)["ListenerArn"], DefaultActions=[
        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}])
    cases = [({}, "does not forward (its actions: ['fixed-response']): name the listener rule"),
             ({"ecs_validate_slot_names": dict(SLOT_NAMES, a={"service": "nope", "target_group": "myapp-tg-blue"})},
              "service nope is not an ACTIVE service in cluster prod-ecs-cluster"),
             ({"ecs_validate_slot_names": dict(SLOT_NAMES, b=SLOT_NAMES["a"])}, "slots a and b name the same service")]
    for extra, expect in cases:
        result = w.adopt(**extra)
        assert result.rc != 0 and expect in json.dumps(result.failures()), (expect, result.failures())
    assert w.target_group("myapp-tg-green") is None and w.svc("myapp-ecs-service-b") is None
