"""ECS in the lab: services run real task processes, deployments roll and complete or fail (real boto3 / AWS CLI)."""
import json
import time
import urllib.request
import uuid

import pytest

from test_lab_api_gaps import aws_cli

pytestmark = pytest.mark.lab

CLUSTER = "prod-ecs-cluster"


def wait_for(predicate, timeout, interval=0.5, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, dict(resp.headers), json.loads(resp.read().decode() or "null")


def task_ip(task):
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    return details["privateIPv4Address"]


def describe(ecs, name):
    return ecs.describe_services(cluster=CLUSTER, services=[name])["services"][0]


def test_seeded_live_service_runs_real_tasks_with_ips(lab_world):
    lab = lab_world
    ecs, elbv2 = lab.client("ecs"), lab.client("elbv2")
    service = aws_cli(lab, "ecs", "describe-services", "--cluster", CLUSTER, "--services", "myapp-a")["services"][0]
    assert service["desiredCount"] >= 1
    assert service["runningCount"] == service["desiredCount"] and service["pendingCount"] == 0
    assert service["deployments"][0]["status"] == "PRIMARY"
    assert service["deploymentConfiguration"]["deploymentCircuitBreaker"]["enable"] is True
    arns = ecs.list_tasks(cluster=CLUSTER, serviceName="myapp-a")["taskArns"]
    assert len(arns) == service["desiredCount"]
    assert ecs.list_tasks(cluster=CLUSTER, serviceName="myapp-b")["taskArns"] == []
    tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]
    ips = set()
    for task in tasks:
        assert task["lastStatus"] == "RUNNING" and task["desiredStatus"] == "RUNNING"
        assert task["taskDefinitionArn"] == service["taskDefinition"]
        assert task["group"] == "service:myapp-a"
        ip = task_ip(task)
        assert ip.startswith(lab.config.TASK_IP_PREFIX)
        assert task["containers"][0]["networkInterfaces"][0]["privateIpv4Address"] == ip
        status, headers, body = get_json("http://%s:%d/api/v1/status" % (ip, lab.config.CONTAINER_PORT))
        assert status == 200 and headers["X-App-Version"] == "v1.2.2"
        ips.add(ip)
    assert len(ips) == len(tasks)
    tg = elbv2.describe_target_groups(Names=["myapp-a"])["TargetGroups"][0]["TargetGroupArn"]
    health = elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    assert {h["Target"]["Id"] for h in health} == ips
    assert {h["TargetHealth"]["State"] for h in health} == {"healthy"}


def test_production_listener_answers_from_the_live_tag(lab_world):
    lab = lab_world
    if not lab.status().get("alb"):
        pytest.skip("the ALB data plane is not running in this lab")
    status, headers, _ = get_json(lab.prod_url + "/api/v1/status")
    assert status == 200 and headers["X-App-Version"] == "v1.2.2"


def test_task_secrets_reach_the_process_but_not_the_api(lab_world):
    lab = lab_world
    ecs, sm = lab.client("ecs"), lab.client("secretsmanager")
    secret = sm.get_secret_value(SecretId="DB_PASSWORD")["SecretString"]
    arn = ecs.list_tasks(cluster=CLUSTER, serviceName="myapp-a")["taskArns"][0]
    task = ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]
    assert secret not in json.dumps(task, default=str)
    status = lab.status()
    pid = next(t["pid"] for t in status["services"]["myapp-a"]["tasks"] if arn.endswith(t["id"]))
    environ = open("/proc/%d/environ" % pid, "rb").read().split(b"\0")
    assert ("DB_PASSWORD=%s" % secret).encode() in environ
    assert b"LAB_IMAGE_TAG=v1.2.2" in environ and ("LAB_TASK_ARN=%s" % arn).encode() in environ
    log = (lab.state_dir / "daemon.log").read_text()
    assert secret not in log


class Slot:
    """A throwaway service + target group in the lab's cluster, so tests leave the seeded world alone."""

    def __init__(self, lab, desired=2, rollback=False):
        self.lab = lab
        self.ecs, self.elbv2 = lab.client("ecs"), lab.client("elbv2")
        self.name = "lt-%s" % uuid.uuid4().hex[:8]
        live = describe(self.ecs, "myapp-a")
        self.base_td = self.ecs.describe_task_definition(taskDefinition=live["taskDefinition"])["taskDefinition"]
        seeded_tg = self.elbv2.describe_target_groups(Names=["myapp-a"])["TargetGroups"][0]
        self.tg = self.elbv2.create_target_group(
            Name=self.name, Protocol="HTTP", Port=8080, VpcId=seeded_tg["VpcId"], TargetType="ip",
            HealthCheckPath="/health", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2,
            HealthyThresholdCount=2, UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
        self.elbv2.modify_target_group_attributes(TargetGroupArn=self.tg, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "2"}])
        self.td1 = self.register("v1.2.2")
        self.ecs.create_service(
            cluster=CLUSTER, serviceName=self.name, taskDefinition=self.td1, desiredCount=desired,
            launchType="FARGATE", networkConfiguration=live["networkConfiguration"],
            loadBalancers=[{"targetGroupArn": self.tg, "containerName": "myapp", "containerPort": 8080}],
            deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100,
                                     "deploymentCircuitBreaker": {"enable": True, "rollback": rollback}})

    def register(self, tag, secrets=None):
        container = dict(self.base_td["containerDefinitions"][0])
        container["image"] = container["image"].rsplit(":", 1)[0] + ":" + tag
        container["environment"] = [e for e in container.get("environment", []) if e["name"] != "VERSION"] + [
            {"name": "VERSION", "value": tag}]
        if secrets is not None:
            container["secrets"] = secrets
        keep = {k: self.base_td[k] for k in ("networkMode", "requiresCompatibilities", "cpu", "memory",
                                             "taskRoleArn", "executionRoleArn")}
        return self.ecs.register_task_definition(family=self.name, containerDefinitions=[container],
                                                 **keep)["taskDefinition"]["taskDefinitionArn"]

    def service(self):
        return describe(self.ecs, self.name)

    def wait_rollout(self, state, timeout=90):
        return wait_for(lambda: (lambda s: s if s["deployments"][0]["rolloutState"] == state else None)(
            self.service()), timeout, what="rollout %s of %s" % (state, self.name))

    def tasks(self, desired_status="RUNNING"):
        arns = self.ecs.list_tasks(cluster=CLUSTER, serviceName=self.name, desiredStatus=desired_status)["taskArns"]
        return self.ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"] if arns else []

    def delete(self):
        try:
            self.ecs.update_service(cluster=CLUSTER, service=self.name, desiredCount=0)
            self.ecs.delete_service(cluster=CLUSTER, service=self.name, force=True)
            wait_for(lambda: not self.tasks(), 30, what="tasks of %s gone" % self.name)
            self.elbv2.delete_target_group(TargetGroupArn=self.tg)
        except Exception:
            pass


@pytest.fixture
def slot(lab_world):
    s = Slot(lab_world)
    yield s
    s.delete()


def test_new_task_definition_rolls_out_primary_beside_active_then_completes(slot):
    first = slot.wait_rollout("COMPLETED", timeout=60)
    assert first["runningCount"] == 2 and len(first["deployments"]) == 1
    old_ips = {task_ip(t) for t in slot.tasks()}
    td2 = slot.register("v1.2.3")
    updated = slot.ecs.update_service(cluster=CLUSTER, service=slot.name, taskDefinition=td2)["service"]
    assert updated["taskDefinition"] == td2
    assert [(d["status"], d["taskDefinition"]) for d in updated["deployments"]] == [
        ("PRIMARY", td2), ("ACTIVE", slot.td1)]
    assert updated["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    # minimumHealthyPercent 100: the old tasks keep serving until new ones are healthy
    healthy_floor = []
    deadline = time.time() + 90
    while time.time() < deadline:
        svc = slot.service()
        health = slot.elbv2.describe_target_health(TargetGroupArn=slot.tg)["TargetHealthDescriptions"]
        healthy_floor.append(sum(h["TargetHealth"]["State"] == "healthy" for h in health))
        if svc["deployments"][0]["rolloutState"] == "COMPLETED":
            break
        time.sleep(0.5)
    assert svc["deployments"][0]["rolloutState"] == "COMPLETED", svc["deployments"]
    assert min(healthy_floor) >= 2, healthy_floor
    assert len(svc["deployments"]) == 1 and svc["runningCount"] == 2
    tasks = slot.tasks()
    assert {t["taskDefinitionArn"] for t in tasks} == {td2}
    for t in tasks:
        assert get_json("http://%s:8080/api/v1/status" % task_ip(t))[1]["X-App-Version"] == "v1.2.3"
    stopped = slot.tasks("STOPPED")
    assert {task_ip(t) for t in stopped} == old_ips
    assert {t["stoppedReason"] for t in stopped} == {
        "Scaling activity initiated by (deployment %s)" % svc["deployments"][0]["id"]}
    messages = [e["message"] for e in svc["events"]]
    assert any(m == "(service %s) has reached a steady state." % slot.name for m in messages)
    assert any(m.startswith("(service %s) registered 2 targets in (target-group %s)" % (slot.name, slot.tg))
               or m.startswith("(service %s) registered 1 targets in (target-group %s)" % (slot.name, slot.tg))
               for m in messages)
    assert any(m.startswith("(service %s) has stopped" % slot.name) for m in messages)
    assert any("deployment completed" in m for m in messages)


def test_failing_health_check_fails_the_rollout_with_events_and_stopped_reasons(slot):
    slot.wait_rollout("COMPLETED", timeout=60)
    td_bad = slot.register("v1.2.4-unhealthy")
    slot.ecs.update_service(cluster=CLUSTER, service=slot.name, taskDefinition=td_bad)
    svc = slot.wait_rollout("FAILED", timeout=120)
    primary, active = svc["deployments"][0], svc["deployments"][1]
    assert primary["taskDefinition"] == td_bad and primary["failedTasks"] >= 3
    assert primary["rolloutStateReason"].startswith("ECS deployment circuit breaker")
    # the old deployment keeps serving
    assert active["status"] == "ACTIVE" and active["taskDefinition"] == slot.td1 and active["runningCount"] == 2
    failed = [t for t in slot.tasks("STOPPED") if t["taskDefinitionArn"] == td_bad]
    assert failed
    assert "Task failed ELB health checks in (target-group %s)" % slot.tg in {t["stoppedReason"] for t in failed}
    messages = [e["message"] for e in svc["events"]]
    assert any("is unhealthy in (target-group %s)" % slot.tg in m and "[503]" in m for m in messages)
    assert any(m.endswith("deployment failed: tasks failed to start.") for m in messages)


def test_ecs_utilization_metrics_are_published_per_service(lab_world):
    lab = lab_world
    cw = lab.client("cloudwatch")
    period = lab.config.METRIC_PERIOD

    def datapoints():
        from datetime import datetime, timedelta, timezone
        now = datetime.now(timezone.utc)
        out = cw.get_metric_data(MetricDataQueries=[
            {"Id": m.lower(), "MetricStat": {"Metric": {"Namespace": "AWS/ECS", "MetricName": m, "Dimensions": [
                {"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": "myapp-a"}]},
                "Period": period, "Stat": "Average"}} for m in ("CPUUtilization", "MemoryUtilization")],
            StartTime=now - timedelta(minutes=2), EndTime=now + timedelta(seconds=period))
        values = {r["Id"]: r["Values"] for r in out["MetricDataResults"]}
        return values if values["cpuutilization"] and values["memoryutilization"] else None

    values = wait_for(datapoints, 4 * period + 5, what="AWS/ECS metrics")
    assert all(0 <= v <= 100 for v in values["cpuutilization"])
    assert all(0 < v < 100 for v in values["memoryutilization"])


@pytest.fixture
def rollback_slot(lab_world):
    s = Slot(lab_world, rollback=True)
    yield s
    s.delete()


def test_circuit_breaker_rollback_returns_to_the_previous_task_definition(rollback_slot):
    slot = rollback_slot
    slot.wait_rollout("COMPLETED", timeout=60)
    slot.ecs.update_service(cluster=CLUSTER, service=slot.name, taskDefinition=slot.register("v1.2.4-unhealthy"))

    def rolled_back():
        svc = slot.service()
        primary = svc["deployments"][0]
        if primary["taskDefinition"] == slot.td1 and primary["rolloutState"] == "COMPLETED" and \
                len(svc["deployments"]) == 1:
            return svc
        return None
    svc = wait_for(rolled_back, 150, what="rollback to %s" % slot.td1)
    assert svc["taskDefinition"] == slot.td1 and svc["runningCount"] == 2
    messages = [e["message"] for e in svc["events"]]
    assert any("deployment failed: tasks failed to start." in m for m in messages)
    assert any("rolling back to deployment" in m for m in messages)


def test_a_dead_task_process_is_stopped_with_its_reason_and_replaced(slot, lab):
    slot.wait_rollout("COMPLETED", timeout=60)
    import os
    import signal
    victim = slot.tasks()[0]
    pid = next(t["pid"] for t in lab.status()["services"][slot.name]["tasks"] if victim["taskArn"].endswith(t["id"]))
    os.kill(pid, signal.SIGKILL)
    stopped = wait_for(lambda: [t for t in slot.tasks("STOPPED") if t["taskArn"] == victim["taskArn"]], 20,
                       what="the killed task STOPPED")[0]
    assert stopped["stoppedReason"] == "Essential container in task exited"
    assert stopped["stopCode"] == "EssentialContainerExited"
    assert stopped["containers"][0]["exitCode"] == -9
    replaced = wait_for(lambda: (lambda s: s if s["runningCount"] == 2 and len(slot.tasks()) == 2 else None)(
        slot.service()), 30, what="a replacement task")
    assert victim["taskArn"] not in {t["taskArn"] for t in slot.tasks()}
    assert replaced["deployments"][0]["failedTasks"] == 1


def test_a_task_whose_secret_cannot_be_resolved_fails_to_start(slot):
    slot.wait_rollout("COMPLETED", timeout=60)
    bad = slot.register("v1.2.3", secrets=[{"name": "DB_PASSWORD", "valueFrom":
                                            "arn:aws:secretsmanager:us-east-1:123456789012:secret:NOPE-abcdef"}])
    slot.ecs.update_service(cluster=CLUSTER, service=slot.name, taskDefinition=bad)
    svc = slot.wait_rollout("FAILED", timeout=60)
    failed = [t for t in slot.tasks("STOPPED") if t["taskDefinitionArn"] == bad]
    assert failed and all(t["stoppedReason"].startswith("ResourceInitializationError: unable to pull secrets")
                          for t in failed)
    assert {t["stopCode"] for t in failed} == {"TaskFailedToStart"}
    assert svc["deployments"][1]["runningCount"] == 2
